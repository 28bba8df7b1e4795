//! Reading an admin's CSV file into rows that know their line number, so that every
//! problem can be reported as `file:line: field: problem`.

use super::Refusal;
use std::collections::HashMap;
use std::path::Path;

/// One data row: its line in the file and its values by column name.
pub struct CsvRow {
    pub line: u64,
    values: HashMap<String, String>,
}

impl CsvRow {
    pub fn get(&self, column: &str) -> &str {
        self.values.get(column).map(String::as_str).unwrap_or("")
    }
}

/// Reads the whole file; a missing column or unreadable row refuses the file.
pub fn read(path: &Path, required: &[&str], optional: &[&str]) -> Result<Vec<CsvRow>, Refusal> {
    let file = path.display();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| Refusal::InvalidInput(format!("{file}: cannot read: {e}")))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Refusal::InvalidInput(format!("{file}:1: header: {e}")))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_lowercase())
        .collect();
    for column in required {
        if !headers.iter().any(|h| h == column) {
            return Err(Refusal::InvalidInput(format!(
                "{file}:1: header: missing column \"{column}\" (expected {})",
                required.join(",")
            )));
        }
    }
    if let Some(unknown) = headers
        .iter()
        .find(|h| !required.contains(&h.as_str()) && !optional.contains(&h.as_str()))
    {
        return Err(Refusal::InvalidInput(format!(
            "{file}:1: header: unknown column \"{unknown}\""
        )));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            Refusal::InvalidInput(format!("{file}:{line}: row: {e}"))
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        let values = headers
            .iter()
            .cloned()
            .zip(record.iter().map(str::to_owned))
            .collect();
        rows.push(CsvRow { line, values });
    }
    if rows.is_empty() {
        return Err(Refusal::InvalidInput(format!("{file}: no data rows")));
    }
    Ok(rows)
}

/// All problems of a file as one refusal, one `file:line: field: problem` per line.
pub fn refuse(problems: Vec<String>) -> Result<(), Refusal> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Refusal::InvalidInput(problems.join("\n")))
    }
}
