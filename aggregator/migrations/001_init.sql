-- Catalog: one row per course, its chapters flattened for set-based rollups.
CREATE TABLE courses (
    course_id            text PRIMARY KEY,
    title                text NOT NULL DEFAULT '',
    completion_threshold double precision NOT NULL DEFAULT 100,
    passing_score        double precision NOT NULL DEFAULT 70,
    version              integer NOT NULL DEFAULT 1,
    structure_hash       text NOT NULL,
    doc                  jsonb NOT NULL,
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE course_chapters (
    course_id  text NOT NULL REFERENCES courses ON DELETE CASCADE,
    chapter_id text NOT NULL,
    module_id  text NOT NULL,
    position   integer NOT NULL,
    weight     double precision NOT NULL,
    required   boolean NOT NULL,
    kind       text,
    PRIMARY KEY (course_id, chapter_id)
);

-- Per (user, course, chapter): derived values for reads and rollups, and the merge state
-- (waymark.model.ChapterState as msgpack) that later batches are merged into.
CREATE TABLE chapter_progress (
    user_id           text NOT NULL,
    course_id         text NOT NULL,
    chapter_id        text NOT NULL,
    progress          double precision NOT NULL DEFAULT 0,
    completed         boolean NOT NULL DEFAULT false,
    completed_at      timestamptz,
    position_s        double precision,
    time_spent_ms     bigint NOT NULL DEFAULT 0,
    first_activity_at timestamptz,
    last_activity_at  timestamptz,
    state             bytea,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, course_id, chapter_id)
);

-- Per (user, course): course-level merge state and the rollup over its chapters.
CREATE TABLE course_progress (
    user_id             text NOT NULL,
    course_id           text NOT NULL,
    state               bytea,
    reset_at            timestamptz,
    enrollment_status   text,
    enrollment_at       timestamptz,
    last_viewed_chapter text,
    seen_at             timestamptz,
    percent_complete    numeric(5, 2),
    completed_chapters  integer NOT NULL DEFAULT 0,
    total_chapters      integer NOT NULL DEFAULT 0,
    avg_progress        double precision NOT NULL DEFAULT 0,
    time_spent_ms       bigint NOT NULL DEFAULT 0,
    started_at          timestamptz,
    last_activity_at    timestamptz,
    last_accessed_at    timestamptz,
    completed_at        timestamptz,
    status              text NOT NULL DEFAULT 'not_started',
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, course_id)
);
CREATE INDEX course_progress_course ON course_progress (course_id, user_id);
CREATE INDEX course_progress_recent ON course_progress (user_id, last_accessed_at DESC);

-- Every quiz attempt once, by attempt_id, with its responses.
CREATE TABLE quiz_attempts (
    attempt_id  text PRIMARY KEY,
    event_id    text NOT NULL,
    user_id     text NOT NULL,
    course_id   text NOT NULL,
    quiz_id     text NOT NULL,
    chapter_id  text,
    ts          timestamptz NOT NULL,
    score       double precision NOT NULL,
    max_score   double precision NOT NULL,
    passed      boolean NOT NULL,
    duration_s  double precision,
    responses   jsonb NOT NULL DEFAULT '[]',
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quiz_attempts_user_course ON quiz_attempts (user_id, course_id, quiz_id);

-- Ledger of applied buffer batches: a re-delivered batch finds its id here and applies nothing.
CREATE TABLE applied_batches (
    batch_id   text PRIMARY KEY,
    keys       integer NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX applied_batches_age ON applied_batches (applied_at);
