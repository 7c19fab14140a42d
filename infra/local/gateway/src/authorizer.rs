//! What API Gateway does with a Lambda authorizer's answer: read it (simple
//! or IAM policy), cache it per identity for the TTL, and judge a route by it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// An answer the authorizer gave, as API Gateway keeps it in its cache.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Simple {
        authorized: bool,
        context: Map<String, Value>,
    },
    Iam {
        statements: Vec<Statement>,
        context: Map<String, Value>,
        /// REST: the API key its requests count against (usage plans).
        usage_identifier_key: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub allow: bool,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

/// The verdict for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Forward, with this context as `requestContext.authorizer.lambda`.
    Allow(Map<String, Value>),
    Forbidden,
}

#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[error("the authorizer's answer is not a valid {0} response")]
pub struct MalformedAnswer(&'static str);

impl Answer {
    /// Reads the function's result for the configured response format.
    pub fn parse(result: &Value, simple_responses: bool) -> Result<Self, MalformedAnswer> {
        let context = match &result["context"] {
            Value::Null => Map::new(),
            Value::Object(map) => map.clone(),
            _ => return Err(MalformedAnswer("context")),
        };
        if simple_responses {
            let authorized = result["isAuthorized"]
                .as_bool()
                .ok_or(MalformedAnswer("simple"))?;
            return Ok(Self::Simple {
                authorized,
                context,
            });
        }
        let document = &result["policyDocument"];
        if result["principalId"].as_str().is_none() || !document.is_object() {
            return Err(MalformedAnswer("IAM policy"));
        }
        let statements = match &document["Statement"] {
            Value::Array(list) => list.iter().map(statement).collect(),
            single @ Value::Object(_) => vec![statement(single)].into_iter().collect(),
            _ => Err(MalformedAnswer("IAM policy")),
        }?;
        let usage_identifier_key = match &result["usageIdentifierKey"] {
            Value::Null => None,
            Value::String(key) => Some(key.clone()),
            _ => return Err(MalformedAnswer("IAM policy")),
        };
        Ok(Self::Iam {
            statements,
            context,
            usage_identifier_key,
        })
    }

    /// The usage-plan key a REST answer names.
    pub fn usage_identifier_key(&self) -> Option<&str> {
        match self {
            Self::Iam {
                usage_identifier_key,
                ..
            } => usage_identifier_key.as_deref(),
            Self::Simple { .. } => None,
        }
    }

    /// Judges a request to `route_arn`: an explicit Deny wins, then an Allow;
    /// nothing matching is a Deny.
    pub fn verdict(&self, route_arn: &str) -> Verdict {
        let (allowed, context) = match self {
            Self::Simple {
                authorized,
                context,
            } => (*authorized, context),
            Self::Iam {
                statements,
                context,
                ..
            } => {
                let covering = |allow: bool| {
                    statements.iter().any(|s| {
                        s.allow == allow
                            && s.actions.iter().any(|a| glob(a, "execute-api:Invoke"))
                            && s.resources.iter().any(|r| glob(r, route_arn))
                    })
                };
                (!covering(false) && covering(true), context)
            }
        };
        if allowed {
            Verdict::Allow(context.clone())
        } else {
            Verdict::Forbidden
        }
    }
}

fn statement(value: &Value) -> Result<Statement, MalformedAnswer> {
    let malformed = MalformedAnswer("IAM policy");
    let strings = |field: &Value| -> Result<Vec<String>, MalformedAnswer> {
        match field {
            Value::String(one) => Ok(vec![one.clone()]),
            Value::Array(many) => many
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or(malformed))
                .collect(),
            _ => Err(malformed),
        }
    };
    let allow = match value["Effect"].as_str() {
        Some("Allow") => true,
        Some("Deny") => false,
        _ => return Err(malformed),
    };
    Ok(Statement {
        allow,
        actions: strings(&value["Action"])?,
        resources: strings(&value["Resource"])?,
    })
}

/// IAM's wildcard match: `*` any run of characters (slashes too), `?` one.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if let Some((star, matched)) = backtrack {
            pi = star + 1;
            ti = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Answers per identity, for the authorizer's TTL. Keys are SHA-256 digests
/// of the identity values, so no token is held in the cache.
#[derive(Debug)]
pub struct AnswerCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], (Instant, Answer)>>,
}

/// Bound on cached identities; expired ones are dropped first.
const CACHE_MAX_ENTRIES: usize = 10_000;

