//! The management routes over HTTP (API Gateway HTTP API behind a JWT
//! authorizer): identity, routing, bodies, and RFC 9457 problem responses.
//! Handlers only translate between HTTP and [`crate::management`].

use lambda_http::http::{header, Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::management::{IssuedToken, ManagementError, NewToken, TokenManager, PAGE_MAX};
use crate::pepper::PepperSource;
use crate::records::{StatusFilter, Timestamp, TokenRecord};
use crate::store::{PrincipalStore, TokenStore};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// `Retry-After` on a 503: DynamoDB throttling and KMS blips pass in about a second.
const RETRY_AFTER_SECONDS: &str = "1";
/// Page size when `limit` is not given.
pub const DEFAULT_PAGE: usize = 20;

/// Every route, as (method, path template). `openapi.yaml` must list exactly these.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/tokens"),
    ("GET", "/v1/tokens"),
    ("GET", "/v1/tokens/{id}"),
    ("POST", "/v1/tokens/{id}/rotate"),
    ("DELETE", "/v1/tokens/{id}"),
    ("DELETE", "/v1/tokens"),
];

/// A management route with its path parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Create,
    List,
    Get(String),
    Rotate(String),
    Revoke(String),
    RevokeAll,
}

impl Route {
    pub fn parse(method: &Method, path: &str) -> Option<Self> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        match (method.as_str(), segments.as_slice()) {
            ("POST", ["", "v1", "tokens"]) => Some(Self::Create),
            ("GET", ["", "v1", "tokens"]) => Some(Self::List),
            ("DELETE", ["", "v1", "tokens"]) => Some(Self::RevokeAll),
            ("GET", ["", "v1", "tokens", id]) => Some(Self::Get((*id).to_owned())),
            ("DELETE", ["", "v1", "tokens", id]) => Some(Self::Revoke((*id).to_owned())),
            ("POST", ["", "v1", "tokens", id, "rotate"]) => Some(Self::Rotate((*id).to_owned())),
            _ => None,
        }
    }
}

/// Which routes a function serves: issuance or revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Issuance,
    Revocation,
}

impl Function {
    fn serves(self, route: &Route) -> bool {
        match self {
            Self::Issuance => matches!(
                route,
                Route::Create | Route::List | Route::Get(_) | Route::Rotate(_)
            ),
            Self::Revocation => matches!(route, Route::Revoke(_) | Route::RevokeAll),
        }
    }
}

/// An RFC 9457 problem: status, stable `code`, a human `detail`, and for
/// validation errors the offending `field`. Never internal details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub field: Option<&'static str>,
}

impl Problem {
    fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            field: None,
        }
    }

    fn invalid(field: &'static str, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            field: Some(field),
            ..Self::new(StatusCode::BAD_REQUEST, code, detail)
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let retry = self.status == StatusCode::SERVICE_UNAVAILABLE;
        let mut body = json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
            "code": self.code,
        });
        if let Some(field) = self.field {
            body["field"] = json!(field);
        }
        let mut response = response(self.status, "application/problem+json", body);
        if retry {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

/// Every management error maps to its HTTP answer here, and only here.
impl From<ManagementError> for Problem {
    fn from(error: ManagementError) -> Self {
        use ManagementError as E;
        let detail = error.to_string();
        match error {
            E::AccountNotFound => Self::new(StatusCode::FORBIDDEN, "account_not_found", detail),
            E::AccountInactive => Self::new(StatusCode::FORBIDDEN, "account_inactive", detail),
            E::PatBetaNotEnabled => {
                Self::new(StatusCode::FORBIDDEN, "pat_beta_not_enabled", detail)
            }
            E::PatUnavailableForSso => {
                Self::new(StatusCode::FORBIDDEN, "pat_unavailable_for_sso", detail)
            }
            E::Invalid { field, code, .. } => Self::invalid(field, code, detail),
            E::NameTaken => Self {
                field: Some("name"),
                ..Self::new(StatusCode::CONFLICT, "name_taken", detail)
            },
            E::LimitReached { .. } => {
                Self::new(StatusCode::CONFLICT, "token_limit_reached", detail)
            }
            E::TokenNotFound => Self::new(StatusCode::NOT_FOUND, "token_not_found", detail),
            E::TokenNotActive => Self::new(StatusCode::CONFLICT, "token_not_active", detail),
            E::ScopeRetired(_) => Self {
                field: Some("scopes"),
                ..Self::new(StatusCode::CONFLICT, "scope_retired", detail)
            },
            E::Unavailable(cause) => {
                tracing::warn!(error = %cause, "management request: service unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                    "a service this request needs is unavailable; nothing was changed, try again",
                )
            }
            E::InvalidCursor => Self::invalid("cursor", "invalid_cursor", detail),
            E::Internal(internal) => {
                tracing::error!(error = %internal, "management request failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "the request could not be completed; nothing was lost, try again",
                )
            }
        }
    }
}

fn response(status: StatusCode, content_type: &str, body: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Text(body.to_string()))
        .unwrap_or_default()
}

