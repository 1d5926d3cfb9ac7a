-- The language a member's chat app reported when they last wrote (Telegram's
-- language_code, LINE's profile language), kept apart from the language they
-- chose (`locale`): pushes and broadcasts follow the choice, else the app.
ALTER TABLE members ADD COLUMN app_locale TEXT;

-- Moves with every settings change (`taem program set`, `taem tier set`), so
-- a running server notices inside a purchase's own transaction that the
-- settings it holds are old, and reads them again.
ALTER TABLE program ADD COLUMN settings_version INTEGER NOT NULL DEFAULT 0;
