-- The purchase path's writes, made cheaper on PostgreSQL (issue 20): room for
-- HOT balance updates, and a claim code index without the purchases that have
-- a member. Neither applies to SQLite (no fillfactor; its UNIQUE column keeps
-- its index), so nothing changes here; the file keeps both stores' versions in
-- step.
SELECT 1;
