//! Helpers for integration tests: every test gets its own table (and, where
//! it needs one, its own KMS key) on the local stack that `make test` starts.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test set-up: failing loudly is the point

use std::path::PathBuf;

use cog_tokens::aws::dynamodb::schema;
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::aws::sdk_config;
use cog_tokens::records::{Owner, Timestamp, TokenRecord};
use cog_tokens::{Pepper, PlainToken};
use rand::RngCore;

/// Fails with a clear message when the local stack's variables are missing.
pub fn require_stack() {
    for name in [
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_KMS",
        "AWS_REGION",
    ] {
        assert!(
            std::env::var(name).is_ok(),
            "{name} is not set: run the tests with `make test`, or start the stack with \
             infra/local/up.sh and `source .local/stack.env` first"
        );
    }
}

pub fn unique(prefix: &str) -> String {
    let mut bytes = [0u8; 6];
    rand::rng().fill_bytes(&mut bytes);
    let suffix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{suffix}")
}

/// Clients for the local stack.
#[derive(Debug)]
pub struct Stack {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub kms: aws_sdk_kms::Client,
}

impl Stack {
    pub async fn connect() -> Self {
        require_stack();
        let config = sdk_config().await;
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            kms: aws_sdk_kms::Client::new(&config),
        }
    }

    /// A new, empty table of the production shape.
    pub async fn fresh_store(&self) -> DynamoStore {
        let table = unique("it");
        assert!(schema::ensure_table(&self.dynamodb, &table).await.unwrap());
        DynamoStore::new(self.dynamodb.clone(), table)
    }

    /// A fresh table and KMS key with pepper v1, and for each of `users` an
    /// active account with the PAT beta flag, admin of org `acme`. Returns
    /// the store and the key's ARN.
    pub async fn seeded(&self, users: &[&str]) -> (DynamoStore, String) {
        use cog_tokens::store::PrincipalStore;
        let store = self.fresh_store().await;
        let key = self.fresh_key().await;
        cog_tokens::aws::kms::add_pepper_version(&self.kms, &store, &key, "test")
            .await
            .unwrap();
        for user in users {
            store
                .put_account(
                    &beta_account(user),
                    &beta_account(user).audit_put("test", Timestamp::now()),
                )
                .await
                .unwrap();
        }
        (store, key)
    }

    /// Every pepper of `store` as a log could spell it: hex (both cases) and
    /// base64 (standard and URL-safe, padded or not). Decrypted here, in
    /// the test, as the functions decrypt them.
    pub async fn pepper_texts(&self, store: &DynamoStore) -> Vec<String> {
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        use base64::Engine;
        use cog_tokens::store::PepperStore;
        let mut texts = Vec::new();
        for stored in store.list_peppers().await.unwrap() {
            let plaintext = self.pepper_plaintext(&stored).await;
            texts.push(hex::encode(&plaintext));
            texts.push(hex::encode_upper(&plaintext));
            for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
                texts.push(engine.encode(&plaintext));
            }
        }
        texts
    }

    /// The current pepper of `store`'s ring, decrypted as the functions do.
    pub async fn current_pepper(&self, store: &DynamoStore) -> Pepper {
        use cog_tokens::store::pepper::PepperSource;
        cog_tokens::aws::kms::KmsPepperSource::new(self.kms.clone(), store.clone())
            .load_ring()
            .await
            .unwrap()
            .current()
            .clone()
    }

    /// A stored pepper's plaintext, decrypted as the functions decrypt it.
    pub async fn pepper_plaintext(&self, stored: &cog_tokens::store::StoredPepper) -> Vec<u8> {
        self.kms
            .decrypt()
            .key_id(&stored.kms_key_id)
            .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(
                stored.ciphertext.clone(),
            ))
            .set_encryption_context(Some(cog_tokens::aws::kms::encryption_context(
                stored.version,
            )))
            .send()
            .await
            .unwrap()
            .plaintext
            .unwrap()
            .into_inner()
    }

    /// A new symmetric KMS key; returns its ARN.
    pub async fn fresh_key(&self) -> String {
        let key = self.kms.create_key().send().await.unwrap();
        key.key_metadata.unwrap().arn.unwrap()
    }
}