impl AnswerCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The cache key for an authorizer and its identity values.
    pub fn key(authorizer: &str, identity: &[String]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(authorizer.as_bytes());
        for value in identity {
            hasher.update([0]);
            hasher.update(value.as_bytes());
        }
        hasher.finalize().into()
    }

    pub fn get(&self, key: &[u8; 32], now: Instant) -> Option<Answer> {
        let entries = self.lock();
        let (stored, answer) = entries.get(key)?;
        (now.duration_since(*stored) < self.ttl).then(|| answer.clone())
    }

    pub fn put(&self, key: [u8; 32], answer: Answer, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= CACHE_MAX_ENTRIES {
            entries.retain(|_, (stored, _)| now.duration_since(*stored) < self.ttl);
            if entries.len() >= CACHE_MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (now, answer));
    }

    /// Drops every answer (a stage flush: API Gateway has no per-key or
    /// per-authorizer flush) and says how many were live. An authorizer call
    /// in flight still `put`s its answer afterwards, as in AWS.
    pub fn clear(&self, now: Instant) -> usize {
        let mut entries = self.lock();
        let live = Self::count_live(&entries, self.ttl, now);
        entries.clear();
        live
    }

    /// Answers younger than the TTL.
    pub fn live(&self, now: Instant) -> usize {
        Self::count_live(&self.lock(), self.ttl, now)
    }

    fn count_live(
        entries: &HashMap<[u8; 32], (Instant, Answer)>,
        ttl: Duration,
        now: Instant,
    ) -> usize {
        entries
            .values()
            .filter(|(stored, _)| now.duration_since(*stored) < ttl)
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], (Instant, Answer)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str =
        "arn:aws:execute-api:us-east-1:000000000000:local/$default/GET/v1/orgs/acme/sessions";

    fn iam(statements: Value) -> Answer {
        Answer::parse(
            &json!({"principalId": "user:u", "policyDocument": {"Version": "2012-10-17", "Statement": statements},
                    "context": {"principal_id": "u"}}),
            false,
        )
        .unwrap()
    }

    #[test]
    fn an_explicit_deny_beats_an_allow_and_no_match_is_forbidden() {
        let prefix = "arn:aws:execute-api:us-east-1:000000000000:local/$default";
        let allow_all = json!({"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": [format!("{prefix}/*")]});
        let deny = json!({"Effect": "Deny", "Action": ["execute-api:Invoke"], "Resource": format!("{prefix}/GET/v1/orgs/*/sessions")});
        assert_eq!(
            iam(json!([allow_all])).verdict(ARN),
            Verdict::Allow(
                [("principal_id".to_owned(), json!("u"))]
                    .into_iter()
                    .collect()
            )
        );
        assert_eq!(
            iam(json!([allow_all, deny])).verdict(ARN),
            Verdict::Forbidden
        );
        assert!(matches!(
            iam(json!([allow_all, deny])).verdict(&format!("{prefix}/GET/v1/whoami")),
            Verdict::Allow(_)
        ));
        let elsewhere = json!({"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:us-east-1:000000000000:other/*"});
        assert_eq!(iam(json!(elsewhere)).verdict(ARN), Verdict::Forbidden);
    }

    #[test]
    fn simple_answers_and_malformed_ones() {
        let yes =
            Answer::parse(&json!({"isAuthorized": true, "context": {"a": "b"}}), true).unwrap();
        assert!(matches!(yes.verdict(ARN), Verdict::Allow(c) if c["a"] == "b"));
        let no = Answer::parse(&json!({"isAuthorized": false}), true).unwrap();
        assert_eq!(no.verdict(ARN), Verdict::Forbidden);
        // An answer in the other format is a fault, as in API Gateway.
        assert!(Answer::parse(&json!({"isAuthorized": true}), false).is_err());
        assert!(Answer::parse(&json!({"principalId": "x", "policyDocument": {}}), true).is_err());
        assert!(Answer::parse(
            &json!({"principalId": "x", "policyDocument": {"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}}),
            false
        )
        .is_err());
    }

    #[test]
    fn a_rest_answer_may_name_a_usage_plan_key() {
        let policy = json!({"Version": "2012-10-17", "Statement": []});
        let with = |key: Value| json!({"principalId": "u", "policyDocument": policy, "usageIdentifierKey": key});
        let named = Answer::parse(&with(json!("cogdefault0123456789ab")), false).unwrap();
        assert_eq!(named.usage_identifier_key(), Some("cogdefault0123456789ab"));
        let none = Answer::parse(&with(Value::Null), false).unwrap();
        assert_eq!(none.usage_identifier_key(), None);
        assert!(Answer::parse(&with(json!(7)), false).is_err());
    }

    #[test]
    fn glob_follows_iam_wildcards() {
        assert!(glob("*", ""));
        assert!(glob("a*c", "abbbc"));
        assert!(glob("a*c", "a/b/c"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(!glob("a*d", "abc"));
        assert!(glob("execute-api:*", "execute-api:Invoke"));
    }

    #[test]
    fn the_cache_keeps_answers_for_the_ttl_only() {
        let cache = AnswerCache::new(Duration::from_secs(5));
        let key = AnswerCache::key("CogToken", &["Bearer x".into(), "GET /v1/whoami".into()]);
        let other = AnswerCache::key("CogToken", &["Bearer y".into(), "GET /v1/whoami".into()]);
        let answer = Answer::parse(&json!({"isAuthorized": true}), true).unwrap();
        let start = Instant::now();
        cache.put(key, answer.clone(), start);
        assert_eq!(
            cache.get(&key, start + Duration::from_secs(4)),
            Some(answer)
        );
        assert_eq!(cache.get(&key, start + Duration::from_secs(5)), None);
        assert_eq!(cache.get(&other, start), None);

        let off = AnswerCache::new(Duration::ZERO);
        off.put(
            key,
            Answer::parse(&json!({"isAuthorized": true}), true).unwrap(),
            start,
        );
        assert_eq!(off.get(&key, start), None);
    }

    #[test]
    fn deny_answers_are_cached_like_allows() {
        let cache = AnswerCache::new(Duration::from_secs(300));
        let start = Instant::now();
        let no = Answer::parse(&json!({"isAuthorized": false}), true).unwrap();
        let key = AnswerCache::key("CogToken", &["Bearer revoked".into()]);
        cache.put(key, no.clone(), start);
        assert_eq!(cache.get(&key, start + Duration::from_secs(299)), Some(no));
    }

    #[test]
    fn a_flush_drops_every_answer_and_counts_the_live_ones() {
        let cache = AnswerCache::new(Duration::from_secs(5));
        let start = Instant::now();
        let yes = Answer::parse(&json!({"isAuthorized": true}), true).unwrap();
        let keys: Vec<_> = (0..3)
            .map(|i| AnswerCache::key("CogToken", &[format!("Bearer {i}")]))
            .collect();
        cache.put(keys[0], yes.clone(), start);
        cache.put(keys[1], yes.clone(), start + Duration::from_secs(2));
        cache.put(keys[2], yes.clone(), start + Duration::from_secs(3));
        let now = start + Duration::from_secs(6);
        // The first answer is past its TTL: held, but not live.
        assert_eq!(cache.live(now), 2);
        assert_eq!(cache.clear(now), 2);
        assert_eq!(cache.live(now), 0);
        assert!(keys.iter().all(|key| cache.get(key, now).is_none()));
    }

    #[test]
    fn an_answer_that_arrives_after_a_flush_is_cached() {
        // The in-flight race as AWS has it: the authorizer was called before
        // the flush and answers after it; its answer is cached for the TTL.
        let cache = AnswerCache::new(Duration::from_secs(300));
        let start = Instant::now();
        let key = AnswerCache::key("CogToken", &["Bearer soon-revoked".into()]);
        assert_eq!(cache.get(&key, start), None);
        cache.clear(start + Duration::from_millis(10));
        let stale = Answer::parse(&json!({"isAuthorized": true}), true).unwrap();
        cache.put(key, stale.clone(), start + Duration::from_millis(20));
        assert_eq!(
            cache.get(&key, start + Duration::from_secs(299)),
            Some(stale)
        );
        assert_eq!(cache.live(start + Duration::from_secs(1)), 1);
    }

    #[test]
    fn the_cache_stays_within_its_bound() {
        let cache = AnswerCache::new(Duration::from_secs(300));
        let start = Instant::now();
        let yes = Answer::parse(&json!({"isAuthorized": true}), true).unwrap();
        for i in 0..=CACHE_MAX_ENTRIES {
            cache.put(
                AnswerCache::key("CogToken", &[format!("Bearer {i}")]),
                yes.clone(),
                start,
            );
        }
        assert!(cache.live(start) <= CACHE_MAX_ENTRIES);
    }
}
