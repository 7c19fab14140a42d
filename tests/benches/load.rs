//! C6: the whole local chain (gateway → authorizer → whoami) under 32
//! concurrent clients for 60 s (`COG_LOAD_SECONDS` to change it), with
//! every request authorized (result cache off): throughput, p50/p99, errors,
//! and the authorizer's RSS at the start and the end of the run.
//!
//! Baseline, same run, same clients: requests without a credential, which
//! the gateway refuses itself (401) without invoking the authorizer, so the
//! ratio is the cost the authorizer and whoami add to the gateway's own.
//! Run by `make bench` (release binaries, private stack).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a bench binary reports on stdout

use std::sync::Arc;
use std::time::{Duration, Instant};

use cog_integration_tests::chain::{Chain, ChainConfig};
use cog_integration_tests::Stack;

const CLIENTS: usize = 32;

struct Run {
    requests: usize,
    errors: usize,
    seconds: f64,
    latencies: Vec<Duration>,
}

impl Run {
    fn percentile(&self, p: f64) -> Duration {
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[index]
    }
}

/// `CLIENTS` tasks calling `path` until `duration` has passed; an answer
/// other than `expected` is an error.
async fn drive(chain: &Arc<Chain>, bearer: Option<&str>, expected: u16, duration: Duration) -> Run {
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let chain = Arc::clone(chain);
        let header = bearer.map(|token| format!("Bearer {token}"));
        clients.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            while started.elapsed() < duration {
                let headers: Vec<(&str, &str)> = header
                    .iter()
                    .map(|h| ("authorization", h.as_str()))
                    .collect();
                let sent = Instant::now();
                let answer = chain.call("GET", "/v1/whoami", &headers, "").await;
                latencies.push(sent.elapsed());
                errors += usize::from(answer.status != expected);
            }
            (latencies, errors)
        });
    }
    let mut run = Run {
        requests: 0,
        errors: 0,
        seconds: 0.0,
        latencies: Vec::new(),
    };
    while let Some(done) = clients.join_next().await {
        let (latencies, errors) = done.unwrap();
        run.errors += errors;
        run.latencies.extend(latencies);
    }
    run.seconds = started.elapsed().as_secs_f64();
    run.requests = run.latencies.len();
    run.latencies.sort();
    run
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn row(name: &str, run: &Run) -> String {
    format!(
        "| {name} | {} | {:.0} | {:.2} | {:.2} | {} |",
        run.requests,
        run.requests as f64 / run.seconds,
        run.percentile(0.50).as_secs_f64() * 1e3,
        run.percentile(0.99).as_secs_f64() * 1e3,
        run.errors
    )
}

fn main() {
    if std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_err() {
        println!("load: skipped, no local stack in the environment (run `make bench`)");
        return;
    }
    let seconds: u64 = std::env::var("COG_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let duration = Duration::from_secs(seconds);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let stack = Stack::connect().await;
        let (store, _key) = stack.seeded(&["loader"]).await;
        let chain = Arc::new(Chain::start(&ChainConfig {
            table: store.table().to_owned(),
            parameters: vec![("AuthorizerResultTtl".into(), "0".into())],
            log_level: Some("warn".into()),
            ..ChainConfig::default()
        }));
        let cookie = chain.sign_in("loader").await;
        let created = chain.create_token(&cookie, r#"["tokens:read"]"#).await.json();
        let token = created["token"].as_str().unwrap().to_owned();
        // Warm every process and connection before measuring.
        drive(&chain, Some(&token), 200, Duration::from_secs(2)).await;
        drive(&chain, None, 401, Duration::from_secs(1)).await;

        let authorizer = chain.pid("authorizer").unwrap();
        let rss_start = rss_kib(authorizer);
        let baseline = drive(&chain, None, 401, duration).await;
        let load = drive(&chain, Some(&token), 200, duration).await;
        let rss_end = rss_kib(authorizer);

        println!("## Load: gateway → authorizer → whoami, {CLIENTS} clients, {seconds} s each, result cache off");
        println!();
        println!("| requests | count | per second | p50 ms | p99 ms | errors |");
        println!("| --- | --- | --- | --- | --- | --- |");
        println!("{}", row("baseline: no credential, refused by the gateway", &baseline));
        println!("{}", row("`GET /v1/whoami` with a PAT", &load));
        println!();
        println!(
            "p50 × baseline: {:.2}; throughput × baseline: {:.2}; authorizer RSS {} KiB → {} KiB ({:.2}×)",
            load.percentile(0.5).as_secs_f64() / baseline.percentile(0.5).as_secs_f64(),
            (load.requests as f64 / load.seconds) / (baseline.requests as f64 / baseline.seconds),
            rss_start,
            rss_end,
            rss_end as f64 / rss_start as f64
        );
        assert_eq!(load.errors + baseline.errors, 0, "errors under load");
    });
}
