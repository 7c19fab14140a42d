//! `settings-page`: serves the account settings page (`GET /settings` and
//! its assets) with the same security headers in AWS and locally.

use cog_tokens::metrics;
use cog_tokens::records::Timestamp;
use lambda_http::{service_fn, Request};
use settings_page::{route_key, Page, PageConfig, FUNCTION_NAME};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cog_tokens::logging::init();
    // Built once per cold start: the page with its configuration, compressed.
    let page = Page::new(&PageConfig::from_env());
    lambda_http::run(service_fn(|request: Request| {
        let page = &page;
        async move {
            let response = page.respond(&request);
            let status = response.status().as_u16();
            metrics::emit(FUNCTION_NAME, Timestamp::now().0, |aggregate| {
                metrics::count_request(aggregate, route_key(request.uri().path()), status)
            });
            Ok::<_, std::convert::Infallible>(response)
        }
    }))
    .await
}
