-- The chapter event log: every chapter event the workers apply, kept so that a chapter can be
-- recomputed exactly from its events when a late reset, uncomplete or completion lands before
-- events already folded into its stored state, and so that a learner's activity can be read
-- back by event time. One row per chapter and applied batch, the events packed as a msgpack
-- array of [ts_ms, event_id, kind, progress, time_ms, position_s]. Rows are written once, in the
-- transaction that claims the batch in the ledger, so no key is needed to keep them unique; the
-- one index finds a learner's rows of a course (user_id first, so the table distributes by
-- learner).
CREATE TABLE chapter_event_log (
    user_id     text NOT NULL,
    course_id   text NOT NULL,
    chapter_id  text NOT NULL,
    min_ts      bigint NOT NULL,
    max_ts      bigint NOT NULL,
    events      bytea NOT NULL,
    logged_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chapter_event_log_learner ON chapter_event_log (user_id, course_id);

-- Whether every event of a chapter row is in the log: true for rows created from here on;
-- rows created before the log existed, or a buffer entry that had to fold events it could not
-- pass on, leave it false, and such a row is merged as before instead of recomputed.
ALTER TABLE chapter_progress ADD COLUMN log_complete boolean NOT NULL DEFAULT false;
