//! `restrict`: restricts the processing of a person's data (Art. 18), or lifts it.

use super::RequestOpts;
use crate::cli::identity::IdentityArgs;
use crate::cli::render::{self, Format};
use crate::ops::Context;
use crate::ops::rights;
use anyhow::Result;
use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct RestrictArgs {
    #[arg(long)]
    email: String,
    /// Only at this tenant (default: at every tenant)
    #[arg(long)]
    tenant: Option<String>,
    /// Why the processing is restricted (Art. 18(1) a–d)
    #[arg(long, required_unless_present = "lift", conflicts_with = "lift")]
    reason: Option<String>,
    /// Lift the person's restrictions
    #[arg(long)]
    lift: bool,
    #[command(flatten)]
    request: RequestOpts,
    #[command(flatten)]
    identity: IdentityArgs,
}

pub async fn restrict(ctx: &Context, args: RestrictArgs, format: Format) -> Result<ExitCode> {
    let r = if args.lift {
        rights::lift(ctx, &args.email, args.tenant.as_deref()).await?
    } else {
        let reason = args.reason.expect("clap requires --reason without --lift");
        let identity = args.identity.resolve("restrict")?;
        let r = rights::restrict(
            ctx,
            &args.email,
            args.tenant.as_deref(),
            &reason,
            args.request.request,
            args.request.channel,
        )
        .await?;
        let ids: Vec<i64> = r.request.into_iter().collect();
        crate::ops::identity::record_identity(ctx, &ids, identity).await?;
        r
    };
    let human = match r.restriction {
        Some(id) => format!(
            "restriction {id} in force{}: the data stay, are not used, and are not erased until lifted",
            r.tenant
                .as_deref()
                .map(|t| format!(" at {t}"))
                .unwrap_or_default()
        ),
        None => format!("{} restriction(s) lifted", r.lifted),
    };
    render::report(format, &human, &r, std::slice::from_ref(&r))?;
    Ok(ExitCode::SUCCESS)
}
