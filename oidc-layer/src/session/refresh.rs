//! Session upkeep on the request path: refreshing the access token before it expires and
//! recording activity for the idle timeout.
//!
//! Upkeep runs single-flight per session: concurrent requests of one session wait for one
//! upkeep (moka's `get_with` coalesces them), which re-reads the record first, so with rotating
//! refresh tokens no request ever redeems a spent token and a request that lost the race simply
//! gets the refreshed record. A token is due a refresh margin before it expires, but never
//! before half its lifetime as issued ([`record::needs_refresh`]), so each token is refreshed
//! once however short-lived the provider's tokens are. Outcomes are kept for
//! [`UPKEEP_REUSE`](crate::record::upkeep::UPKEEP_REUSE),
//! which also spaces out retries while the provider is unreachable. An outcome is never reused
//! past an access token's expiry, though (see [`UpkeepKey`]): a session kept through a failed
//! refresh ends once its token has expired, and a token that expires sooner than the outcome
//! is kept is refreshed again instead of being handed out expired.
//!
//! Single-flight is per process; across processes sharing a store (Redis), a refresh runs
//! under the session's lock ([`session_store::SessionStore::try_lock`]), so no two instances
//! ever redeem the same refresh token: a provider that detects the reuse of a rotated refresh
//! token (oidc-provider, Keycloak with "revoke refresh token", Auth0, Okta...) would take the
//! second redemption for a stolen token and revoke the whole grant. An instance that finds the
//! lock taken goes on with the access token it has while it is live, and otherwise waits for
//! the other instance's refresh to land in the store. Every read on this path goes straight to
//! the remote tier ([`session_store::SessionStore::load_fresh`]).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use session_store::{Record, SessionId, SessionStore as _};
use tracing::Instrument as _;

use crate::admission;
use crate::config::RefreshFailure;
use crate::metrics::{self, RefreshOutcome};
use crate::provider::ProviderError;
use crate::record::upkeep::{Upkeep, UpkeepKey};
use crate::record::{self, AccessToken, SessionData, StoredToken};
use crate::state::Shared;

/// How long a request whose access token is still live waits for its session's upkeep: a
/// healthy provider refreshes well within it, and a provider that hangs delays such a request
/// by this much at most, once (the upkeep goes on in its own task, holding the session's lock,
/// so the next requests find the lock taken and go on at once with the live token).
pub(crate) const LIVE_TOKEN_WAIT: Duration = Duration::from_millis(500);

/// How long a session's refresh lock lasts at most: longer than a refresh can take (three
/// provider requests of at most 15 s each: token, keys, userinfo), so that it never expires
/// under a live refresh. Only an instance that died while refreshing leaves it to expire.
pub(crate) const REFRESH_LOCK: Duration = Duration::from_secs(60);

/// How long writing a session's activity holds its lock at most (two store round trips).
const TOUCH_LOCK: Duration = Duration::from_secs(10);

/// Whether `record` needs upkeep at `now` (cheap: two comparisons; the hot-path check).
pub(crate) fn due(shared: &Shared, record: &Record<SessionData>, now: SystemTime) -> bool {
    record::needs_refresh(&shared.config, &record.data, now)
        || record::needs_touch(&shared.config, &record.data, now)
}

