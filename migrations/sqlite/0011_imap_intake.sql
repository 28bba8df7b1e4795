-- Where `withdrawals import --imap` stands in each mailbox it reads (SQLite). Keep in step
-- with migrations/postgres/0011_imap_intake.sql; a test compares both schemas.
--
-- UIDs only mean something within one UIDVALIDITY of one mailbox (RFC 3501 2.3.1.1): the
-- import fetches the messages above last_uid, and starts again from the first when the
-- server reports another uid_validity (a restored or migrated mailbox); the messages it
-- sees again are recognised as duplicates by their Message-ID or hash. `account` is the
-- office mailbox's login and server (`user@host:port`), never a citizen's address.
create table imap_mailboxes (
    id integer primary key,
    account text not null,
    mailbox text not null,
    uid_validity integer not null check (uid_validity > 0),
    last_uid integer not null check (last_uid >= 0),
    updated_at text not null,
    unique (account, mailbox)
);
