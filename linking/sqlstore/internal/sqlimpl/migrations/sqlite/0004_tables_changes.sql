-- Rate tables (linking.TableRecord) and the change feed that tells every
-- instance which links and tables changed (linking.TableStore.Changes).
-- Triggers fill the feed, so every link write of 0001's statements is
-- covered without touching them. Kinds: 1 link, 2 table (linking.ChangeKind).

CREATE TABLE nsalink_tables (
    key               TEXT    NOT NULL PRIMARY KEY,
    account_id        TEXT    NOT NULL,
    table_id          TEXT    NOT NULL,
    version           TEXT    NOT NULL,
    effective_from_us INTEGER NOT NULL,
    effective_to_us   INTEGER NOT NULL,
    csv               BLOB,
    complete          INTEGER NOT NULL,
    done              INTEGER NOT NULL,
    total             INTEGER NOT NULL,
    checkpoint        BLOB,
    lease_owner       TEXT    NOT NULL,
    lease_until_us    INTEGER NOT NULL,
    synced_at_us      INTEGER NOT NULL,
    last_error        TEXT    NOT NULL,
    rev               INTEGER NOT NULL
) STRICT;

CREATE TABLE nsalink_changes (
    seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    kind INTEGER NOT NULL,
    key  TEXT    NOT NULL
);

-- The highest seq pruned from nsalink_changes (one row).
CREATE TABLE nsalink_changes_pruned (
    id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    upto INTEGER NOT NULL
) STRICT;

INSERT INTO nsalink_changes_pruned (id, upto) VALUES (1, 0);

CREATE TRIGGER nsalink_links_ins AFTER INSERT ON nsalink_links BEGIN INSERT INTO nsalink_changes (kind, key) VALUES (1, NEW.account_id); END;

CREATE TRIGGER nsalink_links_upd AFTER UPDATE ON nsalink_links BEGIN INSERT INTO nsalink_changes (kind, key) VALUES (1, NEW.account_id); END;

CREATE TRIGGER nsalink_links_del AFTER DELETE ON nsalink_links BEGIN INSERT INTO nsalink_changes (kind, key) VALUES (1, OLD.account_id); END;

CREATE TRIGGER nsalink_tables_ins AFTER INSERT ON nsalink_tables BEGIN INSERT INTO nsalink_changes (kind, key) VALUES (2, NEW.key); END;

CREATE TRIGGER nsalink_tables_upd AFTER UPDATE ON nsalink_tables BEGIN INSERT INTO nsalink_changes (kind, key) VALUES (2, NEW.key); END;

CREATE TRIGGER nsalink_tables_del AFTER DELETE ON nsalink_tables BEGIN INSERT INTO nsalink_changes (kind, key) VALUES (2, OLD.key); END;
