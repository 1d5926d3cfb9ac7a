-- Event ids from chat platforms that redeliver (LINE's webhookEventId): a
-- redelivered event is recognised and not acted on twice.
CREATE TABLE inbound_events (
    source       TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    PRIMARY KEY (source, event_id)
);
