//! `GatewayCache` over the API Gateway control plane: HTTP APIs'
//! `ResetAuthorizersCache` and REST APIs' `FlushStageAuthorizersCache`.
//! Locally the SDK finds the local gateway's control plane through
//! `AWS_ENDPOINT_URL_APIGATEWAYV2` and `AWS_ENDPOINT_URL_API_GATEWAY`.

use async_trait::async_trait;
use aws_sdk_apigatewayv2::error::{ProvideErrorMetadata, SdkError};
use cog_tokens::store::gateway::{FlushError, GatewayCache, Stage};

#[derive(Debug, Clone)]
pub struct SdkGatewayCache {
    http: aws_sdk_apigatewayv2::Client,
    rest: aws_sdk_apigateway::Client,
}

impl SdkGatewayCache {
    pub fn new(http: aws_sdk_apigatewayv2::Client, rest: aws_sdk_apigateway::Client) -> Self {
        Self { http, rest }
    }
}

/// The error's code only: SDK errors' `Debug` can carry response bodies.
fn flush_error<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> FlushError {
    match error.as_service_error().and_then(|e| e.code()) {
        Some("TooManyRequestsException") => FlushError::Throttled,
        Some("NotFoundException") => FlushError::NotFound,
        Some(code) => FlushError::Failed(format!("service error {code}")),
        None => FlushError::Failed(match error {
            SdkError::TimeoutError(_) => "timeout".into(),
            SdkError::DispatchFailure(_) => "dispatch failure".into(),
            SdkError::ResponseError(_) => "unreadable response".into(),
            _ => "request failed".into(),
        }),
    }
}

#[async_trait]
impl GatewayCache for SdkGatewayCache {
    async fn flush(&self, stage: &Stage) -> Result<(), FlushError> {
        match stage {
            Stage::Http { api_id, stage } => self
                .http
                .reset_authorizers_cache()
                .api_id(api_id)
                .stage_name(stage)
                .send()
                .await
                .map(drop)
                .map_err(|e| flush_error(&e)),
            Stage::Rest { api_id, stage } => self
                .rest
                .flush_stage_authorizers_cache()
                .rest_api_id(api_id)
                .stage_name(stage)
                .send()
                .await
                .map(drop)
                .map_err(|e| flush_error(&e)),
        }
    }
}
