-- The outbox: every push to a member, written in the same transaction as the
-- change that causes it; the worker in `taem serve` delivers it.
CREATE TABLE outbox (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id    BIGINT NOT NULL REFERENCES members (id),
    channel      TEXT    NOT NULL CHECK (channel IN ('telegram', 'line')),
    -- earned, voucher_issued, voucher_used, expiring, tier_changed,
    -- referral_bonus, negative_balance, broadcast
    kind         TEXT    NOT NULL,
    -- Marketing (broadcasts) respects opt-out and quiet hours; the rest do not.
    marketing    BOOLEAN NOT NULL DEFAULT FALSE,
    campaign_id  BIGINT REFERENCES campaigns (id),
    -- The notice as JSON, rendered in the member's language when delivered.
    payload      TEXT    NOT NULL,
    -- At most one row per key: a broadcast started twice reaches a member once.
    dedupe_key   TEXT    UNIQUE,
    status       TEXT    NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'sent', 'failed', 'unreachable', 'skipped')),
    attempts     BIGINT NOT NULL DEFAULT 0,
    -- Not before (quiet hours, backoff after a failure).
    due_at       TIMESTAMPTZ NOT NULL,
    -- A worker holds the row until then; after a crash another takes it.
    lease_until  TIMESTAMPTZ,
    -- LINE multicast chunk: its retry key, fixed before the first attempt.
    batch_key    TEXT,
    -- The language, fixed with the batch (a chunk's recipients share one text).
    locale       TEXT,
    last_error   TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    sent_at      TIMESTAMPTZ
);
CREATE INDEX outbox_due ON outbox (due_at) WHERE status = 'queued';
CREATE INDEX outbox_campaign ON outbox (campaign_id, status) WHERE campaign_id IS NOT NULL;
CREATE INDEX outbox_batch ON outbox (batch_key) WHERE batch_key IS NOT NULL;

-- When the member was told these points expire soon (one reminder per lot).
ALTER TABLE lots ADD COLUMN reminded_at TIMESTAMPTZ;
