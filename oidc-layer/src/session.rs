//! The session record kept in the store, and the session cookie.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::config::OidcConfig;
use crate::identity::{Identity, IdentityInner};

/// The session's OAuth access token, for apps that call APIs on the user's behalf. In the
/// request extensions when [`expose_access_token`](crate::OidcConfigBuilder::expose_access_token)
/// is on; always the current one (refreshed by the layer before it expires).
///
/// `Debug` does not show the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(Arc<str>);

impl Serialize for AccessToken {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for AccessToken {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

impl AccessToken {
    pub(crate) fn new(token: String) -> Self {
        Self(token.into())
    }
    /// The token, for an `Authorization: Bearer` header.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

/// What the store keeps per logged-in browser: the identity the hot path hands out and the
/// tokens logout and refresh need. `Debug` never shows a token.
#[derive(Clone, Serialize, Deserialize)]
pub struct SessionData {
    #[serde(with = "identity_record")]
    pub(crate) identity: Identity,
    /// The provider's session id (`sid` claim), for back-channel logout.
    pub(crate) sid: Option<String>,
    /// Absent for sessions of the app's own (backup) login.
    pub(crate) id_token: Option<String>,
    pub(crate) access_token: Option<AccessToken>,
    pub(crate) refresh_token: Option<String>,
    /// When the access token expires (if the provider said).
    pub(crate) access_expires_at: Option<SystemTime>,
    pub(crate) created_at: SystemTime,
    /// The last request seen (written at most every tenth of the idle timeout).
    #[serde(default = "unix_epoch")]
    pub(crate) last_seen: SystemTime,
}

fn unix_epoch() -> SystemTime {
    SystemTime::UNIX_EPOCH
}

impl SessionData {
    /// The identity of this session.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
    /// When the session was created (login time).
    pub fn created_at(&self) -> SystemTime {
        self.created_at
    }
}

impl fmt::Debug for SessionData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionData")
            .field("identity", &self.identity)
            .field("sid", &self.sid.is_some())
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// When a new session ends: the configured maximum age (for sessions without tokens).
pub(crate) fn expiry(now: SystemTime, max_age: Duration) -> SystemTime {
    now + max_age
}

/// When a session ends, whichever comes first:
///
/// | limit | applies |
/// |---|---|
/// | `created_at + session_max_age` | always |
/// | `last_seen + session_idle_timeout` | when an idle timeout is set |
/// | the access token's expiry | when there is no refresh token (and `session_follows_token`) |
///
/// A session with a refresh token outlives its access token: the layer refreshes it (and the
/// provider's refusal ends the session).
pub(crate) fn deadline(config: &OidcConfig, data: &SessionData) -> SystemTime {
    let mut end = data.created_at + config.session_max_age;
    if let Some(idle) = config.session_idle_timeout {
        end = end.min(data.last_seen.max(data.created_at) + idle);
    }
    if config.session_follows_token
        && data.refresh_token.is_none()
        && let Some(at) = data.access_expires_at
    {
        end = end.min(at);
    }
    end
}

/// The store tags of a provider session: back-channel logout deletes by `sid` or by `sub`,
/// always within one issuer.
pub(crate) fn tags(iss: &str, sub: &str, sid: Option<&str>) -> Vec<String> {
    let mut tags = vec![sub_tag(iss, sub)];
    if let Some(sid) = sid {
        tags.push(sid_tag(iss, sid));
    }
    tags
}

pub(crate) fn sub_tag(iss: &str, sub: &str) -> String {
    format!("sub {iss} {sub}")
}

pub(crate) fn sid_tag(iss: &str, sid: &str) -> String {
    format!("sid {iss} {sid}")
}

/// Whether the access token is due for a refresh at `now`.
pub(crate) fn needs_refresh(config: &OidcConfig, data: &SessionData, now: SystemTime) -> bool {
    data.refresh_token.is_some()
        && data
            .access_expires_at
            .is_some_and(|at| now + config.refresh_margin >= at)
}

/// Whether the session's activity must be written (idle timeout), at `now`.
pub(crate) fn needs_touch(config: &OidcConfig, data: &SessionData, now: SystemTime) -> bool {
    config
        .session_idle_timeout
        .is_some_and(|idle| now >= data.last_seen.max(data.created_at) + idle / 10)
}

mod identity_record {
    use super::*;

    pub(super) fn serialize<S: serde::Serializer>(
        identity: &Identity,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        identity.inner().serialize(s)
    }
    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Identity, D::Error> {
        IdentityInner::deserialize(d).map(Identity::from_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_tokens_and_serde_roundtrips() {
        let claims = serde_json::json!({"iss": "i", "sub": "s", "groups": ["g"]})
            .as_object()
            .unwrap()
            .clone();
        let data = SessionData {
            identity: Identity::from_claims(claims).unwrap(),
            sid: Some("sid-1".into()),
            id_token: Some("eyJ.secret-id-token".into()),
            access_token: Some(AccessToken::new("secret-access".into())),
            refresh_token: Some("secret-refresh".into()),
            access_expires_at: None,
            created_at: SystemTime::UNIX_EPOCH,
            last_seen: SystemTime::UNIX_EPOCH,
        };
        let debug = format!("{data:?}");
        assert!(!debug.contains("secret"), "{debug}");
        let json = serde_json::to_string(&data).unwrap();
        let back: SessionData = serde_json::from_str(&json).unwrap();
        assert_eq!(back.identity, data.identity);
        assert_eq!(back.identity.claims()["groups"][0], "g");
    }
}
