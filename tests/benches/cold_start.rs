//! The authorizer's cold start, with its breakdown, against baselines from
//! the same run. Run by `make bench` (which starts a private stack and builds
//! the release binaries: the profile `cargo lambda build --release` uses).
//!
//! - Cold init: spawn until the binary asks the Runtime API for its first
//!   event. The phases come from the binary's own log lines (`pepper ring
//!   loaded`, `authorizer ready`: settings and logging, SDK set-up, ring
//!   read, decrypts); process
//!   start is measured as starting and reaping `true`, and the Lambda
//!   runtime's own set-up is what is left.
//! - Baselines: one DynamoDB round trip (the ring's `Query`, warm client) and
//!   one KMS round trip (`Decrypt` of the same pepper, warm client), p50.
//!   Goal (issue 16): cold init ≤ DynamoDB RTT + KMS RTT + 5 ms.
//! - The same start trusting the system certificate store
//!   (`COG_TLS_ROOTS=system`, the SDK's default) prices the compiled-in roots.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a bench binary reports on stdout

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cog_integration_tests::runtime_api::{RuntimeApi, RuntimeCall};
use cog_integration_tests::{workspace_binary, Stack};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::store::PepperStore;
use serde_json::Value;

const STARTS: usize = 21;
const ROUND_TRIPS: usize = 50;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// One cold start: (spawn → first `/next` in ms, the binary's phase fields in µs).
fn cold_start(table: &str, roots: Option<&str>) -> (f64, Value) {
    let api = RuntimeApi::start().unwrap();
    let mut command = Command::new(workspace_binary("authorizer"));
    command
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "authorizer")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("TABLE_NAME", table)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(roots) = roots {
        command.env("COG_TLS_ROOTS", roots);
    }
    let started = Instant::now();
    let mut child = command.spawn().unwrap();
    let init = match api.calls.recv_timeout(Duration::from_secs(30)).unwrap() {
        RuntimeCall::Next(at) => at - started,
        other => panic!("expected the first /next, got {other:?}"),
    };
    child.kill().unwrap();
    child.wait().unwrap();
    // Its `pepper ring loaded` and `authorizer ready` lines, fields merged.
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut phases = serde_json::Map::new();
    for line in stdout.lines().map_while(Result::ok) {
        if let Ok(Value::Object(mut line)) = serde_json::from_str::<Value>(&line) {
            if let Some(Value::Object(fields)) = line.remove("fields") {
                phases.extend(fields);
            }
        }
    }
    assert_eq!(phases["message"], "authorizer ready", "{phases:?}");
    (init.as_secs_f64() * 1e3, Value::Object(phases))
}

fn ms(phases: &[Value], field: &str) -> f64 {
    median(
        phases
            .iter()
            .map(|p| {
                p[field]
                    .as_f64()
                    .unwrap_or_else(|| panic!("no {field} in {p}"))
                    / 1e3
            })
            .collect(),
    )
}

