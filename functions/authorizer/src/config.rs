//! The authorizer's settings, read once at cold start.

use std::time::Duration;

use cog_tokens::authorize::credentials::CredentialCacheSettings;
use cog_tokens::authorize::routes::RouteRules;
use cog_tokens::authorize::{AuthorizerSettings, CachingSettings};
use cog_tokens::config::{parsed_or, required, ConfigError};

use crate::usage_plans::UsagePlanKeys;

#[derive(Debug, Clone)]
pub struct Config {
    /// `TABLE_NAME`
    pub table: String,
    /// `HTTP_RESPONSE_FORMAT`: `simple` (default) or `iam`, for HTTP API events.
    pub http_format: HttpResponseFormat,
    /// `PEPPER_RELOAD_INTERVAL_SECONDS` (default 30): the least time between
    /// two reloads of the pepper ring caused by an unknown version.
    pub pepper_reload_interval: Duration,
    /// `METRICS_INTERVAL_SECONDS` (default 60): how long decisions are
    /// counted in memory before they are written as EMF lines; 0 writes
    /// them with every decision (tests, local runs).
    pub metrics_interval: Duration,
    /// `USAGE_PLAN_DEFAULT_KEY` (default none: off): REST answers name an
    /// API key for usage plans ([`UsagePlanKeys`]).
    pub usage_plans: UsagePlanKeys,
    /// `ROUTE_RULES` (JSON, default none), `LAST_USED_INTERVAL_SECONDS`
    /// (default 300), `ORG_POLICY_CACHE_SECONDS` (default and at most 30),
    /// and the caching knobs of [`caching`].
    pub settings: AuthorizerSettings,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let usage_plans = usage_plans()?;
        let caching = CachingSettings {
            awaits_usage_keys: usage_plans.is_on(),
            ..caching()?
        };
        let route_rules = match std::env::var("ROUTE_RULES") {
            Ok(text) if !text.trim().is_empty() => {
                RouteRules::from_json(&text).map_err(|e| ConfigError {
                    name: "ROUTE_RULES",
                    problem: e.to_string(),
                })?
            }
            _ => RouteRules::default(),
        };
        Ok(Self {
            table: required("TABLE_NAME")?,
            http_format: parsed_or("HTTP_RESPONSE_FORMAT", HttpResponseFormat::Simple)?,
            pepper_reload_interval: Duration::from_secs(parsed_or(
                "PEPPER_RELOAD_INTERVAL_SECONDS",
                30,
            )?),
            metrics_interval: Duration::from_secs(parsed_or("METRICS_INTERVAL_SECONDS", 60)?),
            usage_plans,
            settings: AuthorizerSettings {
                route_rules,
                last_used_interval: Duration::from_secs(parsed_or(
                    "LAST_USED_INTERVAL_SECONDS",
                    300,
                )?),
                org_policy_ttl: org_policy_ttl()?,
                caching,
            },
        })
    }
}

fn usage_plans() -> Result<UsagePlanKeys, ConfigError> {
    match std::env::var("USAGE_PLAN_DEFAULT_KEY") {
        Ok(key) if !key.is_empty() => {
            UsagePlanKeys::with_default_key(&key).map_err(|problem| ConfigError {
                name: "USAGE_PLAN_DEFAULT_KEY",
                problem,
            })
        }
        _ => Ok(UsagePlanKeys::default()),
    }
}

/// How long an org's PAT policy may be served from the process's cache:
/// the bound on how late a policy change takes effect.
fn org_policy_ttl() -> Result<Duration, ConfigError> {
    let seconds: u64 = parsed_or("ORG_POLICY_CACHE_SECONDS", 30)?;
    if seconds > 30 {
        return Err(ConfigError {
            name: "ORG_POLICY_CACHE_SECONDS",
            problem: "at most 30: a policy change must apply within 30 s".into(),
        });
    }
    Ok(Duration::from_secs(seconds))
}

/// `CREDENTIAL_CACHE_ENTRIES` (default 10,000; 0 turns the first tier off),
/// `CREDENTIAL_CACHE_SECONDS` (default 300), `REVOCATION_FEED_INTERVAL_MS`
/// (default 250, at most 1,000: the first tier's revocation delay),
/// `GATEWAY_CACHE_TTL_SECONDS` (API Gateway's `AuthorizerResultTtl`; default
/// 0) and `AUTHORIZER_DEADLINE_MS` (default 400).
fn caching() -> Result<CachingSettings, ConfigError> {
    let entries: usize = parsed_or("CREDENTIAL_CACHE_ENTRIES", 10_000)?;
    let feed_interval_ms: u64 = parsed_or("REVOCATION_FEED_INTERVAL_MS", 250)?;
    if feed_interval_ms > 1_000 {
        return Err(ConfigError {
            name: "REVOCATION_FEED_INTERVAL_MS",
            problem: "at most 1000: a revocation must apply within a second".into(),
        });
    }
    let credentials = (entries > 0).then_some(CredentialCacheSettings {
        capacity: entries,
        max_age: Duration::from_secs(parsed_or("CREDENTIAL_CACHE_SECONDS", 300)?),
        feed_interval: Duration::from_millis(feed_interval_ms),
    });
    let gateway_ttl: u64 = parsed_or("GATEWAY_CACHE_TTL_SECONDS", 0)?;
    let deadline_ms: u64 = parsed_or("AUTHORIZER_DEADLINE_MS", 400)?;
    Ok(CachingSettings {
        credentials,
        gateway_cache_on: gateway_ttl > 0,
        deadline: (deadline_ms > 0).then(|| Duration::from_millis(deadline_ms)),
        awaits_usage_keys: false,
    })
}

/// How an HTTP API (payload 2.0) authorizer answers; REST always uses IAM policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpResponseFormat {
    Simple,
    Iam,
}

impl std::str::FromStr for HttpResponseFormat {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "simple" => Ok(Self::Simple),
            "iam" => Ok(Self::Iam),
            other => Err(format!("`{other}`: expected simple or iam")),
        }
    }
}
