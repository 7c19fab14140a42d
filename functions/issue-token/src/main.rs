//! The token issuance function: wiring only; the routes live in
//! `cog_tokens::http_api`, the rules in `cog_tokens::management`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cog_tokens::http_api::serve(cog_tokens::http_api::Function::Issuance).await
}
