//! The app's after-login hook: runs at the callback once the provider's answer is verified and
//! the identity admitted (required claims, roles, account), before any session exists. It sees
//! the identity, the tokens and the account, and adds app data and extra roles to the session,
//! or refuses the login with a message shown on the refusal page.
//!
//! The session is created only after the hook returns, with what it added, in one store
//! write: a hook that fails, refuses, panics or is too large leaves no session behind (and
//! the browser's previous session, if any, as it was).
//!
//! ```
//! use oidc_layer::{AfterLoginError, Login, LoginAdditions, OidcConfig, OidcLayer};
//!
//! #[derive(serde::Serialize)]
//! struct Preferences { theme: &'static str }
//!
//! async fn after_login(login: Login) -> Result<LoginAdditions, AfterLoginError> {
//!     if login.identity().username() == "mallory" {
//!         return Err(AfterLoginError::refused("Your account is suspended. Contact support."));
//!     }
//!     let mut added = LoginAdditions::new().app_data(&Preferences { theme: "dark" })?;
//!     if login.identity().email().is_some_and(|e| e.ends_with("@example.com")) {
//!         added = added.role("staff");
//!     }
//!     Ok(added)
//! }
//!
//! # fn layer(config: OidcConfig) -> OidcLayer {
//! OidcLayer::new(config).with_after_login(after_login)
//! # }
//! ```

use std::fmt;
use std::future::Future;

use async_trait::async_trait;
use http::HeaderMap;
use serde::Serialize;

use crate::identity::Identity;

/// Extra roles a hook may add at most.
pub const MAX_EXTRA_ROLES: usize = 32;
/// The longest extra role name accepted, in bytes.
const MAX_ROLE_LEN: usize = 128;

/// What the hook sees of a login: the admitted identity (with its account, roles and claims),
/// the provider and the tokens it issued, and the callback request's headers.
///
/// `Debug` shows no token.
#[derive(Clone)]
pub struct Login {
    pub(crate) identity: Identity,
    pub(crate) provider: String,
    pub(crate) access_token: String,
    pub(crate) id_token: String,
    pub(crate) refresh_token: bool,
    pub(crate) headers: HeaderMap,
}

impl Login {
    /// The verified, admitted identity: claims, username, groups, roles, and
    /// [`account`](Identity::account) when an account resolver gave one.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
    /// The provider's slug.
    pub fn provider(&self) -> &str {
        &self.provider
    }
    /// The access token the provider issued (to call its APIs, e.g. a Graph or userinfo API).
    pub fn access_token(&self) -> &str {
        &self.access_token
    }
    /// The ID token, as verified.
    pub fn id_token(&self) -> &str {
        &self.id_token
    }
    /// Whether the provider issued a refresh token (the session then outlives its access token).
    pub fn has_refresh_token(&self) -> bool {
        self.refresh_token
    }
    /// The callback request's headers (`User-Agent`, the proxy's client address headers...).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("identity", &self.identity)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

/// What the hook adds to the session it lets in.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct LoginAdditions {
    pub(crate) roles: Vec<String>,
    pub(crate) app_data: Option<Box<str>>,
}

impl LoginAdditions {
    /// Nothing added: the login goes on as admitted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a role (on top of those the role map gave; kept when a refresh decides the
    /// mapped roles again). At most [`MAX_EXTRA_ROLES`]; an empty role name, one longer than 128
    /// bytes, or one with control characters refuses the login as a hook failure.
    pub fn role(mut self, role: impl Into<String>) -> Self {
        let role = role.into();
        if !self.roles.contains(&role) {
            self.roles.push(role);
        }
        self
    }

    /// The session's app data, as [`AppSession::get`](crate::AppSession::get) will read it.
    /// Checked against [`app_data_max_bytes`](crate::OidcConfigBuilder::app_data_max_bytes)
    /// when the session is created (a value too large fails the login, not the app later).
    pub fn app_data<T: Serialize + ?Sized>(mut self, value: &T) -> Result<Self, AfterLoginError> {
        let text = serde_json::to_string(value).map_err(AfterLoginError::failed)?;
        self.app_data = Some(text.into_boxed_str());
        Ok(self)
    }

