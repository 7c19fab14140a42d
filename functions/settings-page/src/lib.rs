//! The settings page's assets and the answers that carry them.
//!
//! The page is plain HTML, CSS and ES modules, embedded at compile time (no
//! build step): `assets/`. Every answer carries a strict Content-Security-
//! Policy (no inline script or style, nothing from another origin, no
//! framing). Assets are gzip-compressed once per cold start and served
//! compressed to clients that accept it, with an ETag for revalidation.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};

/// Where the page lives on the API's origin.
pub const PAGE_PATH: &str = "/settings";

/// The `Function` dimension of this function's metrics.
pub const FUNCTION_NAME: &str = "settings-page";

/// The route key of a request, from the routes this function serves (the
/// page and `/settings/{asset}`), never the request's path.
pub fn route_key(path: &str) -> &'static str {
    match path.strip_prefix(PAGE_PATH) {
        Some("") => "GET /settings",
        Some(rest) if rest.starts_with('/') => "GET /settings/{asset}",
        _ => cog_tokens::metrics::UNMATCHED_ROUTE,
    }
}

/// Sent with every answer, the page and each asset alike.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'none'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// (file name, content type, contents). `index.html` is the page itself.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../assets/index.html"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../assets/style.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/app.js"),
    ),
    (
        "session.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/session.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/api.js"),
    ),
    (
        "ui.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/ui.js"),
    ),
    (
        "tokens.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/tokens.js"),
    ),
    (
        "orgs.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/orgs.js"),
    ),
];

/// How the page reaches the platform's sign-in (see docs/settings-page.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageConfig {
    /// Where a signed-out visitor is sent: the web app's sign-in.
    pub sign_in_url: String,
    /// Same-origin URL of the web app that returns `{"access_token": ...}`
    /// for its session; empty: the session travels as a cookie instead.
    pub session_token_url: String,
}

impl PageConfig {
    /// `SIGN_IN_URL` (default `/`), `SESSION_TOKEN_URL` (default none).
    pub fn from_env() -> Self {
        Self {
            sign_in_url: std::env::var("SIGN_IN_URL").unwrap_or_else(|_| "/".into()),
            session_token_url: std::env::var("SESSION_TOKEN_URL").unwrap_or_default(),
        }
    }
}

/// One asset, ready to serve.
#[derive(Debug)]
struct Asset {
    name: &'static str,
    content_type: &'static str,
    plain: Vec<u8>,
    gzip: Vec<u8>,
    etag: String,
}

impl Asset {
    fn new(name: &'static str, content_type: &'static str, plain: Vec<u8>) -> Self {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        // Writing to a Vec cannot fail.
        let gzip = encoder
            .write_all(&plain)
            .and_then(|()| encoder.finish())
            .unwrap_or_default();
        let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&plain))[..16]);
        Self {
            name,
            content_type,
            plain,
            gzip,
            etag,
        }
    }
}

/// The page and its assets.
#[derive(Debug)]
pub struct Page {
    assets: Vec<Asset>,
}

impl Page {
    pub fn new(config: &PageConfig) -> Self {
        let assets = ASSETS
            .iter()
            .map(|&(name, content_type, text)| {
                let text = if name == "index.html" {
                    text.replace("{sign_in_url}", &attribute(&config.sign_in_url))
                        .replace("{session_token_url}", &attribute(&config.session_token_url))
                } else {
                    text.to_owned()
                };
                Asset::new(name, content_type, text.into_bytes())
            })
            .collect();
        Self { assets }
    }

    /// Every asset's name and its compressed size: what a first visit transfers.
    pub fn compressed_sizes(&self) -> Vec<(&'static str, usize)> {
        self.assets.iter().map(|a| (a.name, a.gzip.len())).collect()
    }

    /// The answer to one request: the page at `/settings`, an asset at
    /// `/settings/<name>`, else 404; `GET` and `HEAD` only.
    pub fn respond(&self, request: &Request) -> Response<Body> {
        let name = match request.uri().path() {
            PAGE_PATH => Some("index.html"),
            path => path
                .strip_prefix(PAGE_PATH)
                .and_then(|rest| rest.strip_prefix('/'))
                .filter(|name| *name != "index.html"),
        };
        let asset = name.and_then(|name| self.assets.iter().find(|a| a.name == name));
        let Some(asset) = asset else {
            return plain(StatusCode::NOT_FOUND, "not found");
        };
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        }
        let headers = request.headers();
        let fresh = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == asset.etag));
        let gzip = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(accepts_gzip);
        let mut builder = secure(Response::builder())
            .header(header::CONTENT_TYPE, asset.content_type)
            .header(header::ETAG, &asset.etag)
            // Always revalidated: a deploy is seen at once, unchanged assets cost a 304.
            .header(header::CACHE_CONTROL, "no-cache")
            .header(header::VARY, "Accept-Encoding");
        let body = if fresh {
            builder = builder.status(StatusCode::NOT_MODIFIED);
            Body::Empty
        } else if gzip {
            builder = builder.header(header::CONTENT_ENCODING, "gzip");
            Body::Binary(asset.gzip.clone())
        } else {
            Body::Binary(asset.plain.clone())
        };
        let body = if request.method() == Method::HEAD {
            Body::Empty
        } else {
            body
        };
        builder.body(body).unwrap_or_default()
    }
}

/// The headers every answer carries.
fn secure(builder: lambda_http::http::response::Builder) -> lambda_http::http::response::Builder {
    builder
        .header(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY)
        .header(header::X_FRAME_OPTIONS, "DENY")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header("cross-origin-opener-policy", "same-origin")
        .header(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        )
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    secure(Response::builder())
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Text(text.to_owned()))
        .unwrap_or_default()
}

