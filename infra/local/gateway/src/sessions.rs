//! Dev sessions: the local stand-in for the web app's session JWT.
//!
//! DEV ONLY. In AWS the management routes sit behind a JWT authorizer that
//! checks the web app's signed session. Locally there is no web app, so this
//! gateway (and nothing else: not the functions, not the template) lets
//! anyone on loopback say "I am user X" (`POST /_dev/session`) and then
//! passes JWT-shaped claims for X to the functions. The gateway refuses to
//! listen on anything but loopback for this reason.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::RngCore;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The cookie that carries a dev session.
pub const COOKIE: &str = "cog_dev_session";
/// `iss` and `aud` of the claims a dev session produces.
pub const ISSUER: &str = "cog-local-gateway";
pub const AUDIENCE: &str = "cog-local";
const SUB_MAX_CHARS: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub sub: String,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl Session {
    /// The claims a JWT authorizer would pass (`requestContext.authorizer.jwt.claims`):
    /// every value a string, as API Gateway sends them.
    pub fn claims(&self) -> Map<String, Value> {
        [
            ("sub", self.sub.clone()),
            ("iss", ISSUER.to_owned()),
            ("aud", AUDIENCE.to_owned()),
            ("iat", self.issued_at.unix_timestamp().to_string()),
            ("exp", self.expires_at.unix_timestamp().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::String(v)))
        .collect()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("sub must be 1 to {SUB_MAX_CHARS} characters of A-Z a-z 0-9 _ . @ : -")]
pub struct InvalidSub;

/// Live sessions, keyed by the SHA-256 of the cookie value (the value itself is not kept).
#[derive(Debug)]
pub struct Sessions {
    lifetime: Duration,
    live: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    pub fn new(lifetime: Duration) -> Self {
        Self {
            lifetime,
            live: Mutex::new(HashMap::new()),
        }
    }

    /// A new session for `sub`: the cookie value (256 random bits) and the session.
    pub fn start(&self, sub: &str, now: OffsetDateTime) -> Result<(String, Session), InvalidSub> {
        let valid = (1..=SUB_MAX_CHARS).contains(&sub.chars().count())
            && sub
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.@:-".contains(c));
        if !valid {
            return Err(InvalidSub);
        }
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let value = hex::encode(secret);
        let session = Session {
            sub: sub.to_owned(),
            issued_at: now,
            expires_at: now + self.lifetime,
        };
        let mut live = self.lock();
        live.retain(|_, s| s.expires_at > now);
        live.insert(digest(&value), session.clone());
        Ok((value, session))
    }

    /// The live session named by a `Cookie` header, if any.
    pub fn find(&self, cookie_header: Option<&str>, now: OffsetDateTime) -> Option<Session> {
        let value = cookie_value(cookie_header?)?;
        let live = self.lock();
        live.get(&digest(value))
            .filter(|s| s.expires_at > now)
            .cloned()
    }

    /// How long a new session lasts.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    pub fn end(&self, cookie_header: Option<&str>) {
        if let Some(value) = cookie_header.and_then(cookie_value) {
            self.lock().remove(&digest(value));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        // A panic elsewhere cannot leave the map half-updated: every change is one call.
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

fn cookie_value(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
}

/// `Set-Cookie` for a new session, and for ending one.
pub fn set_cookie(value: &str, lifetime: Duration) -> String {
    format!(
        "{COOKIE}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict",
        lifetime.as_secs()
    )
}

pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn a_started_session_is_found_by_its_cookie_until_it_expires_or_ends() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let (value, session) = sessions.start("u_demo", now()).unwrap();
        let header = format!("theme=dark; {COOKIE}={value}");
        assert_eq!(sessions.find(Some(&header), now()), Some(session.clone()));
        assert_eq!(session.claims()["sub"], "u_demo");
        assert_eq!(session.claims()["exp"], "1800000060");
        let later = now() + Duration::from_secs(61);
        assert_eq!(sessions.find(Some(&header), later), None);
        sessions.end(Some(&header));
        assert_eq!(sessions.find(Some(&header), now()), None);
    }

    #[test]
    fn unknown_or_missing_cookies_find_nothing() {
        let sessions = Sessions::new(Duration::from_secs(60));
        sessions.start("u_demo", now()).unwrap();
        assert_eq!(sessions.find(None, now()), None);
        assert_eq!(sessions.find(Some("cog_dev_session=00"), now()), None);
        assert_eq!(sessions.find(Some("other=1"), now()), None);
    }

    #[test]
    fn a_bad_sub_is_refused() {
        let sessions = Sessions::new(Duration::from_secs(60));
        for sub in ["", "a b", "ü", &"x".repeat(129)] {
            assert_eq!(sessions.start(sub, now()), Err(InvalidSub), "{sub:?}");
        }
    }
}
