//! `Authentication-Results` headers (RFC 8601) and what they prove about a sender.
//!
//! Anybody can write such a header into a mail; only those of the office's own receiving
//! servers count, named by their authserv-id in the tenant's policy. Among those, the
//! topmost header that reports a method wins: the receiving server adds its header on top,
//! so a copy the sender wrote below it (with the same authserv-id) is not believed. The
//! receiving server should also remove such copies, as RFC 8601 section 5 asks.
//!
//! No maintained crate parses this header on its own (mail-auth writes it, and verifies
//! DKIM/DMARC itself, which is the receiving server's job here), so the grammar is read
//! here: authserv-id, optional version, then `;`-separated `method=result` with optional
//! `reason=` and `ptype.property=value` pairs; comments in parentheses (nested, with
//! quoted pairs) anywhere; quoted strings; case-insensitive keywords.

use crate::domain::requests::IdentityCheck;

/// One `Authentication-Results` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResults {
    /// Lower case.
    pub authserv_id: String,
    pub results: Vec<AuthResult>,
}

/// One `method=result` with its properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResult {
    /// Lower case, without a method version (`dkim/1` → `dkim`).
    pub method: String,
    /// Lower case.
    pub result: String,
    /// `ptype.property` in lower case → value as written (quotes removed); `reason` too.
    pub properties: Vec<(String, String)>,
}

impl AuthResult {
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
    Slash,
}

/// Splits a header value into tokens; comments are dropped, white space separates.
fn tokens(value: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<Token>| {
        if !word.is_empty() {
            out.push(Token::Word(std::mem::take(word)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '(' => {
                flush(&mut word, &mut out);
                let mut depth = 1;
                while depth > 0 {
                    match chars.next() {
                        None => break,
                        Some('\\') => {
                            chars.next();
                        }
                        Some('(') => depth += 1,
                        Some(')') => depth -= 1,
                        Some(_) => {}
                    }
                }
            }
            '"' => {
                flush(&mut word, &mut out);
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None | Some('"') => break,
                        Some('\\') => {
                            if let Some(n) = chars.next() {
                                text.push(n);
                            }
                        }
                        Some(ch) => text.push(ch),
                    }
                }
                out.push(Token::Quoted(text));
            }
            '=' | ';' | '/' => {
                flush(&mut word, &mut out);
                out.push(match c {
                    '=' => Token::Equals,
                    ';' => Token::Semicolon,
                    _ => Token::Slash,
                });
            }
            c if c.is_whitespace() => flush(&mut word, &mut out),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut out);
    out
}

fn text(token: Option<&Token>) -> Option<String> {
    match token? {
        Token::Word(w) | Token::Quoted(w) => Some(w.clone()),
        _ => None,
    }
}

/// Parses one header value (what follows `Authentication-Results:`); `None` when it has
/// no authserv-id.
pub fn parse(value: &str) -> Option<AuthResults> {
    let tokens = tokens(value);
    let mut parts = tokens.split(|t| *t == Token::Semicolon);
    let head = parts.next()?;
    let authserv_id = text(head.first())?.to_ascii_lowercase();
    let mut results = Vec::new();
    for part in parts {
        if let Some(result) = resinfo(part) {
            results.push(result);
        }
    }
    Some(AuthResults {
        authserv_id,
        results,
    })
}

/// `method[/version] = result [reason=…] [ptype.property=value …]`; `None` for `none`
/// and for what does not follow the grammar.
fn resinfo(part: &[Token]) -> Option<AuthResult> {
    let mut i = 0;
    let method = match part.get(i)? {
        Token::Word(w) => w.to_ascii_lowercase(),
        _ => return None,
    };
    i += 1;
    if part.get(i) == Some(&Token::Slash) {
        i += 2;
    }
    if part.get(i) != Some(&Token::Equals) {
        return None;
    }
    let result = match part.get(i + 1)? {
        Token::Word(w) => w.to_ascii_lowercase(),
        _ => return None,
    };
    i += 2;
    let mut properties = Vec::new();
    while i + 2 < part.len() {
        let (Some(Token::Word(key)), Some(Token::Equals)) = (part.get(i), part.get(i + 1)) else {
            break;
        };
        let Some(value) = text(part.get(i + 2)) else {
            break;
        };
        properties.push((key.to_ascii_lowercase(), value));
        i += 3;
    }
    Some(AuthResult {
        method,
        result,
        properties,
    })
}

/// What the trusted servers' results say about the sender of a mail whose From address
/// is at `from_domain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderCheck {
    /// DMARC passed for the From domain, or a DKIM signature aligned with it verified.
    Proven(IdentityCheck),
    /// A trusted server says DMARC failed: possibly forged.
    DmarcFailed,
    /// Nothing a trusted server said proves the sender (no header, untrusted headers only,
    /// `none`, `temperror`, a signature of another domain …).
    Unproven,
}

