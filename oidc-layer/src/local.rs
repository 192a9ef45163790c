//! What the app can do with the layer from its own handlers: sign in a user it authenticated
//! itself (the break-glass local admin login), start linking a provider to an account, and
//! check that a form post comes from the app's own pages.

use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response};
use http_body_util::Full;
use serde_json::Map;

use crate::identity::{Claims, Identity, IdentityInner};
use crate::layer::OidcLayer;
use crate::return_to;
use crate::session::SessionData;
use crate::{cookies, origin};

/// The provider slug, issuer and subject prefix of sessions made by
/// [`OidcLayer::sign_in_local`]; no configured provider may use it as its slug.
pub(crate) const LOCAL_PROVIDER: &str = "local";

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

/// Why [`OidcLayer::sign_in_local`] failed.
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

impl OidcLayer {
    /// Creates a session for a user the app authenticated itself and returns the `Set-Cookie`
    /// value to send. Its [`Identity`] has provider and issuer `local` and subject
    /// `local:{username}` (no provider may use the slug `local`). Use it for a root
    /// administrator's backup login
    /// ([`OidcConfigBuilder::backup_login_path`](crate::OidcConfigBuilder::backup_login_path)),
    /// after checking the password with a [`BreakGlassGuard`](crate::BreakGlassGuard).
    ///
    /// `request_headers` are the sign-in request's: the session this browser had before (its
    /// cookie) is deleted from the store, so a session cookie planted in or stolen from this
    /// browser does not survive the sign-in.
    pub async fn sign_in_local(
        &self,
        request_headers: &HeaderMap,
        user: LocalUser,
    ) -> Result<HeaderValue, LocalSignInError> {
        let username = user.username.trim().to_owned();
        if username.is_empty() {
            return Err(LocalSignInError::EmptyUsername);
        }
        let shared = self.current();
        if let Some(previous) = cookies::session_id(request_headers, &shared.cookies.session_name) {
            shared.store.delete(&previous).await?;
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
                    .unwrap_or_else(|| username.clone()),
            ),
            sub: format!("{LOCAL_PROVIDER}:{username}"),
            iss: LOCAL_PROVIDER.into(),
            username,
            name: user.name,
            email: user.email,
            email_verified: false,
            implied_roles: implied,
            role_explanation: Some("granted by the app's local login".into()),
            roles: user.roles,
            groups: Vec::new(),
            claims: Claims::new(&Map::new()),
        });
        tracing::info!(user = identity.username(), "local sign-in");
        let data = SessionData {
            identity,
            sid: None,
            id_token: None,
            access_token: None,
            refresh_token: None,
            access_expires_at: None,
            access_issued_at: None,
            created_at: now,
            last_seen: now,
        };
        let max_age = shared.config.session_max_age;
        let id = crate::user_sessions::create(&shared, data, Vec::new()).await?;
        let cookie =
            shared
                .cookies
                .build(shared.cookies.session_name.clone(), id.encode(), max_age);
        Ok(HeaderValue::from_str(&cookie.to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("")))
    }

    /// Whether a request comes from the app's own pages: [`is_same_origin`](crate::is_same_origin)
    /// against the configured external origin. Check it first in every handler of a
    /// state-changing form (a local login, an "unlink" button), as the layer does for logout
    /// and linking.
    pub fn is_same_origin(&self, request_headers: &HeaderMap) -> bool {
        origin::is_same_origin(request_headers, &self.current().config.external.origin)
    }

    /// Starts linking provider `provider` (its slug; `None` with a single provider) to the app's
    /// account `account_id`, for a user the app has authenticated (e.g. with a local password):
    /// returns the redirect to the provider. After the provider login the account resolver
    /// links the identity to that account and the browser returns to `return_to`. Call it only
    /// from a handler that has checked who the user is, behind a same-origin POST.
    pub async fn start_link(
        &self,
        request_headers: &HeaderMap,
        account_id: impl Into<String>,
        provider: Option<&str>,
        return_to: &str,
    ) -> Response<Full<Bytes>> {
        let shared = self.current();
        let return_to = return_to::sanitize(return_to).unwrap_or_else(|| "/".to_owned());
        crate::link::start(
            &shared,
            request_headers,
            account_id.into(),
            provider,
            return_to,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http::header;
    use session_store::{MemoryStore, SessionStore};

    use super::*;
    use crate::SessionId;
    use crate::config::test_base as base;

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
