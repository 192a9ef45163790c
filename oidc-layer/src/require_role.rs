//! [`RequireRole`]: a layer for routes that need an app role.
//!
//! A signed-in user without the role gets `403` (an HTML page for browsers,
//! `application/problem+json` for programs); an anonymous request gets the same login challenge
//! [`OidcLayer`](crate::OidcLayer) gives (a redirect to the provider for a browser, `401` for a
//! program). With ordered roles (`untrusted < trusted < admin`), a higher role satisfies a
//! lower one.
//!
//! ```
//! use axum::{routing::get, Router};
//! use oidc_layer::RequireRole;
//!
//! let app: Router = Router::new()
//!     .route("/admin", get(|| async { "secret" }).route_layer(RequireRole::new("admin")));
//! ```

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::challenge;
use crate::identity::Identity;
use crate::pages::Problem;
use crate::service::{LoginChallenge, ResponseFuture, challenge_response};

/// Requires `role`: `403` for a signed-in user without it, the login challenge without a session.
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
        RequireRoleService {
            inner,
            role: self.role.clone(),
        }
    }
}

/// The service of [`RequireRole`].
#[derive(Debug, Clone)]
pub struct RequireRoleService<S> {
    inner: S,
    role: Arc<str>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireRoleService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: 'static,
    ReqBody: Send + 'static,
    ResBody: 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let role = self.role.clone();
        ResponseFuture::new(Box::pin(async move {
            let identity = request.extensions().get::<Identity>();
            let html = challenge::wants_html(request.headers());
            match identity {
                Some(identity) if identity.has_role(&role) => inner
                    .call(request)
                    .await
                    .map(|r| r.map(ResponseBody::inner)),
                Some(identity) => {
                    tracing::info!(sub = identity.sub(), role = %role, "forbidden: role missing");
                    Ok(Problem::new(
                        StatusCode::FORBIDDEN,
                        "You do not have access to this page",
                        format!(
                            "This page needs the `{role}` role, which your account does not have."
                        ),
                    )
                    .with_link("Home", relative_root(request.uri().path()))
                    .into_response(html)
                    .map(ResponseBody::page))
                }
                None => {
                    let (parts, _body) = request.into_parts();
                    let response = match parts.extensions.get::<LoginChallenge>().cloned() {
                        Some(LoginChallenge(shared)) => challenge_response(&shared, &parts).await,
                        None => Problem::new(
                            StatusCode::UNAUTHORIZED,
                            "Authentication required",
                            "Sign in to use this page.",
                        )
                        .into_response(html),
                    };
                    Ok(response.map(ResponseBody::page))
                }
            }
        }))
    }
}

/// A link to the app's root relative to `path`, so it stays right when a proxy serves the app
/// under a path prefix the app does not see (`/a/b` -> `../`, `/a` -> `./`).
fn relative_root(path: &str) -> String {
    let depth = path.trim_start_matches('/').matches('/').count();
    if depth == 0 {
        "./".to_owned()
    } else {
        "../".repeat(depth)
    }
}

#[cfg(test)]
mod relative_root_tests {
    use super::relative_root;

    #[test]
    fn points_at_the_app_root_from_any_depth() {
        assert_eq!(relative_root("/"), "./");
        assert_eq!(relative_root("/admin"), "./");
        assert_eq!(relative_root("/admin/"), "../");
        assert_eq!(relative_root("/a/b/c"), "../../");
    }
}
