-- The chat front-ends: whether messages reach a member on each platform (they
-- may block the bot or unfollow the account), and who invited whom.
ALTER TABLE members ADD COLUMN telegram_reachable INTEGER NOT NULL DEFAULT 1;
ALTER TABLE members ADD COLUMN line_reachable     INTEGER NOT NULL DEFAULT 1;
-- Recorded once, at the first contact through a ref_ link; rewarded by the
-- referral rules.
ALTER TABLE members ADD COLUMN referred_by        INTEGER REFERENCES members (id);
