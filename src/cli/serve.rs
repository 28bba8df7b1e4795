//! `serve`: the booking endpoint until Ctrl-C or SIGTERM.

use crate::http::{self, ServeConfig, TrustedProxy};
use crate::ops::Context;
use anyhow::{Context as _, Result};
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; 127.0.0.1 unless you mean to expose it (use port 0 for any free port)
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Booking and cancelling attempts per client IP and minute (0: no limit)
    #[arg(long, default_value_t = 10)]
    rate_limit: u32,
    /// A reverse proxy (address or CIDR range, e.g. 127.0.0.1 or 10.0.0.0/8) whose
    /// X-Forwarded-For is believed; repeat for several. The client is the rightmost address
    /// in X-Forwarded-For that is not a trusted proxy
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    trusted_proxies: Vec<TrustedProxy>,
    /// Old spelling of --trusted-proxy 127.0.0.1 --trusted-proxy ::1
    #[arg(long, hide = true)]
    trust_forwarded_for: bool,
    /// Seconds a client has to send a request's head (request line and headers)
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    header_timeout: u64,
    /// Seconds a client has to send a request's body once its head is in
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    body_timeout: u64,
    /// Seconds a kept-alive connection may stay open without a request
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: u64,
    /// Connections served at once; further clients wait until one closes. Keep it well
    /// below the open-files limit (ulimit -n)
    #[arg(long, value_name = "N", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,
    /// Serve tenants whose policy still lists the data-protection officer under `confirm`
    /// (for demos and tests); without it their pages and booking API answer 503
    #[arg(long)]
    allow_unconfirmed: bool,
    /// Also deliver the queued notifications every PERIOD (e.g. 30s, 5m) through the SMTP
    /// server of --smtp-url and the SMS gateway of --sms-url, as `datenwart send` does;
    /// without it, run `send` from cron
    #[arg(long, value_name = "PERIOD", value_parser = parse_period)]
    send_every: Option<Duration>,
    #[command(flatten)]
    delivery: super::send::DeliveryOpts,
}

fn parse_period(s: &str) -> Result<Duration, String> {
    let p: crate::domain::duration::RetentionPeriod = s.parse().map_err(|e| format!("{e}"))?;
    u64::try_from(p.as_seconds())
        .ok()
        .filter(|&n| n >= 1)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s}: must be at least 1s"))
}

pub async fn run(ctx: Context, args: ServeArgs) -> Result<ExitCode> {
    // A wrong SMTP or SMS setting stops `serve` before it listens.
    let delivery = match args.send_every {
        Some(every) => Some((args.delivery.resolve()?, every)),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    // The first line on stdout names the address, so scripts (and tests) can find a port 0.
    println!("listening on http://{addr}");
    std::io::stdout().flush()?;
    tracing::info!("serving {} tenants", ctx.policies.entries.len());
    let mut trusted_proxies = args.trusted_proxies;
    if args.trust_forwarded_for {
        tracing::warn!(
            "--trust-forwarded-for is deprecated: it now means --trusted-proxy 127.0.0.1 --trusted-proxy ::1"
        );
        trusted_proxies.extend(TrustedProxy::loopback());
    }
    let config = ServeConfig {
        attempts_per_minute: args.rate_limit,
        trusted_proxies,
        header_timeout: Duration::from_secs(args.header_timeout),
        body_timeout: Duration::from_secs(args.body_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        allow_unconfirmed: args.allow_unconfirmed,
        public_url: args.delivery.public_url(),
    };
    for policy in ctx.policies.iter() {
        if let Some(item) = policy
            .unconfirmed
            .iter()
            .find(|u| u.field == http::unconfirmed::DPO_FIELD)
        {
            let consequence = if args.allow_unconfirmed {
                "served anyway (--allow-unconfirmed)"
            } else {
                "its pages and booking API answer 503 until the office confirms it"
            };
            eprintln!(
                "datenwart: warning: {}:{}: tenant {}: the data-protection officer is not confirmed; {consequence}",
                policy.file, item.line, policy.tenant.slug
            );
        }
    }
    let ctx = Arc::new(ctx);
    let sender = delivery.map(|(d, every)| {
        tokio::spawn(crate::ops::send::every(
            ctx.clone(),
            d.mailer,
            d.sms,
            d.public_url,
            d.outbox,
            every,
        ))
    });
    http::serve(listener, ctx, config, http::shutdown_signal()).await?;
    if let Some(task) = sender {
        task.abort();
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
