//! What more than one of the authorizer's test binaries builds.

use serde_json::json;

/// An HTTP API payload 2.0 `REQUEST` event for `method path`, with
/// `header` as its `Authorization` (and identity source) when given.
pub fn http_v2(header: Option<&str>, method: &str, path: &str) -> String {
    let mut headers = json!({"host": "example.com"});
    if let Some(h) = header {
        headers["authorization"] = json!(h);
    }
    json!({
        "version": "2.0", "type": "REQUEST",
        "routeArn": format!("arn:aws:execute-api:us-east-1:123456789012:abcdef1234/$default/{method}{path}"),
        "identitySource": header.map(|h| vec![h]).unwrap_or_default(),
        "routeKey": format!("{method} {path}"), "rawPath": path, "rawQueryString": "",
        "cookies": [], "headers": headers, "queryStringParameters": {},
        "requestContext": {"accountId": "123456789012", "apiId": "abcdef1234",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "t"},
            "requestId": "r", "routeKey": format!("{method} {path}"), "stage": "$default", "timeEpoch": 0},
        "pathParameters": {}, "stageVariables": {}
    })
    .to_string()
}
