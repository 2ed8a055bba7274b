-- depends: 010_nfc_identifiers
-- Partner profiles (drops.md v1.2): a file's identity is (partner, name as dropped, as-of), so a
-- fixed daily name dated by its mtime (`onhand.csv`) is a new file each day, and the same bytes on
-- a new day are a new file too; `headers` keeps, per version read through a profile, our column
-- -> the partner's header (JSON), so rejects found while resolving name the partner's header.
-- SQLite cannot change a table's UNIQUE constraint: the table is rebuilt (nothing references it).
CREATE TABLE drop_files_v11 (
    file_id          CHAR(32) PRIMARY KEY,
    partner          VARCHAR(100) NOT NULL,
    account          VARCHAR(100) NOT NULL,
    name             VARCHAR(300) NOT NULL,
    sha256           CHAR(64) NOT NULL,
    size             BIGINT NOT NULL,
    remote_mtime     FLOAT,
    kind             VARCHAR(20),
    as_of            TIMESTAMP,
    mode             VARCHAR(20),
    dec_pending      BOOLEAN,
    overwrite_scope  VARCHAR(30),
    item_identifier  VARCHAR(10),
    inventory_policy VARCHAR(20),
    status           VARCHAR(20) NOT NULL,   -- landed | parsed | rejected | held | denied | superseded
    landed_path      VARCHAR(1000) NOT NULL,
    events_path      VARCHAR(1000),
    rows_read        INTEGER,
    rows_rejected    INTEGER,
    landed_at        TIMESTAMP NOT NULL,
    guard            VARCHAR(200),
    decision         VARCHAR(20),
    decision_reason  VARCHAR(2000),
    effect           TEXT,
    headers          TEXT,
    UNIQUE (partner, name, sha256, as_of)
);
INSERT INTO drop_files_v11 (
    file_id, partner, account, name, sha256, size, remote_mtime, kind, as_of, mode, dec_pending,
    overwrite_scope, item_identifier, inventory_policy, status, landed_path, events_path, rows_read,
    rows_rejected, landed_at, guard, decision, decision_reason, effect
)
SELECT
    file_id, partner, account, name, sha256, size, remote_mtime, kind, as_of, mode, dec_pending,
    overwrite_scope, item_identifier, inventory_policy, status, landed_path, events_path, rows_read,
    rows_rejected, landed_at, guard, decision, decision_reason, effect
FROM drop_files;
DROP TABLE drop_files;
ALTER TABLE drop_files_v11 RENAME TO drop_files;
CREATE INDEX drop_files_account ON drop_files (account, status);
CREATE INDEX drop_files_by_status ON drop_files (status, partner);
