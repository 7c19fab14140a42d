//! The token revocation function: revoke one or all. It holds no pepper
//! ring, so revoking works while KMS is down.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    management::config::serve(management::Function::Revocation).await
}
