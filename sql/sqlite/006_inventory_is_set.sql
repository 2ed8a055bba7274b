-- depends: 005_state_of_record
-- inventory.is_set: some file has set the row (seed mode skips such rows); see 005.
ALTER TABLE inventory ADD COLUMN is_set BOOLEAN NOT NULL DEFAULT TRUE;
