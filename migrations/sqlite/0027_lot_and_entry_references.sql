-- The lots' and entries' references to their member, checked once per
-- statement on PostgreSQL (issue 20) instead of by a foreign key per row.
-- SQLite keeps its foreign keys (see 0026); the file keeps both stores'
-- versions in step.
SELECT 1;
