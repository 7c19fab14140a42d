//! Authorizer figures that need the local stack, each with a baseline from
//! the same run. Run by `make bench` (which starts a private stack); alone:
//! start the stack, `source .local/stack.env`, build the release authorizer
//! (`cargo build --release -p authorizer`), then
//! `cargo bench -p cog-integration-tests --bench authorizer_stack`.
//!
//! 1. Authorize against DynamoDB Local vs a bare `GetItem` of the same token
//!    item with the same client, and vs a bare `BatchGetItem` of the token
//!    and its owner (the two records every decision must read): p50 and p99,
//!    for a PAT of a user in 1 org and in 10 (org policies come from the
//!    authorizer's cache, so 10 orgs must cost no more reads).
//! 2. Cold init of the release binary (process start until it asks the
//!    Runtime API for its first event, pepper decrypt included) vs starting
//!    and reaping a trivial process.
//! 3. Peak RSS under a steady stream of events vs RSS right after init.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a bench binary reports on stdout

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use authorizer::config::HttpResponseFormat;
use authorizer::handler::{handle_json_event, AuthorizerState};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use cog_integration_tests::runtime_api::{RuntimeApi, RuntimeCall};
use cog_integration_tests::{beta_account, new_token, spawn_function, workspace_binary, Stack};
use cog_tokens::authorize::routes::RouteRules;
use cog_tokens::authorize::{Authorizer, AuthorizerSettings};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::aws::kms::KmsPepperSource;
use cog_tokens::records::{Account, AuditAction, AuditEvent, OrgMembership, Owner, Timestamp};
use cog_tokens::store::pepper::{PepperKeeper, PepperSource};
use cog_tokens::store::PrincipalStore;
use cog_tokens::store::TokenStore;
use serde_json::json;

const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/v1/whoami";
const SAMPLES: usize = 3_000;
const WARM_UP: usize = 300;
const COLD_STARTS: usize = 15;
const STREAM_EVENTS: usize = 20_000;

type Item = HashMap<String, AttributeValue>;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn main() {
    if std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_err() {
        // Plain `cargo bench` has no stack; `make bench` starts one and runs this.
        println!("authorizer_stack: skipped, no local stack in the environment (run `make bench`)");
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (table, event) = runtime.block_on(dynamodb_latency());
    cold_init_and_memory(&table, &event);
}

/// A PAT of a user in `orgs` orgs, as an authorizer event; the user's id.
async fn pat_event(
    store: &DynamoStore,
    pepper: &cog_tokens::Pepper,
    user: &str,
    orgs: usize,
) -> String {
    let account = Account {
        orgs: (0..orgs)
            .map(|i| OrgMembership {
                org_id: format!("org{i}"),
                role: "member".into(),
            })
            .collect(),
        ..beta_account(user)
    };
    let now = Timestamp::now();
    let audit = account.audit_put("bench", now);
    store.put_account(&account, &audit).await.unwrap();
    let owner = Owner::user(user);
    let (token, record) = new_token(&owner, pepper, now, Some(now.plus_seconds(86_400)));
    let audit = AuditEvent::new("bench", AuditAction::TokenCreate, owner, now);
    store.create_token(&record, 50, &audit).await.unwrap();
    json!({"type": "TOKEN", "authorizationToken": format!("Bearer {}", token.expose_secret()), "methodArn": ARN}).to_string()
}

/// The item keys of a user's token and account: what every decision reads.
fn token_and_account_keys(event: &str, user: &str) -> (Item, Item) {
    let token = event
        .split("Bearer ")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let id = &token[4..20];
    let key = |pk: String, sk: &str| {
        Item::from([
            ("pk".to_owned(), AttributeValue::S(pk)),
            ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
        ])
    };
    (
        key(format!("TOKEN#{id}"), "TOKEN"),
        key(format!("USER#{user}"), "ACCOUNT"),
    )
}

/// P3: authorize against DynamoDB Local, for a PAT of a user in 1 and in 10
/// orgs, against a bare GetItem of the token and a bare BatchGetItem of the
/// token and its owner, interleaved. Returns the table and the 1-org event,
/// for the binary runs.
async fn dynamodb_latency() -> (String, String) {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&[]).await;
    let source = KmsPepperSource::new(stack.kms.clone(), store.clone());
    let pepper = source.load_ring().await.unwrap().current().clone();
    let one = pat_event(&store, &pepper, "one", 1).await;
    let ten = pat_event(&store, &pepper, "ten", 10).await;
    let state = AuthorizerState {
        authorizer: Authorizer::new(
            Arc::new(store.clone()),
            PepperKeeper::load(source, Duration::from_secs(30))
                .await
                .unwrap(),
            AuthorizerSettings {
                route_rules: RouteRules::default(),
                last_used_interval: Duration::from_secs(3600),
                org_policy_ttl: Duration::from_secs(30),
                caching: Default::default(),
            },
        ),
        http_format: HttpResponseFormat::Simple,
        usage_plans: Default::default(),
    };
    println!("## Authorize against DynamoDB Local ({SAMPLES} interleaved samples each)\n");
    println!("| PAT of a user in | measure | bare GetItem (token) | bare BatchGetItem (token + owner) | authorize (event in, JSON out) | × GetItem | × BatchGetItem |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for (label, user, event) in [("1 org", "one", &one), ("10 orgs", "ten", &ten)] {
        let samples = interleaved(&store, &state, event, user).await;
        report(label, &samples);
    }
    (store.table().to_owned(), one)
}

