//! `--email | --phone | --subject HANDLE`: how a command names the person it acts on.
//! Flattened into every command on one person; the handle is the one `subject find` shows.

use crate::domain::subject::parse_handle;
use crate::ops::rights::{self, Person};
use crate::ops::{Context, Refusal};
use anyhow::Result;
use clap::Args;

/// One of the three, checked when the command runs (`erase --replay` needs none).
#[derive(Debug, Args)]
#[group(id = "person", multiple = false)]
pub struct PersonArgs {
    /// The person's e-mail address (compared case-insensitively)
    #[arg(long)]
    pub email: Option<String>,
    /// The person's phone number as stored with their bookings (+49 …, 0171 …)
    #[arg(long)]
    pub phone: Option<String>,
    /// The person's handle as `subject find` shows it: the first 8 or more characters of
    /// the subject reference
    #[arg(long, value_name = "HANDLE", value_parser = parse_handle)]
    pub subject: Option<String>,
}

impl PersonArgs {
    /// The person named; none is a usage error (exit 2).
    pub fn person(&self) -> Result<Person, Refusal> {
        match (&self.email, &self.phone, &self.subject) {
            (Some(e), _, _) => Ok(Person::Email(e.clone())),
            (_, Some(p), _) => Ok(Person::Phone(p.clone())),
            (_, _, Some(h)) => Ok(Person::Handle(h.clone())),
            _ => Err(Refusal::InvalidInput(
                "name the person: --email ADDRESS, --phone NUMBER or --subject HANDLE (from `datenwart subject find`)".into(),
            )),
        }
    }

    /// The person's e-mail address, looked up for a phone number or handle (exit 3 when
    /// nobody or nobody with an address is found, 2 when a handle fits several persons).
    pub async fn email(&self, ctx: &Context) -> Result<String> {
        rights::person_email(ctx, &self.person()?).await
    }
}
