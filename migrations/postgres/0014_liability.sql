-- Report settings: the value of one point (ten-thousandths of the currency;
-- NULL: derived from what redeemed points bought), breakage to use instead of
-- the estimate and the gross margin on sales (basis points; NULL: none), and
-- the A/B/C cut points (basis points of members' sales).
ALTER TABLE program ADD COLUMN point_value_e4 BIGINT CHECK (point_value_e4 > 0);
ALTER TABLE program ADD COLUMN breakage_bp BIGINT CHECK (breakage_bp BETWEEN 0 AND 10000);
ALTER TABLE program ADD COLUMN gross_margin_bp BIGINT CHECK (gross_margin_bp BETWEEN 0 AND 10000);
ALTER TABLE program ADD COLUMN abc_a_bp BIGINT NOT NULL DEFAULT 8000 CHECK (abc_a_bp BETWEEN 1 AND 10000);
ALTER TABLE program ADD COLUMN abc_b_bp BIGINT NOT NULL DEFAULT 9500 CHECK (abc_b_bp BETWEEN 1 AND 10000);

-- The points of each monthly cohort (the local month they were earned in,
-- `cohort`) by the local month something happened to them (`month`): issued
-- into lots, redeemed, expired, taken (clawed back or adjusted down). Kept
-- with the daily roll-up (same mark, same time zone); a cache.
CREATE TABLE report_cohorts (
    tz       TEXT    NOT NULL,
    cohort   TEXT    NOT NULL,
    month    TEXT    NOT NULL,
    measure  TEXT    NOT NULL,
    points   BIGINT NOT NULL,
    PRIMARY KEY (tz, cohort, month, measure)
);
-- The daily roll-up starts again, so that both hold the same entries.
UPDATE report_marks SET tz = '', upto_id = 0;
