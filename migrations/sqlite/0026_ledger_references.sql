-- The ledger's references to members and merchants, checked once per
-- statement on PostgreSQL (issue 20) instead of by a foreign key per row.
-- SQLite keeps its foreign keys: its checks are index lookups inside the
-- writer's own process, with no query or row lock of their own, so nothing
-- changes here; the file keeps both stores' versions in step.
SELECT 1;
