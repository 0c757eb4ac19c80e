-- Rate tables (linking.TableRecord) and the change feed that tells every
-- instance which links and tables changed (linking.TableStore.Changes).
-- Triggers fill the feed, so every link write of 0001's statements is
-- covered without touching them, and NOTIFY nsalink_changes wakes the
-- listeners of every instance at commit. Kinds: 1 link, 2 table.

CREATE TABLE nsalink_tables (
    key               TEXT    NOT NULL PRIMARY KEY,
    account_id        TEXT    NOT NULL,
    table_id          TEXT    NOT NULL,
    version           TEXT    NOT NULL,
    effective_from_us BIGINT  NOT NULL,
    effective_to_us   BIGINT  NOT NULL,
    csv               BYTEA,
    complete          BOOLEAN NOT NULL,
    done              INTEGER NOT NULL,
    total             INTEGER NOT NULL,
    checkpoint        BYTEA,
    lease_owner       TEXT    NOT NULL,
    lease_until_us    BIGINT  NOT NULL,
    synced_at_us      BIGINT  NOT NULL,
    last_error        TEXT    NOT NULL,
    rev               BIGINT  NOT NULL
);

CREATE TABLE nsalink_changes (
    seq  BIGSERIAL NOT NULL PRIMARY KEY,
    kind SMALLINT  NOT NULL,
    key  TEXT      NOT NULL
);

-- The highest seq pruned from nsalink_changes (one row).
CREATE TABLE nsalink_changes_pruned (
    id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    upto BIGINT  NOT NULL
);

INSERT INTO nsalink_changes_pruned (id, upto) VALUES (1, 0);

CREATE FUNCTION nsalink_link_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO nsalink_changes (kind, key) VALUES (1, CASE WHEN TG_OP = 'DELETE' THEN OLD.account_id ELSE NEW.account_id END); PERFORM pg_notify('nsalink_changes', ''); RETURN NULL; END $$;

CREATE FUNCTION nsalink_table_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO nsalink_changes (kind, key) VALUES (2, CASE WHEN TG_OP = 'DELETE' THEN OLD.key ELSE NEW.key END); PERFORM pg_notify('nsalink_changes', ''); RETURN NULL; END $$;

CREATE TRIGGER nsalink_links_changed AFTER INSERT OR UPDATE OR DELETE ON nsalink_links FOR EACH ROW EXECUTE FUNCTION nsalink_link_changed();

CREATE TRIGGER nsalink_tables_changed AFTER INSERT OR UPDATE OR DELETE ON nsalink_tables FOR EACH ROW EXECUTE FUNCTION nsalink_table_changed();
