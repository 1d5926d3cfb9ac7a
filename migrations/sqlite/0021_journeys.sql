-- Journeys: offers `taem serve` sends by itself (welcome, birthday, win-back,
-- near a reward), each switched on and set up by staff. A row appears when a
-- journey is first set; `holdout_salt` is fixed then (see campaigns).
CREATE TABLE journeys (
    kind          TEXT    PRIMARY KEY
                  CHECK (kind IN ('welcome', 'birthday', 'winback', 'near_reward')),
    enabled       INTEGER NOT NULL DEFAULT 0,
    bonus_points  INTEGER NOT NULL DEFAULT 0 CHECK (bonus_points >= 0),
    reward_id     INTEGER REFERENCES rewards (id),
    holdout_bp    INTEGER NOT NULL DEFAULT 0 CHECK (holdout_bp BETWEEN 0 AND 5000),
    holdout_salt  INTEGER NOT NULL,
    -- Win-back: lapsing after this many days (NULL: beyond 1.5 × the usual gap).
    lapsing_days  INTEGER CHECK (lapsing_days > 0),
    every_days    INTEGER NOT NULL DEFAULT 90 CHECK (every_days > 0),
    near_bp       INTEGER NOT NULL DEFAULT 2000 CHECK (near_bp BETWEEN 1 AND 5000),
    enabled_at    TEXT,
    updated_at    TEXT    NOT NULL
);

-- A journey given to a member (or held out) under a key: at most once per key
-- (welcome; birthday:YEAR; winback:DATE; reward:ID:YEAR-MONTH). Held-out rows
-- give and send nothing; they are the comparison group of the report.
CREATE TABLE journey_sends (
    kind        TEXT    NOT NULL,
    member_id   INTEGER NOT NULL REFERENCES members (id),
    key         TEXT    NOT NULL,
    held_out    INTEGER NOT NULL,
    points      INTEGER NOT NULL DEFAULT 0,
    voucher_id  INTEGER REFERENCES vouchers (id),
    sent_at     TEXT    NOT NULL,
    PRIMARY KEY (kind, member_id, key)
);
CREATE INDEX journey_sends_kind ON journey_sends (kind, sent_at);
