//! Output: tables for people, JSON and CSV for scripts. Data goes to stdout only.

use crate::domain::text::{printable, spreadsheet_safe_csv};
use anyhow::Result;
use clap::ValueEnum;
use serde::Serialize;
use std::io::Write;
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
        Format::Csv => csv(rows),
    }
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
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("csv: {e}"))?;
    std::io::stdout()
        .lock()
        .write_all(&spreadsheet_safe_csv(&bytes)?)?;
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
