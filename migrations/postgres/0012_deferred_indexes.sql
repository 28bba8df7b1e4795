-- Lookup indexes that a bulk load into an empty database (`demo`) dropped, to build each
-- once at the end instead of rewriting its pages with every batch (PostgreSQL). Keep in step
-- with migrations/sqlite/0012_deferred_indexes.sql; a test compares both schemas.
--
-- A row is written in the transaction that drops its index and deleted in the one that
-- builds the index again from `definition`, so a load that was killed leaves its rows
-- behind: the next command (or `migrate`) builds those indexes, unless the process named
-- by `holder` still runs. Nothing here is personal data.
create table deferred_indexes (
    name text primary key,
    definition text not null,
    holder text not null,
    deferred_at timestamptz not null
);
