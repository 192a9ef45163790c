//! The provider's HTML pages: sign-in, errors, signed out.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::{Params, TestUser};

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;\
padding:0 1rem;line-height:1.5}ul{list-style:none;padding:0}li{margin:.5rem 0}\
button{font:inherit;width:100%;text-align:left;padding:.75rem 1rem;border:1px solid #555;\
border-radius:.4rem;background:#fff;cursor:pointer}button:hover,button:focus{background:#eef}\
button:focus{outline:3px solid #224;outline-offset:2px}.user span{display:block}\
.name{font-weight:bold}.detail{color:#333}button.cancel{width:auto;margin-top:1rem}\
.error{color:#900}";

/// A complete page.
fn page(status: StatusCode, title: &str, body: Markup) -> Response {
    let html = html! {
        (DOCTYPE) "\n"
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            "\n"
            body { main { "\n" h1 { (title) } "\n" (body) "\n" } }
        }
        "\n"
    }
    .into_string();
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
    let body = html! {
        p {
            "This is the oidc-layer " strong { "test provider" } ". Choose who to sign in as for \
    the application " code { (client_id) } "; no password is needed."
        }
        "\n"
        form method="post" action="/authorize" {
            "\n"
            @for (name, value) in params.iter().filter(|(n, _)| *n != "user" && *n != "cancel") {
                input type="hidden" name=(name) value=(value);
                "\n"
            }
            ul aria-label="Test users" {
                "\n"
                @for user in users {
                    (user_button(user))
                    "\n"
                }
            }
            "\n"
            button type="submit" class="cancel" id="cancel" name="cancel" value="1" { "Cancel" }
            "\n"
        }
    };
    page(StatusCode::OK, "Sign in to the test provider", body)
}

/// One user of the sign-in page: a submit button with the user's name, email and groups.
fn user_button(user: &TestUser) -> Markup {
    let claim = |name: &str| user.claims.get(name).and_then(|v| v.as_str()).unwrap_or("");
    let display_name = match claim("name") {
        "" => user.username.as_str(),
        name => name,
    };
    let email = match claim("email") {
        "" => "none",
        email => email,
    };
    let groups = match user.claims.get("groups").and_then(|g| g.as_array()) {
        Some(groups) if !groups.is_empty() => groups
            .iter()
            .filter_map(|g| g.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        _ => "none".to_owned(),
    };
    let id = &user.username;
    html! {
        li {
            button type="submit" class="user" id={ "user-" (id) } name="user" value=(id) {
                span class="name" { (display_name) }
                span class="detail" { "Username: " span class="username" { (id) } }
                span class="detail" { "Email: " span class="email" { (email) } }
                span class="detail" { "Groups: " span class="groups" { (groups) } }
            }
        }
    }
}

/// An alert with `message`, for the error pages.
fn alert(message: &str) -> Markup {
    html! { p id="error" class="error" role="alert" { (message) } }
}

/// An error shown to the user instead of redirecting (unknown client, bad redirect URI...).
pub(super) fn error_page(status: StatusCode, message: &str) -> Response {
    page(status, "Sign-in request rejected", alert(message))
}

/// The end of an RP-initiated logout without a redirect URI.
pub(super) fn signed_out_page() -> Response {
    page(
        StatusCode::OK,
        "Signed out",
        html! { p id="signed-out" { "You are signed out of the test provider." } },
    )
}

/// An error of the logout endpoint.
pub(super) fn logout_error_page(message: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Sign-out request rejected",
        alert(message),
    )
}
