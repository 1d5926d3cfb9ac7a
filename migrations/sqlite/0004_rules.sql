-- Earning rules: campaigns, tiers and referrals.

-- The currency tiers, minimum spends and referral rules are written in.
ALTER TABLE program ADD COLUMN currency TEXT NOT NULL DEFAULT 'THB';
-- Referral bonuses, paid once on the referred member's first qualifying purchase.
ALTER TABLE program ADD COLUMN referrer_points INTEGER NOT NULL DEFAULT 50 CHECK (referrer_points >= 0);
ALTER TABLE program ADD COLUMN referee_points INTEGER NOT NULL DEFAULT 50 CHECK (referee_points >= 0);
ALTER TABLE program ADD COLUMN referral_min_spend_minor INTEGER NOT NULL DEFAULT 0 CHECK (referral_min_spend_minor >= 0);

CREATE TABLE tiers (
    key                 TEXT    PRIMARY KEY,
    name_th             TEXT    NOT NULL,
    name_en             TEXT    NOT NULL,
    threshold_minor     INTEGER NOT NULL UNIQUE CHECK (threshold_minor >= 0),
    multiplier_percent  INTEGER NOT NULL CHECK (multiplier_percent BETWEEN 100 AND 1000)
);
INSERT INTO tiers VALUES
    ('member', 'สมาชิก', 'Member', 0, 100),
    ('silver', 'ซิลเวอร์', 'Silver', 500000, 125),
    ('gold', 'โกลด์', 'Gold', 2000000, 150),
    ('vip', 'วีไอพี', 'VIP', 5000000, 200);

-- NULL: the lowest tier.
ALTER TABLE members ADD COLUMN tier TEXT;
ALTER TABLE members ADD COLUMN tier_since TEXT;
-- The purchase that paid this member's referral (NULL: not paid yet).
ALTER TABLE members ADD COLUMN referral_purchase_id INTEGER REFERENCES purchases (id);

-- The referred member's bonus (part of `points`) and the referrer's, when this
-- purchase paid a referral; both are taken back if it is refunded in full.
ALTER TABLE purchases ADD COLUMN referral_points INTEGER NOT NULL DEFAULT 0;
ALTER TABLE purchases ADD COLUMN referrer_points INTEGER NOT NULL DEFAULT 0;
-- Covering: a member's rolling spend is read from the index alone.
CREATE INDEX purchases_member ON purchases (member_id, occurred_at, currency, amount_minor, refunded_minor);

-- Every tier move, for notifications and reports.
CREATE TABLE tier_changes (
    id           INTEGER PRIMARY KEY,
    member_id    INTEGER NOT NULL REFERENCES members (id),
    from_tier    TEXT,
    to_tier      TEXT    NOT NULL,
    spend_minor  INTEGER NOT NULL,
    reason       TEXT    NOT NULL CHECK (reason IN ('purchase', 'claim', 'review', 'admin')),
    created_at   TEXT    NOT NULL
);
CREATE INDEX tier_changes_member ON tier_changes (member_id, id);

CREATE TABLE campaigns (
    id               INTEGER PRIMARY KEY,
    name_th          TEXT    NOT NULL,
    name_en          TEXT    NOT NULL,
    text_th          TEXT    NOT NULL DEFAULT '',
    text_en          TEXT    NOT NULL DEFAULT '',
    kind             TEXT    NOT NULL CHECK (kind IN ('multiplier', 'bonus', 'items', 'first_purchase')),
    percent          INTEGER CHECK (percent BETWEEN 100 AND 1000),
    points           INTEGER CHECK (points >= 0),
    stacks           INTEGER NOT NULL DEFAULT 0,
    item_sku         TEXT,
    item_category    TEXT,
    starts_at        TEXT    NOT NULL,
    ends_at          TEXT    NOT NULL,
    -- Weekdays as bits, Monday = 1; NULL: every day.
    days             INTEGER,
    hour_from        INTEGER,
    hour_to          INTEGER,
    -- Comma-separated merchant ids and tier keys; NULL: all.
    merchants        TEXT,
    tiers            TEXT,
    min_spend_minor  INTEGER,
    budget           INTEGER CHECK (budget >= 0),
    member_cap       INTEGER CHECK (member_cap >= 0),
    -- Bonus points given so far; never past the budget.
    awarded          INTEGER NOT NULL DEFAULT 0 CHECK (budget IS NULL OR awarded <= budget),
    ended_early_at   TEXT,
    created_at       TEXT    NOT NULL,
    CHECK (starts_at <= ends_at)
);
CREATE INDEX campaigns_window ON campaigns (ends_at, starts_at);

-- What each campaign gave to each purchase (per-member caps, results).
CREATE TABLE campaign_awards (
    campaign_id  INTEGER NOT NULL REFERENCES campaigns (id),
    purchase_id  INTEGER NOT NULL REFERENCES purchases (id),
    member_id    INTEGER REFERENCES members (id),
    points       INTEGER NOT NULL CHECK (points > 0),
    created_at   TEXT    NOT NULL,
    PRIMARY KEY (campaign_id, purchase_id)
);
CREATE INDEX campaign_awards_member ON campaign_awards (member_id, campaign_id);
