-- Each member's rolling spend, kept on their row (issue 20), so a purchase no
-- longer sums every purchase of the member in the tier window.
--
-- spend_minor is exactly the member's spend in spend_currency over purchases
-- that happened after spend_since (refunds taken off). A purchase reads its
-- window from it, summing only the purchases between spend_since and the
-- window's start (those that left it since), and writes it anew with the same
-- row update that moves the balance; refunds and claims move it too. NULL
-- currency: nothing kept yet (the member's next purchase sums in full, then
-- keeps it). `taem check` reads it against the purchases.
ALTER TABLE members ADD COLUMN spend_currency TEXT;
ALTER TABLE members ADD COLUMN spend_since TIMESTAMPTZ;
ALTER TABLE members ADD COLUMN spend_minor BIGINT NOT NULL DEFAULT 0;
