//! `GET /v1/whoami`: answers with the identity the token authorizer put in
//! the request context, so any deployment can be smoke-tested with a token.

use cog_tokens::authorize::context::AuthorizerContext;
use cog_tokens::metrics;
use cog_tokens::records::Timestamp;
use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, Request, RequestExt, Response};
use serde_json::json;

fn whoami(request: &Request) -> Response<Body> {
    let context = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .authorizer
            .as_ref()
            .and_then(|authorizer| AuthorizerContext::from_fields(&authorizer.fields)),
        _ => None,
    };
    let (status, body) = match context.map(serde_json::to_value) {
        Some(Ok(identity)) => (StatusCode::OK, identity),
        // Only reachable if the route is deployed without the token authorizer.
        _ => (
            StatusCode::UNAUTHORIZED,
            json!({"type": "about:blank", "title": "Unauthorized", "status": 401,
                   "detail": "no token identity on this request", "code": "unauthenticated"}),
        ),
    };
    let content_type = if status == StatusCode::OK {
        "application/json"
    } else {
        "application/problem+json"
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("cache-control", "no-store")
        .body(Body::Text(body.to_string()))
        .unwrap_or_default()
}

/// The `Function` dimension's value.
const FUNCTION_NAME: &str = "whoami";
/// The one route, as its route key.
const ROUTE_KEY: &str = "GET /v1/whoami";

/// The route key for metrics: the route table's, never the request's path.
fn route_key(request: &Request) -> &'static str {
    if request.method() == Method::GET && request.uri().path() == "/v1/whoami" {
        ROUTE_KEY
    } else {
        metrics::UNMATCHED_ROUTE
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cog_tokens::logging::init();
    lambda_http::run(service_fn(|request: Request| async move {
        let response = whoami(&request);
        let status = response.status().as_u16();
        metrics::emit(FUNCTION_NAME, Timestamp::now().0, |aggregate| {
            metrics::count_request(aggregate, route_key(&request), status)
        });
        Ok::<_, std::convert::Infallible>(response)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn request(authorizer: Value) -> Request {
        let event = json!({
            "version": "2.0", "routeKey": "GET /v1/whoami", "rawPath": "/v1/whoami", "rawQueryString": "",
            "headers": {}, "isBase64Encoded": false,
            "requestContext": {"accountId": "1", "apiId": "a", "domainName": "d", "requestId": "r",
                "routeKey": "GET /v1/whoami", "stage": "$default", "time": "t", "timeEpoch": 0,
                "http": {"method": "GET", "path": "/v1/whoami", "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4", "userAgent": "t"},
                "authorizer": authorizer}
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    fn body(response: &Response<Body>) -> Value {
        match response.body() {
            Body::Text(text) => serde_json::from_str(text).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn given_the_authorizer_context_then_it_is_returned() {
        let context = json!({"principal_type": "user", "principal_id": "alice", "token_id": "0123456789ABCDEF",
                             "auth_method": "pat", "scopes": "tokens:read", "orgs": "acme:admin", "other": "x"});
        let response = whoami(&request(json!({"lambda": context})));
        assert_eq!(response.status(), 200);
        let body = body(&response);
        assert_eq!(body["principal_id"], "alice");
        assert_eq!(body["auth_method"], "pat");
        assert!(body.get("other").is_none());
    }

    #[test]
    fn the_route_key_is_the_route_tables_whatever_the_path() {
        assert_eq!(route_key(&request(json!({}))), "GET /v1/whoami");
        let other = lambda_http::http::Request::builder()
            .uri("/v1/whoami/0123456789ABCDEF")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(route_key(&other), "unmatched");
    }

    #[test]
    fn given_no_token_identity_then_401() {
        let response = whoami(&request(
            json!({"jwt": {"claims": {"sub": "alice"}, "scopes": null}}),
        ));
        assert_eq!(response.status(), 401);
        assert_eq!(body(&response)["code"], "unauthenticated");
    }
}
