//! What the app can do with the layer from its own handlers: sign in a user it authenticated
//! itself (the break-glass local admin login), and start linking a provider to an account.

use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response};
use http_body_util::Full;
use serde_json::Map;
use session_store::Record;

use crate::identity::{Claims, Identity, IdentityInner};
use crate::layer::OidcLayer;
use crate::return_to;
use crate::session::{self, SessionData};

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
    /// `local:{username}`. Use it for a root administrator's backup login
    /// ([`OidcConfigBuilder::backup_login_path`](crate::OidcConfigBuilder::backup_login_path)).
    pub async fn sign_in_local(&self, user: LocalUser) -> Result<HeaderValue, LocalSignInError> {
        let username = user.username.trim().to_owned();
        if username.is_empty() {
            return Err(LocalSignInError::EmptyUsername);
        }
        let shared = self.current();
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
            provider: "local".into(),
            account: Some(
                user.account
                    .map(|a| a.trim().to_owned())
                    .filter(|a| !a.is_empty())
                    .unwrap_or_else(|| username.clone()),
            ),
            sub: format!("local:{username}"),
            iss: "local".into(),
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
        let expires_at = session::deadline(&shared.config, &data);
        let id = shared.store.create(Record::new(data, expires_at)).await?;
        let cookie =
            shared
                .cookies
                .build(shared.cookies.session_name.clone(), id.encode(), max_age);
        Ok(HeaderValue::from_str(&cookie.to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("")))
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
