//! [`RequireClaim`] and [`RequireIdentity`]: layers for routes guarded by the identity's
//! claims, or by any predicate over the [`Identity`].

use std::fmt;
use std::sync::Arc;

use http::Response;
use serde_json::Value;
use tower_layer::Layer;

use crate::claims::ClaimPath;
use crate::guard::{Check, GuardService, forbidden};
use crate::identity::Identity;
use crate::pages::PageBody;

/// Requires a claim value: a layer for routes open to the users whose provider says so
/// (`email_verified` is `true`, the Google Workspace domain `hd` is the company's, `groups`
/// contains `admins`), like Apache's `Require claim` and express-openid-connect's
/// `claimEquals` / `claimIncludes`.
///
/// Values are JSON values compared exactly: strings by their characters (case matters),
/// booleans as booleans, numbers by value (`2` and `2.0` are equal). A claim of another type
/// never matches (the string `"true"` is not `true`), and neither does a missing claim. The
/// claim name is a [`ClaimPath`](crate::roles::ClaimPath), as in the role map: a top-level
/// claim, or a path into nested claims such as `resource_access/my-app/roles`.
///
/// Refusals and anonymous requests are handled as by [`RequireRole`](crate::RequireRole): a
/// signed-in user whose claim does not match gets `403` (an HTML page for browsers,
/// `application/problem+json` for programs) naming the claim but never its value; an anonymous
/// request gets the login challenge of [`OidcLayer`](crate::OidcLayer).
///
/// ```
/// use axum::{routing::get, Router};
/// use oidc_layer::RequireClaim;
///
/// let app: Router = Router::new()
///     .route("/verified", get(|| async { "hi" }).route_layer(RequireClaim::is_true("email_verified")))
///     .route("/staff", get(|| async { "staff" }).route_layer(RequireClaim::equals("hd", "example.com")))
///     .route("/ops", get(|| async { "ops" }).route_layer(
///         RequireClaim::includes("groups", "ops")
///             .reason("This page is for the operations team."),
///     ))
///     .route("/eu", get(|| async { "eu" }).route_layer(RequireClaim::one_of("region", ["de", "fr"])));
/// ```
#[derive(Debug, Clone)]
pub struct RequireClaim {
    claim: Arc<ClaimPath>,
    accepted: Arc<[Value]>,
    matching: Matching,
    reason: Option<Arc<str>>,
}

/// How a claim is compared with the accepted values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Matching {
    /// The claim is one of the values.
    Equals,
    /// The claim is an array holding one of the values, or is one of them.
    Includes,
}

impl RequireClaim {
    /// The claim `claim` must equal `value` (an array claim does not equal a string: use
    /// [`includes`](Self::includes) for those).
    pub fn equals(claim: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::one_of(claim, [value])
    }

    /// The claim `claim` must equal one of `values`.
    pub fn one_of(
        claim: impl Into<String>,
        values: impl IntoIterator<Item = impl Into<Value>>,
    ) -> Self {
        Self::new(claim, values, Matching::Equals)
    }

    /// The claim `claim` must include `value`: an array claim must hold it; a single value
    /// (some providers send a one-element list as a plain string) must equal it.
    pub fn includes(claim: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(claim, [value], Matching::Includes)
    }

    /// The claim `claim` must be the boolean `true` (e.g. `email_verified`).
    pub fn is_true(claim: impl Into<String>) -> Self {
        Self::equals(claim, true)
    }

    /// The text the `403` shows instead of the default ("This page needs your account's
    /// `claim` claim to match, and it does not."). It is shown to the refused user: say what
    /// they lack, never a secret.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(Arc::from(reason.into()));
        self
    }

    /// Whether `identity`'s claims pass this guard (for handlers that decide themselves).
    ///
    /// ```
    /// # use oidc_layer::{Identity, RequireClaim};
    /// fn can_export(identity: &Identity) -> bool {
    ///     RequireClaim::includes("groups", "exporters").admits(identity)
    /// }
    /// ```
    pub fn admits(&self, identity: &Identity) -> bool {
        self.admits_claims(identity.claims())
    }

    fn new(
        claim: impl Into<String>,
        values: impl IntoIterator<Item = impl Into<Value>>,
        matching: Matching,
    ) -> Self {
        Self {
            claim: Arc::new(ClaimPath::new(claim)),
            accepted: values.into_iter().map(Into::into).collect(),
            matching,
            reason: None,
        }
    }

    fn admits_claims(&self, claims: &serde_json::Map<String, Value>) -> bool {
        let Some(claim) = self.claim.lookup(claims) else {
            return false;
        };
        let accepted = |value: &Value| self.accepted.iter().any(|a| same_value(a, value));
        match (self.matching, claim) {
            (Matching::Includes, Value::Array(items)) => items.iter().any(accepted),
            _ => accepted(claim),
        }
    }
}

/// JSON equality, with numbers compared by value (`2 == 2.0`; integers exactly, however large).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else if x.is_f64() || y.is_f64() {
                x.as_f64() == y.as_f64()
            } else {
                // One is negative (i64 only), the other beyond i64 (u64 only).
                false
            }
        }
        _ => a == b,
    }
}

