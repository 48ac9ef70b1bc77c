-- Assessments decided by the worker from every stored attempt and the catalog.
-- quiz_attempts keeps what the client sent in client_*; score, max_score, percent and passed
-- become the authoritative figures (server-graded when the quiz has an answer key), status
-- says how the attempt counts: counted | over_limit | in_cooldown | before_reset.
ALTER TABLE quiz_attempts ALTER COLUMN passed DROP NOT NULL;
ALTER TABLE quiz_attempts
    ADD COLUMN client_score     double precision,
    ADD COLUMN client_max_score double precision,
    ADD COLUMN client_passed    boolean,
    ADD COLUMN percent          double precision,
    ADD COLUMN graded           boolean NOT NULL DEFAULT false,
    ADD COLUMN status           text NOT NULL DEFAULT 'counted';
UPDATE quiz_attempts SET client_score = score, client_max_score = max_score,
    client_passed = passed, percent = 100 * score / max_score;
ALTER TABLE quiz_attempts ALTER COLUMN client_score SET NOT NULL,
    ALTER COLUMN client_max_score SET NOT NULL;
-- Instructor statistics read one quiz's attempts across learners.
CREATE INDEX quiz_attempts_quiz ON quiz_attempts (course_id, quiz_id) WHERE status = 'counted';

-- The summary per (user, course, quiz): `attempts` is now the counted ones; the derived
-- completing fact of the quiz's chapter (its earliest counted passing attempt) is kept here so a
-- chapter can be recomputed with it from its event log.
ALTER TABLE quiz_summary
    ADD COLUMN attempts_total   integer NOT NULL DEFAULT 0,
    ADD COLUMN average_percent  double precision,
    ADD COLUMN kept_score       double precision,
    ADD COLUMN kept_percent     double precision,
    ADD COLUMN passed_at        timestamptz,
    ADD COLUMN passed_attempt_id text,
    ADD COLUMN attempts_left    integer,
    ADD COLUMN next_attempt_at  timestamptz,
    ADD COLUMN fact_chapter_id  text,
    ADD COLUMN fact_ts          bigint,
    ADD COLUMN fact_event_id    text;
UPDATE quiz_summary SET attempts_total = attempts;
CREATE INDEX quiz_summary_fact ON quiz_summary (user_id, course_id, fact_chapter_id)
    WHERE fact_chapter_id IS NOT NULL;
