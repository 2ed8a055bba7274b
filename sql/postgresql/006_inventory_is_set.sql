-- depends: 004_text_limits 005_state_of_record
-- inventory.is_set: some file has set the row (seed mode skips such rows); see 005. After 003,
-- which remade `inventory` as a partitioned table (the column reaches every partition).
ALTER TABLE inventory ADD COLUMN is_set BOOLEAN NOT NULL DEFAULT TRUE;
