-- Delivery (PostgreSQL): what `datenwart send` needs to deliver each queued message once.
-- Keep in step with migrations/sqlite/0004_delivery.sql; a test compares both schemas.
--
-- A message goes queued → claimed (by one worker, until `claimed_until`) → sent, or back
-- to queued with `next_attempt_at` after a temporary failure, or failed for good after a
-- permanent one (or too many attempts). `message_id` is drawn at the first claim and kept:
-- a worker that dies after the SMTP server accepted the message but before it marked it
-- sent makes the next worker send it again with the same Message-ID, so the receiving side
-- can drop the duplicate. `last_error_class` is a class, never the server's text (which can
-- quote the address); `smtp_reply` is the server's answer to an accepted message.
alter table notifications drop constraint notifications_status_check;
alter table notifications add constraint notifications_status_check
    check (status in ('queued', 'claimed', 'sent', 'failed', 'cancelled'));
alter table notifications add column attempts bigint not null default 0 check (attempts >= 0);
alter table notifications add column next_attempt_at timestamptz;
alter table notifications add column claimed_by text;
alter table notifications add column claimed_until timestamptz;
alter table notifications add column message_id text;
alter table notifications add column last_error_class text
    check (last_error_class in ('temporary', 'permanent', 'connection', 'address'));
alter table notifications add column smtp_reply text;
alter table notifications add constraint notifications_claim_check
    check (status <> 'claimed' or (claimed_by is not null and claimed_until is not null
                                   and message_id is not null));
-- The worker's question: what is queued (or claimed by a worker that died) on a channel.
create index notifications_due on notifications (status, channel, next_attempt_at);
