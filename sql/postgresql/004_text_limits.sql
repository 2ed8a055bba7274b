-- depends: 003_inventory_by_warehouse
-- PostgreSQL only (SQLite does not enforce VARCHAR lengths): free-text columns hold the contract's
-- 200 characters (drops.md, Value limits v1.1); `created_by` was 100.
ALTER TABLE items ALTER COLUMN created_by TYPE VARCHAR(200);
