//! Both cache tiers under load, through the local gateway: 16 clients for
//! 60 s (`COG_CACHE_LOAD_SECONDS` to change it) over a population of 200
//! PATs of 8 users in 3 orgs with Zipf(1.1) popularity, each token called
//! from 4 source addresses (127.0.0.1-4: `$context.identity.sourceIp` is
//! in the gateway's cache key), while access changes come at a steady rate
//! (one every 2 s, `COG_CACHE_LOAD_CHANGE_MS`): alternately the revocation
//! of a random token (`DELETE /v1/tokens/{id}`, then a new token takes its
//! place in the population) and a membership change of a random user
//! (`PrincipalStore::put_account`, whose audit event the invalidator reads).
//!
//! Reported: throughput and latency; the share of requests that reached the
//! authorizer (gateway misses / authorized requests); the authorizer's
//! DynamoDB requests per request, by operation (a recording proxy in front
//! of DynamoDB Local, for the authorizer only); flushes; for each
//! revocation, the time from just before its request to the first 401 of
//! a dedicated prober calling the token every 10 ms; the cold path (a fresh
//! token's first request, which misses both tiers); and a repeated
//! credential on a warm instance (one warm token from 50 new source
//! addresses: each a gateway miss, so the authorizer answers from its own
//! cache or reads). Baseline, same run, same load and changes: the chain
//! with caching off (TTL 0, no credential cache), where every request
//! reaches the authorizer and the store.
//!
//! `GET /v1/whoami` is the only route behind the token authorizer in
//! template.yaml, so the route part of the cache key does not vary here;
//! query strings would not change the route key.
//!
//! The local chain runs one instance per function, one invocation at a
//! time: with caching off, throughput is that one authorizer's rate.
//!
//! A bench reports: no timing is asserted. It panics on functional errors:
//! a valid token refused, a 5xx, any other unexpected answer.
//! Run by `make bench` (release binaries, private stack).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a bench binary reports on stdout

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use rand::Rng;
use serde_json::Value;

use cog_integration_tests::caching::{cache_stats, ROUTE};
use cog_integration_tests::chain::{Chain, ChainConfig};
use cog_integration_tests::proxy::FaultProxy;
use cog_integration_tests::{beta_account, new_token, Stack};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::aws::kms::KmsPepperSource;
use cog_tokens::records::{AuditAction, AuditEvent, OrgMembership, Owner, Timestamp};
use cog_tokens::store::pepper::{PepperRing, PepperSource};
use cog_tokens::store::{PrincipalStore, TokenStore};

const CLIENTS: usize = 16;
const TOKENS: usize = 200;
const USERS: usize = 8;
const ORGS: usize = 3;
/// Source addresses of the load clients: 127.0.0.1 ..= 127.0.0.SOURCES.
const SOURCES: u8 = 4;
const ZIPF_S: f64 = 1.1;
/// Fresh tokens, each called once: the cold path.
const COLD_TOKENS: usize = 50;
/// New source addresses for one warm token: the repeated-credential probe.
const REPEATS: u8 = 50;
const PROBE_EVERY: Duration = Duration::from_millis(10);
/// A revocation still allowed this long after its request is reported as
/// not refused (the gateway's TTL, 300 s, would be the bound then).
const PROBE_GIVE_UP: Duration = Duration::from_secs(10);
/// Load without changes before each measured run: processes, connections
/// and caches warm, the stream's backlog (the population's creations) read.
const WARM_UP: Duration = Duration::from_secs(5);
const MAX_ACTIVE_TOKENS: u32 = 50;
/// How [`operations`] names the revocation feed's read.
const FEED_READ: &str = "GetItem FEED";

type Http = Client<HttpConnector, Full<Bytes>>;

/// An HTTP client whose connections come from `source`.
fn client_from(source: IpAddr) -> Http {
    let mut connector = HttpConnector::new();
    connector.set_local_address(Some(source));
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

fn loopback(a: u8, b: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, a, b))
}

