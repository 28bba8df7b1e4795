-- The whole booking store and the administration's own tables (SQLite).
-- Keep in step with migrations/postgres/0001_booking_store.sql: same tables, same columns,
-- same constraints; a test compares both schemas.
--
-- Times are UTC instants bound from Rust (RFC 3339 text, whole seconds, "+00:00"), so text
-- order is time order. Dates are ISO "YYYY-MM-DD" text.
--
-- Persons are kept inline on each booking rather than in a shared persons table: a booking
-- holds exactly what the citizen typed for that appointment, so an Auskunft shows what was
-- given each time, anonymizing one booking touches one row, and no shared person row needs
-- a lifetime of its own. Every row that belongs to a person carries `subject_ref`, a keyed
-- hash (HMAC-SHA-256 with installation.pseudonym_key) of the normalized e-mail; lookups,
-- holds, restrictions, the request register and the erasure ledger use it, never the e-mail.

-- One row: the installation's secret key for pseudonymous references, made at first migrate.
create table installation (
    id integer primary key check (id = 1),
    pseudonym_key blob not null,
    created_at text not null
);

create table tenants (
    id integer primary key,
    slug text not null unique,
    name text not null,
    policy_sha256 text not null,
    created_at text not null,
    updated_at text not null
);

create table services (
    id integer primary key,
    tenant_id integer not null references tenants (id),
    code text not null,
    name text not null,
    duration_minutes integer not null check (duration_minutes > 0),
    created_at text not null,
    updated_at text not null,
    unique (tenant_id, code)
);

-- `booked` is maintained in the same transaction as the booking rows; the check constraint
-- makes the database itself refuse an overbooking.
create table slots (
    id integer primary key,
    tenant_id integer not null references tenants (id),
    service_id integer not null references services (id),
    starts_at text not null,
    ends_at text not null,
    capacity integer not null check (capacity > 0),
    booked integer not null default 0 check (booked >= 0 and booked <= capacity),
    created_at text not null,
    check (ends_at > starts_at),
    unique (service_id, starts_at)
);
create index slots_tenant_starts_at on slots (tenant_id, starts_at);

-- Appointment times are copied from the slot so retention can walk bookings by
-- appointment end without a join. An anonymized booking holds no personal data (check).
create table bookings (
    id integer primary key,
    tenant_id integer not null references tenants (id),
    slot_id integer not null references slots (id),
    service_id integer not null references services (id),
    reference text not null unique,
    code_hash text,
    status text not null check (status in ('booked', 'cancelled')),
    appointment_start text not null,
    appointment_end text not null,
    booked_at text not null,
    cancelled_at text,
    cancelled_by text check (cancelled_by in ('citizen', 'office', 'erasure', 'withdrawal')),
    anonymized_at text,
    subject_ref text,
    first_name text,
    last_name text,
    email text,
    phone text,
    address text,
    birth_date text,
    check (
        anonymized_at is null
        or (subject_ref is null and first_name is null and last_name is null and email is null
            and phone is null and address is null and birth_date is null and code_hash is null)
    )
);
-- A person is looked up at every tenant at once (export, erase without --tenant), so the
-- person's key comes first; lookups at one tenant use the same indexes.
create index bookings_subject on bookings (subject_ref, tenant_id);
create index bookings_phone on bookings (phone, tenant_id);
create index bookings_last_name on bookings (last_name, tenant_id);
create index bookings_appointment_end on bookings (appointment_end);
create index bookings_slot on bookings (slot_id);

-- The data-subject request register (Art. 12(3) deadlines).
create table requests (
    id integer primary key,
    tenant_id integer references tenants (id),
    kind text not null check (kind in ('access', 'erasure', 'rectification', 'restriction',
                                       'objection', 'portability', 'withdrawal')),
    subject_ref text,
    channel text not null check (channel in ('email', 'letter', 'phone', 'in_person', 'web')),
    received_at text not null,
    due_on text not null,
    extended_due_on text,
    extension_reason text,
    status text not null check (status in ('open', 'closed')),
    outcome text,
    closed_at text,
    created_at text not null,
    anonymized_at text,
    check (extended_due_on is null or extension_reason is not null)
);
create index requests_status_due on requests (status, due_on);
create index requests_subject on requests (subject_ref);

-- Consents per purpose with the policy's text version. After an erasure only the proof of
-- the withdrawal remains (purpose, version, times, source), without booking or subject.
create table consents (
    id integer primary key,
    tenant_id integer not null references tenants (id),
    booking_id integer references bookings (id) on delete set null,
    subject_ref text,
    purpose text not null,
    text_version text not null,
    given_at text not null,
    withdrawn_at text,
    withdrawal_source text check (withdrawal_source in ('email', 'letter', 'phone', 'in_person',
                                                       'web', 'erasure')),
    withdrawal_request_id integer references requests (id),
    check (withdrawal_source is null or withdrawn_at is not null)
);
create index consents_subject on consents (subject_ref, tenant_id);
create index consents_booking on consents (booking_id);
create index consents_withdrawn_at on consents (withdrawn_at);

