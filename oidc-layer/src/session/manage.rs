//! Session management: the sessions of an account (or of one provider identity) listed, one of
//! them ended by its handle, all or all but the current one ended ("sign out everywhere",
//! "sign out other sessions", an account the app disables). Behind [`OidcLayer`]'s
//! `sessions_of_account`, `sessions_of_identity`, `end_session`, `end_sessions_of_account`
//! and `end_other_sessions`.
//!
//! Everything goes through the store's tag index (`list_tagged`, `delete_tagged`,
//! `trim_tagged`), so it works alike on every store, and a [`TwoTierStore`] drops its local
//! copies of what it ends (other instances hear of it through the store's change feed).
//! Sessions created before this version have no handle and no account tag: they are not
//! listed and not ended by these calls (they end at logout, by back-channel logout, or at
//! their expiry).
//!
//! [`OidcLayer`]: crate::OidcLayer
//! [`TwoTierStore`]: crate::TwoTierStore

use std::time::SystemTime;

use http::HeaderMap;
use session_store::{Record, SessionStore as _};

use crate::config::LOCAL_PROVIDER;
use crate::record::{self, SessionData};
use crate::session::current::{self, Expired};
use crate::state::Shared;

/// How many sessions a listing returns at most (the latest-ending ones): a person has a few,
/// and `max_sessions_per_user` bounds them per provider identity.
pub(crate) const MAX_LISTED: usize = 100;

/// One session of a user, as a "your sessions" page shows it. Holds nothing that opens the
/// session: the handle only names it (to [`OidcLayer::end_session`](crate::OidcLayer::end_session)).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The session's public handle (22 characters of base64url): put it in an "end this
    /// session" form. Not the session id: it signs no one in.
    pub handle: String,
    /// The slug of the provider the session signed in with (`local` for the app's own login).
    pub provider: String,
    /// That provider's display name ("Local login" for the app's own login; the slug when the
    /// provider is no longer configured).
    pub provider_name: String,
    /// When the session was created (the sign-in).
    pub created_at: SystemTime,
    /// The last request the layer recorded: kept (to a tenth of the idle timeout) only with
    /// [`session_idle_timeout`](crate::OidcConfigBuilder::session_idle_timeout); `None`
    /// without it.
    pub last_seen: Option<SystemTime>,
    /// The browser at sign-in, e.g. "Firefox on Linux" (from fixed names, never the
    /// `User-Agent` header itself); `None` when it sent none.
    pub device: Option<String>,
    /// Whether it is the session of the request whose headers were given.
    pub current: bool,
    /// When the session ends at the latest.
    pub expires_at: SystemTime,
}

