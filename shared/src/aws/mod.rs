//! AWS adapters: DynamoDB storage, KMS peppers, and client set-up.
//!
//! Clients find local emulators only through the standard SDK variables
//! (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_KMS`): no special code path.

pub mod dynamodb;
pub mod kms;
pub mod schema;

/// Shared SDK configuration from the standard AWS environment, built once per cold start.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// The management service as the issuance and revocation functions run it:
/// settings from the environment (`TABLE_NAME`, `PEPPER_RELOAD_INTERVAL_SECONDS`
/// and the issuance policy), clients and the pepper ring loaded once.
pub async fn token_manager_from_env() -> Result<
    crate::management::TokenManager<
        dynamodb::DynamoStore,
        kms::KmsPepperSource<dynamodb::DynamoStore>,
    >,
    Box<dyn std::error::Error + Send + Sync>,
> {
    let table = crate::config::required("TABLE_NAME")?;
    let reload = std::time::Duration::from_secs(crate::config::parsed_or(
        "PEPPER_RELOAD_INTERVAL_SECONDS",
        30,
    )?);
    let policy = crate::management::IssuancePolicy::from_env()?;
    let config = sdk_config().await;
    let store = dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table);
    let peppers = crate::pepper::PepperKeeper::load(
        kms::KmsPepperSource::new(aws_sdk_kms::Client::new(&config), store.clone()),
        reload,
    )
    .await?;
    Ok(crate::management::TokenManager::new(
        std::sync::Arc::new(store),
        peppers,
        policy,
    ))
}
