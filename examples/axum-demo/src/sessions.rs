//! The demo's "Your sessions" page (`GET /sessions`): the signed-in account's sessions from
//! `OidcLayer::sessions_of_account`, this browser's marked, each other one with a "Sign out"
//! button (`POST /sessions/end`), and "Sign out other sessions" (`POST
//! /sessions/sign-out-others`) and "Sign out everywhere" (`POST
//! /sessions/sign-out-everywhere`). Every POST must come from the app's own pages
//! (`OidcLayer::is_same_origin`, 403 otherwise) and acts only on the signed-in account.

use std::time::{Duration, SystemTime};

use axum::Form;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use oidc_layer::{Identity, OidcLayer, SessionInfo};

use crate::{display_name, page};

/// The form of a "Sign out" button on one session.
#[derive(serde::Deserialize)]
pub struct EndForm {
    handle: String,
}

/// `GET /sessions` (`?signed-out=one|others` after ending sessions: a notice says so).
pub async fn list(
    State(layer): State<OidcLayer>,
    identity: Identity,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let notice = match query.as_deref() {
        Some("signed-out=one") => Some("That session is signed out."),
        Some("signed-out=others") => Some("Your other sessions are signed out."),
        _ => None,
    };
    let listed = match identity.account() {
        Some(account) => layer.sessions_of_account(account, &headers).await,
        None => {
            layer
                .sessions_of_identity(identity.iss(), identity.sub(), &headers)
                .await
        }
    };
    let sessions = match listed {
        Ok(sessions) => sessions,
        Err(e) => return unavailable(&e),
    };
    let others = sessions.iter().filter(|s| !s.current).count();
    let body = html! {
        h1 { "Your sessions" }
        @if let Some(notice) = notice {
            p id="notice" role="status" class="notice" { (notice) }
        }
        p {
            "Signed in as " strong id="name" { (display_name(&identity)) }
            ". These browsers are signed in to your account:"
        }
        ul id="sessions" class="sessions" {
            @for session in &sessions {
                (session_item(session))
            }
        }
        @if identity.account().is_some() {
            div class="actions" {
                form id="sign-out-others" method="post" action="/sessions/sign-out-others" {
                    button type="submit" disabled[others == 0] { "Sign out other sessions" }
                }
                form id="sign-out-everywhere" method="post" action="/sessions/sign-out-everywhere" {
                    button type="submit" class="danger" { "Sign out everywhere" }
                }
            }
        }
        p { a href="/" { "Home" } }
    };
    page("Your sessions", body).into_response()
}

fn session_item(session: &SessionInfo) -> Markup {
    html! {
        li class="session" data-current=(session.current) {
            strong class="device" { (session.device.as_deref().unwrap_or("Unknown browser")) }
            @if session.current {
                " " span class="badge" id="current" { "This browser" }
            }
            br;
            span class="meta" {
                "via " (session.provider_name) " · signed in " (ago(session.created_at))
                @if let Some(seen) = session.last_seen {
                    " · last active " (ago(seen))
                }
            }
            @if !session.current {
                form class="end" id={ "end-" (session.handle) } method="post" action="/sessions/end" {
                    input type="hidden" name="handle" value=(session.handle);
                    button type="submit" { "Sign out" }
                }
            }
        }
    }
}

/// "just now", "5 minutes ago", "3 hours ago", "2 days ago".
fn ago(at: SystemTime) -> String {
    let elapsed = SystemTime::now()
        .duration_since(at)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let (count, unit) = match elapsed {
        0..60 => return "just now".to_owned(),
        60..3600 => (elapsed / 60, "minute"),
        3600..86_400 => (elapsed / 3600, "hour"),
        _ => (elapsed / 86_400, "day"),
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural} ago")
}

/// `POST /sessions/end`: ends one of the signed-in account's other sessions.
pub async fn end(
    State(layer): State<OidcLayer>,
    identity: Identity,
    headers: HeaderMap,
    Form(form): Form<EndForm>,
) -> Response {
    let account = match checked(&layer, &identity, &headers) {
        Ok(account) => account,
        Err(why) => return refused(why),
    };
    match layer.end_session(account, &form.handle).await {
        Ok(true) => Redirect::to("/sessions?signed-out=one").into_response(),
        Ok(false) => (
            StatusCode::NOT_FOUND,
            page(
                "Your sessions",
                html! {
                    h1 { "No such session" }
                    p { "That session is not one of yours, or it has already ended." }
                    p { a href="/sessions" { "Your sessions" } }
                },
            ),
        )
            .into_response(),
        Err(e) => unavailable(&e),
    }
}

/// `POST /sessions/sign-out-others`: every session of the account but this browser's.
pub async fn sign_out_others(
    State(layer): State<OidcLayer>,
    identity: Identity,
    headers: HeaderMap,
) -> Response {
    let account = match checked(&layer, &identity, &headers) {
        Ok(account) => account,
        Err(why) => return refused(why),
    };
    match layer.end_other_sessions(account, &headers).await {
        Ok(_) => Redirect::to("/sessions?signed-out=others").into_response(),
        Err(e) => unavailable(&e),
    }
}

/// `POST /sessions/sign-out-everywhere`: every session of the account, this one too; the
/// browser lands on the signed-out page.
pub async fn sign_out_everywhere(
    State(layer): State<OidcLayer>,
    identity: Identity,
    headers: HeaderMap,
) -> Response {
    let account = match checked(&layer, &identity, &headers) {
        Ok(account) => account,
        Err(why) => return refused(why),
    };
    match layer.end_sessions_of_account(account).await {
        Ok(_) => Redirect::to("/auth/logged-out").into_response(),
        Err(e) => unavailable(&e),
    }
}

/// The signed-in account, when the form was posted from the app's own pages; else why not
/// (the 403 says so).
fn checked<'a>(
    layer: &OidcLayer,
    identity: &'a Identity,
    headers: &HeaderMap,
) -> Result<&'a str, &'static str> {
    if !layer.is_same_origin(headers) {
        return Err("Sessions can only be ended from this app's own pages.");
    }
    identity
        .account()
        .ok_or("This sign-in has no account to manage sessions of.")
}

fn refused(why: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        page(
            "Your sessions",
            html! {
                h1 { "Refused" }
                p { (why) }
                p { a href="/sessions" { "Your sessions" } }
            },
        ),
    )
        .into_response()
}

fn unavailable(e: &oidc_layer::session_store::Error) -> Response {
    tracing::error!(error = %e, "the session store failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Html("sessions are unavailable".to_owned()),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ago_reads_like_a_person_would_say_it() {
        let now = SystemTime::now();
        assert_eq!(ago(now), "just now");
        assert_eq!(ago(now + Duration::from_secs(30)), "just now");
        assert_eq!(ago(now - Duration::from_secs(61)), "1 minute ago");
        assert_eq!(ago(now - Duration::from_secs(5 * 60 + 1)), "5 minutes ago");
        assert_eq!(ago(now - Duration::from_secs(7200 + 1)), "2 hours ago");
        assert_eq!(ago(now - Duration::from_secs(86_400 * 3)), "3 days ago");
    }
}
