-- The inbox: every verified chat event (a LINE webhook event, a Telegram update)
-- is kept here before the platform hears 200, then handled from here: in order
-- per chat, each once (a redelivery has the same event id), and again after a
-- crash (a claimed row's lease runs out). It replaces `inbound_events`.
CREATE TABLE inbox (
    id           INTEGER PRIMARY KEY,
    source       TEXT    NOT NULL CHECK (source IN ('telegram', 'line')),
    -- LINE's webhookEventId, Telegram's update_id.
    event_id     TEXT    NOT NULL,
    -- The chat whose events are handled one after another, in order.
    chat         TEXT    NOT NULL,
    -- The event as received; blanked once handled (it holds what people wrote).
    payload      TEXT,
    received_at  TEXT    NOT NULL,
    -- A worker holds the row until then; after a crash another takes it.
    lease_until  TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    handled_at   TEXT,
    UNIQUE (source, event_id)
);
CREATE INDEX inbox_waiting ON inbox (source, chat, id) WHERE handled_at IS NULL;
CREATE INDEX inbox_handled ON inbox (handled_at) WHERE handled_at IS NOT NULL;

INSERT INTO inbox (source, event_id, chat, received_at, handled_at)
SELECT source, event_id, '', received_at, received_at FROM inbound_events
WHERE source IN ('telegram', 'line');
DROP TABLE inbound_events;

-- Leases among the instances sharing a database (who long-polls the Telegram bot).
CREATE TABLE leases (
    name         TEXT PRIMARY KEY,
    holder       TEXT NOT NULL,
    until        TEXT NOT NULL
);
