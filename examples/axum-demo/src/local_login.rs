//! The demo's break-glass login: a local administrator password that works even when the
//! identity provider is misconfigured. `OidcLayer` keeps `/login/local` reachable (it is the
//! configured `backup_login_path`) and `/auth/login?backup=1` leads here.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use oidc_layer::{LocalUser, OidcLayer};
use subtle::ConstantTimeEq;

use crate::page;

/// The local administrator's password and the layer that signs them in.
#[derive(Clone)]
pub struct LocalLogin {
    pub password: String,
    pub layer: OidcLayer,
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

fn same_origin(headers: &HeaderMap) -> bool {
    match headers.get("sec-fetch-site") {
        Some(site) => site == "same-origin",
        None => headers.get(header::ORIGIN).is_none_or(|o| {
            headers
                .get(header::HOST)
                .is_some_and(|h| o.as_bytes().ends_with(h.as_bytes()))
        }),
    }
}

pub async fn submit(
    State(login): State<LocalLogin>,
    headers: HeaderMap,
    Form(credentials): Form<Credentials>,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site login refused").into_response();
    }
    let ok = credentials.username == "admin"
        && bool::from(
            credentials
                .password
                .as_bytes()
                .ct_eq(login.password.as_bytes()),
        );
    if !ok {
        tracing::warn!("local administrator login failed");
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
    let user = LocalUser {
        username: "admin".into(),
        name: Some("Local administrator".into()),
        roles: vec!["admin".into()],
        ..LocalUser::default()
    };
    match login.layer.sign_in_local(user).await {
        Ok(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to("/admin")).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "local sign-in failed");
            (StatusCode::SERVICE_UNAVAILABLE, "sessions are unavailable").into_response()
        }
    }
}
