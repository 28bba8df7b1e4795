-- Delivery (SQLite): what `datenwart send` needs to deliver each queued message once.
-- Keep in step with migrations/postgres/0004_delivery.sql; a test compares both schemas.
--
-- A message goes queued → claimed (by one worker, until `claimed_until`) → sent, or back
-- to queued with `next_attempt_at` after a temporary failure, or failed for good after a
-- permanent one (or too many attempts). `message_id` is drawn at the first claim and kept:
-- a worker that dies after the SMTP server accepted the message but before it marked it
-- sent makes the next worker send it again with the same Message-ID, so the receiving side
-- can drop the duplicate. `last_error_class` is a class, never the server's text (which can
-- quote the address); `smtp_reply` is the server's answer to an accepted message.
--
-- SQLite cannot change a check constraint in place: the table is rebuilt with the status
-- 'claimed' allowed. Nothing references notifications.
create table notifications_new (
    id integer primary key,
    tenant_id integer not null references tenants (id),
    booking_id integer references bookings (id) on delete set null,
    channel text not null check (channel in ('email', 'sms')),
    kind text not null check (kind in ('confirmation', 'office_copy', 'sms_reminder',
                                       'cancellation', 'reply')),
    recipient text,
    subject text,
    body text,
    status text not null check (status in ('queued', 'claimed', 'sent', 'failed', 'cancelled')),
    created_at text not null,
    send_after text,
    sent_at text,
    attempts integer not null default 0 check (attempts >= 0),
    next_attempt_at text,
    claimed_by text,
    claimed_until text,
    message_id text,
    last_error_class text check (last_error_class in ('temporary', 'permanent', 'connection', 'address')),
    smtp_reply text,
    check (status <> 'claimed' or (claimed_by is not null and claimed_until is not null
                                   and message_id is not null))
);
insert into notifications_new (id, tenant_id, booking_id, channel, kind, recipient, subject, body,
                               status, created_at, send_after, sent_at)
    select id, tenant_id, booking_id, channel, kind, recipient, subject, body,
           status, created_at, send_after, sent_at
    from notifications;
drop table notifications;
alter table notifications_new rename to notifications;
create index notifications_booking on notifications (booking_id);
create index notifications_created_at on notifications (created_at);
-- The worker's question: what is queued (or claimed by a worker that died) on a channel.
create index notifications_due on notifications (status, channel, next_attempt_at);