/// An active, non-SSO account with the PAT beta flag, admin of org `acme`.
pub fn beta_account(user: &str) -> cog_tokens::records::Account {
    use cog_tokens::records::{Account, OrgMembership, PrincipalStatus};
    Account {
        user_id: user.into(),
        status: PrincipalStatus::Active,
        sso: false,
        pat_beta: true,
        orgs: vec![OrgMembership {
            org_id: "acme".into(),
            role: "admin".into(),
        }],
        tokens_valid_after: None,
    }
}

/// `user`'s beta account with exactly these (org, role) memberships.
pub fn member_of(user: &str, orgs: &[(&str, &str)]) -> cog_tokens::records::Account {
    cog_tokens::records::Account {
        orgs: orgs
            .iter()
            .map(|(org, role)| cog_tokens::records::OrgMembership {
                org_id: (*org).into(),
                role: (*role).into(),
            })
            .collect(),
        ..beta_account(user)
    }
}

/// A signed-in caller for a test, from a documentation address (RFC 5737);
/// panics on an invalid user id.
pub fn caller(id: &str) -> cog_tokens::records::Caller {
    cog_tokens::records::Caller {
        user: cog_tokens::records::UserId::parse(id).expect("a valid test user id"),
        origin: cog_tokens::records::Origin::new("192.0.2.1", "cog-tests"),
    }
}

/// The actions of `owner`'s audit events, newest first (up to 10).
pub async fn audit_actions(store: &DynamoStore, owner: &Owner) -> Vec<String> {
    use cog_tokens::store::AuditLog;
    let events = store.audit_events(Some(owner), 10).await.unwrap();
    events.into_iter().map(|e| e.action.to_string()).collect()
}

/// A token and the record the store would keep for it.
pub fn new_token(
    owner: &Owner,
    pepper: &Pepper,
    created_at: Timestamp,
    expires_at: Option<Timestamp>,
) -> (PlainToken, TokenRecord) {
    let token = PlainToken::generate().unwrap();
    let record = TokenRecord {
        id: token.id(),
        owner: owner.clone(),
        name: unique("token"),
        scopes: vec!["tokens:read".into()],
        hash: pepper.hash(&token),
        pepper_version: pepper.version(),
        created_at,
        expires_at,
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
    (token, record)
}

/// `cog_` + the same ID + another SECRET, with a valid checksum: a token
/// that passes the format check and reaches the HMAC check, and fails it.
pub fn same_id_other_secret(token: &str) -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let body = format!("{}{}", &token[..20], "Z".repeat(32));
    let mut sum = crc32fast::hash(body.as_bytes());
    let mut checksum = [b'0'; 6];
    for slot in checksum.iter_mut().rev() {
        *slot = BASE62[(sum % 62) as usize];
        sum /= 62;
    }
    format!("{body}{}", std::str::from_utf8(&checksum).unwrap())
}

/// The repository's top folder.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `cogadmin --json <args>` against `table` (the stack's endpoints inherited,
/// `env` added), as the operator `it-ops`: its last output line, which must
/// be JSON, after a successful exit.
pub fn cogadmin_json(table: &str, args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let output = std::process::Command::new(workspace_binary("cogadmin"))
        .arg("--json")
        .args(args)
        .env("TABLE_NAME", table)
        .env("COGADMIN_ACTOR", "it-ops")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// A workspace binary built alongside the tests (`cargo test --workspace` builds them all).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test binary> -> target/<profile>/<name>
    let path = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(path.exists(), "{} is not built", path.display());
    path
}

pub mod browser;
pub mod caching;
pub mod chain;
pub mod events;
pub mod github;
pub mod iam;
pub mod proxy;
pub mod runtime_api;
pub mod usage_plans;

/// The management service and the authorizer over one store, built as the
/// functions build them (the ring decrypted through the stack's KMS).
pub mod services {
    use std::sync::Arc;
    use std::time::Duration;

    use cog_tokens::authorize::routes::RouteRules;
    use cog_tokens::authorize::{
        Authorizer, AuthorizerSettings, CachingSettings, Decision, Source,
    };
    use cog_tokens::aws::dynamodb::DynamoStore;
    use cog_tokens::aws::kms::KmsPepperSource;
    use cog_tokens::management::{IssuancePolicy, TokenManager, TokenRequest};
    use cog_tokens::records::Timestamp;
    use cog_tokens::store::pepper::PepperKeeper;
    use cog_tokens::PlainToken;

    pub type Manager = TokenManager<DynamoStore, KmsPepperSource<DynamoStore>>;
    pub type DynamoAuthorizer = Authorizer<DynamoStore, KmsPepperSource<DynamoStore>>;

