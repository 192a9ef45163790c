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

/// The store tags of `account`'s sessions: its account tag, and, for a stateless account id,
/// the tag of the same account in its former form (sessions signed in before the change).
pub(crate) fn account_tags(account: &str) -> Vec<String> {
    let mut tags = vec![record::account_tag(account)];
    tags.extend(crate::accounts::legacy_account(account).map(|old| record::account_tag(&old)));
    tags
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
    tags: &[String],
    request_headers: &HeaderMap,
) -> Result<Vec<SessionInfo>, session_store::Error> {
    let store = &shared.durable.store;
    let mut records = Vec::new();
    for tag in tags {
        records.extend(
            crate::metrics::store_call(
                &shared.durable.store_health,
                "list_tagged",
                store.list_tagged(tag, MAX_LISTED),
            )
            .await?,
        );
    }
    if tags.len() > 1 {
        records.sort_by_key(|record| std::cmp::Reverse(record.expires_at));
        records.truncate(MAX_LISTED);
    }
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
    Ok(found.and_then(|(_, record)| record.data.handle.as_deref().map(str::to_owned)))
}

fn info(
    shared: &Shared,
    record: &Record<SessionData>,
    current_handle: Option<&str>,
) -> Option<SessionInfo> {
    let data = &record.data;
    // Sessions from before handles were kept cannot be named: left out.
    let handle = data.handle.as_deref()?.to_owned();
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
        device: data.device.as_deref().map(str::to_owned),
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
    let tags = account_tags(account);
    let owned = found.first().is_some_and(|record| {
        record.data.identity.account() == Some(account)
            && tags.iter().any(|tag| record.tags.contains(tag))
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
    let mut ended = 0;
    for tag in account_tags(account) {
        ended += crate::metrics::store_call(
            &shared.durable.store_health,
            "delete_tagged",
            shared.durable.store.delete_tagged(&tag),
        )
        .await?;
    }
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
    let store = &shared.durable.store;
    let current =
        current::find(shared, request_headers, Expired::EndedAt(SystemTime::now())).await?;
    let mut ended = 0;
    for tag in account_tags(account) {
        ended += match &current {
            // Keep 1 in all, sparing the current one: every other one ends, in one store call.
            Some((id, record)) if record.tags.contains(&tag) => {
                crate::metrics::store_call(
                    &shared.durable.store_health,
                    "trim_tagged",
                    store.trim_tagged(&tag, 1, id),
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
    }
    tracing::info!(account, ended, "the other sessions of an account ended");
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http::{HeaderValue, header};
    use session_store::{MemoryStore, SessionId, SessionStore};

    use super::*;
    use crate::config::test_base as base;
    use crate::web::cookies;
    use crate::{LocalUser, OidcLayer};

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
            "aaaaaaaaaaaaaaaaaaaaa\u{e9}",
        ] {
            assert!(!is_handle(bad), "{bad:?}");
        }
    }

    /// A browser signed in locally as `username` of account `account` with `user_agent`:
    /// its request headers (the session cookie, the user agent) and its session id.
    async fn sign_in(
        layer: &OidcLayer,
        username: &str,
        account: &str,
        user_agent: &str,
    ) -> (HeaderMap, SessionId) {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_str(user_agent).unwrap(),
        );
        let user = LocalUser {
            username: username.into(),
            account: Some(account.into()),
            ..LocalUser::default()
        };
        let set_cookie = layer.sign_in_local(&headers, user).await.unwrap();
        let pair = set_cookie.to_str().unwrap().split(';').next().unwrap();
        headers.insert(header::COOKIE, pair.parse().unwrap());
        let name = layer.config().cookie_names().session().to_owned();
        let id = cookies::session_id(&headers, &name).unwrap();
        (headers, id)
    }

    /// Sessions signed in when stateless account ids were JSON arrays carry the former form in
    /// their store tags: the current id lists them and "sign out everywhere" ends them.
    #[tokio::test]
    async fn sessions_tagged_with_a_former_stateless_account_id_are_the_accounts() {
        let store = Arc::new(MemoryStore::<SessionData>::new());
        let layer = OidcLayer::new(base().build().unwrap()).with_store(store.clone());
        let current = crate::accounts::StatelessResolver::account_id("https://id.example", "al");
        let former = r#"["https://id.example","al"]"#;
        let (_, old_id) = sign_in(&layer, "alice", former, FIREFOX).await;
        let (new_browser, _) = sign_in(&layer, "alice", &current, EDGE).await;
        let (_, other_id) = sign_in(&layer, "bob", r#"["https://id.example","bo"]"#, EDGE).await;
        let listed = layer
            .sessions_of_account(&current, &new_browser)
            .await
            .unwrap();
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(listed[0].current && !listed[1].current, "{listed:?}");
        // "Other sessions" from the new browser ends the former-form one.
        assert_eq!(
            layer
                .end_other_sessions(&current, &new_browser)
                .await
                .unwrap(),
            1
        );
        assert!(store.load(&old_id).await.unwrap().is_none());
        let (_, old_id) = sign_in(&layer, "alice", former, FIREFOX).await;
        assert_eq!(layer.end_sessions_of_account(&current).await.unwrap(), 2);
        assert!(store.load(&old_id).await.unwrap().is_none());
        assert!(
            store.load(&other_id).await.unwrap().is_some(),
            "bob's stays"
        );
    }

    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
    const EDGE: &str =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";

    #[tokio::test]
    async fn an_accounts_sessions_are_listed_and_ended_and_no_others() {
        let store = Arc::new(MemoryStore::<SessionData>::new());
        let layer = OidcLayer::new(base().build().unwrap()).with_store(store.clone());
        let (laptop, laptop_id) = sign_in(&layer, "alice", "a", FIREFOX).await;
        let (phone, phone_id) = sign_in(&layer, "alice", "a", EDGE).await;
        let (bob, bob_id) = sign_in(&layer, "bob", "b", FIREFOX).await;

        let listed = layer.sessions_of_account("a", &laptop).await.unwrap();
        // Latest-ending first: the phone signed in after the laptop.
        let devices: Vec<(Option<&str>, bool)> = listed
            .iter()
            .map(|s| (s.device.as_deref(), s.current))
            .collect();
        assert_eq!(
            devices,
            [
                (Some("Edge on Windows"), false),
                (Some("Firefox on Linux"), true)
            ]
        );
        let phone_handle = listed[0].handle.clone();
        assert!(is_handle(&phone_handle));
        assert_ne!(phone_handle, phone_id.encode(), "never the session id");
        assert_eq!(
            (
                listed[1].provider.as_str(),
                listed[1].provider_name.as_str()
            ),
            ("local", "Local login")
        );
        assert_eq!(
            listed[1].last_seen, None,
            "no idle timeout, no activity kept"
        );
        // Someone else's view: nothing is current.
        let by_admin = layer
            .sessions_of_account("a", &HeaderMap::new())
            .await
            .unwrap();
        assert!(by_admin.iter().all(|s| !s.current) && by_admin.len() == 2);
        let bobs = layer.sessions_of_account("b", &bob).await.unwrap();
        assert_eq!(bobs.len(), 1);
        let by_identity = layer
            .sessions_of_identity(LOCAL_PROVIDER, "local:alice", &phone)
            .await
            .unwrap();
        assert_eq!(by_identity.len(), 2);
        assert!(by_identity[0].current);

        // Another account's handle, or garbage, ends nothing.
        assert!(!layer.end_session("b", &phone_handle).await.unwrap());
        assert!(!layer.end_session("a", "not a handle").await.unwrap());
        assert!(!layer.end_session("a", &bobs[0].handle).await.unwrap());
        assert_eq!(store.len().await, 3);

        // Sign out other sessions: the phone ends, the laptop and bob stay.
        assert_eq!(layer.end_other_sessions("a", &laptop).await.unwrap(), 1);
        assert!(store.load(&phone_id).await.unwrap().is_none());
        assert!(store.load(&laptop_id).await.unwrap().is_some());
        assert!(store.load(&bob_id).await.unwrap().is_some());
        // A handle ends its session once.
        assert!(!layer.end_session("a", &phone_handle).await.unwrap());

        // One by its handle.
        let (_, tablet_id) = sign_in(&layer, "alice", "a", EDGE).await;
        let tablet = layer.sessions_of_account("a", &laptop).await.unwrap()[0].clone();
        assert!(layer.end_session("a", &tablet.handle).await.unwrap());
        assert!(store.load(&tablet_id).await.unwrap().is_none());

        // Everywhere: the laptop too; bob stays.
        assert_eq!(layer.end_sessions_of_account("a").await.unwrap(), 1);
        assert!(store.load(&laptop_id).await.unwrap().is_none());
        assert!(store.load(&bob_id).await.unwrap().is_some());
        assert!(
            layer
                .sessions_of_account("a", &laptop)
                .await
                .unwrap()
                .is_empty()
        );
    }

    /// "Other sessions" from a browser whose session is not the account's ends them all.
    #[tokio::test]
    async fn others_of_an_account_from_outside_it_are_all_of_them() {
        let store = Arc::new(MemoryStore::<SessionData>::new());
        let layer = OidcLayer::new(base().build().unwrap()).with_store(store.clone());
        let (_, a1) = sign_in(&layer, "alice", "a", FIREFOX).await;
        let (_, a2) = sign_in(&layer, "alice", "a", EDGE).await;
        let (bob, bob_id) = sign_in(&layer, "bob", "b", FIREFOX).await;
        assert_eq!(layer.end_other_sessions("a", &bob).await.unwrap(), 2);
        assert!(store.load(&a1).await.unwrap().is_none());
        assert!(store.load(&a2).await.unwrap().is_none());
        assert!(store.load(&bob_id).await.unwrap().is_some());
    }

    /// In front of a remote store, the local copies of what ends are dropped at once (no
    /// stale copy served for the staleness bound).
    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn a_two_tier_store_serves_no_copy_of_an_ended_session() {
        use crate::{TwoTierConfig, TwoTierStore};
        let remote = MemoryStore::<SessionData>::new();
        let two = TwoTierStore::new(remote.clone(), TwoTierConfig::new());
        let layer = OidcLayer::new(base().build().unwrap()).with_store(two.clone());
        let (laptop, laptop_id) = sign_in(&layer, "alice", "a", FIREFOX).await;
        let (_, phone_id) = sign_in(&layer, "alice", "a", EDGE).await;
        assert!(two.load_now(&phone_id).is_some(), "the local tier holds it");
        assert_eq!(layer.end_other_sessions("a", &laptop).await.unwrap(), 1);
        assert!(two.load_now(&phone_id).is_none());
        assert!(two.load(&phone_id).await.unwrap().is_none());
        assert!(two.load(&laptop_id).await.unwrap().is_some());
        assert_eq!(layer.end_sessions_of_account("a").await.unwrap(), 1);
        assert!(two.load_now(&laptop_id).is_none());
        assert!(two.load(&laptop_id).await.unwrap().is_none());
    }
}
