//! Cold start: the table, the stages and the caching knobs; then one stream
//! batch or one schedule tick per invocation.
//!
//! `TABLE_NAME`; `AUTHORIZER_CACHE_STAGES` (`http:<api>/<stage>` or
//! `rest:<api>/<stage>`, separated by commas; none: the feed only);
//! `GATEWAY_CACHE_TTL_SECONDS`, `LAST_USED_INTERVAL_SECONDS`,
//! `REVOCATION_FEED_INTERVAL_MS` and `AUTHORIZER_DEADLINE_MS` as the
//! authorizer has them; `FLUSH_WINDOW_MS` (default 300), `FLUSH_ATTEMPTS`
//! (default 8), `SCHEDULE_HORIZON_SECONDS` (default 65: a run each minute,
//! overlapping).

use std::sync::Arc;
use std::time::Duration;

use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::aws::sdk_config;
use cog_tokens::config::{parsed_or, required, ConfigError};
use cog_tokens::events::invalidation::{Invalidator, InvalidatorSettings};
use cog_tokens::metrics::emit;
use cog_tokens::records::Timestamp;
use cog_tokens::store::gateway::Stage;
use lambda_runtime::{service_fn, LambdaEvent};
use lifecycle::gateway::SdkGatewayCache;
use lifecycle::invalidator::handle_counted;
use lifecycle::metrics::{record_invalidation, CACHE_INVALIDATOR};

/// Time for an answer to travel from the authorizer to the gateway's cache.
const ANSWER_TRANSIT_MS: u64 = 300;

fn settings() -> Result<InvalidatorSettings, ConfigError> {
    let stages = std::env::var("AUTHORIZER_CACHE_STAGES").unwrap_or_default();
    let stages = stages
        .split(',')
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(|text| {
            text.parse::<Stage>().map_err(|problem| ConfigError {
                name: "AUTHORIZER_CACHE_STAGES",
                problem,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let deadline_ms: u64 = parsed_or("AUTHORIZER_DEADLINE_MS", 400)?;
    Ok(InvalidatorSettings {
        stages,
        gateway_ttl: Duration::from_secs(parsed_or("GATEWAY_CACHE_TTL_SECONDS", 0)?),
        last_used_interval: Duration::from_secs(parsed_or("LAST_USED_INTERVAL_SECONDS", 300)?),
        feed_interval: Duration::from_millis(parsed_or("REVOCATION_FEED_INTERVAL_MS", 250)?),
        settle: Duration::from_millis(deadline_ms + ANSWER_TRANSIT_MS),
        window: Duration::from_millis(parsed_or("FLUSH_WINDOW_MS", 300)?),
        flush_attempts: parsed_or("FLUSH_ATTEMPTS", 8)?,
        horizon: Duration::from_secs(parsed_or("SCHEDULE_HORIZON_SECONDS", 65)?),
    })
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cog_tokens::logging::init();
    let table = required("TABLE_NAME")?;
    let settings = settings()?;
    let sdk = sdk_config().await;
    let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table));
    let invalidator = Invalidator::new(
        store,
        SdkGatewayCache::new(
            aws_sdk_apigatewayv2::Client::new(&sdk),
            aws_sdk_apigateway::Client::new(&sdk),
        ),
        settings,
    );
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let invalidator = &invalidator;
        async move {
            let (response, tally) = handle_counted(invalidator, event.payload).await;
            emit(CACHE_INVALIDATOR, Timestamp::now().0, |aggregate| {
                record_invalidation(aggregate, &tally)
            });
            Ok::<_, lambda_runtime::Error>(response)
        }
    }))
    .await
}
