//! The verified identity handed to the inner service ([`Identity`]), the answer when there is
//! none ([`MissingIdentity`], for any framework), and the axum extractors.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::claims::{ClaimPath, claim_values};

/// Who is logged in: the provider's verified claims and the roles derived from them.
///
/// Cheap to clone (an `Arc`). Serializes to the JSON an app usually shows (`sub`, `iss`,
/// `username`, `name`, `email`, `email_verified`, `roles`, `groups`); the raw claims are
/// available through [`Identity::claims`] and [`Identity::claim`].
///
/// The verified identity handed to the inner service, and its axum extractors.
///
/// ```
/// use axum::{routing::get, Json, Router};
/// use oidc_layer::Identity;
///
/// async fn me(identity: Identity) -> Json<Identity> {
///     Json(identity)
/// }
/// async fn home(identity: Option<Identity>) -> String {
///     match identity {
///         Some(id) => format!("hello {}", id.username()),
///         None => "hello stranger".to_owned(),
///     }
/// }
/// let app: Router = Router::new().route("/me", get(me)).route("/", get(home));
/// ```
#[derive(Clone)]
pub struct Identity(Arc<dyn Source>);

/// Where an [`Identity`] is kept: its own allocation, or the session record that holds it
/// (the hot path hands out the record's, without touching the identity's memory: a handler
/// that reads it pays that read, one that does not, nothing).
pub(crate) trait Source: Send + Sync {
    fn identity(&self) -> &IdentityInner;
}

impl Source for IdentityInner {
    fn identity(&self) -> &IdentityInner {
        self
    }
}

/// Equal when what they say is.
impl PartialEq for Identity {
    fn eq(&self, other: &Self) -> bool {
        self.inner() == other.inner()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct IdentityInner {
    /// The slug of the provider the user logged in with (`local` for the app's own login).
    pub(crate) provider: Box<str>,
    /// The app's account id, as the account resolver decided.
    pub(crate) account: Option<Box<str>>,
    pub(crate) sub: Box<str>,
    pub(crate) iss: Box<str>,
    pub(crate) username: Box<str>,
    pub(crate) name: Option<Box<str>>,
    pub(crate) email: Option<Box<str>>,
    pub(crate) email_verified: bool,
    pub(crate) roles: Box<[String]>,
    /// Roles held through the role order (an `admin` also holds `trusted` when
    /// `untrusted < trusted < admin`); what [`Identity::has_role`] checks.
    #[serde(default)]
    pub(crate) implied_roles: Box<[String]>,
    /// Why the user has these roles (for an admin page or logs).
    #[serde(default)]
    pub(crate) role_explanation: Option<Box<str>>,
    pub(crate) groups: Box<[String]>,
    pub(crate) claims: Claims,
    /// What the access token says beyond the claims; `None` for sessions (never stored).
    #[serde(skip)]
    pub(crate) token: Option<Box<TokenFacts>>,
}

/// What an access token says beyond its claims ([`Identity::with_token`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TokenFacts {
    authentication: Authentication,
    /// The access token's scopes (`scope` words or `scp` list).
    scopes: Vec<String>,
    /// The OAuth client the access token was issued to (`client_id`, else `azp`).
    client_id: Option<String>,
    /// Whether the token was issued to a client acting for itself (no user).
    machine: bool,
}

/// How a request proved its [`Identity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Authentication {
    /// A browser session (the session cookie), made at a login.
    #[default]
    Session,
    /// An `Authorization: Bearer` access token.
    Bearer,
    /// An `Authorization: DPoP` access token with its proof of possession (RFC 9449).
    Dpop,
}

/// Every verified claim, kept as JSON text: a parsed map costs about five times the
/// memory (a `String` and a `Value` per claim), for every session in the store, while apps
/// read raw claims rarely. Parsed the first time an app asks ([`Identity::claims`]) and kept
/// with the session from then on. Serializes as the claims' JSON object.
///
/// The text is shared (an `Arc`): when the claims are exactly the ID token's, the session keeps
/// the ID token's payload as this very text ([`SessionData::compact`](crate::SessionData)).
#[derive(Debug, Clone)]
pub(crate) struct Claims {
    /// A JSON object (or `null`), as compact JSON or as a provider wrote it.
    text: Arc<str>,
    parsed: OnceLock<Box<Map<String, Value>>>,
}

impl Serialize for Claims {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The text is JSON (checked when it was made): written as it is.
        let raw: &RawValue = serde_json::from_str(&self.text).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Claims {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        Ok(Self::from_text(raw.get().into()))
    }
}

