//! `restrict`: restricts the processing of a person's data (Art. 18), or lifts it.

use super::RequestOpts;
use super::requests::LetterArgs;
use crate::cli::identity::IdentityArgs;
use crate::cli::person::PersonArgs;
use crate::cli::render::{self, Format};
use crate::cli::scope::TenantScope;
use crate::ops::Context;
use crate::ops::rights;
use anyhow::Result;
use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct RestrictArgs {
    #[command(flatten)]
    person: PersonArgs,
    #[command(flatten)]
    scope: TenantScope,
    /// Why the processing is restricted (Art. 18(1) a–d); with --lift, why it is lifted
    /// (printed in the notice to the person)
    #[arg(long, required_unless_present = "lift")]
    reason: Option<String>,
    /// Lift the person's restrictions; first writes the notice of Art. 18(3) to the person
    /// into each restriction's request folder
    #[arg(long)]
    lift: bool,
    #[command(flatten)]
    request: RequestOpts,
    #[command(flatten)]
    letter: LetterArgs,
    #[command(flatten)]
    identity: IdentityArgs,
}

pub async fn restrict(ctx: &Context, args: RestrictArgs, format: Format) -> Result<ExitCode> {
    let controllers = args.scope.controllers()?;
    let email = args.person.email(ctx).await?;
    let r = if args.lift {
        rights::lift(
            ctx,
            &email,
            &controllers,
            args.reason.as_deref(),
            &args.letter.options(),
        )
        .await?
    } else {
        let reason = args.reason.expect("clap requires --reason without --lift");
        let identity = args.identity.resolve("restrict")?;
        let r = rights::restrict(
            ctx,
            &email,
            &controllers,
            &reason,
            args.request.request,
            args.request.channel,
        )
        .await?;
        let ids: Vec<i64> = r.restrictions.iter().map(|x| x.request).collect();
        crate::ops::identity::record_identity(ctx, &ids, identity).await?;
        r
    };
    let human = if r.restrictions.is_empty() {
        let letters: Vec<String> = r.letters.iter().map(|p| p.display().to_string()).collect();
        format!(
            "{} restriction(s) lifted; notice to the person (Art. 18(3)): {}",
            r.lifted,
            letters.join(", ")
        )
    } else {
        r.restrictions
            .iter()
            .map(|x| format!(
                "restriction {} in force at {} (request {}): the data stay, are not used, and are not erased until lifted",
                x.restriction, x.tenant, x.request
            ))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let human = std::iter::once(human)
        .chain(super::to_tell_lines(&r.to_tell))
        .collect::<Vec<_>>()
        .join("\n");
    render::report(format, &human, &r, &r.restrictions)?;
    Ok(ExitCode::SUCCESS)
}
