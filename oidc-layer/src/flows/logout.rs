//! Logout. `GET {prefix}/logout` shows a confirm button (a link or an image must not be able to
//! log anyone out); `POST {prefix}/logout` from this app's own pages deletes the session, clears
//! the cookie and, when the provider has an end-session endpoint (or a configured template),
//! sends the browser there (OpenID Connect RP-Initiated Logout 1.0) with `id_token_hint`,
//! `logout_hint` (the ID token's `login_hint` claim, when it has one: Entra ID's optional
//! claim), `client_id`, `post_logout_redirect_uri` and a `state` kept in a short-lived cookie. The
//! provider sends the browser back to `{prefix}/logged-out`, where the `state` is checked.
//! Without an end-session endpoint (Authelia) the browser lands on the same page directly: it
//! says "signed out" and never logs the user straight back in.

use std::time::Duration;

use http::{HeaderMap, Response, StatusCode};
use session_store::SessionStore as _;
use subtle::ConstantTimeEq;
use url::Url;

use super::common::{encode, login_url};
use crate::config::{ProviderConfig, fill_end_session_url};
use crate::custom_pages::{LogoutConfirmPage, SignedOutPage};
use crate::metrics;
use crate::pages::frame::Frame;
use crate::pages::{LayerPage, PageBody, PageContent, Problem};
use crate::record::SessionData;
use crate::session::current::{self, Expired};
use crate::state::Shared;
use crate::web::negotiate::wants_html;
use crate::web::origin::is_same_origin;
use crate::web::random::random_token;
use crate::web::{cookies, query, redirect};

/// How long the confirm page waits for a provider's metadata (normally cached: the person
/// logged in through it) to learn where its end-session endpoint is.
const METADATA_WAIT: Duration = Duration::from_secs(1);

/// The origins the logout form's POST may be redirected to: each provider's issuer, its
/// `end_session_url` and its discovered `end_session_endpoint`. Browsers check the redirect
/// after a form submission against the page's CSP `form-action`, so without them the
/// RP-initiated logout would be blocked on this page.
async fn end_session_origins(shared: &Shared) -> Vec<String> {
    let origin = |url: &str| {
        Url::parse(url)
            .ok()
            .map(|u| u.origin())
            .filter(url::Origin::is_tuple)
            .map(|o| o.ascii_serialization())
    };
    let mut origins = Vec::new();
    for provider in &shared.providers {
        let settings = &provider.settings;
        origins.extend(origin(&settings.issuer));
        if let Some(template) = &settings.end_session_url {
            origins.extend(origin(&fill_end_session_url(template, "x", "x", "x")));
        }
        if let Ok(Ok(discovered)) =
            tokio::time::timeout(METADATA_WAIT, provider.client.discovered()).await
            && let Some(endpoint) = &discovered.metadata.end_session_endpoint
        {
            origins.extend(origin(endpoint.as_str()));
        }
    }
    origins.sort();
    origins.dedup();
    origins
}

/// The path browsers use for `{prefix}/logout` (behind the external URL's path prefix).
fn logout_path(shared: &Shared) -> String {
    format!(
        "{}{}/logout",
        shared.config.external.base_path, shared.routes.prefix
    )
}

/// `GET {prefix}/logout`: the confirm page.
pub(crate) async fn confirm_page(shared: &Shared) -> Response<PageBody> {
    let page = LogoutConfirmPage {
        frame: Frame::default(),
        form_action: logout_path(shared),
        cancel_href: format!("{}/", shared.config.external.base_path),
    };
    LayerPage::new(StatusCode::OK, PageContent::LogoutConfirm(page))
        .allow_form_targets(end_session_origins(shared).await)
        .into_response()
}

/// How long the browser may take at the provider's logout page.
const LOGOUT_STATE_TTL: Duration = Duration::from_secs(10 * 60);