impl<S> Layer<S> for RequireClaim {
    type Service = GuardService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GuardService::new(inner, Arc::new(self.clone()))
    }
}

impl Check for RequireClaim {
    fn refuse(&self, identity: &Identity, html: bool, path: &str) -> Option<Response<PageBody>> {
        if self.admits(identity) {
            return None;
        }
        // The claim's name only: its value is the user's, and may not belong in logs.
        tracing::info!(sub = identity.sub(), claim = %self.claim, "forbidden: claim does not match");
        let detail = match &self.reason {
            Some(reason) => reason.to_string(),
            None => format!(
                "This page needs your account's `{}` claim to match, and it does not.",
                self.claim
            ),
        };
        Some(forbidden(detail, html, path))
    }
}

/// Requires a predicate over the [`Identity`]: a layer for the rules
/// [`RequireRole`](crate::RequireRole) and [`RequireClaim`] do not express (several claims at
/// once, a claim compared case-insensitively, a list the app keeps), like
/// express-openid-connect's `claimCheck`.
///
/// Refusals and anonymous requests are handled as by [`RequireRole`](crate::RequireRole); the
/// `403` says what [`reason`](Self::reason) says, or that the account does not meet the
/// page's requirements.
///
/// ```
/// use axum::{routing::get, Router};
/// use oidc_layer::{Identity, RequireIdentity};
///
/// let staff = RequireIdentity::new(|identity: &Identity| {
///     identity.email_verified()
///         && identity.email().is_some_and(|e| e.to_ascii_lowercase().ends_with("@example.com"))
/// })
/// .reason("This page is for staff with a verified example.com address.");
/// let app: Router = Router::new().route("/staff", get(|| async { "staff" }).route_layer(staff));
/// ```
#[derive(Clone)]
pub struct RequireIdentity {
    predicate: Arc<dyn Fn(&Identity) -> bool + Send + Sync>,
    reason: Option<Arc<str>>,
}

impl RequireIdentity {
    /// Lets through the identities for which `predicate` returns `true`.
    pub fn new(predicate: impl Fn(&Identity) -> bool + Send + Sync + 'static) -> Self {
        Self {
            predicate: Arc::new(predicate),
            reason: None,
        }
    }

    /// The text the `403` shows instead of the default ("Your account does not meet this
    /// page's requirements."). It is shown to the refused user: say what they lack, never a
    /// secret.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(Arc::from(reason.into()));
        self
    }
}

impl fmt::Debug for RequireIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireIdentity")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for RequireIdentity {
    type Service = GuardService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GuardService::new(inner, Arc::new(self.clone()))
    }
}