/// Sorted samples: bare GetItem, bare BatchGetItem, authorize.
async fn interleaved(
    store: &DynamoStore,
    state: &AuthorizerState<DynamoStore, KmsPepperSource<DynamoStore>>,
    event: &str,
    user: &str,
) -> [Vec<Duration>; 3] {
    let (client, table) = (store.client(), store.table());
    let (token_key, account_key) = token_and_account_keys(event, user);
    let bare_get = || timed_get(client, table, &token_key);
    // The storage work the authorizer cannot avoid: token and owner, one round trip.
    let bare_batch = || timed_batch(client, table, &token_key, &account_key);
    let authorize = || async {
        let started = Instant::now();
        let response = handle_json_event(state, event, Timestamp::now())
            .await
            .unwrap();
        let body = serde_json::to_vec(&response).unwrap();
        let elapsed = started.elapsed();
        assert!(body.len() > 100);
        elapsed
    };
    for _ in 0..WARM_UP {
        bare_get().await;
        bare_batch().await;
        authorize().await;
    }
    state.authorizer.finish_background_writes().await;
    // Interleaved, so all three see the same machine state.
    let mut samples: [Vec<Duration>; 3] = Default::default();
    for _ in 0..SAMPLES {
        samples[0].push(bare_get().await);
        samples[1].push(bare_batch().await);
        samples[2].push(authorize().await);
    }
    for sorted in &mut samples {
        sorted.sort();
    }
    samples
}

