-- Hardening (SQLite). Keep in step with migrations/postgres/0003_hardening.sql; a test
-- compares both schemas.
--
-- Guessing a booking's code: wrong codes in a row for one booking, and until when
-- cancelling it by code is refused after too many. Kept on the booking so the lockout holds
-- across `serve` processes and restarts; no personal data (nothing about who guessed).
alter table bookings add column code_failures integer not null default 0;
alter table bookings add column code_locked_until text;

-- `/healthz` writes here: a database that cannot be written (read-only file, full disk)
-- makes the health check fail rather than answer "ok".
alter table installation add column checked_at text;
