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
        ("POST", "/_dev/sign-in") => start_for_browser(sessions, view),
        _ => message(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// `{"sub": ...}` in, the session's claims out, with its cookie.
fn start_for_curl(sessions: &Sessions, view: &RequestView) -> Response<Full<Bytes>> {
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

    #[test]
    fn the_form_signs_in_and_sends_the_browser_to_the_settings_page() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let form = endpoint(&sessions, &request("GET", "/_dev/sign-in", ""));
        assert_eq!(form.status(), StatusCode::OK);
        assert!(header(&form, "content-security-policy").contains("default-src 'none'"));

        let view = request("POST", "/_dev/sign-in", "sub=u_demo%40example.com");
        let answer = endpoint(&sessions, &view);
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        assert_eq!(header(&answer, "location"), "/settings");
        let cookie = header(&answer, "set-cookie").split(';').next().unwrap();
        let session = sessions.find(Some(cookie), view.time).unwrap();
        assert_eq!(session.sub, "u_demo@example.com");
    }

    #[test]
    fn a_bad_user_id_shows_the_form_again_with_the_reason() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let view = request("POST", "/_dev/sign-in", "sub=a+b");
        let answer = endpoint(&sessions, &view);
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
        assert!(answer.headers().get("set-cookie").is_none());
    }
}
