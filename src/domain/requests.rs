//! The vocabulary of the request register: kinds, channels and outcomes of data-subject
//! requests, as the DPO types them and the register stores them.

use std::fmt;
use std::str::FromStr;

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;

            /// Accepts the stored spelling, and `-` for `_` as people type it.
            fn from_str(s: &str) -> Result<Self, String> {
                let wanted = s.trim().to_lowercase().replace('-', "_");
                Self::ALL.iter().copied().find(|v| v.as_str() == wanted).ok_or_else(|| {
                    let all: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    format!("\"{}\" is not one of {}", s.trim(), all.join(", "))
                })
            }
        }
    };
}

vocabulary!(
    /// What the person asks for (Art. 15–21, Art. 7(3)).
    RequestKind {
        Access => "access",
        Erasure => "erasure",
        Rectification => "rectification",
        Restriction => "restriction",
        Objection => "objection",
        Portability => "portability",
        Withdrawal => "withdrawal",
    }
);

vocabulary!(
    /// How the request arrived.
    Channel {
        Email => "email",
        Letter => "letter",
        Phone => "phone",
        InPerson => "in_person",
        Web => "web",
    }
);

vocabulary!(
    /// How a request was closed.
    Outcome {
        Answered => "answered",
        NoData => "no_data",
        Erased => "erased",
        ErasedPartly => "erased_partly",
        Rectified => "rectified",
        Restricted => "restricted",
        Rejected => "rejected",
        WithdrawnBySubject => "withdrawn_by_subject",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_channels_and_outcomes_parse_as_people_type_them() {
        assert_eq!("Access".parse::<RequestKind>(), Ok(RequestKind::Access));
        assert_eq!("in-person".parse::<Channel>(), Ok(Channel::InPerson));
        assert_eq!("no_data".parse::<Outcome>(), Ok(Outcome::NoData));
        let e = "auskunft".parse::<RequestKind>().unwrap_err();
        assert!(
            e.contains("\"auskunft\" is not one of access, erasure"),
            "{e}"
        );
    }
}
