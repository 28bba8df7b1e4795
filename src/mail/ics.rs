//! The calendar entry attached to a booking confirmation (RFC 5545, via `icalendar`):
//! one VEVENT whose UID is the booking's reference at the tenant's mail domain, so a
//! second copy of the mail updates the entry instead of adding one. Times are UTC (`Z`),
//! which every calendar app reads without a VTIMEZONE and shows in its own zone.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike};

/// What the entry says.
pub struct CalendarEntry<'a> {
    pub reference: &'a str,
    pub domain: &'a str,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub summary: &'a str,
    pub location: &'a str,
    pub description: &'a str,
    /// DTSTAMP: when the entry was made.
    pub stamp: DateTime<Utc>,
}

/// The `.ics` text: CRLF line ends, long lines folded, text values escaped.
pub fn calendar(entry: &CalendarEntry) -> String {
    let event = Event::new()
        .uid(&format!("{}@{}", entry.reference, entry.domain))
        .timestamp(entry.stamp)
        .starts(entry.starts_at)
        .ends(entry.ends_at)
        .summary(entry.summary)
        .location(entry.location)
        .description(entry.description)
        .done();
    let mut cal = Calendar::empty();
    cal.append_property(("VERSION", "2.0"))
        .append_property(("PRODID", "-//datenwart//Terminbuchung//DE"))
        .append_property(("CALSCALE", "GREGORIAN"))
        .append_property(("METHOD", "PUBLISH"))
        .push(event);
    cal.done().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn entry<'a>(description: &'a str) -> CalendarEntry<'a> {
        CalendarEntry {
            reference: "K7QM-4XRT-P2",
            domain: "oer-erkenschwick.de",
            starts_at: Utc.with_ymd_and_hms(2026, 11, 30, 7, 20, 0).unwrap(),
            ends_at: Utc.with_ymd_and_hms(2026, 11, 30, 7, 40, 0).unwrap(),
            summary: "Personalausweis beantragen – Stadt Oer-Erkenschwick",
            location: "Rathausplatz 1, 45739 Oer-Erkenschwick",
            description,
            stamp: Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap(),
        }
    }

    #[test]
    fn the_entry_has_the_reference_as_uid_and_utc_times() {
        let ics = calendar(&entry("Buchungsnummer: K7QM-4XRT-P2"));
        for line in [
            "BEGIN:VCALENDAR\r\n",
            "METHOD:PUBLISH\r\n",
            "UID:K7QM-4XRT-P2@oer-erkenschwick.de\r\n",
            "DTSTART:20261130T072000Z\r\n",
            "DTEND:20261130T074000Z\r\n",
            "DTSTAMP:20261101T090000Z\r\n",
            "LOCATION:Rathausplatz 1\\, 45739 Oer-Erkenschwick\r\n",
            "END:VCALENDAR\r\n",
        ] {
            assert!(ics.contains(line), "{line:?} missing in\n{ics}");
        }
    }

    #[test]
    fn long_lines_are_folded_at_75_octets_and_newlines_escaped() {
        let long = "Absagen: https://termine.example.de/t/oer-erkenschwick/absagen?buchung=K7QM-4XRT-P2\nBitte bringen Sie Ihren alten Ausweis mit; danke.";
        let ics = calendar(&entry(long));
        assert!(ics.lines().all(|l| l.len() <= 75), "{ics}");
        let unfolded = ics.replace("\r\n ", "");
        assert!(
            unfolded.contains("K7QM-4XRT-P2\\nBitte bringen Sie Ihren alten Ausweis mit\\; danke."),
            "{unfolded}"
        );
    }
}
