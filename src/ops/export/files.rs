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
    #[serde(flatten)]
    pub(super) data: &'a TenantData,
}

/// The CSV file of each category, in the order of `TenantData::counts`.
pub(super) const CSV_FILES: [(&str, &str); 7] = [
    ("bookings", "buchungen.csv"),
    ("consents", "einwilligungen.csv"),
    ("notifications", "benachrichtigungen.csv"),
    ("access_log", "zugriffsprotokoll.csv"),
    ("requests", "antraege.csv"),
    ("inbox", "nachrichten.csv"),
    ("replies", "antworten.csv"),
];

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
        tenant_csv(&rows(parts, |d| &d.requests))?,
        tenant_csv(&rows(parts, |d| &d.inbox))?,
        tenant_csv(&rows(parts, |d| &d.replies))?,
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
