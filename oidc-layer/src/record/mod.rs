//! The session record kept in the store, its store tags, and its lifetime rules (when it ends,
//! when its access token is due for a refresh, when its activity must be written).

pub(crate) mod upkeep;

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::config::OidcConfig;
use crate::identity::{Identity, IdentityInner, Source};

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

/// A token the session keeps for the layer's own use (the ID token for logout, the refresh
/// token), in a quarter less memory when it is a JWT: dot-separated base64url segments are
/// kept decoded, and turn back into exactly the same text. Anything else is kept as text.
/// An ID token whose payload is the very JSON text of the identity's claims keeps that text
/// once, shared with the identity ([`SessionData::compact`]).
/// Serializes as the token's text. `Debug` does not show the token.
#[derive(Clone)]
pub(crate) struct StoredToken(Repr);

#[derive(Clone)]
enum Repr {
    Text(Box<str>),
    /// Each segment as a little-endian `u32` length and its decoded bytes.
    Segments(Box<[u8]>),
    /// A JWS of three segments: the first and last as in `Segments`, the middle one (the
    /// payload) the identity's claims text.
    SharedPayload {
        outer: Box<[u8]>,
        payload: Arc<str>,
    },
}

/// Equal when the tokens' texts are.
impl PartialEq for StoredToken {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Repr::Text(a), Repr::Text(b)) => a == b,
            (Repr::Segments(a), Repr::Segments(b)) => a == b,
            _ => self.text() == other.text(),
        }
    }
}

impl Eq for StoredToken {}

impl StoredToken {
    pub(crate) fn new(token: String) -> Self {
        match Self::decode(&token) {
            Some(segments) if Self::encode(&segments).as_deref() == Some(token.as_str()) => {
                Self(Repr::Segments(segments))
            }
            _ => Self(Repr::Text(token.into_boxed_str())),
        }
    }

    /// The token as the provider issued it.
    pub(crate) fn text(&self) -> String {
        match &self.0 {
            Repr::Text(text) => text.to_string(),
            Repr::Segments(segments) => Self::encode(segments).unwrap_or_default(),
            Repr::SharedPayload { outer, payload } => match Self::split(outer).as_deref() {
                Some([header, signature]) => Self::join(&[header, payload.as_bytes(), signature]),
                _ => String::new(),
            },
        }
    }

    /// The decoded payload of a three-segment JWT (a JWS); `None` for anything else.
    fn payload(&self) -> Option<&[u8]> {
        match &self.0 {
            Repr::Text(_) => None,
            Repr::Segments(segments) => match Self::split(segments)?.as_slice() {
                [_, payload, _] => Some(*payload),
                _ => None,
            },
            Repr::SharedPayload { payload, .. } => Some(payload.as_bytes()),
        }
    }

    /// The same token with its payload kept as `payload` (shared), when that is its payload.
    fn with_payload(self, payload: &Arc<str>) -> Self {
        let outer = match &self.0 {
            Repr::Segments(segments) => match Self::split(segments).as_deref() {
                Some([header, middle, signature]) if *middle == payload.as_bytes() => {
                    Self::join_segments(&[header, signature])
                }
                _ => None,
            },
            _ => None,
        };
        match outer {
            Some(outer) => Self(Repr::SharedPayload {
                outer,
                payload: Arc::clone(payload),
            }),
            None => self,
        }
    }