/// The most a session keeps of verified claims (ID token and userinfo merged), as JSON text.
/// Larger claims are trimmed by [`Claims::capped`]: a provider (or a user who can edit their
/// profile) must not be able to make every session of a user, held in memory and in Redis,
/// arbitrarily large.
pub(crate) const MAX_STORED_CLAIMS: usize = 32 * 1024;

/// Claims never dropped to fit [`MAX_STORED_CLAIMS`]: who the user is and which provider
/// session it is (back-channel logout finds sessions by them).
const ALWAYS_KEPT: [&str; 3] = ["iss", "sub", "sid"];

/// Trims `claims` to [`MAX_STORED_CLAIMS`]: while their JSON is larger, the largest claim is
/// dropped (never `iss`, `sub` or `sid`), with a log line naming what was dropped;
/// [`Identity::claim`] then answers `None` for those.
fn cap_claims(claims: &mut Map<String, Value>) {
    let json_len = |v: &Value| serde_json::to_string(v).map_or(0, |text| text.len());
    let total = serde_json::to_string(&*claims).map_or(0, |text| text.len());
    if total <= MAX_STORED_CLAIMS {
        return;
    }
    // Each claim is `"name":value,` in the JSON text.
    let mut by_size: Vec<(usize, String)> = (claims.iter())
        .filter(|(name, _)| !ALWAYS_KEPT.contains(&name.as_str()))
        .map(|(name, value)| {
            let name_len = json_len(&Value::String(name.clone()));
            (name_len + json_len(value) + 2, name.clone())
        })
        .collect();
    by_size.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut left = total;
    let mut dropped = Vec::new();
    for (size, name) in by_size {
        if left <= MAX_STORED_CLAIMS {
            break;
        }
        claims.remove(&name);
        left = left.saturating_sub(size);
        dropped.push(name);
    }
    tracing::warn!(
        sub = claims
            .get("sub")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default(),
        bytes = total,
        kept_bytes = left,
        cap = MAX_STORED_CLAIMS,
        ?dropped,
        "claims larger than the cap: the largest were not kept with the session"
    );
}

impl Claims {
    /// `claims` as compact JSON text (a map of JSON values always serializes; `null`, read as
    /// no claims, if it somehow did not).
    pub(crate) fn new(claims: &Map<String, Value>) -> Self {
        Self::from_text(serde_json::to_string(claims).map_or_else(|_| "null".into(), Into::into))
    }

    /// Claims whose JSON text (an object, or `null`) is `text`.
    pub(crate) fn from_text(text: Arc<str>) -> Self {
        Self {
            text,
            parsed: OnceLock::new(),
        }
    }

    /// The claims' JSON text.
    pub(crate) fn text(&self) -> &Arc<str> {
        &self.text
    }

    fn map(&self) -> &Map<String, Value> {
        self.parsed
            .get_or_init(|| Box::new(serde_json::from_str(&self.text).unwrap_or_default()))
    }

    fn get(&self, name: &str) -> Option<Value> {
        let claims: std::collections::HashMap<std::borrow::Cow<'_, str>, &RawValue> =
            serde_json::from_str(&self.text).ok()?;
        serde_json::from_str(claims.get(name)?.get()).ok()
    }
}

/// Equal when the JSON text is (parsed or not).
impl PartialEq for Claims {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Identity {
    /// Builds the identity from verified ID-token claims (`iss` and `sub` must be present),
    /// with the default claims: `preferred_username` and `groups`.
    #[cfg(test)]
    pub(crate) fn from_claims(claims: Map<String, Value>) -> Option<Self> {
        Self::build(
            claims,
            "default",
            &ClaimPath::new("preferred_username"),
            &ClaimPath::new("groups"),
        )
    }

