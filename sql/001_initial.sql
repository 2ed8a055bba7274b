-- Stockdrop store, version 1: portable DDL (SQLite and PostgreSQL).
-- Accounts, their catalog and warehouses, the file ledger, the folded state and rejects.

CREATE TABLE accounts (
    account      VARCHAR(100) PRIMARY KEY,
    created_at   TIMESTAMP NOT NULL
);

CREATE TABLE partners (
    partner      VARCHAR(100) PRIMARY KEY,
    account      VARCHAR(100) NOT NULL REFERENCES accounts (account)
);

CREATE TABLE warehouses (
    account         VARCHAR(100) NOT NULL REFERENCES accounts (account),
    warehouse_code  VARCHAR(100) NOT NULL,
    name            VARCHAR(300),
    type            VARCHAR(20) NOT NULL,
    available_date  DATE,
    is_default      BOOLEAN NOT NULL,
    PRIMARY KEY (account, warehouse_code)
);

CREATE TABLE linesheets (
    account           VARCHAR(100) NOT NULL REFERENCES accounts (account),
    linesheet_code    VARCHAR(100) NOT NULL,
    name              VARCHAR(300),
    made_to_order     BOOLEAN NOT NULL,
    inventory_policy  VARCHAR(20),
    PRIMARY KEY (account, linesheet_code)
);

CREATE TABLE items (
    account           VARCHAR(100) NOT NULL REFERENCES accounts (account),
    style_number      VARCHAR(100) NOT NULL,
    style_identifier  VARCHAR(100) NOT NULL,
    color_code        VARCHAR(100) NOT NULL,
    size_name         VARCHAR(100) NOT NULL,
    style_id          VARCHAR(100),
    style_color_id    VARCHAR(100),
    color_name        VARCHAR(300),
    size_code         VARCHAR(100),
    upc               VARCHAR(100),
    continue_selling  BOOLEAN,
    created_by        VARCHAR(100),
    skip_push         BOOLEAN NOT NULL,
    skip_joor         BOOLEAN NOT NULL,
    inventory_item_id VARCHAR(200),        -- Shopify inventory item id, for the shopify channel
    PRIMARY KEY (account, style_number, style_identifier, color_code, size_name)
);
CREATE INDEX items_upc ON items (account, upc);

-- The ledger: one row per version of a dropped file, identified by (partner, name, sha256).
CREATE TABLE drop_files (
    file_id          CHAR(32) PRIMARY KEY,    -- uuid4 hex, made by the application
    partner          VARCHAR(100) NOT NULL,
    account          VARCHAR(100) NOT NULL,
    name             VARCHAR(300) NOT NULL,
    sha256           CHAR(64) NOT NULL,
    size             BIGINT NOT NULL,
    remote_mtime     FLOAT,                   -- as listed at the source; lets `sync` skip what it has
    kind             VARCHAR(20),
    as_of            TIMESTAMP,
    mode             VARCHAR(20),
    dec_pending      BOOLEAN,
    overwrite_scope  VARCHAR(30),
    item_identifier  VARCHAR(10),
    inventory_policy VARCHAR(20),
    status           VARCHAR(20) NOT NULL,   -- landed | parsed | rejected | superseded
    landed_path      VARCHAR(1000) NOT NULL,
    events_path      VARCHAR(1000),
    rows_read        INTEGER,
    rows_rejected    INTEGER,
    landed_at        TIMESTAMP NOT NULL,
    UNIQUE (partner, name, sha256)
);
CREATE INDEX drop_files_account ON drop_files (account, status);

-- Current state, one row per (account, warehouse, SKU) that has ever had a quantity or a claim.
CREATE TABLE inventory (
    account           VARCHAR(100) NOT NULL,
    warehouse_code    VARCHAR(100) NOT NULL,
    style_number      VARCHAR(100) NOT NULL,
    style_identifier  VARCHAR(100) NOT NULL,
    color_code        VARCHAR(100) NOT NULL,
    size_name         VARCHAR(100) NOT NULL,
    on_hand           BIGINT NOT NULL,
    pending           BIGINT NOT NULL,
    ats               BIGINT NOT NULL,
    available_date    DATE,
    PRIMARY KEY (account, warehouse_code, style_number, style_identifier, color_code, size_name)
);

-- Order lines, keyed by (order_id, SKU, warehouse), each holding what it claimed.
CREATE TABLE order_lines (
    account           VARCHAR(100) NOT NULL,
    order_id          VARCHAR(100) NOT NULL,
    warehouse_code    VARCHAR(100) NOT NULL,
    style_number      VARCHAR(100) NOT NULL,
    style_identifier  VARCHAR(100) NOT NULL,
    color_code        VARCHAR(100) NOT NULL,
    size_name         VARCHAR(100) NOT NULL,
    status            VARCHAR(20) NOT NULL,
    quantity          BIGINT NOT NULL,
    claimed           BIGINT NOT NULL,
    backordered       BIGINT NOT NULL,
    order_date        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    prebook_start     DATE,
    linesheet_code    VARCHAR(100),
    PRIMARY KEY (account, order_id, warehouse_code, style_number, style_identifier, color_code, size_name)
);

-- Snapshots of the fold after a prefix of an account's files (Parquet on disk, indexed here).
CREATE TABLE checkpoints (
    checkpoint_id  CHAR(32) PRIMARY KEY,      -- uuid4 hex
    account        VARCHAR(100) NOT NULL,
    files_applied  INTEGER NOT NULL,
    prefix_hash    CHAR(64) NOT NULL,
    last_file      VARCHAR(300),
    reason         VARCHAR(20) NOT NULL,       -- overwrite (a natural checkpoint) | tip
    path           VARCHAR(1000) NOT NULL,
    is_tip         BOOLEAN NOT NULL,
    created_at     TIMESTAMP NOT NULL
);
CREATE INDEX checkpoints_account ON checkpoints (account, files_applied);

-- Every rejected row or file. stage: file (whole file), parse (validation), fold (resolution/merge).
CREATE TABLE rejects (
    account     VARCHAR(100),
    partner     VARCHAR(100) NOT NULL,
    file        VARCHAR(300) NOT NULL,
    file_id     CHAR(32),
    stage       VARCHAR(10) NOT NULL,
    line        INTEGER,
    "column"    VARCHAR(100),
    value       VARCHAR(1000),
    reason      VARCHAR(300) NOT NULL
);
CREATE INDEX rejects_file ON rejects (file_id, stage);
