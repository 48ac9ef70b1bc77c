-- A quiz attempt is identified by (user_id, attempt_id): two learners may both send
-- "attempt-1" and both attempts are kept. Attempt ids were unique across all learners until
-- now, so every existing row keeps its place under the new key.
ALTER TABLE quiz_attempts DROP CONSTRAINT quiz_attempts_pkey;
ALTER TABLE quiz_attempts ADD PRIMARY KEY (user_id, attempt_id);
DROP INDEX IF EXISTS quiz_attempts_user_course;
CREATE INDEX quiz_attempts_user_course ON quiz_attempts (user_id, course_id, quiz_id);
