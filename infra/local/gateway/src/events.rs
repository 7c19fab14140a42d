//! The events an HTTP API sends (payload 2.0: the integration event and the
//! Lambda authorizer event) and the translation of a function's answer back
//! into HTTP.

use std::collections::BTreeMap;

use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::template::IdentitySource;

/// The parts of an HTTP request the events carry.
#[derive(Debug, Clone)]
pub struct RequestView {
    pub method: String,
    pub path: String,
    pub raw_query: String,
    /// Lowercase names; repeated headers joined with `,` as API Gateway does.
    /// `cookie` is not here: payload 2.0 moves it to `cookies`.
    pub headers: BTreeMap<String, String>,
    pub cookies: Vec<String>,
    pub body: Bytes,
    pub source_ip: String,
    pub request_id: String,
    pub time: OffsetDateTime,
}

impl RequestView {
    /// The request's cookies as one `Cookie` header, if it sent any.
    pub fn cookie_header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| self.cookies.join("; "))
    }
}

/// The route a request matched, with its path parameters.
#[derive(Debug, Clone)]
pub struct MatchedRoute {
    pub route_key: String,
    pub path_parameters: BTreeMap<String, String>,
}

/// Where this local API lives, for ARNs and request contexts.
#[derive(Debug, Clone)]
pub struct ApiIdentity {
    pub region: String,
    pub account_id: String,
    pub api_id: String,
    pub stage: String,
}

impl RequestView {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Query parameters; repeated ones joined with `,`.
    pub fn query_parameters(&self) -> BTreeMap<String, String> {
        let mut parameters: BTreeMap<String, String> = BTreeMap::new();
        for pair in self.raw_query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (name, value) = (percent_decode(name), percent_decode(value));
            parameters
                .entry(name)
                .and_modify(|v| {
                    v.push(',');
                    v.push_str(&value)
                })
                .or_insert(value);
        }
        parameters
    }

    /// An identity source's value; `None` when absent or empty (API Gateway then answers 401).
    pub fn identity_value(
        &self,
        source: &IdentitySource,
        route: &MatchedRoute,
        api: &ApiIdentity,
    ) -> Option<String> {
        let value = match source {
            IdentitySource::Header(name) => self.header(name).map(str::to_owned),
            IdentitySource::QueryString(name) => self.query_parameters().remove(name),
            IdentitySource::Context(name) => match name.as_str() {
                "routeKey" => Some(route.route_key.clone()),
                "httpMethod" => Some(self.method.clone()),
                "stage" => Some(api.stage.clone()),
                "identity.sourceIp" => Some(self.source_ip.clone()),
                _ => None,
            },
        };
        value.filter(|v| !v.is_empty())
    }

    fn request_context(&self, route: &MatchedRoute, api: &ApiIdentity) -> Value {
        json!({
            "accountId": api.account_id,
            "apiId": api.api_id,
            "domainName": "localhost",
            "domainPrefix": api.api_id,
            "http": {
                "method": self.method,
                "path": self.path,
                "protocol": "HTTP/1.1",
                "sourceIp": self.source_ip,
                "userAgent": self.header("user-agent").unwrap_or_default(),
            },
            "requestId": self.request_id,
            "routeKey": route.route_key,
            "stage": api.stage,
            "time": self.time.format(CLF_TIME).unwrap_or_default(),
            "timeEpoch": self.time.unix_timestamp() * 1000 + i64::from(self.time.millisecond()),
        })
    }

    fn common(&self, route: &MatchedRoute, api: &ApiIdentity) -> Map<String, Value> {
        let mut event = Map::new();
        event.insert("version".into(), json!("2.0"));
        event.insert("routeKey".into(), json!(route.route_key));
        event.insert("rawPath".into(), json!(self.path));
        event.insert("rawQueryString".into(), json!(self.raw_query));
        if !self.cookies.is_empty() {
            event.insert("cookies".into(), json!(self.cookies));
        }
        event.insert("headers".into(), json!(self.headers));
        let query = self.query_parameters();
        if !query.is_empty() {
            event.insert("queryStringParameters".into(), json!(query));
        }
        if !route.path_parameters.is_empty() {
            event.insert("pathParameters".into(), json!(route.path_parameters));
        }
        event.insert("requestContext".into(), self.request_context(route, api));
        event
    }

    /// The payload 2.0 event for the route's function; `authorizer` is the
    /// `requestContext.authorizer` object (JWT claims or Lambda context), if any.
    pub fn integration_event(
        &self,
        route: &MatchedRoute,
        api: &ApiIdentity,
        authorizer: Option<Value>,
    ) -> Value {
        let mut event = self.common(route, api);
        if let (Some(authorizer), Some(Value::Object(context))) =
            (authorizer, event.get_mut("requestContext"))
        {
            context.insert("authorizer".into(), authorizer);
        }
        if !self.body.is_empty() {
            let (body, encoded) = match std::str::from_utf8(&self.body) {
                Ok(text) => (text.to_owned(), false),
                Err(_) => (
                    base64::engine::general_purpose::STANDARD.encode(&self.body),
                    true,
                ),
            };
            event.insert("body".into(), json!(body));
            event.insert("isBase64Encoded".into(), json!(encoded));
        } else {
            event.insert("isBase64Encoded".into(), json!(false));
        }
        Value::Object(event)
    }

    /// The payload 2.0 `REQUEST` event for a Lambda authorizer.
    pub fn authorizer_event(
        &self,
        route: &MatchedRoute,
        api: &ApiIdentity,
        identity: &[String],
    ) -> Value {
        let mut event = self.common(route, api);
        event.insert("type".into(), json!("REQUEST"));
        event.insert("routeArn".into(), json!(self.route_arn(api)));
        event.insert("identitySource".into(), json!(identity));
        Value::Object(event)
    }

    /// The REST `REQUEST` event for a Lambda authorizer of a REST API stage
    /// (`api`): the method's ARN, the request, and its caller's identity.
    pub fn rest_authorizer_event(&self, route: &MatchedRoute, api: &ApiIdentity) -> Value {
        let resource = route
            .route_key
            .split_once(' ')
            .map_or(self.path.as_str(), |(_, path)| path);
        json!({
            "type": "REQUEST",
            "methodArn": self.route_arn(api),
            "resource": resource,
            "path": self.path,
            "httpMethod": self.method,
            "headers": self.headers,
            "queryStringParameters": self.query_parameters(),
            "pathParameters": route.path_parameters,
            "stageVariables": {},
            "requestContext": {
                "accountId": api.account_id,
                "apiId": api.api_id,
                "stage": api.stage,
                "requestId": self.request_id,
                "resourcePath": resource,
                "httpMethod": self.method,
                "path": format!("/{}{}", api.stage, self.path),
                "identity": {
                    "sourceIp": self.source_ip,
                    "userAgent": self.header("user-agent").unwrap_or_default(),
                },
            },
        })
    }

    /// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}{path}`.
    pub fn route_arn(&self, api: &ApiIdentity) -> String {
        format!(
            "arn:aws:execute-api:{}:{}:{}/{}/{}{}",
            api.region, api.account_id, api.api_id, api.stage, self.method, self.path
        )
    }
}