    /// Builds the identity from verified claims of `provider`, reading the username and the
    /// groups from the configured claims. `None` when `iss` or `sub` is missing or empty.
    pub(crate) fn build(
        mut claims: Map<String, Value>,
        provider: &str,
        username_claim: &ClaimPath,
        groups_claim: &ClaimPath,
    ) -> Option<Self> {
        // Groups from every claim: the roles are decided from them at login.
        let groups = groups_claim
            .lookup(&claims)
            .map(claim_values)
            .unwrap_or_default();
        // What is kept is read from the capped claims, so a dropped claim is gone everywhere.
        cap_claims(&mut claims);
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(Box::<str>::from)
        };
        let sub = text("sub")?;
        let iss = text("iss")?;
        let username = username_claim
            .lookup(&claims)
            .and_then(|v| match v {
                Value::String(s) if !s.trim().is_empty() => Some(s.trim().into()),
                Value::Number(n) => Some(n.to_string().into()),
                _ => None,
            })
            .unwrap_or_else(|| sub.clone());
        Some(Self::from_inner(IdentityInner {
            provider: provider.into(),
            account: None,
            name: text("name"),
            email: text("email"),
            // Only a JSON `true` counts: `"true"` or a missing claim is not a verified email.
            email_verified: claims.get("email_verified") == Some(&Value::Bool(true)),
            username,
            sub,
            iss,
            roles: Box::default(),
            implied_roles: Box::default(),
            role_explanation: None,
            groups: groups.into(),
            claims: Claims::new(&claims),
            token: None,
        }))
    }

    /// The slug of the provider the user logged in with (`local` for the app's own login).
    pub fn provider(&self) -> &str {
        &self.inner().provider
    }
    /// The app's account id, when an account resolver assigned one.
    pub fn account(&self) -> Option<&str> {
        self.inner().account.as_deref()
    }
    /// The subject: the provider's stable id for the user (unique per issuer).
    pub fn sub(&self) -> &str {
        &self.inner().sub
    }
    /// The issuer that vouched for this identity.
    pub fn iss(&self) -> &str {
        &self.inner().iss
    }
    /// The login name (`preferred_username`, falling back to `sub`).
    pub fn username(&self) -> &str {
        &self.inner().username
    }
    /// The display name, when the provider sent one.
    pub fn name(&self) -> Option<&str> {
        self.inner().name.as_deref()
    }
    /// The email address, when the provider sent one.
    pub fn email(&self) -> Option<&str> {
        self.inner().email.as_deref()
    }
    /// Whether the provider asserted (with a JSON `true`) that the email is verified.
    pub fn email_verified(&self) -> bool {
        self.inner().email_verified
    }
    /// The app roles of this user.
    pub fn roles(&self) -> &[String] {
        &self.inner().roles
    }
    /// Whether the user has `role`, directly or through the role order (with
    /// `untrusted < trusted < admin`, an admin has `trusted` too).
    pub fn has_role(&self, role: &str) -> bool {
        self.inner()
            .roles
            .iter()
            .chain(&self.inner().implied_roles)
            .any(|r| r == role)
    }
    /// Why the user has these roles: which claim values matched which rules.
    pub fn role_explanation(&self) -> Option<&str> {
        self.inner().role_explanation.as_deref()
    }
    /// The provider groups of this user (from the `groups` claim).
    pub fn groups(&self) -> &[String] {
        &self.inner().groups
    }
    /// Every verified claim: the ID token's, and the userinfo endpoint's when
    /// `fetch_userinfo` is on (updated at each refresh that brings a new ID token).
    ///
    /// Sessions keep the claims as compact JSON text; the first call parses them and keeps the
    /// map with the session (about 3 KB more for twenty claims). [`Identity::claim`] reads one
    /// claim without keeping anything.
    pub fn claims(&self) -> &Map<String, Value> {
        self.inner().claims.map()
    }
    /// One verified claim by name (top level), e.g. `identity.claim("locale")`.
    pub fn claim(&self, name: &str) -> Option<Value> {
        self.inner().claims.get(name)
    }

