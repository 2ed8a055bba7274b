-- depends: 006_inventory_is_set
-- Held files (cli.md v1.1, partner option `guard`) and each file's effect, for the partner's
-- result files. `guard`: the limits in force when the version landed (JSON; NULL: no guard).
-- `decision`: passed | held | approved | denied (NULL: not judged; only guarded inventory files
-- are). A held version has status `held` and a denied one `denied`: neither is folded.
-- `effect`: JSON {ats_change_by_warehouse, rows_zeroed}: what the file did at its place in the
-- history (for a held file, what it would do).

ALTER TABLE drop_files ADD COLUMN guard VARCHAR(200);
ALTER TABLE drop_files ADD COLUMN decision VARCHAR(20);
ALTER TABLE drop_files ADD COLUMN decision_reason VARCHAR(2000);
ALTER TABLE drop_files ADD COLUMN effect TEXT;
