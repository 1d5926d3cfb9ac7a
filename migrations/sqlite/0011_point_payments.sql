-- Paying with points at the till. The programme says what points are worth
-- (`pay_points` points pay `pay_minor` minor units; NULL: paying with points is
-- off), the fewest points a payment takes, and how long a hold lasts.
ALTER TABLE program ADD COLUMN pay_points INTEGER CHECK (pay_points > 0);
ALTER TABLE program ADD COLUMN pay_minor INTEGER CHECK (pay_minor > 0);
ALTER TABLE program ADD COLUMN pay_min_points INTEGER NOT NULL DEFAULT 1 CHECK (pay_min_points > 0);
ALTER TABLE program ADD COLUMN pay_hold_minutes INTEGER NOT NULL DEFAULT 5
    CHECK (pay_hold_minutes BETWEEN 1 AND 60);
-- Whether the part of a bill paid with points earns points (default: no).
ALTER TABLE program ADD COLUMN pay_earns INTEGER NOT NULL DEFAULT 0;

-- A payment with points: reserved by a till (its `request_id` is the
-- idempotency key), the points taken from the member's lots by `hold_entry_id`
-- at once; confirmed by the customer, then captured, or given back (released,
-- declined, expired) by a `release` entry.
CREATE TABLE point_payments (
    id                TEXT    PRIMARY KEY,
    merchant_id       TEXT    NOT NULL REFERENCES merchants (id),
    request_id        TEXT    NOT NULL,
    fingerprint       TEXT    NOT NULL,
    member_id         INTEGER NOT NULL REFERENCES members (id),
    points            INTEGER NOT NULL CHECK (points > 0),
    amount_minor      INTEGER NOT NULL CHECK (amount_minor > 0),
    currency          TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('awaiting_confirmation', 'confirmed',
                                  'captured', 'released', 'declined', 'expired')),
    hold_entry_id     INTEGER NOT NULL REFERENCES entries (id),
    release_entry_id  INTEGER REFERENCES entries (id),
    receipt_id        TEXT,
    -- Points given back by refunds of the sale it paid (see `receipt_id`).
    refunded_points   INTEGER NOT NULL DEFAULT 0,
    expires_at        TEXT    NOT NULL,
    confirmed_at      TEXT,
    closed_at         TEXT,
    created_at        TEXT    NOT NULL,
    UNIQUE (merchant_id, request_id)
);
CREATE INDEX point_payments_due ON point_payments (expires_at)
    WHERE status IN ('awaiting_confirmation', 'confirmed');
CREATE INDEX point_payments_member ON point_payments (member_id, created_at);
CREATE INDEX point_payments_receipt ON point_payments (merchant_id, receipt_id)
    WHERE status = 'captured';

-- One-time pay codes a member shows at the till instead of confirming in chat:
-- only a hash is kept; single use, a few minutes.
CREATE TABLE pay_codes (
    code_hash   TEXT    PRIMARY KEY,
    member_id   INTEGER NOT NULL REFERENCES members (id),
    expires_at  TEXT    NOT NULL,
    used_at     TEXT,
    created_at  TEXT    NOT NULL
);
CREATE INDEX pay_codes_member ON pay_codes (member_id);

-- Points a refund gave back because they had paid for the sale.
ALTER TABLE refunds ADD COLUMN points_returned INTEGER NOT NULL DEFAULT 0;
