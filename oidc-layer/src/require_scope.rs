//! [`RequireScope`]: a layer for routes that need access-token scopes.

use std::sync::Arc;

use http::{HeaderValue, Response, StatusCode, header};
use tower_layer::Layer;

use crate::guard::{Check, GuardService};
use crate::identity::{Authentication, Identity};
use crate::pages::{PageBody, Problem};

/// Requires access-token scopes: a layer for API routes guarded by scope.
///
/// A request whose access token lacks a scope gets `403` with
/// `WWW-Authenticate: Bearer error="insufficient_scope", scope="..."` (RFC 6750 section 3.1)
/// and a problem+json body. A browser session has no scopes: it gets the same `403` unless
/// [`allow_sessions`](Self::allow_sessions) lets sessions through. An anonymous request gets
/// the layer's challenge (`401` with a `Bearer` challenge for programs, the login redirect for
/// a browser), as with [`RequireRole`](crate::RequireRole).
///
/// ```
/// use axum::{routing::{get, post}, Router};
/// use oidc_layer::RequireScope;
///
/// let app: Router = Router::new()
///     .route("/api/items", get(|| async { "[]" }).route_layer(RequireScope::new("items:read")))
///     .route(
///         "/api/items/import",
///         post(|| async { "ok" })
///             .route_layer(RequireScope::all(["items:read", "items:write"]).allow_sessions()),
///     );
/// ```
#[derive(Debug, Clone)]
pub struct RequireScope {
    scopes: Arc<[String]>,
    allow_sessions: bool,
}

impl RequireScope {
    /// Requires the scope `scope`.
    pub fn new(scope: impl Into<String>) -> Self {
        Self::all([scope])
    }
    /// Requires every one of `scopes`.
    pub fn all(scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            scopes: scopes.into_iter().map(Into::into).collect(),
            allow_sessions: false,
        }
    }
    /// Lets browser sessions through (their identities have no scopes; a role check, e.g.
    /// [`RequireRole`](crate::RequireRole), then decides for them).
    pub fn allow_sessions(mut self) -> Self {
        self.allow_sessions = true;
        self
    }
}

impl<S> Layer<S> for RequireScope {
    type Service = RequireScopeService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GuardService::new(inner, Arc::new(self.clone()))
    }
}

/// The service of [`RequireScope`] (the [`GuardService`] every guard shares).
pub type RequireScopeService<S> = GuardService<S>;

impl RequireScope {
    /// Whether `identity` may pass.
    fn admits(&self, identity: &Identity) -> bool {
        match identity.authentication() {
            Authentication::Session => self.allow_sessions,
            _ => self.scopes.iter().all(|s| identity.has_scope(s)),
        }
    }
}

impl Check for RequireScope {
    fn refuse(&self, identity: &Identity, _html: bool, _path: &str) -> Option<Response<PageBody>> {
        if self.admits(identity) {
            return None;
        }
        let wanted = self.scopes.join(" ");
        tracing::info!(sub = identity.sub(), scope = %wanted, "forbidden: scope missing");
        Some(insufficient_scope(identity, &wanted))
    }

    fn anonymous(&self, html: bool) -> Response<PageBody> {
        let mut response = Problem::new(
            StatusCode::UNAUTHORIZED,
            "Authentication required",
            "An access token is required.",
        )
        .into_response(html);
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        response
    }
}

/// `403 insufficient_scope` (RFC 6750 section 3.1) naming the scopes the route needs.
fn insufficient_scope(identity: &Identity, wanted: &str) -> Response<PageBody> {
    let detail = match identity.authentication() {
        Authentication::Session => format!(
            "This resource needs an access token with the scope `{wanted}`; a browser session has no scopes."
        ),
        _ => format!(
            "This resource needs the scope `{wanted}`, which the access token does not have."
        ),
    };
    let mut response =
        Problem::new(StatusCode::FORBIDDEN, "Insufficient scope", detail).into_json_response();
    let scheme = match identity.authentication() {
        Authentication::Dpop => crate::bearer::Scheme::Dpop,
        _ => crate::bearer::Scheme::Bearer,
    };
    // No realm is known here; RFC 6750 makes it optional.
    let mut challenge = crate::bearer::error::challenge(
        scheme,
        None,
        Some((
            "insufficient_scope",
            "the access token lacks a scope this resource needs",
        )),
    );
    challenge.push_str(&format!(", scope=\"{}\"", scope_value(wanted)));
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// Scope tokens as RFC 6750 section 3 allows them in `scope="..."` (%x21 / %x23-5B / %x5D-7E,
/// space-separated).
fn scope_value(scopes: &str) -> String {
    scopes
        .chars()
        .filter(|&c| c == ' ' || (matches!(c, '!'..='~') && c != '"' && c != '\\'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_values_cannot_break_out() {
        assert_eq!(scope_value("a b\"c\\d"), "a bcd");
    }
}
