//! Session upkeep on the request path: refreshing the access token before it expires and
//! recording activity for the idle timeout.
//!
//! Upkeep runs single-flight per session: concurrent requests of one session wait for one
//! upkeep (moka's `get_with` coalesces them), which re-reads the record first, so with rotating
//! refresh tokens no request ever redeems a spent token and a request that lost the race simply
//! gets the refreshed record. Outcomes are kept for [`UPKEEP_REUSE`], which also spaces out
//! refreshes (a refresh margin longer than the provider's token lifetime makes every refreshed
//! token due at once) and retries while the provider is unreachable. An outcome is never reused
//! past an access token's expiry, though (see [`UpkeepKey`]): a session kept through a failed
//! refresh ends once its token has expired, and a token that expires sooner than the outcome
//! is kept is refreshed again instead of being handed out expired.
//!
//! Single-flight is per process: instances sharing a store (Redis) can still race on a refresh.
//! Upkeep therefore reads the record straight from the remote tier ([`session_store::SessionStore::load_fresh`]),
//! so an instance that comes second usually finds the session already refreshed; and when the
//! provider refuses a refresh, the record is read again (for up to [`RACE_GRACE`]): if its
//! refresh token is no longer the refused one, another instance won the race and the session
//! goes on with its tokens instead of ending (see the README's multi-instance notes).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use session_store::{Record, SessionId, SessionStore as _};

use crate::admission;
use crate::config::RefreshFailure;
use crate::layer::Shared;
use crate::provider::ProviderError;
use crate::session::{self, AccessToken, SessionData};

/// How long an upkeep outcome is handed to further requests of the same session.
pub(crate) const UPKEEP_REUSE: Duration = Duration::from_secs(5);

/// How long a refused refresh waits for another instance's refresh of the same session (the
/// one that made the provider refuse this one) to show up in the store, before it ends the
/// session.
pub(crate) const RACE_GRACE: Duration = Duration::from_millis(800);

/// What a request continues with.
#[derive(Clone)]
pub(crate) enum Upkeep {
    /// The session, up to date.
    Keep(Arc<Record<SessionData>>),
    /// The session ended (refresh refused, provider gone for too long, logged out meanwhile).
    Ended,
}

/// What an upkeep outcome is shared and reused for: one session, while the access token it was
/// read with is live; once that token has expired, only requests that read that same expired
/// token share an outcome (the next expired token gets its own upkeep).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct UpkeepKey {
    id: SessionId,
    expired_token: Option<SystemTime>,
}

impl UpkeepKey {
    fn new(id: &SessionId, seen: &Record<SessionData>, now: SystemTime) -> Self {
        Self {
            id: id.clone(),
            expired_token: seen.data.access_expires_at.filter(|at| now >= *at),
        }
    }
}

/// Whether `record` needs upkeep at `now` (cheap: two comparisons; the hot-path check).
pub(crate) fn due(shared: &Shared, record: &Record<SessionData>, now: SystemTime) -> bool {
    session::needs_refresh(&shared.config, &record.data, now)
        || session::needs_touch(&shared.config, &record.data, now)
}

/// Brings the session `id` up to date (single-flight per session).
pub(crate) async fn upkeep(
    shared: &Shared,
    id: &SessionId,
    seen: Arc<Record<SessionData>>,
) -> Upkeep {
    let key = UpkeepKey::new(id, &seen, SystemTime::now());
    shared.upkeeps.get_with(key, run(shared, id, seen)).await
}

async fn run(shared: &Shared, id: &SessionId, seen: Arc<Record<SessionData>>) -> Upkeep {
    let span = tracing::info_span!("oidc.session_upkeep", session = %id);
    let _guard = span.enter();
    let now = SystemTime::now();
    // Another request (or instance) may have refreshed it already: start from the latest,
    // read around any local cache (a two-tier store's copy may be seconds old).
    let record = match shared.store.load_fresh(id).await {
        Ok(Some(record)) => record,
        Ok(None) => return Upkeep::Ended,
        Err(e) => {
            tracing::warn!(error = %e, "session store failed; keeping the session as read");
            return Upkeep::Keep(seen);
        }
    };
    let config = &shared.config;
    let refresh = session::needs_refresh(config, &record.data, now);
    if !refresh && !session::needs_touch(config, &record.data, now) {
        return Upkeep::Keep(record);
    }
    let mut data = record.data.clone();
    if refresh {
        match refresh_tokens(shared, &data, now).await {
            Ok(refreshed) => data = refreshed,
            Err(Failed::End(why)) => {
                tracing::info!(why, "session ended at refresh");
                return end(shared, id).await;
            }
            Err(Failed::Refused(why)) => {
                let refused = data.refresh_token.as_deref();
                if let Some(current) = refreshed_elsewhere(shared, id, refused).await {
                    tracing::info!(
                        why,
                        "refresh refused, but another instance refreshed the session meanwhile; keeping its tokens"
                    );
                    return Upkeep::Keep(current);
                }
                tracing::info!(why, "session ended at refresh");
                return end(shared, id).await;
            }
            Err(Failed::Unreachable(why)) => {
                let expired = data.access_expires_at.is_none_or(|at| now >= at);
                if config.refresh_failure == RefreshFailure::End || expired {
                    tracing::warn!(
                        why,
                        "refresh failed and the access token is due; ending the session"
                    );
                    return end(shared, id).await;
                }
                tracing::warn!(
                    why,
                    "refresh failed; keeping the session until its access token expires"
                );
                return Upkeep::Keep(record);
            }
        }
    }
    data.last_seen = now;
    let expires_at = session::deadline(config, &data);
    let updated = Record::new(data, expires_at).with_tags(record.tags.clone());
    match shared.store.save(id, updated.clone()).await {
        Ok(true) => Upkeep::Keep(Arc::new(updated)),
        // Deleted meanwhile (logout, back-channel logout): stay logged out.
        Ok(false) => Upkeep::Ended,
        Err(e) => {
            tracing::error!(error = %e, "session store failed during upkeep");
            // The refreshed tokens are lost but the request can go on with the identity.
            Upkeep::Keep(record)
        }
    }
}

