//! The HTTP API as `template.yaml` declares it: routes, the function behind
//! each, and their authorizers. Read from the template itself, so the local
//! gateway cannot drift from what SAM deploys.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_norway::Value;

/// The `$context` identity sources the gateway can fill in.
pub const CONTEXT_SOURCES: &[&str] = &["routeKey", "httpMethod", "stage", "identity.sourceIp"];

/// SAM's default `ReauthorizeEvery` when a Lambda authorizer's `Identity` leaves it out.
const SAM_DEFAULT_TTL_SECONDS: u64 = 300;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    pub routes: Vec<RouteConfig>,
    /// The HTTP API's `AccessLogSettings.Format`, if it has one.
    pub access_log_format: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    pub method: String,
    /// With `{name}` segments, as in the template.
    pub path: String,
    /// The binary `cargo lambda watch` runs for it.
    pub function: String,
    pub auth: RouteAuth,
}

impl RouteConfig {
    /// `GET /v1/tokens/{id}`: API Gateway's route key.
    pub fn route_key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteAuth {
    /// No authorizer.
    None,
    /// A JWT authorizer: locally, the dev session stands in for the JWT.
    Jwt,
    Lambda(LambdaAuthorizer),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaAuthorizer {
    pub name: String,
    pub function: String,
    pub simple_responses: bool,
    /// In template order: `$request.header.Authorization`, `$context.routeKey`, …
    pub identity_sources: Vec<IdentitySource>,
    pub ttl: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    Header(String),
    QueryString(String),
    Context(String),
}

/// Reads `template.yaml`; `parameters` override parameter defaults, as
/// `sam deploy --parameter-overrides` would.
pub fn read(text: &str, parameters: &BTreeMap<String, String>) -> Result<Api> {
    let template: Value = serde_norway::from_str(text).context("template.yaml is not YAML")?;
    let resolver = Resolver {
        template: &template,
        overrides: parameters,
    };
    for name in parameters.keys() {
        if template["Parameters"].get(name.as_str()).is_none() {
            bail!("the template has no parameter {name}");
        }
    }
    let resources = template["Resources"]
        .as_mapping()
        .ok_or_else(|| anyhow!("the template has no Resources"))?;
    let mut routes = Vec::new();
    for (logical_id, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        let function = binary_of(resource)
            .with_context(|| format!("function {}", logical_id.as_str().unwrap_or("?")))?;
        for event in events.values() {
            if event["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let properties = &event["Properties"];
            let (Some(method), Some(path)) =
                (properties["Method"].as_str(), properties["Path"].as_str())
            else {
                bail!("an HttpApi event of {function} has no Method or Path");
            };
            let auth = match properties["Auth"]["Authorizer"].as_str() {
                None | Some("NONE") => RouteAuth::None,
                Some(name) => resolver.authorizer(name)?,
            };
            routes.push(RouteConfig {
                method: method.to_ascii_uppercase(),
                path: path.to_owned(),
                function: function.clone(),
                auth,
            });
        }
    }
    if routes.is_empty() {
        bail!("the template declares no HttpApi routes");
    }
    // One HTTP API in this design: its access log format, as the stage writes it.
    let access_log_format = resources
        .values()
        .filter(|resource| resource["Type"].as_str() == Some("AWS::Serverless::HttpApi"))
        .find_map(|api| api["Properties"]["AccessLogSettings"]["Format"].as_str())
        .map(str::to_owned);
    Ok(Api {
        routes,
        access_log_format,
    })
}

fn binary_of(resource: &Value) -> Result<String> {
    resource["Metadata"]["BuildProperties"]["Binary"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no Metadata.BuildProperties.Binary"))
}

struct Resolver<'a> {
    template: &'a Value,
    overrides: &'a BTreeMap<String, String>,
}

impl Resolver<'_> {
    fn authorizer(&self, name: &str) -> Result<RouteAuth> {
        let apis = self.template["Resources"]
            .as_mapping()
            .into_iter()
            .flat_map(|resources| resources.values())
            .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::HttpApi"));
        let config = apis
            .map(|api| &api["Properties"]["Auth"]["Authorizers"][name])
            .find(|config| !config.is_null())
            .ok_or_else(|| anyhow!("no HttpApi declares the authorizer {name}"))?;
        if !config["JwtConfiguration"].is_null() {
            return Ok(RouteAuth::Jwt);
        }
        let function_id = function_resource(&config["FunctionArn"]).ok_or_else(|| {
            anyhow!(
                "authorizer {name}: FunctionArn is neither !GetAtt <Function>.Arn nor !Ref <Function>.Alias"
            )
        })?;
        let function = binary_of(&self.template["Resources"][function_id])
            .with_context(|| format!("authorizer {name}: function {function_id}"))?;
        let identity = &config["Identity"];
        let mut sources = Vec::new();
        for (key, kind) in [
            (
                "Headers",
                IdentitySource::Header as fn(String) -> IdentitySource,
            ),
            ("QueryStrings", IdentitySource::QueryString),
            ("Context", IdentitySource::Context),
        ] {
            for entry in identity[key].as_sequence().into_iter().flatten() {
                let entry = entry.as_str().ok_or_else(|| {
                    anyhow!("authorizer {name}: Identity.{key} holds a non-string")
                })?;
                if key == "Context" && !CONTEXT_SOURCES.contains(&entry) {
                    bail!("authorizer {name}: the local gateway does not model $context.{entry}");
                }
                sources.push(kind(entry.to_owned()));
            }
        }
        let ttl = match &identity["ReauthorizeEvery"] {
            Value::Null => SAM_DEFAULT_TTL_SECONDS,
            value => self
                .scalar(value)?
                .parse()
                .with_context(|| format!("authorizer {name}: ReauthorizeEvery"))?,
        };
        Ok(RouteAuth::Lambda(LambdaAuthorizer {
            name: name.to_owned(),
            function,
            simple_responses: config["EnableSimpleResponses"].as_bool().unwrap_or(false),
            identity_sources: sources,
            ttl: Duration::from_secs(ttl),
        }))
    }

    /// A plain value, or `!Ref Parameter` resolved to its override or default.
    fn scalar(&self, value: &Value) -> Result<String> {
        match value {
            Value::Tagged(tagged) if tagged.tag == "Ref" => {
                let name = tagged
                    .value
                    .as_str()
                    .ok_or_else(|| anyhow!("!Ref of a non-string"))?;
                if let Some(value) = self.overrides.get(name) {
                    return Ok(value.clone());
                }
                let default = &self.template["Parameters"][name]["Default"];
                plain(default).ok_or_else(|| anyhow!("parameter {name} has no default: pass it"))
            }
            other => plain(other).ok_or_else(|| anyhow!("expected a scalar, found {other:?}")),
        }
    }
}

fn plain(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// The function an authorizer calls: `!GetAtt Logical.Arn` (or the list
/// form), or `!Ref Logical.Alias` (SAM's `AutoPublishAlias`, the alias a
/// deployment shifts; locally there is one version) → `Logical`.
fn function_resource(value: &Value) -> Option<&str> {
    let Value::Tagged(tagged) = value else {
        return None;
    };
    if tagged.tag == "Ref" {
        return tagged.value.as_str()?.strip_suffix(".Alias");
    }
    if tagged.tag != "GetAtt" {
        return None;
    }
    match &tagged.value {
        Value::String(text) => text.strip_suffix(".Arn"),
        Value::Sequence(parts) if parts.get(1)?.as_str() == Some("Arn") => parts.first()?.as_str(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Parameters:
  Ttl:
    Type: Number
    Default: 0
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        Authorizers:
          Session:
            JwtConfiguration:
              issuer: x
          Token:
            FunctionArn: !GetAtt AuthFn.Arn
            EnableSimpleResponses: false
            Identity:
              Headers: [Authorization]
              Context: [routeKey]
              ReauthorizeEvery: !Ref Ttl
  AuthFn:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: authorizer
  Manage:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: issue-token
    Properties:
      Events:
        Create:
          Type: HttpApi
          Properties: {Method: post, Path: /v1/tokens, Auth: {Authorizer: Session}}
        Me:
          Type: HttpApi
          Properties: {Method: GET, Path: /v1/me, Auth: {Authorizer: Token}}
        Open:
          Type: HttpApi
          Properties: {Method: GET, Path: /health}
"#;

    fn routes(overrides: &[(&str, &str)]) -> Vec<RouteConfig> {
        let overrides = overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        read(TEMPLATE, &overrides).unwrap().routes
    }

    #[test]
    fn routes_functions_and_authorizers_come_from_the_template() {
        let routes = routes(&[]);
        assert_eq!(routes.len(), 3);
        assert_eq!(routes[0].route_key(), "POST /v1/tokens");
        assert_eq!(routes[0].function, "issue-token");
        assert_eq!(routes[0].auth, RouteAuth::Jwt);
        assert_eq!(routes[2].auth, RouteAuth::None);
        let RouteAuth::Lambda(authorizer) = &routes[1].auth else {
            panic!("{:?}", routes[1].auth)
        };
        assert_eq!(authorizer.function, "authorizer");
        assert!(!authorizer.simple_responses);
        assert_eq!(
            authorizer.identity_sources,
            vec![
                IdentitySource::Header("Authorization".into()),
                IdentitySource::Context("routeKey".into())
            ]
        );
        assert_eq!(authorizer.ttl, Duration::ZERO);
    }

    #[test]
    fn the_access_log_format_is_the_http_apis_own() {
        assert_eq!(
            read(TEMPLATE, &BTreeMap::new()).unwrap().access_log_format,
            None
        );
        let logged = TEMPLATE.replace(
            "    Properties:\n      Auth:",
            "    Properties:\n      AccessLogSettings:\n        Format: '{\"id\":\"$context.requestId\"}'\n      Auth:",
        );
        assert_eq!(
            read(&logged, &BTreeMap::new())
                .unwrap()
                .access_log_format
                .as_deref(),
            Some(r#"{"id":"$context.requestId"}"#)
        );
    }

    #[test]
    fn an_authorizer_behind_its_alias_runs_the_same_function() {
        let aliased = TEMPLATE.replace("!GetAtt AuthFn.Arn", "!Ref AuthFn.Alias");
        let routes = read(&aliased, &BTreeMap::new()).unwrap().routes;
        let RouteAuth::Lambda(authorizer) = &routes[1].auth else {
            panic!("{:?}", routes[1].auth)
        };
        assert_eq!(authorizer.function, "authorizer");
        // A plain `!Ref AuthFn` is the function's name, not an ARN: refused.
        let named = TEMPLATE.replace("!GetAtt AuthFn.Arn", "!Ref AuthFn");
        assert!(read(&named, &BTreeMap::new()).is_err());
    }

    #[test]
    fn a_parameter_override_changes_the_ttl_and_an_unknown_one_is_refused() {
        let RouteAuth::Lambda(authorizer) = &routes(&[("Ttl", "30")])[1].auth else {
            panic!()
        };
        assert_eq!(authorizer.ttl, Duration::from_secs(30));
        let unknown = [("Nope".to_owned(), "1".to_owned())].into_iter().collect();
        assert!(read(TEMPLATE, &unknown).is_err());
    }

    #[test]
    fn the_project_template_reads() {
        let text = include_str!("../../../../template.yaml");
        let api = read(text, &BTreeMap::new()).unwrap();
        let whoami = api
            .routes
            .iter()
            .find(|r| r.route_key() == "GET /v1/whoami")
            .unwrap();
        assert!(matches!(&whoami.auth, RouteAuth::Lambda(a) if a.function == "authorizer"));
        assert!(api
            .routes
            .iter()
            .any(|r| r.route_key() == "DELETE /v1/tokens/{id}" && r.auth == RouteAuth::Jwt));
    }
}
