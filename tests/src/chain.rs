//! The whole local chain, as `make dev` runs it: `cargo lambda watch`
//! (Lambda Runtime and Invoke APIs), the function binaries, and the
//! local gateway in front, all on 127.0.0.1 and free ports.
//!
//! Unlike `make dev`, watch runs with `--only-lambda-apis` and the functions
//! are the binaries this test run built: `cargo test` holds the build lock,
//! so watch could not compile them itself.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

use crate::{repo_root, unique, workspace_binary};

/// The functions the template deploys, by binary name, with their crate's sources.
pub const FUNCTIONS: [(&str, &str); 8] = [
    ("authorizer", "functions/authorizer/src"),
    ("issue-token", "functions/management/src"),
    ("revoke-token", "functions/management/src"),
    ("whoami", "functions/whoami/src"),
    ("leak-response", "functions/leak-response/src"),
    ("event-publisher", "functions/lifecycle/src"),
    ("cache-invalidator", "functions/lifecycle/src"),
    // Its assets are compiled in: the whole crate counts.
    ("settings-page", "functions/settings-page"),
];

#[derive(Debug, Clone, Default)]
pub struct ChainConfig {
    pub table: String,
    /// `ROUTE_RULES` for the authorizer; empty: none.
    pub route_rules: String,
    /// Template parameter overrides for the gateway (`AuthorizerResultTtl=5`).
    pub parameters: Vec<(String, String)>,
    /// `RUST_LOG` for the functions and the gateway; `None`: the test
    /// process's `RUST_LOG` if set, else the template's.
    pub log_level: Option<String>,
    /// More environment for every function (after the template's).
    pub function_env: Vec<(String, String)>,
    /// More environment for one function: (function, name, value), last.
    pub one_function_env: Vec<(String, String, String)>,
    /// Run the stream poller (`infra/local/events.py poll`), delivering
    /// each batch this many times; `None`: no poller.
    pub stream_deliveries: Option<u32>,
    /// Both cache tiers as `template.yaml` deploys them: the gateway's
    /// authorizer cache (the template's TTL unless `parameters` set one),
    /// the authorizers' credential cache, and the cache invalidator fed by
    /// its own stream poller. Off: TTL 0 and no credential cache, so every
    /// request reaches the authorizer and the store.
    pub caching: bool,
    /// The gateway plays the token-authorized routes as this REST stage
    /// (`REST_API_ID/STAGE`), its API keys and usage plans on moto.
    pub usage_plan_stage: Option<String>,
}

#[derive(Debug)]
pub struct Chain {
    /// The gateway, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// The local gateway's control plane (flushes, cache statistics).
    pub control_plane: String,
    logs: PathBuf,
    children: Vec<(String, Child)>,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// An HTTP answer from the gateway.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub headers: hyper::HeaderMap,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
}

/// `config` with the caching switch applied: the gateway's TTL is the one
/// `parameters` set, else the template's with caching on and 0 with it off;
/// the functions learn it (the template passes it by `!Ref`, which the chain
/// does not read). Off, the authorizers keep no credential cache.
fn with_caching_set(config: &ChainConfig) -> ChainConfig {
    let mut config = config.clone();
    let set = config
        .parameters
        .iter()
        .find(|(name, _)| name == "AuthorizerResultTtl")
        .map(|(_, value)| value.clone());
    let ttl = set.clone().unwrap_or_else(|| match config.caching {
        true => template_parameter_default("AuthorizerResultTtl"),
        false => "0".to_owned(),
    });
    if set.is_none() {
        config
            .parameters
            .push(("AuthorizerResultTtl".into(), ttl.clone()));
    }
    if !config.caching {
        config.one_function_env.insert(
            0,
            (
                "authorizer".into(),
                "CREDENTIAL_CACHE_ENTRIES".into(),
                "0".into(),
            ),
        );
    }
    config
        .function_env
        .insert(0, ("GATEWAY_CACHE_TTL_SECONDS".into(), ttl));
    config
}

/// A parameter's `Default` in template.yaml, as text.
pub fn template_parameter_default(name: &str) -> String {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let template: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    match &template["Parameters"][name]["Default"] {
        serde_norway::Value::Number(n) => n.to_string(),
        serde_norway::Value::String(s) => s.clone(),
        other => panic!("parameter {name} has no scalar default: {other:?}"),
    }
}

