//! The session record kept in the store, and the session cookie.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::identity::{Identity, IdentityInner};

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
    pub(crate) access_token: Option<String>,
    pub(crate) refresh_token: Option<String>,
    /// When the access token expires (if the provider said).
    pub(crate) access_expires_at: Option<SystemTime>,
    pub(crate) created_at: SystemTime,
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

/// When a new session ends: the configured maximum age. (Token-driven lifetime and refresh
/// extend this in the session-lifetime policy.)
pub(crate) fn expiry(now: SystemTime, max_age: Duration) -> SystemTime {
    now + max_age
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
            access_token: Some("secret-access".into()),
            refresh_token: Some("secret-refresh".into()),
            access_expires_at: None,
            created_at: SystemTime::UNIX_EPOCH,
        };
        let debug = format!("{data:?}");
        assert!(!debug.contains("secret"), "{debug}");
        let json = serde_json::to_string(&data).unwrap();
        let back: SessionData = serde_json::from_str(&json).unwrap();
        assert_eq!(back.identity, data.identity);
        assert_eq!(back.identity.claims()["groups"][0], "g");
    }
}
