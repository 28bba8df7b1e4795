//! Load client for `bench/booking.sh`: books N appointments through a running `datenwart serve`
//! with C concurrent clients and reports bookings per second and latency. Not a test.
//!
//! ```sh
//! cargo run --release --example booking_load -- --url http://127.0.0.1:8080 --bookings 5000 --clients 8
//! ```
//!
//! Each client is one task with its own keep-alive connection; booking `i` goes to free slot
//! `i mod (number of free slots)`, so concurrent clients book different slots as citizens
//! usually do. Prints one Markdown table row on stdout and a summary on stderr.

use clap::Parser;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Base URL of the endpoint, e.g. http://127.0.0.1:8080 (only 127.0.0.1 is accepted);
    /// given more than once (several `serve` processes on one database), the clients take
    /// turns: client k talks to URL k mod n.
    #[arg(long, required = true)]
    url: Vec<String>,
    #[arg(long, default_value = "recklinghausen")]
    tenant: String,
    #[arg(long, default_value = "PA")]
    service: String,
    /// Bookings to make (measured)
    #[arg(long, default_value_t = 5000)]
    bookings: usize,
    /// Concurrent clients
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Unmeasured bookings first (connections, caches)
    #[arg(long, default_value_t = 100)]
    warmup: usize,
    /// Stop starting new bookings after this many seconds
    #[arg(long, default_value_t = 300)]
    max_seconds: u64,
    /// First column of the table row (the backend)
    #[arg(long, default_value = "")]
    label: String,
}

struct Outcome {
    latencies: Vec<Duration>,
    statuses: BTreeMap<String, usize>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if let Some(u) = args
        .url
        .iter()
        .find(|u| !u.starts_with("http://127.0.0.1:"))
    {
        return Err(format!("the load client only talks to http://127.0.0.1:PORT, not {u}").into());
    }
    // reqwest is built without a crypto provider of its own (datenwart's TLS uses ring); the
    // client needs one installed even for plain http.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let slots: Vec<i64> = client
        .get(format!(
            "{}/api/v1/tenants/{}/slots?service={}",
            args.url[0], args.tenant, args.service
        ))
        .send()
        .await?
        .error_for_status()?
        .json::<Vec<Value>>()
        .await?
        .iter()
        .filter_map(|s| s["id"].as_i64())
        .collect();
    if slots.is_empty() {
        return Err("no free slots; generate some first".into());
    }
    let slots = Arc::new(slots);

    let warm = run(&args, &slots, 0, args.warmup, Duration::from_secs(60)).await;
    let started = Instant::now();
    let out = run(
        &args,
        &slots,
        args.warmup,
        args.bookings,
        Duration::from_secs(args.max_seconds),
    )
    .await;
    let elapsed = started.elapsed();

    let mut lat = out.latencies;
    if lat.is_empty() {
        return Err("no booking was attempted".into());
    }
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i].as_secs_f64() * 1000.0
    };
    let booked = out.statuses.get("201").copied().unwrap_or(0);
    let failed: usize = lat.len() - booked;
    let rate = booked as f64 / elapsed.as_secs_f64();
    eprintln!(
        "{} clients: {booked} bookings in {:.1} s = {rate:.0}/s; p50 {:.1} ms, p99 {:.1} ms, \
         max {:.1} ms; statuses {:?}; warm-up statuses {:?}",
        args.clients,
        elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        pct(1.0),
        out.statuses,
        warm.statuses,
    );
    println!(
        "| {} | {} | {booked} | {:.1} | {rate:.0} | {:.1} | {:.1} | {failed} |",
        args.label,
        args.clients,
        elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
    );
    if failed > 0 || warm.statuses.keys().any(|s| s != "201") {
        return Err("some bookings failed; these figures do not count".into());
    }
    Ok(())
}

/// Bookings `first..first + count` with `args.clients` concurrent clients.
async fn run(
    args: &Args,
    slots: &Arc<Vec<i64>>,
    first: usize,
    count: usize,
    budget: Duration,
) -> Outcome {
    let next = Arc::new(AtomicUsize::new(first));
    let deadline = Instant::now() + budget;
    let mut workers = tokio::task::JoinSet::new();
    for k in 0..args.clients {
        let url = format!(
            "{}/api/v1/tenants/{}/bookings",
            args.url[k % args.url.len()],
            args.tenant
        );
        let (next, slots) = (next.clone(), slots.clone());
        workers.spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("HTTP client");
            let mut out = Outcome {
                latencies: Vec::new(),
                statuses: BTreeMap::new(),
            };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= first + count || Instant::now() >= deadline {
                    return out;
                }
                let body = json!({
                    "slot_id": slots[i % slots.len()],
                    "first_name": "Erika",
                    "last_name": "Mustermann",
                    "email": format!("bench{i}@example.com"),
                    "phone": "0171 1234567",
                    "consent": true,
                });
                let t = Instant::now();
                let status = match client.post(&url).json(&body).send().await {
                    Ok(r) => {
                        let status = r.status();
                        // Read the body: a booking is done when the client has the code.
                        let body = r.text().await.unwrap_or_default();
                        if status != reqwest::StatusCode::CREATED
                            && !out.statuses.contains_key(status.as_str())
                        {
                            eprintln!("booking {i}: {status} {body}");
                        }
                        status.as_str().to_owned()
                    }
                    Err(e) if e.is_timeout() => "timeout".to_owned(),
                    Err(_) => "transport error".to_owned(),
                };
                out.latencies.push(t.elapsed());
                *out.statuses.entry(status).or_default() += 1;
            }
        });
    }
    let mut all = Outcome {
        latencies: Vec::with_capacity(count),
        statuses: BTreeMap::new(),
    };
    while let Some(done) = workers.join_next().await {
        let out = done.expect("client task");
        all.latencies.extend(out.latencies);
        for (k, v) in out.statuses {
            *all.statuses.entry(k).or_default() += v;
        }
    }
    all
}