/// The `cargo-lambda` that `infra/local/tools.sh` installs.
pub fn cargo_lambda() -> PathBuf {
    let tools = std::env::var_os("COG_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".local/tools"));
    let path = tools.join("venv/bin/cargo-lambda");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `make test` (it installs cargo-lambda)",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Fails if a source file is newer than `binary`: `cargo test` does not
/// rebuild other packages' binaries (`make test` builds them first).
fn assert_fresh(binary: &Path, sources: &[&str]) {
    fn newest(dir: &Path) -> std::time::SystemTime {
        let mut latest = std::time::SystemTime::UNIX_EPOCH;
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let time = if path.is_dir() {
                newest(&path)
            } else {
                entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(latest)
            };
            latest = latest.max(time);
        }
        latest
    }
    let built = std::fs::metadata(binary)
        .and_then(|m| m.modified())
        .unwrap();
    let root = repo_root();
    for dir in sources {
        assert!(root.join(dir).is_dir(), "no source folder {dir}");
        assert!(
            newest(&root.join(dir)) <= built,
            "{} is older than the sources in {dir}: run `cargo build --workspace --bins` \
             (or `make test`, which does)",
            binary.display()
        );
    }
}

/// The plain environment variables `template.yaml` gives a function (globals,
/// then its own); references (`!Ref TokensTable`, …) are the caller's to fill.
pub fn template_environment(binary: &str) -> Vec<(String, String)> {
    use serde_norway::Value;
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let template: Value = serde_norway::from_str(&text).unwrap();
    let function = template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .find(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(binary))
        .unwrap_or_else(|| panic!("template.yaml has no function built from {binary}"));
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    let own = &function["Properties"]["Environment"]["Variables"];
    let mut variables = std::collections::BTreeMap::new();
    for scope in [globals, own] {
        for (name, value) in scope.as_mapping().into_iter().flatten() {
            // Only literal strings: a tagged `!Ref` would read as its target's name.
            if let (Some(name), Value::String(value)) = (name.as_str(), value) {
                variables.insert(name.to_owned(), value.clone());
            }
        }
    }
    variables.into_iter().collect()
}

fn wait_for_port(port: u16, child: &mut Child, what: &str, logs: &Path) {
    if let Err(status) = listening(port, child, what) {
        panic!("{what} exited ({status}); log: {}", logs.display());
    }
}

/// Waits until `child` listens on `port`; its exit status if it exits first.
fn listening(port: u16, child: &mut Child, what: &str) -> Result<(), std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(status);
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

impl Chain {
    pub fn start(config: &ChainConfig) -> Self {
        crate::require_stack();
        // Checked before anything starts: a stale binary would test old code.
        let functions = FUNCTIONS.map(|(function, sources)| {
            let binary = workspace_binary(function);
            assert_fresh(&binary, &["shared/src", sources]);
            (function, binary)
        });
        let gateway_binary = workspace_binary("local-gateway");
        assert_fresh(&gateway_binary, &["infra/local/gateway/src"]);
        let logs = std::env::temp_dir().join(unique("cog-chain"));
        std::fs::create_dir_all(&logs).unwrap();
        // Built first, so a panic half-way still stops what was started (Drop).
        let mut chain = Self {
            url: String::new(),
            control_plane: format!("http://127.0.0.1:{}", free_port()),
            logs,
            children: Vec::new(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        };
        // `RUST_LOG=trace make test` runs every chain at trace.
        let log_level = config
            .log_level
            .clone()
            .or_else(|| std::env::var("RUST_LOG").ok());
        let config = &with_caching_set(config);
        let watch_port = chain.start_watch();
        for (function, binary) in functions {
            chain.start_function(function, binary, config, watch_port, log_level.as_deref());
        }
        let gateway_port =
            chain.start_gateway(gateway_binary, config, watch_port, log_level.as_deref());
        if let Some(deliveries) = config.stream_deliveries {
            chain.start_stream_poller(&config.table, watch_port, "event-publisher", deliveries);
        }
        if config.caching {
            chain.start_stream_poller(&config.table, watch_port, "cache-invalidator", 1);
        }
        chain.url = format!("http://127.0.0.1:{gateway_port}");
        chain
    }

    /// Starts one function binary against watch's Runtime API.
    fn start_function(
        &mut self,
        function: &str,
        binary: PathBuf,
        config: &ChainConfig,
        watch_port: u16,
        log_level: Option<&str>,
    ) {
        let mut command = Command::new(binary);
        command
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{watch_port}/.rt/{function}"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .envs(template_environment(function))
            .envs(log_level.map(|level| ("RUST_LOG", level)))
            .env("TABLE_NAME", &config.table)
            .env("AWS_ENDPOINT_URL_APIGATEWAYV2", &self.control_plane)
            .env("AWS_ENDPOINT_URL_API_GATEWAY", &self.control_plane)
            .env("AUTHORIZER_CACHE_STAGES", "http:local/$default")
            // The settings page's sign-in link: the local gateway's dev form.
            .env("SIGN_IN_URL", "/_dev/sign-in");
        if !config.route_rules.is_empty() {
            command.env("ROUTE_RULES", &config.route_rules);
        }
        command.envs(config.function_env.iter().cloned());
        command.envs(
            config
                .one_function_env
                .iter()
                .filter(|(name, ..)| name == function)
                .map(|(_, key, value)| (key, value)),
        );
        self.spawn(function, &mut command);
    }

    /// Starts the local gateway in front of watch; its port, once it listens.
    fn start_gateway(
        &mut self,
        binary: PathBuf,
        config: &ChainConfig,
        watch_port: u16,
        log_level: Option<&str>,
    ) -> u16 {
        // A free port can be taken between `free_port` and the gateway's
        // bind (tests run side by side): then another one.
        for _ in 0..4 {
            let port = free_port();
            self.spawn_gateway(&binary, config, watch_port, log_level, port);
            let (_, child) = self.children.last_mut().unwrap();
            // Another process listening there answers the connect too: the
            // gateway, failing to bind, exits a moment later.
            let started = listening(port, child, "local-gateway").and_then(|()| {
                std::thread::sleep(Duration::from_millis(100));
                match child.try_wait() {
                    Ok(Some(status)) => Err(status),
                    _ => Ok(()),
                }
            });
            match started {
                Ok(()) => return port,
                Err(_) if self.port_was_taken(port) => {
                    self.children.pop();
                }
                Err(status) => panic!(
                    "local-gateway exited ({status}); log: {}",
                    self.logs.display()
                ),
            }
        }
        panic!(
            "local-gateway found no free port; log: {}",
            self.logs.display()
        )
    }

    /// Whether the gateway's log says `port` was taken when it started.
    fn port_was_taken(&self, port: u16) -> bool {
        std::fs::read_to_string(self.logs.join("gateway-err.log"))
            .is_ok_and(|log| log.contains(&format!("cannot listen on 127.0.0.1:{port}")))
    }

    fn spawn_gateway(
        &mut self,
        binary: &Path,
        config: &ChainConfig,
        watch_port: u16,
        log_level: Option<&str>,
        port: u16,
    ) {
        let mut gateway = Command::new(binary);
        gateway
            .envs(log_level.map(|level| ("RUST_LOG", level)))
            .arg("--template")
            .arg(repo_root().join("template.yaml"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--lambda-url", &format!("http://127.0.0.1:{watch_port}")])
            .args(["--invoke-timeout-seconds", "30"])
            .args([
                "--control-plane-listen",
                self.control_plane.trim_start_matches("http://"),
            ]);
        for (name, value) in &config.parameters {
            gateway.args(["--parameter", &format!("{name}={value}")]);
        }
        if let Some(stage) = &config.usage_plan_stage {
            let moto = std::env::var("AWS_ENDPOINT_URL_KMS").unwrap();
            gateway.args(["--usage-plan-stage", stage, "--usage-plans-url", &moto]);
        }
        self.spawn("gateway", &mut gateway);
    }

    /// Plays a stream event source mapping: `table`'s stream to
    /// `function`, each batch `deliveries` times (the invalidator's with
    /// batches in parallel, as its mapping's ParallelizationFactor).
    fn start_stream_poller(
        &mut self,
        table: &str,
        watch_port: u16,
        function: &str,
        deliveries: u32,
    ) {
        let mut poller = Command::new(crate::events::tools_python());
        poller
            .arg(repo_root().join("infra/local/events.py"))
            .args(["poll", table, &format!("http://127.0.0.1:{watch_port}")])
            .args(["--function", function])
            .args(["--repeat", &deliveries.to_string()]);
        if function == "cache-invalidator" {
            // Every poll's pause is revocation delay; 50 ms keeps it small.
            poller.args(["--parallel", "10", "--retries", "3", "--interval", "0.05"]);
        }
        self.spawn(&format!("stream-poller-{function}"), &mut poller);
    }

    /// Starts `cargo lambda watch` (the functions' Runtime API); its port.
    fn start_watch(&mut self) -> u16 {
        let port = free_port();
        let mut watch = Command::new(cargo_lambda());
        watch
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "--invoke-address",
                "127.0.0.1",
            ])
            .args(["--invoke-port", &port.to_string()])
            .arg("--manifest-path")
            .arg(repo_root().join("Cargo.toml"))
            // A dev tool, not under test: at the suite's `trace` its log
            // grew past 1 GB per chain.
            .env("RUST_LOG", "info");
        self.spawn("watch", &mut watch);
        self.wait_for_last(port, "cargo lambda watch");
        port
    }

    /// Starts `command` as `name`, its output in `<name>.log` and `<name>-err.log`.
    fn spawn(&mut self, name: &str, command: &mut Command) {
        let log = |file: String| std::fs::File::create(self.logs.join(file)).unwrap();
        let child = command
            .stdout(log(format!("{name}.log")))
            .stderr(log(format!("{name}-err.log")))
            .spawn()
            .unwrap();
        self.children.push((name.to_owned(), child));
    }

    /// Waits until the process started last listens on `port`.
    fn wait_for_last(&mut self, port: u16, what: &str) {
        let (_, child) = self.children.last_mut().unwrap();
        wait_for_port(port, child, what, &self.logs);
    }

    /// One request to the gateway. `headers` as (name, value).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        self.send(&self.url, method, path, headers, body).await
    }

    /// One request to the gateway's control plane (its dev statistics, or
    /// a flush with a stand-in SigV4 header).
    pub async fn control(&self, method: &str, path: &str) -> Answer {
        let signed = [("authorization", "AWS4-HMAC-SHA256 Credential=test")];
        self.send(&self.control_plane, method, path, &signed, "")
            .await
    }

    async fn send(
        &self,
        base: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("{base}{path}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(60), self.client.request(request))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{method} {path}: no answer in 60 s; logs: {}",
                    self.logs.display()
                )
            })
            .unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Answer {
            status: parts.status.as_u16(),
            body: String::from_utf8_lossy(&body).into_owned(),
            headers: parts.headers,
        }
    }

    /// Starts a dev session for `user`; returns the `Cookie` header value.
    pub async fn sign_in(&self, user: &str) -> String {
        let body = format!(r#"{{"sub": "{user}"}}"#);
        let answer = self.call("POST", "/_dev/session", &[], &body).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        let cookie = answer.headers["set-cookie"].to_str().unwrap();
        cookie.split(';').next().unwrap().to_owned()
    }

    /// `POST /v1/tokens` in the session `cookie`; `scopes` is a JSON array.
    pub async fn create_token(&self, cookie: &str, scopes: &str) -> Answer {
        let body = format!(
            r#"{{"name": "{}", "scopes": {scopes}, "expires_in_days": 7}}"#,
            unique("t")
        );
        let headers = [("cookie", cookie), ("content-type", "application/json")];
        self.call("POST", "/v1/tokens", &headers, &body).await
    }

    /// A request with `Authorization: Bearer {token}`.
    pub async fn with_token(&self, method: &str, path: &str, token: &str) -> Answer {
        let auth = format!("Bearer {token}");
        self.call(method, path, &[("authorization", &auth)], "")
            .await
    }

    pub fn logs(&self) -> &Path {
        &self.logs
    }

    /// The process id of a function (`authorizer`, …) or of `gateway`.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.children
            .iter()
            .find(|(child, _)| child == name)
            .map(|(_, child)| child.id())
    }

    /// What the functions' and the gateway's logs give away: any `cog_`
    /// token, and any of `secrets`, as "file: what" lines. (`cargo lambda
    /// watch` is a dev tool, not part of what is deployed: not scanned.)
    pub fn leaks(&self, secrets: &[String]) -> Vec<String> {
        let mut found = Vec::new();
        let scanned = FUNCTIONS.iter().map(|(name, _)| *name).chain(["gateway"]);
        for name in scanned {
            for file in [format!("{name}.log"), format!("{name}-err.log")] {
                let text = std::fs::read_to_string(self.logs.join(&file)).unwrap_or_default();
                if let Some(token) = token_in(&text) {
                    found.push(format!("{file}: a token ({}…)", &token[..12]));
                }
                for secret in secrets.iter().filter(|s| text.contains(s.as_str())) {
                    found.push(format!("{file}: a secret ({}…)", &secret[..6]));
                }
            }
        }
        found
    }

    /// `cargo lambda watch`'s invoke API, e.g. `http://127.0.0.1:41235`
    /// (read from its command line: the chain keeps no more than its children).
    fn invoke_url(&self) -> String {
        let pid = self.pid("watch").expect("watch runs");
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect();
        let at = args.iter().position(|arg| arg == "--invoke-port").unwrap();
        format!("http://127.0.0.1:{}", args[at + 1])
    }

    /// Invokes `function` with `payload` (JSON) through watch's invoke API,
    /// as a Lambda client or a schedule does, in a background task (a
    /// scheduled run of the cache invalidator lasts until the ends it
    /// waits for); await the handle for its answer (up to 120 s).
    pub fn invoke(&self, function: &str, payload: &str) -> tokio::task::JoinHandle<Answer> {
        let uri = format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.invoke_url()
        );
        let (client, payload, logs) = (self.client.clone(), payload.to_owned(), self.logs.clone());
        tokio::spawn(async move {
            let request = hyper::Request::builder()
                .method("POST")
                .uri(&uri)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(payload)))
                .unwrap();
            let response = tokio::time::timeout(Duration::from_secs(120), client.request(request))
                .await
                .unwrap_or_else(|_| panic!("{uri}: no answer in 120 s; logs: {}", logs.display()))
                .unwrap();
            let (parts, body) = response.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            Answer {
                status: parts.status.as_u16(),
                body: String::from_utf8_lossy(&body).into_owned(),
                headers: parts.headers,
            }
        })
    }

    /// Starts one more function binary that `FUNCTIONS` leaves out (e.g.
    /// `account-sync`, which EventBridge drives) against watch's Runtime
    /// API, with its template environment, `table` and `env`; then
    /// [`Chain::invoke`] reaches it. `sources`: its crate's sources, for
    /// the freshness check. Its log is `<function>.log`.
    pub fn start_extra_function(
        &mut self,
        function: &str,
        sources: &str,
        table: &str,
        env: &[(&str, &str)],
    ) {
        let binary = workspace_binary(function);
        assert_fresh(&binary, &["shared/src", sources]);
        let port: u16 = self
            .invoke_url()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let config = ChainConfig {
            table: table.to_owned(),
            one_function_env: env
                .iter()
                .map(|(name, value)| (function.to_owned(), (*name).to_owned(), (*value).to_owned()))
                .collect(),
            ..ChainConfig::default()
        };
        let log_level = std::env::var("RUST_LOG").ok();
        self.start_function(function, binary, &config, port, log_level.as_deref());
    }
}

/// The first `cog_` followed by 20 or more base62 characters: a token or
/// most of one (a listing's hint has 8).
pub fn token_in(text: &str) -> Option<&str> {
    text.match_indices("cog_").find_map(|(start, _)| {
        let rest = &text[start + 4..];
        let run = rest.bytes().take_while(u8::is_ascii_alphanumeric).count();
        (run >= 20).then(|| &text[start..start + 4 + run])
    })
}

impl Drop for Chain {
    #[allow(clippy::print_stderr)] // where to look, next to the failing test's output
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("local chain logs: {}", self.logs.display());
            return;
        }
        // Every test through the chain is also a test that no token is logged.
        let leaks = self.leaks(&[]);
        assert!(
            leaks.is_empty(),
            "secrets in the logs at {}: {leaks:?}",
            self.logs.display()
        );
        let _ = std::fs::remove_dir_all(&self.logs);
    }
}
