//! `restrict`: restricts the processing of a person's data (Art. 18), or lifts it.

use super::RequestOpts;
use super::requests::LetterArgs;
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
}

pub async fn restrict(ctx: &Context, args: RestrictArgs, format: Format) -> Result<ExitCode> {
    let r = if args.lift {
        rights::lift(
            ctx,
            &args.email,
            args.tenant.as_deref(),
            args.reason.as_deref(),
            &args.letter.options(),
        )
        .await?
    } else {
        let reason = args.reason.expect("clap requires --reason without --lift");
        rights::restrict(
            ctx,
            &args.email,
            args.tenant.as_deref(),
            &reason,
            args.request.request,
            args.request.channel,
        )
        .await?
    };
    let human = match r.restriction {
        Some(id) => format!(
            "restriction {id} in force{}: the data stay, are not used, and are not erased until lifted",
            r.tenant
                .as_deref()
                .map(|t| format!(" at {t}"))
                .unwrap_or_default()
        ),
        None => {
            let letters: Vec<String> = r.letters.iter().map(|p| p.display().to_string()).collect();
            format!(
                "{} restriction(s) lifted; notice to the person (Art. 18(3)): {}",
                r.lifted,
                letters.join(", ")
            )
        }
    };
    let human = std::iter::once(human)
        .chain(super::to_tell_lines(&r.to_tell))
        .collect::<Vec<_>>()
        .join("\n");
    render::report(format, &human, &r, std::slice::from_ref(&r))?;
    Ok(ExitCode::SUCCESS)
}