/// Brings the session `id` up to date (single-flight per session).
///
/// The upkeep runs as a task of its own: a request that goes away (the browser moved on)
/// must not cancel a refresh half-way, after the provider rotated the refresh token and
/// before the new one is saved, which would leave the session with a spent token.
pub(crate) async fn upkeep(
    shared: &Arc<Shared>,
    id: &SessionId,
    seen: Arc<Record<SessionData>>,
) -> Upkeep {
    let key = UpkeepKey::new(id, &seen, SystemTime::now());
    let span = tracing::info_span!("oidc.session_upkeep", session = %id);
    // Spawned when moka runs this (once for all the requests it coalesces). Should the request
    // running it go away, another waiting one runs it again, which the session's lock keeps
    // from refreshing twice.
    let task = {
        let (shared, id, seen) = (Arc::clone(shared), id.clone(), Arc::clone(&seen));
        async move { run(&shared, &id, seen).await }.instrument(span)
    };
    let live = key.token_live();
    let kept = Arc::clone(&seen);
    let init = async move {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime.spawn(task).await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "session upkeep failed; keeping the session as read");
                Upkeep::Keep(seen)
            }),
            // No Tokio runtime to spawn on: within the request, as the rest of the layer.
            Err(_) => task.await,
        }
    };
    let outcome = shared.durable.upkeeps.get_with(key, init);
    if !live || tokio::runtime::Handle::try_current().is_err() {
        return outcome.await;
    }
    // With a live access token the request need not wait for a slow provider: it goes on with
    // the session as read, and the spawned upkeep finishes on its own.
    match tokio::time::timeout(LIVE_TOKEN_WAIT, outcome).await {
        Ok(upkeep) => upkeep,
        Err(_) => {
            tracing::info!(session = %id, "upkeep still running; going on with the live access token");
            Upkeep::Keep(kept)
        }
    }
}

async fn run(shared: &Shared, id: &SessionId, seen: Arc<Record<SessionData>>) -> Upkeep {
    let now = SystemTime::now();
    // Another request (or instance) may have refreshed it already: start from the latest,
    // read around any local cache (a two-tier store's copy may be seconds old).
    let record = match reread(shared, id, &seen).await {
        Ok(record) => record,
        Err(outcome) => return outcome,
    };
    if record::needs_refresh(&shared.config, &record.data, now) {
        return refresh(shared, id, record).await;
    }
    if !record::needs_touch(&shared.config, &record.data, now) {
        return Upkeep::Keep(record);
    }
    touch(shared, id, record, now).await
}

/// Writes the session's activity, under the session's lock so that it never undoes an app-data
/// write ([`AppSession`](crate::AppSession)) or a refresh landing meanwhile. When the lock is
/// taken, that writer is saving the session (a refresh notes the activity too): goes on.
async fn touch(
    shared: &Shared,
    id: &SessionId,
    record: Arc<Record<SessionData>>,
    now: SystemTime,
) -> Upkeep {
    let lease = match metrics::store_call(
        &shared.durable.store_health,
        "lock",
        shared.durable.store.try_lock(id, TOUCH_LOCK),
    )
    .await
    {
        Ok(Some(lease)) => lease,
        Ok(None) => return Upkeep::Keep(record),
        Err(e) => {
            tracing::warn!(error = %e, "session store failed; keeping the session as read");
            return Upkeep::Keep(record);
        }
    };
    let outcome = match reread(shared, id, &record).await {
        Ok(current) => {
            let mut data = current.data.clone();
            data.last_seen = now;
            save(shared, id, current, data, Duration::ZERO).await
        }
        Err(outcome) => outcome,
    };
    if let Err(e) = shared.durable.store.unlock(id, &lease).await {
        tracing::warn!(error = %e, "could not release the session's lock (it expires by itself)");
    }
    outcome
}

/// Refreshes the tokens of `record` under the session's lock. When another instance holds it
/// (it is refreshing them), goes on with the access token while it is live, and otherwise waits
/// for that instance's result (or for the lock, if it gives up).
async fn refresh(shared: &Shared, id: &SessionId, mut record: Arc<Record<SessionData>>) -> Upkeep {
    let waited = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        match metrics::store_call(
            &shared.durable.store_health,
            "lock",
            shared.durable.store.try_lock(id, REFRESH_LOCK),
        )
        .await
        {
            Ok(Some(lease)) => {
                let outcome = refresh_locked(shared, id, record).await;
                if let Err(e) = shared.durable.store.unlock(id, &lease).await {
                    tracing::warn!(error = %e, "could not release the session's refresh lock (it expires by itself)");
                }
                return outcome;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "session store failed; keeping the session as read");
                return Upkeep::Keep(record);
            }
        }
        let live = record
            .data
            .access_expires_at
            .is_some_and(|at| SystemTime::now() < at);
        if live {
            tracing::debug!(
                "another instance is refreshing the session; its access token is still live"
            );
            return Upkeep::Keep(record);
        }
        if waited.elapsed() > REFRESH_LOCK {
            tracing::warn!("the session's refresh lock stayed taken; keeping the session as read");
            return Upkeep::Keep(record);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
        match reread(shared, id, &record).await {
            Ok(current) if refreshed_since(&record, &current) => return Upkeep::Keep(current),
            Ok(current) => record = current,
            Err(outcome) => return outcome,
        }
    }
}

