//! `local-gateway`: plays API Gateway (the HTTP API of `template.yaml`) on
//! loopback, in front of the functions `cargo lambda watch` serves.
//! Dev only: it hands out dev sessions to anyone who asks (see `sessions`).
//! With `--control-plane-listen`, a second listener plays API Gateway's
//! authorizer-cache flush APIs (see `control_plane`). With
//! `--usage-plan-stage`, the token-authorized routes are played as a REST
//! stage with API keys and usage plans (see `usage_plans`).

mod access_log;
mod authorizer;
mod cache_stats;
#[cfg(test)]
mod chain_tests;
mod control_plane;
mod dev;
mod events;
mod lambda;
mod quota;
mod responses;
mod serve;
mod server;
mod sessions;
mod stages;
mod template;
mod usage_plans;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use tokio::net::TcpListener;

use crate::control_plane::ControlPlane;
use crate::lambda::LambdaClient;
use crate::quota::TokenBucket;
use crate::server::Gateway;
use crate::stages::{valid_name, RestStage};
use crate::template::RouteAuth;
use crate::usage_plans::UsagePlans;

#[derive(Debug, Parser)]
#[command(
    about = "Local API Gateway (HTTP API) for template.yaml, in front of `cargo lambda watch`"
)]
struct Args {
    /// The SAM template whose HttpApi routes and authorizers to serve.
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// Where to listen; loopback only.
    #[arg(long, env = "COG_GATEWAY_ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// `cargo lambda watch`'s invoke address.
    #[arg(long, env = "COG_LAMBDA_URL", default_value = "http://127.0.0.1:9000")]
    lambda_url: String,
    /// Template parameter overrides, as `sam deploy --parameter-overrides`
    /// (e.g. `AuthorizerResultTtl=300`). Repeatable.
    #[arg(long = "parameter", value_name = "NAME=VALUE", value_parser = parse_parameter)]
    parameters: Vec<(String, String)>,
    /// Lifetime of a dev session.
    #[arg(long, default_value_t = 12 * 3600)]
    session_seconds: u64,
    /// How long to wait for a function (the first call compiles it under `cargo lambda watch`).
    #[arg(long, default_value_t = 600)]
    invoke_timeout_seconds: u64,
    /// The HTTP API's id in route ARNs and request contexts, and the id its
    /// cache flush (`DELETE /v2/apis/{id}/stages/$default/cache/authorizers`) answers to.
    #[arg(long, default_value = "local", value_parser = parse_name)]
    api_id: String,
    /// Where to serve API Gateway's authorizer-cache flush APIs; loopback only.
    /// Absent: no control plane.
    #[arg(long, env = "COG_CONTROL_PLANE_ADDR")]
    control_plane_listen: Option<SocketAddr>,
    /// A REST API stage whose `FlushStageAuthorizersCache` clears this
    /// gateway's cache (the gateway has no REST API of its own). Repeatable.
    #[arg(long = "rest-stage", value_name = "REST_API_ID/STAGE")]
    rest_stages: Vec<RestStage>,
    /// Plays the token-authorized routes as this REST stage, with API keys
    /// and usage plans read from `--usage-plans-url` (REST `REQUEST`
    /// authorizer events; 403 without a key in a plan of the stage, 429 over
    /// its throttle). Absent: the template's HTTP API.
    #[arg(long, value_name = "REST_API_ID/STAGE", requires = "usage_plans_url")]
    usage_plan_stage: Option<RestStage>,
    /// The API Gateway control plane holding the stage's keys and plans
    /// (moto locally, where the usage-plan sync writes them).
    #[arg(long, requires = "usage_plan_stage")]
    usage_plans_url: Option<String>,
    /// The control plane's quota: AWS's "Total operations" rate per second...
    #[arg(long, default_value_t = 10.0, value_parser = parse_rate)]
    control_plane_rate: f64,
    /// ...and burst, shared by both flush paths.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..))]
    control_plane_burst: u32,
}

