//! Local holidays and closed days (issue 17): slots generated around them, counted per
//! reason, hidden and refused when they exist already, found and removed; and deadlines that
//! move past a local holiday.

mod common;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc, Weekday};
use common::cli::{assert_exit, json, run_with, stdout};
use common::people::Citizen;
use common::{TestDb, fixture, shipped_policies};
use datenwart::ops::booking::{self, BookingError};
use std::path::{Path, PathBuf};

on_both_backends!(
    slots_generate_counts_the_days_left_out_for_each_reason_also_when_it_created_slots,
    slots_on_days_closed_later_are_neither_listed_nor_bookable_and_can_be_removed,
);

/// The shipped policies, with Westendorf's `local_holidays` line replaced by `tenant_lines`.
fn policies_with(dir: &Path, tenant_lines: &str) -> PathBuf {
    let out = dir.join("policies");
    std::fs::create_dir_all(&out).unwrap();
    for entry in std::fs::read_dir(shipped_policies()).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        if path.ends_with("westendorf.toml") {
            let line = "local_holidays = [\"assumption_day\"]";
            assert!(
                text.contains(line),
                "the shipped Westendorf policy names assumption_day"
            );
            text = text.replace(line, tenant_lines);
        }
        std::fs::write(out.join(path.file_name().unwrap()), text).unwrap();
    }
    out
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn weekdays_between(from: NaiveDate, to: NaiveDate) -> usize {
    from.iter_days()
        .take_while(|d| *d <= to)
        .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .count()
}

async fn slots_generate_counts_the_days_left_out_for_each_reason_also_when_it_created_slots(
    db: TestDb,
) {
    let tmp = tempfile::tempdir().unwrap();
    let policies = policies_with(
        tmp.path(),
        "local_holidays = [\"assumption_day\"]\nclosed_days = [\"--12-24\", \"--12-31\"]",
    );
    let run = |args: &[&str]| run_with(&db.url, &policies, args);
    assert_exit(&run(&["migrate"]), 0);
    assert_exit(&run(&["tenants", "sync"]), 0);
    let services = fixture("services.csv");
    let services = services.to_str().unwrap();
    assert_exit(
        &run(&["services", "import", "--tenant", "westendorf", services]),
        0,
    );
    assert_exit(
        &run(&["services", "import", "--tenant", "recklinghausen", services]),
        0,
    );

    // Mon 11 August to Wed 31 December 2025, one slot a weekday. Left out at Westendorf:
    // Fri 15 August (Mariä Himmelfahrt, local); Fri 3 October, Thu 25 and Fri 26 December
    // (statewide; 1 November is a Saturday); Wed 24 and Wed 31 December (closed days).
    let (from, to) = ("2025-08-11", "2025-12-31");
    let weekdays = weekdays_between(day(from), day(to));
    let generate = |tenant: &str| {
        let o = run(&[
            "--format",
            "json",
            "slots",
            "generate",
            "--tenant",
            tenant,
            "--service",
            "PA",
            "--from",
            from,
            "--to",
            to,
            "--times",
            "08:00-08:20",
        ]);
        assert_exit(&o, 0);
        json(&o)
    };
    let r = generate("westendorf");
    assert_eq!(r["holidays_skipped"], 3, "{r}");
    assert_eq!(r["local_holidays_skipped"], 1, "{r}");
    assert_eq!(r["closed_days_skipped"], 2, "{r}");
    assert_eq!(r["created"], weekdays - 6, "{r}");

    // Recklinghausen (NW): 3 October, 25 and 26 December; 1 November is a Saturday, and
    // it names no local holidays or closed days.
    let r = generate("recklinghausen");
    assert_eq!(
        (
            &r["holidays_skipped"],
            &r["local_holidays_skipped"],
            &r["closed_days_skipped"]
        ),
        (&3.into(), &0.into(), &0.into()),
        "{r}"
    );
    assert_eq!(r["created"], weekdays - 3, "{r}");

    // The table says it too, the second time with every slot already there.
    let o = run(&[
        "slots",
        "generate",
        "--tenant",
        "westendorf",
        "--service",
        "PA",
        "--from",
        from,
        "--to",
        to,
        "--times",
        "08:00-08:20",
    ]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains(
            "3 public holiday(s) left out; 1 local holiday(s) left out; 2 closed day(s) left out"
        ),
        "{}",
        stdout(&o)
    );

    // --include-holidays opens the statewide holidays only: the policy's own days stay shut.
    let o = run(&[
        "--format",
        "json",
        "slots",
        "generate",
        "--tenant",
        "westendorf",
        "--service",
        "RP",
        "--from",
        "2025-12-22",
        "--to",
        "2025-12-26",
        "--times",
        "08:00-08:20",
        "--include-holidays",
    ]);
    assert_exit(&o, 0);
    let r = json(&o);
    assert_eq!(
        (&r["created"], &r["closed_days_skipped"]),
        (&4.into(), &1.into()),
        "{r}"
    );
    assert_eq!(r["holidays_skipped"], 0, "{r}");
}

