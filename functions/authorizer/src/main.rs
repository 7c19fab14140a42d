//! Cold start: settings, AWS clients and the pepper ring once; then one
//! `handle_json_event` call per event.

use std::sync::Arc;

use authorizer::config::Config;
use authorizer::handler::{handle_event, AuthorizerState};
use authorizer::request::AuthorizerEvent;
use cog_tokens::authorize::Authorizer;
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::aws::kms::KmsPepperSource;
use cog_tokens::aws::sdk_config;
use cog_tokens::records::Timestamp;
use cog_tokens::store::pepper::PepperKeeper;
use lambda_runtime::{service_fn, LambdaEvent};

// Allocation is a fair share of a request's few microseconds; mimalloc halves it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let started = std::time::Instant::now();
    cog_tokens::logging::init();
    let config = Config::from_env()?;
    // Before the first event: decisions are counted from then on.
    let metrics = authorizer::metrics::to_stdout(config.metrics_interval);
    if !authorizer::metrics::install(metrics) {
        tracing::warn!("authorizer metrics were set up before the cold start");
    }
    let settings = started.elapsed();
    let sdk = sdk_config().await;
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        config.table.clone(),
    ));
    let clients = started.elapsed();
    // The ring is decrypted here, once; failing to load it fails the cold start.
    let peppers = PepperKeeper::load(
        KmsPepperSource::new(aws_sdk_kms::Client::new(&sdk), (*store).clone()),
        config.pepper_reload_interval,
    )
    .await?;
    let state = AuthorizerState {
        authorizer: Authorizer::new(store, peppers, config.settings),
        http_format: config.http_format,
        usage_plans: config.usage_plans,
    };
    // The cold start's phases, for `make bench` (`tests/benches/cold_start.rs`).
    tracing::info!(
        settings_us = settings.as_micros() as u64,
        sdk_us = (clients - settings).as_micros() as u64,
        ring_us = (started.elapsed() - clients).as_micros() as u64,
        "authorizer ready"
    );

    // The runtime reads each invocation straight into `AuthorizerEvent`: one pass over the JSON.
    lambda_runtime::run(service_fn(|event: LambdaEvent<AuthorizerEvent>| {
        let state = &state;
        async move { handle_event(state, &event.payload, Timestamp::now()).await }
    }))
    .await
}
