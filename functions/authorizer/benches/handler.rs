//! Handler compute per event, with an in-memory store: event JSON in,
//! response JSON out. Baselines measured in the same run: a bare HMAC-SHA-256
//! of 58 bytes, and a `serde_json::Value` round trip of the same event (the
//! floor for any JSON-in, JSON-out handler). `scripts/bench.sh` also times a
//! straightforward Python authorizer on the same events.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark setup: a failure should abort the run

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use authorizer::config::HttpResponseFormat;
use authorizer::handler::{handle_json_event, AuthorizerState};
use cog_tokens::authorize::rate_limits::RateLimiter;
use cog_tokens::authorize::routes::RouteRules;
use cog_tokens::authorize::{Authorizer, AuthorizerSettings};
use cog_tokens::memory::{FixedPeppers, MemoryStore};
use cog_tokens::records::{
    Account, AuditAction, AuditEvent, OrgMembership, Owner, PrincipalStatus, RateLimit, Timestamp,
    TokenRecord,
};
use cog_tokens::store::pepper::PepperKeeper;
use cog_tokens::store::{PrincipalStore, TokenStore};
use cog_tokens::PlainToken;
use criterion::{criterion_group, criterion_main, Criterion};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

// The allocator the function binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SAMPLE_TOKEN: &str = "cog_SampleEventId000ReplaceMeWithARealTokenSecret0003abppB";

fn event(file: &str, token: &PlainToken) -> String {
    let path = format!("{}/../../infra/events/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .unwrap()
        .replace(SAMPLE_TOKEN, token.expose_secret())
}

/// The authorizer as a function runs it, over the in-memory store holding
/// `token` (a PAT of a beta user in one org) and the route rules on.
fn bench_state(
    runtime: &tokio::runtime::Runtime,
    token: &PlainToken,
) -> AuthorizerState<MemoryStore, FixedPeppers> {
    let store = Arc::new(MemoryStore::new());
    let pepper = FixedPeppers::pepper(1);
    let now = Timestamp::now();
    let record = TokenRecord {
        id: token.id(),
        owner: Owner::user("u_bench"),
        name: "bench".into(),
        scopes: vec!["tokens:read".into(), "sessions:read".into()],
        hash: pepper.hash(token),
        pepper_version: pepper.version(),
        created_at: now,
        expires_at: Some(now.plus_seconds(86_400)),
        revoked: None,
        last_used_at: None,
        last_use: Default::default(),
        org_decisions: Default::default(),
        allowed_ips: Default::default(),
        org_limit: None,
        family: None,
        rate_limit: None,
        usage_key_placed: false,
    };
    let account = Account {
        user_id: "u_bench".into(),
        status: PrincipalStatus::Active,
        sso: false,
        pat_beta: true,
        orgs: vec![OrgMembership {
            org_id: "acme".into(),
            role: "admin".into(),
        }],
        tokens_valid_after: None,
    };
    runtime.block_on(async {
        let audit = AuditEvent::new("bench", AuditAction::TokenCreate, record.owner.clone(), now);
        store.create_token(&record, 50, &audit).await.unwrap();
        store
            .put_account(&account, &account.audit_put("test", Timestamp::now()))
            .await
            .unwrap();
        let peppers = PepperKeeper::load(FixedPeppers::new(&[1]), Duration::from_secs(30))
            .await
            .unwrap();
        let rules = RouteRules::from_json(
            r#"[{"method": "GET", "path": "/v1/whoami", "scope": "tokens:read"},
                {"method": "POST", "path": "/v1/orgs/*/sessions", "scope": "sessions:write"}]"#,
        )
        .unwrap();
        let settings = AuthorizerSettings {
            route_rules: rules,
            last_used_interval: Duration::from_secs(3600),
            org_policy_ttl: Duration::from_secs(30),
            caching: Default::default(),
        };
        AuthorizerState {
            authorizer: Authorizer::new(Arc::clone(&store), peppers, settings),
            http_format: HttpResponseFormat::Simple,
            usage_plans: Default::default(),
        }
    })
}

fn handler_benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let token = PlainToken::generate().unwrap();
    let state = bench_state(&runtime, &token);
    let key = [1u8; 32];
    let keyed = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    let text = token.expose_secret().to_owned();
    let mut group = c.benchmark_group("authorizer");
    group.bench_function("baseline_bare_hmac_sha256_58b", |b| {
        b.iter(|| {
            let mut mac = keyed.clone();
            mac.update(black_box(text.as_bytes()));
            black_box(mac.finalize().into_bytes())
        })
    });
    for (name, file) in [
        ("rest_token", "rest-token.json"),
        ("rest_request", "rest-request.json"),
        ("http_v2_simple", "http-v2.json"),
    ] {
        let raw = event(file, &token);
        // Sanity: the event must be allowed, or the bench measures a denial.
        let response = runtime
            .block_on(handle_json_event(&state, &raw, Timestamp::now()))
            .unwrap();
        let json = serde_json::to_string(&response).unwrap();
        assert!(json.contains("u_bench") && !json.contains("Deny\",\"Resource\":[\"arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/v1/whoami"), "{json}");
        group.bench_function(format!("baseline_json_value_round_trip_{name}"), |b| {
            b.iter(|| {
                let value: serde_json::Value = serde_json::from_str(black_box(&raw)).unwrap();
                black_box(serde_json::to_vec(&value).unwrap())
            })
        });
        group.bench_function(format!("handler_{name}"), |b| {
            b.iter(|| {
                let response = runtime
                    .block_on(handle_json_event(&state, black_box(&raw), Timestamp::now()))
                    .unwrap();
                black_box(serde_json::to_vec(&response).unwrap())
            })
        });
    }
    // What a rate-limited credential adds to a decision: its bucket's
    // refill and take (the clock advancing 1 ms a call, so it never runs dry).
    let limiter = RateLimiter::default();
    let limit = RateLimit::new(RateLimit::MAX_PER_SECOND, None).unwrap();
    let id = token.id();
    let mut at = Timestamp::now();
    group.bench_function("rate_limiter_admit", |b| {
        b.iter(|| {
            at = Timestamp(at.0 + 1);
            black_box(limiter.admit(black_box(&id), limit, at))
        })
    });
    group.finish();
}

criterion_group!(benches, handler_benches);
criterion_main!(benches);