    /// `parts` in the `Segments` form; `None` when one is 4 GiB or more.
    fn join_segments(parts: &[&[u8]]) -> Option<Box<[u8]>> {
        let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 4).sum());
        for part in parts {
            out.extend_from_slice(&u32::try_from(part.len()).ok()?.to_le_bytes());
            out.extend_from_slice(part);
        }
        Some(out.into_boxed_slice())
    }

    /// The segments of the `Segments` form; `None` when malformed.
    fn split(mut segments: &[u8]) -> Option<Vec<&[u8]>> {
        let mut parts = Vec::with_capacity(3);
        while let Some((length, rest)) = segments.split_first_chunk::<4>() {
            let length = usize::try_from(u32::from_le_bytes(*length)).ok()?;
            let (bytes, rest) = rest.split_at_checked(length)?;
            parts.push(bytes);
            segments = rest;
        }
        segments.is_empty().then_some(parts)
    }

    /// The string claim `name` of the token's payload, for a JWT (the ID token, verified when
    /// it was stored); `None` when absent, empty or not a string. Cold: decodes the payload.
    pub(crate) fn string_claim(&self, name: &str) -> Option<String> {
        let mut claims: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(self.payload()?).ok()?;
        match claims.remove(name)? {
            serde_json::Value::String(value) if !value.is_empty() => Some(value),
            _ => None,
        }
    }

    fn decode(token: &str) -> Option<Box<[u8]>> {
        use base64::Engine as _;
        let decoded = (token.split('.'))
            .map(|segment| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(segment))
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        Self::join_segments(&decoded.iter().map(Vec::as_slice).collect::<Vec<_>>())
    }

    fn encode(segments: &[u8]) -> Option<String> {
        Some(Self::join(&Self::split(segments)?))
    }

    /// `parts` base64url-encoded, joined by dots.
    fn join(parts: &[&[u8]]) -> String {
        use base64::Engine as _;
        let mut text = String::new();
        for (i, bytes) in parts.iter().enumerate() {
            if i > 0 {
                text.push('.');
            }
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(bytes, &mut text);
        }
        text
    }
}

impl Serialize for StoredToken {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

impl<'de> Deserialize<'de> for StoredToken {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

impl fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoredToken(***)")
    }
}

/// What the store keeps per logged-in browser: the identity the hot path hands out and the
/// tokens logout and refresh need. `Debug` never shows a token.
///
/// Decoding it keeps an ID token whose payload is the very text of the claims once. (The inherent
/// `SessionData::serialize` and `SessionData::deserialize` are serde's derive with
/// `remote = "Self"`, which the `Serialize` and `Deserialize` impls wrap: use those.)
///
/// `repr(C)`: what every request reads (the identity, the access token's times, whether there
/// is a refresh token) comes first, next to the record's expiry and the `Arc`'s count.
#[derive(Clone, Serialize, Deserialize)]
#[serde(remote = "Self")]
#[repr(C)]
pub struct SessionData {
    #[serde(with = "identity_record")]
    pub(crate) identity: Identity,
    /// When the access token expires (if the provider said).
    pub(crate) access_expires_at: Option<SystemTime>,
    /// When the access token was issued (asked for): with `access_expires_at`, its lifetime,
    /// which bounds the refresh margin. Absent in records written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) access_issued_at: Option<SystemTime>,
    pub(crate) refresh_token: Option<StoredToken>,
    pub(crate) access_token: Option<AccessToken>,
    // Records written with a `sid` field (the provider's session id: never read, it is among
    // the claims and in the store tags) still decode.
    /// Absent for sessions of the app's own (backup) login.
    pub(crate) id_token: Option<StoredToken>,
    pub(crate) created_at: SystemTime,
    /// The last request seen (written at most every tenth of the idle timeout).
    #[serde(default = "unix_epoch")]
    pub(crate) last_seen: SystemTime,
    /// Roles the after-login hook added (kept when a refresh decides the mapped roles again).
    #[serde(default, skip_serializing_if = "<[String]>::is_empty")]
    pub(crate) extra_roles: Box<[String]>,
    /// The app's data (JSON text; see [`AppSession`](crate::AppSession)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) app_data: Option<Box<str>>,
    /// The session's public handle (128 random bits, base64url): what a "your sessions" page
    /// names it by, and its own store tag ([`session_tag`]), so that ending it needs no session
    /// id. Safe to show: it opens nothing. Absent in records written before it was kept
    /// (those sessions are not listed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) handle: Option<Box<str>>,
    /// The browser at login, summarised from fixed names ("Firefox on Linux"), never the
    /// `User-Agent` header itself; absent without the header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) device: Option<Box<str>>,
}