/// `GET /v1/whoami` with `token`: status and body.
async fn whoami(client: &Http, url: &str, token: &str) -> (u16, String) {
    let request = hyper::Request::builder()
        .method("GET")
        .uri(format!("{url}{ROUTE}"))
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(60), client.request(request))
        .await
        .expect("no answer in 60 s")
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// `cog_` and the public ID: what an error message may show of a token.
fn shown(token: &str) -> &str {
    &token[..20]
}

/// Zipf(s) over ranks 0..n: the cumulative weights.
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        let mut cumulative: Vec<f64> = (1..=n)
            .map(|k| {
                total += (k as f64).powf(-s);
                total
            })
            .collect();
        for weight in &mut cumulative {
            *weight /= total;
        }
        Self(cumulative)
    }

    fn sample(&self, rng: &mut impl Rng) -> usize {
        let u: f64 = rng.random();
        self.0.partition_point(|&c| c < u).min(self.0.len() - 1)
    }
}

#[derive(Debug, Clone)]
struct Slot {
    token: String,
    user: usize,
}

/// The tokens the clients call, by popularity rank, and the revoked ones
/// (a 401 for one of these is expected, any other 401 is an error).
#[derive(Debug, Default)]
struct Population {
    slots: Mutex<Vec<Slot>>,
    revoked: Mutex<HashSet<String>>,
}

fn user_id(user: usize) -> String {
    format!("cacheload{user}")
}

/// User `user`: active, PAT beta, admin of its home org; `extra`: also a
/// viewer of `org-shared` (the membership the changes add and remove).
fn account(user: usize, extra: bool) -> cog_tokens::records::Account {
    let mut account = beta_account(&user_id(user));
    account.orgs = vec![OrgMembership {
        org_id: format!("org-{}", user % ORGS),
        role: "admin".into(),
    }];
    if extra {
        account.orgs.push(OrgMembership {
            org_id: "org-shared".into(),
            role: "viewer".into(),
        });
    }
    account
}

/// Everything one chain needs: its own table, accounts and population.
struct Fixture {
    store: DynamoStore,
    ring: Arc<PepperRing>,
    population: Arc<Population>,
}

impl Fixture {
    async fn new(stack: &Stack) -> Self {
        let (store, _key) = stack.seeded(&[]).await;
        for user in 0..USERS {
            let account = account(user, false);
            store
                .put_account(&account, &account.audit_put("cache_load", Timestamp::now()))
                .await
                .unwrap();
        }
        let ring = KmsPepperSource::new(stack.kms.clone(), store.clone())
            .load_ring()
            .await
            .unwrap();
        let fixture = Self {
            store,
            ring: Arc::new(ring),
            population: Arc::default(),
        };
        let mut slots = Vec::with_capacity(TOKENS);
        for rank in 0..TOKENS {
            // Users take ranks in turn: each has popular and rare tokens.
            let user = rank % USERS;
            slots.push(Slot {
                token: fixture.create(user).await,
                user,
            });
        }
        *fixture.population.slots.lock().unwrap() = slots;
        fixture
    }

    /// A new PAT of `user` in the store, as issuance writes it.
    async fn create(&self, user: usize) -> String {
        create_token(&self.store, &self.ring, user).await
    }
}

async fn create_token(store: &DynamoStore, ring: &PepperRing, user: usize) -> String {
    let owner = Owner::user(user_id(user));
    let now = Timestamp::now();
    let (token, record) = new_token(&owner, ring.current(), now, Some(now.plus_seconds(86_400)));
    let audit =
        AuditEvent::new("cache_load", AuditAction::TokenCreate, owner, now).for_token(record.id);
    store
        .create_token(&record, MAX_ACTIVE_TOKENS, &audit)
        .await
        .unwrap();
    token.expose_secret().to_owned()
}

