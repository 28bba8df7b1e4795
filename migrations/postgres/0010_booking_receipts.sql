-- The confirmation page after a booking (post/redirect/get). The booking form answers with a
-- redirect to /t/{tenant}/gebucht/{token}; only the keyed hash of the token is stored, with
-- the booking code sealed by a key derived from the token (useless without the URL). The
-- first view unseals and clears the code (shown once); the row itself lives one hour so a
-- reload still shows the appointment without the code, and is deleted with its booking.
-- Keep in step with migrations/sqlite/0010_booking_receipts.sql.
create table booking_receipts (
    token_hash text primary key,
    booking_id bigint not null references bookings (id) on delete cascade,
    sealed_code text,
    expires_at timestamptz not null
);
create index booking_receipts_booking on booking_receipts (booking_id);
create index booking_receipts_expires on booking_receipts (expires_at);
