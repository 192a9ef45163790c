//! The verified identity handed to the inner service, and its axum extractors.
//!
//! ```
//! use axum::{routing::get, Json, Router};
//! use oidc_layer::Identity;
//!
//! async fn me(identity: Identity) -> Json<Identity> {
//!     Json(identity)
//! }
//! async fn home(identity: Option<Identity>) -> String {
//!     match identity {
//!         Some(id) => format!("hello {}", id.username()),
//!         None => "hello stranger".to_owned(),
//!     }
//! }
//! let app: Router = Router::new().route("/me", get(me)).route("/", get(home));
//! ```

use std::sync::Arc;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

/// Who is logged in: the provider's verified claims and the roles derived from them.
///
/// Cheap to clone (an `Arc`). Serializes to the JSON an app usually shows (`sub`, `iss`,
/// `username`, `name`, `email`, `email_verified`, `roles`, `groups`); the raw claims are
/// available through [`Identity::claims`].
#[derive(Clone, PartialEq)]
pub struct Identity(Arc<IdentityInner>);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct IdentityInner {
    pub(crate) sub: String,
    pub(crate) iss: String,
    pub(crate) username: String,
    pub(crate) name: Option<String>,
    pub(crate) email: Option<String>,
    pub(crate) email_verified: bool,
    pub(crate) roles: Vec<String>,
    pub(crate) groups: Vec<String>,
    pub(crate) claims: Map<String, Value>,
}

impl Identity {
    /// Builds the identity from verified ID-token claims (`iss` and `sub` must be present).
    pub(crate) fn from_claims(claims: Map<String, Value>) -> Option<Self> {
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let sub = text("sub")?;
        let iss = text("iss")?;
        let username = text("preferred_username").unwrap_or_else(|| sub.clone());
        let groups = match claims.get("groups") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(s)) => crate::config::split_words(s),
            _ => Vec::new(),
        };
        Some(Self(Arc::new(IdentityInner {
            name: text("name"),
            email: text("email"),
            // Only a JSON `true` counts: `"true"` or a missing claim is not a verified email.
            email_verified: claims.get("email_verified") == Some(&Value::Bool(true)),
            username,
            sub,
            iss,
            roles: Vec::new(),
            groups,
            claims,
        })))
    }

    /// The subject: the provider's stable id for the user (unique per issuer).
    pub fn sub(&self) -> &str {
        &self.0.sub
    }
    /// The issuer that vouched for this identity.
    pub fn iss(&self) -> &str {
        &self.0.iss
    }
    /// The login name (`preferred_username`, falling back to `sub`).
    pub fn username(&self) -> &str {
        &self.0.username
    }
    /// The display name, when the provider sent one.
    pub fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    /// The email address, when the provider sent one.
    pub fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    /// Whether the provider asserted (with a JSON `true`) that the email is verified.
    pub fn email_verified(&self) -> bool {
        self.0.email_verified
    }
    /// The app roles of this user.
    pub fn roles(&self) -> &[String] {
        &self.0.roles
    }
    /// Whether the user has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.0.roles.iter().any(|r| r == role)
    }
    /// The provider groups of this user (from the `groups` claim).
    pub fn groups(&self) -> &[String] {
        &self.0.groups
    }
    /// Every claim of the verified ID token.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.0.claims
    }

    pub(crate) fn inner(&self) -> &IdentityInner {
        &self.0
    }
    pub(crate) fn from_inner(inner: IdentityInner) -> Self {
        Self(Arc::new(inner))
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("iss", &self.0.iss)
            .field("sub", &self.0.sub)
            .field("username", &self.0.username)
            .finish_non_exhaustive()
    }
}

impl Serialize for Identity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            sub: &'a str,
            iss: &'a str,
            username: &'a str,
            name: Option<&'a str>,
            email: Option<&'a str>,
            email_verified: bool,
            roles: &'a [String],
            groups: &'a [String],
        }
        let i = &self.0;
        View {
            sub: &i.sub,
            iss: &i.iss,
            username: &i.username,
            name: i.name.as_deref(),
            email: i.email.as_deref(),
            email_verified: i.email_verified,
            roles: &i.roles,
            groups: &i.groups,
        }
        .serialize(serializer)
    }
}

#[cfg(feature = "axum")]
mod extract {
    use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum_core::response::{IntoResponse, Response};
    use http::request::Parts;

    use super::Identity;

    /// Rejection of the [`Identity`] extractor: the request carries no verified identity. This
    /// happens on public paths without a session, or when `OidcLayer` is not applied to the
    /// route. Answers `401` with `application/problem+json`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct MissingIdentity;

    impl std::fmt::Display for MissingIdentity {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("no verified identity on this request (public path without a session, or OidcLayer not applied)")
        }
    }
    impl std::error::Error for MissingIdentity {}

    impl IntoResponse for MissingIdentity {
        fn into_response(self) -> Response {
            crate::pages::Problem::new(
                http::StatusCode::UNAUTHORIZED,
                "Authentication required",
                self.to_string(),
            )
            .into_json_response()
            .map(axum_core::body::Body::new)
        }
    }

    impl<S: Send + Sync> FromRequestParts<S> for Identity {
        type Rejection = MissingIdentity;
        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Self, Self::Rejection> {
            parts
                .extensions
                .get::<Identity>()
                .cloned()
                .ok_or(MissingIdentity)
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

#[cfg(feature = "axum")]
pub use extract::MissingIdentity;

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
    fn json_view_has_no_raw_claims() {
        let id = Identity::from_claims(claims(json!({"iss": "i", "sub": "s", "secret_claim": 1})))
            .unwrap();
        let v = serde_json::to_value(&id).unwrap();
        assert_eq!(v["sub"], "s");
        assert!(v.get("secret_claim").is_none() && v.get("claims").is_none());
    }
}
