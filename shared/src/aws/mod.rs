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
