-- The course records left out of a course's active figures (dropped, or invisible: only
-- uncompletes): usually few, so a course's stats subtract their share of counters (quiz pass
-- rates) through this index instead of scanning every learner of the course.
CREATE INDEX course_progress_inactive ON course_progress (course_id, user_id)
    WHERE NOT visible OR enrollment_status = 'dropped';
