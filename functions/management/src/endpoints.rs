//! Which management endpoint a request is for, and which function serves it.

use lambda_http::http::Method;

/// Every endpoint, as (method, path template). `openapi.yaml` must list exactly these.
pub const ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/v1/tokens"),
    ("GET", "/v1/tokens"),
    ("GET", "/v1/tokens/self"),
    ("GET", "/v1/tokens/{id}"),
    ("POST", "/v1/tokens/self/rotate"),
    ("POST", "/v1/tokens/{id}/rotate"),
    ("DELETE", "/v1/tokens/{id}"),
    ("PATCH", "/v1/tokens/{id}"),
    ("DELETE", "/v1/tokens"),
    ("GET", "/v1/account"),
    ("POST", "/v1/orgs/{org}/service-users"),
    ("GET", "/v1/orgs/{org}/service-users"),
    ("GET", "/v1/orgs/{org}/service-users/{su}"),
    ("PATCH", "/v1/orgs/{org}/service-users/{su}"),
    ("POST", "/v1/orgs/{org}/service-users/{su}/keys"),
    ("GET", "/v1/orgs/{org}/service-users/{su}/keys"),
    ("POST", "/v1/orgs/{org}/service-users/{su}/keys/{id}/rotate"),
    ("DELETE", "/v1/orgs/{org}/service-users/{su}/keys/{id}"),
    ("PATCH", "/v1/orgs/{org}/service-users/{su}/keys/{id}"),
    ("GET", "/v1/audit"),
    ("GET", "/v1/orgs/{org}/audit"),
    ("GET", "/v1/orgs/{org}/policy"),
    ("PUT", "/v1/orgs/{org}/policy"),
    ("DELETE", "/v1/orgs/{org}/credentials/{id}"),
    ("POST", "/v1/orgs/{org}/credentials/{id}/approval"),
    ("GET", "/v1/orgs/{org}/credentials"),
];

/// A management endpoint with its path parameter. (The authorizer's
/// `cog_tokens::authorize::Route` is any request's method and path.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Create,
    List,
    Get(String),
    /// The token the request was authorized with: its own metadata.
    GetSelf,
    /// The token the request was authorized with replaces itself.
    RotateSelf,
    Rotate(String),
    Revoke(String),
    /// A token's IP allowlist changed.
    Update(String),
    RevokeAll,
    /// The caller's own audit trail.
    Audit,
    /// The caller's account and the issuance rules (the settings page's start).
    Account,
    /// An org admin's call about the org's service users and their keys.
    Org(String, OrgEndpoint),
}

/// An org-administration endpoint, within `/v1/orgs/{org}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgEndpoint {
    CreateServiceUser,
    ListServiceUsers,
    GetServiceUser(String),
    UpdateServiceUser(String),
    CreateKey(String),
    ListKeys(String),
    /// Service user, key.
    RotateKey(String, String),
    /// Service user, key.
    RevokeKey(String, String),
    /// Service user, key: its IP allowlist changed.
    UpdateKey(String, String),
    /// The changes the org's admins made.
    Audit,
    GetPolicy,
    PutPolicy,
    /// A credential taken out of the org: a key revoked, a PAT blocked.
    RemoveCredential(String),
    /// A member's PAT approved or denied in the org.
    DecideApproval(String),
    /// Every credential that can act in the org.
    ListCredentials,
}