/// The refresh itself, with the session's lock held.
async fn refresh_locked(shared: &Shared, id: &SessionId, read: Arc<Record<SessionData>>) -> Upkeep {
    let now = SystemTime::now();
    // The lock's previous holder may have refreshed the session since it was read.
    let record = match reread(shared, id, &read).await {
        Ok(record) => record,
        Err(outcome) => return outcome,
    };
    if refreshed_since(&read, &record) {
        return Upkeep::Keep(record);
    }
    let provider = record.data.identity.provider();
    match refresh_tokens(shared, &record.data, now).await {
        Ok(mut data) => {
            metrics::refreshed(provider, RefreshOutcome::Refreshed);
            data.last_seen = now;
            save(shared, id, record, data, SAVE_REFRESHED_FOR).await
        }
        Err(Failed::End(why)) => {
            tracing::info!(why, "session ended at refresh");
            metrics::refreshed(provider, RefreshOutcome::Ended);
            end(shared, id).await
        }
        Err(Failed::Unreachable(why)) => {
            let expired = record.data.access_expires_at.is_none_or(|at| now >= at);
            let policy = shared.config.refresh_failure;
            if expired && policy == RefreshFailure::Suspend {
                tracing::warn!(
                    why,
                    "refresh failed and the access token has expired; the session waits for the provider (503 meanwhile)"
                );
                metrics::refreshed(provider, RefreshOutcome::FailedSuspended);
                return Upkeep::Suspended;
            }
            if policy == RefreshFailure::End || expired {
                tracing::warn!(
                    why,
                    "refresh failed and the access token is due; ending the session"
                );
                metrics::refreshed(provider, RefreshOutcome::FailedEnded);
                return end(shared, id).await;
            }
            tracing::warn!(
                why,
                "refresh failed; keeping the session until its access token expires"
            );
            metrics::refreshed(provider, RefreshOutcome::FailedKept);
            Upkeep::Keep(record)
        }
    }
}

/// The session as the store has it now, around any local cache; or, when there is none to go
/// on with, the upkeep's outcome: ended when it is gone, `read` kept when the store failed.
async fn reread(
    shared: &Shared,
    id: &SessionId,
    read: &Arc<Record<SessionData>>,
) -> Result<Arc<Record<SessionData>>, Upkeep> {
    match metrics::store_call(
        &shared.durable.store_health,
        "load",
        shared.durable.store.load_fresh(id),
    )
    .await
    {
        Ok(Some(record)) => Ok(record),
        Ok(None) => Err(Upkeep::Ended),
        Err(e) => {
            tracing::warn!(error = %e, "session store failed; keeping the session as read");
            Err(Upkeep::Keep(Arc::clone(read)))
        }
    }
}

/// Whether `current` holds other tokens than `read` (another instance refreshed them). Not
/// "no longer due": a token that lives only a few seconds may be due again by then.
fn refreshed_since(read: &Record<SessionData>, current: &Record<SessionData>) -> bool {
    current.data.refresh_token != read.data.refresh_token
        || current.data.access_expires_at != read.data.access_expires_at
}

