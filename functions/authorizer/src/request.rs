//! The request view: the three event shapes API Gateway sends a Lambda
//! authorizer, read as just the fields a decision needs (shape,
//! `Authorization` header, route, resource ARN).

use std::borrow::Cow;

use cog_tokens::authorize::{Route, Source};
use compact_str::CompactString;
use serde::Deserialize;

/// An event this function cannot read.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("event is not JSON of a known authorizer shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported authorizer event (type {kind:?}, version {version:?})")]
    Unsupported {
        kind: Option<String>,
        version: Option<String>,
    },
}

/// Which of the three shapes an event has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventShape {
    RestToken,
    RestRequest,
    HttpV2,
}

/// One incoming authorizer event, read as just the few fields a decision
/// needs; everything else in the JSON is skipped without being built. The
/// Lambda runtime deserializes it straight from the invocation body.
///
/// Deserializing the full `aws_lambda_events` request types costs 7–10 µs a
/// REQUEST event (mostly building `http::HeaderMap`s), more than this
/// function's whole per-event budget, so they are not used on the hot path.
/// A test reads every sample event through both and requires the same
/// shape, credential and route. Short text fields are `CompactString`s,
/// kept inline up to 24 bytes: reading them allocates nothing.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerEvent {
    #[serde(rename = "type")]
    kind: Option<CompactString>,
    version: Option<CompactString>,
    authorization_token: Option<String>,
    method_arn: Option<String>,
    route_arn: Option<String>,
    http_method: Option<CompactString>,
    path: Option<CompactString>,
    raw_path: Option<CompactString>,
    headers: Option<AuthorizationHeaders>,
    multi_value_headers: Option<AuthorizationHeaders>,
    request_context: Option<RequestContext>,
}

impl std::fmt::Debug for AuthorizerEvent {
    // Never print the credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizerEvent")
            .field("type", &self.kind)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize, Default)]
struct RequestContext {
    http: Option<HttpDescription>,
    identity: Option<CallerIdentity>,
}

/// HTTP API 2.0: `requestContext.http`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct HttpDescription {
    method: Option<CompactString>,
    source_ip: Option<CompactString>,
    user_agent: Option<CompactString>,
}

/// REST `REQUEST`: `requestContext.identity`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CallerIdentity {
    source_ip: Option<CompactString>,
    user_agent: Option<CompactString>,
}

/// The `Authorization` values of a header map (any letter case), counting
/// each value so that two of them can be refused. Other headers are skipped.
#[derive(Default)]
struct AuthorizationHeaders {
    first: Option<String>,
    count: usize,
}

impl<'de> Deserialize<'de> for AuthorizationHeaders {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(HeadersVisitor)
    }
}

struct HeadersVisitor;

impl<'de> serde::de::Visitor<'de> for HeadersVisitor {
    type Value = AuthorizationHeaders;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of headers")
    }

    fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut found = AuthorizationHeaders::default();
        while let Some(name) = map.next_key::<Cow<'de, str>>()? {
            if !name.eq_ignore_ascii_case("authorization") {
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            let values = map.next_value::<HeaderValues>()?;
            found.count += values.0.len();
            if found.first.is_none() {
                found.first = values.0.into_iter().next();
            }
        }
        Ok(found)
    }
}

/// A header's values: `"v"` (REST `headers`), `["v", …]` (`multiValueHeaders`) or null.
struct HeaderValues(Vec<String>);

impl<'de> Deserialize<'de> for HeaderValues {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(HeaderValuesVisitor)
    }
}

struct HeaderValuesVisitor;

impl<'de> serde::de::Visitor<'de> for HeaderValuesVisitor {
    type Value = HeaderValues;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a header value, a list of them, or null")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(HeaderValues(vec![value.to_owned()]))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(HeaderValues(Vec::new()))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(HeaderValues(Vec::new()))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut values = Vec::new();
        while let Some(value) = seq.next_element::<String>()? {
            values.push(value);
        }
        Ok(HeaderValues(values))
    }
}

impl AuthorizerEvent {
    pub fn from_json(raw: &str) -> Result<Self, EventError> {
        Ok(serde_json::from_str(raw)?)
    }

    /// Which shape this is, from `type` and `version`.
    pub fn shape(&self) -> Result<EventShape, EventError> {
        match (self.kind.as_deref(), self.version.as_deref()) {
            (_, Some("2.0")) => Ok(EventShape::HttpV2),
            (Some("TOKEN"), _) => Ok(EventShape::RestToken),
            // HTTP API payload 1.0 is the REST REQUEST shape.
            (Some("REQUEST"), None | Some("1.0")) => Ok(EventShape::RestRequest),
            (kind, version) => Err(EventError::Unsupported {
                kind: kind.map(str::to_owned),
                version: version.map(str::to_owned),
            }),
        }
    }

