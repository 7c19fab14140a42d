//! The gateway's HTTP answers: a function's payload 2.0 answer, and API
//! Gateway's own (`{"message": ...}`, problem+json, empty).

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use crate::events::HttpAnswer;

pub fn http_response(answer: HttpAnswer) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(answer.body));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(&value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

pub fn set_header(response: &mut Response<Full<Bytes>>, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        hyper::header::HeaderName::from_bytes(name.as_bytes()),
        hyper::header::HeaderValue::from_str(value),
    ) {
        response.headers_mut().insert(name, value);
    }
}

pub fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

pub fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    set_header(&mut response, "content-type", "application/json");
    response
}

/// API Gateway's own error answers: `{"message": "Unauthorized"}` and friends.
pub fn message(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    json_response(status, &json!({ "message": text }))
}

pub fn problem(status: StatusCode, code: &str, detail: &str) -> Response<Full<Bytes>> {
    let mut response = json_response(
        status,
        &json!({"type": "about:blank", "title": status.canonical_reason(), "status": status.as_u16(),
                "code": code, "detail": detail}),
    );
    set_header(&mut response, "content-type", "application/problem+json");
    response
}