/// Decides from the headers of a mail (top to bottom) what they prove; `trusted` are the
/// policy's authserv-ids in lower case.
pub fn check_sender(headers: &[AuthResults], trusted: &[String], from_domain: &str) -> SenderCheck {
    let from_domain = from_domain
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if from_domain.is_empty() {
        return SenderCheck::Unproven;
    }
    let trusted: Vec<&AuthResults> = headers
        .iter()
        .filter(|h| trusted.contains(&h.authserv_id))
        .collect();
    // The topmost trusted header that reports a method is the one that counts for it.
    let topmost = |method: &str| -> Vec<&AuthResult> {
        trusted
            .iter()
            .map(|h| {
                h.results
                    .iter()
                    .filter(|r| r.method == method)
                    .collect::<Vec<_>>()
            })
            .find(|found| !found.is_empty())
            .unwrap_or_default()
    };
    let dmarc = topmost("dmarc");
    let about_from = |r: &AuthResult| {
        r.property("header.from")
            .is_none_or(|d| same_domain(d, &from_domain))
    };
    if dmarc.iter().any(|r| about_from(r) && r.result == "fail") {
        return SenderCheck::DmarcFailed;
    }
    if dmarc.iter().any(|r| about_from(r) && r.result == "pass") {
        return SenderCheck::Proven(IdentityCheck::Dmarc);
    }
    let aligned_dkim = topmost("dkim").iter().any(|r| {
        r.result == "pass"
            && r.property("header.d")
                .map(str::to_owned)
                .or_else(|| {
                    r.property("header.i")
                        .and_then(|i| i.rsplit_once('@').map(|(_, d)| d.to_owned()))
                })
                .is_some_and(|d| aligned(&d, &from_domain))
    });
    if aligned_dkim {
        return SenderCheck::Proven(IdentityCheck::Dkim);
    }
    SenderCheck::Unproven
}

fn same_domain(a: &str, b: &str) -> bool {
    a.trim().trim_end_matches('.').eq_ignore_ascii_case(b)
}

