-- Audiences and journeys (offers for each customer).
--
-- A member's birthday: day and month only (never a year), given in chat once
-- and changed at most once a year (`birthday_set_at`).
ALTER TABLE members ADD COLUMN birth_day BIGINT CHECK (birth_day BETWEEN 1 AND 31);
ALTER TABLE members ADD COLUMN birth_month BIGINT CHECK (birth_month BETWEEN 1 AND 12);
ALTER TABLE members ADD COLUMN birthday_set_at TIMESTAMPTZ;

-- The category that took most of the member's spend in the run's 12 months.
ALTER TABLE member_segments ADD COLUMN favourite_category TEXT;