impl OrgEndpoint {
    /// `rest` is the path after `/v1/orgs/{org}`.
    fn parse(method: &str, rest: &[&str]) -> Option<Self> {
        let owned = |s: &&str| (*s).to_owned();
        Some(match (method, rest) {
            ("POST", ["service-users"]) => Self::CreateServiceUser,
            ("GET", ["service-users"]) => Self::ListServiceUsers,
            ("GET", ["service-users", su]) => Self::GetServiceUser(owned(su)),
            ("PATCH", ["service-users", su]) => Self::UpdateServiceUser(owned(su)),
            ("POST", ["service-users", su, "keys"]) => Self::CreateKey(owned(su)),
            ("GET", ["service-users", su, "keys"]) => Self::ListKeys(owned(su)),
            ("POST", ["service-users", su, "keys", id, "rotate"]) => {
                Self::RotateKey(owned(su), owned(id))
            }
            ("DELETE", ["service-users", su, "keys", id]) => Self::RevokeKey(owned(su), owned(id)),
            ("PATCH", ["service-users", su, "keys", id]) => Self::UpdateKey(owned(su), owned(id)),
            ("GET", ["audit"]) => Self::Audit,
            ("GET", ["policy"]) => Self::GetPolicy,
            ("PUT", ["policy"]) => Self::PutPolicy,
            ("DELETE", ["credentials", id]) => Self::RemoveCredential(owned(id)),
            ("POST", ["credentials", id, "approval"]) => Self::DecideApproval(owned(id)),
            ("GET", ["credentials"]) => Self::ListCredentials,
            _ => return None,
        })
    }
}

impl Endpoint {
    pub fn parse(method: &Method, path: &str) -> Option<Self> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        match (method.as_str(), segments.as_slice()) {
            ("POST", ["", "v1", "tokens"]) => Some(Self::Create),
            ("GET", ["", "v1", "tokens"]) => Some(Self::List),
            ("DELETE", ["", "v1", "tokens"]) => Some(Self::RevokeAll),
            ("GET", ["", "v1", "audit"]) => Some(Self::Audit),
            ("GET", ["", "v1", "account"]) => Some(Self::Account),
            // The literal route wins over `{id}`, as in API Gateway.
            ("GET", ["", "v1", "tokens", "self"]) => Some(Self::GetSelf),
            ("GET", ["", "v1", "tokens", id]) => Some(Self::Get((*id).to_owned())),
            ("DELETE", ["", "v1", "tokens", id]) => Some(Self::Revoke((*id).to_owned())),
            ("PATCH", ["", "v1", "tokens", id]) => Some(Self::Update((*id).to_owned())),
            ("POST", ["", "v1", "tokens", "self", "rotate"]) => Some(Self::RotateSelf),
            ("POST", ["", "v1", "tokens", id, "rotate"]) => Some(Self::Rotate((*id).to_owned())),
            (method, ["", "v1", "orgs", org, rest @ ..]) if !org.is_empty() => {
                OrgEndpoint::parse(method, rest).map(|e| Self::Org((*org).to_owned(), e))
            }
            _ => None,
        }
    }
}

impl Endpoint {
    /// The endpoint's route key from the route table, `METHOD /template`
    /// (e.g. `DELETE /v1/tokens/{id}`): never the request's own path, so it
    /// holds no id and can name a metric's dimension.
    pub fn route_key(&self) -> &'static str {
        match self {
            Self::Create => "POST /v1/tokens",
            Self::List => "GET /v1/tokens",
            Self::Get(_) => "GET /v1/tokens/{id}",
            Self::GetSelf => "GET /v1/tokens/self",
            Self::RotateSelf => "POST /v1/tokens/self/rotate",
            Self::Rotate(_) => "POST /v1/tokens/{id}/rotate",
            Self::Revoke(_) => "DELETE /v1/tokens/{id}",
            Self::Update(_) => "PATCH /v1/tokens/{id}",
            Self::RevokeAll => "DELETE /v1/tokens",
            Self::Audit => "GET /v1/audit",
            Self::Account => "GET /v1/account",
            Self::Org(_, endpoint) => endpoint.route_key(),
        }
    }
}

