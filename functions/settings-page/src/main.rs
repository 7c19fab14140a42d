//! `settings-page`: serves the account settings page (`GET /settings` and
//! its assets) with the same security headers in AWS and locally.

use lambda_http::{service_fn, Request};
use settings_page::{Page, PageConfig};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cog_tokens::logging::init();
    // Built once per cold start: the page with its configuration, compressed.
    let page = Page::new(&PageConfig::from_env());
    lambda_http::run(service_fn(|request: Request| {
        let page = &page;
        async move { Ok::<_, std::convert::Infallible>(page.respond(&request)) }
    }))
    .await
}
