//! `correct`: corrects fields of a person's bookings (Art. 16).

use super::RequestOpts;
use crate::cli::identity::IdentityArgs;
use crate::cli::person::PersonArgs;
use crate::cli::render::{self, Format};
use crate::cli::scope::TenantScope;
use crate::ops::Context;
use crate::ops::rights;
use anyhow::Result;
use clap::Args;
use serde::Serialize;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct CorrectArgs {
    #[command(flatten)]
    person: PersonArgs,
    #[command(flatten)]
    scope: TenantScope,
    /// field=value; fields: email, phone, first_name, last_name, address, birth_date
    #[arg(long = "set", value_name = "FIELD=VALUE", required = true)]
    sets: Vec<String>,
    #[command(flatten)]
    request: RequestOpts,
    #[command(flatten)]
    identity: IdentityArgs,
}

pub async fn correct(ctx: &Context, args: CorrectArgs, format: Format) -> Result<ExitCode> {
    let identity = args.identity.resolve("correct")?;
    let email = args.person.email(ctx).await?;
    let r = rights::correct(
        ctx,
        &email,
        &args.scope.controllers()?,
        &args.sets,
        args.request.request,
        args.request.channel,
    )
    .await?;
    let ids: Vec<i64> = r.requests.iter().map(|(_, id)| *id).collect();
    crate::ops::identity::record_identity(ctx, &ids, identity).await?;
    let human = r
        .bookings
        .iter()
        .map(|(t, n)| format!("{t}: {} corrected in {n} booking(s)", r.fields.join(", ")))
        .chain(super::to_tell_lines(&r.to_tell))
        .collect::<Vec<_>>()
        .join("\n");
    #[derive(Serialize)]
    struct Row<'a> {
        tenant: &'a str,
        bookings: usize,
        fields: String,
    }
    let rows: Vec<Row> = r
        .bookings
        .iter()
        .map(|(t, n)| Row {
            tenant: t,
            bookings: *n,
            fields: r.fields.join(";"),
        })
        .collect();
    render::report(format, &human, &r, &rows)?;
    Ok(ExitCode::SUCCESS)
}
