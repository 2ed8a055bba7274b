-- depends: 007_held_files
-- Channels answer per item (channels.md v1.2). `push_items.refused`: the channel refused this item
-- (a JOOR `fail`, a Shopify userError naming its quantity, a 400 for it alone), with the channel's
-- own words in `message`; the item is not sent again until its value changes or
-- `push --retry-failed` asks. Items of batches failed before v1.2 were refused as a batch.
-- `channel_drift`: what a channel was found to hold when it was not what we last set (a Shopify
-- CHANGE_FROM_QUANTITY_STALE answer, or `reconcile --apply`), one row per finding.

ALTER TABLE push_items ADD COLUMN refused BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE push_items ADD COLUMN message VARCHAR(2000);
UPDATE push_items SET refused = TRUE
    WHERE idempotency_key IN (SELECT idempotency_key FROM pushes WHERE status = 'failed');

CREATE TABLE channel_drift (
    channel VARCHAR(32) NOT NULL,
    account VARCHAR(200) NOT NULL,
    warehouse_code VARCHAR(200) NOT NULL,
    style_number VARCHAR(200) NOT NULL,
    style_identifier VARCHAR(200) NOT NULL,
    color_code VARCHAR(200) NOT NULL,
    size_name VARCHAR(200) NOT NULL,
    inventory_item_id VARCHAR(200),
    location_id VARCHAR(200),
    expected INTEGER,           -- what we last set (NULL: never set by us)
    found INTEGER,              -- what the channel held (NULL: not stocked at the location)
    ours INTEGER NOT NULL,      -- what the channel should be shown
    on_drift VARCHAR(16) NOT NULL CHECK (on_drift IN ('ours', 'report')),
    source VARCHAR(16) NOT NULL CHECK (source IN ('push', 'reconcile')),
    found_at TIMESTAMP NOT NULL,
    PRIMARY KEY (channel, account, warehouse_code, style_number, style_identifier, color_code, size_name, found_at)
);
