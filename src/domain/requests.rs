//! The vocabulary of the request register: kinds, channels and outcomes of data-subject
//! requests, as the DPO types them and the register stores them.

use std::fmt;
use std::str::FromStr;

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal / $german:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// How it is stored and typed.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// How a letter to the person says it.
            pub fn german(self) -> &'static str {
                match self { $($name::$variant => $german),+ }
            }
        }

        /// Compares with the stored spelling (`kind == "access"`).
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
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
        Access => "access" / "Auskunft (Art. 15 DSGVO)",
        Erasure => "erasure" / "Löschung (Art. 17 DSGVO)",
        Rectification => "rectification" / "Berichtigung (Art. 16 DSGVO)",
        Restriction => "restriction" / "Einschränkung der Verarbeitung (Art. 18 DSGVO)",
        Objection => "objection" / "Widerspruch (Art. 21 DSGVO)",
        Portability => "portability" / "Datenübertragung (Art. 20 DSGVO)",
        Withdrawal => "withdrawal" / "Widerruf einer Einwilligung (Art. 7 Abs. 3 DSGVO)",
    }
);

vocabulary!(
    /// How the request arrived.
    Channel {
        Email => "email" / "per E-Mail",
        Letter => "letter" / "per Brief",
        Phone => "phone" / "telefonisch",
        InPerson => "in_person" / "persönlich",
        Web => "web" / "über das Internet",
    }
);

vocabulary!(
    /// How a request was closed.
    Outcome {
        Answered => "answered" / "beantwortet",
        NoData => "no_data" / "beantwortet: keine Daten vorhanden",
        Erased => "erased" / "Daten gelöscht",
        ErasedPartly => "erased_partly" / "Daten teilweise gelöscht",
        Rectified => "rectified" / "Daten berichtigt",
        Restricted => "restricted" / "Verarbeitung eingeschränkt",
        Rejected => "rejected" / "abgelehnt",
        WithdrawnBySubject => "withdrawn_by_subject" / "von Ihnen zurückgenommen",
        Granted => "granted" / "stattgegeben",
        Unfounded => "unfounded" / "abgelehnt: offenkundig unbegründet (Art. 12 Abs. 5 DSGVO)",
        Excessive => "excessive" / "abgelehnt: exzessiv (Art. 12 Abs. 5 DSGVO)",
    }
);

vocabulary!(
    /// Whether a request is being worked on.
    RequestStatus {
        Open => "open" / "in Bearbeitung",
        Closed => "closed" / "erledigt",
    }
);

vocabulary!(
    /// The one outcome a message of the office mailbox gets.
    InboxOutcome {
        Withdrawn => "withdrawn" / "Widerruf der Einwilligung ausgeführt",
        SmsWithdrawn => "sms_withdrawn" / "Widerruf der SMS-Erinnerung ausgeführt",
        AccessRequest => "access_request" / "als Auskunftsantrag erfasst",
        ErasureRequest => "erasure_request" / "als Löschantrag erfasst",
        ObjectionRequest => "objection_request" / "als Widerspruch erfasst",
        Unmatched => "unmatched" / "keiner Buchung zuzuordnen",
        Review => "review" / "zur Prüfung durch die Verwaltung",
        NotAddressed => "not_addressed" / "nicht an eine Widerrufsadresse gerichtet",
        NotARequest => "not_a_request" / "kein Antrag nach der DSGVO (allgemeine Bearbeitung)",
        Duplicate => "duplicate" / "doppelt eingegangen",
        Unreadable => "unreadable" / "nicht lesbar",
        ConfirmationRequested => "confirmation_requested" / "Bestätigung beim Absender angefragt",
        Unconfirmed => "unconfirmed" / "nicht bestätigt (abgelaufen)",
    }
);

vocabulary!(
    /// How the identity of the person behind a request was established (Art. 12(6)): the
    /// kind of check, never the proof itself.
    IdentityCheck {
        Dmarc => "dmarc" / "E-Mail-Absender durch DMARC bestätigt",
        Dkim => "dkim" / "E-Mail-Absender durch DKIM-Signatur bestätigt",
        ConfirmedByMail => "confirmed_by_mail" / "per E-Mail mit Bestätigungscode bestätigt",
        ConfirmedByLink => "confirmed_by_link" / "über den Bestätigungslink bestätigt",
        InPerson => "in_person" / "persönlich vorgesprochen",
        IdDocument => "id_document" / "Ausweisdokument vorgelegt",
        Letter => "letter" / "per Brief an die bekannte Anschrift",
        PhoneCallback => "phone_callback" / "Rückruf unter der bekannten Rufnummer",
    }
);

impl Outcome {
    /// An erasure's outcome: `erased`, or `erased_partly` when a hold or a restriction
    /// kept some of the person's data.
    pub fn of_erasure(nothing_kept: bool) -> Outcome {
        if nothing_kept {
            Outcome::Erased
        } else {
            Outcome::ErasedPartly
        }
    }
}

impl InboxOutcome {
    /// What a human may decide a message is (`withdrawals resolve --as`).
    pub const DECISIONS: &'static [InboxOutcome] = &[
        InboxOutcome::Withdrawn,
        InboxOutcome::SmsWithdrawn,
        InboxOutcome::AccessRequest,
        InboxOutcome::ErasureRequest,
        InboxOutcome::ObjectionRequest,
        InboxOutcome::NotARequest,
    ];

    /// Outcomes that wait for a human (`withdrawals review`).
    pub const NEEDS_A_HUMAN: &'static [InboxOutcome] = &[
        InboxOutcome::Review,
        InboxOutcome::Unmatched,
        InboxOutcome::Unreadable,
    ];

    /// Whether the intake acted on the message and answers it.
    pub fn is_applied(self) -> bool {
        matches!(
            self,
            InboxOutcome::Withdrawn
                | InboxOutcome::SmsWithdrawn
                | InboxOutcome::AccessRequest
                | InboxOutcome::ErasureRequest
                | InboxOutcome::ObjectionRequest
        )
    }
}

impl Outcome {
    /// Outcomes that refuse to act (Art. 12(4), 12(5)): they need reasons, and the letter
    /// names the supervisory authority and the court.
    pub fn is_refusal(self) -> bool {
        matches!(
            self,
            Outcome::Rejected | Outcome::Unfounded | Outcome::Excessive
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_channels_and_outcomes_parse_as_people_type_them() {
        assert_eq!("Access".parse::<RequestKind>(), Ok(RequestKind::Access));
        assert_eq!("in-person".parse::<Channel>(), Ok(Channel::InPerson));
        assert_eq!("no_data".parse::<Outcome>(), Ok(Outcome::NoData));
        assert_eq!(
            "phone-callback".parse::<IdentityCheck>(),
            Ok(IdentityCheck::PhoneCallback)
        );
        let e = "auskunft".parse::<RequestKind>().unwrap_err();
        assert!(
            e.contains("\"auskunft\" is not one of access, erasure"),
            "{e}"
        );
    }
}
