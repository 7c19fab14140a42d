//! AWS adapters: DynamoDB storage, KMS peppers, and client set-up.
//!
//! Clients find local emulators only through the standard SDK variables
//! (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_KMS`): no special code path.

pub mod dynamodb;
pub mod kms;
pub mod schema;

/// An AWS SDK error (DynamoDB's and KMS's are one type) as `kind` or
/// `service error CODE`: never its `Debug` text, which can carry request and
/// response bodies.
pub(crate) fn sdk_error_summary<E, R>(error: &aws_sdk_dynamodb::error::SdkError<E, R>) -> String
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    use aws_sdk_dynamodb::error::SdkError as E2;
    match error {
        E2::ConstructionFailure(_) => "request construction failed".to_owned(),
        E2::TimeoutError(_) => "timeout".to_owned(),
        E2::DispatchFailure(failure) if failure.is_timeout() => "dispatch timeout".to_owned(),
        E2::DispatchFailure(failure) if failure.is_io() => "connection failed".to_owned(),
        E2::DispatchFailure(_) => "dispatch failure".to_owned(),
        E2::ResponseError(_) => "unreadable response".to_owned(),
        E2::ServiceError(service) => format!(
            "service error {}",
            service.err().code().unwrap_or("(no code)")
        ),
        _ => "unknown SDK error".to_owned(),
    }
}

/// Shared SDK configuration from the standard AWS environment, built once per cold start.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// The management service as the issuance and revocation functions run it:
/// settings from the environment (`TABLE_NAME`, `PEPPER_RELOAD_INTERVAL_SECONDS`
/// and the issuance policy) and clients, once. With `with_peppers` the ring
/// is decrypted too; the revocation function goes without, so it needs no KMS.
pub async fn token_manager_from_env(
    with_peppers: bool,
) -> Result<
    crate::management::TokenManager<
        dynamodb::DynamoStore,
        kms::KmsPepperSource<dynamodb::DynamoStore>,
    >,
    Box<dyn std::error::Error + Send + Sync>,
> {
    let table = crate::config::required("TABLE_NAME")?;
    let policy = crate::management::IssuancePolicy::from_env()?;
    let config = sdk_config().await;
    let store = std::sync::Arc::new(dynamodb::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        table,
    ));
    if !with_peppers {
        return Ok(crate::management::TokenManager::without_peppers(
            store, policy,
        ));
    }
    let reload = std::time::Duration::from_secs(crate::config::parsed_or(
        "PEPPER_RELOAD_INTERVAL_SECONDS",
        30,
    )?);
    let peppers = crate::pepper::PepperKeeper::load(
        kms::KmsPepperSource::new(aws_sdk_kms::Client::new(&config), (*store).clone()),
        reload,
    )
    .await?;
    Ok(crate::management::TokenManager::new(store, peppers, policy))
}
