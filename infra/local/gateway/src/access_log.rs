//! The stage's access log: one line per request in the template's own
//! `AccessLogSettings.Format`, its `$context` variables filled in as API
//! Gateway fills them, so the logs the tests scan for tokens hold exactly
//! what a deployed stack would write.

use std::time::Duration;

/// What one request's access log line can say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccessRecord {
    pub request_id: String,
    /// `03/Dec/2026:20:15:00 +0000`, as `$context.requestTime`.
    pub request_time: String,
    pub http_method: String,
    /// `None` when no route matched (API Gateway writes `-`).
    pub route_key: Option<String>,
    pub status: u16,
    pub response_length: usize,
    pub response_latency: Duration,
    pub integration: Option<Integration>,
    pub authorizer: Option<AuthorizerCall>,
    /// API Gateway's own message, e.g. `Unauthorized`; none for a function's answer.
    pub error_message: Option<String>,
    pub source_ip: String,
}

/// The route's function call.
#[derive(Debug, Clone, PartialEq)]
pub struct Integration {
    pub latency: Duration,
    /// The status the function answered; `None` when it failed.
    pub status: Option<u16>,
}

/// The Lambda authorizer's call, when it was made (not on a cache hit).
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizerCall {
    pub latency: Duration,
    /// Why its answer was not used: a failure or an unreadable answer.
    pub error: Option<String>,
}

/// `format` with every `$context.name` replaced by its value, escaped for a
/// JSON string; a variable with no value, or one the gateway does not know,
/// becomes `-`, as in API Gateway.
pub fn render(format: &str, record: &AccessRecord) -> String {
    let mut out = String::with_capacity(format.len() + 128);
    let mut rest = format;
    while let Some(at) = rest.find("$context.") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + "$context.".len()..];
        let length = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
            .unwrap_or(tail.len());
        // A sentence's full stop is not part of the name.
        let name = tail[..length].trim_end_matches('.');
        let value = value_of(name, record).unwrap_or_else(|| "-".to_owned());
        out.push_str(&escape(&value));
        rest = &tail[name.len()..];
    }
    out.push_str(rest);
    out
}

fn value_of(name: &str, record: &AccessRecord) -> Option<String> {
    let millis = |duration: Duration| duration.as_millis().to_string();
    match name {
        "requestId" => Some(record.request_id.clone()),
        "requestTime" => Some(record.request_time.clone()),
        "httpMethod" => Some(record.http_method.clone()),
        "routeKey" => record.route_key.clone(),
        "status" => Some(record.status.to_string()),
        "protocol" => Some("HTTP/1.1".to_owned()),
        "responseLength" => Some(record.response_length.to_string()),
        "responseLatency" => Some(millis(record.response_latency)),
        "integrationLatency" => record.integration.as_ref().map(|i| millis(i.latency)),
        "integrationStatus" => record
            .integration
            .as_ref()
            .and_then(|i| i.status)
            .map(|status| status.to_string()),
        "authorizer.latency" => record.authorizer.as_ref().map(|a| millis(a.latency)),
        "authorizer.error" => record.authorizer.as_ref().and_then(|a| a.error.clone()),
        "error.message" => record.error_message.clone(),
        "identity.sourceIp" => Some(record.source_ip.clone()),
        // The Lambda request id of the route's function: cargo lambda watch
        // does not report it.
        _ => None,
    }
}

fn escape(value: &str) -> String {
    let quoted = serde_json::to_string(value).unwrap_or_default();
    quoted[1..quoted.len() - 1].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const FORMAT: &str = r#"{"requestId":"$context.requestId", "routeKey":"$context.routeKey", "status":"$context.status", "authorizerError":"$context.authorizer.error", "authorizerLatency":"$context.authorizer.latency", "integrationLatency":"$context.integrationLatency", "header":"$context.unknownThing", "sourceIp":"$context.identity.sourceIp"}"#;

    fn record() -> AccessRecord {
        AccessRecord {
            request_id: "local-00000001".into(),
            http_method: "GET".into(),
            route_key: Some("GET /v1/whoami".into()),
            status: 500,
            authorizer: Some(AuthorizerCall {
                latency: Duration::from_millis(12),
                error: Some("authorizer failed: \"Handled\"".into()),
            }),
            error_message: Some("Internal Server Error".into()),
            source_ip: "127.0.0.1".into(),
            ..AccessRecord::default()
        }
    }

    #[test]
    fn given_an_authorizer_failure_then_the_line_is_json_with_its_error_and_latency() {
        let line: Value = serde_json::from_str(&render(FORMAT, &record())).unwrap();
        assert_eq!(line["requestId"], "local-00000001");
        assert_eq!(line["routeKey"], "GET /v1/whoami");
        assert_eq!(line["status"], "500");
        assert_eq!(line["authorizerError"], "authorizer failed: \"Handled\"");
        assert_eq!(line["authorizerLatency"], "12");
        // No integration ran; an unknown variable has no value either.
        assert_eq!(line["integrationLatency"], "-");
        assert_eq!(line["header"], "-");
        assert_eq!(line["sourceIp"], "127.0.0.1");
    }

    #[test]
    fn given_no_route_then_its_key_is_a_dash_and_text_around_variables_is_kept() {
        let record = AccessRecord {
            route_key: None,
            ..record()
        };
        assert_eq!(
            render("route $context.routeKey. status $context.status", &record),
            "route -. status 500"
        );
    }
}
