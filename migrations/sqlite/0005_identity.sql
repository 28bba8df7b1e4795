-- Identity before anything destructive (SQLite). Keep in step with
-- migrations/postgres/0005_identity.sql; a test compares both schemas.
--
-- How the identity of the person behind a request was established (`dmarc`,
-- `confirmed_by_mail`, `confirmed_by_link`, `in_person`, …): the kind of check, never the
-- proof itself (no document number, no code).
alter table requests add column identity text;

-- The intake's outcomes grow by two: a message whose sender is not proven waits for the
-- person's confirmation (`confirmation_requested`); one never confirmed ends `unconfirmed`.
-- SQLite cannot change a check constraint in place, and `replies` refers to the table: its
-- references are checked at commit only (defer_foreign_keys), after the rows are back
-- under the same ids.
pragma defer_foreign_keys = on;
create table inbox_messages_copy as select * from inbox_messages;
drop table inbox_messages;
create table inbox_messages (
    id integer primary key,
    message_key text not null unique,
    tenant_id integer references tenants (id),
    received_at text,
    processed_at text not null,
    outcome text not null check (outcome in ('withdrawn', 'sms_withdrawn', 'access_request',
                                             'erasure_request', 'unmatched', 'review',
                                             'not_addressed', 'not_a_request', 'duplicate',
                                             'unreadable', 'confirmation_requested',
                                             'unconfirmed')),
    subject_ref text,
    sender text,
    subject text,
    -- Why the intake decided so (what matched, what failed); never the text itself.
    reason text,
    -- The withdrawal address the message reached; a reply comes from it.
    address text,
    request_id integer references requests (id) on delete set null,
    anonymized_at text
);
insert into inbox_messages (id, message_key, tenant_id, received_at, processed_at, outcome,
                            subject_ref, sender, subject, reason, address, request_id, anonymized_at)
    select id, message_key, tenant_id, received_at, processed_at, outcome,
           subject_ref, sender, subject, reason, address, request_id, anonymized_at
    from inbox_messages_copy;
drop table inbox_messages_copy;
create index inbox_messages_subject on inbox_messages (subject_ref);
create index inbox_messages_processed_at on inbox_messages (processed_at);

-- A request whose sender is not proven waits here for the person's confirmation: by
-- replying with the one-time code or by the link in the confirmation mail. The code is
-- stored only as a keyed hash. `asked` is what the request asked for (an intake outcome);
-- the effect is applied once, on confirmation (status pending → confirmed, conditional),
-- or never (pending → expired). Once decided the row keeps no subject reference.
create table identity_confirmations (
    id integer primary key,
    tenant_id integer not null references tenants (id),
    subject_ref text,
    code_hash text not null unique,
    asked text not null check (asked in ('withdrawn', 'sms_withdrawn', 'access_request',
                                         'erasure_request')),
    -- How the request arrived: 'email' (a mail to a withdrawal address) or 'web' (the
    -- citizen page "Widerruf per E-Mail").
    channel text not null check (channel in ('email', 'web')),
    inbox_message_id integer references inbox_messages (id) on delete set null,
    received_at text not null,
    created_at text not null,
    expires_at text not null,
    status text not null check (status in ('pending', 'confirmed', 'expired')),
    decided_at text,
    -- confirmed_by_mail or confirmed_by_link
    confirmed_by text,
    request_id integer references requests (id) on delete set null,
    check (status = 'pending' or decided_at is not null)
);
create index identity_confirmations_pending on identity_confirmations (status, expires_at);
create index identity_confirmations_subject on identity_confirmations (subject_ref);
