-- Every course_reset of a learner in a course, by event id (a duplicate or a re-delivered batch
-- inserts nothing). course_progress keeps only the latest reset (what progress is measured
-- from); this history is what "ever completed" needs: a course counts once every required
-- chapter has had a completing fact between the same two consecutive resets.
CREATE TABLE course_reset_history (
    user_id   text NOT NULL,
    course_id text NOT NULL,
    event_id  text NOT NULL,
    ts        int8 NOT NULL,
    PRIMARY KEY (user_id, course_id, event_id)
);
