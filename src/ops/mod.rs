//! Use cases shared by the CLI and the HTTP endpoint. Each returns a report struct; the
//! caller renders it.

pub mod audit;
pub mod booking;
pub mod breach;
pub mod closed_days;
pub mod csv_input;
pub mod demo;
pub mod export;
pub mod group_commit;
pub mod holder;
pub mod identity;
pub mod imap_import;
pub mod letters;
pub mod outbox;
pub mod policies;
mod private_files;
pub mod report;
pub mod requests;
pub mod retention;
pub mod rights;
pub mod seeding;
pub mod send;
pub mod withdrawals;

use crate::store::{AuditContext, Store};
use policies::PolicySet;
use std::sync::Arc;

/// Why an operation refused to act; the CLI turns each into its exit code.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Bad input or usage: exit 2. The message names the file, line, field or value.
    #[error("{0}")]
    InvalidInput(String),
    /// A subject that must exist does not: exit 3.
    #[error("{0}")]
    NotFound(String),
    /// A check found a problem: exit 1.
    #[error("{0}")]
    CheckFailed(String),
}

/// What every operation works with.
pub struct Context {
    pub store: Arc<dyn Store>,
    pub policies: Arc<PolicySet>,
    /// Who acts, for the audit trail (`cli:<user>` or `DATENWART_ACTOR`).
    pub actor: String,
}

impl Context {
    /// The audit context of one command: one actor, one instant.
    pub fn audit(&self) -> AuditContext {
        AuditContext {
            actor: self.actor.clone(),
            at: crate::domain::time::now(),
        }
    }
}

/// Creates or upgrades the schema; the store makes the pseudonym key on first run.
pub async fn migrate(ctx: &Context) -> anyhow::Result<crate::store::MigrationReport> {
    let report = ctx.store.migrate(&ctx.audit()).await?;
    demo::build_left_indexes(ctx).await?;
    Ok(report)
}