impl OrgEndpoint {
    fn route_key(&self) -> &'static str {
        match self {
            Self::CreateServiceUser => "POST /v1/orgs/{org}/service-users",
            Self::ListServiceUsers => "GET /v1/orgs/{org}/service-users",
            Self::GetServiceUser(_) => "GET /v1/orgs/{org}/service-users/{su}",
            Self::UpdateServiceUser(_) => "PATCH /v1/orgs/{org}/service-users/{su}",
            Self::CreateKey(_) => "POST /v1/orgs/{org}/service-users/{su}/keys",
            Self::ListKeys(_) => "GET /v1/orgs/{org}/service-users/{su}/keys",
            Self::RotateKey(..) => "POST /v1/orgs/{org}/service-users/{su}/keys/{id}/rotate",
            Self::RevokeKey(..) => "DELETE /v1/orgs/{org}/service-users/{su}/keys/{id}",
            Self::UpdateKey(..) => "PATCH /v1/orgs/{org}/service-users/{su}/keys/{id}",
            Self::Audit => "GET /v1/orgs/{org}/audit",
            Self::GetPolicy => "GET /v1/orgs/{org}/policy",
            Self::PutPolicy => "PUT /v1/orgs/{org}/policy",
            Self::RemoveCredential(_) => "DELETE /v1/orgs/{org}/credentials/{id}",
            Self::DecideApproval(_) => "POST /v1/orgs/{org}/credentials/{id}/approval",
            Self::ListCredentials => "GET /v1/orgs/{org}/credentials",
        }
    }
}

/// Which endpoints a function serves: issuance or revocation. What ends or
/// narrows access (revoking, disabling a service user, IP allowlists) is the
/// revocation function's, which needs no KMS, so it keeps working when KMS
/// does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Issuance,
    Revocation,
}

impl Function {
    pub fn serves(self, endpoint: &Endpoint) -> bool {
        match self {
            Self::Issuance => !Self::Revocation.serves(endpoint),
            Self::Revocation => matches!(
                endpoint,
                Endpoint::Revoke(_)
                    | Endpoint::Update(_)
                    | Endpoint::RevokeAll
                    | Endpoint::Org(
                        _,
                        OrgEndpoint::UpdateServiceUser(_)
                            | OrgEndpoint::RevokeKey(..)
                            | OrgEndpoint::UpdateKey(..)
                            | OrgEndpoint::PutPolicy
                            | OrgEndpoint::RemoveCredential(_)
                            | OrgEndpoint::DecideApproval(_)
                    )
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A concrete path for a template: each `{param}` becomes a sample value.
    fn sample(template: &str) -> String {
        template
            .split('/')
            .map(|segment| match segment {
                "{org}" => "acme",
                "{su}" => "svc_ci",
                "{id}" => "0123456789ABCDEF",
                other => other,
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    #[test]
    fn every_listed_endpoint_parses_and_one_function_serves_it() {
        let mut parsed = Vec::new();
        for (method, template) in ENDPOINTS {
            let method: Method = method.parse().unwrap();
            let endpoint = Endpoint::parse(&method, &sample(template))
                .unwrap_or_else(|| panic!("{method} {template}"));
            let servers = [Function::Issuance, Function::Revocation]
                .into_iter()
                .filter(|f| f.serves(&endpoint))
                .count();
            assert_eq!(servers, 1, "{method} {template}");
            assert!(!parsed.contains(&endpoint), "{method} {template}");
            parsed.push(endpoint);
        }
    }

    #[test]
    fn every_endpoint_route_key_is_its_row_of_the_route_table_and_holds_no_path_value() {
        for (method, template) in ENDPOINTS {
            let path = sample(template);
            let endpoint = Endpoint::parse(&method.parse().unwrap(), &path).unwrap();
            let key = endpoint.route_key();
            assert_eq!(key, format!("{method} {template}"));
            for value in ["acme", "svc_ci", "0123456789ABCDEF"] {
                assert!(!key.contains(value), "{key}");
            }
        }
    }

    #[test]
    fn org_paths_need_an_org_and_a_known_tail() {
        let post = Method::POST;
        assert_eq!(
            Endpoint::parse(&post, "/v1/orgs/acme/service-users/svc_1/keys/K/rotate"),
            Some(Endpoint::Org(
                "acme".into(),
                OrgEndpoint::RotateKey("svc_1".into(), "K".into())
            ))
        );
        for path in [
            "/v1/orgs//service-users",
            "/v1/orgs/acme",
            "/v1/orgs/acme/service-users/svc_1/keys/K",
            "/v1/orgs/acme/members",
        ] {
            assert_eq!(Endpoint::parse(&post, path), None, "{path}");
        }
    }
}
