-- Rows the apply step rewrites on every batch keep room on their page, so an update can be HOT
-- (heap-only: the new version goes on the same page and no index is touched) and a page prunes
-- its own dead versions without waiting for VACUUM. At the default fillfactor of 100 a page is
-- full when it is written, and nearly every update of a chapter row moved it to another page,
-- adding an index entry each time (4 % HOT in benchmarks/apply_revisits). Applies to pages
-- written from now on; an existing table takes it on a rewrite (VACUUM FULL, or pg_repack).
ALTER TABLE chapter_progress SET (fillfactor = 70);
ALTER TABLE course_progress SET (fillfactor = 70);
ALTER TABLE user_summary SET (fillfactor = 70);
ALTER TABLE daily_activity SET (fillfactor = 80);
ALTER TABLE learner_sessions SET (fillfactor = 80);

-- A course row changes last_accessed_at on every rollup, and an update that changes an indexed
-- column is never HOT. These two indexes order a learner's courses by last access; no query
-- uses that order from an index (the course list sorts a learner's few rows by an expression,
-- read through the primary key), so they only cost writes. Dropping an index changes nothing
-- the previous release reads or writes.
DROP INDEX IF EXISTS course_progress_recent;
DROP INDEX IF EXISTS course_progress_list;
