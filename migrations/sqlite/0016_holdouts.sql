-- A campaign may hold out a share of members (`holdout_bp`, basis points, at
-- most half) to measure its lift: they get neither its bonus nor its
-- announcement. Who is held out is decided by the member's id and the
-- campaign's random `holdout_salt`, fixed when it is created, so it never
-- changes and needs no row per member.
ALTER TABLE campaigns ADD COLUMN holdout_bp INTEGER NOT NULL DEFAULT 0
    CHECK (holdout_bp BETWEEN 0 AND 5000);
ALTER TABLE campaigns ADD COLUMN holdout_salt INTEGER NOT NULL DEFAULT 0;