/// After the provider refused `refused`: the session as another instance saved it with a new
/// refresh token (it redeemed the same token first, so the provider saw ours as a replay), if
/// that shows up in the store within [`RACE_GRACE`]. `None` when the record still holds the
/// refused token (a real refusal: revoked, expired), is gone, or cannot be read.
async fn refreshed_elsewhere(
    shared: &Shared,
    id: &SessionId,
    refused: Option<&str>,
) -> Option<Arc<Record<SessionData>>> {
    let deadline = Instant::now() + RACE_GRACE;
    let mut pause = Duration::from_millis(50);
    loop {
        match shared.store.load_fresh(id).await {
            Ok(Some(record)) if record.data.refresh_token.as_deref() != refused => {
                return Some(record);
            }
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "session store failed after a refused refresh");
                return None;
            }
        }
        // The winner's save lands a round trip to the provider after its refresh started.
        if Instant::now() + pause > deadline {
            return None;
        }
        tokio::time::sleep(pause).await;
        pause *= 2;
    }
}

async fn end(shared: &Shared, id: &SessionId) -> Upkeep {
    if let Err(e) = shared.store.delete(id).await {
        tracing::error!(error = %e, "could not delete an ended session");
    }
    Upkeep::Ended
}

enum Failed {
    /// The session cannot be refreshed (no refresh token, provider gone, the refreshed claims
    /// fail admission, the answer failed validation): it must end.
    End(String),
    /// The provider refused the refresh token (`invalid_grant`...): the session ends, unless
    /// another instance refreshed it meanwhile (see [`refreshed_elsewhere`]).
    Refused(String),
    /// The provider could not be asked.
    Unreachable(String),
}

async fn refresh_tokens(
    shared: &Shared,
    data: &SessionData,
    now: SystemTime,
) -> Result<SessionData, Failed> {
    let Some(refresh_token) = data.refresh_token.as_deref() else {
        return Err(Failed::End("no refresh token".into()));
    };
    let identity = &data.identity;
    let Some((_, provider)) = shared.provider(identity.provider()) else {
        return Err(Failed::End(format!(
            "provider `{}` is no longer configured",
            identity.provider()
        )));
    };
    let refreshed = async {
        let discovered = provider.client.discovered().await?;
        provider
            .client
            .refresh(&discovered, refresh_token, identity.iss(), identity.sub())
            .await
    }
    .await;
    provider
        .client
        .note_contact(!matches!(refreshed, Err(ProviderError::Unavailable(_))));
    let refreshed = refreshed.map_err(|e| match e {
        ProviderError::Unavailable(_) | ProviderError::BadResponse(_) => {
            Failed::Unreachable(e.to_string())
        }
        ProviderError::Rejected { .. } => Failed::Refused(e.to_string()),
        ProviderError::InvalidToken(_) | ProviderError::BadMetadata(_) => {
            Failed::End(e.to_string())
        }
    })?;
    let mut data = data.clone();
    if let Some((raw, claims)) = refreshed.id_token {
        // New claims: required claims and roles are decided again; the account stays.
        let renewed = admission::identify(shared, provider, claims, "/")
            .map_err(|_| Failed::End("the refreshed claims no longer admit this user".into()))?;
        data.identity = match data.identity.account() {
            Some(account) => renewed.with_account(
                account.to_owned(),
                Some(data.identity.username().to_owned()),
            ),
            None => renewed,
        };
        data.id_token = Some(raw);
    }
    data.access_token = Some(AccessToken::new(refreshed.access_token));
    if let Some(rotated) = refreshed.refresh_token {
        data.refresh_token = Some(rotated);
    }
    data.access_expires_at = refreshed.expires_in.map(|d| now + d);
    tracing::info!(sub = data.identity.sub(), "access token refreshed");
    Ok(data)
}