-- Messages queued for the citizen, the office or the SMS provider; they hold personal data.
create table notifications (
    id integer primary key,
    tenant_id integer not null references tenants (id),
    booking_id integer references bookings (id) on delete set null,
    channel text not null check (channel in ('email', 'sms')),
    kind text not null check (kind in ('confirmation', 'office_copy', 'sms_reminder',
                                       'cancellation', 'reply')),
    recipient text,
    subject text,
    body text,
    status text not null check (status in ('queued', 'sent', 'failed', 'cancelled')),
    created_at text not null,
    send_after text,
    sent_at text
);
create index notifications_booking on notifications (booking_id);
create index notifications_created_at on notifications (created_at);

-- The endpoint's access log with exactly the fields the privacy notices list. No raw
-- user-agent string is kept, only the parts the notices name.
create table access_log (
    id integer primary key,
    tenant_id integer references tenants (id),
    logged_at text not null,
    utc_offset_minutes integer not null,
    ip text not null,
    method text not null,
    path text not null,
    status integer not null,
    bytes integer not null,
    referrer text,
    browser text,
    browser_version text,
    operating_system text,
    language text,
    booking_id integer references bookings (id) on delete set null,
    anonymized_at text
);
create index access_log_logged_at on access_log (logged_at);
create index access_log_booking on access_log (booking_id);

-- Legal holds on a person (subject_ref) or on one booking; exactly one of the two.
create table holds (
    id integer primary key,
    tenant_id integer not null references tenants (id),
    subject_ref text,
    booking_id integer references bookings (id),
    reason text not null,
    until_on text,
    created_at text not null,
    removed_at text,
    check ((subject_ref is null) <> (booking_id is null))
);
create index holds_subject on holds (subject_ref);
create index holds_booking on holds (booking_id);

-- Art. 18 restrictions; tenant_id null means at every tenant.
create table restrictions (
    id integer primary key,
    tenant_id integer references tenants (id),
    subject_ref text not null,
    reason text not null,
    request_id integer references requests (id),
    created_at text not null,
    lifted_at text
);
create index restrictions_subject on restrictions (subject_ref);

-- Every message read from the office mailbox gets exactly one outcome. Bodies are not
-- kept; sender and subject are personal data and are erased with the person.
create table inbox_messages (
    id integer primary key,
    message_key text not null unique,
    tenant_id integer references tenants (id),
    received_at text,
    processed_at text not null,
    outcome text not null check (outcome in ('withdrawn', 'sms_withdrawn', 'access_request',
                                             'erasure_request', 'unmatched', 'review',
                                             'not_addressed', 'not_a_request', 'duplicate',
                                             'unreadable')),
    subject_ref text,
    sender text,
    subject text,
    -- Why the intake decided so (what matched, what failed); never the text itself.
    reason text,
    -- The withdrawal address the message reached; a reply comes from it.
    address text,
    request_id integer references requests (id),
    anonymized_at text
);
create index inbox_messages_subject on inbox_messages (subject_ref);
create index inbox_messages_processed_at on inbox_messages (processed_at);

-- Named locks for jobs that must run one at a time (retention on SQLite; PostgreSQL uses
-- advisory locks). A holder that died is recognized by its expired `expires_at`.
create table job_locks (
    name text primary key,
    holder text not null,
    acquired_at text not null,
    expires_at text not null
);

create table retention_runs (
    id integer primary key,
    actor text not null,
    tenant text,
    clock_at text not null,
    started_at text not null,
    finished_at text,
    status text not null check (status in ('running', 'completed', 'failed')),
    counts text not null default '{}'
);

-- Pseudonymous record of every erasure, so `erase --replay` can repeat it after a restore.
create table erasure_ledger (
    id integer primary key,
    subject_ref text not null,
    tenant_id integer references tenants (id),
    request_id integer references requests (id),
    erased_at text not null
);
create index erasure_ledger_subject on erasure_ledger (subject_ref);

-- Hash-chained audit trail: hash = SHA-256 over (id, at, actor, action, tenant, subject_ref,
-- details, prev_hash). Ids are assigned by datenwart without gaps; audit_head remembers the
-- last entry so that removing the newest rows is detected too.
create table audit_log (
    id integer primary key,
    at text not null,
    actor text not null,
    action text not null,
    tenant text,
    subject_ref text,
    details text not null,
    prev_hash text not null unique,
    hash text not null unique
);
create index audit_log_at on audit_log (at);

create table audit_head (
    id integer primary key check (id = 1),
    last_id integer not null,
    last_hash text not null
);
