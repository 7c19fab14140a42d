//! The binaries' wiring: settings from the environment and clients, once
//! per cold start, then the Lambda runtime.

use std::sync::Arc;
use std::time::Duration;

use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::aws::kms::KmsPepperSource;
use cog_tokens::aws::sdk_config;
use cog_tokens::config::{parsed_or, required, ConfigError};
use cog_tokens::management::{
    IssuancePolicy, TokenManager, DEFAULT_MAX_KEYS_PER_SERVICE_USER,
    DEFAULT_MAX_SERVICE_USERS_PER_ORG, DEFAULT_ROLES, DEFAULT_SCOPES,
};
use cog_tokens::metrics::emit;
use cog_tokens::records::Timestamp;
use cog_tokens::store::pepper::PepperKeeper;
use lambda_http::Request;

use crate::{handle_request, metrics, Function};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// `SCOPE_CATALOG` (comma-separated), `DEFAULT_EXPIRY_DAYS` (30),
/// `MAX_EXPIRY_DAYS` (366), `ALLOW_NON_EXPIRING` (false),
/// `MAX_ACTIVE_TOKENS` (50), `MAX_ROTATION_GRACE_SECONDS` (3600),
/// `ROLE_CATALOG` (comma-separated), `MAX_SERVICE_USERS_PER_ORG` (100),
/// `MAX_KEYS_PER_SERVICE_USER` (10).
pub fn issuance_policy_from_env() -> Result<IssuancePolicy, ConfigError> {
    Ok(IssuancePolicy {
        scope_catalog: catalog("SCOPE_CATALOG", DEFAULT_SCOPES)?,
        role_catalog: catalog("ROLE_CATALOG", DEFAULT_ROLES)?,
        max_service_users_per_org: parsed_or(
            "MAX_SERVICE_USERS_PER_ORG",
            DEFAULT_MAX_SERVICE_USERS_PER_ORG,
        )?,
        max_keys_per_service_user: parsed_or(
            "MAX_KEYS_PER_SERVICE_USER",
            DEFAULT_MAX_KEYS_PER_SERVICE_USER,
        )?,
        default_expiry_days: parsed_or("DEFAULT_EXPIRY_DAYS", 30)?,
        max_expiry_days: parsed_or("MAX_EXPIRY_DAYS", 366)?,
        allow_non_expiring: parsed_or("ALLOW_NON_EXPIRING", false)?,
        max_active_tokens: parsed_or("MAX_ACTIVE_TOKENS", 50)?,
        max_rotation_grace_seconds: parsed_or("MAX_ROTATION_GRACE_SECONDS", 3600)?,
        idle_expiry_days: cog_tokens::management::idle::deployment_window_from_env()?,
    })
}

/// A comma-separated list from `name`, or `default`; never empty.
fn catalog(name: &'static str, default: &[&str]) -> Result<Vec<String>, ConfigError> {
    let text = std::env::var(name).unwrap_or_else(|_| default.join(","));
    let entries: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if entries.is_empty() {
        return Err(ConfigError {
            name,
            problem: "names nothing".into(),
        });
    }
    Ok(entries)
}

/// The manager as `function` runs it: `TABLE_NAME`, the issuance policy and,
/// for issuance only, the pepper ring (`PEPPER_RELOAD_INTERVAL_SECONDS`).
/// Revocation goes without a ring, so it needs no KMS.
pub async fn manager_from_env(
    function: Function,
) -> Result<TokenManager<DynamoStore, KmsPepperSource<DynamoStore>>, Error> {
    let table = required("TABLE_NAME")?;
    let policy = issuance_policy_from_env()?;
    let config = sdk_config().await;
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        table,
    ));
    if function == Function::Revocation {
        return Ok(TokenManager::without_peppers(store, policy));
    }
    let reload = Duration::from_secs(parsed_or("PEPPER_RELOAD_INTERVAL_SECONDS", 30)?);
    let source = KmsPepperSource::new(aws_sdk_kms::Client::new(&config), (*store).clone());
    let peppers = PepperKeeper::load(source, reload).await?;
    Ok(TokenManager::new(store, peppers, policy))
}

/// Runs `function` under the Lambda runtime: logging, the manager from the
/// environment, then one [`handle_request`] per invocation, each counted in
/// one EMF line ([`metrics`]).
pub async fn serve(function: Function) -> Result<(), lambda_http::Error> {
    cog_tokens::logging::init();
    let manager = manager_from_env(function).await?;
    lambda_http::run(lambda_http::service_fn(|request: Request| {
        let manager = &manager;
        async move {
            let route = metrics::route_key(function, request.method(), request.uri().path());
            let response = handle_request(manager, function, request, Timestamp::now()).await;
            // One EMF line per invocation: these functions see few requests.
            let status = response.status().as_u16();
            emit(
                metrics::function_name(function),
                Timestamp::now().0,
                |aggregate| metrics::count_request(aggregate, route, status),
            );
            Ok::<_, std::convert::Infallible>(response)
        }
    }))
    .await
}
