//! Test fixtures shared by the demo's unit tests: the shipped policies and open slots.

use crate::domain::policy::{Policy, parse_policy};
use crate::store::OpenSlot;
use chrono::{DateTime, Duration, Utc};

pub(super) fn policy(file: &str) -> Policy {
    let path = format!("{}/policies/{file}", env!("CARGO_MANIFEST_DIR"));
    parse_policy(file, &std::fs::read_to_string(path).unwrap()).unwrap()
}

pub(super) fn shipped() -> Vec<Policy> {
    [
        "oer-erkenschwick.toml",
        "recklinghausen.toml",
        "westendorf.toml",
    ]
    .iter()
    .map(|f| policy(f))
    .collect()
}

pub(super) fn instant(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub(super) fn slot(starts_at: &str) -> OpenSlot {
    let starts_at = instant(starts_at);
    OpenSlot {
        id: 7,
        service_code: "PA".into(),
        service_name: "Personalausweis beantragen".into(),
        starts_at,
        ends_at: starts_at + Duration::minutes(20),
        capacity: 3,
        booked: 0,
    }
}