/// What the load clients saw.
#[derive(Debug, Default)]
struct Load {
    seconds: f64,
    latencies: Vec<Duration>,
    /// 401s for tokens revoked by then (expected, not errors).
    refused_revoked: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// `CLIENTS` tasks calling the population (Zipf rank, random source
/// address) until `duration` has passed. Panics on an unexpected answer.
async fn drive(
    url: &str,
    clients: &[Http],
    population: &Arc<Population>,
    duration: Duration,
) -> Load {
    let zipf = Arc::new(Zipf::new(TOKENS, ZIPF_S));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let (url, clients) = (url.to_owned(), clients.to_vec());
        let (population, zipf) = (Arc::clone(population), Arc::clone(&zipf));
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut refused_revoked = 0;
            while started.elapsed() < duration {
                let (rank, source) = {
                    let mut rng = rand::rng();
                    (zipf.sample(&mut rng), rng.random_range(0..clients.len()))
                };
                let token = population.slots.lock().unwrap()[rank].token.clone();
                let sent = Instant::now();
                let (status, body) = whoami(&clients[source], &url, &token).await;
                latencies.push(sent.elapsed());
                match status {
                    200 => {}
                    401 if population.revoked.lock().unwrap().contains(&token) => {
                        refused_revoked += 1;
                    }
                    other => panic!(
                        "{} (rank {rank}, source {source}): {other} {body}",
                        shown(&token)
                    ),
                }
            }
            (latencies, refused_revoked)
        });
    }
    let mut load = Load::default();
    while let Some(done) = tasks.join_next().await {
        let (latencies, refused) = done.unwrap();
        load.latencies.extend(latencies);
        load.refused_revoked += refused;
    }
    load.seconds = started.elapsed().as_secs_f64();
    load.latencies.sort();
    load
}

/// One revocation, seen by its prober.
#[derive(Debug)]
struct Probe {
    /// From just before the DELETE to the first 401; `None`: still allowed
    /// after `PROBE_GIVE_UP`.
    refused_after: Option<Duration>,
    /// The DELETE's own time.
    delete: Duration,
    /// Requests answered 200 after the DELETE returned.
    served_after_delete: usize,
    token_id: String,
}

/// Warms `token` on the prober's key, revokes it through the management
/// API in `cookie`'s session, then calls it every `PROBE_EVERY` until refused.
async fn revoke_and_probe(chain: Arc<Chain>, client: Http, token: String, cookie: String) -> Probe {
    let (status, body) = whoami(&client, &chain.url, &token).await;
    assert_eq!(
        status,
        200,
        "{} before its revocation: {body}",
        shown(&token)
    );
    let since = Instant::now();
    let path = format!("/v1/tokens/{}", &token[4..20]);
    let deleted = chain
        .call("DELETE", &path, &[("cookie", &cookie)], "")
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let delete = since.elapsed();
    let mut served_after_delete = 0;
    let refused_after = loop {
        let (status, body) = whoami(&client, &chain.url, &token).await;
        match status {
            200 => served_after_delete += 1,
            401 => break Some(since.elapsed()),
            other => panic!("{} after its revocation: {other} {body}", shown(&token)),
        }
        if since.elapsed() > PROBE_GIVE_UP {
            break None;
        }
        tokio::time::sleep(PROBE_EVERY).await;
    };
    Probe {
        refused_after,
        delete,
        served_after_delete,
        token_id: token[4..20].to_owned(),
    }
}

#[derive(Debug, Default)]
struct Changes {
    probes: Vec<Probe>,
    memberships: usize,
}

/// One change every `every` until `duration` has passed, alternately a
/// revocation (probed) and a membership change.
async fn change_steadily(
    chain: Arc<Chain>,
    fixture: Arc<Fixture>,
    cookies: Arc<Vec<String>>,
    prober: Http,
    every: Duration,
    duration: Duration,
) -> Changes {
    let started = Instant::now();
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut extra = [false; USERS];
    let mut probers = Vec::new();
    let mut changes = Changes::default();
    for n in 0.. {
        tick.tick().await;
        if started.elapsed() >= duration {
            break;
        }
        if n % 2 == 0 {
            let rank = rand::rng().random_range(0..TOKENS);
            let user = fixture.population.slots.lock().unwrap()[rank].user;
            let replacement = fixture.create(user).await;
            let old = {
                let mut slots = fixture.population.slots.lock().unwrap();
                std::mem::replace(&mut slots[rank].token, replacement)
            };
            fixture
                .population
                .revoked
                .lock()
                .unwrap()
                .insert(old.clone());
            probers.push(tokio::spawn(revoke_and_probe(
                Arc::clone(&chain),
                prober.clone(),
                old,
                cookies[user].clone(),
            )));
        } else {
            let user = rand::rng().random_range(0..USERS);
            extra[user] = !extra[user];
            let account = account(user, extra[user]);
            fixture
                .store
                .put_account(&account, &account.audit_put("cache_load", Timestamp::now()))
                .await
                .unwrap();
            changes.memberships += 1;
        }
    }
    for prober in probers {
        changes.probes.push(prober.await.unwrap());
    }
    changes
}

