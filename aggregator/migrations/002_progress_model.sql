-- Progress model: quiz summaries, user summaries, daily activity, catalog recompute progress and
-- the transactional outbox of domain events (SPEC §6, §8).

-- Per (user, course, quiz): attempts since the course's last reset (the history is kept in
-- quiz_attempts), best and last score.
CREATE TABLE quiz_summary (
    user_id        text NOT NULL,
    course_id      text NOT NULL,
    quiz_id        text NOT NULL,
    attempts       integer NOT NULL DEFAULT 0,
    best_score     double precision,
    best_percent   double precision,
    last_score     double precision,
    last_percent   double precision,
    last_attempt_at timestamptz,
    passed         boolean NOT NULL DEFAULT false,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, course_id, quiz_id)
);

-- Per (user, UTC day): seconds spent and events applied — the heatmap.
CREATE TABLE daily_activity (
    user_id   text NOT NULL,
    day       date NOT NULL,
    time_spent_ms bigint NOT NULL DEFAULT 0,
    events    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);

-- Per user: a rollup of their course rows and activity days.
CREATE TABLE user_summary (
    user_id             text PRIMARY KEY,
    courses_total       integer NOT NULL DEFAULT 0,
    courses_completed   integer NOT NULL DEFAULT 0,
    courses_in_progress integer NOT NULL DEFAULT 0,
    chapters_completed  integer NOT NULL DEFAULT 0,
    time_spent_ms       bigint NOT NULL DEFAULT 0,
    avg_progress        double precision NOT NULL DEFAULT 0,
    longest_streak_days integer NOT NULL DEFAULT 0,
    streak_days         integer NOT NULL DEFAULT 0,
    streak_end          date,
    last_activity_at    timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Catalog versions being applied to existing learners: one row per course, the latest version.
CREATE TABLE catalog_recompute (
    course_id     text PRIMARY KEY,
    version       integer NOT NULL,
    state         text NOT NULL DEFAULT 'queued',
    learners_total integer NOT NULL DEFAULT 0,
    learners_done integer NOT NULL DEFAULT 0,
    started_at    timestamptz,
    finished_at   timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Transactional outbox: written in the transaction of the change it describes. The relay gives
-- each row its stream number (under one lock, in order) before adding it to the stream, so the
-- stream id ``0-<stream_no>`` makes a repeated add fail instead of duplicating.
CREATE TABLE outbox (
    seq         bigserial PRIMARY KEY,
    event_id    uuid NOT NULL DEFAULT gen_random_uuid(),
    type        text NOT NULL,
    user_id     text NOT NULL,
    course_id   text NOT NULL,
    occurred_at timestamptz NOT NULL,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    stream_no   bigint UNIQUE,
    sent_at     timestamptz
);
CREATE INDEX outbox_unnumbered ON outbox (seq) WHERE stream_no IS NULL;
CREATE INDEX outbox_unsent ON outbox (stream_no) WHERE stream_no IS NOT NULL AND sent_at IS NULL;
CREATE SEQUENCE outbox_stream_no;

CREATE INDEX course_progress_list ON course_progress (user_id, last_accessed_at DESC, course_id);
