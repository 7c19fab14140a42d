//! Revocation latency through the local gateway: how long a revoked token
//! keeps working after `DELETE /v1/tokens/{id}` returns, with the gateway's
//! cache off and with a cache TTL but no invalidator for comparison (the
//! invalidated cache is `cache_load`'s), plus
//! what each setting costs per request (cached vs uncached authorizer).
//!
//! Run by `make bench` (private stack, release binaries); alone: start the
//! stack, `source .local/stack.env`, `cargo build --release --workspace --bins`,
//! then `cargo bench -p cog-integration-tests --bench revocation`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a bench binary reports on stdout

use std::time::{Duration, Instant};

use cog_integration_tests::chain::{Chain, ChainConfig};
use cog_integration_tests::Stack;

const TRIALS: usize = 20;
const LATENCY_SAMPLES: usize = 300;
/// The comparison TTL; short so the run stays short.
const CACHED_TTL_SECONDS: u64 = 5;

#[derive(Debug, Default)]
struct Trial {
    /// Requests answered 200 after the DELETE returned.
    served_after_revoke: usize,
    /// From the DELETE returning to the last such 200 (zero if none).
    window: Duration,
    /// From the DELETE returning to the first 401.
    refused_after: Duration,
}

async fn create(chain: &Chain, cookie: &str) -> String {
    let answer = chain.create_token(cookie, r#"["tokens:read"]"#).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.json()["token"].as_str().unwrap().to_owned()
}

async fn whoami(chain: &Chain, token: &str) -> u16 {
    chain.with_token("GET", "/v1/whoami", token).await.status
}

async fn trial(chain: &Chain, cookie: &str, give_up: Duration) -> Trial {
    let token = create(chain, cookie).await;
    assert_eq!(
        whoami(chain, &token).await,
        200,
        "a fresh token works (and is cached, if caching is on)"
    );
    let path = format!("/v1/tokens/{}", &token[4..20]);
    let deleted = chain.call("DELETE", &path, &[("cookie", cookie)], "").await;
    assert_eq!(deleted.status, 204);
    let returned = Instant::now();
    let mut trial = Trial::default();
    loop {
        match whoami(chain, &token).await {
            200 => {
                trial.served_after_revoke += 1;
                trial.window = returned.elapsed();
            }
            401 => {
                trial.refused_after = returned.elapsed();
                return trial;
            }
            other => panic!("unexpected {other}"),
        }
        assert!(
            returned.elapsed() < give_up,
            "still served after {give_up:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

async fn per_request_latency(chain: &Chain, cookie: &str) -> Duration {
    let token = create(chain, cookie).await;
    for _ in 0..20 {
        whoami(chain, &token).await;
    }
    let mut samples = Vec::with_capacity(LATENCY_SAMPLES);
    for _ in 0..LATENCY_SAMPLES {
        let started = Instant::now();
        assert_eq!(whoami(chain, &token).await, 200);
        samples.push(started.elapsed());
    }
    median(samples)
}

struct Setting {
    label: String,
    trials: Vec<Trial>,
    latency: Duration,
}

async fn measure(
    label: &str,
    parameters: Vec<(String, String)>,
    trials: usize,
    give_up: Duration,
) -> Setting {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["bench-user"]).await;
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        parameters,
        ..ChainConfig::default()
    });
    let cookie = chain.sign_in("bench-user").await;
    let mut results = Vec::new();
    for _ in 0..trials {
        results.push(trial(&chain, &cookie, give_up).await);
    }
    let latency = per_request_latency(&chain, &cookie).await;
    Setting {
        label: label.to_owned(),
        trials: results,
        latency,
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    if std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_err() {
        println!("revocation: skipped (no local stack; `make bench` starts one)");
        return;
    }
    let default = measure(
        "cache off (AuthorizerResultTtl=0)",
        Vec::new(),
        TRIALS,
        Duration::from_secs(10),
    )
    .await;
    let cached = measure(
        &format!("AuthorizerResultTtl={CACHED_TTL_SECONDS}"),
        vec![("AuthorizerResultTtl".into(), CACHED_TTL_SECONDS.to_string())],
        3,
        Duration::from_secs(CACHED_TTL_SECONDS * 3),
    )
    .await;

    println!("## Revocation latency through the local gateway (release binaries, DynamoDB Local)");
    println!();
    println!("| setting | trials | requests served after DELETE returned | longest window | median time to first 401 | GET /v1/whoami p50 |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for setting in [&default, &cached] {
        let served: usize = setting.trials.iter().map(|t| t.served_after_revoke).sum();
        let window = setting
            .trials
            .iter()
            .map(|t| t.window)
            .max()
            .unwrap_or_default();
        let refused = median(setting.trials.iter().map(|t| t.refused_after).collect());
        println!(
            "| {} | {} | {served} | {} | {} | {} |",
            setting.label,
            setting.trials.len(),
            ms(window),
            ms(refused),
            ms(setting.latency)
        );
    }
    println!();
    println!(
        "Per-request cost of TTL 0: {:.2}× the cached request ({} vs {}), the price of refusing a revoked token on its next request.",
        default.latency.as_secs_f64() / cached.latency.as_secs_f64(),
        ms(default.latency),
        ms(cached.latency)
    );
}
