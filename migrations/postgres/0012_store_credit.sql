-- Store credit: money on a member's account (in the programme's currency),
-- bought with points through a cashback reward and spent at the till like
-- points. `credit_minor` is the cached balance; `credit_entries` is its
-- append-only ledger (the balance always equals the sum of its entries).
ALTER TABLE members ADD COLUMN credit_minor BIGINT NOT NULL DEFAULT 0 CHECK (credit_minor >= 0);

CREATE TABLE credit_entries (
    id            BIGSERIAL PRIMARY KEY,
    member_id     BIGINT  NOT NULL REFERENCES members (id),
    -- cashback: a cashback reward redeemed; hold: taken by a payment at the
    -- till; release: a payment's hold given back; refund: given back by a
    -- refund of the sale it paid.
    kind          TEXT    NOT NULL CHECK (kind IN ('cashback', 'hold', 'release', 'refund')),
    amount_minor  BIGINT  NOT NULL CHECK (amount_minor <> 0),
    currency      TEXT    NOT NULL,
    balance_after BIGINT  NOT NULL CHECK (balance_after >= 0),
    merchant_id   TEXT    REFERENCES merchants (id),
    voucher_id    BIGINT  REFERENCES vouchers (id),
    -- The payment or refund behind it.
    reference     TEXT,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX credit_entries_member ON credit_entries (member_id, id);
CREATE FUNCTION credit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'credit entries are append-only';
END;
$$;
CREATE TRIGGER credit_entries_no_update BEFORE UPDATE ON credit_entries
    FOR EACH ROW EXECUTE FUNCTION credit_entries_append_only();
CREATE TRIGGER credit_entries_no_delete BEFORE DELETE ON credit_entries
    FOR EACH ROW EXECUTE FUNCTION credit_entries_append_only();

-- A payment at the till takes points (`source` 'points': `hold_entry_id` in
-- the points ledger) or store credit (`source` 'credit', `points` 0:
-- `credit_hold_id` in the credit ledger).
ALTER TABLE point_payments ADD COLUMN source TEXT NOT NULL DEFAULT 'points'
    CHECK (source IN ('points', 'credit'));
ALTER TABLE point_payments DROP CONSTRAINT point_payments_points_check;
ALTER TABLE point_payments ADD CONSTRAINT point_payments_points_check CHECK (points >= 0);
ALTER TABLE point_payments ALTER COLUMN hold_entry_id DROP NOT NULL;
ALTER TABLE point_payments ADD COLUMN credit_hold_id BIGINT REFERENCES credit_entries (id);
ALTER TABLE point_payments ADD COLUMN credit_release_id BIGINT REFERENCES credit_entries (id);
-- Credit given back by refunds of the sale it paid.
ALTER TABLE point_payments ADD COLUMN refunded_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE point_payments ADD CONSTRAINT point_payments_holds_check
    CHECK ((source = 'points' AND points > 0 AND hold_entry_id IS NOT NULL)
        OR (source = 'credit' AND points = 0 AND credit_hold_id IS NOT NULL));

-- Store credit a refund gave back because it had paid for the sale.
ALTER TABLE refunds ADD COLUMN credit_returned_minor BIGINT NOT NULL DEFAULT 0;
