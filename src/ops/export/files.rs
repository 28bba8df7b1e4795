//! The machine-readable files of an Auskunft: daten.json and one CSV file per category, each
//! row with its tenant first.

use super::*;

#[derive(Serialize)]
pub(super) struct DatenJson<'a> {
    pub(super) generated_at: DateTime<Utc>,
    /// The address searched for: the person's own.
    pub(super) email: &'a str,
    pub(super) tenants: Vec<TenantJson<'a>>,
}

#[derive(Serialize)]
pub(super) struct TenantJson<'a> {
    pub(super) tenant_name: &'a str,
    pub(super) request_id: i64,
    /// Art. 15(2): whether and how the data go to a third country.
    pub(super) third_countries: String,
    #[serde(flatten)]
    pub(super) data: PersonData<'a>,
}

/// The person's rows in daten.json: every category, the register without its internal
/// pseudonym.
#[derive(Serialize)]
pub(super) struct PersonData<'a> {
    tenant: &'a str,
    bookings: &'a [BookingRecord],
    consents: &'a [ConsentRecord],
    notifications: &'a [NotificationRecord],
    access_log: &'a [AccessRecord],
    #[serde(serialize_with = "requests_for_person")]
    requests: &'a [Request],
    inbox: &'a [InboxRecord],
    replies: &'a [ReplyRecord],
    holds: &'a [HoldRecord],
    restrictions: &'a [RestrictionRecord],
    recipients: &'a [DisclosureRecord],
}

impl<'a> From<&'a TenantData> for PersonData<'a> {
    fn from(d: &'a TenantData) -> Self {
        PersonData {
            tenant: &d.tenant,
            bookings: &d.bookings,
            consents: &d.consents,
            notifications: &d.notifications,
            access_log: &d.access_log,
            requests: &d.requests,
            inbox: &d.inbox,
            replies: &d.replies,
            holds: &d.holds,
            restrictions: &d.restrictions,
            recipients: &d.recipients,
        }
    }
}

/// The CSV file of each category, in the order of `TenantData::counts`.
pub(super) const CSV_FILES: [(&str, &str); 10] = [
    ("bookings", "buchungen.csv"),
    ("consents", "einwilligungen.csv"),
    ("notifications", "benachrichtigungen.csv"),
    ("access_log", "zugriffsprotokoll.csv"),
    ("requests", "antraege.csv"),
    ("inbox", "nachrichten.csv"),
    ("replies", "antworten.csv"),
    ("holds", "sperren.csv"),
    ("restrictions", "einschraenkungen.csv"),
    ("recipients", "empfaenger.csv"),
];

/// A register entry as the person gets it: without the internal pseudonym and without a
/// tenant of its own (the file's first column names it).
#[derive(Serialize)]
pub(super) struct RequestForPerson<'a> {
    id: i64,
    kind: RequestKind,
    channel: Channel,
    /// How the person's identity was established for it (never the proof).
    identity: Option<crate::domain::requests::IdentityCheck>,
    received_at: DateTime<Utc>,
    due_on: chrono::NaiveDate,
    extended_due_on: Option<chrono::NaiveDate>,
    extension_reason: Option<&'a str>,
    status: RequestStatus,
    outcome: Option<Outcome>,
    closed_at: Option<DateTime<Utc>>,
}

impl<'a> From<&'a Request> for RequestForPerson<'a> {
    fn from(r: &'a Request) -> Self {
        RequestForPerson {
            id: r.id,
            kind: r.kind,
            channel: r.channel,
            identity: r.identity,
            received_at: r.received_at,
            due_on: r.due_on,
            extended_due_on: r.extended_due_on,
            extension_reason: r.extension_reason.as_deref(),
            status: r.status,
            outcome: r.outcome,
            closed_at: r.closed_at,
        }
    }
}

/// `TenantData`'s `requests` in daten.json, as [`RequestForPerson`].
pub(super) fn requests_for_person<S: serde::Serializer>(
    requests: &[Request],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(requests.iter().map(RequestForPerson::from))
}

