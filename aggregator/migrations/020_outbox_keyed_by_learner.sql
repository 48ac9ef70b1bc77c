-- The outbox is written in the transaction of the learner change it describes, so it shards by
-- learner like the progress tables: its primary key leads with user_id. seq stays unique on its
-- own (a bigserial) and stream_no by construction (one sequence, numbered under one lock), so
-- both keep a plain index for the relay's lookups instead of a constraint of their own.
ALTER TABLE outbox DROP CONSTRAINT outbox_pkey;
ALTER TABLE outbox ADD PRIMARY KEY (user_id, seq);
CREATE INDEX outbox_seq ON outbox (seq);
ALTER TABLE outbox DROP CONSTRAINT outbox_stream_no_key;
CREATE INDEX outbox_numbered ON outbox (stream_no) WHERE stream_no IS NOT NULL;
