-- The register of personal-data breaches (Art. 33(5) DSGVO): what happened, when the
-- controller became aware (the 72-hour clock of Art. 33(1) runs from known_at), the
-- approximate numbers of persons and records, consequences, measures, and whether the
-- authority and the persons were notified. Free text is the DPO's own; it names no person.
-- Keep in step with migrations/postgres/0009_breaches.sql.
create table breaches (
    id integer primary key,
    tenant_id integer not null references tenants (id),
    known_at text not null,
    occurred_from text,
    occurred_to text,
    description text not null,
    data_categories text not null,
    persons_approx integer check (persons_approx >= 0),
    records_approx integer check (records_approx >= 0),
    risk text not null check (risk in ('unlikely', 'risk', 'high')),
    consequences text,
    measures text,
    authority_notified_at text,
    authority_reference text,
    persons_notified_at text,
    closed_at text,
    closing_note text,
    created_at text not null,
    check (occurred_to is null or occurred_from is null or occurred_from <= occurred_to),
    check (closed_at is null or closing_note is not null)
);
create index breaches_tenant_known on breaches (tenant_id, known_at);
