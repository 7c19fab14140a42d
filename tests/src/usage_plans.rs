//! REST usage plans on the local stack: moto's API Gateway (the KMS
//! emulator's server serves it too), and the bus events the sync runs on.

use cog_tokens::events::LifecycleEvent;
use cog_tokens::records::{AuditAction, Owner};
use cog_tokens::store::AuditLog;
use cog_tokens::TokenId;
use serde_json::{json, Value};

pub use aws_sdk_apigateway::types::ApiKeySourceType;
pub use aws_sdk_apigateway::Client as ApiGateway;

/// API Gateway on moto.
pub async fn api_gateway() -> ApiGateway {
    let sdk = cog_tokens::aws::sdk_config().await;
    let endpoint = std::env::var("AWS_ENDPOINT_URL_KMS").unwrap();
    ApiGateway::from_conf(
        aws_sdk_apigateway::config::Builder::from(&sdk)
            .endpoint_url(endpoint)
            .build(),
    )
}

/// A new REST API on moto taking its keys from `source`: its id.
pub async fn rest_api(gateway: &ApiGateway, source: ApiKeySourceType) -> String {
    let api = gateway
        .create_rest_api()
        .name(crate::unique("rest"))
        .api_key_source(source)
        .send()
        .await
        .unwrap();
    api.id().unwrap().to_owned()
}

/// The bus event the publisher makes of `owner`'s latest `action` audit
/// for `token`, as the sync's rule delivers it.
pub async fn bus_event(
    store: &impl AuditLog,
    owner: &Owner,
    action: AuditAction,
    token: TokenId,
) -> Value {
    let trail = store.audit_events(Some(owner), 50).await.unwrap();
    let audit = trail
        .iter()
        .find(|a| a.action == action && a.token_id == Some(token))
        .unwrap_or_else(|| panic!("no {action} audit of {token}"));
    let published = LifecycleEvent::from_audit(audit).unwrap();
    json!({"source": "cog.tokens", "detail-type": published.detail_type,
           "detail": published.detail})
}