/// `Accept-Encoding` names gzip (or `*`) with a weight above zero.
fn accepts_gzip(header: &str) -> bool {
    header.split(',').any(|part| {
        let mut pieces = part.split(';').map(str::trim);
        let coding = pieces.next().unwrap_or_default();
        let weight = pieces
            .find_map(|p| p.strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && weight > 0.0
    })
}

/// Text safe inside a double-quoted HTML attribute.
fn attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn route_keys_come_from_the_two_routes_not_the_path() {
        assert_eq!(route_key("/settings"), "GET /settings");
        assert_eq!(route_key("/settings/app.js"), "GET /settings/{asset}");
        assert_eq!(
            route_key("/settings/anything-a-caller-types"),
            "GET /settings/{asset}"
        );
        assert_eq!(route_key("/settingsX"), "unmatched");
        assert_eq!(route_key("/v1/tokens"), "unmatched");
    }

    fn get(page: &Page, path: &str, headers: &[(&str, &str)]) -> Response<Body> {
        let mut request = lambda_http::http::Request::builder()
            .method("GET")
            .uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        page.respond(&request.body(Body::Empty).unwrap())
    }

    fn page() -> Page {
        Page::new(&PageConfig {
            sign_in_url: "/login?next=\"x\"".into(),
            session_token_url: String::new(),
        })
    }

    fn bytes(response: &Response<Body>) -> &[u8] {
        response.body().as_ref()
    }

    #[test]
    fn every_answer_carries_the_security_headers() {
        let page = page();
        for path in [
            "/settings",
            "/settings/app.js",
            "/settings/style.css",
            "/settings/nope",
            "/other",
        ] {
            let response = get(&page, path, &[]);
            let headers = response.headers();
            assert_eq!(
                headers["content-security-policy"], CONTENT_SECURITY_POLICY,
                "{path}"
            );
            assert_eq!(headers["x-frame-options"], "DENY");
            assert_eq!(headers["x-content-type-options"], "nosniff");
        }
        assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
    }

    #[test]
    fn the_page_and_each_asset_are_served_and_nothing_else() {
        let page = page();
        let html = get(&page, "/settings", &[]);
        assert_eq!(html.status(), StatusCode::OK);
        assert_eq!(html.headers()["content-type"], "text/html; charset=utf-8");
        for (name, content_type, _) in ASSETS.iter().skip(1) {
            let response = get(&page, &format!("/settings/{name}"), &[]);
            assert_eq!(response.status(), StatusCode::OK, "{name}");
            assert_eq!(response.headers()["content-type"], *content_type);
        }
        for path in [
            "/settings/index.html",
            "/settings/",
            "/settings/../Cargo.toml",
            "/settingsx",
        ] {
            assert_eq!(
                get(&page, path, &[]).status(),
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
    }

    #[test]
    fn the_page_has_no_inline_script_or_style_and_no_other_origin() {
        let page = page();
        let html = String::from_utf8(bytes(&get(&page, "/settings", &[])).to_vec()).unwrap();
        for script in html.split("<script").skip(1) {
            let tag = &script[..script.find('>').unwrap()];
            assert!(tag.contains("src=\"/settings/"), "inline script: {tag}");
            assert!(script[script.find('>').unwrap() + 1..].starts_with("</script>"));
        }
        assert!(!html.contains("<style") && !html.contains(" style="));
        // No event-handler attributes (`onclick=` and friends) either.
        assert!(!html
            .split_whitespace()
            .any(|word| word.starts_with("on") && word.contains('=')));
        for (name, _, text) in ASSETS {
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "{name} names another origin"
            );
            assert!(
                !text.contains("innerHTML") && !text.contains("eval("),
                "{name}"
            );
            assert!(
                !text.contains("localStorage") && !text.contains("sessionStorage"),
                "{name}"
            );
        }
        // Configuration is escaped into its attribute.
        assert!(html.contains("content=\"/login?next=&quot;x&quot;\""));
    }

    #[test]
    fn compressed_when_accepted_and_revalidated_by_etag() {
        let page = page();
        let plain = get(&page, "/settings/app.js", &[]);
        let gzip = get(
            &page,
            "/settings/app.js",
            &[("accept-encoding", "br, gzip;q=0.8")],
        );
        assert_eq!(gzip.headers()["content-encoding"], "gzip");
        assert!(plain.headers().get("content-encoding").is_none());
        let mut decoded = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(bytes(&gzip)),
            &mut decoded,
        )
        .unwrap();
        assert_eq!(decoded, bytes(&plain));
        let refused = get(
            &page,
            "/settings/app.js",
            &[("accept-encoding", "gzip;q=0")],
        );
        assert!(refused.headers().get("content-encoding").is_none());

        let etag = plain.headers()["etag"].to_str().unwrap().to_owned();
        let again = get(&page, "/settings/app.js", &[("if-none-match", &etag)]);
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(bytes(&again).is_empty());
    }

    #[test]
    #[allow(clippy::print_stderr)] // the figure docs/settings-page.md quotes
    fn a_first_visit_transfers_under_60_kb_compressed() {
        let sizes = page().compressed_sizes();
        let total: usize = sizes.iter().map(|(_, size)| size).sum();
        eprintln!("settings page assets, gzip: {total} bytes {sizes:?}");
        assert!(total < 60 * 1024, "{total} bytes");
    }
}
