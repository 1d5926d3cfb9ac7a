-- A picture for a reward, shown in the chat catalogues (LINE's Flex hero image,
-- a Telegram photo) and in the console. `rewards.picture` names the current
-- picture ("<hash>.<ext>"), so its public address changes with every new
-- picture and may be cached for ever; the bytes live in a table of their own.
ALTER TABLE rewards ADD COLUMN picture TEXT;

CREATE TABLE reward_pictures (
    reward_id     BIGINT PRIMARY KEY REFERENCES rewards (id),
    name          TEXT    NOT NULL,
    content_type  TEXT    NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png')),
    bytes         BYTEA   NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
