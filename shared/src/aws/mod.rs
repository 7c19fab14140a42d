//! AWS adapters: DynamoDB storage, KMS peppers, and client set-up.
//!
//! Clients find local emulators only through the standard SDK variables
//! (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_KMS`): no special code path.

pub mod dynamodb;
pub mod kms;

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
