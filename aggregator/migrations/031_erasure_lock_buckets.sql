-- The erasure lock per learner becomes one of 64 buckets of learners: an apply transaction takes
-- at most 64 advisory locks whatever the number of learners in its batch (PostgreSQL's shared
-- lock table holds about 64 per connection), and an erasure, holding its learner's bucket
-- exclusively for the few milliseconds it runs, pauses the applies of 1/64 of the learners.
CREATE FUNCTION waymark_erasure_bucket(user_id text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT hashtext(user_id) & 63 $$;

CREATE OR REPLACE FUNCTION waymark_lock_learners(users text[])
RETURNS TABLE (user_id text, erased_ms bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1464160833, b)
    FROM (SELECT DISTINCT waymark_erasure_bucket(u) AS b FROM unnest(users) AS u ORDER BY 1) s;
    RETURN QUERY SELECT e.user_id, e.erased_ms FROM erased_users e
                 WHERE e.user_id = ANY(users);
END
$$;
