//! The end of a successful callback: the session of the admitted identity, under a fresh id,
//! replacing this browser's previous one.

use std::time::SystemTime;

use http::{HeaderMap, Response, StatusCode};
use session_store::SessionStore as _;

use super::Failure;
use super::verify::Verified;
use crate::admission;
use crate::after_login::LoginAdditions;
use crate::identity::Identity;
use crate::metrics::{self, LoginFailure};
use crate::pages::after_login;
use crate::pages::{PageBody, Problem};
use crate::provider::VerifiedTokens;
use crate::record::{self, AccessToken, SessionData, StoredToken};
use crate::session::create::{create, session_cookie};
use crate::session::current::cookie_id;
use crate::state::{ProviderRuntime, Shared};
use crate::web::cookies;

/// Signs `identity` in: stores its session, ends the browser's previous one, and sends the
/// browser to where the login started with the session cookie.
pub(super) async fn sign_in(
    shared: &Shared,
    provider: &ProviderRuntime,
    headers: &HeaderMap,
    verified: &Verified,
    identity: Identity,
    tokens: VerifiedTokens,
    additions: LoginAdditions,
) -> Result<Response<PageBody>, Failure> {
    let identity = admission::with_extra_roles(provider, identity, &additions.roles);
    let now = SystemTime::now();
    let sid = match identity.claim("sid") {
        Some(serde_json::Value::String(sid)) => Some(sid),
        _ => None,
    };
    tracing::info!(provider = %provider.settings.slug, sub = identity.sub(), roles = ?identity.roles(), "login succeeded");
    let tags = record::tags(identity.iss(), identity.sub(), sid.as_deref());
    let mut data = SessionData {
        identity,
        id_token: Some(StoredToken::new(tokens.id_token)),
        // Kept only for apps that asked for it: a refresh needs the refresh token alone.
        access_token: shared
            .config
            .expose_access_token
            .then(|| AccessToken::new(tokens.access_token)),
        refresh_token: tokens.refresh_token.map(StoredToken::new),
        access_expires_at: tokens.expires_in.map(|d| now + d),
        access_issued_at: tokens.expires_in.map(|_| now),
        created_at: now,
        last_seen: now,
        extra_roles: additions.roles.into(),
        app_data: additions.app_data,
        // Set by `create`.
        handle: None,
        device: None,
    };
    data.compact();
    let id = metrics::store_call(
        &shared.durable.store_health,
        "create",
        create(shared, data, tags, headers),
    )
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "session store failed");
        Failure::new(
            LoginFailure::StoreUnavailable,
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is unavailable",
                "Sessions cannot be stored right now. Please try again in a moment.",
            )
            .with_login_url(verified.retry.clone()),
            Some(&verified.state),
        )
    })?;
    // No fixation and no orphan: the browser's previous session (if any) ends here.
    if let Some(old) = cookie_id(shared, headers)
        && let Err(e) = shared.durable.store.delete(&old).await
    {
        tracing::warn!(error = %e, "could not delete the previous session");
    }
    let mut response = after_login(
        &format!(
            "{}{}",
            shared.config.external.base_path, verified.attempt.return_to
        ),
        shared.cookies.session_is_strict(),
    );
    let h = response.headers_mut();
    for cookie in [
        Some(session_cookie(shared, &id)),
        shared.attempts.removal(&verified.state),
    ]
    .into_iter()
    .flatten()
    {
        cookies::append_set_cookie(h, &cookie);
    }
    Ok(response)
}
