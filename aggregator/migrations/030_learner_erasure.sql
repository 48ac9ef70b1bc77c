-- Erasure of a learner: the one row kept about an erased learner, and the lock that orders an
-- erasure with the apply transactions of that learner.

-- The tombstone: who was erased and when (epoch ms on the buffer's clock, the clock that stamps
-- when an event was accepted). The apply step drops every buffer entry of the learner accepted at
-- or before erased_ms and every event with ts at or before it. Kept for good: it is all that is
-- left of the learner and it makes a repeated erasure answer the same.
CREATE TABLE erased_users (
    user_id    text PRIMARY KEY,
    erased_ms  bigint NOT NULL,
    erased_at  timestamptz NOT NULL,
    erasures   integer NOT NULL DEFAULT 1
);

-- Called first in every apply transaction: a shared transaction lock per learner of the batch
-- (an erasure holds the same lock exclusively), then the tombstones of those learners. Two
-- statements, so the tombstones are read after the locks are held (READ COMMITTED takes a new
-- snapshot per statement, and an erasure that held the lock has committed by then).
CREATE FUNCTION waymark_lock_learners(users text[])
RETURNS TABLE (user_id text, erased_ms bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1464160833, hashtext(u))
    FROM (SELECT DISTINCT unnest(users) AS u ORDER BY 1) s;
    RETURN QUERY SELECT e.user_id, e.erased_ms FROM erased_users e
                 WHERE e.user_id = ANY(users);
END
$$;
