//! [`RequireRole`]: a layer for routes that need an app role.

use std::sync::Arc;

use http::Response;
use tower_layer::Layer;

use crate::guard::{Check, GuardService, forbidden};
use crate::identity::Identity;
use crate::pages::PageBody;

/// Requires `role`: a layer for routes that need an app role.
///
/// A signed-in user without the role gets `403` (an HTML page for browsers,
/// `application/problem+json` for programs); an anonymous request gets the same login challenge
/// [`OidcLayer`](crate::OidcLayer) gives (a redirect to the provider for a browser, `401` for a
/// program). With ordered roles (`untrusted < trusted < admin`), a higher role satisfies a
/// lower one.
///
/// ```
/// use axum::{routing::get, Router};
/// use oidc_layer::RequireRole;
///
/// let app: Router = Router::new()
///     .route("/admin", get(|| async { "secret" }).route_layer(RequireRole::new("admin")));
/// ```
#[derive(Debug, Clone)]
pub struct RequireRole {
    role: Arc<str>,
}

impl RequireRole {
    /// Requires the app role `role`.
    pub fn new(role: impl Into<String>) -> Self {
        Self {
            role: Arc::from(role.into()),
        }
    }
}

impl<S> Layer<S> for RequireRole {
    type Service = RequireRoleService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GuardService::new(inner, Arc::new(self.clone()))
    }
}

/// The service of [`RequireRole`] (the [`GuardService`] every guard shares).
pub type RequireRoleService<S> = GuardService<S>;

impl Check for RequireRole {
    fn refuse(&self, identity: &Identity, html: bool, path: &str) -> Option<Response<PageBody>> {
        let role = &self.role;
        if identity.has_role(role) {
            return None;
        }
        tracing::info!(sub = identity.sub(), role = %role, "forbidden: role missing");
        Some(forbidden(
            format!("This page needs the `{role}` role, which your account does not have."),
            html,
            path,
        ))
    }
}
