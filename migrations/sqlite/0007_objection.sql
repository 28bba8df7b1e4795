-- Objections (Art. 21) and the decisions of Art. 12 (SQLite). Keep in step with
-- migrations/postgres/0007_objection.sql; a test compares both schemas.

-- Why a request was decided as it was (a refusal's reasons, Art. 12(4); an objection's
-- decision): printed in the letter to the person, never in the audit trail.
alter table requests add column close_reason text;

-- A granted objection: the person's data at that tenant are no longer processed for the
-- purposes listed (the ids of the policy's purposes based on Art. 6(1)(e) or (f) when it
-- was granted, comma-separated). Pseudonymous, kept like the register.
create table objections (
    id integer primary key,
    tenant_id integer not null references tenants (id),
    subject_ref text,
    request_id integer references requests (id),
    purposes text not null,
    created_at text not null
);
create index objections_subject on objections (subject_ref, tenant_id);

-- The intake recognizes objections ('objection_request'); the outcomes of 0005 (identity)
-- stay allowed. SQLite cannot change a check
-- constraint in place: the table is rebuilt. `replies` references it, so the foreign keys
-- are checked at commit, when the new table holds every id again.
pragma defer_foreign_keys = on;
create table inbox_messages_new (
    id integer primary key,
    message_key text not null unique,
    tenant_id integer references tenants (id),
    received_at text,
    processed_at text not null,
    outcome text not null check (outcome in ('withdrawn', 'sms_withdrawn', 'access_request',
                                             'erasure_request', 'objection_request', 'unmatched',
                                             'review', 'not_addressed', 'not_a_request',
                                             'duplicate', 'unreadable', 'confirmation_requested',
                                             'unconfirmed')),
    subject_ref text,
    sender text,
    subject text,
    reason text,
    address text,
    request_id integer references requests (id) on delete set null,
    anonymized_at text
);
insert into inbox_messages_new (id, message_key, tenant_id, received_at, processed_at, outcome,
                                subject_ref, sender, subject, reason, address, request_id,
                                anonymized_at)
    select id, message_key, tenant_id, received_at, processed_at, outcome, subject_ref, sender,
           subject, reason, address, request_id, anonymized_at
    from inbox_messages;
drop table inbox_messages;
alter table inbox_messages_new rename to inbox_messages;
create index inbox_messages_subject on inbox_messages (subject_ref);
create index inbox_messages_processed_at on inbox_messages (processed_at);
