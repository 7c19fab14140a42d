//! The token issuance function: create, list, read and rotate.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    management::config::serve(management::Function::Issuance).await
}