impl Check for RequireIdentity {
    fn refuse(&self, identity: &Identity, html: bool, path: &str) -> Option<Response<PageBody>> {
        if (self.predicate)(identity) {
            return None;
        }
        tracing::info!(sub = identity.sub(), "forbidden: identity check failed");
        let detail = self
            .reason
            .as_deref()
            .unwrap_or("Your account does not meet this page's requirements.");
        Some(forbidden(detail, html, path))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn identity(claims: Value) -> Identity {
        let mut claims = claims.as_object().cloned().expect("an object");
        claims.insert("iss".into(), json!("https://op.example"));
        claims.insert("sub".into(), json!("u-1"));
        Identity::from_claims(claims).expect("iss and sub")
    }

    fn admits(guard: &RequireClaim, claims: Value) -> bool {
        guard.admits(&identity(claims))
    }

    #[test]
    fn strings_match_exactly() {
        let guard = RequireClaim::equals("hd", "example.com");
        assert!(admits(&guard, json!({ "hd": "example.com" })));
        assert!(
            !admits(&guard, json!({ "hd": "Example.com" })),
            "case matters"
        );
        assert!(!admits(&guard, json!({ "hd": "example.com " })));
        assert!(!admits(&guard, json!({ "hd": "evil-example.com" })));
        assert!(!admits(&guard, json!({})), "a missing claim");
        assert!(!admits(&guard, json!({ "hd": null })));
        // equals is not includes: an array holding the value is not the value.
        assert!(!admits(&guard, json!({ "hd": ["example.com"] })));
    }

    #[test]
    fn one_of_accepts_any_listed_value() {
        let guard = RequireClaim::one_of("region", ["de", "fr"]);
        assert!(admits(&guard, json!({ "region": "de" })));
        assert!(admits(&guard, json!({ "region": "fr" })));
        assert!(!admits(&guard, json!({ "region": "us" })));
        assert!(!admits(&guard, json!({ "region": ["de"] })));
    }

    #[test]
    fn includes_looks_into_arrays_and_accepts_a_single_value() {
        let guard = RequireClaim::includes("groups", "admins");
        assert!(admits(&guard, json!({ "groups": ["users", "admins"] })));
        assert!(
            admits(&guard, json!({ "groups": "admins" })),
            "a one-value claim"
        );
        assert!(!admits(&guard, json!({ "groups": ["users"] })));
        assert!(!admits(&guard, json!({ "groups": [] })));
        assert!(!admits(&guard, json!({ "groups": ["Admins"] })));
        // Not a substring or a space-separated list.
        assert!(!admits(&guard, json!({ "groups": "admins users" })));
        // One level only: nested arrays are not searched.
        assert!(!admits(&guard, json!({ "groups": [["admins"]] })));
        assert!(!admits(&guard, json!({ "groups": { "admins": true } })));
        assert!(!admits(&guard, json!({})));
    }

    #[test]
    fn booleans_must_be_booleans() {
        let guard = RequireClaim::is_true("email_verified");
        assert!(admits(&guard, json!({ "email_verified": true })));
        assert!(!admits(&guard, json!({ "email_verified": false })));
        assert!(
            !admits(&guard, json!({ "email_verified": "true" })),
            "a string"
        );
        assert!(!admits(&guard, json!({ "email_verified": 1 })), "a number");
        assert!(!admits(&guard, json!({ "email_verified": [true] })));
        assert!(!admits(&guard, json!({})));
        let unverified = RequireClaim::equals("email_verified", false);
        assert!(admits(&unverified, json!({ "email_verified": false })));
        assert!(!admits(&unverified, json!({})), "missing is not false");
    }

    #[test]
    fn numbers_compare_by_value() {
        let guard = RequireClaim::equals("acr_level", 2);
        assert!(admits(&guard, json!({ "acr_level": 2 })));
        assert!(admits(&guard, json!({ "acr_level": 2.0 })));
        assert!(!admits(&guard, json!({ "acr_level": 3 })));
        assert!(!admits(&guard, json!({ "acr_level": "2" })), "a string");
        assert!(!admits(&guard, json!({ "acr_level": 2.5 })));
        let negative = RequireClaim::equals("n", -1);
        assert!(admits(&negative, json!({ "n": -1 })));
        assert!(!admits(&negative, json!({ "n": u64::MAX })));
        let big = RequireClaim::equals("n", u64::MAX);
        assert!(admits(&big, json!({ "n": u64::MAX })));
        assert!(
            !admits(&big, json!({ "n": u64::MAX - 1 })),
            "no float rounding"
        );
        let tenant = RequireClaim::includes("tenants", 7);
        assert!(admits(&tenant, json!({ "tenants": [3, 7] })));
        assert!(!admits(&tenant, json!({ "tenants": ["7"] })));
    }

    #[test]
    fn nested_claims_are_found_by_path() {
        let guard = RequireClaim::includes("resource_access/my-app/roles", "editor");
        assert!(admits(
            &guard,
            json!({ "resource_access": { "my-app": { "roles": ["viewer", "editor"] } } })
        ));
        assert!(!admits(
            &guard,
            json!({ "resource_access": { "other-app": { "roles": ["editor"] } } })
        ));
    }

    #[tokio::test]
    async fn refusals_name_the_claim_or_the_reason_but_never_the_value() {
        let who = identity(json!({ "hd": "secret-tenant.example" }));
        let guard = RequireClaim::equals("hd", "example.com");
        let response = guard.refuse(&who, false, "/staff").expect("a refusal");
        assert_eq!(response.status(), 403);
        let body = body_text(response).await;
        let problem: Value = serde_json::from_str(&body).expect("problem+json");
        assert_eq!(
            problem["detail"],
            "This page needs your account's `hd` claim to match, and it does not."
        );
        assert!(!body.contains("secret-tenant"), "{body}");

        let guard = guard.reason("Staff only.");
        let response = guard.refuse(&who, true, "/staff").expect("a refusal");
        assert!(body_text(response).await.contains("Staff only."));

        let ok = identity(json!({ "hd": "example.com" }));
        assert!(guard.refuse(&ok, true, "/staff").is_none());
    }

    #[tokio::test]
    async fn predicates_decide_and_explain() {
        let guard = RequireIdentity::new(|id: &Identity| id.sub() == "u-1");
        assert!(guard.refuse(&identity(json!({})), true, "/").is_none());
        let other = {
            let mut claims = serde_json::Map::new();
            claims.insert("iss".into(), json!("https://op.example"));
            claims.insert("sub".into(), json!("u-2"));
            Identity::from_claims(claims).expect("iss and sub")
        };
        let response = guard.refuse(&other, false, "/").expect("a refusal");
        assert_eq!(response.status(), 403);
        let problem: Value = serde_json::from_str(&body_text(response).await).expect("json");
        assert_eq!(
            problem["detail"],
            "Your account does not meet this page's requirements."
        );
        let guard = guard.reason("Only u-1.");
        let response = guard.refuse(&other, false, "/").expect("a refusal");
        let problem: Value = serde_json::from_str(&body_text(response).await).expect("json");
        assert_eq!(problem["detail"], "Only u-1.");
    }

    async fn body_text(response: Response<PageBody>) -> String {
        use http_body_util::BodyExt;
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a full body")
            .to_bytes();
        String::from_utf8(bytes.to_vec()).expect("UTF-8")
    }
}
