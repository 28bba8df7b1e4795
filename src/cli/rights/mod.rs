//! The DPO's commands on one person: `subject find`, `erase`, `correct`, `restrict`,
//! `hold`, and the request register `requests`.

mod correct;
mod erase;
mod hold;
mod requests;
mod restrict;
mod subject;

pub use correct::{CorrectArgs, correct};
pub use erase::{EraseArgs, erase};
pub use hold::{HoldCmd, hold};
pub use requests::{RequestsCmd, requests};
pub use restrict::{RestrictArgs, restrict};
pub use subject::{SubjectCmd, subject};

use crate::domain::requests::Channel;
use clap::Args;

/// Options every command that answers a request shares.
#[derive(Debug, Args)]
pub struct RequestOpts {
    /// The register entry this answers (default: the person's open one, or a new one)
    #[arg(long)]
    pub(super) request: Option<i64>,
    /// How the request arrived, when a new register entry is made
    #[arg(long, default_value = "email", value_parser = parse_channel)]
    pub(super) channel: Channel,
}

fn parse_channel(s: &str) -> Result<Channel, String> {
    s.parse()
}
