-- Incremental course rollups. A batch that only moves time, progress and activity (the
-- heartbeat case) updates the course row with deltas instead of re-reading every chapter row:
--   progress_sum   the exact sum of chapter progress over the catalog's chapters (avg_progress
--                  is this over the chapter count, rounded), NULL until a full recompute wrote it;
--   rollup_catalog the catalog version that sum was taken under (NULL: no catalog);
--   rolled_at      when a rollup last wrote the row. A delta applies only while it equals
--                  updated_at: any other write to the row since (by an older worker during an
--                  upgrade, or a course-level merge) sends the row to the full recompute.
-- All three are nullable without a default, so the previous release's workers keep working.
ALTER TABLE course_progress ADD COLUMN IF NOT EXISTS progress_sum numeric;
ALTER TABLE course_progress ADD COLUMN IF NOT EXISTS rollup_catalog integer;
ALTER TABLE course_progress ADD COLUMN IF NOT EXISTS rolled_at timestamptz;