/// One strongly consistent `GetItem` of `key`, timed.
async fn timed_get(client: &aws_sdk_dynamodb::Client, table: &str, key: &Item) -> Duration {
    let started = Instant::now();
    let output = client
        .get_item()
        .table_name(table)
        .set_key(Some(key.clone()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert!(output.item.is_some());
    started.elapsed()
}

/// One strongly consistent `BatchGetItem` of two items, timed.
async fn timed_batch(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    first: &Item,
    second: &Item,
) -> Duration {
    let keys = KeysAndAttributes::builder()
        .keys(first.clone())
        .keys(second.clone())
        .consistent_read(true)
        .build()
        .unwrap();
    let started = Instant::now();
    let output = client
        .batch_get_item()
        .request_items(table, keys)
        .send()
        .await
        .unwrap();
    assert_eq!(output.responses().unwrap()[table].len(), 2);
    started.elapsed()
}

fn report(label: &str, [gets, batches, auths]: &[Vec<Duration>; 3]) {
    for (measure, p) in [("p50", 0.50), ("p99", 0.99)] {
        let (g, b, a) = (
            percentile(gets, p),
            percentile(batches, p),
            percentile(auths, p),
        );
        println!(
            "| {label} | {measure} | {:.0} µs | {:.0} µs | {:.0} µs | {:.2} | {:.2} |",
            micros(g),
            micros(b),
            micros(a),
            a.as_secs_f64() / g.as_secs_f64(),
            a.as_secs_f64() / b.as_secs_f64()
        );
    }
}

fn cold_init_and_memory(table: &str, event: &str) {
    let binary = workspace_binary("authorizer");
    let env = [("TABLE_NAME", table.to_owned())];
    cold_init(&binary, &env);
    memory(&binary, &env, event);
}

/// Spawn until the first `/next`, against starting and reaping `true`.
fn cold_init(binary: &std::path::Path, env: &[(&str, String)]) {
    let mut baseline = Vec::new();
    let mut inits = Vec::new();
    for _ in 0..COLD_STARTS {
        let started = Instant::now();
        std::process::Command::new("true").status().unwrap();
        baseline.push(started.elapsed());

        let api = RuntimeApi::start().unwrap();
        let started = Instant::now();
        let mut child = spawn_function(binary, &api, env);
        match api.calls.recv_timeout(Duration::from_secs(30)).unwrap() {
            RuntimeCall::Next(at) => inits.push(at - started),
            other => panic!("expected the first /next, got {other:?}"),
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
    baseline.sort();
    inits.sort();
    let (b, i) = (percentile(&baseline, 0.5), percentile(&inits, 0.5));
    println!("\n## Cold init of the release binary ({COLD_STARTS} starts)\n");
    println!("| measure | start + reap `true` | authorizer ready (first /next) | ratio |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| median | {:.1} ms | {:.1} ms | {:.1} |",
        b.as_secs_f64() * 1e3,
        i.as_secs_f64() * 1e3,
        i.as_secs_f64() / b.as_secs_f64()
    );
    println!(
        "| max | {:.1} ms | {:.1} ms | |",
        baseline[baseline.len() - 1].as_secs_f64() * 1e3,
        inits[inits.len() - 1].as_secs_f64() * 1e3
    );
}

/// RSS after init, and its peak under a steady stream of events.
fn memory(binary: &std::path::Path, env: &[(&str, String)], event: &str) {
    let api = RuntimeApi::start().unwrap();
    let mut child = spawn_function(binary, &api, env);
    assert!(matches!(
        api.calls.recv_timeout(Duration::from_secs(30)).unwrap(),
        RuntimeCall::Next(_)
    ));
    let after_init = rss_kib(child.id(), "VmRSS:");
    let denied = json!({"type": "TOKEN", "authorizationToken": "Bearer cog_0000000000000000000000000000000000000000000000000NfUgm", "methodArn": ARN}).to_string();
    let started = Instant::now();
    let mut answered = 0;
    for n in 0..STREAM_EVENTS {
        // Every tenth event is a well-formed but unknown token.
        api.push(if n % 10 == 9 {
            denied.clone()
        } else {
            event.to_owned()
        });
        loop {
            match api.calls.recv_timeout(Duration::from_secs(30)).unwrap() {
                RuntimeCall::Next(_) => {}
                RuntimeCall::InitError { body } => panic!("{body}"),
                _ => {
                    answered += 1;
                    break;
                }
            }
        }
    }
    let elapsed = started.elapsed();
    let peak = rss_kib(child.id(), "VmHWM:");
    child.kill().unwrap();
    child.wait().unwrap();
    println!("\n## Memory under a steady stream ({answered} events, {:.0} events/s through the local Runtime API)\n", answered as f64 / elapsed.as_secs_f64());
    println!("| measure | RSS after init | peak RSS (VmHWM) | ratio |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| release binary | {:.1} MiB | {:.1} MiB | {:.2} |",
        after_init as f64 / 1024.0,
        peak as f64 / 1024.0,
        peak as f64 / after_init as f64
    );
}
