-- The loyalty core. Timestamps are TIMESTAMPTZ written by sqlx from UTC values;
-- taem truncates them to whole milliseconds, so what is stored reads back equal.
-- Integers are BIGINT throughout: sqlx reads them as i64.

-- One row of program-wide settings.
CREATE TABLE program (
    id             BIGINT  PRIMARY KEY CHECK (id = 1),
    name           TEXT    NOT NULL,
    expiry_months  BIGINT  NOT NULL CHECK (expiry_months BETWEEN 1 AND 120),
    pending_days   BIGINT  NOT NULL CHECK (pending_days BETWEEN 0 AND 365)
);
INSERT INTO program (id, name, expiry_months, pending_days) VALUES (1, 'taem', 12, 0);

CREATE TABLE merchants (
    id              TEXT PRIMARY KEY,
    name            TEXT        NOT NULL,
    currency        TEXT        NOT NULL,
    earn_points     BIGINT      NOT NULL CHECK (earn_points > 0),
    earn_per_minor  BIGINT      NOT NULL CHECK (earn_per_minor > 0),
    -- Needed in clear to verify HMAC signatures; printed once at creation.
    webhook_secret  TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE members (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code              TEXT        NOT NULL UNIQUE,
    name              TEXT,
    locale            TEXT,
    telegram_id       BIGINT      UNIQUE,
    line_id           TEXT        UNIQUE,
    marketing_opt_in  BOOLEAN     NOT NULL DEFAULT TRUE,
    -- Cached sum of the member's entries, updated in the same transaction.
    balance           BIGINT      NOT NULL DEFAULT 0,
    created_at        TIMESTAMPTZ NOT NULL
);

CREATE TABLE purchases (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id       TEXT        NOT NULL REFERENCES merchants (id),
    receipt_id        TEXT        NOT NULL,
    -- Digest of the request: a replay with another digest is a conflict.
    fingerprint       TEXT        NOT NULL,
    member_id         BIGINT      REFERENCES members (id),
    amount_minor      BIGINT      NOT NULL CHECK (amount_minor > 0),
    currency          TEXT        NOT NULL,
    occurred_at       TIMESTAMPTZ NOT NULL,
    items             TEXT,
    points            BIGINT      NOT NULL CHECK (points >= 0),
    breakdown         TEXT        NOT NULL,
    -- The member's balance in the original answer, so replays answer the same.
    balance_after     BIGINT,
    lot_id            BIGINT,
    available_at      TIMESTAMPTZ NOT NULL,
    claim_code        TEXT        UNIQUE,
    claim_expires_at  TIMESTAMPTZ,
    claimed_at        TIMESTAMPTZ,
    refunded_minor    BIGINT      NOT NULL DEFAULT 0 CHECK (refunded_minor <= amount_minor),
    clawed_back       BIGINT      NOT NULL DEFAULT 0 CHECK (clawed_back <= points),
    created_at        TIMESTAMPTZ NOT NULL,
    -- The store recognises a concurrent duplicate by this constraint's name.
    CONSTRAINT purchases_receipt_key UNIQUE (merchant_id, receipt_id)
);

CREATE TABLE refunds (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id    TEXT        NOT NULL REFERENCES merchants (id),
    refund_id      TEXT        NOT NULL,
    purchase_id    BIGINT      NOT NULL REFERENCES purchases (id),
    fingerprint    TEXT        NOT NULL,
    amount_minor   BIGINT      NOT NULL CHECK (amount_minor > 0),
    points         BIGINT      NOT NULL CHECK (points >= 0),
    member_id      BIGINT      REFERENCES members (id),
    balance_after  BIGINT,
    created_at     TIMESTAMPTZ NOT NULL,
    CONSTRAINT refunds_refund_key UNIQUE (merchant_id, refund_id)
);

-- Earned points with their own expiry; spent soonest-expiring first.
CREATE TABLE lots (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id     BIGINT      NOT NULL REFERENCES members (id),
    points        BIGINT      NOT NULL CHECK (points >= 0),
    remaining     BIGINT      NOT NULL CHECK (remaining >= 0),
    earned_at     TIMESTAMPTZ NOT NULL,
    available_at  TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    merchant_id   TEXT,
    purchase_id   BIGINT
);
CREATE INDEX lots_member_live ON lots (member_id, expires_at) WHERE remaining > 0;
CREATE INDEX lots_due ON lots (expires_at) WHERE remaining > 0;
CREATE INDEX lots_purchase ON lots (purchase_id);

-- The ledger: append-only, one row per movement of points.
CREATE TABLE entries (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id      BIGINT      NOT NULL REFERENCES members (id),
    kind           TEXT        NOT NULL CHECK (kind IN ('earn', 'redeem', 'clawback', 'expire', 'adjust', 'release')),
    points         BIGINT      NOT NULL,
    balance_after  BIGINT      NOT NULL,
    merchant_id    TEXT,
    purchase_id    BIGINT,
    voucher_id     BIGINT,
    lot_id         BIGINT,
    reference      TEXT,
    created_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX entries_member ON entries (member_id, id);

CREATE FUNCTION entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only';
END;
$$;
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
    FOR EACH ROW EXECUTE FUNCTION entries_append_only();
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION entries_append_only();

-- Which lots a debit took its points from (so a released voucher refills them).
CREATE TABLE entry_lots (
    entry_id  BIGINT NOT NULL REFERENCES entries (id),
    lot_id    BIGINT NOT NULL REFERENCES lots (id),
    points    BIGINT NOT NULL CHECK (points > 0),
    PRIMARY KEY (entry_id, lot_id)
);

CREATE TABLE rewards (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name_th           TEXT        NOT NULL,
    name_en           TEXT        NOT NULL,
    description_th    TEXT        NOT NULL DEFAULT '',
    description_en    TEXT        NOT NULL DEFAULT '',
    cost              BIGINT      NOT NULL CHECK (cost > 0),
    stock             BIGINT      CHECK (stock >= 0),
    per_member_limit  BIGINT      CHECK (per_member_limit > 0),
    valid_from        TIMESTAMPTZ,
    valid_until       TIMESTAMPTZ,
    face_value_minor  BIGINT      NOT NULL DEFAULT 0 CHECK (face_value_minor >= 0),
    currency          TEXT        NOT NULL,
    voucher_days      BIGINT      NOT NULL CHECK (voucher_days > 0),
    active            BOOLEAN     NOT NULL DEFAULT TRUE,
    created_at        TIMESTAMPTZ NOT NULL
);

CREATE TABLE vouchers (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code             TEXT        NOT NULL UNIQUE,
    member_id        BIGINT      NOT NULL REFERENCES members (id),
    reward_id        BIGINT      NOT NULL REFERENCES rewards (id),
    points           BIGINT      NOT NULL CHECK (points > 0),
    status           TEXT        NOT NULL CHECK (status IN ('issued', 'used', 'expired', 'cancelled')),
    -- The front-end's key for the redeem request: a double tap finds this row.
    request_key      TEXT,
    redeem_entry_id  BIGINT      NOT NULL REFERENCES entries (id),
    issued_at        TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    used_at          TIMESTAMPTZ,
    used_by          TEXT,
    closed_at        TIMESTAMPTZ,
    CONSTRAINT vouchers_request_key UNIQUE (member_id, request_key)
);
CREATE INDEX vouchers_member ON vouchers (member_id, reward_id, status);
CREATE INDEX vouchers_due ON vouchers (expires_at) WHERE status = 'issued';
