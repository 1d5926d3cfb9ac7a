-- A rotated webhook secret stays valid until `previous_secret_until`, so a
-- merchant's tills can move to the new one without a moment of refusals.
ALTER TABLE merchants ADD COLUMN previous_secret TEXT;
ALTER TABLE merchants ADD COLUMN previous_secret_until TIMESTAMPTZ;

-- Wrong guesses of claim and link codes, per subject (a member, a chat
-- identity): counted to slow guessing down and then refuse it for a while.
-- Old rows are pruned by the serve loop.
CREATE TABLE guesses (
    subject          TEXT        NOT NULL,
    kind             TEXT        NOT NULL,
    failures         BIGINT      NOT NULL,
    last_failure_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (subject, kind)
);

-- Keys taem makes for itself once and every instance shares (the key QR image
-- URLs are sealed with when TAEM_SECRET_KEY is not set).
CREATE TABLE server_keys (
    name        TEXT        PRIMARY KEY,
    value       TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

-- Pruning finds expired link tokens and old inbound events by time.
CREATE INDEX link_tokens_expiry ON link_tokens (expires_at);
-- One open code per member: a new one deletes the last by member.
CREATE INDEX link_tokens_member ON link_tokens (member_id);
CREATE INDEX inbound_events_received ON inbound_events (received_at);
