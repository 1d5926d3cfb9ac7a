-- Reports read the ledger through a roll-up by local day: for each day in the
-- programme's time zone (`tz`), shop ('' for none) and measure (base, tier,
-- campaign, referral, manual, redeemed, expired, clawed_back, released,
-- adjusted_down), the points moved. It holds the entries up to
-- `report_marks.upto_id`; a report adds the entries after it, so it always
-- sums the whole ledger. It is a cache: dropping its rows (or changing the
-- time zone) only makes it be built again.
CREATE TABLE report_days (
    tz          TEXT    NOT NULL,
    day         TEXT    NOT NULL,
    merchant_id TEXT    NOT NULL DEFAULT '',
    measure     TEXT    NOT NULL,
    points      INTEGER NOT NULL,
    PRIMARY KEY (tz, day, merchant_id, measure)
);

CREATE TABLE report_marks (
    name     TEXT    PRIMARY KEY,
    tz       TEXT    NOT NULL,
    upto_id  INTEGER NOT NULL
);
INSERT INTO report_marks (name, tz, upto_id) VALUES ('ledger', '', 0);
