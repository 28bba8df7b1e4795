-- Disclosures and Art. 19 (SQLite). Keep in step with migrations/postgres/0008_disclosures.sql;
-- a test compares both schemas.
--
-- `disclosures`: every time a person's data leave the controller's own store — an e-mail
-- handed to the mail server, an office copy, an SMS handed to the provider — one row per
-- recipient named in the tenant's policy (`recipient` is the policy's name, `recipient_role`
-- its role). No address, no text: who got which categories of whose data (the pseudonymous
-- `subject_ref`), when, and from which notification. The Auskunft names these actual
-- recipients (Art. 15(1)(c), CJEU C-154/21); `notification_id` has no foreign key, the
-- notification itself is deleted by retention long before its disclosure record.
create table disclosures (
    id integer primary key,
    tenant_id integer not null references tenants (id),
    subject_ref text not null,
    recipient text not null,
    recipient_role text not null check (recipient_role in ('processor', 'internal', 'third_party')),
    categories text not null,
    kind text not null,
    notification_id integer,
    disclosed_at text not null
);
create index disclosures_subject on disclosures (subject_ref, tenant_id);

-- `recipient_notices`: what Art. 19 asks after a rectification, erasure or restriction —
-- each recipient who received the person's data is to be told. Opened in the transaction
-- of the change, closed by `requests told` with the day it was done.
create table recipient_notices (
    id integer primary key,
    request_id integer not null references requests (id) on delete cascade,
    tenant_id integer not null references tenants (id),
    recipient text not null,
    recipient_role text not null check (recipient_role in ('processor', 'internal', 'third_party')),
    created_at text not null,
    told_on text,
    told_by text,
    check ((told_on is null) = (told_by is null)),
    unique (request_id, tenant_id, recipient)
);
create index recipient_notices_untold on recipient_notices (told_on, request_id);