    pub fn policy(limit: u32) -> IssuancePolicy {
        IssuancePolicy {
            scope_catalog: vec!["tokens:read".into(), "orgs:read".into()],
            default_expiry_days: 30,
            max_expiry_days: 366,
            allow_non_expiring: false,
            max_active_tokens: limit,
            max_rotation_grace_seconds: 3600,
            role_catalog: vec!["admin".into(), "deployer".into(), "viewer".into()],
            max_service_users_per_org: 100,
            max_keys_per_service_user: 10,
            idle_expiry_days: Some(365),
        }
    }

    async fn peppers(
        stack: &crate::Stack,
        store: &DynamoStore,
    ) -> PepperKeeper<KmsPepperSource<DynamoStore>> {
        PepperKeeper::load(
            KmsPepperSource::new(stack.kms.clone(), store.clone()),
            Duration::ZERO,
        )
        .await
        .unwrap()
    }

    pub async fn manager(
        stack: &crate::Stack,
        store: &DynamoStore,
        policy: IssuancePolicy,
    ) -> Manager {
        TokenManager::new(Arc::new(store.clone()), peppers(stack, store).await, policy)
    }

    pub async fn authorizer(stack: &crate::Stack, store: &DynamoStore) -> DynamoAuthorizer {
        authorizer_with_policy_ttl(stack, store, Duration::from_secs(30)).await
    }

    /// An authorizer whose org policies are cached for `ttl`.
    pub async fn authorizer_with_policy_ttl(
        stack: &crate::Stack,
        store: &DynamoStore,
        ttl: Duration,
    ) -> DynamoAuthorizer {
        authorizer_with(stack, store, ttl, Default::default()).await
    }

    /// An authorizer with these caching settings.
    pub async fn authorizer_with(
        stack: &crate::Stack,
        store: &DynamoStore,
        org_policy_ttl: Duration,
        caching: CachingSettings,
    ) -> DynamoAuthorizer {
        Authorizer::new(
            Arc::new(store.clone()),
            peppers(stack, store).await,
            AuthorizerSettings {
                route_rules: RouteRules::default(),
                last_used_interval: Duration::from_secs(300),
                org_policy_ttl,
                caching,
            },
        )
    }

    /// The decision for a request with `Authorization: Bearer {token}`.
    pub async fn decide(
        authorizer: &DynamoAuthorizer,
        token: &PlainToken,
        now: Timestamp,
    ) -> Decision {
        let header = format!("Bearer {}", token.expose_secret());
        authorizer
            .authorize(Some(&header), None, Source::default(), now)
            .await
            .unwrap()
    }

    /// The leak responder over `store` (what both leak routes call).
    pub async fn leak_responder(
        stack: &crate::Stack,
        store: &DynamoStore,
    ) -> cog_tokens::management::leaks::LeakResponder<DynamoStore, KmsPepperSource<DynamoStore>>
    {
        cog_tokens::management::leaks::LeakResponder::new(
            Arc::new(store.clone()),
            peppers(stack, store).await,
        )
    }

    /// The leak-response function's service over `store`, with `keys`.
    pub async fn leak_service(
        stack: &crate::Stack,
        store: &DynamoStore,
        keys: leak_response::github_keys::GitHubKeys,
        public_requests_per_minute: u32,
    ) -> leak_response::LeakService<DynamoStore, KmsPepperSource<DynamoStore>> {
        leak_response::LeakService {
            responder: cog_tokens::management::leaks::LeakResponder::new(
                Arc::new(store.clone()),
                peppers(stack, store).await,
            ),
            limiter: Arc::new(store.clone()),
            github_keys: keys,
            public_requests_per_minute,
        }
    }

    pub fn request(name: &str) -> TokenRequest {
        TokenRequest {
            name: name.into(),
            scopes: vec!["tokens:read".into()],
            expires_in_days: None,
            allowed_ips: Vec::new(),
            orgs: None,
            rate_limit: None,
        }
    }
}

/// A function binary started as Lambda would start it, against `api`. The
/// AWS variables of the local stack are inherited; `extra` adds the function's own.
pub fn spawn_function(
    binary: &std::path::Path,
    api: &runtime_api::RuntimeApi,
    extra: &[(&str, String)],
) -> std::process::Child {
    let mut command = std::process::Command::new(binary);
    command
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "authorizer")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "local")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (name, value) in extra {
        command.env(name, value);
    }
    command.spawn().unwrap()
}
