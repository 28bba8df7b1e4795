//! `--tenant T | --all-tenants`: which controllers a rights command acts for. Each tenant is
//! a controller of its own, so the commands on one person (`export`, `erase`, `correct`,
//! `restrict`) name one, or say explicitly that they act for every tenant.

use crate::ops::Refusal;
use crate::ops::rights::Controllers;
use clap::Args;

/// Flattened into the rights commands; exactly one of the two must be given.
#[derive(Debug, Args)]
pub struct TenantScope {
    /// The controller (tenant) this is done for
    #[arg(long, value_name = "T", conflicts_with = "all_tenants")]
    pub tenant: Option<String>,
    /// For every tenant where the person appears, one request each (the operator's case)
    #[arg(long)]
    pub all_tenants: bool,
}

impl TenantScope {
    /// The controllers named; neither flag is a usage error (exit 2, nothing done).
    pub fn controllers(&self) -> Result<Controllers, Refusal> {
        match (&self.tenant, self.all_tenants) {
            (Some(t), false) => Ok(Controllers::One(t.clone())),
            (None, true) => Ok(Controllers::All),
            (Some(_), true) => Err(Refusal::InvalidInput(
                "--tenant and --all-tenants: give one of them, not both".into(),
            )),
            (None, false) => Err(Refusal::InvalidInput(
                "give --tenant T (one controller) or --all-tenants (every tenant where the person appears)".into(),
            )),
        }
    }
}
