//! Redaction of other people from free text shown to a data subject (Art. 15(4) DSGVO): the
//! reason of a hold or a restriction, the reason of an extension, written by staff, may name
//! someone else ("Klage von Frau Weber", "Rückruf an 0171 …").
//!
//! The rule: every e-mail address and every phone number in the text is replaced by
//! [`REDACTED`] unless it is the person's own; so is every full name ("Erika Weber",
//! "Weber, Erika") and every "Frau/Herr/Herrn <last name>" of another person the store
//! holds at the tenant, unless the person shares that name. Case is ignored for names.

use regex::Regex;
use std::sync::LazyLock;

pub const REDACTED: &str = "[geschwärzt]";

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
        .expect("e-mail pattern")
});

/// `+49 171 2345678`, `0049 …`, `0171/2345678`, `02361 50-1640`: a leading `+` or `0` and
/// at least seven digits with spaces, slashes or hyphens between. Dates (`2026-06-30`,
/// `30.06.2026`) and file numbers (`3 K 12/26`) do not start so or are too short.
static PHONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:\+|\b0)\d(?:[ /\-]?\d){5,}").expect("phone pattern"));

/// Someone whose name, address or number must not reach the person asking.
#[derive(Clone, Debug, Default)]
pub struct Person {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// Redacts others from texts shown to one person.
pub struct Redactor {
    own_emails: Vec<String>,
    own_phones: Vec<String>,
    names: Option<Regex>,
}

fn digits(s: &str) -> String {
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    // 0049… and +49… and 0… are the same number.
    if let Some(rest) = d.strip_prefix("0049") {
        rest.to_owned()
    } else if let Some(rest) = d
        .strip_prefix("49")
        .filter(|_| s.trim_start().starts_with('+'))
    {
        rest.to_owned()
    } else {
        d.trim_start_matches('0').to_owned()
    }
}

fn clean(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl Redactor {
    /// `own`: what the person gave (never redacted); `others`: everyone else known.
    pub fn new(own: &[Person], others: &[Person]) -> Redactor {
        let own_emails = own
            .iter()
            .filter_map(|p| clean(&p.email))
            .map(str::to_lowercase)
            .collect();
        let own_phones = own
            .iter()
            .filter_map(|p| clean(&p.phone))
            .map(digits)
            .collect();
        let own_full: Vec<String> = own
            .iter()
            .filter_map(|p| {
                Some(format!(
                    "{} {}",
                    clean(&p.first_name)?,
                    clean(&p.last_name)?
                ))
            })
            .map(|n| n.to_lowercase())
            .collect();
        let own_last: Vec<String> = own
            .iter()
            .filter_map(|p| clean(&p.last_name))
            .map(str::to_lowercase)
            .collect();
        let mut patterns: Vec<String> = Vec::new();
        for p in others {
            let (first, last) = (clean(&p.first_name), clean(&p.last_name));
            if let (Some(first), Some(last)) = (first, last)
                && !own_full.contains(&format!("{first} {last}").to_lowercase())
            {
                patterns.push(format!(
                    r"{}\s+{}",
                    regex::escape(first),
                    regex::escape(last)
                ));
                patterns.push(format!(
                    r"{},\s*{}",
                    regex::escape(last),
                    regex::escape(first)
                ));
            }
            if let Some(last) = last
                && !own_last.contains(&last.to_lowercase())
            {
                patterns.push(format!(r"(?:Frau|Herrn?)\s+{}", regex::escape(last)));
            }
        }
        patterns.sort();
        patterns.dedup();
        // Longest first, so "Erika Weber-Lang" is taken whole before "Erika Weber".
        patterns.sort_by_key(|p| std::cmp::Reverse(p.len()));
        let names = (!patterns.is_empty()).then(|| {
            Regex::new(&format!(r"(?i)\b(?:{})\b", patterns.join("|")))
                .expect("escaped names make a valid pattern")
        });
        Redactor {
            own_emails,
            own_phones,
            names,
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let text = EMAIL.replace_all(text, |c: &regex::Captures| {
            if self.own_emails.contains(&c[0].to_lowercase()) {
                c[0].to_owned()
            } else {
                REDACTED.to_owned()
            }
        });
        let text = PHONE.replace_all(&text, |c: &regex::Captures| {
            if self.own_phones.contains(&digits(&c[0])) {
                c[0].to_owned()
            } else {
                REDACTED.to_owned()
            }
        });
        match &self.names {
            Some(names) => names.replace_all(&text, REDACTED).into_owned(),
            None => text.into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(first: &str, last: &str, email: &str, phone: &str) -> Person {
        Person {
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            email: Some(email.into()),
            phone: Some(phone.into()),
        }
    }

    fn redactor() -> Redactor {
        Redactor::new(
            &[person(
                "Martina",
                "Lutz",
                "m.lutz@example.org",
                "0162 45273506",
            )],
            &[
                person(
                    "Erika",
                    "Weber",
                    "erika.weber@example.net",
                    "+49 171 2345678",
                ),
                person("Jan", "Lutz", "jan@example.net", "0170 1111111"),
            ],
        )
    }

    #[test]
    fn other_peoples_names_mails_and_phones_are_blacked_out() {
        let r = redactor();
        assert_eq!(
            r.redact("Klage von Erika Weber (erika.weber@example.net, 0171 2345678)"),
            "Klage von [geschwärzt] ([geschwärzt], [geschwärzt])"
        );
        assert_eq!(r.redact("Anruf von Frau WEBER"), "Anruf von [geschwärzt]");
        assert_eq!(
            r.redact("Weber, Erika: Beschwerde"),
            "[geschwärzt]: Beschwerde"
        );
        assert_eq!(
            r.redact("Hinweis von fremd@example.com, +49 30 1234567"),
            "Hinweis von [geschwärzt], [geschwärzt]"
        );
    }

    #[test]
    fn the_persons_own_data_and_ordinary_text_stay() {
        let r = redactor();
        let own = "Martina Lutz, m.lutz@example.org, +49 162 45273506: Klageverfahren Az. 3 K 12/26 bis 2027-06-30 (30.06.2027)";
        assert_eq!(r.redact(own), own);
        // Jan Lutz shares her last name: "Frau Lutz" is hers; his full name is not.
        assert_eq!(
            r.redact("Frau Lutz und Jan Lutz"),
            "Frau Lutz und [geschwärzt]"
        );
        // A name inside a word is not a name.
        assert_eq!(r.redact("Weberei"), "Weberei");
    }
}