/// Whether the JSON texts `payload` and `claims` are the same object.
fn same_claims(payload: &str, claims: &str) -> bool {
    type Object = serde_json::Map<String, serde_json::Value>;
    match (
        serde_json::from_str::<Object>(payload),
        serde_json::from_str::<Object>(claims),
    ) {
        (Ok(payload), Ok(claims)) => payload == claims,
        _ => false,
    }
}

impl Serialize for SessionData {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Self::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for SessionData {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut data = Self::deserialize(d)?;
        data.share_payload(false);
        Ok(data)
    }
}

fn unix_epoch() -> SystemTime {
    SystemTime::UNIX_EPOCH
}

/// A session record hands out its identity as it holds it (see [`Source`]).
impl Source for session_store::Record<SessionData> {
    fn identity(&self) -> &IdentityInner {
        self.data.identity.inner()
    }
}

impl SessionData {
    /// The identity of the session `record`, sharing the record: what the hot path hands to
    /// the app, without reading (or counting a reference in) the identity's own memory.
    pub(crate) fn identity_of(record: &Arc<session_store::Record<Self>>) -> Identity {
        Identity::from_source(Arc::clone(record) as Arc<dyn Source>)
    }

    /// Keeps the ID token's payload and the identity's claims once when they are the same
    /// claims (no userinfo claim added or changed, none dropped by the cap): the claims are
    /// then kept as the payload's text, shared by both. About 0.4 KB less per session. Done
    /// at login and when a refresh brings a new ID token, where the claims' text was just
    /// written from the verified claims and both are parsed to compare them.
    pub(crate) fn compact(&mut self) {
        self.share_payload(true);
    }