/// Relaxed alignment as far as it can be told without the public-suffix list: the
/// signing domain is the From domain, or one is a subdomain of the other; a bare top-level
/// domain (`d=de`) never aligns.
fn aligned(signing: &str, from_domain: &str) -> bool {
    let d = signing.trim().trim_end_matches('.').to_ascii_lowercase();
    if !d.contains('.') || !from_domain.contains('.') {
        return false;
    }
    d == from_domain
        || from_domain.ends_with(&format!(".{d}"))
        || d.ends_with(&format!(".{from_domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> Vec<String> {
        vec!["mx01.kommunal-it.example".to_owned()]
    }

    fn check(values: &[&str], from: &str) -> SenderCheck {
        let headers: Vec<AuthResults> = values.iter().filter_map(|v| parse(v)).collect();
        check_sender(&headers, &trusted(), from)
    }

    #[test]
    fn a_header_is_parsed_with_comments_versions_and_properties() {
        let h = parse(
            " MX01.Kommunal-IT.example 1 (our server);\r\n\tdkim=pass (2048-bit key) header.d=Example.com header.s=sel;\r\n\
             spf = pass smtp.mailfrom=\"a@example.com\";\r\n DMARC = PASS (p=NONE (nested)) header.from=example.com",
        )
        .unwrap();
        assert_eq!(h.authserv_id, "mx01.kommunal-it.example");
        assert_eq!(h.results.len(), 3);
        assert_eq!(h.results[0].method, "dkim");
        assert_eq!(h.results[0].property("header.d"), Some("Example.com"));
        assert_eq!(h.results[0].property("header.s"), Some("sel"));
        assert_eq!(
            h.results[1].property("smtp.mailfrom"),
            Some("a@example.com")
        );
        assert_eq!(h.results[2].method, "dmarc");
        assert_eq!(h.results[2].result, "pass");
        assert_eq!(h.results[2].property("header.from"), Some("example.com"));
        assert_eq!(parse("mx.example; none").unwrap().results, Vec::new());
        assert_eq!(parse("  (only a comment)"), None);
        let v = parse("mx.example; dkim/1=pass header.d=x.de").unwrap();
        assert_eq!(v.results[0].method, "dkim");
    }

    #[test]
    fn dmarc_pass_counts_only_from_a_trusted_server_and_for_the_from_domain() {
        let pass = "mx01.kommunal-it.example; dmarc=pass header.from=example.com";
        assert_eq!(
            check(&[pass], "example.com"),
            SenderCheck::Proven(IdentityCheck::Dmarc)
        );
        assert_eq!(
            check(
                &["evil.example; dmarc=pass header.from=example.com"],
                "example.com"
            ),
            SenderCheck::Unproven
        );
        assert_eq!(check(&[pass], "example.net"), SenderCheck::Unproven);
        assert_eq!(check(&[], "example.com"), SenderCheck::Unproven);
        // The authserv-id inside a comment or as a property is not the authserv-id.
        assert_eq!(
            check(
                &["(mx01.kommunal-it.example) evil.example; dmarc=pass"],
                "example.com"
            ),
            SenderCheck::Unproven
        );
        assert_eq!(
            check(
                &["mx01.kommunal-it.example; dmarc=fail (p=reject) header.from=example.com"],
                "example.com"
            ),
            SenderCheck::DmarcFailed
        );
        assert_eq!(
            check(&["mx01.kommunal-it.example; dmarc=none"], "example.com"),
            SenderCheck::Unproven
        );
    }

    #[test]
    fn the_topmost_trusted_header_wins_over_a_copy_the_sender_wrote_below() {
        assert_eq!(
            check(
                &[
                    "mx01.kommunal-it.example; dmarc=fail header.from=example.com",
                    "mx01.kommunal-it.example; dmarc=pass header.from=example.com",
                ],
                "example.com"
            ),
            SenderCheck::DmarcFailed
        );
    }

    #[test]
    fn an_aligned_dkim_signature_proves_the_sender() {
        let dkim = |d: &str| format!("mx01.kommunal-it.example; dkim=pass header.d={d}");
        assert_eq!(
            check(&[&dkim("example.com")], "example.com"),
            SenderCheck::Proven(IdentityCheck::Dkim)
        );
        assert_eq!(
            check(&[&dkim("example.com")], "mail.example.com"),
            SenderCheck::Proven(IdentityCheck::Dkim)
        );
        assert_eq!(
            check(&[&dkim("mail.example.com")], "example.com"),
            SenderCheck::Proven(IdentityCheck::Dkim)
        );
        assert_eq!(
            check(&[&dkim("other.example")], "example.com"),
            SenderCheck::Unproven
        );
        assert_eq!(check(&[&dkim("com")], "example.com"), SenderCheck::Unproven);
        assert_eq!(
            check(&[&dkim("ample.com")], "example.com"),
            SenderCheck::Unproven
        );
        assert_eq!(
            check(
                &["mx01.kommunal-it.example; dkim=fail header.d=example.com"],
                "example.com"
            ),
            SenderCheck::Unproven
        );
    }
}
