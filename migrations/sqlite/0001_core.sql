-- The loyalty core. Timestamps are RFC 3339 text in UTC written by sqlx; they are
-- always whole milliseconds, so text order is time order.

-- One row of program-wide settings.
CREATE TABLE program (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    name           TEXT    NOT NULL,
    expiry_months  INTEGER NOT NULL CHECK (expiry_months BETWEEN 1 AND 120),
    pending_days   INTEGER NOT NULL CHECK (pending_days BETWEEN 0 AND 365)
);
INSERT INTO program (id, name, expiry_months, pending_days) VALUES (1, 'taem', 12, 0);

CREATE TABLE merchants (
    id              TEXT PRIMARY KEY,
    name            TEXT    NOT NULL,
    currency        TEXT    NOT NULL,
    earn_points     INTEGER NOT NULL CHECK (earn_points > 0),
    earn_per_minor  INTEGER NOT NULL CHECK (earn_per_minor > 0),
    -- Needed in clear to verify HMAC signatures; printed once at creation.
    webhook_secret  TEXT    NOT NULL,
    created_at      TEXT    NOT NULL
);

CREATE TABLE members (
    id                INTEGER PRIMARY KEY,
    code              TEXT    NOT NULL UNIQUE,
    name              TEXT,
    locale            TEXT,
    telegram_id       INTEGER UNIQUE,
    line_id           TEXT    UNIQUE,
    marketing_opt_in  INTEGER NOT NULL DEFAULT 1,
    -- Cached sum of the member's entries, updated in the same transaction.
    balance           INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT    NOT NULL
);

CREATE TABLE purchases (
    id                INTEGER PRIMARY KEY,
    merchant_id       TEXT    NOT NULL REFERENCES merchants (id),
    receipt_id        TEXT    NOT NULL,
    -- Digest of the request: a replay with another digest is a conflict.
    fingerprint       TEXT    NOT NULL,
    member_id         INTEGER REFERENCES members (id),
    amount_minor      INTEGER NOT NULL CHECK (amount_minor > 0),
    currency          TEXT    NOT NULL,
    occurred_at       TEXT    NOT NULL,
    items             TEXT,
    points            INTEGER NOT NULL CHECK (points >= 0),
    breakdown         TEXT    NOT NULL,
    -- The member's balance in the original answer, so replays answer the same.
    balance_after     INTEGER,
    lot_id            INTEGER,
    available_at      TEXT    NOT NULL,
    claim_code        TEXT    UNIQUE,
    claim_expires_at  TEXT,
    claimed_at        TEXT,
    refunded_minor    INTEGER NOT NULL DEFAULT 0 CHECK (refunded_minor <= amount_minor),
    clawed_back       INTEGER NOT NULL DEFAULT 0 CHECK (clawed_back <= points),
    created_at        TEXT    NOT NULL,
    UNIQUE (merchant_id, receipt_id)
);

CREATE TABLE refunds (
    id             INTEGER PRIMARY KEY,
    merchant_id    TEXT    NOT NULL REFERENCES merchants (id),
    refund_id      TEXT    NOT NULL,
    purchase_id    INTEGER NOT NULL REFERENCES purchases (id),
    fingerprint    TEXT    NOT NULL,
    amount_minor   INTEGER NOT NULL CHECK (amount_minor > 0),
    points         INTEGER NOT NULL CHECK (points >= 0),
    member_id      INTEGER REFERENCES members (id),
    balance_after  INTEGER,
    created_at     TEXT    NOT NULL,
    UNIQUE (merchant_id, refund_id)
);

-- Earned points with their own expiry; spent soonest-expiring first.
CREATE TABLE lots (
    id            INTEGER PRIMARY KEY,
    member_id     INTEGER NOT NULL REFERENCES members (id),
    points        INTEGER NOT NULL CHECK (points >= 0),
    remaining     INTEGER NOT NULL CHECK (remaining >= 0),
    earned_at     TEXT    NOT NULL,
    available_at  TEXT    NOT NULL,
    expires_at    TEXT    NOT NULL,
    merchant_id   TEXT,
    purchase_id   INTEGER
);
CREATE INDEX lots_member_live ON lots (member_id, expires_at) WHERE remaining > 0;
CREATE INDEX lots_due ON lots (expires_at) WHERE remaining > 0;
CREATE INDEX lots_purchase ON lots (purchase_id);

-- The ledger: append-only, one row per movement of points.
CREATE TABLE entries (
    id             INTEGER PRIMARY KEY,
    member_id      INTEGER NOT NULL REFERENCES members (id),
    kind           TEXT    NOT NULL CHECK (kind IN ('earn', 'redeem', 'clawback', 'expire', 'adjust', 'release')),
    points         INTEGER NOT NULL,
    balance_after  INTEGER NOT NULL,
    merchant_id    TEXT,
    purchase_id    INTEGER,
    voucher_id     INTEGER,
    lot_id         INTEGER,
    reference      TEXT,
    created_at     TEXT    NOT NULL
);
CREATE INDEX entries_member ON entries (member_id, id);

CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;

-- Which lots a debit took its points from (so a released voucher refills them).
CREATE TABLE entry_lots (
    entry_id  INTEGER NOT NULL REFERENCES entries (id),
    lot_id    INTEGER NOT NULL REFERENCES lots (id),
    points    INTEGER NOT NULL CHECK (points > 0),
    PRIMARY KEY (entry_id, lot_id)
);

CREATE TABLE rewards (
    id                INTEGER PRIMARY KEY,
    name_th           TEXT    NOT NULL,
    name_en           TEXT    NOT NULL,
    description_th    TEXT    NOT NULL DEFAULT '',
    description_en    TEXT    NOT NULL DEFAULT '',
    cost              INTEGER NOT NULL CHECK (cost > 0),
    stock             INTEGER CHECK (stock >= 0),
    per_member_limit  INTEGER CHECK (per_member_limit > 0),
    valid_from        TEXT,
    valid_until       TEXT,
    face_value_minor  INTEGER NOT NULL DEFAULT 0 CHECK (face_value_minor >= 0),
    currency          TEXT    NOT NULL,
    voucher_days      INTEGER NOT NULL CHECK (voucher_days > 0),
    active            INTEGER NOT NULL DEFAULT 1,
    created_at        TEXT    NOT NULL
);

CREATE TABLE vouchers (
    id               INTEGER PRIMARY KEY,
    code             TEXT    NOT NULL UNIQUE,
    member_id        INTEGER NOT NULL REFERENCES members (id),
    reward_id        INTEGER NOT NULL REFERENCES rewards (id),
    points           INTEGER NOT NULL CHECK (points > 0),
    status           TEXT    NOT NULL CHECK (status IN ('issued', 'used', 'expired', 'cancelled')),
    -- The front-end's key for the redeem request: a double tap finds this row.
    request_key      TEXT,
    redeem_entry_id  INTEGER NOT NULL REFERENCES entries (id),
    issued_at        TEXT    NOT NULL,
    expires_at       TEXT    NOT NULL,
    used_at          TEXT,
    used_by          TEXT,
    closed_at        TEXT,
    UNIQUE (member_id, request_key)
);
CREATE INDEX vouchers_member ON vouchers (member_id, reward_id, status);
CREATE INDEX vouchers_due ON vouchers (expires_at) WHERE status = 'issued';
