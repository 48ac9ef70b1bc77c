-- The course report's activity heatmap counts a course's active learners per day: find a
-- course's days without reading every learner's.
CREATE INDEX course_activity_days_course ON course_activity_days (course_id, day);
