-- depends: 003_inventory_by_warehouse
-- PostgreSQL only (SQLite does not enforce VARCHAR lengths). drops.md, Value limits (v1.1):
-- free-text columns hold 200 characters (`created_by` was 100), and a rejected value is stored as
-- its first 1,000 characters followed by `…`.
ALTER TABLE items ALTER COLUMN created_by TYPE VARCHAR(200);
ALTER TABLE rejects ALTER COLUMN value TYPE VARCHAR(1001);
