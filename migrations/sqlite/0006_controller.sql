-- One controller at a time, real anonymization, the ledger outside the database (sqlite).
-- Keep in step with migrations/postgres/0006_controller.sql; a test compares both schemas.
--
-- The erasure ledger is a file beside the database now (store/ledger.rs): a table here was
-- restored with every backup, and with it a ledger that did not know the erasures made
-- after the backup. Its rows are not copied out (see docs/operations.md, "Erasure ledger").
drop table erasure_ledger;

-- SHA-256 (hex) of the exact consent text shown when the consent was given, so that a text
-- edited under the same version label keeps its proof. NULL: given before this migration,
-- when only the version label was recorded.
alter table consents add column text_sha256 text;
