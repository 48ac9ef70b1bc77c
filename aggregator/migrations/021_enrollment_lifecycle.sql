-- The enrollment lifecycle: every enrollment event kept, and which course records are shown.

-- Every distinct enrollment event of a learner in a course, by event id (a duplicate or a
-- re-delivered batch inserts nothing). The current status stays on course_progress (latest by
-- (ts, event id)); this is its history, read in (ts, event id) order.
CREATE TABLE enrollment_history (
    user_id   text NOT NULL,
    course_id text NOT NULL,
    event_id  text NOT NULL,
    ts        timestamptz NOT NULL,
    status    text NOT NULL,
    PRIMARY KEY (user_id, course_id, event_id)
);

-- A chapter row that holds a fact other than chapter_uncompleted (progress, a completion, a
-- quiz's completing fact). Rows written before this column existed count as having one.
ALTER TABLE chapter_progress ADD COLUMN has_fact boolean NOT NULL DEFAULT true;

-- A course record whose only facts are chapter_uncompleted events is kept (a completion may
-- arrive later with an earlier ts) but not shown: reads answer 404, lists and counts skip it.
ALTER TABLE course_progress ADD COLUMN visible boolean NOT NULL DEFAULT true;
