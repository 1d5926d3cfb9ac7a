-- A purchase's references to its member and merchant, checked once per
-- statement instead of once per row (issue 20).
--
-- A foreign key checks each row written with a query of its own and a share
-- lock on the row it points to. Purchases come in batches (one statement of
-- arrays for a batch of the tills' sales), where those checks were a large
-- part of the statement. These triggers check every purchase an INSERT wrote
-- with one query at the end of the statement, and refuse, as the keys did and
-- with their error code (23503):
-- - a purchase that points at no member or merchant (written, or moved by an
--   update of the column, as a claim does);
-- - deleting a member or merchant a purchase points at, or changing a
--   merchant's id (a member's is generated and never changes).
-- Lots and entries keep their foreign keys: redemptions, refunds, claims and
-- adjustments write them one row at a time, where a key's check costs less
-- than a statement's trigger.
--
-- What the keys' share lock added (a delete racing an insert, neither seeing
-- the other's uncommitted row) comes from taem's order of locks: every write
-- of a purchase for a member, and the one delete of a member (an empty one,
-- when a chat account is linked to another member), holds that member's row
-- lock first. Merchants are never deleted.

-- INSERT: every row of the statement at once (`written`). Each row is looked
-- up by the key's index (a subquery with LIMIT is never turned into a hash
-- join): PL/pgSQL keeps the first plan of a query without parameters, and a
-- plan made for a statement of many rows must not scan every member for a
-- batch of ten.
CREATE FUNCTION purchases_have_members() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM written w
               WHERE w.member_id IS NOT NULL
                 AND (SELECT m.id FROM members m WHERE m.id = w.member_id LIMIT 1) IS NULL) THEN
        RAISE EXCEPTION 'a purchase points at no member'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION purchases_have_merchants() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM written w
               WHERE (SELECT m.id FROM merchants m WHERE m.id = w.merchant_id LIMIT 1) IS NULL) THEN
        RAISE EXCEPTION 'a purchase points at no merchant'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$;

-- UPDATE of the column (a claim gives a purchase its member): the row.
CREATE FUNCTION purchase_has_member() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.member_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM members m WHERE m.id = NEW.member_id) THEN
        RAISE EXCEPTION 'a purchase points at no member'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION purchase_has_merchant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM merchants m WHERE m.id = NEW.merchant_id) THEN
        RAISE EXCEPTION 'a purchase points at no merchant'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$;

ALTER TABLE purchases DROP CONSTRAINT purchases_member_id_fkey;
ALTER TABLE purchases DROP CONSTRAINT purchases_merchant_id_fkey;

CREATE TRIGGER purchases_members_written AFTER INSERT ON purchases
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT
    EXECUTE FUNCTION purchases_have_members();
CREATE TRIGGER purchases_merchants_written AFTER INSERT ON purchases
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT
    EXECUTE FUNCTION purchases_have_merchants();
CREATE TRIGGER purchases_member_moved AFTER UPDATE OF member_id ON purchases
    FOR EACH ROW WHEN (NEW.member_id IS DISTINCT FROM OLD.member_id)
    EXECUTE FUNCTION purchase_has_member();
CREATE TRIGGER purchases_merchant_moved AFTER UPDATE OF merchant_id ON purchases
    FOR EACH ROW WHEN (NEW.merchant_id IS DISTINCT FROM OLD.merchant_id)
    EXECUTE FUNCTION purchase_has_merchant();

-- The other side: a member or merchant a purchase points at stays.
CREATE FUNCTION members_not_in_purchases() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM gone g
               WHERE (SELECT 1 FROM purchases p WHERE p.member_id = g.id LIMIT 1) IS NOT NULL) THEN
        RAISE EXCEPTION 'a member with purchases stays'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION merchants_not_in_purchases() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM gone g
               WHERE (SELECT 1 FROM purchases p WHERE p.merchant_id = g.id LIMIT 1) IS NOT NULL) THEN
        RAISE EXCEPTION 'a merchant with purchases stays'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION ids_unchanged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the id of a % row never changes', TG_TABLE_NAME
        USING ERRCODE = 'foreign_key_violation';
END;
$$;

CREATE TRIGGER members_gone AFTER DELETE ON members
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION members_not_in_purchases();
CREATE TRIGGER merchants_gone AFTER DELETE ON merchants
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION merchants_not_in_purchases();
CREATE TRIGGER merchants_id_kept BEFORE UPDATE OF id ON merchants
    FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id)
    EXECUTE FUNCTION ids_unchanged();
