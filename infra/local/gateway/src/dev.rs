//! The dev-only endpoints under `/_dev/`: sessions for curl, and a sign-in
//! form for the settings page. DEV ONLY: see `sessions`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use crate::events::RequestView;
use crate::responses::{empty, json_response, message, problem, set_header};
use crate::sessions::{self, Sessions};

/// Where the settings page lives; a form sign-in goes there.
const SETTINGS_PATH: &str = "/settings";
/// The sign-in form; `{error}` is replaced by a message or nothing.
const SIGN_IN_FORM: &str = include_str!("sign_in.html");
/// The form has no script and no style: nothing but the form may load.
const SIGN_IN_CSP: &str =
    "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Answers a request under `/_dev/`:
/// - `POST /_dev/session {"sub": "u_demo"}` starts a session (cookie, JSON answer);
/// - `DELETE /_dev/session` ends it;
/// - `GET /_dev/sign-in` is a form that `POST`s `sub` to the same path,
///   which starts a session and sends the browser to the settings page.
///
/// Neither `POST` may come from another site (login CSRF): see [`provenance`].
pub fn endpoint(sessions: &Sessions, view: &RequestView) -> Response<Full<Bytes>> {
    match (view.method.as_str(), view.path.as_str()) {
        ("POST", "/_dev/session") => start_for_curl(sessions, view),
        ("DELETE", "/_dev/session") => {
            sessions.end(view.cookie_header().as_deref());
            let mut response = empty(StatusCode::NO_CONTENT);
            set_header(&mut response, "set-cookie", &sessions::clear_cookie());
            response
        }
        ("GET", "/_dev/sign-in") => sign_in_page(StatusCode::OK, ""),
        ("POST", "/_dev/sign-in") if provenance(view) == Provenance::SameOrigin => {
            start_for_browser(sessions, view)
        }
        ("POST", "/_dev/sign-in") => sign_in_page(
            StatusCode::FORBIDDEN,
            "This sign-in was not sent from this gateway's own form: sign in here instead.",
        ),
        _ => message(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// Where a browser says a request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provenance {
    /// `Origin` is this gateway's, or `Sec-Fetch-Site: same-origin`.
    SameOrigin,
    /// Either header names anywhere else (`null`, another port, `same-site`).
    Elsewhere,
    /// Neither header: not a current browser (curl, the tests).
    Unstated,
}

/// A browser sends `Origin` on every cross-origin `POST` and, today,
/// `Sec-Fetch-Site`; when either is present, both must say this origin. The
/// `Host` is a loopback name (the server refuses others), so `http://{host}`
/// is the gateway's own origin.
fn provenance(view: &RequestView) -> Provenance {
    let site = view.header("sec-fetch-site");
    if site.is_some_and(|site| !site.eq_ignore_ascii_case("same-origin")) {
        return Provenance::Elsewhere;
    }
    let own = view.header("host").map(|host| format!("http://{host}"));
    match view.header("origin") {
        Some(origin) if own.is_some_and(|own| own.eq_ignore_ascii_case(origin)) => {
            Provenance::SameOrigin
        }
        Some(_) => Provenance::Elsewhere,
        None if site.is_some() => Provenance::SameOrigin,
        None => Provenance::Unstated,
    }
}

/// A cross-site form can spell the JSON object only as `text/plain` (the
/// urlencoded and multipart encodings cannot), so the route takes JSON, no
/// type, or `curl -d`'s default (urlencoded) and nothing else.
fn readable_as_json(view: &RequestView) -> bool {
    let Some(value) = view.header("content-type") else {
        return true;
    };
    let media_type = value.split(';').next().unwrap_or_default().trim();
    ["application/json", "application/x-www-form-urlencoded"]
        .iter()
        .any(|allowed| media_type.eq_ignore_ascii_case(allowed))
}

/// `{"sub": ...}` in, the session's claims out, with its cookie. Refused
/// from another site's page, and in a body type a form can fake it in.
fn start_for_curl(sessions: &Sessions, view: &RequestView) -> Response<Full<Bytes>> {
    if provenance(view) == Provenance::Elsewhere {
        return problem(
            StatusCode::FORBIDDEN,
            "cross_site_request",
            "dev sessions start only from this gateway's own pages or from curl",
        );
    }
    if !readable_as_json(view) {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send {\"sub\": \"<user id>\"} as application/json",
        );
    }
    let sub = serde_json::from_slice::<Value>(&view.body)
        .ok()
        .and_then(|body| body["sub"].as_str().map(str::to_owned));
    let Some(sub) = sub else {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "send {\"sub\": \"<user id>\"}",
        );
    };
    match sessions.start(&sub, view.time) {
        Ok((value, session)) => {
            let body = json!({
                "sub": session.sub,
                "expires_at": session.expires_at.unix_timestamp(),
                "claims": session.claims(),
            });
            let mut response = json_response(StatusCode::CREATED, &body);
            let cookie = sessions::set_cookie(&value, sessions.lifetime());
            set_header(&mut response, "set-cookie", &cookie);
            response
        }
        Err(error) => problem(StatusCode::BAD_REQUEST, "invalid_sub", &error.to_string()),
    }
}

/// The form's `sub` in; off to the settings page with the cookie, or the
/// form again with the reason.
fn start_for_browser(sessions: &Sessions, view: &RequestView) -> Response<Full<Bytes>> {
    let sub = form_urlencoded::parse(&view.body)
        .find(|(name, _)| name == "sub")
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_default();
    match sessions.start(&sub, view.time) {
        Ok((value, _)) => {
            let mut response = empty(StatusCode::SEE_OTHER);
            set_header(&mut response, "location", SETTINGS_PATH);
            let cookie = sessions::set_cookie(&value, sessions.lifetime());
            set_header(&mut response, "set-cookie", &cookie);
            response
        }
        Err(error) => sign_in_page(StatusCode::BAD_REQUEST, &error.to_string()),
    }
}

fn sign_in_page(status: StatusCode, error: &str) -> Response<Full<Bytes>> {
    let error = if error.is_empty() {
        String::new()
    } else {
        // The message is the gateway's own text, never the input.
        format!("<p id=\"sign-in-error\" role=\"alert\">{error}</p>")
    };
    let mut response = Response::new(Full::new(Bytes::from(
        SIGN_IN_FORM.replace("{error}", &error),
    )));
    *response.status_mut() = status;
    set_header(&mut response, "content-type", "text/html; charset=utf-8");
    set_header(&mut response, "content-security-policy", SIGN_IN_CSP);
    set_header(&mut response, "x-frame-options", "DENY");
    set_header(&mut response, "cache-control", "no-store");
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use time::OffsetDateTime;

    fn request(method: &str, path: &str, body: &str) -> RequestView {
        RequestView {
            method: method.into(),
            path: path.into(),
            raw_query: String::new(),
            headers: Default::default(),
            cookies: Vec::new(),
            body: Bytes::from(body.to_owned()),
            source_ip: "127.0.0.1".into(),
            request_id: "local-1".into(),
            time: OffsetDateTime::now_utc(),
        }
    }

    fn header<'a>(response: &'a Response<Full<Bytes>>, name: &str) -> &'a str {
        response.headers()[name].to_str().unwrap()
    }

    /// `request` as sent to `127.0.0.1:8080`, with `headers` added.
    fn sent(method: &str, path: &str, body: &str, headers: &[(&str, &str)]) -> RequestView {
        let mut view = request(method, path, body);
        view.headers.insert("host".into(), "127.0.0.1:8080".into());
        for (name, value) in headers {
            view.headers.insert((*name).into(), (*value).into());
        }
        view
    }

    const OWN_FORM: [(&str, &str); 2] = [
        ("origin", "http://127.0.0.1:8080"),
        ("content-type", "application/x-www-form-urlencoded"),
    ];

    #[test]
    fn the_form_signs_in_and_sends_the_browser_to_the_settings_page() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let form = endpoint(&sessions, &request("GET", "/_dev/sign-in", ""));
        assert_eq!(form.status(), StatusCode::OK);
        assert!(header(&form, "content-security-policy").contains("default-src 'none'"));

        let view = sent(
            "POST",
            "/_dev/sign-in",
            "sub=u_demo%40example.com",
            &OWN_FORM,
        );
        let answer = endpoint(&sessions, &view);
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        assert_eq!(header(&answer, "location"), "/settings");
        let cookie = header(&answer, "set-cookie").split(';').next().unwrap();
        let session = sessions.find(Some(cookie), view.time).unwrap();
        assert_eq!(session.sub, "u_demo@example.com");
    }

    #[test]
    fn the_control_planes_dev_controls_are_not_served_on_the_api_listener() {
        let sessions = Sessions::new(Duration::from_secs(60));
        for (method, path) in [
            ("GET", "/_dev/authorizer-cache"),
            ("POST", "/_dev/authorizer-cache/reset-stats"),
            ("POST", "/_dev/control-plane/fail-next"),
        ] {
            let answer = endpoint(&sessions, &sent(method, path, "", &[]));
            assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }

    #[test]
    fn a_bad_user_id_shows_the_form_again_with_the_reason() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let view = sent("POST", "/_dev/sign-in", "sub=a+b", &OWN_FORM);
        let answer = endpoint(&sessions, &view);
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
        assert!(answer.headers().get("set-cookie").is_none());
    }

    fn body_of(response: Response<Full<Bytes>>) -> String {
        use http_body_util::BodyExt;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let body = runtime.block_on(response.into_body().collect()).unwrap();
        String::from_utf8(body.to_bytes().to_vec()).unwrap()
    }

    #[test]
    fn the_sign_in_form_starts_a_session_only_when_posted_from_the_gateways_own_page() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let form = "sub=u_victim";
        let refused: [&[(&str, &str)]; 6] = [
            &[("origin", "https://evil.example")],
            &[("origin", "http://localhost:8080")],
            &[("origin", "null")],
            &[("sec-fetch-site", "cross-site")],
            &[
                ("sec-fetch-site", "same-site"),
                ("origin", "http://127.0.0.1:8080"),
            ],
            &[],
        ];
        for headers in refused {
            let answer = endpoint(&sessions, &sent("POST", "/_dev/sign-in", form, headers));
            assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{headers:?}");
            assert!(answer.headers().get("set-cookie").is_none(), "{headers:?}");
            assert!(body_of(answer).contains("sign-in-error"), "{headers:?}");
        }
        let allowed: [&[(&str, &str)]; 3] = [
            &[("origin", "http://127.0.0.1:8080")],
            &[("sec-fetch-site", "same-origin")],
            &[
                ("sec-fetch-site", "same-origin"),
                ("origin", "http://127.0.0.1:8080"),
            ],
        ];
        for headers in allowed {
            let answer = endpoint(&sessions, &sent("POST", "/_dev/sign-in", form, headers));
            assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{headers:?}");
        }
    }

    #[test]
    fn the_curl_session_route_refuses_browsers_from_elsewhere_and_json_smuggled_as_text() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let body = r#"{"sub": "u_victim"}"#;
        let refused: [(&[(&str, &str)], StatusCode); 5] = [
            (&[("origin", "https://evil.example")], StatusCode::FORBIDDEN),
            (&[("sec-fetch-site", "cross-site")], StatusCode::FORBIDDEN),
            (
                &[
                    ("sec-fetch-site", "same-site"),
                    ("content-type", "application/json"),
                ],
                StatusCode::FORBIDDEN,
            ),
            // A form's `enctype="text/plain"` can spell this JSON body.
            (
                &[("content-type", "text/plain")],
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (
                &[("content-type", "multipart/form-data; boundary=x")],
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
        ];
        for (headers, status) in refused {
            let answer = endpoint(&sessions, &sent("POST", "/_dev/session", body, headers));
            assert_eq!(answer.status(), status, "{headers:?}");
            assert!(answer.headers().get("set-cookie").is_none(), "{headers:?}");
        }
        let allowed: [&[(&str, &str)]; 4] = [
            &[],
            // `curl -d` sends this type; its encoding cannot spell a JSON object.
            &[("content-type", "application/x-www-form-urlencoded")],
            &[("content-type", "Application/JSON; charset=utf-8")],
            &[
                ("origin", "http://127.0.0.1:8080"),
                ("content-type", "application/json"),
            ],
        ];
        for headers in allowed {
            let answer = endpoint(&sessions, &sent("POST", "/_dev/session", body, headers));
            assert_eq!(answer.status(), StatusCode::CREATED, "{headers:?}");
        }
    }
}
