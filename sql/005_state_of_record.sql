-- depends: 002_pushes
-- The state tables become the state of record (no per-fold Parquet checkpoint of the account):
-- they now hold everything the fold carries, and `fold_steps` keeps, per fold, the before-images
-- of the rows it changed, so a late file or a correction re-folds from the nearest step before it.
--
-- inventory.available_date is now the row's own date (the date in force, which falls back to a
-- FUTURE warehouse's date, is worked out when read); is_set: some file has set the row (seed
-- mode skips such rows). order_lines.policy and claim_due: how the line claims, and whether it
-- waits for its pre-book start. Existing rows keep working: with no fold steps recorded yet, the
-- next fold of each account replays its files once and rewrites every row.
-- inventory.is_set is added by 006 (per dialect: on PostgreSQL after 003 remade `inventory`).

ALTER TABLE order_lines ADD COLUMN policy VARCHAR(20);
ALTER TABLE order_lines ADD COLUMN claim_due BOOLEAN NOT NULL DEFAULT FALSE;

-- The fold reads a file's working set by key: pre-book lines coming due, and items by JOOR ids.
CREATE INDEX order_lines_due ON order_lines (account, claim_due, prebook_start);
CREATE INDEX items_ids ON items (account, style_id, style_color_id, size_code);

-- One row per fold: the account's ordered history it brought the tables to (files_applied
-- files, identified by prefix_hash), and where the before-images of what it changed are.
CREATE TABLE fold_steps (
    step_id        CHAR(32) PRIMARY KEY,      -- uuid4 hex
    account        VARCHAR(100) NOT NULL,
    files_applied  INTEGER NOT NULL,
    prefix_hash    CHAR(64) NOT NULL,
    last_file      VARCHAR(300),
    rows_changed   BIGINT NOT NULL,
    images_path    VARCHAR(1000) NOT NULL,    -- Parquet folder (pipelines/adapters/fold_steps.py)
    created_at     TIMESTAMP NOT NULL
);
CREATE INDEX fold_steps_account ON fold_steps (account, files_applied);

DROP TABLE checkpoints;
