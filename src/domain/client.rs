//! What the access log keeps of a client instead of its raw user agent: browser, browser
//! version and operating system, and the first language it accepts. The endpoint reads them
//! from the request headers, the demo draws them from its table of browsers.

/// Browser, its version and the operating system, each left out when unknown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserAgent {
    pub browser: Option<String>,
    pub version: Option<String>,
    pub os: Option<String>,
}

impl UserAgent {
    /// Reads a `User-Agent` header; the operating system's version is appended to its name.
    pub fn parse(user_agent: &str) -> Self {
        let known =
            |s: &str| (!s.is_empty() && s != woothee::woothee::VALUE_UNKNOWN).then(|| s.to_owned());
        match woothee::parser::Parser::new().parse(user_agent) {
            Some(r) => {
                let os = known(r.os).map(|os| match known(&r.os_version) {
                    Some(v) => format!("{os} {v}"),
                    None => os,
                });
                Self {
                    browser: known(r.name),
                    version: known(r.version),
                    os,
                }
            }
            None => Self::default(),
        }
    }
}

/// The first language of an `Accept-Language` header, without its weight, at most 35
/// characters (the longest language tags registered).
pub fn first_language(accept_language: &str) -> Option<String> {
    accept_language
        .split(',')
        .next()
        .map(|l| {
            l.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .chars()
                .take(35)
                .collect::<String>()
        })
        .filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_user_agent_gives_nothing_and_the_language_loses_its_weight() {
        assert_eq!(UserAgent::parse("curl-ish/0"), UserAgent::default());
        assert_eq!(first_language("en;q=0.8, de").as_deref(), Some("en"));
        assert_eq!(first_language(" "), None);
    }
}