/// The item kinds a request names: its keys' `pk` prefixes (`TOKEN`,
/// `USER`, `FEED`, `ORG`, ...), joined by `+`.
fn key_kinds(operation: &str, body: &[u8]) -> String {
    let body: Value = serde_json::from_slice(body).unwrap_or_default();
    let kind = |key: &Value| {
        let pk = key["pk"]["S"].as_str().unwrap_or("?");
        pk.split('#').next().unwrap_or(pk).to_owned()
    };
    let mut kinds: Vec<String> = match operation {
        "BatchGetItem" => body["RequestItems"]
            .as_object()
            .into_iter()
            .flat_map(|tables| tables.values())
            .flat_map(|table| table["Keys"].as_array().cloned().unwrap_or_default())
            .map(|key| kind(&key))
            .collect(),
        "TransactWriteItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item.as_object()?.values().next().cloned())
            .map(|action| match action.get("Item") {
                Some(item) => kind(item),
                None => kind(&action["Key"]),
            })
            .collect(),
        _ if body.get("Key").is_some() => vec![kind(&body["Key"])],
        _ => Vec::new(),
    };
    kinds.sort();
    kinds.dedup();
    kinds.join("+")
}

/// The authorizer's DynamoDB requests seen by the proxy, by operation and
/// the kinds of item they name (`GetItem FEED` is the revocation feed).
fn operations(proxy: &FaultProxy) -> BTreeMap<String, usize> {
    proxy.take_operations();
    let mut counts = BTreeMap::new();
    for (target, body) in proxy.take_requests() {
        let operation = target.rsplit('.').next().unwrap_or("?");
        let kinds = key_kinds(operation, &body);
        let name = match kinds.is_empty() {
            true => operation.to_owned(),
            false => format!("{operation} {kinds}"),
        };
        *counts.entry(name).or_insert(0) += 1;
    }
    counts
}

fn is_read(operation: &str) -> bool {
    ["GetItem", "BatchGetItem", "Query", "Scan"]
        .iter()
        .any(|read| operation.starts_with(read))
}

fn reads(operations: &BTreeMap<String, usize>) -> usize {
    operations
        .iter()
        .filter(|(operation, _)| is_read(operation))
        .map(|(_, n)| n)
        .sum()
}

/// Reads of credentials (token, owner, org policies): all but the feed's.
fn credential_reads(operations: &BTreeMap<String, usize>) -> usize {
    reads(operations) - operations.get(FEED_READ).copied().unwrap_or(0)
}

fn stat(stats: &Value, name: &str) -> u64 {
    stats[name].as_u64().unwrap()
}

/// What one chain measured.
#[derive(Debug)]
struct Report {
    load: Load,
    /// Gateway statistics over the measured run.
    stats: Value,
    operations: BTreeMap<String, usize>,
    changes: Changes,
    cold: Vec<Duration>,
    cold_operations: BTreeMap<String, usize>,
    /// The repeated-credential probe: gateway invocations and the
    /// authorizer's requests for them.
    repeated_invocations: u64,
    repeated_operations: BTreeMap<String, usize>,
    /// The machine's 1-minute load average at the measured run's start and end.
    load_average: (f64, f64),
}

impl Report {
    /// Requests the authorizer guarded (load, probers): the gateway's hits and misses.
    fn authorized(&self) -> u64 {
        stat(&self.stats, "hits") + stat(&self.stats, "misses")
    }

    fn authorizer_share(&self) -> f64 {
        stat(&self.stats, "misses") as f64 / self.authorized() as f64
    }

    fn per_request(&self, count: usize) -> f64 {
        count as f64 / self.authorized() as f64
    }

    fn flushes(&self) -> u64 {
        self.stats["flushes"]["http"].as_u64().unwrap()
            + self.stats["flushes"]["rest"].as_u64().unwrap()
    }