    /// How this request proved the identity: a session, or an access token.
    pub fn authentication(&self) -> Authentication {
        self.inner()
            .token
            .as_ref()
            .map_or(Authentication::Session, |t| t.authentication)
    }
    /// The access token's scopes (its `scope` words, or its `scp` list); empty for sessions,
    /// whose scopes were the app's own login request.
    pub fn scopes(&self) -> &[String] {
        self.inner().token.as_ref().map_or(&[], |t| &t.scopes)
    }
    /// Whether the access token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().iter().any(|s| s == scope)
    }
    /// The OAuth client the access token was issued to (its `client_id` claim, else `azp`);
    /// `None` for sessions.
    pub fn client_id(&self) -> Option<&str> {
        self.inner().token.as_ref()?.client_id.as_deref()
    }
    /// Whether a program acting for itself made the request: an access token issued to a client
    /// for itself (client credentials: `sub` is the client id, or no user claims), not for a
    /// user. Always `false` for sessions.
    pub fn is_machine(&self) -> bool {
        self.inner().token.as_ref().is_some_and(|t| t.machine)
    }

    /// A copy carrying what an access token says beyond the claims (done once per token).
    pub(crate) fn with_token(
        self,
        authentication: Authentication,
        scopes: Vec<String>,
        client_id: Option<String>,
        machine: bool,
    ) -> Self {
        let mut inner = self.inner().clone();
        inner.token = Some(Box::new(TokenFacts {
            authentication,
            scopes,
            client_id,
            machine,
        }));
        Self::from_inner(inner)
    }

    /// A copy with roles set (done once at login).
    pub(crate) fn with_roles(
        self,
        roles: Vec<String>,
        implied: Vec<String>,
        explanation: Option<String>,
    ) -> Self {
        let mut inner = self.inner().clone();
        inner.roles = roles.into();
        inner.implied_roles = implied.into();
        inner.role_explanation = explanation.map(Into::into);
        Self::from_inner(inner)
    }

    /// A copy with `extra` roles (the after-login hook's) added to the mapped ones, and the
    /// roles they imply; the explanation says which roles the app added.
    pub(crate) fn with_extra_roles(self, extra: &[String], implied: Vec<String>) -> Self {
        if extra.is_empty() {
            return self;
        }
        let mut inner = self.inner().clone();
        let added: Vec<&String> = extra.iter().filter(|r| !inner.roles.contains(r)).collect();
        if !added.is_empty() {
            let note = format!(
                "added by the app at login: {}",
                added
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            inner.role_explanation = Some(match inner.role_explanation.take() {
                Some(why) => format!("{why}; {note}").into(),
                None => note.into(),
            });
            let mut roles = std::mem::take(&mut inner.roles).into_vec();
            roles.extend(added.into_iter().cloned());
            inner.roles = roles.into();
        }
        let mut implied_roles = std::mem::take(&mut inner.implied_roles).into_vec();
        for role in implied {
            if !implied_roles.contains(&role) && !inner.roles.contains(&role) {
                implied_roles.push(role);
            }
        }
        inner.implied_roles = implied_roles.into();
        Self::from_inner(inner)
    }

    /// A copy attached to the app's account (done once at login).
    pub(crate) fn with_account(self, account: String, username: Option<String>) -> Self {
        let mut inner = self.inner().clone();
        inner.account = Some(account.into());
        if let Some(username) = username {
            inner.username = username.into();
        }
        Self::from_inner(inner)
    }

    /// The JSON text the claims are kept as.
    pub(crate) fn claims_text(&self) -> &Arc<str> {
        self.inner().claims.text()
    }

    /// Keeps the claims as `text`, which must be the same claims (another JSON text of them).
    pub(crate) fn set_claims_text(&mut self, text: Arc<str>) {
        let mut inner = self.inner().clone();
        inner.claims = Claims::from_text(text);
        *self = Self::from_inner(inner);
    }

    pub(crate) fn inner(&self) -> &IdentityInner {
        self.0.identity()
    }
    pub(crate) fn from_inner(inner: IdentityInner) -> Self {
        Self(Arc::new(inner))
    }

    /// The identity `source` holds (a session record's: see [`Source`]).
    pub(crate) fn from_source(source: Arc<dyn Source>) -> Self {
        Self(source)
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("iss", &self.inner().iss)
            .field("sub", &self.inner().sub)
            .field("username", &self.inner().username)
            .finish_non_exhaustive()
    }
}

impl Serialize for Identity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            provider: &'a str,
            account: Option<&'a str>,
            sub: &'a str,
            iss: &'a str,
            username: &'a str,
            name: Option<&'a str>,
            email: Option<&'a str>,
            email_verified: bool,
            roles: &'a [String],
            groups: &'a [String],
            authentication: Authentication,
            #[serde(skip_serializing_if = "<[String]>::is_empty")]
            scopes: &'a [String],
            #[serde(skip_serializing_if = "Option::is_none")]
            client_id: Option<&'a str>,
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            machine: bool,
        }
        let i = self.inner();
        View {
            provider: &i.provider,
            account: i.account.as_deref(),
            sub: &i.sub,
            iss: &i.iss,
            username: &i.username,
            name: i.name.as_deref(),
            email: i.email.as_deref(),
            email_verified: i.email_verified,
            roles: &i.roles,
            groups: &i.groups,
            authentication: self.authentication(),
            scopes: self.scopes(),
            client_id: self.client_id(),
            machine: self.is_machine(),
        }
        .serialize(serializer)
    }
}

