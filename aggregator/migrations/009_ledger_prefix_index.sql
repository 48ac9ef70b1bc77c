-- Split batches are ledgered as <id>.0, <id>.1, ...: find a part's descendants by prefix,
-- whatever the database's collation.
CREATE INDEX applied_batches_prefix ON applied_batches (batch_id text_pattern_ops);
