//! The provider's HTML pages: sign-in, errors, signed out.

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{Params, TestUser};

/// Escapes text for HTML element content and double-quoted attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;\
padding:0 1rem;line-height:1.5}ul{list-style:none;padding:0}li{margin:.5rem 0}\
button{font:inherit;width:100%;text-align:left;padding:.75rem 1rem;border:1px solid #555;\
border-radius:.4rem;background:#fff;cursor:pointer}button:hover,button:focus{background:#eef}\
button:focus{outline:3px solid #224;outline-offset:2px}.user span{display:block}\
.name{font-weight:bold}.detail{color:#333}button.cancel{width:auto;margin-top:1rem}\
.error{color:#900}";

/// A complete page.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title><style>{STYLE}</style></head>\n<body><main>\n<h1>{title}</h1>\n{body}\n</main></body></html>\n",
        title = escape(title),
    );
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
                ),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        html,
    )
        .into_response()
}

/// The sign-in page: one button per user, the request parameters in hidden inputs.
pub(super) fn sign_in_page(params: &Params, client_id: &str, users: &[TestUser]) -> Response {
    let mut body = String::new();
    let _ = write!(
        body,
        "<p>This is the oidc-layer <strong>test provider</strong>. Choose who to sign in as for \
the application <code>{}</code>; no password is needed.</p>\n\
<form method=\"post\" action=\"/authorize\">\n",
        escape(client_id)
    );
    for (name, value) in params.iter() {
        if name == "user" || name == "cancel" {
            continue;
        }
        let _ = writeln!(
            body,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        );
    }
    body.push_str("<ul aria-label=\"Test users\">\n");
    for user in users {
        let claim = |name: &str| user.claims.get(name).and_then(|v| v.as_str()).unwrap_or("");
        let display_name = match claim("name") {
            "" => user.username.as_str(),
            name => name,
        };
        let groups = match user.claims.get("groups").and_then(|g| g.as_array()) {
            Some(groups) if !groups.is_empty() => groups
                .iter()
                .filter_map(|g| g.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            _ => "none".to_owned(),
        };
        let _ = writeln!(
            body,
            "<li><button type=\"submit\" class=\"user\" id=\"user-{id}\" name=\"user\" value=\"{id}\">\
<span class=\"name\">{name}</span>\
<span class=\"detail\">Username: <span class=\"username\">{id}</span></span>\
<span class=\"detail\">Email: <span class=\"email\">{email}</span></span>\
<span class=\"detail\">Groups: <span class=\"groups\">{groups}</span></span>\
</button></li>",
            id = escape(&user.username),
            name = escape(display_name),
            email = escape(match claim("email") {
                "" => "none",
                email => email,
            }),
            groups = escape(&groups),
        );
    }
    body.push_str(
        "</ul>\n<button type=\"submit\" class=\"cancel\" id=\"cancel\" name=\"cancel\" value=\"1\">\
Cancel</button>\n</form>",
    );
    page(StatusCode::OK, "Sign in to the test provider", &body)
}

/// An error shown to the user instead of redirecting (unknown client, bad redirect URI...).
pub(super) fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<p id=\"error\" class=\"error\" role=\"alert\">{}</p>",
        escape(message)
    );
    page(status, "Sign-in request rejected", &body)
}

/// The end of an RP-initiated logout without a redirect URI.
pub(super) fn signed_out_page() -> Response {
    page(
        StatusCode::OK,
        "Signed out",
        "<p id=\"signed-out\">You are signed out of the test provider.</p>",
    )
}

/// An error of the logout endpoint.
pub(super) fn logout_error_page(message: &str) -> Response {
    let body = format!(
        "<p id=\"error\" class=\"error\" role=\"alert\">{}</p>",
        escape(message)
    );
    page(StatusCode::BAD_REQUEST, "Sign-out request rejected", &body)
}