fn no_content() -> Response<Body> {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Empty)
        .unwrap_or_default()
}

fn json_response(status: StatusCode, body: Value) -> Response<Body> {
    response(status, "application/json", body)
}

fn iso8601(at: Timestamp) -> Value {
    let seconds = at.0.div_euclid(1000);
    let millis = at.0.rem_euclid(1000);
    match time::OffsetDateTime::from_unix_timestamp(seconds) {
        Ok(t) => json!(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            millis
        )),
        Err(_) => Value::Null,
    }
}

/// A token's metadata: everything but the token itself.
pub fn token_metadata(record: &TokenRecord, now: Timestamp) -> Value {
    json!({
        "id": record.id.as_str(),
        "name": record.name,
        "scopes": record.scopes,
        "hint": record.id.display_hint(),
        "created_at": iso8601(record.created_at),
        "expires_at": record.expires_at.map(iso8601),
        "last_used_at": record.last_used_at.map(iso8601),
        "revoked_at": record.revoked.as_ref().map(|r| iso8601(r.at)),
        "status": record.status(now),
    })
}

fn issued_body(issued: &IssuedToken, now: Timestamp) -> Value {
    let mut body = token_metadata(&issued.record, now);
    // The one place the token text ever leaves the service.
    body["token"] = json!(issued.token.expose_secret());
    body
}

/// The caller, from the JWT authorizer's `sub` claim. A request that came
/// through the token authorizer (context `auth_method`) is refused: managing
/// credentials needs a browser session.
pub fn caller(request: &Request) -> Result<String, Problem> {
    let authorizer = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.authorizer.as_ref(),
        _ => None,
    };
    let Some(authorizer) = authorizer else {
        return Err(unauthenticated());
    };
    if let Some(method) = authorizer.fields.get("auth_method").and_then(Value::as_str) {
        if method == "pat" || method == "service_key" {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "session_required",
                "tokens cannot manage tokens: sign in to the web app",
            ));
        }
    }
    authorizer
        .jwt
        .as_ref()
        .and_then(|jwt| jwt.claims.get("sub"))
        .filter(|sub| !sub.trim().is_empty())
        .cloned()
        .ok_or_else(unauthenticated)
}

fn unauthenticated() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "a signed-in session is required",
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    scopes: Vec<String>,
    #[serde(default, deserialize_with = "present_or_null")]
    expires_in_days: Option<Option<u32>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present_or_null<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    grace_seconds: Option<u32>,
}

/// Reads a JSON body: content type, size, syntax, and shape, each with its own answer.
fn read_json<T: for<'de> Deserialize<'de>>(
    request: &Request,
    required: bool,
) -> Result<Option<T>, Problem> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body may be at most {MAX_BODY_BYTES} bytes"),
        ));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return if required {
            Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "body_required",
                "a JSON body is required",
            ))
        } else {
            Ok(None)
        };
    }
    let json_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ));
    }
    serde_json::from_slice(bytes).map(Some).map_err(|error| {
        use serde_json::error::Category;
        match error.classify() {
            Category::Data => Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("the body does not have the expected fields: {error}"),
            ),
            _ => Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the body is not valid JSON: {error}"),
            ),
        }
    })
}