pub(crate) const CLF_TIME: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
);

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, other) => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A function's payload 2.0 answer as an HTTP response.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the function's response is not a valid payload 2.0 response: {0}")]
pub struct MalformedResponse(&'static str);

impl HttpAnswer {
    /// API Gateway's rules: an object with `statusCode` is a full response;
    /// anything else is a 200 JSON body.
    pub fn from_function(result: &Value) -> Result<Self, MalformedResponse> {
        let Some(status) = result.get("statusCode") else {
            return Ok(Self {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: Bytes::from(result.to_string()),
            });
        };
        let status = status
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .filter(|s| (100..=599).contains(s))
            .ok_or(MalformedResponse("statusCode"))?;
        let mut headers = Vec::new();
        for (name, value) in result["headers"].as_object().into_iter().flatten() {
            headers.push((
                name.clone(),
                scalar(value).ok_or(MalformedResponse("headers"))?,
            ));
        }
        for (name, values) in result["multiValueHeaders"]
            .as_object()
            .into_iter()
            .flatten()
        {
            for value in values.as_array().into_iter().flatten() {
                headers.push((
                    name.clone(),
                    scalar(value).ok_or(MalformedResponse("multiValueHeaders"))?,
                ));
            }
        }
        for cookie in result["cookies"].as_array().into_iter().flatten() {
            let cookie = cookie.as_str().ok_or(MalformedResponse("cookies"))?;
            headers.push(("set-cookie".into(), cookie.to_owned()));
        }
        let body = match &result["body"] {
            Value::Null => Bytes::new(),
            Value::String(text) if result["isBase64Encoded"].as_bool() == Some(true) => {
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map(Bytes::from)
                    .map_err(|_| MalformedResponse("body is not base64"))?
            }
            Value::String(text) => Bytes::from(text.clone()),
            _ => return Err(MalformedResponse("body")),
        };
        Ok(Self {
            status,
            headers,
            body,
        })
    }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> RequestView {
        RequestView {
            method: "GET".into(),
            path: "/v1/tokens/abc".into(),
            raw_query: "status=active&limit=5&tag=a&tag=b%2Cc&sp=a+b".into(),
            headers: [("authorization".to_owned(), "Bearer x".to_owned())]
                .into_iter()
                .collect(),
            cookies: vec!["a=1".into()],
            body: Bytes::new(),
            source_ip: "127.0.0.1".into(),
            request_id: "r1".into(),
            time: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        }
    }

    fn api() -> ApiIdentity {
        ApiIdentity {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            api_id: "local".into(),
            stage: "$default".into(),
        }
    }

    fn route() -> MatchedRoute {
        MatchedRoute {
            route_key: "GET /v1/tokens/{id}".into(),
            path_parameters: [("id".to_owned(), "abc".to_owned())].into_iter().collect(),
        }
    }

    #[test]
    fn the_rest_authorizer_event_reads_as_a_rest_request_of_the_stage() {
        let rest = ApiIdentity {
            api_id: "abc123".into(),
            stage: "v1".into(),
            ..api()
        };
        let event = view().rest_authorizer_event(&route(), &rest);
        let typed: aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest =
            serde_json::from_value(event.clone()).unwrap();
        assert_eq!(
            typed.method_arn.as_deref(),
            Some("arn:aws:execute-api:us-east-1:000000000000:abc123/v1/GET/v1/tokens/abc")
        );
        assert_eq!(typed.resource.as_deref(), Some("/v1/tokens/{id}"));
        assert_eq!(typed.headers["authorization"], "Bearer x");
        assert_eq!(typed.path_parameters["id"], "abc");
        assert_eq!(event["type"], "REQUEST");
        assert_eq!(event["requestContext"]["identity"]["sourceIp"], "127.0.0.1");
        assert!(event.get("version").is_none(), "no payload 2.0 marker");
    }

    #[test]
    fn the_integration_event_reads_as_an_http_api_request() {
        let event = view().integration_event(
            &route(),
            &api(),
            Some(json!({"jwt": {"claims": {"sub": "u"}, "scopes": null}})),
        );
        // The functions read it through aws_lambda_events, as in AWS.
        let typed: aws_lambda_events::apigw::ApiGatewayV2httpRequest =
            serde_json::from_value(event.clone()).unwrap();
        assert_eq!(typed.request_context.http.method, "GET");
        let request = event;
        assert_eq!(request["routeKey"], "GET /v1/tokens/{id}");
        assert_eq!(request["pathParameters"]["id"], "abc");
        assert_eq!(request["queryStringParameters"]["tag"], "a,b,c");
        assert_eq!(request["queryStringParameters"]["sp"], "a b");
        assert_eq!(
            request["requestContext"]["authorizer"]["jwt"]["claims"]["sub"],
            "u"
        );
        assert_eq!(
            request["requestContext"]["time"],
            "15/Jan/2027:08:00:00 +0000"
        );
        assert_eq!(request["cookies"][0], "a=1");
    }

    #[test]
    fn the_authorizer_event_carries_identity_and_route_arn() {
        let event = view().authorizer_event(&route(), &api(), &["Bearer x".into()]);
        assert_eq!(event["type"], "REQUEST");
        assert_eq!(
            event["routeArn"],
            "arn:aws:execute-api:us-east-1:000000000000:local/$default/GET/v1/tokens/abc"
        );
        assert_eq!(event["identitySource"][0], "Bearer x");
    }

    #[test]
    fn identity_values_must_be_present_and_non_empty() {
        let mut view = view();
        let header = IdentitySource::Header("Authorization".into());
        assert_eq!(
            view.identity_value(&header, &route(), &api()).as_deref(),
            Some("Bearer x")
        );
        view.headers.insert("authorization".into(), String::new());
        assert_eq!(view.identity_value(&header, &route(), &api()), None);
        let route_key = IdentitySource::Context("routeKey".into());
        assert_eq!(
            view.identity_value(&route_key, &route(), &api()).as_deref(),
            Some("GET /v1/tokens/{id}")
        );
    }

    #[test]
    fn function_answers_become_http() {
        let full = HttpAnswer::from_function(
            &json!({"statusCode": 201, "headers": {"content-type": "application/json"},
            "cookies": ["a=1"], "body": "{\"ok\":true}", "isBase64Encoded": false}),
        )
        .unwrap();
        assert_eq!(full.status, 201);
        assert!(full.headers.contains(&("set-cookie".into(), "a=1".into())));
        assert_eq!(&full.body[..], b"{\"ok\":true}");
        let encoded = HttpAnswer::from_function(
            &json!({"statusCode": 200, "body": "aGk=", "isBase64Encoded": true}),
        )
        .unwrap();
        assert_eq!(&encoded.body[..], b"hi");
        let bare = HttpAnswer::from_function(&json!({"hello": "world"})).unwrap();
        assert_eq!(bare.status, 200);
        assert!(HttpAnswer::from_function(&json!({"statusCode": 42})).is_err());
    }

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(percent_decode("a%2Cb"), "a,b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