/// The answer to a request that carries no verified [`Identity`]: on a public path without a
/// session, or when `OidcLayer` is not applied to the route. It is what a protected resource
/// says to someone not signed in, whatever the framework: `401` with
/// `application/problem+json` (RFC 9457) and `WWW-Authenticate: OIDC`, the scheme of the
/// layer's own challenge (RFC 9110 section 15.5.2: a `401` names how to authenticate).
///
/// axum answers it as the rejection of the [`Identity`] extractor (feature `axum`); a hyper or
/// plain tower handler gets it from [`Identity::of`] and answers
/// [`MissingIdentity::into_http_response`] (or `http::Response::from(missing)`):
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use oidc_layer::Identity;
///
/// fn me<B>(request: &http::Request<B>) -> http::Response<Full<Bytes>> {
///     match Identity::of(request) {
///         Ok(identity) => http::Response::new(Full::from(format!("hello {}", identity.username()))),
///         Err(missing) => missing.into_http_response(),
///     }
/// }
/// // Without the layer (or on a public path without a session):
/// let answer = me(&http::Request::new(()));
/// assert_eq!(answer.status(), 401);
/// assert_eq!(answer.headers()["content-type"], "application/problem+json");
/// assert_eq!(answer.headers()["www-authenticate"], "OIDC");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingIdentity;

impl std::fmt::Display for MissingIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no verified identity on this request (public path without a session, or OidcLayer not applied)")
    }
}
impl std::error::Error for MissingIdentity {}

impl MissingIdentity {
    /// `401` with `application/problem+json` (`type`, `title`, `status`, `detail`), the
    /// layer's protective headers (`Cache-Control: no-store`, `nosniff`...) and
    /// `WWW-Authenticate: OIDC`. Map the body to your own type with `Response::map` (e.g.
    /// `.map(BoxBody::new)`).
    /// (Not `into_response`: with axum, `IntoResponse::into_response` answers the same as
    /// an axum `Response`.)
    pub fn into_http_response(self) -> http::Response<http_body_util::Full<bytes::Bytes>> {
        let mut response = crate::pages::Problem::new(
            http::StatusCode::UNAUTHORIZED,
            "Authentication required",
            self.to_string(),
        )
        .into_json_response();
        response.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("OIDC"),
        );
        response
    }
}

impl From<MissingIdentity> for http::Response<http_body_util::Full<bytes::Bytes>> {
    fn from(missing: MissingIdentity) -> Self {
        missing.into_http_response()
    }
}

impl Identity {
    /// The verified identity the layer put in `request`'s extensions, or the
    /// [`MissingIdentity`] answer to send instead. For handlers without axum's extractors
    /// (hyper, plain tower); [`Identity::in_extensions`] takes the extensions alone (e.g. of
    /// `http::request::Parts`).
    pub fn of<B>(request: &http::Request<B>) -> Result<&Identity, MissingIdentity> {
        Self::in_extensions(request.extensions())
    }

    /// The verified identity in `extensions` (a request's), or [`MissingIdentity`].
    pub fn in_extensions(extensions: &http::Extensions) -> Result<&Identity, MissingIdentity> {
        extensions.get::<Identity>().ok_or(MissingIdentity)
    }
}

#[cfg(feature = "axum")]
mod extract {
    use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum_core::response::{IntoResponse, Response};
    use http::request::Parts;

    use super::{Identity, MissingIdentity};

    /// The rejection of the [`Identity`] extractor: the same answer a hyper handler gets from
    /// [`MissingIdentity::into_http_response`].
    impl IntoResponse for MissingIdentity {
        fn into_response(self) -> Response {
            self.into_http_response().map(axum_core::body::Body::new)
        }
    }

    impl<S: Send + Sync> FromRequestParts<S> for Identity {
        type Rejection = MissingIdentity;
        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Self, Self::Rejection> {
            Identity::in_extensions(&parts.extensions).cloned()
        }
    }

