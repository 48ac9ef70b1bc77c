-- Achievements, points, leaderboards and certificate issuance.

-- Admin definitions (a reference table on a cluster: every node reads all of them).
CREATE TABLE achievement_definitions (
    achievement_id text PRIMARY KEY,
    title          text NOT NULL DEFAULT '',
    description    text NOT NULL DEFAULT '',
    points         integer NOT NULL DEFAULT 0,
    kind           text NOT NULL,
    threshold      bigint NOT NULL,
    course_id      text,
    version        integer NOT NULL DEFAULT 1,
    backfill_state text NOT NULL DEFAULT 'queued',
    learners_done  integer NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- What a learner has ever achieved, one row per thing, with the event at which it first held
-- (ts ms, event id): kind chapter (item = chapter id), course (item = ''), quiz_pass and
-- quiz_perfect (item = quiz id). Rows only ever move earlier; resets and drops keep them.
CREATE TABLE learner_milestones (
    user_id   text NOT NULL,
    kind      text NOT NULL,
    course_id text NOT NULL,
    item_id   text NOT NULL DEFAULT '',
    ts        bigint NOT NULL,
    event_id  text NOT NULL DEFAULT '',
    PRIMARY KEY (user_id, kind, course_id, item_id)
);

-- One row per (learner, achievement), written once; awarded_ts/awarded_event_id follow the
-- earliest moment the criterion holds over every fact known (a late earlier event moves them).
CREATE TABLE achievement_awards (
    user_id          text NOT NULL,
    achievement_id   text NOT NULL,
    points           integer NOT NULL,
    awarded_ts       bigint NOT NULL,
    awarded_event_id text NOT NULL DEFAULT '',
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, achievement_id)
);

-- Append-only: every entry says why (entry_id is the reason's key, so it is written once).
CREATE TABLE points_ledger (
    user_id     text NOT NULL,
    entry_id    text NOT NULL,
    reason      text NOT NULL CHECK (reason IN ('achievement', 'chapter_completed')),
    points      integer NOT NULL,
    course_id   text,
    ref_id      text NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, entry_id)
);

-- Leaderboard totals per (learner, scope, period): scope '' is global, else a course id;
-- period 'all', 'w2026-11-23' (the Monday of an ISO week, UTC) or 'm2026-11'.
CREATE TABLE points_totals (
    user_id text NOT NULL,
    scope   text NOT NULL,
    period  text NOT NULL,
    points  bigint NOT NULL,
    hidden  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (user_id, scope, period)
);
CREATE INDEX points_totals_rank ON points_totals (scope, period, points DESC, user_id)
    WHERE NOT hidden;

CREATE TABLE learner_preferences (
    user_id     text PRIMARY KEY,
    leaderboard boolean NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE certificates (
    user_id        text NOT NULL,
    certificate_id text NOT NULL,
    scope          text NOT NULL CHECK (scope IN ('course', 'path')),
    scope_id       text NOT NULL,
    title          text NOT NULL DEFAULT '',
    code           text NOT NULL,
    issued_at      timestamptz NOT NULL,
    kid            text NOT NULL,
    signature      text NOT NULL,
    revoked_at     timestamptz,
    PRIMARY KEY (user_id, certificate_id),
    UNIQUE (user_id, scope, scope_id)
);
CREATE INDEX certificates_code ON certificates (code);
