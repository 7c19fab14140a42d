//! The token revocation function: wiring only; the routes live in
//! `cog_tokens::http_api`, the rules in `cog_tokens::management`.

use cog_tokens::aws::token_manager_from_env;
use cog_tokens::http_api::{handle_request, Function};
use cog_tokens::records::Timestamp;
use lambda_http::{service_fn, Request};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let manager = token_manager_from_env().await?;
    lambda_http::run(service_fn(|request: Request| {
        let manager = &manager;
        async move {
            let response =
                handle_request(manager, Function::Revocation, request, Timestamp::now()).await;
            Ok::<_, std::convert::Infallible>(response)
        }
    }))
    .await
}
