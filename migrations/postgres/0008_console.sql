-- The merchant console: staff who sign in, their one-time links and sessions,
-- the audit log of what they change, and members' phone numbers.

-- A staff member of one merchant (`merchant_id`) or of all (NULL). Emails are
-- stored lower-cased; the password as an Argon2id PHC string, NULL until the
-- invitation is accepted.
CREATE TABLE staff (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email          TEXT        NOT NULL UNIQUE,
    name           TEXT        NOT NULL DEFAULT '',
    role           TEXT        NOT NULL CHECK (role IN ('owner', 'manager', 'cashier')),
    merchant_id    TEXT        REFERENCES merchants (id),
    password_hash  TEXT,
    locale         TEXT,
    disabled_at    TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL
);

-- Invitation and password-reset links: single use, expiring. Only a hash of the
-- token is kept.
CREATE TABLE staff_tokens (
    token_hash  TEXT        PRIMARY KEY,
    staff_id    BIGINT      NOT NULL REFERENCES staff (id),
    purpose     TEXT        NOT NULL CHECK (purpose IN ('invite', 'reset')),
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX staff_tokens_staff ON staff_tokens (staff_id);

-- Signed-in sessions, kept on the server; the cookie holds the token, the table
-- its hash. `csrf` is the token every state-changing form carries.
CREATE TABLE staff_sessions (
    token_hash    TEXT        PRIMARY KEY,
    staff_id      BIGINT      NOT NULL REFERENCES staff (id),
    csrf          TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    last_seen_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);

-- Every change a person makes, who made it and the values before and after
-- (JSON). Append-only, like the ledger.
CREATE TABLE audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    staff_id    BIGINT      REFERENCES staff (id),
    actor       TEXT        NOT NULL,
    action      TEXT        NOT NULL,
    subject     TEXT,
    before      TEXT,
    after       TEXT,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (created_at);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- A member's phone number in E.164 (optional, one member per number), and when
-- they agreed to a cashier storing it.
ALTER TABLE members ADD COLUMN phone TEXT;
ALTER TABLE members ADD COLUMN phone_consent_at TIMESTAMPTZ;
CREATE UNIQUE INDEX members_phone ON members (phone) WHERE phone IS NOT NULL;
CREATE INDEX members_name ON members (lower(name) text_pattern_ops);

-- How long a console session lasts without use.
ALTER TABLE program ADD COLUMN session_idle_hours BIGINT NOT NULL DEFAULT 12
    CHECK (session_idle_hours BETWEEN 1 AND 720);