/// Writes `data` as the session's new record (same tags), unless it was deleted meanwhile.
///
/// While the store fails, the write is tried again for `retry_for` (with backoff), holding the
/// session's lock: [`SAVE_REFRESHED_FOR`] for tokens the provider just issued (with rotating
/// refresh tokens the stored one is spent, so losing the new one would end the session at the
/// next refresh: the provider takes the spent token's reuse for theft and revokes the grant),
/// nothing for activity. Then the request goes on with the record as read.
async fn save(
    shared: &Shared,
    id: &SessionId,
    record: Arc<Record<SessionData>>,
    data: SessionData,
    retry_for: Duration,
) -> Upkeep {
    let expires_at = record::deadline(&shared.config, &data);
    let updated = Record::new(data, expires_at).with_tags(record.tags.clone());
    let started = Instant::now();
    let mut pause = Duration::from_millis(100);
    loop {
        match metrics::store_call(
            &shared.durable.store_health,
            "save",
            shared.durable.store.save(id, updated.clone()),
        )
        .await
        {
            Ok(true) => return Upkeep::Keep(Arc::new(updated)),
            // Deleted meanwhile (logout, back-channel logout): stay logged out.
            Ok(false) => return Upkeep::Ended,
            Err(e) if started.elapsed() + pause < retry_for => {
                tracing::warn!(error = %e, "session store failed saving the session; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(e) => {
                tracing::error!(error = %e, "session store failed during upkeep");
                // What was to be saved is lost, but the request can go on with the identity.
                return Upkeep::Keep(record);
            }
        }
    }
}

/// How long [`save`] keeps trying to write refreshed tokens while the store fails (a Redis
/// restart, a failover): well within [`REFRESH_LOCK`], which it holds meanwhile.
const SAVE_REFRESHED_FOR: Duration = Duration::from_secs(15);

async fn end(shared: &Shared, id: &SessionId) -> Upkeep {
    if let Err(e) = metrics::store_call(
        &shared.durable.store_health,
        "delete",
        shared.durable.store.delete(id),
    )
    .await
    {
        tracing::error!(error = %e, "could not delete an ended session");
    }
    Upkeep::Ended
}

enum Failed {
    /// The session cannot be refreshed (no refresh token, provider gone, the provider refused
    /// the refresh token, the refreshed claims fail admission, the answer failed validation):
    /// it must end.
    End(String),
    /// The provider could not be asked.
    Unreachable(String),
}

async fn refresh_tokens(
    shared: &Shared,
    data: &SessionData,
    now: SystemTime,
) -> Result<SessionData, Failed> {
    let Some(refresh_token) = data.refresh_token.as_ref().map(StoredToken::text) else {
        return Err(Failed::End("no refresh token".into()));
    };
    let identity = &data.identity;
    let Some((_, provider)) = shared.provider_of(identity) else {
        return Err(Failed::End(format!(
            "provider `{}` of issuer `{}` is no longer configured",
            identity.provider(),
            identity.iss()
        )));
    };
    let refreshed = async {
        let discovered = provider.client.discovered().await?;
        provider
            .client
            .refresh(&discovered, &refresh_token, identity)
            .await
    }
    .await;
    match &refreshed {
        Err(e @ ProviderError::Unavailable(_)) => provider.client.note_failure(e.to_string()),
        _ => provider.client.note_contact(true),
    }
    let refreshed = refreshed.map_err(|e| match e {
        ProviderError::Unavailable(_) | ProviderError::BadResponse(_) => {
            Failed::Unreachable(e.to_string())
        }
        ProviderError::Rejected { .. }
        | ProviderError::InvalidToken(_)
        | ProviderError::BadMetadata(_) => Failed::End(e.to_string()),
    })?;
    let mut data = data.clone();
    if let Some((raw, claims)) = refreshed.id_token {
        // New claims: required claims and roles are decided again; the account stays.
        let renewed = admission::identify(provider, claims)
            .map_err(|_| Failed::End("the refreshed claims no longer admit this user".into()))?;
        let renewed = admission::with_extra_roles(provider, renewed, &data.extra_roles);
        data.identity = match data.identity.account() {
            Some(account) => renewed.with_account(
                account.to_owned(),
                Some(data.identity.username().to_owned()),
            ),
            None => renewed,
        };
        data.id_token = Some(StoredToken::new(raw));
        data.compact();
    }
    data.access_token = shared
        .config
        .expose_access_token
        .then(|| AccessToken::new(refreshed.access_token));
    if let Some(rotated) = refreshed.refresh_token {
        data.refresh_token = Some(StoredToken::new(rotated));
    }
    data.access_expires_at = refreshed.expires_in.map(|d| now + d);
    data.access_issued_at = refreshed.expires_in.map(|_| now);
    tracing::info!(sub = data.identity.sub(), "access token refreshed");
    Ok(data)
}
