-- depends: 001_initial
-- PostgreSQL only: `inventory` LIST-partitioned by warehouse, one partition per warehouse.
--
-- Why two levels (account, then warehouse_code): a warehouse is (account, warehouse_code) and
-- codes repeat across accounts (every account has DEFAULT), so LIST on warehouse_code alone
-- would put every account's DEFAULT into one partition. LIST allows one key column, and a
-- partition key made of an expression (account || code) or a generated column rules out the
-- primary key, which MERGE and the contract's one-row-per-(warehouse, SKU) rely on. So:
--
--   inventory                      PARTITION BY LIST (account)
--     inventory_<a>                  FOR VALUES IN (account)  PARTITION BY LIST (warehouse_code)
--       inventory_<a>_<w>              FOR VALUES IN (warehouse_code)   one per warehouse
--       inventory_<a>_default          DEFAULT  (safety net: a warehouse whose partition is not made yet)
--     inventory_default              DEFAULT  (safety net: an account whose partition is not made yet)
--
-- Both keys lead the primary key, so an overwrite, a MERGE or an export of one warehouse touches
-- one partition. Partition names are md5-based (codes may be long or hold any character);
-- each partition's COMMENT names its account and warehouse in full.
--
-- Partitions are made by stockdrop_ensure_inventory_partition(account, warehouse), called by the
-- store just before a warehouse's rows are first written. Nothing is in production yet, so the
-- portable 001 table is replaced here, its rows (if any) copied into the new partitions.

ALTER TABLE inventory RENAME TO inventory_v1;
ALTER TABLE inventory_v1 RENAME CONSTRAINT inventory_pkey TO inventory_v1_pkey;

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
) PARTITION BY LIST (account);

CREATE TABLE inventory_default PARTITION OF inventory DEFAULT;

CREATE FUNCTION stockdrop_inventory_partition_name(p_account text, p_warehouse text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT 'inventory_' || left(md5(p_account), 12)
           || CASE WHEN p_warehouse IS NULL THEN '' ELSE '_' || left(md5(p_warehouse), 12) END
$$;

-- Make the account's partition (with its DEFAULT) and the warehouse's partition when missing.
-- Rows already sitting in a DEFAULT partition for them are moved in, since PostgreSQL refuses to
-- make a partition whose rows are in the DEFAULT one.
CREATE FUNCTION stockdrop_ensure_inventory_partition(p_account text, p_warehouse text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    account_part text := stockdrop_inventory_partition_name(p_account, NULL);
    warehouse_part text := stockdrop_inventory_partition_name(p_account, p_warehouse);
BEGIN
    IF to_regclass(account_part) IS NULL THEN
        CREATE TEMP TABLE stockdrop_moved ON COMMIT DROP AS
            SELECT * FROM inventory_default WHERE account = p_account;
        DELETE FROM inventory_default WHERE account = p_account;
        EXECUTE format('CREATE TABLE %I PARTITION OF inventory FOR VALUES IN (%L) PARTITION BY LIST (warehouse_code)',
                       account_part, p_account);
        EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', account_part || '_default', account_part);
        EXECUTE format('COMMENT ON TABLE %I IS %L', account_part, 'inventory of account ' || p_account);
        INSERT INTO inventory SELECT * FROM stockdrop_moved;
        DROP TABLE stockdrop_moved;
    END IF;
    IF to_regclass(warehouse_part) IS NULL THEN
        EXECUTE format('CREATE TEMP TABLE stockdrop_moved ON COMMIT DROP AS SELECT * FROM %I WHERE warehouse_code = %L',
                       account_part || '_default', p_warehouse);
        EXECUTE format('DELETE FROM %I WHERE warehouse_code = %L', account_part || '_default', p_warehouse);
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES IN (%L)', warehouse_part, account_part, p_warehouse);
        EXECUTE format('COMMENT ON TABLE %I IS %L', warehouse_part,
                       'inventory of account ' || p_account || ', warehouse ' || p_warehouse);
        INSERT INTO inventory SELECT * FROM stockdrop_moved;
        DROP TABLE stockdrop_moved;
    END IF;
END
$$;

-- Partitions for every warehouse already known, then the old rows into them.
DO $$
BEGIN
    PERFORM stockdrop_ensure_inventory_partition(account, warehouse_code)
    FROM (SELECT account, warehouse_code FROM warehouses
          UNION SELECT account, warehouse_code FROM inventory_v1) AS known;
END
$$;

INSERT INTO inventory SELECT * FROM inventory_v1;

DROP TABLE inventory_v1;
