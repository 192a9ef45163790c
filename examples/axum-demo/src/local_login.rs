//! The demo's break-glass login: a local administrator password that works even when the
//! identity provider is misconfigured. `OidcLayer` keeps `/login/local` reachable (it is the
//! configured `backup_login_path`) and `/auth/login?backup=1` leads here.
//!
//! A password that works while the provider is down is a target: the form post must come from
//! the app's own pages (`OidcLayer::is_same_origin`), guesses are throttled per client address
//! and overall (`BreakGlassGuard`), and the comparison takes constant time.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::html;
use oidc_layer::{BreakGlassError, BreakGlassGuard, LocalUser, OidcLayer, password_matches};

use crate::page;

/// The local administrator's password, the guard that throttles guesses, and the layer that
/// signs the administrator in.
#[derive(Clone)]
pub struct LocalLogin {
    pub password: String,
    pub layer: OidcLayer,
    pub guard: Arc<BreakGlassGuard>,
}

#[derive(serde::Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
}

pub async fn form() -> Html<String> {
    page(
        "Administrator sign-in",
        html! {
            h1 { "Administrator sign-in" }
            p { "The backup login for when the identity provider is unavailable or misconfigured." }
            form id="local-login" method="post" action="/login/local" {
                p { label { "Username " input name="username" autocomplete="username" required; } }
                p {
                    label {
                        "Password "
                        input name="password" type="password" autocomplete="current-password" required;
                    }
                }
                button type="submit" { "Sign in" }
            }
        },
    )
}

pub async fn submit(
    State(login): State<LocalLogin>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(credentials): Form<Credentials>,
) -> Response {
    if !login.layer.is_same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site login refused").into_response();
    }
    // The peer address (the demo is served without a reverse proxy). Without connection info
    // every client shares one address, and the overall limit still applies.
    let client = peer.map_or(
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        |Extension(ConnectInfo(addr))| addr.ip(),
    );
    let expected = login.password.as_str();
    let checked = login
        .guard
        .check(client, async {
            // Both compared every time, so the answer takes as long for a wrong username.
            let username = password_matches(&credentials.username, "admin");
            let password = password_matches(&credentials.password, expected);
            username & password
        })
        .await;
    match checked {
        Ok(()) => {}
        Err(BreakGlassError::Throttled { retry_after }) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(
                    header::RETRY_AFTER,
                    retry_after.as_secs().max(1).to_string(),
                )],
                page(
                    "Administrator sign-in",
                    html! {
                        h1 { "Too many failed sign-ins" }
                        p { "Please wait a while and try again." }
                    },
                ),
            )
                .into_response();
        }
        Err(_) => {
            return (
                StatusCode::UNAUTHORIZED,
                page(
                    "Administrator sign-in",
                    html! {
                        h1 { "Wrong username or password" }
                        p { a href="/login/local" { "Try again" } }
                    },
                ),
            )
                .into_response();
        }
    }
    let user = LocalUser {
        username: "admin".into(),
        name: Some("Local administrator".into()),
        roles: vec!["admin".into()],
        ..LocalUser::default()
    };
    match login.layer.sign_in_local(&headers, user).await {
        Ok(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to("/admin")).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "local sign-in failed");
            (StatusCode::SERVICE_UNAVAILABLE, "sessions are unavailable").into_response()
        }
    }
}