fn main() {
    if std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_err() {
        println!("cold_start: skipped, no local stack in the environment (run `make bench`)");
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (stack, store) = runtime.block_on(async {
        let stack = Stack::connect().await;
        let (store, _key) = stack.seeded(&[]).await;
        (stack, store)
    });
    let table = store.table().to_owned();
    // One warm round trip of each kind: the ring's Query and a Decrypt.
    let round_trip = || {
        runtime.block_on(async {
            let started = Instant::now();
            let stored = store.list_peppers().await.unwrap();
            let query = started.elapsed().as_secs_f64() * 1e3;
            let started = Instant::now();
            stack.pepper_plaintext(&stored[0]).await;
            (query, started.elapsed().as_secs_f64() * 1e3)
        })
    };
    // The same two calls as the first of a fresh SDK client (new
    // connection, credentials, endpoint, TLS set-up): what a cold start's
    // first requests cannot avoid.
    let first_calls = || {
        runtime.block_on(async {
            let config = cog_tokens::aws::sdk_config().await;
            let fresh = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table.clone());
            let started = Instant::now();
            let stored = fresh.list_peppers().await.unwrap();
            let query = started.elapsed().as_secs_f64() * 1e3;
            let kms = aws_sdk_kms::Client::new(&config);
            let started = Instant::now();
            kms.decrypt()
                .key_id(&stored[0].kms_key_id)
                .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(
                    stored[0].ciphertext.clone(),
                ))
                .set_encryption_context(Some(cog_tokens::aws::kms::encryption_context(
                    stored[0].version,
                )))
                .send()
                .await
                .unwrap();
            (query, started.elapsed().as_secs_f64() * 1e3)
        })
    };
    // The emulators' JIT and connection pools warm up first.
    for _ in 0..ROUND_TRIPS {
        round_trip();
    }
    cold_start(&table, None);

    let mut process = Vec::new();
    let (mut query, mut decrypt) = (Vec::new(), Vec::new());
    let (mut first_query, mut first_decrypt) = (Vec::new(), Vec::new());
    let (mut inits, mut phases) = (Vec::new(), Vec::new());
    let (mut system_inits, mut system_phases) = (Vec::new(), Vec::new());
    // Interleaved, so drift in this VM's speed hits every series alike.
    for _ in 0..STARTS {
        let started = Instant::now();
        Command::new("true").status().unwrap();
        process.push(started.elapsed().as_secs_f64() * 1e3);
        for _ in 0..ROUND_TRIPS / 10 {
            let (q, d) = round_trip();
            query.push(q);
            decrypt.push(d);
        }
        let (q, d) = first_calls();
        first_query.push(q);
        first_decrypt.push(d);
        let (init, fields) = cold_start(&table, None);
        inits.push(init);
        phases.push(fields);
        let (init, fields) = cold_start(&table, Some("system"));
        system_inits.push(init);
        system_phases.push(fields);
    }
    let (dynamodb_rtt, kms_rtt) = (median(query), median(decrypt));
    let (first_query, first_decrypt) = (median(first_query), median(first_decrypt));
    let process = median(process);
    let goal = dynamodb_rtt + kms_rtt + 5.0;
    let report = |name: &str, inits: Vec<f64>, phases: &[Value]| {
        let init = median(inits);
        let settings = ms(phases, "settings_us");
        let sdk = ms(phases, "sdk_us");
        let read = ms(phases, "ring_read_us");
        let decrypt = ms(phases, "decrypt_us");
        let rest = init - process - settings - sdk - read - decrypt;
        println!(
            "| {name} | {init:.1} ms | {process:.1} | {settings:.1} | {sdk:.1} | {read:.1} | {decrypt:.1} | {rest:.1} | {:.2} |",
            init / goal
        );
        init
    };
    println!("\n## Authorizer cold start ({STARTS} starts each, medians; release binary)\n");
    println!("Baselines, same run: DynamoDB round trip (ring `Query`, warm) {dynamodb_rtt:.2} ms, KMS round trip (`Decrypt`, warm) {kms_rtt:.2} ms; goal = both + 5 ms = {goal:.1} ms.\n");
    println!("First call of a fresh SDK client, same run: `Query` {first_query:.2} ms, `Decrypt` {first_decrypt:.2} ms (both {:.1} ms).\n", first_query + first_decrypt);
    println!("| trust roots | cold init | process start (`true`) | settings, logging | SDK set-up | ring read (first request) | decrypts | runtime and the rest | × goal |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let compiled = report("compiled in (Amazon's 5 roots)", inits, &phases);
    let system = report(
        "system store (`COG_TLS_ROOTS=system`)",
        system_inits,
        &system_phases,
    );
    println!(
        "\nThe system store costs {:.1} ms more ({:.2} ×). Goal {}.",
        system - compiled,
        system / compiled,
        if compiled <= goal { "met" } else { "not met" }
    );
}