fn parse_name(text: &str) -> Result<String, String> {
    valid_name(text)
        .then(|| text.to_owned())
        .ok_or_else(|| format!("expected letters, digits, - and _, got {text:?}"))
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "expected a number of requests per second above 0, got {text:?}"
        )),
    }
}

fn parse_parameter(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected NAME=VALUE, got {text:?}"))
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    if !args.listen.ip().is_loopback() {
        bail!(
            "{} is not a loopback address: dev sessions must never be reachable from the network",
            args.listen
        );
    }
    if let Some(address) = args.control_plane_listen.filter(|a| !a.ip().is_loopback()) {
        bail!("{address} is not a loopback address: the control plane is for local runs only");
    }
    let mut gateway = gateway(&args)?;
    if let (Some(stage), Some(url)) = (&args.usage_plan_stage, &args.usage_plans_url) {
        gateway = gateway.with_usage_plans(UsagePlans::new(url, stage.clone()).await);
    }
    let gateway = Arc::new(gateway);
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let control = match args.control_plane_listen {
        Some(address) => {
            let listener = TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address}"))?;
            let plane = ControlPlane::new(
                gateway.identity().clone(),
                args.rest_stages.clone(),
                Arc::clone(gateway.cache()),
                Arc::clone(gateway.stats()),
                TokenBucket::new(
                    args.control_plane_rate,
                    args.control_plane_burst,
                    Instant::now(),
                ),
            );
            Some((listener, Arc::new(plane)))
        }
        None => None,
    };
    log_routes(&gateway);
    tracing::info!(
        lambda_url = %args.lambda_url,
        api_id = %gateway.identity().api_id,
        authorizer_ttl_seconds = gateway.authorizer_ttl().as_secs(),
        rest_stage = ?gateway.rest_stage().map(|s| format!("{}/{}", s.rest_api_id, s.stage)),
        "listening on http://{}",
        listener.local_addr()?
    );
    if let Some((listener, _)) = &control {
        let rest_stages: Vec<String> = args
            .rest_stages
            .iter()
            .map(|s| format!("{}/{}", s.rest_api_id, s.stage))
            .collect();
        tracing::info!(
            rate_per_second = args.control_plane_rate,
            burst = args.control_plane_burst,
            rest_stages = ?rest_stages,
            "control plane on http://{}",
            listener.local_addr()?
        );
    }
    serve(listener, gateway, control).await?;
    tracing::info!("stopped");
    Ok(())
}

/// The gateway for the template's HTTP API, with the overrides of `args`.
fn gateway(args: &Args) -> Result<Gateway> {
    let text = std::fs::read_to_string(&args.template)
        .with_context(|| format!("reading {}", args.template.display()))?;
    let parameters: BTreeMap<String, String> = args.parameters.iter().cloned().collect();
    let api = template::read(&text, &parameters)?;
    let lambda = LambdaClient::new(
        &args.lambda_url,
        Duration::from_secs(args.invoke_timeout_seconds),
    );
    Ok(Gateway::new(
        api,
        lambda,
        Duration::from_secs(args.session_seconds),
        &args.api_id,
    ))
}

fn log_routes(gateway: &Gateway) {
    for route in gateway.routes() {
        let auth = match &route.auth {
            RouteAuth::None => "none".to_owned(),
            RouteAuth::Jwt => "JWT (dev session)".to_owned(),
            RouteAuth::Lambda(a) => format!("{} ({})", a.name, a.function),
        };
        tracing::info!(route = %route.route_key(), function = %route.function, %auth, "route");
    }
}

/// Serves both listeners until SIGINT or SIGTERM.
async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    control: Option<(TcpListener, Arc<ControlPlane>)>,
) -> Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let api = serve::accept_loop(listener, move |request, peer| {
        Arc::clone(&gateway).handle(request, peer)
    });
    let control = async move {
        match control {
            Some((listener, plane)) => {
                serve::accept_loop(listener, move |request, _| {
                    let plane = Arc::clone(&plane);
                    async move { plane.handle(request).await }
                })
                .await
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        served = api => served?,
        served = control => served.context("control plane listener")?,
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    Ok(())
}
