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

/// The lines that tell the DPO whom to inform of a change (Art. 19), one per request.
pub(crate) fn to_tell_lines(notices: &[crate::store::RecipientNotice]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut requests: Vec<i64> = notices.iter().map(|n| n.request_id).collect();
    requests.dedup();
    for id in requests {
        let names: Vec<&str> = notices
            .iter()
            .filter(|n| n.request_id == id)
            .map(|n| n.recipient.as_str())
            .collect();
        out.push(format!(
            "request {id}: {} recipient(s) to tell (Art. 19): {}; when done: datenwart requests told {id} --recipient NAME",
            names.len(),
            names.join("; ")
        ));
    }
    out
}
