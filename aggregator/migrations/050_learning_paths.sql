-- Requirements, availability and learning paths.

-- A chapter's requirement (NULL: "complete", the default completing events). JSON as the
-- catalog gives it: "view", {"min_score": P, "quiz_id": Q} or {"min_time_s": N}.
ALTER TABLE course_chapters ADD COLUMN requirement jsonb;

-- Path definitions: catalog data, not a learner's (a reference table on a distributed cluster).
CREATE TABLE paths (
    path_id    text PRIMARY KEY,
    title      text NOT NULL DEFAULT '',
    sequential boolean NOT NULL DEFAULT false,
    version    integer NOT NULL DEFAULT 1,
    doc        jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A path's courses in order; found by course when a course's status moves.
CREATE TABLE path_courses (
    path_id   text NOT NULL REFERENCES paths ON DELETE CASCADE,
    course_id text NOT NULL,
    position  integer NOT NULL,
    required  boolean NOT NULL DEFAULT true,
    PRIMARY KEY (path_id, course_id)
);
CREATE INDEX path_courses_by_course ON path_courses (course_id);

-- Per (user, path): the path progress last written, so path.progressed / path.completed are
-- written once per change. user_id leads the key: the table distributes by learner.
CREATE TABLE path_progress (
    user_id          text NOT NULL,
    path_id          text NOT NULL,
    percent_complete numeric(5, 2) NOT NULL DEFAULT 0,
    status           text NOT NULL DEFAULT 'not_started',
    started_at       timestamptz,
    completed_at     timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, path_id)
);
