-- Members' A/B/C classes and RFM segments over the 12 months before
-- `computed_at`, worked out once a day by serve's sweep (or `taem report
-- segments --refresh`). A run is read once `done`; older runs are then
-- deleted. Only members who bought in the window have a row.
CREATE TABLE segment_runs (
    id            INTEGER PRIMARY KEY,
    computed_at   TEXT NOT NULL,
    window_start  TEXT NOT NULL,
    done          INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE member_segments (
    run_id            INTEGER NOT NULL REFERENCES segment_runs (id),
    member_id         INTEGER NOT NULL REFERENCES members (id),
    class             TEXT    NOT NULL CHECK (class IN ('A', 'B', 'C')),
    segment           TEXT    NOT NULL,
    r                 INTEGER NOT NULL CHECK (r BETWEEN 1 AND 5),
    f                 INTEGER NOT NULL CHECK (f BETWEEN 1 AND 5),
    m                 INTEGER NOT NULL CHECK (m BETWEEN 1 AND 5),
    purchases         INTEGER NOT NULL,
    sales_minor       INTEGER NOT NULL,
    last_purchase_at  TEXT NOT NULL,
    PRIMARY KEY (run_id, member_id)
);