    /// Why these additions cannot be stored (a role name, the count, the app data's size).
    pub(crate) fn problem(&self, max_app_data: usize) -> Option<String> {
        if self.roles.len() > MAX_EXTRA_ROLES {
            return Some(format!(
                "{} extra roles (at most {MAX_EXTRA_ROLES})",
                self.roles.len()
            ));
        }
        if let Some(role) = self
            .roles
            .iter()
            .find(|r| r.is_empty() || r.len() > MAX_ROLE_LEN || r.chars().any(char::is_control))
        {
            return Some(format!(
                "the extra role {:?} is empty, longer than {MAX_ROLE_LEN} bytes or has control characters",
                role.chars().take(40).collect::<String>()
            ));
        }
        match &self.app_data {
            Some(data) if data.len() > max_app_data => Some(format!(
                "app data of {} bytes (app_data_max_bytes is {max_app_data})",
                data.len()
            )),
            _ => None,
        }
    }
}

/// Why the hook did not let a login in.
#[derive(Debug)]
#[non_exhaustive]
pub enum AfterLoginError {
    /// The app refuses this person: a 403 page shows the message (escaped) with a way to sign
    /// in with another account. Write it for the person; it is also logged.
    Refused(String),
    /// The hook could not decide (its database is down...): a 503 page asks the person to try
    /// again; the error is logged, never shown.
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

impl AfterLoginError {
    /// A refusal with `message` for the person.
    pub fn refused(message: impl Into<String>) -> Self {
        Self::Refused(message.into())
    }
    /// A failure of the hook itself.
    pub fn failed(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Failed(error.into())
    }
}

impl fmt::Display for AfterLoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(message) => write!(f, "refused: {message}"),
            Self::Failed(error) => write!(f, "failed: {error}"),
        }
    }
}

impl std::error::Error for AfterLoginError {}

/// The after-login hook, installed with
/// [`OidcLayer::with_after_login`](crate::OidcLayer::with_after_login). Any
/// `async fn(Login) -> Result<LoginAdditions, AfterLoginError>` (or closure returning such a
/// future) is one.
///
/// It runs for sign-ins through a provider (not for links of a provider to an account, nor
/// for [`sign_in_local`](crate::OidcLayer::sign_in_local), whose caller is the app already),
/// once per login, not at refreshes. A panic in it is caught and answered like a failure.
#[async_trait]
pub trait AfterLogin: Send + Sync + 'static {
    /// Decides on `login`: what to add to its session, or why not to let it in.
    async fn after_login(&self, login: Login) -> Result<LoginAdditions, AfterLoginError>;
}

#[async_trait]
impl<F, Fut> AfterLogin for F
where
    F: Fn(Login) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<LoginAdditions, AfterLoginError>> + Send,
{
    async fn after_login(&self, login: Login) -> Result<LoginAdditions, AfterLoginError> {
        self(login).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn additions_are_checked_before_a_session_is_made() {
        assert_eq!(LoginAdditions::new().role("a").role("a").roles, ["a"]);
        assert!(LoginAdditions::new().role("a").problem(100).is_none());
        assert!(LoginAdditions::new().role("").problem(100).is_some());
        assert!(LoginAdditions::new().role("a\nb").problem(100).is_some());
        assert!(
            LoginAdditions::new()
                .role("x".repeat(129))
                .problem(100)
                .is_some()
        );
        let many = (0..=MAX_EXTRA_ROLES).fold(LoginAdditions::new(), |a, i| a.role(i.to_string()));
        assert!(many.problem(100).unwrap().contains("33 extra roles"));
        let data = LoginAdditions::new().app_data(&"x".repeat(98)).unwrap();
        assert!(data.problem(100).is_none(), "100 bytes with the quotes");
        let data = LoginAdditions::new().app_data(&"x".repeat(99)).unwrap();
        assert!(data.problem(100).unwrap().contains("101 bytes"));
    }

    #[test]
    fn debug_shows_no_token() {
        let claims = serde_json::json!({"iss": "i", "sub": "s"})
            .as_object()
            .unwrap()
            .clone();
        let login = Login {
            identity: Identity::from_claims(claims).unwrap(),
            provider: "p".into(),
            access_token: "secret-access".into(),
            id_token: "secret-id".into(),
            refresh_token: true,
            headers: HeaderMap::new(),
        };
        assert!(!format!("{login:?}").contains("secret"));
    }
}
