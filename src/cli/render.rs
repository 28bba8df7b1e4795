//! Output: tables for people, JSON and CSV for scripts. Data goes to stdout only. Tables
//! show instants in local time with the zone and subject references as handles; JSON says
//! `null` for a missing value; CSV has its header even when there are no rows.

use crate::domain::text::{printable, spreadsheet_safe_csv};
use anyhow::Result;
use clap::ValueEnum;
use serde::Serialize;
use std::io::{IsTerminal, Write};
use tabled::settings::Style;
use tabled::{Table, Tabled};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// A listing: one row per item in every format.
pub fn rows<T: Serialize + Tabled>(format: Format, rows: &[T]) -> Result<()> {
    match format {
        Format::Table => {
            let mut out = std::io::stdout().lock();
            if rows.is_empty() {
                writeln!(out, "(none)")?;
            } else {
                let table = Table::new(rows).with(Style::psql()).to_string();
                writeln!(out, "{}", printable(&table))?;
            }
            Ok(())
        }
        Format::Json => json(&rows),
        Format::Csv if rows.is_empty() => csv_header::<T>(),
        Format::Csv => csv(rows),
    }
}

/// The header line of an empty listing, so that a script reading the columns by name does
/// not fail on the day there is nothing to list. The names are the table's headers, which
/// are the fields' names where a row does not rename a column for people.
fn csv_header<T: Tabled>() -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(T::headers().iter().map(|h| h.replace(' ', "_")))?;
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("csv: {e}"))?;
    std::io::stdout().lock().write_all(&bytes)?;
    Ok(())
}

/// A report: sentences for people, the report object as JSON, its rows as CSV.
pub fn report<R: Serialize, T: Serialize>(
    format: Format,
    human: &str,
    report: &R,
    csv_rows: &[T],
) -> Result<()> {
    match format {
        Format::Table => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", printable(human))?;
            Ok(())
        }
        Format::Json => json(report),
        Format::Csv => csv(csv_rows),
    }
}

pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// CSV for scripts and spreadsheets: cells a spreadsheet would run as formulas are
/// neutralized (`domain::text::spreadsheet_safe`).
pub fn csv<T: Serialize>(rows: &[T]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in rows {
        w.serialize(row)?;
    }
    let bytes = spreadsheet_safe_csv(&w.into_inner().map_err(|e| anyhow::anyhow!("csv: {e}"))?)?;
    let mut out = std::io::stdout().lock();
    if out.is_terminal() {
        // Read by a person, not a script: an escape sequence in a cell is shown, not run.
        let text = String::from_utf8_lossy(&bytes);
        out.write_all(printable(&text).as_bytes())?;
    } else {
        out.write_all(&bytes)?;
    }
    Ok(())
}

/// Instants are shown in UTC, RFC 3339, whole seconds.
pub fn instant(at: &chrono::DateTime<chrono::Utc>) -> String {
    crate::domain::time::format_instant(at)
}

pub fn opt(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

/// A missing value in a table cell: "-" (JSON says `null`, CSV leaves the cell empty).
pub fn or_dash<T: std::fmt::Display>(value: &Option<T>) -> String {
    value
        .as_ref()
        .map(|v| v.to_string())
        .unwrap_or_else(|| "-".into())
}

/// An instant in a table: local wall-clock time with the zone, "2026-12-01 14:30:00 CET"
/// (JSON and CSV keep UTC, RFC 3339).
pub fn local(at: &chrono::DateTime<chrono::Utc>) -> String {
    crate::domain::time::local_table_instant(at, crate::domain::time::LOCAL_ZONE)
}

/// An optional instant in a table, see [`local`].
pub fn local_or_dash(at: &Option<chrono::DateTime<chrono::Utc>>) -> String {
    at.as_ref().map(local).unwrap_or_else(|| "-".into())
}

/// A subject reference in a table: its handle (JSON and CSV keep the full reference).
pub fn handle(subject_ref: &Option<String>) -> String {
    subject_ref
        .as_deref()
        .map(|r| r[..r.len().min(crate::domain::subject::HANDLE_LEN)].to_owned())
        .unwrap_or_else(|| "-".into())
}
