-- Customers' data under Thailand's PDPA.
--
-- Consent to marketing is separate from joining: a new member starts without
-- it and is asked once (`consent_asked_at`), and every grant and withdrawal is
-- appended to `consents` (through which app or staff member, under which
-- version of the privacy notice). Existing members keep their state, recorded
-- as migrated, and are not asked again.
CREATE TABLE consents (
    id              INTEGER PRIMARY KEY,
    member_id       INTEGER NOT NULL REFERENCES members (id),
    purpose         TEXT    NOT NULL CHECK (purpose IN ('marketing')),
    granted         INTEGER NOT NULL,
    -- telegram, line, terminal, staff:<id>, cli, migrated, erasure
    via             TEXT    NOT NULL,
    notice_version  INTEGER,
    created_at      TEXT    NOT NULL
);
CREATE INDEX consents_member ON consents (member_id, id);
CREATE TRIGGER consents_no_update BEFORE UPDATE ON consents
BEGIN SELECT RAISE(ABORT, 'the consent log is append-only'); END;
CREATE TRIGGER consents_no_delete BEFORE DELETE ON consents
BEGIN SELECT RAISE(ABORT, 'the consent log is append-only'); END;

ALTER TABLE members ADD COLUMN consent_asked_at TEXT;
-- Set when the member's personal data was erased: the row stays as an
-- anonymous stub so the ledger and merchants' figures still add up.
ALTER TABLE members ADD COLUMN erased_at TEXT;
-- The last day the member wrote in chat (kept once a day), for retention.
ALTER TABLE members ADD COLUMN last_seen_at TEXT;
UPDATE members SET consent_asked_at = created_at;
INSERT INTO consents (member_id, purpose, granted, via, notice_version, created_at)
    SELECT id, 'marketing', marketing_opt_in, 'migrated', NULL,
           strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    FROM members ORDER BY id;

-- The privacy notice: a link, or text in Thai and English (or both); its
-- version goes up with every change and is recorded with each consent.
-- Members with no activity for `retention_months` are anonymised (off when
-- NULL).
ALTER TABLE program ADD COLUMN privacy_url TEXT;
ALTER TABLE program ADD COLUMN privacy_th TEXT;
ALTER TABLE program ADD COLUMN privacy_en TEXT;
ALTER TABLE program ADD COLUMN privacy_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE program ADD COLUMN retention_months INTEGER
    CHECK (retention_months BETWEEN 1 AND 240);

-- Every run of the retention sweep: when, the cut-off, how many it anonymised.
CREATE TABLE privacy_sweeps (
    id          INTEGER PRIMARY KEY,
    ran_at      TEXT    NOT NULL,
    cutoff      TEXT    NOT NULL,
    erased      INTEGER NOT NULL
);

-- Erasure forfeits store credit with a ledger entry of its own kind. SQLite
-- cannot change a CHECK, so the credit ledger is rebuilt with its rows (the
-- payments that point at its rows find them again under the same ids).
PRAGMA defer_foreign_keys = ON;
CREATE TABLE credit_entries_new (
    id            INTEGER PRIMARY KEY,
    member_id     INTEGER NOT NULL REFERENCES members (id),
    -- cashback: a cashback reward redeemed; hold: taken by a payment at the
    -- till; release: a payment's hold given back; refund: given back by a
    -- refund of the sale it paid; forfeit: taken when the member was erased.
    kind          TEXT    NOT NULL
                  CHECK (kind IN ('cashback', 'hold', 'release', 'refund', 'forfeit')),
    amount_minor  INTEGER NOT NULL CHECK (amount_minor <> 0),
    currency      TEXT    NOT NULL,
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    merchant_id   TEXT    REFERENCES merchants (id),
    voucher_id    INTEGER REFERENCES vouchers (id),
    -- The payment or refund behind it.
    reference     TEXT,
    created_at    TEXT    NOT NULL
);
INSERT INTO credit_entries_new (id, member_id, kind, amount_minor, currency, balance_after,
                                merchant_id, voucher_id, reference, created_at)
    SELECT id, member_id, kind, amount_minor, currency, balance_after, merchant_id, voucher_id,
           reference, created_at FROM credit_entries;
DROP TABLE credit_entries;
ALTER TABLE credit_entries_new RENAME TO credit_entries;
CREATE INDEX credit_entries_member ON credit_entries (member_id, id);
CREATE TRIGGER credit_entries_no_update BEFORE UPDATE ON credit_entries
BEGIN SELECT RAISE(ABORT, 'credit entries are append-only'); END;
CREATE TRIGGER credit_entries_no_delete BEFORE DELETE ON credit_entries
BEGIN SELECT RAISE(ABORT, 'credit entries are append-only'); END;

-- The ledger and the audit log stay append-only, with one exception erasure
-- needs: a free-text field written by staff (an adjustment's reason; an audit
-- entry's subject and before/after) may be blanked, and nothing else changed.
DROP TRIGGER entries_no_update;
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
WHEN NOT (NEW.reference IS NULL AND NEW.id = OLD.id AND NEW.member_id = OLD.member_id
          AND NEW.kind = OLD.kind AND NEW.points = OLD.points
          AND NEW.balance_after = OLD.balance_after AND NEW.merchant_id IS OLD.merchant_id
          AND NEW.purchase_id IS OLD.purchase_id AND NEW.voucher_id IS OLD.voucher_id
          AND NEW.lot_id IS OLD.lot_id AND NEW.created_at = OLD.created_at)
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
DROP TRIGGER audit_log_no_update;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
WHEN NOT (NEW.before IS NULL AND NEW.after IS NULL AND NEW.id = OLD.id
          AND NEW.staff_id IS OLD.staff_id AND NEW.actor = OLD.actor AND NEW.action = OLD.action
          AND NEW.created_at = OLD.created_at)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