/// `GET {prefix}/logged-out`: shown after logout; does not log the user straight back in.
/// When the provider sends the browser back with a `state`, it must be the one this browser
/// left with.
pub(crate) fn logged_out_page(
    shared: &Shared,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response<PageBody> {
    let returned = query::first(query, "state");
    let expected = cookies::find(headers, &shared.cookies.logout_state_name);
    let html = wants_html(headers);
    let mut response = match (returned.as_deref(), expected) {
        (Some(got), Some(want)) if bool::from(got.as_bytes().ct_eq(want.as_bytes())) => {
            done_page(shared)
        }
        (Some(_), _) => {
            tracing::warn!("logout return with a state this browser did not send");
            Problem::new(
                StatusCode::BAD_REQUEST,
                "Unexpected sign-out response",
                "This sign-out confirmation does not belong to this browser. You are signed out of this app.",
            )
            .with_login_url(login_url(shared, "/"))
            .into_response(html)
        }
        (None, _) => done_page(shared),
    };
    if expected.is_some() {
        let removal = shared
            .cookies
            .removal(shared.cookies.logout_state_name.clone());
        cookies::append_set_cookie(response.headers_mut(), &removal);
    }
    response
}

fn done_page(shared: &Shared) -> Response<PageBody> {
    if let Some(path) = &shared.config.post_logout_path {
        return redirect(&format!("{}{path}", shared.config.external.base_path));
    }
    let page = SignedOutPage {
        frame: Frame::default(),
        sign_in_href: login_url(shared, "/"),
        home_href: format!("{}/", shared.config.external.base_path),
    };
    LayerPage::new(StatusCode::OK, PageContent::SignedOut(page)).into_response()
}

/// The provider's logout URL for this session, or `None` when it has none (or is down).
async fn end_session_url(shared: &Shared, data: &SessionData, state: &str) -> Option<String> {
    // Found by slug and issuer: an `id_token_hint` never goes to another issuer.
    let (_, provider) = shared.provider_of(&data.identity)?;
    let id_token = data.id_token.as_ref()?.text();
    let id_token = id_token.as_str();
    let settings: &ProviderConfig = &provider.settings;
    let post_logout = format!(
        "{}{}{}",
        shared.config.external.origin, shared.config.external.base_path, shared.routes.logged_out
    );
    if let Some(template) = &settings.end_session_url {
        return Some(fill_end_session_url(
            template,
            &encode(&settings.client_id),
            &encode(id_token),
            &encode(&post_logout),
        ));
    }
    let discovered = match provider.client.discovered().await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "provider unavailable at logout; signing out of this app only");
            return None;
        }
    };
    // RP-Initiated Logout 1.0 section 2: which user is logging out. Entra ID puts it in the ID
    // token as the optional claim `login_hint`; with it, logout skips the account picker.
    let logout_hint = data
        .id_token
        .as_ref()
        .and_then(|token| token.string_claim("login_hint"));
    let mut url: Url = discovered.metadata.end_session_endpoint.clone()?;
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("id_token_hint", id_token);
        if let Some(hint) = &logout_hint {
            query.append_pair("logout_hint", hint);
        }
        query
            .append_pair("client_id", &settings.client_id)
            .append_pair("post_logout_redirect_uri", &post_logout)
            .append_pair("state", state);
    }
    Some(url.into())
}

/// `POST {prefix}/logout`: ends the session of this browser.
#[tracing::instrument(name = "oidc.logout", level = "info", skip_all)]
pub(crate) async fn logout(shared: &Shared, headers: &HeaderMap) -> Response<PageBody> {
    let html = wants_html(headers);
    if !is_same_origin(headers, &shared.config.external.origin) {
        tracing::warn!("cross-site logout refused");
        return Problem::new(
            StatusCode::FORBIDDEN,
            "Sign-out refused",
            "Sign-out must be started from this app's own pages.",
        )
        .with_link("Sign out", logout_path(shared))
        .into_response(html);
    }
    let mut provider_logout = None;
    if let Some(id) = current::cookie_id(shared, headers) {
        // Past its deadline too: the provider session may outlive it.
        let record = current::load(shared, &id, Expired::Included)
            .await
            .ok()
            .flatten();
        if let Some(record) = &record
            && let Ok(state) = random_token::<24>()
            && let Some(url) = end_session_url(shared, &record.data, &state).await
        {
            provider_logout = Some((url, state));
        }
        if let Err(e) = metrics::store_call(
            &shared.durable.store_health,
            "delete",
            shared.durable.store.delete(&id),
        )
        .await
        {
            tracing::error!(error = %e, "session store failed during logout");
            return Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-out failed",
                "Sessions cannot be changed right now. Please try again.",
            )
            .into_response(html);
        }
        tracing::info!(session = %id, "logged out");
        metrics::logout(if provider_logout.is_some() {
            "provider"
        } else {
            "local"
        });
    }
    let removal = shared.cookies.session_removal();
    let mut response = match provider_logout {
        Some((url, state)) => {
            let mut response = redirect(&url);
            let cookie = shared.cookies.build(
                shared.cookies.logout_state_name.clone(),
                state,
                LOGOUT_STATE_TTL,
            );
            cookies::append_set_cookie(response.headers_mut(), &cookie);
            response
        }
        None => redirect(&format!(
            "{}{}",
            shared.config.external.base_path, shared.routes.logged_out
        )),
    };
    cookies::append_set_cookie(response.headers_mut(), &removal);
    // Signed out on purpose: no silent sign-in brings the user back in this browser session.
    if shared.config.silent_login.is_some() {
        let marker = crate::web::silent::marker(&shared.cookies);
        cookies::append_set_cookie(response.headers_mut(), &marker);
    }
    response
}