async fn slots_on_days_closed_later_are_neither_listed_nor_bookable_and_can_be_removed(db: TestDb) {
    let tmp = tempfile::tempdir().unwrap();
    // Before: Westendorf without its local holiday. After: with it, and closed on Wed
    // 16 August 2028 (a staff outing). Tue 15 August 2028 is Mariä Himmelfahrt.
    let before = policies_with(&tmp.path().join("before"), "");
    let after = policies_with(
        &tmp.path().join("after"),
        "local_holidays = [\"assumption_day\"]\nclosed_days = [\"2028-08-16\"]",
    );
    let old = db.context_with(&before).await;
    datenwart::ops::migrate(&old).await.unwrap();
    datenwart::ops::seeding::sync_tenants(&old).await.unwrap();
    assert_exit(
        &run_with(
            &db.url,
            &before,
            &[
                "services",
                "import",
                "--tenant",
                "westendorf",
                fixture("services.csv").to_str().unwrap(),
            ],
        ),
        0,
    );
    // Two slots of 20 minutes on each of Mon 14, Tue 15 and Wed 16 August 2028.
    let o = run_with(
        &db.url,
        &before,
        &[
            "--format",
            "json",
            "slots",
            "generate",
            "--tenant",
            "westendorf",
            "--service",
            "PA",
            "--from",
            "2028-08-14",
            "--to",
            "2028-08-16",
            "--times",
            "08:00-08:40",
        ],
    );
    assert_exit(&o, 0);
    assert_eq!(json(&o)["created"], 6);

    let now: DateTime<Utc> = Utc.with_ymd_and_hms(2028, 8, 1, 8, 0, 0).unwrap();
    let on = |slots: &[datenwart::store::OpenSlot], date: &str| {
        slots
            .iter()
            .filter(|s| s.starts_at.date_naive() == day(date))
            .map(|s| s.id)
            .collect::<Vec<_>>()
    };
    let free = booking::free_slots(&old, "westendorf", "PA", None, None, now)
        .await
        .unwrap();
    let (on_15th, on_16th) = (on(&free, "2028-08-15"), on(&free, "2028-08-16"));
    assert_eq!((on_15th.len(), on_16th.len()), (2, 2));
    // Booked while the day was still open.
    let anna = Citizen {
        first: "Anna",
        last: "Feiertag",
        email: "anna.feiertag@example.org",
        phone: "0171 5550100",
    };
    let receipt = booking::book(&old, "westendorf", &anna.form(on_16th[0]), now)
        .await
        .unwrap();

    // Now the policy closes the 15th and the 16th.
    let ctx = db.context_with(&after).await;
    let free = booking::free_slots(&ctx, "westendorf", "PA", None, None, now)
        .await
        .unwrap();
    assert_eq!(free.len(), 2, "only Monday's slots are listed: {free:?}");
    assert!(
        free.iter()
            .all(|s| s.starts_at.date_naive() == day("2028-08-14"))
    );
    let o = run_with(
        &db.url,
        &after,
        &[
            "--format",
            "json",
            "slots",
            "list",
            "--tenant",
            "westendorf",
        ],
    );
    assert_exit(&o, 0);
    assert_eq!(json(&o).as_array().unwrap().len(), 2, "{}", stdout(&o));

    for slot in [on_15th[0], on_16th[1]] {
        let error = booking::book(&ctx, "westendorf", &anna.form(slot), now)
            .await
            .unwrap_err();
        match error {
            BookingError::Invalid(fields) => {
                assert!(fields["slot_id"].contains("geschlossen"), "{fields:?}")
            }
            other => panic!("slot {slot}: expected a refusal naming slot_id, got {other:?}"),
        }
    }

    // The admin finds them: 2 on the local holiday, 2 on the closed day, one booked.
    let o = run_with(
        &db.url,
        &after,
        &[
            "--format",
            "json",
            "slots",
            "closed",
            "--tenant",
            "westendorf",
        ],
    );
    assert_exit(&o, 0);
    let closed = json(&o);
    let reasons: Vec<&str> = closed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["local_holiday", "local_holiday", "closed_day", "closed_day"],
        "{closed}"
    );
    assert_eq!(closed[2]["booked"], 1, "{closed}");

    // Without --yes: free slots go, the booking stays.
    let o = run_with(
        &db.url,
        &after,
        &[
            "--format",
            "json",
            "slots",
            "remove-closed",
            "--tenant",
            "westendorf",
        ],
    );
    assert_exit(&o, 0);
    let r = json(&o);
    assert_eq!(
        (
            &r["slots_deleted"],
            &r["bookings_cancelled"],
            &r["bookings_left"],
            &r["slots_kept"]
        ),
        (&3.into(), &0.into(), &1.into(), &1.into()),
        "{r}"
    );
    assert_eq!(
        db.count("select count(*) from bookings where status = 'booked'")
            .await,
        1
    );

    // With --yes: the booking is cancelled by the office and Anna is told.
    let o = run_with(
        &db.url,
        &after,
        &[
            "--format",
            "json",
            "slots",
            "remove-closed",
            "--tenant",
            "westendorf",
            "--yes",
        ],
    );
    assert_exit(&o, 0);
    let r = json(&o);
    assert_eq!(
        (&r["bookings_cancelled"], &r["bookings_left"]),
        (&1.into(), &0.into()),
        "{r}"
    );
    assert_eq!(
        db.count(
            "select count(*) from bookings where status = 'cancelled' and cancelled_by = 'office'"
        )
        .await,
        1
    );
    assert_eq!(
        db.count(
            "select count(*) from notifications where kind = 'cancellation' and status = 'queued' \
             and recipient = 'anna.feiertag@example.org'"
        )
        .await,
        1
    );
    assert_eq!(
        db.count("select count(*) from slots where booked > 0")
            .await,
        0
    );
    assert!(receipt.reference.len() > 4);

    // Nothing left to list; the audit trail holds and names nobody.
    let o = run_with(
        &db.url,
        &after,
        &[
            "--format",
            "json",
            "slots",
            "closed",
            "--tenant",
            "westendorf",
        ],
    );
    assert_exit(&o, 0);
    assert_eq!(
        json(&o).as_array().unwrap().len(),
        1,
        "the cancelled booking keeps its slot"
    );
    assert_exit(&run_with(&db.url, &after, &["audit", "verify"]), 0);
    let o = run_with(
        &db.url,
        &after,
        &[
            "--format",
            "json",
            "audit",
            "list",
            "--action",
            "slots.remove_closed",
        ],
    );
    assert_exit(&o, 0);
    let audit = stdout(&o).to_lowercase();
    assert!(audit.contains("slots_deleted"), "{audit}");
    for personal in anna.personal_data() {
        assert!(!audit.contains(&personal), "{personal} in {audit}");
    }
}

#[tokio::test]
async fn at_westendorf_a_request_received_on_15_july_2025_is_due_on_18_august_past_assumption_day()
{
    let db = TestDb::new(common::Kind::Sqlite).await.unwrap();
    let ctx = db.context().await;
    let received = Utc.with_ymd_and_hms(2025, 7, 15, 9, 0, 0).unwrap();
    let due = |tenant| datenwart::ops::requests::due_on(&ctx, Some(tenant), received).unwrap();
    // Fri 15 August 2025 is a holiday at Westendorf only: Monday 18th there, Friday elsewhere.
    assert_eq!(day("2025-08-15").weekday(), Weekday::Fri);
    assert_eq!(due("westendorf"), day("2025-08-18"));
    assert_eq!(due("recklinghausen"), day("2025-08-15"));
}
