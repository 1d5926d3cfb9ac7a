-- Store credit: money on a member's account (in the programme's currency),
-- bought with points through a cashback reward and spent at the till like
-- points. `credit_minor` is the cached balance; `credit_entries` is its
-- append-only ledger (the balance always equals the sum of its entries).
ALTER TABLE members ADD COLUMN credit_minor INTEGER NOT NULL DEFAULT 0 CHECK (credit_minor >= 0);

CREATE TABLE credit_entries (
    id            INTEGER PRIMARY KEY,
    member_id     INTEGER NOT NULL REFERENCES members (id),
    -- cashback: a cashback reward redeemed; hold: taken by a payment at the
    -- till; release: a payment's hold given back; refund: given back by a
    -- refund of the sale it paid.
    kind          TEXT    NOT NULL CHECK (kind IN ('cashback', 'hold', 'release', 'refund')),
    amount_minor  INTEGER NOT NULL CHECK (amount_minor <> 0),
    currency      TEXT    NOT NULL,
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    merchant_id   TEXT    REFERENCES merchants (id),
    voucher_id    INTEGER REFERENCES vouchers (id),
    -- The payment or refund behind it.
    reference     TEXT,
    created_at    TEXT    NOT NULL
);
CREATE INDEX credit_entries_member ON credit_entries (member_id, id);
CREATE TRIGGER credit_entries_no_update BEFORE UPDATE ON credit_entries
BEGIN SELECT RAISE(ABORT, 'credit entries are append-only'); END;
CREATE TRIGGER credit_entries_no_delete BEFORE DELETE ON credit_entries
BEGIN SELECT RAISE(ABORT, 'credit entries are append-only'); END;

-- A payment at the till takes points (`source` 'points': `hold_entry_id` in
-- the points ledger) or store credit (`source` 'credit', `points` 0:
-- `credit_hold_id` in the credit ledger). SQLite cannot change a column's
-- constraints, so the table is rebuilt with its rows.
CREATE TABLE point_payments_new (
    id                TEXT    PRIMARY KEY,
    merchant_id       TEXT    NOT NULL REFERENCES merchants (id),
    request_id        TEXT    NOT NULL,
    fingerprint       TEXT    NOT NULL,
    member_id         INTEGER NOT NULL REFERENCES members (id),
    source            TEXT    NOT NULL DEFAULT 'points' CHECK (source IN ('points', 'credit')),
    points            INTEGER NOT NULL CHECK (points >= 0),
    amount_minor      INTEGER NOT NULL CHECK (amount_minor > 0),
    currency          TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('awaiting_confirmation', 'confirmed',
                                  'captured', 'released', 'declined', 'expired')),
    hold_entry_id     INTEGER REFERENCES entries (id),
    release_entry_id  INTEGER REFERENCES entries (id),
    credit_hold_id    INTEGER REFERENCES credit_entries (id),
    credit_release_id INTEGER REFERENCES credit_entries (id),
    receipt_id        TEXT,
    -- Points given back by refunds of the sale it paid (see `receipt_id`).
    refunded_points   INTEGER NOT NULL DEFAULT 0,
    -- Credit given back by refunds of the sale it paid.
    refunded_minor    INTEGER NOT NULL DEFAULT 0,
    expires_at        TEXT    NOT NULL,
    confirmed_at      TEXT,
    closed_at         TEXT,
    created_at        TEXT    NOT NULL,
    UNIQUE (merchant_id, request_id),
    CHECK ((source = 'points' AND points > 0 AND hold_entry_id IS NOT NULL)
        OR (source = 'credit' AND points = 0 AND credit_hold_id IS NOT NULL))
);
INSERT INTO point_payments_new (id, merchant_id, request_id, fingerprint, member_id, points,
    amount_minor, currency, status, hold_entry_id, release_entry_id, receipt_id, refunded_points,
    expires_at, confirmed_at, closed_at, created_at)
SELECT id, merchant_id, request_id, fingerprint, member_id, points, amount_minor, currency, status,
    hold_entry_id, release_entry_id, receipt_id, refunded_points, expires_at, confirmed_at,
    closed_at, created_at FROM point_payments;
DROP TABLE point_payments;
ALTER TABLE point_payments_new RENAME TO point_payments;
CREATE INDEX point_payments_due ON point_payments (expires_at)
    WHERE status IN ('awaiting_confirmation', 'confirmed');
CREATE INDEX point_payments_member ON point_payments (member_id, created_at);
CREATE INDEX point_payments_receipt ON point_payments (merchant_id, receipt_id)
    WHERE status = 'captured';

-- Store credit a refund gave back because it had paid for the sale.
ALTER TABLE refunds ADD COLUMN credit_returned_minor INTEGER NOT NULL DEFAULT 0;
