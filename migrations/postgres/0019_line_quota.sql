-- Sends held back. When LINE answers that the month's message quota is used
-- up, marketing to LINE stops until the next month starts (`paused_until`, in
-- the programme's time zone) or an operator resumes it (`taem line resume`).
-- Kept in the database, not in memory, so a restart and every instance on the
-- same database respect it. The LINE rows LINE refused stay queued, due at the
-- start of the next month, with `outbox.last_error` saying why.
CREATE TABLE send_pauses (
    channel       TEXT NOT NULL PRIMARY KEY CHECK (channel IN ('telegram', 'line')),
    reason        TEXT NOT NULL,
    paused_at     TIMESTAMPTZ NOT NULL,
    paused_until  TIMESTAMPTZ NOT NULL
);
