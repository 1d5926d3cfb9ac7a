-- Partners: merchants sharing one programme, with what one of their points is
-- worth between them and how they fund their points (post-paid, or a prepaid
-- budget of points that earning there may not exceed).
CREATE TABLE partners (
    merchant_id  TEXT    PRIMARY KEY REFERENCES merchants (id),
    value_minor  BIGINT  NOT NULL CHECK (value_minor >= 0),
    funding      TEXT    NOT NULL CHECK (funding IN ('postpaid', 'prepaid')),
    budget       BIGINT  CHECK (budget >= 0),
    issued       BIGINT  NOT NULL DEFAULT 0,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

-- A reward may belong to a partner: only it can take its vouchers.
ALTER TABLE rewards ADD COLUMN partner_id TEXT REFERENCES merchants (id);

-- Settlement: each lot's points honoured by a partner other than the one that
-- issued them, at the issuer's value; negative when they came back. Written
-- in the same transaction as the ledger entry that moved them; never changed.
-- A booking belongs to the local month it was made in, or, when that month
-- was closed before it was written (its id is past the month's mark), to the
-- first open month after it.
CREATE TABLE settlement_bookings (
    id            BIGSERIAL PRIMARY KEY,
    issuer        TEXT    NOT NULL REFERENCES merchants (id),
    redeemer      TEXT    NOT NULL REFERENCES merchants (id),
    points        BIGINT  NOT NULL,
    value_minor   BIGINT  NOT NULL,
    amount_minor  BIGINT  NOT NULL,
    entry_id      BIGINT  NOT NULL REFERENCES entries (id),
    lot_id        BIGINT  NOT NULL REFERENCES lots (id),
    voucher_id    BIGINT  REFERENCES vouchers (id),
    payment_id    TEXT,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX settlement_bookings_made ON settlement_bookings (created_at);
CREATE INDEX settlement_bookings_voucher ON settlement_bookings (voucher_id) WHERE voucher_id IS NOT NULL;
CREATE INDEX settlement_bookings_payment ON settlement_bookings (payment_id) WHERE payment_id IS NOT NULL;
CREATE FUNCTION settlement_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'settlement bookings are append-only';
END;
$$;
CREATE TRIGGER settlement_bookings_no_update BEFORE UPDATE ON settlement_bookings
    FOR EACH ROW EXECUTE FUNCTION settlement_append_only();
CREATE TRIGGER settlement_bookings_no_delete BEFORE DELETE ON settlement_bookings
    FOR EACH ROW EXECUTE FUNCTION settlement_append_only();

-- A closed period (`2026-11`), the last booking and ledger entry it holds,
-- and its statement as it was closed (JSON): it never changes.
CREATE TABLE settlement_periods (
    period        TEXT    PRIMARY KEY,
    closed_at     TIMESTAMPTZ NOT NULL,
    booking_mark  BIGINT  NOT NULL,
    entry_mark    BIGINT  NOT NULL,
    statement     TEXT    NOT NULL
);
