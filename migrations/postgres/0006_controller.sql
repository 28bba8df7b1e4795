-- One controller at a time, real anonymization, the ledger outside the database (postgres).
-- Keep in step with migrations/sqlite/0006_controller.sql; a test compares both schemas.
--
-- The erasure ledger is a file beside the database now (store/ledger.rs): a table here was
-- restored with every backup, and with it a ledger that did not know the erasures made
-- after the backup. Its rows are not copied out (see docs/operations.md, "Erasure ledger").
drop table erasure_ledger;

-- SHA-256 (hex) of the exact consent text shown when the consent was given, so that a text
-- edited under the same version label keeps its proof. NULL: given before this migration,
-- when only the version label was recorded.
alter table consents add column text_sha256 text;

-- A consent whose booking was anonymized (by retention or an erasure) keeps only what proves
-- it: purpose, text version and hash, given and withdrawn times. It loses the person and the
-- booking, and anonymized_at says since when; the policy's `consent_proofs` rule deletes it
-- after the period it states.
alter table consents add column anonymized_at timestamptz;
create index consents_anonymized_at on consents (anonymized_at);

-- Consents that an earlier version left with the pseudonym and the link to an anonymized
-- booking are reduced now, as of the booking's anonymization.
update consents
   set anonymized_at = (select b.anonymized_at from bookings b where b.id = consents.booking_id),
       subject_ref = null,
       booking_id = null
 where booking_id in (select id from bookings where anonymized_at is not null);
-- Reduced by an erasure before: since the erasure (its withdrawal time).
update consents set anonymized_at = withdrawn_at
 where anonymized_at is null and subject_ref is null and booking_id is null
   and withdrawal_source = 'erasure';
-- A consent whose booking was deleted (consents are only made with a booking): reduced,
-- counted from when it was given.
update consents set anonymized_at = coalesce(withdrawn_at, given_at), subject_ref = null
 where anonymized_at is null and booking_id is null;

-- The audit trail's pseudonyms can be cleared by a retention rule (`audit_subjects`)
-- without breaking the hash chain: an entry written from now on hashes subject_commit,
-- SHA-256 over a random per-entry subject_salt and the pseudonym, instead of the pseudonym.
-- Clearing subject_ref and subject_salt leaves a commitment that links to nobody.
-- Entries written before (subject_commit NULL) hash the pseudonym itself and keep it.
alter table audit_log add column subject_salt text;
alter table audit_log add column subject_commit text;
alter table audit_log add column anonymized_at timestamptz;
