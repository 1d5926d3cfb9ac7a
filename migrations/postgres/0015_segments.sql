-- Members' A/B/C classes and RFM segments over the 12 months before
-- `computed_at`, worked out once a day by serve's sweep (or `taem report
-- segments --refresh`). A run is read once `done`; older runs are then
-- deleted. Only members who bought in the window have a row.
CREATE TABLE segment_runs (
    id            BIGSERIAL PRIMARY KEY,
    computed_at   TIMESTAMPTZ NOT NULL,
    window_start  TIMESTAMPTZ NOT NULL,
    done          BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE member_segments (
    run_id            BIGINT NOT NULL REFERENCES segment_runs (id),
    member_id         BIGINT NOT NULL REFERENCES members (id),
    class             TEXT    NOT NULL CHECK (class IN ('A', 'B', 'C')),
    segment           TEXT    NOT NULL,
    r                 BIGINT NOT NULL CHECK (r BETWEEN 1 AND 5),
    f                 BIGINT NOT NULL CHECK (f BETWEEN 1 AND 5),
    m                 BIGINT NOT NULL CHECK (m BETWEEN 1 AND 5),
    purchases         BIGINT NOT NULL,
    sales_minor       BIGINT NOT NULL,
    last_purchase_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, member_id)
);
