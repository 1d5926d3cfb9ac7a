-- The lots' and entries' references to their member, checked once per
-- statement like the purchases' (0026) instead of by a foreign key per row
-- (issue 20).
--
-- A purchase batch writes its lots and earn entries in one statement of
-- arrays, where a key's check per row (a query and a share lock on the
-- member's row each) was the largest cost left: the batch's write, with its
-- commit, ran about a tenth faster without the two keys and with these
-- triggers in their place (eight runs in turn, docs/PERFORMANCE.md, session
-- 17). The rows written one at a time elsewhere (an adjustment's lot, a
-- redemption's entry) pay a trigger's query instead of a key's, which costs a
-- little more for one row.
--
-- Refused as the keys refused, with their error code (23503):
-- - a lot or an entry that points at no member (written, or a lot moved by an
--   update of the column; entries are never updated);
-- - deleting a member that a purchase, lot or entry points at.
-- What the keys' share lock added (a delete racing an insert) comes, as in
-- 0026, from the member's row lock: every write to the ledger changes the
-- member's balance in the same transaction, so it holds that lock, and the
-- one delete of a member (an empty one, when a chat account is linked to
-- another member) takes it too.
--
-- The purchases' checks move to the same functions, which name the table in
-- their message.

CREATE FUNCTION written_have_members() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM written w
               WHERE w.member_id IS NOT NULL
                 AND (SELECT m.id FROM members m WHERE m.id = w.member_id LIMIT 1) IS NULL) THEN
        RAISE EXCEPTION 'a row of % points at no member', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION row_has_member() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.member_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM members m WHERE m.id = NEW.member_id) THEN
        RAISE EXCEPTION 'a row of % points at no member', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER purchases_members_written ON purchases;
DROP TRIGGER purchases_member_moved ON purchases;
DROP FUNCTION purchases_have_members();
DROP FUNCTION purchase_has_member();

CREATE TRIGGER purchases_members_written AFTER INSERT ON purchases
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT
    EXECUTE FUNCTION written_have_members();
CREATE TRIGGER purchases_member_moved AFTER UPDATE OF member_id ON purchases
    FOR EACH ROW WHEN (NEW.member_id IS DISTINCT FROM OLD.member_id)
    EXECUTE FUNCTION row_has_member();

ALTER TABLE lots DROP CONSTRAINT lots_member_id_fkey;
ALTER TABLE entries DROP CONSTRAINT entries_member_id_fkey;

CREATE TRIGGER lots_members_written AFTER INSERT ON lots
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT
    EXECUTE FUNCTION written_have_members();
CREATE TRIGGER lots_member_moved AFTER UPDATE OF member_id ON lots
    FOR EACH ROW WHEN (NEW.member_id IS DISTINCT FROM OLD.member_id)
    EXECUTE FUNCTION row_has_member();
CREATE TRIGGER entries_members_written AFTER INSERT ON entries
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT
    EXECUTE FUNCTION written_have_members();

-- The other side. Entries are looked up by their member's index; lots have
-- none on the member alone (the key's own check scanned them too), and a
-- member with lots has entries, so the lots are only read when there are
-- none.
CREATE OR REPLACE FUNCTION members_not_in_purchases() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM gone g
               WHERE (SELECT 1 FROM purchases p WHERE p.member_id = g.id LIMIT 1) IS NOT NULL
                  OR (SELECT 1 FROM entries e WHERE e.member_id = g.id LIMIT 1) IS NOT NULL
                  OR (SELECT 1 FROM lots l WHERE l.member_id = g.id LIMIT 1) IS NOT NULL) THEN
        RAISE EXCEPTION 'a member in the ledger stays'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$;