    impl<S: Send + Sync> OptionalFromRequestParts<S> for Identity {
        type Rejection = std::convert::Infallible;
        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            Ok(parts.extensions.get::<Identity>().cloned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn username_falls_back_to_sub_and_email_verified_is_strict() {
        let id = Identity::from_claims(claims(
            json!({"iss": "i", "sub": "s", "email_verified": "true"}),
        ))
        .unwrap();
        assert_eq!(id.username(), "s");
        assert!(!id.email_verified());
        let id = Identity::from_claims(claims(json!({"iss": "i", "sub": "s", "preferred_username": "al", "email_verified": true, "groups": "a, b"}))).unwrap();
        assert_eq!(id.username(), "al");
        assert!(id.email_verified());
        assert_eq!(id.groups(), ["a", "b"]);
        assert!(Identity::from_claims(claims(json!({"iss": "i"}))).is_none());
        assert!(Identity::from_claims(claims(json!({"iss": "i", "sub": ""}))).is_none());
    }

    #[test]
    fn oversized_claims_lose_their_largest_never_iss_sub_sid() {
        let big = "x".repeat(MAX_STORED_CLAIMS);
        let half = "y".repeat(MAX_STORED_CLAIMS / 2);
        let id = Identity::from_claims(claims(json!({
            "iss": "i", "sub": "s", "sid": "p",
            "picture": big, "name": half, "groups": ["a", "b"],
            "preferred_username": "al", "locale": "fr",
        })))
        .unwrap();
        let stored = serde_json::to_string(id.claims()).unwrap();
        assert!(
            stored.len() <= MAX_STORED_CLAIMS,
            "{} bytes kept",
            stored.len()
        );
        // The largest went; what fits next to the rest stayed.
        assert_eq!(id.claim("picture"), None);
        assert_eq!(id.claim("name"), Some(json!(half)));
        assert_eq!(id.name(), Some(half.as_str()));
        for kept in ["iss", "sub", "sid", "locale", "preferred_username"] {
            assert!(id.claim(kept).is_some(), "{kept} was dropped");
        }
        assert_eq!(id.groups(), ["a", "b"]);
        // A dropped claim is gone from the derived fields too.
        let id =
            Identity::from_claims(claims(json!({"iss": "i", "sub": "s", "name": big}))).unwrap();
        assert_eq!((id.claim("name"), id.name()), (None, None));
        // Protocol claims stay even when they alone are over the cap.
        let id = Identity::from_claims(claims(json!({"iss": "i", "sub": big}))).unwrap();
        assert_eq!(id.sub(), big);
    }

    #[test]
    fn claims_are_parsed_once_and_kept() {
        let id =
            Identity::from_claims(claims(json!({"iss": "i", "sub": "s", "locale": "fr"}))).unwrap();
        assert_eq!(id.claims()["locale"], "fr");
        assert!(std::ptr::eq(id.claims(), id.claims()));
        assert_eq!(id.claim("locale"), Some(json!("fr")));
        // A copy made before the first parse compares equal and parses on its own.
        let other =
            Identity::from_claims(claims(json!({"iss": "i", "sub": "s", "locale": "fr"}))).unwrap();
        assert_eq!(id, other);
        assert_eq!(other.claims(), id.claims());
    }

    #[test]
    fn token_fields_default_for_sessions_and_stored_records_stay_compatible() {
        let id = Identity::from_claims(claims(json!({"iss": "i", "sub": "s"}))).unwrap();
        assert_eq!(id.authentication(), Authentication::Session);
        assert!(id.scopes().is_empty() && id.client_id().is_none() && !id.is_machine());
        // A session's stored record carries none of the token fields...
        let stored = serde_json::to_value(id.inner()).unwrap();
        for absent in ["authentication", "scopes", "client_id", "machine"] {
            assert!(stored.get(absent).is_none(), "{absent} in {stored}");
        }
        // ...and a record written before they existed reads as a session.
        let back: IdentityInner = serde_json::from_value(stored).unwrap();
        assert_eq!(Identity::from_inner(back), id);
        let token = id.with_token(
            Authentication::Bearer,
            vec!["read".into()],
            Some("cli".into()),
            true,
        );
        assert!(token.has_scope("read") && !token.has_scope("write"));
        assert_eq!(
            (
                token.authentication(),
                token.client_id(),
                token.is_machine()
            ),
            (Authentication::Bearer, Some("cli"), true)
        );
        let v = serde_json::to_value(&token).unwrap();
        assert_eq!(v["authentication"], "bearer");
        assert_eq!(v["scopes"], json!(["read"]));
        assert_eq!(v["machine"], true);
    }

    #[test]
    fn json_view_has_no_raw_claims() {
        let id = Identity::from_claims(claims(json!({"iss": "i", "sub": "s", "secret_claim": 1})))
            .unwrap();
        let v = serde_json::to_value(&id).unwrap();
        assert_eq!(v["sub"], "s");
        assert!(v.get("secret_claim").is_none() && v.get("claims").is_none());
    }
}
