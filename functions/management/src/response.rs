//! HTTP answers with a body: the one place a management response is built,
//! so views and problems share it without importing each other.

use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;

/// A response with a JSON body; management answers are never cached.
pub fn respond(status: StatusCode, content_type: &str, body: &impl Serialize) -> Response<Body> {
    let text = serde_json::to_string(body).unwrap_or_default();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Text(text))
        .unwrap_or_default()
}

pub fn json(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    respond(status, "application/json", body)
}

pub fn no_content() -> Response<Body> {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Empty)
        .unwrap_or_default()
}

/// API Gateway's own 401, byte for byte: what `GET /v1/tokens/self` answers
/// for a token the authorizer allowed but that is no longer active, so a
/// client cannot tell this refusal from the gateway's.
pub fn gateway_unauthorized() -> Response<Body> {
    Response::builder()
        .status(StatusCode::UNAUTHORIZED)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Text(r#"{"message":"Unauthorized"}"#.to_owned()))
        .unwrap_or_default()
}

/// `response` with its representation's entity tag, for `If-Match`.
pub fn tagged(mut response: Response<Body>, tag: &str) -> Response<Body> {
    if let Ok(value) = header::HeaderValue::from_str(tag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// A replayed answer to a retried `Idempotency-Key` says so.
pub fn replayed(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(
        "idempotent-replayed",
        header::HeaderValue::from_static("true"),
    );
    response
}