pub(super) fn csv_file(category: &str) -> &'static str {
    CSV_FILES
        .iter()
        .find(|(c, _)| *c == category)
        .map_or("", |(_, file)| file)
}

/// (file, bytes) for every category with rows at any tenant.
pub(super) fn csv_files(parts: &[Part<'_>]) -> Result<Vec<(&'static str, Vec<u8>)>> {
    fn rows<'a, T>(
        parts: &'a [Part<'_>],
        pick: fn(&TenantData) -> &Vec<T>,
    ) -> Vec<(&'a str, &'a T)> {
        parts
            .iter()
            .flat_map(|p| {
                pick(&p.data)
                    .iter()
                    .map(move |r| (p.data.tenant.as_str(), r))
            })
            .collect()
    }
    let all = [
        tenant_csv(&rows(parts, |d| &d.bookings))?,
        tenant_csv(&rows(parts, |d| &d.consents))?,
        tenant_csv(&rows(parts, |d| &d.notifications))?,
        tenant_csv(&rows(parts, |d| &d.access_log))?,
        tenant_csv(
            &rows(parts, |d| &d.requests)
                .into_iter()
                .map(|(t, r)| (t, RequestForPerson::from(r)))
                .collect::<Vec<_>>()
                .iter()
                .map(|(t, r)| (*t, r))
                .collect::<Vec<_>>(),
        )?,
        tenant_csv(&rows(parts, |d| &d.inbox))?,
        tenant_csv(&rows(parts, |d| &d.replies))?,
        tenant_csv(&rows(parts, |d| &d.holds))?,
        tenant_csv(&rows(parts, |d| &d.restrictions))?,
        tenant_csv(&rows(parts, |d| &d.recipients))?,
    ];
    Ok(CSV_FILES
        .iter()
        .zip(all)
        .filter_map(|((_, file), bytes)| bytes.map(|b| (*file, b)))
        .collect())
}

/// A CSV with a `tenant` column first and then the record's fields in their declared order;
/// None when there are no rows. Each record is written on its own by `csv`'s serializer
/// (header and row), read back and prefixed with its tenant.
pub(super) fn tenant_csv<T: Serialize>(rows: &[(&str, &T)]) -> Result<Option<Vec<u8>>> {
    if rows.is_empty() {
        return Ok(None);
    }
    let mut out = csv::Writer::from_writer(Vec::new());
    for (i, (tenant, record)) in rows.iter().enumerate() {
        let mut one = csv::Writer::from_writer(Vec::new());
        one.serialize(record)?;
        let bytes = one.into_inner().map_err(|e| anyhow::anyhow!("csv: {e}"))?;
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        if i == 0 {
            out.write_record(std::iter::once("tenant").chain(reader.headers()?.iter()))?;
        }
        for row in reader.records() {
            out.write_record(std::iter::once(*tenant).chain(row?.iter()))?;
        }
    }
    let bytes = out.into_inner().map_err(|e| anyhow::anyhow!("csv: {e}"))?;
    Ok(Some(crate::domain::text::spreadsheet_safe_csv(&bytes)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Row {
        b: String,
        a: Option<i64>,
        text: String,
    }

    #[test]
    fn csv_rows_get_the_tenant_first_and_keep_the_field_order() {
        let one = Row {
            b: "x".into(),
            a: None,
            text: "zwei\nZeilen, \"zitiert\"".into(),
        };
        let two = Row {
            b: "y".into(),
            a: Some(3),
            text: String::new(),
        };
        let bytes = tenant_csv(&[("recklinghausen", &one), ("westendorf", &two)])
            .unwrap()
            .unwrap();
        let mut r = csv::Reader::from_reader(bytes.as_slice());
        assert_eq!(r.headers().unwrap(), vec!["tenant", "b", "a", "text"]);
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(
            rows[0],
            vec!["recklinghausen", "x", "", "zwei\nZeilen, \"zitiert\""]
        );
        assert_eq!(rows[1], vec!["westendorf", "y", "3", ""]);
        assert!(tenant_csv::<Row>(&[]).unwrap().is_none());
    }
}
