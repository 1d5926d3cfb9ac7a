-- The chat front-ends: whether messages reach a member on each platform (they
-- may block the bot or unfollow the account), and who invited whom.
ALTER TABLE members ADD COLUMN telegram_reachable BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE members ADD COLUMN line_reachable     BOOLEAN NOT NULL DEFAULT TRUE;
-- Recorded once, at the first contact through a ref_ link; rewarded by the
-- referral rules.
ALTER TABLE members ADD COLUMN referred_by        BIGINT REFERENCES members (id);

-- One-time codes that let one member use both Telegram and LINE: made in one
-- app, typed (or opened as a link) in the other within minutes.
CREATE TABLE link_tokens (
    token       TEXT        PRIMARY KEY,
    member_id   BIGINT      NOT NULL REFERENCES members (id),
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ
);
