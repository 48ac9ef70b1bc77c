-- Learning analytics kept by the apply step.

-- A learner's sessions: maximal runs of their events (all courses) with no gap above the
-- session gap setting. Times are epoch milliseconds of event time; sessions of one learner never
-- overlap, so the start identifies one. ``touched`` is msgpack [[course_id…], [[course_id,
-- chapter_id]…]]. user_id leads the key: the table distributes by learner and the apply step
-- finds a learner's neighbouring sessions by (user_id, started_ms).
CREATE TABLE learner_sessions (
    user_id       text NOT NULL,
    started_ms    bigint NOT NULL,
    ended_ms      bigint NOT NULL,
    events        integer NOT NULL,
    time_spent_ms bigint NOT NULL,
    touched       bytea NOT NULL,
    PRIMARY KEY (user_id, started_ms)
);

-- Per (user, course): the UTC days with activity in the course — the days of the progress
-- history and of the forecast's velocity.
CREATE TABLE course_activity_days (
    user_id   text NOT NULL,
    course_id text NOT NULL,
    day       date NOT NULL,
    PRIMARY KEY (user_id, course_id, day)
);
