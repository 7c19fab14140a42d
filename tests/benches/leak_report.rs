//! A GitHub secret-scanning report of 1,000 tokens, answered by the
//! leak-response handler against the local stack (signature check, batched
//! reads, revocations 16 at a time), against baselines from the same run:
//! one revocation alone, and one 100-key `BatchGetItem`.
//!
//! Run by `make bench` (private stack); alone: start the stack,
//! `source .local/stack.env`, `cargo bench -p cog-integration-tests --bench leak_report`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a bench binary reports on stdout

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cog_integration_tests::services::{leak_service, manager, policy, request};
use cog_integration_tests::{caller, unique, Stack};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::records::{Actor, AuditAction, Revocation, Timestamp};
use cog_tokens::store::TokenStore;
use cog_tokens::PlainToken;
use lambda_http::Body;
use leak_response::github_keys::{GitHubKeys, KeySet};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};

const REPORT: usize = 1000;
const SAMPLES: usize = 5;
const BASELINE_SAMPLES: usize = 50;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// `count` live tokens of fresh users (1,000 each at most), made 16 at a time.
async fn live_tokens(stack: &Stack, store: &DynamoStore, count: usize) -> Vec<PlainToken> {
    let manager = manager(stack, store, policy(1000)).await;
    let user = unique("leaky");
    let account = cog_integration_tests::beta_account(&user);
    let audit = account.audit_put("bench", Timestamp::now());
    cog_tokens::store::PrincipalStore::put_account(store, &account, &audit)
        .await
        .unwrap();
    let manager = &manager;
    let user = &user;
    let made: Vec<PlainToken> = in_batches_of_16(count, |i| async move {
        manager
            .create(
                &caller(user),
                request(&format!("t{i}")),
                None,
                Timestamp::now(),
            )
            .await
            .unwrap()
            .token
    })
    .await;
    made
}

/// Runs `make(i)` for `0..count`, 16 at a time, in order.
async fn in_batches_of_16<F, Fut, T>(count: usize, make: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut out = Vec::with_capacity(count);
    for start in (0..count).step_by(16) {
        let batch = (start..(start + 16).min(count)).map(&make);
        out.extend(futures::future::join_all(batch).await);
    }
    out
}

struct Signed {
    key: SigningKey,
    key_id: String,
}

impl Signed {
    fn new() -> Self {
        Self {
            key: SigningKey::random(&mut rand_core::OsRng),
            key_id: "bench".into(),
        }
    }

    fn keys(&self) -> GitHubKeys {
        let pem = self
            .key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let set = serde_json::json!({"public_keys": [{"key_identifier": self.key_id, "key": pem}]});
        GitHubKeys::fixed(KeySet::from_json(&set.to_string()).unwrap())
    }

    fn request(&self, tokens: &[PlainToken]) -> lambda_http::Request {
        let texts: Vec<&str> = tokens.iter().map(PlainToken::expose_secret).collect();
        let body = cog_integration_tests::github::FakeGitHub::report(&texts);
        let signature: DerSignature = self.key.sign(body.as_bytes());
        lambda_http::http::Request::builder()
            .method("POST")
            .uri(leak_response::GITHUB_ROUTE)
            .header("github-public-key-identifier", &self.key_id)
            .header(
                "github-public-key-signature",
                STANDARD.encode(signature.as_bytes()),
            )
            .body(Body::from(body))
            .unwrap()
    }
}

/// Medians of one revocation alone and of one 100-key batch read.
async fn baselines(stack: &Stack, store: &DynamoStore) -> (Duration, Duration) {
    let mut revoke_one = Vec::new();
    for token in &live_tokens(stack, store, BASELINE_SAMPLES).await {
        let record = store.get_token(&token.id()).await.unwrap().unwrap();
        let now = Timestamp::now();
        let audit = Actor::new("bench").event(AuditAction::TokenRevoke, record.owner.clone(), now);
        let revocation = Revocation {
            at: now,
            by: "bench".into(),
            reason: "bench".into(),
        };
        let started = Instant::now();
        store
            .revoke_token(&record.id, &revocation, &audit)
            .await
            .unwrap();
        revoke_one.push(started.elapsed());
    }
    let ids: Vec<_> = live_tokens(stack, store, 100)
        .await
        .iter()
        .map(PlainToken::id)
        .collect();
    let mut batch_read = Vec::new();
    for _ in 0..BASELINE_SAMPLES {
        let started = Instant::now();
        assert_eq!(store.get_tokens(&ids).await.unwrap().len(), 100);
        batch_read.push(started.elapsed());
    }
    (median(revoke_one), median(batch_read))
}

/// The median time to answer a report of `make()`'s tokens; `live`: each
/// must come back a true positive.
async fn report_median<F, Fut>(service: &Service, signed: &Signed, live: bool, make: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Vec<PlainToken>>,
{
    let mut took = Vec::new();
    for _ in 0..SAMPLES {
        let request = signed.request(&make().await);
        let started = Instant::now();
        let response = leak_response::handle_request(service, request, Timestamp::now()).await;
        took.push(started.elapsed());
        assert_eq!(response.status(), 200);
        let body = std::str::from_utf8(response.body()).unwrap();
        let expected = if live { REPORT } else { 0 };
        assert_eq!(body.matches("true_positive").count(), expected);
    }
    median(took)
}

type Service =
    leak_response::LeakService<DynamoStore, cog_tokens::aws::kms::KmsPepperSource<DynamoStore>>;

#[tokio::main]
async fn main() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&[]).await;
    let signed = Signed::new();
    let service = leak_service(&stack, &store, signed.keys(), 20).await;
    let (revoke_one, batch_read) = baselines(&stack, &store).await;
    let live = report_median(&service, &signed, true, || {
        live_tokens(&stack, &store, REPORT)
    })
    .await;
    let not_ours = report_median(&service, &signed, false, || async {
        (0..REPORT)
            .map(|_| PlainToken::generate().unwrap())
            .collect()
    })
    .await;

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("## Leak report: {REPORT} tokens, GitHub route, local stack (median of {SAMPLES})");
    println!();
    println!("| report | p50 | per token | × one revocation alone | × one 100-key BatchGetItem |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (name, took) in [
        ("1,000 live tokens (all revoked)", live),
        ("1,000 unknown tokens (reads only)", not_ours),
    ] {
        println!(
            "| {name} | {:.0} ms | {:.3} ms | {:.1} | {:.1} |",
            ms(took),
            ms(took) / REPORT as f64,
            took.as_secs_f64() / revoke_one.as_secs_f64(),
            took.as_secs_f64() / batch_read.as_secs_f64(),
        );
    }
    println!();
    println!(
        "Baselines, same run: one revocation {:.2} ms, one 100-key BatchGetItem {:.2} ms (medians of {BASELINE_SAMPLES}). \
         1,000 revocations one after another would take {:.0} ms.",
        ms(revoke_one),
        ms(batch_read),
        ms(revoke_one) * REPORT as f64
    );
}