    fn refusals(&self) -> Vec<Duration> {
        let mut refusals: Vec<Duration> = self
            .changes
            .probes
            .iter()
            .filter_map(|p| p.refused_after)
            .collect();
        refusals.sort();
        refusals
    }
}

async fn reset_stats(chain: &Chain) {
    let answer = chain
        .control("POST", "/_dev/authorizer-cache/reset-stats")
        .await;
    assert!(answer.status < 300, "{} {}", answer.status, answer.body);
}

/// Fresh tokens (created first), each called once from `client`: the
/// latencies of requests that miss both tiers.
async fn cold_path(
    chain: &Chain,
    client: &Http,
    fixture: &Fixture,
    proxy: &FaultProxy,
) -> (Vec<Duration>, BTreeMap<String, usize>) {
    let mut fresh = Vec::with_capacity(COLD_TOKENS);
    for n in 0..COLD_TOKENS {
        fresh.push(fixture.create(n % USERS).await);
    }
    // Let the stream carry the creations away (the invalidator's feed writes).
    tokio::time::sleep(Duration::from_secs(1)).await;
    operations(proxy);
    let mut latencies = Vec::with_capacity(COLD_TOKENS);
    for token in &fresh {
        let before = stat(&cache_stats(chain).await, "invocations");
        let sent = Instant::now();
        let (status, body) = whoami(client, &chain.url, token).await;
        latencies.push(sent.elapsed());
        assert_eq!(status, 200, "fresh {}: {body}", shown(token));
        let after = stat(&cache_stats(chain).await, "invocations");
        assert_eq!(
            after,
            before + 1,
            "a fresh token's request reached the authorizer"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    latencies.sort();
    (latencies, operations(proxy))
}

/// One warm token from `REPEATS` source addresses the gateway has not
/// seen: each a gateway miss, so the authorizer itself answers a
/// credential it has answered before. Its invocations and DynamoDB requests.
async fn repeated_credential(
    chain: &Chain,
    fixture: &Fixture,
    proxy: &FaultProxy,
) -> (u64, BTreeMap<String, usize>) {
    let token = fixture.population.slots.lock().unwrap()[0].token.clone();
    let clients: Vec<Http> = (1..=REPEATS).map(|b| client_from(loopback(1, b))).collect();
    // Warm on one address, then let any last_used_at write settle.
    let (status, body) = whoami(&clients[0], &chain.url, &token).await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    operations(proxy);
    let before = stat(&cache_stats(chain).await, "invocations");
    for client in &clients[1..] {
        let (status, body) = whoami(client, &chain.url, &token).await;
        assert_eq!(status, 200, "{body}");
    }
    let invocations = stat(&cache_stats(chain).await, "invocations") - before;
    (invocations, operations(proxy))
}

/// The chain over `fixture`'s table, its authorizer reading DynamoDB
/// through `proxy`, with more authorizer environment `env`.
fn start_chain(
    fixture: &Fixture,
    proxy: &FaultProxy,
    caching: bool,
    env: &[(&str, &str)],
) -> Chain {
    let mut one_function_env = vec![(
        "authorizer".to_owned(),
        "AWS_ENDPOINT_URL_DYNAMODB".to_owned(),
        proxy.url.clone(),
    )];
    for (name, value) in env {
        one_function_env.push(("authorizer".into(), (*name).into(), (*value).into()));
    }
    Chain::start(&ChainConfig {
        table: fixture.store.table().to_owned(),
        caching,
        one_function_env,
        log_level: Some("warn".into()),
        ..ChainConfig::default()
    })
}

/// Diagnostic for the cold path: caching off (TTL 0, no credential cache),
/// but the authorizer told the gateway caches (`GATEWAY_CACHE_TTL_SECONDS`),
/// so it awaits a due `last_used_at` write before answering, as with
/// caching on. The cold path alone, after the same warm-up.
async fn cold_with_awaited_write(stack: &Stack) -> (Vec<Duration>, BTreeMap<String, usize>) {
    let fixture = Fixture::new(stack).await;
    let proxy = FaultProxy::dynamodb().await;
    let ttl = cog_integration_tests::chain::template_parameter_default("AuthorizerResultTtl");
    let chain = start_chain(
        &fixture,
        &proxy,
        false,
        &[("GATEWAY_CACHE_TTL_SECONDS", &ttl)],
    );
    let clients: Vec<Http> = (1..=SOURCES).map(|b| client_from(loopback(0, b))).collect();
    drive(&chain.url, &clients, &fixture.population, WARM_UP).await;
    cold_path(&chain, &client_from(loopback(0, 100)), &fixture, &proxy).await
}

async fn measure(
    stack: &Stack,
    caching: bool,
    duration: Duration,
    change_every: Duration,
) -> Report {
    let fixture = Arc::new(Fixture::new(stack).await);
    let proxy = FaultProxy::dynamodb().await;
    let chain = Arc::new(start_chain(&fixture, &proxy, caching, &[]));
    let mut cookies = Vec::with_capacity(USERS);
    for user in 0..USERS {
        cookies.push(chain.sign_in(&user_id(user)).await);
    }
    let cookies = Arc::new(cookies);
    let clients: Vec<Http> = (1..=SOURCES).map(|b| client_from(loopback(0, b))).collect();
    let prober = client_from(loopback(0, 100));

    drive(&chain.url, &clients, &fixture.population, WARM_UP).await;
    let (cold, cold_operations) = cold_path(&chain, &prober, &fixture, &proxy).await;
    let (repeated_invocations, repeated_operations) =
        repeated_credential(&chain, &fixture, &proxy).await;
    drive(
        &chain.url,
        &clients,
        &fixture.population,
        Duration::from_secs(1),
    )
    .await;

    reset_stats(&chain).await;
    operations(&proxy);
    let load_start = load_average();
    let changer = tokio::spawn(change_steadily(
        Arc::clone(&chain),
        Arc::clone(&fixture),
        cookies,
        prober,
        change_every,
        duration,
    ));
    let load = drive(&chain.url, &clients, &fixture.population, duration).await;
    let stats = cache_stats(&chain).await;
    let operations = operations(&proxy);
    let load_end = load_average();
    let changes = changer.await.unwrap();
    Report {
        load,
        stats,
        operations,
        changes,
        cold,
        cold_operations,
        repeated_invocations,
        repeated_operations,
        load_average: (load_start, load_end),
    }
}

/// The 1-minute load average (`/proc/loadavg`): how busy the machine was.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn ratio(on: f64, off: f64) -> String {
    if off == 0.0 {
        return "-".into();
    }
    format!("{:.3}×", on / off)
}

fn print(
    seconds: u64,
    change_every: Duration,
    off: &Report,
    on: &Report,
    awaited: &(Vec<Duration>, BTreeMap<String, usize>),
) {
    let runs = [
        ("caching off (baseline)", off),
        ("caching on (both tiers)", on),
    ];
    println!(
        "## Cache load: gateway → authorizer → whoami, {CLIENTS} clients, {seconds} s each, \
         {TOKENS} PATs of {USERS} users in {ORGS} orgs, Zipf({ZIPF_S}), {SOURCES} source addresses, \
         one access change every {} ms",
        change_every.as_millis()
    );
    println!();
    println!(
        "| run | requests | per second | p50 ms | p99 ms | reached the authorizer | \
         DynamoDB reads / request | reads / 1M requests | flushes | flushes / s | \
         401s for revoked tokens |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (name, run) in runs {
        let reads = run.per_request(reads(&run.operations));
        println!(
            "| {name} | {} | {:.0} | {:.2} | {:.2} | {:.2} % | {:.4} | {:.0} | {} | {:.2} | {} |",
            run.load.latencies.len(),
            run.load.latencies.len() as f64 / run.load.seconds,
            ms(percentile(&run.load.latencies, 0.50)),
            ms(percentile(&run.load.latencies, 0.99)),
            run.authorizer_share() * 100.0,
            reads,
            reads * 1e6,
            run.flushes(),
            run.flushes() as f64 / run.load.seconds,
            run.load.refused_revoked
        );
    }
    println!();
    println!(
        "Caching on × baseline: reached the authorizer {}; DynamoDB reads per request {}; \
         p50 {}; p99 {}; throughput {}.",
        ratio(on.authorizer_share(), off.authorizer_share()),
        ratio(
            on.per_request(reads(&on.operations)),
            off.per_request(reads(&off.operations))
        ),
        ratio(
            ms(percentile(&on.load.latencies, 0.5)),
            ms(percentile(&off.load.latencies, 0.5))
        ),
        ratio(
            ms(percentile(&on.load.latencies, 0.99)),
            ms(percentile(&off.load.latencies, 0.99))
        ),
        ratio(
            on.load.latencies.len() as f64 / on.load.seconds,
            off.load.latencies.len() as f64 / off.load.seconds
        ),
    );
    println!(
        "Authorized requests (the gateway's hits + misses, load and probers): {} off, {} on; \
         authorizer invocations: {} off, {} on.",
        off.authorized(),
        on.authorized(),
        stat(&off.stats, "invocations"),
        stat(&on.stats, "invocations")
    );
    println!(
        "The local chain runs one instance of each function, and an instance takes one \
         invocation at a time (as in Lambda): with caching off the authorizer's invocations \
         queue behind its DynamoDB reads, so throughput and p50 there are that one instance's \
         rate and queue; more instances would narrow those two ratios, not the others."
    );
    println!(
        "Machine: {} cores; 1-minute load average at the start → end of each run: \
         off {:.1} → {:.1}, on {:.1} → {:.1}.",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        off.load_average.0,
        off.load_average.1,
        on.load_average.0,
        on.load_average.1
    );
    println!();
    println!("### The authorizer's DynamoDB requests, by operation");
    println!();
    println!(
        "| operation | off: per request | off: per 1M | on: per request | on: per 1M | on × off |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut names: Vec<&String> = off.operations.keys().chain(on.operations.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let count = |run: &Report| run.per_request(run.operations.get(name).copied().unwrap_or(0));
        let kind = if is_read(name) { "read" } else { "write" };
        println!(
            "| {name} ({kind}) | {:.4} | {:.0} | {:.4} | {:.0} | {} |",
            count(off),
            count(off) * 1e6,
            count(on),
            count(on) * 1e6,
            ratio(count(on), count(off))
        );
    }
    println!();
    println!("### Revocation to refusal (from just before the DELETE to the prober's first 401, every {} ms)", PROBE_EVERY.as_millis());
    println!();
    println!(
        "| run | revocations | membership changes | p50 ms | p99 ms | max ms | \
         not refused within {} s | DELETE p50 ms | 200s after the DELETE returned |",
        PROBE_GIVE_UP.as_secs()
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (name, run) in runs {
        let refusals = run.refusals();
        let mut deletes: Vec<Duration> = run.changes.probes.iter().map(|p| p.delete).collect();
        deletes.sort();
        println!(
            "| {name} | {} | {} | {:.0} | {:.0} | {:.0} | {} | {:.0} | {} |",
            run.changes.probes.len(),
            run.changes.memberships,
            ms(percentile(&refusals, 0.5)),
            ms(percentile(&refusals, 0.99)),
            ms(refusals.last().copied().unwrap_or_default()),
            run.changes.probes.len() - refusals.len(),
            ms(percentile(&deletes, 0.5)),
            run.changes
                .probes
                .iter()
                .map(|p| p.served_after_delete)
                .sum::<usize>()
        );
    }
    for (name, run) in runs {
        for probe in &run.changes.probes {
            match probe.refused_after {
                Some(took) if took < Duration::from_secs(1) => {}
                Some(took) => println!(
                    "- {name}: token {} refused only after {} ms",
                    probe.token_id,
                    took.as_millis()
                ),
                None => println!(
                    "- {name}: token {} still allowed {} s after its DELETE",
                    probe.token_id,
                    PROBE_GIVE_UP.as_secs()
                ),
            }
        }
    }
    println!();
    println!("### Cold path: a fresh token's first request (misses both tiers), {COLD_TOKENS} tokens, one at a time, idle chain");
    println!();
    println!("| run | p50 ms | p99 ms | max ms | DynamoDB requests per cold request |");
    println!("| --- | --- | --- | --- | --- |");
    let cold_rows = [
        (runs[0].0, &off.cold, &off.cold_operations),
        (runs[1].0, &on.cold, &on.cold_operations),
        (
            "diagnostic: caching off, last_used_at write awaited",
            &awaited.0,
            &awaited.1,
        ),
    ];
    for (name, cold, operations) in cold_rows {
        let described: Vec<String> = operations
            .iter()
            .map(|(op, n)| format!("{op} {:.2}", *n as f64 / COLD_TOKENS as f64))
            .collect();
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {} |",
            ms(percentile(cold, 0.5)),
            ms(percentile(cold, 0.99)),
            ms(cold.last().copied().unwrap_or_default()),
            described.join(", ")
        );
    }
    println!();
    println!(
        "Cold p50 × caching off: caching on {}; caching off with the last_used_at write \
         awaited (what caching on adds to a cold request, alone) {}.",
        ratio(
            ms(percentile(&on.cold, 0.5)),
            ms(percentile(&off.cold, 0.5))
        ),
        ratio(
            ms(percentile(&awaited.0, 0.5)),
            ms(percentile(&off.cold, 0.5))
        )
    );
    println!();
    println!(
        "### A repeated credential on a warm instance: one warm token from {} new source addresses (each a gateway miss)",
        REPEATS - 1
    );
    println!();
    println!("| run | authorizer invocations | credential reads | revocation-feed reads | other requests |");
    println!("| --- | --- | --- | --- | --- |");
    for (name, run) in runs {
        let feed = run.repeated_operations.get(FEED_READ).copied().unwrap_or(0);
        let credential = credential_reads(&run.repeated_operations);
        let total: usize = run.repeated_operations.values().sum();
        println!(
            "| {name} | {} | {credential} | {feed} | {} |",
            run.repeated_invocations,
            total - credential - feed
        );
    }
    println!();
    let refusals = on.refusals();
    let unrefused = on.changes.probes.len() - refusals.len();
    let p99 = percentile(&refusals, 0.99);
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    println!("Targets (reported, not asserted):");
    println!(
        "- no DynamoDB read for a repeated credential on a warm instance: {} credential reads \
         for {} authorizer answers of a warm token ({}); in the run, credential reads per \
         authorizer invocation {:.3} (off: {:.3}) — the remaining ones are first reads (new \
         tokens, and a changed user's tokens, which the feed drops)",
        credential_reads(&on.repeated_operations),
        on.repeated_invocations,
        verdict(credential_reads(&on.repeated_operations) == 0),
        credential_reads(&on.operations) as f64 / stat(&on.stats, "invocations").max(1) as f64,
        credential_reads(&off.operations) as f64 / stat(&off.stats, "invocations").max(1) as f64,
    );
    println!(
        "- revocation to refusal under 1 s at p99: p99 {:.0} ms over {} revocations, {} not refused within {} s ({})",
        ms(p99),
        on.changes.probes.len(),
        unrefused,
        PROBE_GIVE_UP.as_secs(),
        verdict(unrefused == 0 && !refusals.is_empty() && p99 < Duration::from_secs(1))
    );
    println!(
        "- the cold path no slower than today: p50 {:.2} ms on vs {:.2} ms off ({})",
        ms(percentile(&on.cold, 0.5)),
        ms(percentile(&off.cold, 0.5)),
        verdict(percentile(&on.cold, 0.5) <= percentile(&off.cold, 0.5))
    );
}

fn main() {
    if std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_err() {
        println!("cache_load: skipped, no local stack in the environment (run `make bench`)");
        return;
    }
    let env = |name: &str, default: u64| -> u64 {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let seconds = env("COG_CACHE_LOAD_SECONDS", 60);
    let change_every = Duration::from_millis(env("COG_CACHE_LOAD_CHANGE_MS", 2_000));
    let duration = Duration::from_secs(seconds);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let stack = Stack::connect().await;
        // One chain at a time, each with its own table: the baseline first.
        let off = measure(&stack, false, duration, change_every).await;
        let on = measure(&stack, true, duration, change_every).await;
        let awaited = cold_with_awaited_write(&stack).await;
        print(seconds, change_every, &off, &on, &awaited);
    });
}
