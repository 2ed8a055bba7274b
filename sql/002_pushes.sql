-- depends: 001_initial
-- API pushes: one row per batch sent to a channel, the items of each batch, and the last
-- acknowledged value per (channel, account, warehouse, SKU) so the next update push is a delta.
-- Portable DDL (SQLite and PostgreSQL). Written by pipelines/adapters/push_ledger.py.

CREATE TABLE pushes (
    idempotency_key VARCHAR(64) NOT NULL PRIMARY KEY,  -- sha256 hex of the canonical batch content
    channel VARCHAR(32) NOT NULL,
    account VARCHAR(200) NOT NULL,
    warehouse_code VARCHAR(200) NOT NULL,
    mode VARCHAR(16) NOT NULL CHECK (mode IN ('update', 'overwrite')),
    dec_pending BOOLEAN NOT NULL,
    status VARCHAR(16) NOT NULL CHECK (status IN ('pending', 'acknowledged', 'failed')),
    items INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    response_status INTEGER,
    response_body TEXT,  -- secrets redacted, truncated
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE INDEX pushes_by_status ON pushes (channel, account, status, created_at);

CREATE TABLE push_items (
    idempotency_key VARCHAR(64) NOT NULL REFERENCES pushes (idempotency_key),
    position INTEGER NOT NULL,
    warehouse_code VARCHAR(200) NOT NULL,
    style_number VARCHAR(200) NOT NULL,
    style_identifier VARCHAR(200) NOT NULL,
    color_code VARCHAR(200) NOT NULL,
    size_name VARCHAR(200) NOT NULL,
    inventory INTEGER NOT NULL,
    inventory_date DATE,
    item TEXT NOT NULL,  -- canonical JSON of the item as sent (keys, ids, base key)
    PRIMARY KEY (idempotency_key, position)
);

CREATE TABLE pushed_items (
    channel VARCHAR(32) NOT NULL,
    account VARCHAR(200) NOT NULL,
    warehouse_code VARCHAR(200) NOT NULL,
    style_number VARCHAR(200) NOT NULL,
    style_identifier VARCHAR(200) NOT NULL,
    color_code VARCHAR(200) NOT NULL,
    size_name VARCHAR(200) NOT NULL,
    inventory INTEGER NOT NULL,
    inventory_date DATE,
    idempotency_key VARCHAR(64) NOT NULL REFERENCES pushes (idempotency_key),
    acknowledged_at TIMESTAMP NOT NULL,
    PRIMARY KEY (channel, account, warehouse_code, style_number, style_identifier, color_code, size_name)
);
