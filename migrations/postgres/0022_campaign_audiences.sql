-- A campaign may be for an audience (JSON, see domain::audience; NULL:
-- everyone): its bonus applies only to purchases by members in it, and its
-- announcement reaches only them.
ALTER TABLE campaigns ADD COLUMN audience TEXT;
