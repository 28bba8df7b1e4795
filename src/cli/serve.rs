//! `serve`: the booking endpoint until Ctrl-C or SIGTERM.

use crate::http::{self, ServeConfig};
use crate::ops::Context;
use anyhow::{Context as _, Result};
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; 127.0.0.1 unless you mean to expose it (use port 0 for any free port)
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Booking and cancelling attempts per client IP and minute (0: no limit)
    #[arg(long, default_value_t = 10)]
    rate_limit: u32,
    /// Take the client IP from X-Forwarded-For (only behind your own reverse proxy)
    #[arg(long)]
    trust_forwarded_for: bool,
}

pub async fn run(ctx: Context, args: ServeArgs) -> Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    // The first line on stdout names the address, so scripts (and tests) can find a port 0.
    println!("listening on http://{addr}");
    std::io::stdout().flush()?;
    tracing::info!("serving {} tenants", ctx.policies.entries.len());
    let config = ServeConfig {
        attempts_per_minute: args.rate_limit,
        trust_forwarded_for: args.trust_forwarded_for,
    };
    http::serve(listener, Arc::new(ctx), config, http::shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