fn query<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .query_string_parameters_ref()
        .and_then(|q| q.first(name))
}

/// Handles one request for `function`. Never fails: every outcome is an HTTP answer.
pub async fn handle_request<S, P>(
    manager: &TokenManager<S, P>,
    function: Function,
    request: Request,
    now: Timestamp,
) -> Response<Body>
where
    S: TokenStore + PrincipalStore,
    P: PepperSource,
{
    match dispatch(manager, function, &request, now).await {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    }
}

async fn dispatch<S, P>(
    manager: &TokenManager<S, P>,
    function: Function,
    request: &Request,
    now: Timestamp,
) -> Result<Response<Body>, Problem>
where
    S: TokenStore + PrincipalStore,
    P: PepperSource,
{
    let route = Route::parse(request.method(), request.uri().path())
        .filter(|route| function.serves(route))
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "route_not_found", "no such route"))?;
    let user = caller(request)?;
    match route {
        Route::Create => {
            let body: CreateBody = read_json(request, true)?.ok_or_else(|| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "body_required",
                    "a JSON body is required",
                )
            })?;
            let issued = manager
                .create(
                    &user,
                    NewToken {
                        name: body.name,
                        scopes: body.scopes,
                        expires_in_days: body.expires_in_days,
                    },
                    now,
                )
                .await?;
            tracing::info!(token_id = %issued.record.id, user = %user, "token created");
            Ok(json_response(
                StatusCode::CREATED,
                issued_body(&issued, now),
            ))
        }
        Route::List => {
            let filter = match query(request, "status") {
                None => StatusFilter::Active,
                Some(text) => text.parse().map_err(|_| {
                    Problem::invalid(
                        "status",
                        "invalid_status",
                        "status must be active, expired, revoked or all",
                    )
                })?,
            };
            let limit = match query(request, "limit") {
                None => DEFAULT_PAGE,
                Some(text) => text
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=PAGE_MAX).contains(n))
                    .ok_or_else(|| {
                        Problem::invalid(
                            "limit",
                            "invalid_limit",
                            format!("limit must be 1 to {PAGE_MAX}"),
                        )
                    })?,
            };
            let page = manager
                .list(&user, filter, limit, query(request, "cursor"), now)
                .await?;
            let tokens: Vec<Value> = page.tokens.iter().map(|t| token_metadata(t, now)).collect();
            Ok(json_response(
                StatusCode::OK,
                json!({"tokens": tokens, "next_cursor": page.next_cursor}),
            ))
        }
        Route::Get(id) => {
            let record = manager.get(&user, &id).await?;
            Ok(json_response(StatusCode::OK, token_metadata(&record, now)))
        }
        Route::Rotate(id) => {
            let body: RotateBody = read_json(request, false)?.unwrap_or_default();
            let issued = manager.rotate(&user, &id, body.grace_seconds, now).await?;
            tracing::info!(token_id = %issued.record.id, rotated = %id, user = %user, "token rotated");
            Ok(json_response(
                StatusCode::CREATED,
                issued_body(&issued, now),
            ))
        }
        Route::Revoke(id) => {
            manager.revoke(&user, &id, now).await?;
            tracing::info!(token_id = %id, user = %user, "token revoked");
            Ok(no_content())
        }
        Route::RevokeAll => {
            let revoked = manager.revoke_all(&user, now).await?;
            tracing::info!(user = %user, revoked, "all tokens revoked");
            Ok(json_response(StatusCode::OK, json!({"revoked": revoked})))
        }
    }
}

/// Runs one management function under the Lambda runtime: logging, the
/// manager from the environment (once per cold start), then one
/// [`handle_request`] per invocation.
pub async fn serve(function: Function) -> Result<(), lambda_http::Error> {
    crate::logging::init();
    let manager = crate::aws::token_manager_from_env(function == Function::Issuance).await?;
    lambda_http::run(lambda_http::service_fn(|request: Request| {
        let manager = &manager;
        async move {
            let response = handle_request(manager, function, request, Timestamp::now()).await;
            Ok::<_, std::convert::Infallible>(response)
        }
    }))
    .await
}
