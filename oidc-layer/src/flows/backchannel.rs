//! `POST {prefix}/backchannel-logout`: the provider tells the app that a user's provider session
//! ended (OpenID Connect Back-Channel Logout 1.0). The logout token is verified completely (see
//! `provider::logout_token`), a replayed `jti` is refused, and every session of that provider
//! session (`sid`) or, without `sid`, of that subject (`sub`) is deleted.
//!
//! Answers `200` with an empty body on success and `400` with a JSON `error` body otherwise
//! (section 2.8), always `Cache-Control: no-store`. Nothing is deleted unless the token is valid.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use session_store::SessionStore as _;

use crate::metrics;
use crate::pages::PageBody;
use crate::provider::{issuers_match, unverified_addressee};
use crate::record;
use crate::state::Shared;
use crate::state::replay::first_use_of_jti;
use crate::web::query;

/// Request bodies longer than this are refused.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

fn answer(status: StatusCode, error: Option<(&str, &str)>) -> Response<PageBody> {
    let body = match error {
        Some((code, description)) => {
            serde_json::json!({ "error": code, "error_description": description }).to_string()
        }
        None => String::new(),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if error.is_some() {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    response
}

/// A refusal: `400` with `{"error": "invalid_request", "error_description": ...}`.
pub(crate) fn invalid(description: &str) -> Response<PageBody> {
    tracing::warn!(reason = description, "back-channel logout refused");
    metrics::backchannel_logout("refused");
    answer(
        StatusCode::BAD_REQUEST,
        Some(("invalid_request", description)),
    )
}

/// Handles a back-channel logout request whose body has been read (at most
/// [`MAX_BODY_BYTES`]).
#[tracing::instrument(name = "oidc.backchannel_logout", level = "info", skip_all)]
pub(crate) async fn backchannel_logout(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<PageBody> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return invalid("the body must be application/x-www-form-urlencoded");
    }
    let Ok([token]) = query::unique(body, ["logout_token"]) else {
        return invalid("logout_token is repeated");
    };
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return invalid("logout_token is missing");
    };
    let Some((iss, aud)) = unverified_addressee(&token) else {
        return invalid("the logout token is not a JWT with an issuer");
    };
    // The issuer's provider whose client the token is for (one issuer may be configured with
    // several clients); the verification checks `aud` again.
    let of_issuer = || {
        shared
            .providers
            .iter()
            .filter(|p| issuers_match(&p.settings.issuer, &iss))
    };
    let Some(provider) = of_issuer()
        .find(|p| aud.contains(&p.settings.client_id))
        .or_else(|| of_issuer().next())
    else {
        return invalid("the logout token comes from an unknown issuer");
    };
    let discovered = match provider.client.discovered().await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "provider unavailable for a back-channel logout");
            return invalid("the provider's keys are unavailable");
        }
    };
    let claims = match provider
        .client
        .verify_logout_token(&discovered, &token)
        .await
    {
        Ok(claims) => claims,
        Err(reason) => return invalid(&reason),
    };
    let replay_key = format!("{} {}", claims.iss, claims.jti);
    let fresh = first_use_of_jti(
        &shared.durable.logout_jtis,
        replay_key.clone(),
        claims.acceptable_for,
    )
    .await;
    if !fresh {
        return invalid("this logout token was already used");
    }
    let tag = match (&claims.sid, &claims.sub) {
        (Some(sid), _) => record::sid_tag(&claims.iss, sid),
        (None, Some(sub)) => record::sub_tag(&claims.iss, sub),
        (None, None) => return invalid("neither sub nor sid"),
    };
    match metrics::store_call(
        &shared.durable.store_health,
        "delete_tagged",
        shared.durable.store.delete_tagged(&tag),
    )
    .await
    {
        Ok(count) => {
            metrics::backchannel_logout("accepted");
            tracing::info!(
                sessions = count,
                by_sid = claims.sid.is_some(),
                "back-channel logout"
            );
            answer(StatusCode::OK, None)
        }
        Err(e) => {
            tracing::error!(error = %e, "session store failed during back-channel logout");
            metrics::backchannel_logout("store_error");
            // Let the provider retry with the same token.
            shared.durable.logout_jtis.invalidate(&replay_key).await;
            answer(
                StatusCode::BAD_REQUEST,
                Some((
                    "temporarily_unavailable",
                    "sessions cannot be deleted right now",
                )),
            )
        }
    }
}
