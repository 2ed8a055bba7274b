-- depends: 010_nfc_identifiers
-- Partner profiles (drops.md v1.2): a file's identity is (partner, name as dropped, as-of), so a
-- fixed daily name dated by its mtime (`onhand.csv`) is a new file each day, and the same bytes on
-- a new day are a new file too; `headers` keeps, per version read through a profile, our column
-- -> the partner's header (JSON), so rejects found while resolving name the partner's header.
ALTER TABLE drop_files DROP CONSTRAINT drop_files_partner_name_sha256_key;
ALTER TABLE drop_files ADD CONSTRAINT drop_files_identity UNIQUE (partner, name, sha256, as_of);
ALTER TABLE drop_files ADD COLUMN headers TEXT;
