//! `local-gateway`: plays API Gateway (the HTTP API of `template.yaml`) on
//! loopback, in front of the functions `cargo lambda watch` serves.
//! Dev only: it hands out dev sessions to anyone who asks (see `sessions`).

mod authorizer;
mod dev;
mod events;
mod lambda;
mod responses;
mod server;
mod sessions;
mod template;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::lambda::LambdaClient;
use crate::server::Gateway;
use crate::template::RouteAuth;

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
    let gateway = Arc::new(gateway(&args)?);
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    log_routes(&gateway);
    tracing::info!(
        lambda_url = %args.lambda_url,
        authorizer_ttl_seconds = gateway.authorizer_ttl().as_secs(),
        "listening on http://{}",
        listener.local_addr()?
    );
    serve(listener, gateway).await?;
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

/// Serves HTTP/1.1 connections until SIGINT or SIGTERM.
async fn serve(listener: TcpListener, gateway: Arc<Gateway>) -> Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
        };
        let gateway = Arc::clone(&gateway);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let gateway = Arc::clone(&gateway);
                async move { Ok::<_, std::convert::Infallible>(gateway.handle(request, peer).await) }
            });
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "connection ended");
            }
        });
    }
}