    /// [`SessionData::compact`] when the payload and the claims are the same text (`parse`:
    /// or the same claims written otherwise). A decoded record needs only the first: what this
    /// version stores is already one text, and a decode must not parse the claims twice.
    fn share_payload(&mut self, parse: bool) {
        let Some(token) = self.id_token.take() else {
            return;
        };
        let claims = self.identity.claims_text();
        let shared = match token.payload() {
            Some(payload) if payload == claims.as_bytes() => Some(Arc::clone(claims)),
            Some(payload) if parse => match std::str::from_utf8(payload) {
                Ok(payload) if same_claims(payload, claims) => {
                    let text: Arc<str> = payload.into();
                    self.identity.set_claims_text(Arc::clone(&text));
                    Some(text)
                }
                _ => None,
            },
            _ => None,
        };
        self.id_token = Some(match shared {
            Some(text) => token.with_payload(&text),
            None => token,
        });
    }

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
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
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

/// The tag of every session of the app's account `account` (whatever provider it came from),
/// for listing and ending them.
pub(crate) fn account_tag(account: &str) -> String {
    format!("account {account}")
}

/// The tag of the one session whose handle is `handle` (see [`SessionData::handle`]).
pub(crate) fn session_tag(handle: &str) -> String {
    format!("session {handle}")
}

/// Whether the access token is due for a refresh at `now`: once `refresh_margin` before it
/// expires, but never earlier than half-way through its lifetime as issued.
///
/// A provider issuing tokens that live shorter than the margin (60-s tokens against the
/// default 60-s margin) would otherwise have every token due the moment it is issued: a
/// refresh right after login and again at every request. With at most half the lifetime as
/// margin, each token is refreshed once. Records without an issue time keep the plain margin.
pub(crate) fn needs_refresh(config: &OidcConfig, data: &SessionData, now: SystemTime) -> bool {
    data.refresh_token.is_some() && refresh_due_at(config, data).is_some_and(|due| now >= due)
}

/// When the access token becomes due for a refresh (see [`needs_refresh`]).
fn refresh_due_at(config: &OidcConfig, data: &SessionData) -> Option<SystemTime> {
    let expires = data.access_expires_at?;
    let lifetime = data
        .access_issued_at
        .and_then(|issued| expires.duration_since(issued).ok());
    let margin = lifetime.map_or(config.refresh_margin, |lifetime| {
        config.refresh_margin.min(lifetime / 2)
    });
    Some(
        expires
            .checked_sub(margin)
            .unwrap_or(SystemTime::UNIX_EPOCH),
    )
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
        let mut inner = IdentityInner::deserialize(d)?;
        // Sessions signed in before stateless account ids took their current form.
        if let Some(account) = inner.account.take() {
            inner.account = Some(
                crate::accounts::current_account(account.into(), &inner.iss, &inner.sub).into(),
            );
        }
        Ok(Identity::from_inner(inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_string_claim_is_read_from_a_stored_jwt() {
        use base64::Engine as _;
        let jwt = |payload: &str| {
            let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
            StoredToken::new(format!(
                "{}.{}.c2ln",
                b64(r#"{"alg":"RS256"}"#),
                b64(payload)
            ))
        };
        let token = jwt(r#"{"sub":"s","login_hint":"O.abc","empty":"","n":1}"#);
        assert_eq!(token.string_claim("login_hint").as_deref(), Some("O.abc"));
        for absent in ["empty", "n", "missing"] {
            assert_eq!(token.string_claim(absent), None, "{absent}");
        }
        assert_eq!(StoredToken::new("opaque".into()).string_claim("sub"), None);
    }

    #[test]
    fn debug_hides_tokens_and_serde_roundtrips() {
        let claims = serde_json::json!({"iss": "i", "sub": "s", "groups": ["g"]})
            .as_object()
            .unwrap()
            .clone();
        let data = SessionData {
            identity: Identity::from_claims(claims).unwrap(),
            id_token: Some(StoredToken::new("eyJ.secret-id-token".into())),
            access_token: Some(AccessToken::new("secret-access".into())),
            refresh_token: Some(StoredToken::new("secret-refresh".into())),
            access_expires_at: None,
            access_issued_at: None,
            created_at: SystemTime::UNIX_EPOCH,
            last_seen: SystemTime::UNIX_EPOCH,
            extra_roles: Box::default(),
            app_data: None,
            handle: Some("h".into()),
            device: Some("Firefox on Linux".into()),
        };
        let debug = format!("{data:?}");
        assert!(!debug.contains("secret"), "{debug}");
        let json = serde_json::to_string(&data).unwrap();
        let back: SessionData = serde_json::from_str(&json).unwrap();
        assert_eq!(back.identity, data.identity);
        assert_eq!(back.identity.claims()["groups"][0], "g");
        assert_eq!(
            back.identity.claim("groups"),
            Some(serde_json::json!(["g"]))
        );
        assert_eq!(back.identity.claim("absent"), None);
        assert_eq!(back.handle.as_deref(), Some("h"));
        assert_eq!(back.device.as_deref(), Some("Firefox on Linux"));

        // A record written when stateless account ids were JSON arrays reads in the current
        // form; an account of the app's own is left alone.
        let mut stored = serde_json::to_value(&data).unwrap();
        stored["sid"] = serde_json::json!("sid-1");
        let back: SessionData = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(back.identity, data.identity);
        stored["identity"]["account"] = serde_json::json!(r#"["i","s"]"#);
        let back: SessionData = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(back.identity.account(), Some("i#s"));
        stored["identity"]["account"] = serde_json::json!(r#"["i","other"]"#);
        let back: SessionData = serde_json::from_value(stored).unwrap();
        assert_eq!(back.identity.account(), Some(r#"["i","other"]"#));
        // A record written before handles and devices were kept still reads.
        let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
        let fields = old.as_object_mut().unwrap();
        fields.remove("handle");
        fields.remove("device");
        let back: SessionData = serde_json::from_value(old).unwrap();
        assert_eq!((back.handle, back.device), (None, None));
    }

    #[test]
    fn stored_tokens_give_back_exactly_what_they_were_given() {
        let cases = [
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl",
            "a.b.c",
            "eyJ.eyJ.",
            ".",
            "",
            "..",
            "opaque-refresh-token_0123456789",
            "Zm9v",
            // Not canonical base64url: trailing bits set, padding, other alphabets, spaces.
            "Zm9=.eA",
            "Zm9v.eB",
            "a+b/c.d",
            "a b.c",
            "ünïcødé.x",
            "A",
        ];
        for case in cases {
            let token = StoredToken::new(case.to_owned());
            assert_eq!(token.text(), case, "{case:?}");
            let json = serde_json::to_string(&token).unwrap();
            assert_eq!(json, serde_json::to_string(case).unwrap());
            let back: StoredToken = serde_json::from_str(&json).unwrap();
            assert_eq!(back, token);
        }
        assert!(matches!(
            StoredToken::new("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl".into()).0,
            Repr::Segments(_)
        ));
        assert!(matches!(StoredToken::new("a+b".into()).0, Repr::Text(_)));
        assert_eq!(
            format!("{:?}", StoredToken::new("secret".into())),
            "StoredToken(***)"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_text_round_trips(token in "[A-Za-z0-9_.=+/ -]{0,80}") {
            proptest::prop_assert_eq!(StoredToken::new(token.clone()).text(), token);
        }
    }

    const MINUTE: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    /// A JWS-shaped token (header, `payload` as its JSON, a fake signature).
    fn jwt(payload: &str) -> String {
        use base64::Engine as _;
        let b64 = |s: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!(
            "{}.{}.{}",
            b64(br#"{"alg":"RS256","kid":"k"}"#),
            b64(payload.as_bytes()),
            b64(&[7u8; 256])
        )
    }

    fn with_id_token(claims: serde_json::Value, token: &str) -> SessionData {
        let mut data = data();
        data.identity = Identity::from_claims(claims.as_object().unwrap().clone()).unwrap();
        data.id_token = Some(StoredToken::new(token.to_owned()));
        data
    }

    fn shares(data: &SessionData) -> bool {
        matches!(
            &data.id_token.as_ref().unwrap().0,
            Repr::SharedPayload { payload, .. } if Arc::ptr_eq(payload, data.identity.claims_text())
        )
    }

    #[test]
    fn an_id_token_with_the_identitys_claims_keeps_them_once() {
        // The provider's text: its own key order and spacing; the claims are the same object.
        let payload = r#"{"sub":"s", "iss":"i","groups":["g"],"n":1,"name":"Zoë"}"#;
        let token = jwt(payload);
        let mut data = with_id_token(
            serde_json::json!({"iss": "i", "sub": "s", "groups": ["g"], "n": 1, "name": "Zoë"}),
            &token,
        );
        let before = data.identity.claims().clone();
        data.compact();
        assert!(shares(&data));
        // Nothing an app or the logout sees has changed.
        assert_eq!(data.id_token.as_ref().unwrap().text(), token);
        assert_eq!(&**data.identity.claims_text(), payload);
        assert_eq!(data.identity.claims(), &before);
        assert_eq!(data.identity.claim("name"), Some(serde_json::json!("Zoë")));
        assert_eq!(
            data.id_token
                .as_ref()
                .unwrap()
                .string_claim("sub")
                .as_deref(),
            Some("s")
        );
        assert_eq!(data.id_token, Some(StoredToken::new(token.clone())));

        // Stored and read back: the same texts, still kept once.
        let json = serde_json::to_string(&data).unwrap();
        let back: SessionData = serde_json::from_str(&json).unwrap();
        assert!(shares(&back));
        assert_eq!(back.id_token.as_ref().unwrap().text(), token);
        assert_eq!(back.identity, data.identity);
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }

    #[test]
    fn the_hot_paths_identity_is_the_records_own() {
        let data = with_id_token(
            serde_json::json!({"iss": "i", "sub": "s", "preferred_username": "zoë"}),
            "opaque",
        );
        let record = Arc::new(session_store::Record::new(data, t(600)));
        let identity = SessionData::identity_of(&record);
        assert_eq!(identity, record.data.identity);
        assert!(std::ptr::eq(identity.inner(), record.data.identity.inner()));
        assert_eq!((identity.sub(), identity.username()), ("s", "zoë"));
        // It holds the record (not a copy), and an identity made from it is a plain one.
        assert_eq!(Arc::strong_count(&record), 2);
        let with_account = identity.clone().with_account("a".into(), None);
        assert_eq!(with_account.account(), Some("a"));
        drop(identity);
        assert_eq!(Arc::strong_count(&record), 1);
        assert_eq!(record.data.identity.account(), None);
    }

    #[test]
    fn claims_that_differ_from_the_id_tokens_are_kept_apart() {
        let token = jwt(r#"{"iss":"i","sub":"s"}"#);
        for claims in [
            // Userinfo added a claim, or changed one; a number written otherwise.
            serde_json::json!({"iss": "i", "sub": "s", "email": "a@b"}),
            serde_json::json!({"iss": "i", "sub": "other"}),
        ] {
            let mut data = with_id_token(claims.clone(), &token);
            let text = Arc::clone(data.identity.claims_text());
            data.compact();
            assert!(!shares(&data));
            assert!(Arc::ptr_eq(&text, data.identity.claims_text()));
            assert_eq!(data.id_token.as_ref().unwrap().text(), token);
            assert_eq!(
                &serde_json::Value::Object(data.identity.claims().clone()),
                &claims
            );
        }
        let mut number = with_id_token(
            serde_json::json!({"iss": "i", "sub": "s", "n": 1}),
            &jwt(r#"{"iss":"i","sub":"s","n":1.0}"#),
        );
        number.compact();
        assert!(!shares(&number));
        // Not a JWS (two segments, opaque text, a payload that is no JSON): left as it is.
        for token in ["eyJ.secret-id-token", "opaque", &jwt("not json")] {
            let mut data = with_id_token(serde_json::json!({"iss": "i", "sub": "s"}), token);
            data.compact();
            assert!(!shares(&data));
            assert_eq!(data.id_token.as_ref().unwrap().text(), token);
        }
        let mut none = data();
        none.id_token = None;
        none.compact();
        assert!(none.id_token.is_none());
    }

    fn config(
        change: impl FnOnce(crate::OidcConfigBuilder) -> crate::OidcConfigBuilder,
    ) -> OidcConfig {
        change(
            OidcConfig::builder()
                .issuer("https://id.example.com")
                .client_id("app")
                .external_url("https://app.example.com"),
        )
        .build()
        .unwrap()
    }

    /// A point in time well after the epoch, so that `last_seen` defaults are "before".
    fn t(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + seconds)
    }

    /// A session created at `t(0)`, seen at `t(0)`, with a refresh token and an access token
    /// expiring at `t(300)`.
    fn data() -> SessionData {
        let claims = serde_json::json!({"iss": "i", "sub": "s"})
            .as_object()
            .unwrap()
            .clone();
        SessionData {
            identity: Identity::from_claims(claims).unwrap(),
            id_token: Some(StoredToken::new("id".into())),
            access_token: Some(AccessToken::new("at".into())),
            refresh_token: Some(StoredToken::new("rt".into())),
            access_expires_at: Some(t(300)),
            access_issued_at: None,
            created_at: t(0),
            last_seen: t(0),
            extra_roles: Box::default(),
            app_data: None,
            handle: None,
            device: None,
        }
    }

    #[test]
    fn deadline_is_the_max_age_by_default() {
        let c = config(|b| b);
        assert_eq!(c.session_max_age, 12 * HOUR);
        // The access token's expiry does not end a session that can refresh it.
        assert_eq!(deadline(&c, &data()), t(0) + 12 * HOUR);
        let c = config(|b| b.session_max_age(2 * HOUR));
        assert_eq!(deadline(&c, &data()), t(0) + 2 * HOUR);
        // Activity does not extend the maximum age.
        let seen_late = SessionData {
            last_seen: t(0) + 3 * HOUR,
            ..data()
        };
        assert_eq!(deadline(&c, &seen_late), t(0) + 2 * HOUR);
        // The maximum age is at least a minute.
        let c = config(|b| b.session_max_age(Duration::from_secs(5)));
        assert_eq!(deadline(&c, &data()), t(0) + MINUTE);
    }

    #[test]
    fn deadline_follows_the_access_token_only_without_a_refresh_token() {
        let no_refresh = SessionData {
            refresh_token: None,
            ..data()
        };
        let c = config(|b| b);
        assert!(c.session_follows_token, "the default");
        assert_eq!(deadline(&c, &no_refresh), t(300));
        assert_eq!(deadline(&c, &data()), t(0) + 12 * HOUR);
        // An access token outliving the maximum age does not extend it.
        let long_token = SessionData {
            access_expires_at: Some(t(0) + 24 * HOUR),
            ..no_refresh.clone()
        };
        assert_eq!(deadline(&c, &long_token), t(0) + 12 * HOUR);
        // No `expires_in` from the provider: the maximum age.
        let unknown_expiry = SessionData {
            access_expires_at: None,
            ..no_refresh.clone()
        };
        assert_eq!(deadline(&c, &unknown_expiry), t(0) + 12 * HOUR);
        // Opted out: the session lasts its maximum age whatever the token.
        let c = config(|b| b.session_follows_token(false));
        assert_eq!(deadline(&c, &no_refresh), t(0) + 12 * HOUR);
    }

    #[test]
    fn deadline_with_an_idle_timeout() {
        let c = config(|b| b.session_idle_timeout(30 * MINUTE));
        assert_eq!(c.session_idle_timeout, Some(30 * MINUTE));
        assert_eq!(deadline(&c, &data()), t(0) + 30 * MINUTE);
        // Activity moves the idle deadline...
        let active = SessionData {
            last_seen: t(0) + HOUR,
            ..data()
        };
        assert_eq!(deadline(&c, &active), t(0) + HOUR + 30 * MINUTE);
        // ...but never past the maximum age.
        let c = config(|b| b.session_idle_timeout(30 * MINUTE).session_max_age(HOUR));
        assert_eq!(deadline(&c, &active), t(0) + HOUR);
        // Records written before `last_seen` existed deserialize it as the epoch: the idle
        // timeout then counts from the login, not from 1970.
        let c = config(|b| b.session_idle_timeout(30 * MINUTE));
        let old_record = SessionData {
            last_seen: SystemTime::UNIX_EPOCH,
            ..data()
        };
        assert_eq!(deadline(&c, &old_record), t(0) + 30 * MINUTE);
        // Idle timeout and access expiry (no refresh token): the earlier one.
        let no_refresh = SessionData {
            refresh_token: None,
            ..data()
        };
        assert_eq!(deadline(&c, &no_refresh), t(300));
        let c = config(|b| b.session_idle_timeout(MINUTE));
        assert_eq!(deadline(&c, &no_refresh), t(60));
        // The idle timeout is at least a minute.
        let c = config(|b| b.session_idle_timeout(Duration::from_secs(1)));
        assert_eq!(c.session_idle_timeout, Some(MINUTE));
        assert_eq!(deadline(&c, &data()), t(60));
    }

    #[test]
    fn touch_is_written_every_tenth_of_the_idle_timeout() {
        let c = config(|b| b);
        for now in [t(0), t(59), t(3600), t(0) + 24 * HOUR] {
            assert!(!needs_touch(&c, &data(), now), "no idle timeout, no writes");
        }
        let c = config(|b| b.session_idle_timeout(10 * MINUTE));
        assert!(!needs_touch(&c, &data(), t(0)));
        assert!(!needs_touch(&c, &data(), t(59)));
        assert!(needs_touch(&c, &data(), t(60)));
        assert!(needs_touch(&c, &data(), t(599)));
        let seen = SessionData {
            last_seen: t(100),
            ..data()
        };
        assert!(!needs_touch(&c, &seen, t(159)));
        assert!(needs_touch(&c, &seen, t(160)));
        // A clock that went backwards (last seen "in the future") writes nothing.
        assert!(!needs_touch(&c, &seen, t(50)));
        // An epoch `last_seen` (old record) counts from the login.
        let old_record = SessionData {
            last_seen: SystemTime::UNIX_EPOCH,
            ..data()
        };
        assert!(!needs_touch(&c, &old_record, t(30)));
        assert!(needs_touch(&c, &old_record, t(60)));
    }

    #[test]
    fn refresh_is_due_a_margin_before_the_access_token_expires() {
        let c = config(|b| b);
        assert_eq!(c.refresh_margin, MINUTE, "the default margin");
        assert!(!needs_refresh(&c, &data(), t(0)));
        assert!(!needs_refresh(&c, &data(), t(239)));
        assert!(needs_refresh(&c, &data(), t(240)));
        assert!(needs_refresh(&c, &data(), t(300)));
        assert!(needs_refresh(&c, &data(), t(0) + 24 * HOUR));
        let c = config(|b| b.refresh_margin(Duration::ZERO));
        assert!(!needs_refresh(&c, &data(), t(299)));
        assert!(needs_refresh(&c, &data(), t(300)));
        // The margin is at most an hour.
        let c = config(|b| b.refresh_margin(10 * HOUR));
        assert_eq!(c.refresh_margin, HOUR);
        // Nothing to refresh with, or no known expiry: never due.
        let no_refresh = SessionData {
            refresh_token: None,
            ..data()
        };
        assert!(!needs_refresh(&c, &no_refresh, t(0) + 24 * HOUR));
        let unknown_expiry = SessionData {
            access_expires_at: None,
            ..data()
        };
        assert!(!needs_refresh(&c, &unknown_expiry, t(0) + 24 * HOUR));
    }

    #[test]
    fn the_margin_is_at_most_half_the_token_lifetime_as_issued() {
        // Issued at t(0): a 300-s token, a 60-s token, a 10-s token.
        let issued = |lifetime: u64| SessionData {
            access_issued_at: Some(t(0)),
            access_expires_at: Some(t(lifetime)),
            ..data()
        };
        let c = config(|b| b);
        // Longer than twice the margin: the margin applies.
        assert!(!needs_refresh(&c, &issued(300), t(239)));
        assert!(needs_refresh(&c, &issued(300), t(240)));
        // As long as the margin: not right after it was issued, half-way through.
        for lifetime in [60, 10] {
            let data = issued(lifetime);
            assert!(!needs_refresh(&c, &data, t(0)), "{lifetime} s, just issued");
            assert!(
                !needs_refresh(&c, &data, t(lifetime / 2 - 1)),
                "{lifetime} s"
            );
            assert!(needs_refresh(&c, &data, t(lifetime / 2)), "{lifetime} s");
            assert!(needs_refresh(&c, &data, t(lifetime)), "{lifetime} s");
        }
        // A smaller margin than half the lifetime stays.
        let c = config(|b| b.refresh_margin(Duration::from_secs(10)));
        assert!(!needs_refresh(&c, &issued(60), t(49)));
        assert!(needs_refresh(&c, &issued(60), t(50)));
        // Issued "after" its expiry (a clock step): no lifetime, the plain margin.
        let odd = SessionData {
            access_issued_at: Some(t(400)),
            ..issued(300)
        };
        assert!(needs_refresh(&c, &odd, t(290)));
        // The issue time survives the store.
        let json = serde_json::to_string(&issued(60)).unwrap();
        let back: SessionData = serde_json::from_str(&json).unwrap();
        assert_eq!(back.access_issued_at, Some(t(0)));
    }
}
