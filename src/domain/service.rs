//! Services (Dienstleistungen) a tenant offers, and what makes a service row valid.

/// A validated service as imported by an admin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewService {
    pub code: String,
    pub name: String,
    pub duration_minutes: i64,
}

/// A problem with one field of an input row; the caller adds file and line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: &'static str,
    pub problem: String,
}

impl FieldProblem {
    pub fn new(field: &'static str, problem: impl Into<String>) -> Self {
        Self {
            field,
            problem: problem.into(),
        }
    }
}

pub const MAX_DURATION_MINUTES: i64 = 8 * 60;
const MAX_CODE_LEN: usize = 40;
const MAX_NAME_LEN: usize = 200;

/// Codes appear in URLs and CSV files: letters, digits, `_`, `-` and `.`.
pub fn parse_code(code: &str) -> Result<String, FieldProblem> {
    let code = code.trim();
    let valid_chars = code
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if code.is_empty() {
        return Err(FieldProblem::new("code", "is empty"));
    }
    if code.len() > MAX_CODE_LEN || !valid_chars {
        return Err(FieldProblem::new(
            "code",
            format!(
                "\"{code}\" is not a service code: use up to {MAX_CODE_LEN} letters, digits, '_', '-' or '.'"
            ),
        ));
    }
    Ok(code.to_owned())
}

pub fn parse_service(code: &str, name: &str, duration: &str) -> Result<NewService, FieldProblem> {
    let code = parse_code(code)?;
    let name = name.trim();
    if name.is_empty() {
        return Err(FieldProblem::new("name", "is empty"));
    }
    if name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(FieldProblem::new(
            "name",
            format!("must be one line of at most {MAX_NAME_LEN} characters"),
        ));
    }
    let duration_minutes = match duration.trim().parse::<i64>() {
        Ok(m) if (1..=MAX_DURATION_MINUTES).contains(&m) => m,
        _ => {
            return Err(FieldProblem::new(
                "duration_minutes",
                format!(
                    "\"{}\" is not a duration: give whole minutes from 1 to {MAX_DURATION_MINUTES}",
                    duration.trim()
                ),
            ));
        }
    };
    Ok(NewService {
        code,
        name: name.to_owned(),
        duration_minutes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_row_is_accepted_and_trimmed() {
        let s = parse_service(" PA ", " Personalausweis beantragen ", "20").unwrap();
        assert_eq!(
            s,
            NewService {
                code: "PA".into(),
                name: "Personalausweis beantragen".into(),
                duration_minutes: 20
            }
        );
    }

    #[test]
    fn a_duration_that_is_not_whole_minutes_names_the_field_and_value() {
        let e = parse_service("PA", "Ausweis", "20.5").unwrap_err();
        assert_eq!(e.field, "duration_minutes");
        assert!(e.problem.contains("\"20.5\""), "{}", e.problem);
        assert!(parse_service("PA", "Ausweis", "0").is_err());
        assert!(parse_service("PA", "Ausweis", "481").is_err());
    }

    #[test]
    fn codes_with_spaces_or_slashes_are_refused() {
        assert_eq!(parse_service("a b", "x", "5").unwrap_err().field, "code");
        assert_eq!(parse_service("a/b", "x", "5").unwrap_err().field, "code");
        assert_eq!(parse_service("", "x", "5").unwrap_err().problem, "is empty");
    }

    #[test]
    fn an_empty_or_multiline_name_is_refused() {
        assert_eq!(parse_service("PA", "  ", "5").unwrap_err().field, "name");
        assert_eq!(parse_service("PA", "a\nb", "5").unwrap_err().field, "name");
    }
}
