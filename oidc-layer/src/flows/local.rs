//! Local sign-in: a session for a user the app authenticated itself (the break-glass local
//! admin login), behind [`OidcLayer::sign_in_local`](crate::OidcLayer::sign_in_local).

use std::time::SystemTime;

use http::{HeaderMap, HeaderValue};
use serde_json::Map;
use session_store::SessionStore as _;

use crate::identity::{Claims, Identity, IdentityInner};
use crate::record::SessionData;
use crate::session::create::{create, session_cookie};
use crate::session::current::cookie_id;
use crate::state::Shared;

use crate::config::LOCAL_PROVIDER;

/// A user the app authenticated itself (e.g. a local administrator password).
#[derive(Debug, Clone, Default)]
pub struct LocalUser {
    /// The login name.
    pub username: String,
    /// The app's account id (what [`Identity::account`] returns and what
    /// `{prefix}/link` links to); the username when `None`.
    pub account: Option<String>,
    /// The display name.
    pub name: Option<String>,
    /// The email address.
    pub email: Option<String>,
    /// The app roles the session carries.
    pub roles: Vec<String>,
}

/// Why [`OidcLayer::sign_in_local`](crate::OidcLayer::sign_in_local) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalSignInError {
    /// The username is empty.
    #[error("the username must not be empty")]
    EmptyUsername,
    /// The session store failed.
    #[error(transparent)]
    Store(#[from] session_store::Error),
}

/// Signs in a user the app authenticated itself (behind [`OidcLayer::sign_in_local`](crate::OidcLayer::sign_in_local)): ends
/// this browser's previous session, creates the new one and returns its `Set-Cookie` value.
pub(crate) async fn sign_in(
    shared: &Shared,
    request_headers: &HeaderMap,
    user: LocalUser,
) -> Result<HeaderValue, LocalSignInError> {
    let username = user.username.trim().to_owned();
    if username.is_empty() {
        return Err(LocalSignInError::EmptyUsername);
    }
    if let Some(previous) = cookie_id(shared, request_headers) {
        shared.durable.store.delete(&previous).await?;
        tracing::info!(session = %previous, "previous session ended by a local sign-in");
    }
    let now = SystemTime::now();
    // The role order of any provider applies to local users too (an `admin` is `trusted`).
    let mut implied: Vec<String> = Vec::new();
    for map in shared
        .providers
        .iter()
        .filter_map(|p| p.settings.role_map.as_ref())
    {
        for role in map.implied_by(&user.roles) {
            if !implied.contains(&role) && !user.roles.contains(&role) {
                implied.push(role);
            }
        }
    }
    let identity = Identity::from_inner(IdentityInner {
        provider: LOCAL_PROVIDER.into(),
        account: Some(
            user.account
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| username.clone())
                .into(),
        ),
        sub: format!("{LOCAL_PROVIDER}:{username}").into(),
        iss: LOCAL_PROVIDER.into(),
        username: username.into(),
        name: user.name.map(Into::into),
        email: user.email.map(Into::into),
        email_verified: false,
        implied_roles: implied.into(),
        role_explanation: Some("granted by the app's local login".into()),
        roles: user.roles.into(),
        groups: Box::default(),
        claims: Claims::new(&Map::new()),
        token: None,
    });
    tracing::info!(user = identity.username(), "local sign-in");
    let data = SessionData {
        identity,
        id_token: None,
        access_token: None,
        refresh_token: None,
        access_expires_at: None,
        access_issued_at: None,
        created_at: now,
        last_seen: now,
        extra_roles: Box::default(),
        app_data: None,
        // Set by `create`.
        handle: None,
        device: None,
    };
    let id = create(shared, data, Vec::new(), request_headers).await?;
    Ok(
        HeaderValue::from_str(&session_cookie(shared, &id).to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("")),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http::header;
    use session_store::{MemoryStore, SessionStore};

    use super::*;
    use crate::config::test_base as base;
    use crate::web::cookies;
    use crate::{OidcLayer, SessionId};

    /// A layer over a fresh store, and the cookie of one local session made in it.
    async fn layer_with_a_session() -> (OidcLayer, Arc<MemoryStore<SessionData>>, HeaderValue) {
        let store = Arc::new(MemoryStore::<SessionData>::new());
        let config = base().build().expect("a valid configuration");
        let layer = OidcLayer::new(config).with_store(store.clone());
        let cookie = layer
            .sign_in_local(&HeaderMap::new(), root())
            .await
            .expect("signed in");
        (layer, store, cookie)
    }

    /// The request headers of a browser that holds the session cookie `set_cookie`.
    fn browser_with(set_cookie: &HeaderValue) -> HeaderMap {
        let pair = set_cookie
            .to_str()
            .expect("ascii")
            .split(';')
            .next()
            .expect("name=value")
            .to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, pair.parse().expect("a header value"));
        headers
    }

    fn session_of(set_cookie: &HeaderValue) -> SessionId {
        let name = base()
            .build()
            .expect("valid")
            .cookie_names()
            .session()
            .to_owned();
        cookies::session_id(&browser_with(set_cookie), &name).expect("a session cookie")
    }

    fn root() -> LocalUser {
        LocalUser {
            username: "root".into(),
            ..LocalUser::default()
        }
    }

    #[tokio::test]
    async fn a_local_sign_in_ends_the_browsers_previous_session() {
        let (layer, store, first) = layer_with_a_session().await;
        let other_browser = layer
            .sign_in_local(&HeaderMap::new(), root())
            .await
            .expect("signed in");
        assert_eq!(store.len().await, 2);

        let second = layer
            .sign_in_local(&browser_with(&first), root())
            .await
            .expect("signed in");
        let (first, second) = (session_of(&first), session_of(&second));
        assert_ne!(first, second, "a new session id");
        assert!(
            store.load(&first).await.expect("store").is_none(),
            "the old session is gone"
        );
        assert!(store.load(&second).await.expect("store").is_some());
        assert!(
            store
                .load(&session_of(&other_browser))
                .await
                .expect("store")
                .is_some(),
            "another browser's session stays"
        );
        assert_eq!(store.len().await, 2);
    }

    #[tokio::test]
    async fn an_empty_username_creates_no_session_and_ends_none() {
        let (layer, store, first) = layer_with_a_session().await;
        let empty = LocalUser {
            username: " ".into(),
            ..LocalUser::default()
        };
        assert!(matches!(
            layer.sign_in_local(&browser_with(&first), empty).await,
            Err(LocalSignInError::EmptyUsername)
        ));
        assert!(
            store
                .load(&session_of(&first))
                .await
                .expect("store")
                .is_some()
        );
    }
}
