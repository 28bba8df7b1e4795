-- The outbox of replies to mailbox messages (SQLite). Keep in step with
-- migrations/postgres/0002_reply_outbox.sql; a test compares both schemas.
--
-- A reply is rendered and inserted in the transaction that records its message, so a crash
-- between the commit and writing the `.eml` file loses no answer: the row stays pending
-- (`written_at` null) and the next `withdrawals import` or `resolve` writes it. Once the
-- file is written the row keeps no personal data: `eml` and `subject_ref` are cleared.
create table replies (
    id integer primary key,
    tenant_id integer not null references tenants (id),
    -- One reply per message; retention deletes it with its message.
    inbox_message_id integer not null unique references inbox_messages (id),
    -- Only while pending, so that an erasure of the person finds and deletes it.
    subject_ref text,
    -- The name in the outbox (time and a hash of the message key), written again after a crash.
    file_name text not null,
    -- The rendered reply (it holds the recipient's address); null once written.
    eml text,
    created_at text not null,
    written_at text,
    check (written_at is not null or eml is not null)
);
create index replies_pending on replies (written_at);
create index replies_subject on replies (subject_ref);
