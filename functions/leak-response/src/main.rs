//! Cold start: settings, the DynamoDB and KMS clients and the pepper ring
//! once; then one request per invocation.

use std::sync::Arc;
use std::time::Duration;

use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::aws::kms::KmsPepperSource;
use cog_tokens::aws::sdk_config;
use cog_tokens::config::{parsed_or, required};
use cog_tokens::management::leaks::LeakResponder;
use cog_tokens::metrics;
use cog_tokens::records::Timestamp;
use cog_tokens::store::pepper::PepperKeeper;
use lambda_http::Request;
use leak_response::github_keys::{GitHubKeys, KeyCachePolicy, KeySet};
use leak_response::key_fetch::HttpKeySource;
use leak_response::{handle_counted, record_tally, LeakService, FUNCTION_NAME};

const GITHUB_KEYS_URL: &str = "https://api.github.com/meta/public_keys/secret_scanning";

/// `GITHUB_KEYS_JSON` (a fixed key set, GitHub's JSON) wins over
/// `GITHUB_KEYS_URL`; a fetched set is kept `GITHUB_KEYS_TTL_SECONDS` (3600)
/// and fetched at most once per `GITHUB_KEYS_MIN_FETCH_SECONDS` (60).
fn github_keys() -> Result<GitHubKeys, lambda_http::Error> {
    if let Ok(fixed) = std::env::var("GITHUB_KEYS_JSON") {
        return Ok(GitHubKeys::fixed(KeySet::from_json(&fixed)?));
    }
    let url = std::env::var("GITHUB_KEYS_URL").unwrap_or_else(|_| GITHUB_KEYS_URL.to_owned());
    let policy = KeyCachePolicy {
        ttl: Duration::from_secs(parsed_or("GITHUB_KEYS_TTL_SECONDS", 3600)?),
        min_fetch_interval: Duration::from_secs(parsed_or("GITHUB_KEYS_MIN_FETCH_SECONDS", 60)?),
    };
    Ok(GitHubKeys::fetched(HttpKeySource::new(&url)?, policy))
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cog_tokens::logging::init();
    let table = required("TABLE_NAME")?;
    let reload = Duration::from_secs(parsed_or("PEPPER_RELOAD_INTERVAL_SECONDS", 30)?);
    let config = sdk_config().await;
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        table,
    ));
    let source = KmsPepperSource::new(aws_sdk_kms::Client::new(&config), (*store).clone());
    let peppers = PepperKeeper::load(source, reload).await?;
    let service = LeakService {
        responder: LeakResponder::new(Arc::clone(&store), peppers),
        limiter: store,
        github_keys: github_keys()?,
        public_requests_per_minute: parsed_or("PUBLIC_REVOKE_PER_MINUTE", 20)?,
    };
    lambda_http::run(lambda_http::service_fn(|request: Request| {
        let service = &service;
        async move {
            let (response, tally) = handle_counted(service, request, Timestamp::now()).await;
            metrics::emit(FUNCTION_NAME, Timestamp::now().0, |aggregate| {
                record_tally(aggregate, &tally)
            });
            Ok::<_, std::convert::Infallible>(response)
        }
    }))
    .await
}