    /// The `Authorization` header value. Two such values are ambiguous: none.
    pub fn authorization(&self, shape: EventShape) -> Option<&str> {
        if shape == EventShape::RestToken {
            return self.authorization_token.as_deref();
        }
        let headers = self.headers.as_ref()?;
        let multi_count = self.multi_value_headers.as_ref().map_or(0, |m| m.count);
        if headers.count != 1 || multi_count > 1 {
            return None;
        }
        headers.first.as_deref()
    }

    /// The method and path the request is for.
    pub fn route(&self, shape: EventShape) -> Option<Route<'_>> {
        match shape {
            EventShape::RestToken => route_from_arn(self.method_arn.as_deref()?),
            EventShape::RestRequest => Some(Route {
                method: self.http_method.as_deref()?,
                path: self.path.as_deref()?,
            }),
            EventShape::HttpV2 => Some(Route {
                method: self
                    .request_context
                    .as_ref()?
                    .http
                    .as_ref()?
                    .method
                    .as_deref()?,
                path: self.raw_path.as_deref()?,
            }),
        }
    }

    /// The caller's address and user agent: `requestContext.identity`'s
    /// `sourceIp` and `userAgent` (REST `REQUEST`) or `requestContext.http`'s
    /// (HTTP API), as given (the authorizer parses the address only for a
    /// token with an allowlist or a use it records). A `TOKEN` event
    /// carries neither.
    pub fn source(&self, shape: EventShape) -> Source<'_> {
        let Some(context) = self.request_context.as_ref() else {
            return Source::default();
        };
        let (ip, user_agent) = match shape {
            EventShape::RestToken => return Source::default(),
            EventShape::RestRequest => context
                .identity
                .as_ref()
                .map(|i| (&i.source_ip, &i.user_agent)),
            EventShape::HttpV2 => context.http.as_ref().map(|h| (&h.source_ip, &h.user_agent)),
        }
        .unzip();
        Source {
            ip: ip.and_then(|ip| ip.as_deref()),
            user_agent: user_agent.and_then(|agent| agent.as_deref()),
        }
    }

    /// `methodArn` (REST) or `routeArn` (HTTP API).
    pub(crate) fn resource_arn(&self, shape: EventShape) -> Option<&str> {
        match shape {
            EventShape::HttpV2 => self.route_arn.as_deref(),
            _ => self.method_arn.as_deref(),
        }
    }
}

/// `arn:…:api-id/stage/METHOD/path…` → METHOD and `/path…`.
fn route_from_arn(arn: &str) -> Option<Route<'_>> {
    let mut slashes = arn.match_indices('/').map(|(i, _)| i);
    let (_, method_start, path_start) = (slashes.next()?, slashes.next()? + 1, slashes.next()?);
    Some(Route {
        method: &arn[method_start..path_start],
        path: &arn[path_start..],
    })
}

/// `arn:…:api-id/stage/…` → `arn:…:api-id/stage`: the part every route of the stage shares.
pub(crate) fn stage_prefix(arn: &str) -> Option<&str> {
    let second_slash = arn.match_indices('/').nth(1)?.0;
    Some(&arn[..second_slash])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_comes_from_each_shapes_own_fields() {
        let read = |json: &str| {
            let event = AuthorizerEvent::from_json(json).unwrap();
            let source = event.source(event.shape().unwrap());
            (
                source.ip.map(str::to_owned),
                source.user_agent.map(str::to_owned),
            )
        };
        let rest = r#"{"type":"REQUEST","requestContext":{"identity":{"sourceIp":"203.0.113.9","userAgent":"curl/8"},"http":{"sourceIp":"198.51.100.1"}}}"#;
        assert_eq!(
            read(rest),
            (Some("203.0.113.9".into()), Some("curl/8".into()))
        );
        let http = r#"{"version":"2.0","type":"REQUEST","requestContext":{"http":{"method":"GET","sourceIp":"2001:db8::7","userAgent":"sdk/1"}}}"#;
        assert_eq!(
            read(http),
            (Some("2001:db8::7".into()), Some("sdk/1".into()))
        );
        let token = r#"{"type":"TOKEN","authorizationToken":"x","requestContext":{"identity":{"sourceIp":"203.0.113.9","userAgent":"a"}}}"#;
        assert_eq!(read(token), (None, None), "a TOKEN event tells neither");
    }

    #[test]
    fn arns_split_into_stage_method_and_path() {
        let arn =
            "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/v1/orgs/acme/sessions";
        let route = route_from_arn(arn).unwrap();
        assert_eq!(
            (route.method, route.path),
            ("GET", "/v1/orgs/acme/sessions")
        );
        assert_eq!(
            stage_prefix(arn),
            Some("arn:aws:execute-api:eu-west-1:123456789012:abc123/prod")
        );
        let root = route_from_arn("arn:aws:execute-api:r:1:a/prod/GET/").unwrap();
        assert_eq!((root.method, root.path), ("GET", "/"));
        assert!(route_from_arn("arn:aws:execute-api:r:1:a/prod").is_none());
        assert!(stage_prefix("no-slashes").is_none());
    }
}
