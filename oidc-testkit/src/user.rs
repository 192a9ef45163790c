//! Test users and which of their claims each scope releases.

use serde_json::{Map, Value, json};

/// A user of the [`TestProvider`](super::TestProvider): a login name (shown on the sign-in page
/// and used by [`TestProviderBuilder::auto_login`](super::TestProviderBuilder::auto_login)) and
/// the claims released about them.
///
/// Claims are released by scope, like a real provider: `profile` releases `name`,
/// `preferred_username`, `given_name`, `family_name` (and the other OIDC profile claims),
/// `email` releases `email` and `email_verified`, `groups` releases `groups` and `is_admin`.
/// `sub` is always released, and so is any custom claim that belongs to no scope (for example
/// a `roles` claim you add with [`TestUser::claim`]). Protocol claims (`iss`, `aud`, `exp`,
/// `nonce`...) set here are ignored.
///
/// ```
/// use oidc_testkit::TestUser;
///
/// let dave = TestUser::new("dave", "u-1004-dave")
///     .claim("email", "dave@example.test")
///     .claim("email_verified", true)
///     .claim("groups", ["ops"])
///     .claim("roles", ["deployer"]);
/// assert_eq!(dave.sub(), "u-1004-dave");
/// assert_eq!(TestUser::alice().claims["is_admin"], true);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TestUser {
    /// Login name, e.g. `alice`.
    pub username: String,
    /// Claims about the user; must contain a string `sub`.
    pub claims: Map<String, Value>,
}

impl TestUser {
    /// A user with only a `sub` claim.
    pub fn new(username: impl Into<String>, sub: impl Into<String>) -> Self {
        let mut claims = Map::new();
        claims.insert("sub".to_owned(), Value::String(sub.into()));
        TestUser {
            username: username.into(),
            claims,
        }
    }

    /// Adds (or replaces) a claim.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// The `sub` claim (empty if the claims have none).
    pub fn sub(&self) -> &str {
        self.claims.get("sub").and_then(Value::as_str).unwrap_or("")
    }

    /// `alice` (`u-1001-alice`): verified email, groups `admins` and `users`, `is_admin: true`.
    pub fn alice() -> Self {
        Self::from_reference(
            "alice",
            json!({
                "sub": "u-1001-alice", "email": "alice@example.test", "email_verified": true,
                "preferred_username": "alice", "name": "Alice Anders", "given_name": "Alice",
                "family_name": "Anders", "groups": ["admins", "users"], "is_admin": true,
            }),
        )
    }

    /// `bob` (`u-1002-bob`): unverified email, group `users`, `is_admin: false`.
    pub fn bob() -> Self {
        Self::from_reference(
            "bob",
            json!({
                "sub": "u-1002-bob", "email": "bob@example.test", "email_verified": false,
                "preferred_username": "bob", "name": "Bob Brown", "given_name": "Bob",
                "family_name": "Brown", "groups": ["users"], "is_admin": false,
            }),
        )
    }

    /// `carol` (`u-1003-carol`): verified email, no groups, `is_admin: false`.
    pub fn carol() -> Self {
        Self::from_reference(
            "carol",
            json!({
                "sub": "u-1003-carol", "email": "carol@example.test", "email_verified": true,
                "preferred_username": "carol", "name": "Carol Chen", "given_name": "Carol",
                "family_name": "Chen", "groups": [], "is_admin": false,
            }),
        )
    }

    /// The default users: alice, bob and carol, as in the reference provider (`op.mjs`).
    pub fn defaults() -> Vec<TestUser> {
        vec![Self::alice(), Self::bob(), Self::carol()]
    }

    fn from_reference(username: &str, claims: Value) -> Self {
        TestUser {
            username: username.to_owned(),
            claims: match claims {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        }
    }

    /// The claims released for `scopes`, `sub` first.
    pub(super) fn released_claims(&self, scopes: &[String]) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("sub".to_owned(), Value::String(self.sub().to_owned()));
        for (name, value) in &self.claims {
            if name == "sub" || PROTOCOL_CLAIMS.contains(&name.as_str()) {
                continue;
            }
            let released = match scope_of(name) {
                Some(scope) => scopes.iter().any(|s| s == scope),
                None => true,
            };
            if released {
                out.insert(name.clone(), value.clone());
            }
        }
        out
    }
}

/// The scopes the provider knows, in discovery order.
pub(super) const SUPPORTED_SCOPES: &[&str] = &["openid", "profile", "email", "groups"];

/// Claims that only the provider sets.
const PROTOCOL_CLAIMS: &[&str] = &[
    "iss",
    "aud",
    "azp",
    "exp",
    "iat",
    "nbf",
    "auth_time",
    "nonce",
    "at_hash",
    "c_hash",
    "jti",
    "sid",
];

const PROFILE_CLAIMS: &[&str] = &[
    "name",
    "preferred_username",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "updated_at",
];

/// The user claims the provider advertises in discovery (`claims_supported`).
pub(super) const USER_CLAIMS: &[&str] = &[
    "sub",
    "name",
    "preferred_username",
    "given_name",
    "family_name",
    "email",
    "email_verified",
    "groups",
    "is_admin",
];

fn scope_of(claim: &str) -> Option<&'static str> {
    match claim {
        "email" | "email_verified" => Some("email"),
        "groups" | "is_admin" => Some("groups"),
        _ if PROFILE_CLAIMS.contains(&claim) => Some("profile"),
        _ => None,
    }
}
