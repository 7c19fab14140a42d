//! Timing of refusals (issue 10, C4): the authorizer's wall time against
//! DynamoDB Local for an unknown id, a wrong secret, a revoked and an
//! expired token, interleaved, 2,000 samples each. Each class is reported
//! as p50/p90 and as its median over the unknown id's median (same run), and
//! how much of it lies below the unknown id's median (50 % = the same
//! distribution). Run by `make bench`; alone: start the stack, `source
//! .local/stack.env`, `cargo bench -p cog-integration-tests --bench timing`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a bench binary reports on stdout

use std::time::{Duration, Instant};

use cog_integration_tests::services::{authorizer, manager, policy, request, DynamoAuthorizer};
use cog_integration_tests::{caller, same_id_other_secret, Stack};
use cog_tokens::authorize::{Decision, Source};
use cog_tokens::management::TokenRequest;
use cog_tokens::records::Timestamp;
use cog_tokens::PlainToken;

const SAMPLES: usize = 2_000;
const WARM_UP: usize = 200;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    if std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_err() {
        println!("timing: skipped, no local stack in the environment (run `make bench`)");
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(measure());
}

async fn measure() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["timing"]).await;
    let manager = manager(&stack, &store, policy(50)).await;
    let now = Timestamp::now();
    let live = manager
        .create(&caller("timing"), request("live"), None, now)
        .await
        .unwrap();
    let revoked = manager
        .create(&caller("timing"), request("revoked"), None, now)
        .await
        .unwrap();
    manager
        .revoke(&caller("timing"), revoked.record.id.as_str(), now)
        .await
        .unwrap();
    let short = TokenRequest {
        expires_in_days: Some(Some(1)),
        ..request("expired")
    };
    let expired = manager
        .create(&caller("timing"), short, None, now)
        .await
        .unwrap();
    // The authorizer's clock, two days on: the one-day token has expired.
    let later = now.plus_seconds(2 * 86_400);
    let authorizer = authorizer(&stack, &store).await;

    let classes: Vec<(&str, String)> = vec![
        (
            "unknown id",
            PlainToken::generate().unwrap().expose_secret().to_owned(),
        ),
        (
            "wrong secret",
            same_id_other_secret(live.token.expose_secret()),
        ),
        ("revoked", revoked.token.expose_secret().to_owned()),
        ("expired", expired.token.expose_secret().to_owned()),
    ];
    let headers: Vec<String> = classes.iter().map(|(_, t)| format!("Bearer {t}")).collect();
    let samples = sample(&authorizer, &headers, later).await;
    report(&classes, &samples);
}

/// Sorted decision times per header, interleaved, each round starting with
/// a different class; every decision must be a refusal.
async fn sample(
    authorizer: &DynamoAuthorizer,
    headers: &[String],
    at: Timestamp,
) -> Vec<Vec<Duration>> {
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(SAMPLES); headers.len()];
    for round in 0..WARM_UP + SAMPLES {
        for offset in 0..headers.len() {
            let class = (round + offset) % headers.len();
            let started = Instant::now();
            let decision = authorizer
                .authorize(Some(&headers[class]), None, Source::default(), at)
                .await
                .unwrap();
            let elapsed = started.elapsed();
            assert!(
                matches!(decision, Decision::Unauthorized(_)),
                "{decision:?}"
            );
            if round >= WARM_UP {
                samples[class].push(elapsed);
            }
        }
    }
    for class in &mut samples {
        class.sort();
    }
    samples
}

fn report(classes: &[(&str, String)], samples: &[Vec<Duration>]) {
    let base = percentile(&samples[0], 0.5);
    println!("## Refusal timing, DynamoDB Local ({SAMPLES} interleaved samples per class)");
    println!();
    println!("| class | p50 | p90 | p50 × unknown id's | below unknown id's p50 |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for ((name, _), class) in classes.iter().zip(samples) {
        let below = class.iter().filter(|d| **d < base).count() as f64 / class.len() as f64;
        println!(
            "| {name} | {:.0} µs | {:.0} µs | {:.3} | {:.0} % |",
            micros(percentile(class, 0.5)),
            micros(percentile(class, 0.9)),
            micros(percentile(class, 0.5)) / micros(base),
            below * 100.0
        );
    }
}
