//! The borrowed event view must read every shape exactly as the
//! `aws_lambda_events` request types do: same credential, same route.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use authorizer::request::{AuthorizerEvent, EventShape};
use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequest, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayV2CustomAuthorizerV2Request,
};
use serde_json::{json, Value};

fn sample(file: &str) -> Value {
    let path = format!("{}/../../infra/events/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// What the reference types say: (shape, authorization, method, path).
fn reference(raw: &str) -> (EventShape, Option<String>, Option<String>, Option<String>) {
    let value: Value = serde_json::from_str(raw).unwrap();
    if value["version"] == "2.0" {
        let event: ApiGatewayV2CustomAuthorizerV2Request = serde_json::from_str(raw).unwrap();
        let mut auth = event.headers.get_all("authorization").iter();
        let first = auth.next().map(|v| v.to_str().unwrap().to_owned());
        let single = if auth.next().is_some() { None } else { first };
        (
            EventShape::HttpV2,
            single,
            Some(event.request_context.http.method.to_string()),
            event.raw_path,
        )
    } else if value["type"] == "TOKEN" {
        let event: ApiGatewayCustomAuthorizerRequest = serde_json::from_str(raw).unwrap();
        let arn = event.method_arn.unwrap();
        let parts: Vec<&str> = arn.splitn(4, '/').collect();
        (
            EventShape::RestToken,
            event.authorization_token,
            Some(parts[2].to_owned()),
            Some(format!("/{}", parts[3])),
        )
    } else {
        let event: ApiGatewayCustomAuthorizerRequestTypeRequest =
            serde_json::from_str(raw).unwrap();
        let multi = event
            .multi_value_headers
            .get_all("authorization")
            .iter()
            .count();
        let mut auth = event.headers.get_all("authorization").iter();
        let first = auth.next().map(|v| v.to_str().unwrap().to_owned());
        let single = if auth.next().is_some() || multi > 1 {
            None
        } else {
            first
        };
        (
            EventShape::RestRequest,
            single,
            event.http_method.map(|m| m.to_string()),
            event.path,
        )
    }
}

fn ours(raw: &str) -> (EventShape, Option<String>, Option<String>, Option<String>) {
    let event = AuthorizerEvent::from_json(raw).unwrap();
    let shape = event.shape().unwrap();
    let route = event.route(shape);
    (
        shape,
        event.authorization(shape).map(str::to_owned),
        route.map(|r| r.method.to_owned()),
        route.map(|r| r.path.to_owned()),
    )
}

#[test]
fn every_sample_event_reads_the_same_through_both() {
    let mut events = Vec::new();
    for file in ["rest-token.json", "rest-request.json", "http-v2.json"] {
        let event = sample(file);
        events.push(event.clone());
        if event.get("headers").is_some() {
            // Header name case, a missing header, and a header with escapes.
            let mut lower = event.clone();
            let value = lower["headers"]
                .as_object_mut()
                .unwrap()
                .remove("Authorization")
                .or_else(|| {
                    lower["headers"]
                        .as_object_mut()
                        .unwrap()
                        .remove("authorization")
                })
                .unwrap();
            lower["headers"]["AUTHORIZATION"] = value.clone();
            if lower.get("multiValueHeaders").is_some() {
                lower["multiValueHeaders"]
                    .as_object_mut()
                    .unwrap()
                    .remove("Authorization");
                lower["multiValueHeaders"]["authorization"] = json!([value.clone()]);
            }
            events.push(lower);
            let mut none = event.clone();
            none["headers"]
                .as_object_mut()
                .unwrap()
                .retain(|k, _| !k.eq_ignore_ascii_case("authorization"));
            if none.get("multiValueHeaders").is_some() {
                none["multiValueHeaders"]
                    .as_object_mut()
                    .unwrap()
                    .retain(|k, _| !k.eq_ignore_ascii_case("authorization"));
            }
            events.push(none);
        }
        let mut escaped = event.clone();
        escaped["rawPath"] = json!("/v1/caf\u{e9}");
        escaped["path"] = json!("/v1/caf\u{e9}");
        events.push(escaped);
    }
    for event in events {
        let raw = serde_json::to_string(&event).unwrap();
        assert_eq!(ours(&raw), reference(&raw), "{raw}");
    }
}
