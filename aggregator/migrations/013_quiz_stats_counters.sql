-- Instructor quiz statistics kept as counters, so a quiz with 100 000 attempts answers from a
-- few small rows instead of a scan of its attempts and their responses.
--
-- Each counted attempt contributes to its quiz: one attempt, its percent, and per question the
-- outcome stored in quiz_attempts.items ([question_id, correct true|false|null, time_s|null]
-- per question, written when the attempt is assessed). Statement-level triggers with transition
-- tables add what rows bring and take away what they held, on every INSERT, UPDATE and DELETE of
-- quiz_attempts (and of quiz_summary for the learner counts), so the counters equal the sums over
-- the rows whoever writes them — the apply step, a catalog recompute or an erasure. Sums are
-- numeric: adding and taking away never drifts. Rows are locked sorted, one table per statement.
ALTER TABLE quiz_attempts ADD COLUMN items jsonb NOT NULL DEFAULT '[]';

CREATE TABLE quiz_stats (
    course_id   text NOT NULL,
    quiz_id     text NOT NULL,
    attempts    bigint NOT NULL DEFAULT 0,
    percent_sum numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (course_id, quiz_id)
);
CREATE TABLE quiz_item_stats (
    course_id   text NOT NULL,
    quiz_id     text NOT NULL,
    question_id text NOT NULL,
    judged      bigint NOT NULL DEFAULT 0,
    correct     bigint NOT NULL DEFAULT 0,
    timed       bigint NOT NULL DEFAULT 0,
    time_sum    numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (course_id, quiz_id, question_id)
);
CREATE TABLE quiz_learner_stats (
    course_id       text NOT NULL,
    quiz_id         text NOT NULL,
    learners        bigint NOT NULL DEFAULT 0,
    passed_learners bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (course_id, quiz_id)
);

-- The median is read from this index: the middle of the counted percents, by offset.
DROP INDEX IF EXISTS quiz_attempts_quiz;
CREATE INDEX quiz_attempts_quiz_percent ON quiz_attempts (course_id, quiz_id, percent)
    WHERE status = 'counted';

CREATE FUNCTION quiz_stats_delta(rows jsonb) RETURNS void LANGUAGE sql AS $$
    WITH d AS (
        SELECT r->>'course_id' AS course_id, r->>'quiz_id' AS quiz_id,
               (r->>'percent')::numeric AS percent,
               r->'items' AS items, (r->>'s')::int AS s
        FROM jsonb_array_elements(rows) AS r
    ),
    h AS (
        INSERT INTO quiz_stats AS t (course_id, quiz_id, attempts, percent_sum)
        SELECT course_id, quiz_id, sum(s), sum(s * percent)
        FROM d GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (course_id, quiz_id) DO UPDATE SET attempts = t.attempts + excluded.attempts,
            percent_sum = t.percent_sum + excluded.percent_sum
    )
    INSERT INTO quiz_item_stats AS t (course_id, quiz_id, question_id, judged, correct, timed,
                                      time_sum)
    SELECT d.course_id, d.quiz_id, i->>0, sum(s * (jsonb_typeof(i->1) = 'boolean')::int),
           sum(s * (i->1 = 'true')::int), sum(s * (jsonb_typeof(i->2) = 'number')::int),
           sum(s * coalesce((i->>2)::numeric, 0))
    FROM d, jsonb_array_elements(d.items) AS i
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (course_id, quiz_id, question_id) DO UPDATE SET
        judged = t.judged + excluded.judged, correct = t.correct + excluded.correct,
        timed = t.timed + excluded.timed, time_sum = t.time_sum + excluded.time_sum
$$;

CREATE FUNCTION quiz_attempts_counted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    rows jsonb := '[]';
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        rows := rows || coalesce((SELECT jsonb_agg(jsonb_build_object(
            'course_id', course_id, 'quiz_id', quiz_id, 'percent', percent, 'items', items, 's', 1)) FROM new_rows WHERE status = 'counted'), '[]');
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        rows := rows || coalesce((SELECT jsonb_agg(jsonb_build_object(
            'course_id', course_id, 'quiz_id', quiz_id, 'percent', percent, 'items', items, 's', -1)) FROM old_rows WHERE status = 'counted'), '[]');
    END IF;
    IF rows <> '[]' THEN
        PERFORM quiz_stats_delta(rows);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER quiz_attempts_counted_ins AFTER INSERT ON quiz_attempts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION quiz_attempts_counted();
CREATE TRIGGER quiz_attempts_counted_upd AFTER UPDATE ON quiz_attempts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION quiz_attempts_counted();
CREATE TRIGGER quiz_attempts_counted_del AFTER DELETE ON quiz_attempts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION quiz_attempts_counted();

CREATE FUNCTION quiz_summary_learners() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    rows jsonb := '[]';
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        rows := rows || coalesce((SELECT jsonb_agg(jsonb_build_object(
            'course_id', course_id, 'quiz_id', quiz_id, 'l', (attempts > 0)::int,
            'p', passed::int)) FROM new_rows WHERE attempts > 0 OR passed), '[]');
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        rows := rows || coalesce((SELECT jsonb_agg(jsonb_build_object(
            'course_id', course_id, 'quiz_id', quiz_id, 'l', -(attempts > 0)::int,
            'p', -passed::int)) FROM old_rows WHERE attempts > 0 OR passed), '[]');
    END IF;
    IF rows <> '[]' THEN
        INSERT INTO quiz_learner_stats AS t (course_id, quiz_id, learners, passed_learners)
        SELECT r->>'course_id', r->>'quiz_id', sum((r->>'l')::int), sum((r->>'p')::int)
        FROM jsonb_array_elements(rows) AS r GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (course_id, quiz_id) DO UPDATE SET
            learners = t.learners + excluded.learners,
            passed_learners = t.passed_learners + excluded.passed_learners;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER quiz_summary_learners_ins AFTER INSERT ON quiz_summary
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION quiz_summary_learners();
CREATE TRIGGER quiz_summary_learners_upd AFTER UPDATE ON quiz_summary
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION quiz_summary_learners();
CREATE TRIGGER quiz_summary_learners_del AFTER DELETE ON quiz_summary
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION quiz_summary_learners();

-- What is already stored counts from now on (items of older attempts fill in when reassessed).
INSERT INTO quiz_stats (course_id, quiz_id, attempts, percent_sum)
SELECT course_id, quiz_id, count(*), sum(percent::numeric)
FROM quiz_attempts WHERE status = 'counted' GROUP BY 1, 2;
INSERT INTO quiz_learner_stats (course_id, quiz_id, learners, passed_learners)
SELECT course_id, quiz_id, count(*) FILTER (WHERE attempts > 0), count(*) FILTER (WHERE passed)
FROM quiz_summary GROUP BY 1, 2;