/// Whether `handle` looks like a handle this layer makes (so garbage never reaches the store
/// as part of a tag).
pub(crate) fn is_handle(handle: &str) -> bool {
    handle.len() == 22
        && handle
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The live sessions carrying `tag` (an account's or a provider identity's), latest-ending
/// first, the request's own marked `current`.
pub(crate) async fn list(
    shared: &Shared,
    tag: &str,
    request_headers: &HeaderMap,
) -> Result<Vec<SessionInfo>, session_store::Error> {
    let store = &shared.durable.store;
    let records = crate::metrics::store_call(
        &shared.durable.store_health,
        "list_tagged",
        store.list_tagged(tag, MAX_LISTED),
    )
    .await?;
    let current_handle = current_handle(shared, request_headers).await?;
    Ok(records
        .iter()
        .filter_map(|record| info(shared, record, current_handle.as_deref()))
        .collect())
}

/// The handle of the request's session, if it has a live one.
async fn current_handle(
    shared: &Shared,
    request_headers: &HeaderMap,
) -> Result<Option<String>, session_store::Error> {
    let found = current::find(shared, request_headers, Expired::EndedAt(SystemTime::now())).await?;
    Ok(found.and_then(|(_, record)| record.data.handle.clone()))
}

fn info(
    shared: &Shared,
    record: &Record<SessionData>,
    current_handle: Option<&str>,
) -> Option<SessionInfo> {
    let data = &record.data;
    // Sessions from before handles were kept cannot be named: left out.
    let handle = data.handle.clone()?;
    let provider = data.identity.provider().to_owned();
    let provider_name = if provider == LOCAL_PROVIDER {
        "Local login".to_owned()
    } else {
        shared
            .providers
            .iter()
            .find(|p| p.settings.slug == provider)
            .map_or_else(|| provider.clone(), |p| p.settings.name.clone())
    };
    Some(SessionInfo {
        current: current_handle == Some(handle.as_str()),
        handle,
        provider,
        provider_name,
        created_at: data.created_at,
        last_seen: shared
            .config
            .session_idle_timeout
            .map(|_| data.last_seen.max(data.created_at)),
        device: data.device.clone(),
        expires_at: record.expires_at,
    })
}

/// Ends the session `handle` if it belongs to `account`; whether it did. Anything else (an
/// unknown or malformed handle, another account's session) ends nothing and answers `false`,
/// so a caller learns nothing about other accounts' sessions.
pub(crate) async fn end_one(
    shared: &Shared,
    account: &str,
    handle: &str,
) -> Result<bool, session_store::Error> {
    if !is_handle(handle) {
        return Ok(false);
    }
    let store = &shared.durable.store;
    let tag = record::session_tag(handle);
    let found = crate::metrics::store_call(
        &shared.durable.store_health,
        "list_tagged",
        store.list_tagged(&tag, 1),
    )
    .await?;
    let owned = found.first().is_some_and(|record| {
        record.data.identity.account() == Some(account)
            && record.tags.contains(&record::account_tag(account))
    });
    if !owned {
        return Ok(false);
    }
    let ended = crate::metrics::store_call(
        &shared.durable.store_health,
        "delete_tagged",
        store.delete_tagged(&tag),
    )
    .await?;
    if ended > 0 {
        tracing::info!(account, "a session ended by its account");
    }
    Ok(ended > 0)
}

/// Ends every session of `account` ("sign out everywhere", a disabled account); how many.
pub(crate) async fn end_all(shared: &Shared, account: &str) -> Result<u64, session_store::Error> {
    let ended = crate::metrics::store_call(
        &shared.durable.store_health,
        "delete_tagged",
        shared
            .durable
            .store
            .delete_tagged(&record::account_tag(account)),
    )
    .await?;
    tracing::info!(account, ended, "every session of an account ended");
    Ok(ended)
}

/// Ends every session of `account` but the request's own ("sign out other sessions"); how
/// many. When the request's session is not one of the account's, all of them end.
pub(crate) async fn end_others(
    shared: &Shared,
    account: &str,
    request_headers: &HeaderMap,
) -> Result<u64, session_store::Error> {
    let tag = record::account_tag(account);
    let store = &shared.durable.store;
    let current =
        current::find(shared, request_headers, Expired::EndedAt(SystemTime::now())).await?;
    let ended = match current {
        // Keep 1 in all, sparing the current one: every other one ends, in one store call.
        Some((id, record)) if record.tags.contains(&tag) => {
            crate::metrics::store_call(
                &shared.durable.store_health,
                "trim_tagged",
                store.trim_tagged(&tag, 1, &id),
            )
            .await?
        }
        _ => {
            crate::metrics::store_call(
                &shared.durable.store_health,
                "delete_tagged",
                store.delete_tagged(&tag),
            )
            .await?
        }
    };
    tracing::info!(account, ended, "the other sessions of an account ended");
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_checked_before_they_reach_the_store() {
        let handle = crate::web::random::random_token::<16>().unwrap();
        assert!(is_handle(&handle), "{handle}");
        for bad in [
            "",
            "short",
            "aaaaaaaaaaaaaaaaaaaaaaa",
            "aaaaaaaaaaaaaaaaaaaaa ",
            "aaaaaaaaaaaaaaaaaaaaa*",
            "aaaaaaaaaaaaaaaaaaaaaé",
        ] {
            assert!(!is_handle(bad), "{bad:?}");
        }
    }
}
