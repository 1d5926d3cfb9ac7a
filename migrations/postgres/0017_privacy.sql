-- Customers' data under Thailand's PDPA.
--
-- Consent to marketing is separate from joining: a new member starts without
-- it and is asked once (`consent_asked_at`), and every grant and withdrawal is
-- appended to `consents` (through which app or staff member, under which
-- version of the privacy notice). Existing members keep their state, recorded
-- as migrated, and are not asked again.
CREATE TABLE consents (
    id              BIGSERIAL PRIMARY KEY,
    member_id       BIGINT      NOT NULL REFERENCES members (id),
    purpose         TEXT        NOT NULL CHECK (purpose IN ('marketing')),
    granted         BOOLEAN     NOT NULL,
    -- telegram, line, terminal, staff:<id>, cli, migrated, erasure
    via             TEXT        NOT NULL,
    notice_version  BIGINT,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX consents_member ON consents (member_id, id);
CREATE FUNCTION consents_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the consent log is append-only';
END;
$$;
CREATE TRIGGER consents_no_update BEFORE UPDATE ON consents
    FOR EACH ROW EXECUTE FUNCTION consents_append_only();
CREATE TRIGGER consents_no_delete BEFORE DELETE ON consents
    FOR EACH ROW EXECUTE FUNCTION consents_append_only();

ALTER TABLE members ALTER COLUMN marketing_opt_in SET DEFAULT false;
ALTER TABLE members ADD COLUMN consent_asked_at TIMESTAMPTZ;
-- Set when the member's personal data was erased: the row stays as an
-- anonymous stub so the ledger and merchants' figures still add up.
ALTER TABLE members ADD COLUMN erased_at TIMESTAMPTZ;
-- The last day the member wrote in chat (kept once a day), for retention.
ALTER TABLE members ADD COLUMN last_seen_at TIMESTAMPTZ;
UPDATE members SET consent_asked_at = created_at;
INSERT INTO consents (member_id, purpose, granted, via, notice_version, created_at)
    SELECT id, 'marketing', marketing_opt_in, 'migrated', NULL, date_trunc('milliseconds', now())
    FROM members ORDER BY id;

-- The privacy notice: a link, or text in Thai and English (or both); its
-- version goes up with every change and is recorded with each consent.
-- Members with no activity for `retention_months` are anonymised (off when
-- NULL).
ALTER TABLE program ADD COLUMN privacy_url TEXT;
ALTER TABLE program ADD COLUMN privacy_th TEXT;
ALTER TABLE program ADD COLUMN privacy_en TEXT;
ALTER TABLE program ADD COLUMN privacy_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE program ADD COLUMN retention_months BIGINT
    CHECK (retention_months BETWEEN 1 AND 240);

-- Every run of the retention sweep: when, the cut-off, how many it anonymised.
CREATE TABLE privacy_sweeps (
    id          BIGSERIAL PRIMARY KEY,
    ran_at      TIMESTAMPTZ NOT NULL,
    cutoff      TIMESTAMPTZ NOT NULL,
    erased      BIGINT      NOT NULL
);

-- Erasure forfeits store credit with a ledger entry of its own kind.
ALTER TABLE credit_entries DROP CONSTRAINT credit_entries_kind_check;
ALTER TABLE credit_entries ADD CONSTRAINT credit_entries_kind_check
    CHECK (kind IN ('cashback', 'hold', 'release', 'refund', 'forfeit'));

-- The ledger and the audit log stay append-only, with one exception erasure
-- needs: a free-text field written by staff (an adjustment's reason; an audit
-- entry's subject and before/after) may be blanked, and nothing else changed.
CREATE OR REPLACE FUNCTION entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.reference IS NULL
       AND (NEW.id, NEW.member_id, NEW.kind, NEW.points, NEW.balance_after, NEW.merchant_id,
            NEW.purchase_id, NEW.voucher_id, NEW.lot_id, NEW.created_at)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.member_id, OLD.kind, OLD.points, OLD.balance_after, OLD.merchant_id,
            OLD.purchase_id, OLD.voucher_id, OLD.lot_id, OLD.created_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'ledger entries are append-only';
END;
$$;
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.before IS NULL AND NEW.after IS NULL
       AND (NEW.id, NEW.staff_id, NEW.actor, NEW.action, NEW.created_at)
           IS NOT DISTINCT FROM (OLD.id, OLD.staff_id, OLD.actor, OLD.action, OLD.created_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
