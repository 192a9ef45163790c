//! [`GuardService`]: the one service behind every per-route guard ([`RequireRole`],
//! [`RequireScope`], [`RequireClaim`], [`RequireIdentity`]).
//!
//! A guard is a [`Check`] on the request's [`Identity`]: the service lets the request through
//! when the check passes, answers the check's refusal (a `403`) when it does not, and gives an
//! anonymous request the layer's login challenge, so every guard treats the three cases alike.
//!
//! [`RequireRole`]: crate::RequireRole
//! [`RequireScope`]: crate::RequireScope
//! [`RequireClaim`]: crate::RequireClaim
//! [`RequireIdentity`]: crate::RequireIdentity

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode};
use tower_service::Service;

use crate::custom_pages::ProblemKind;
use crate::identity::Identity;
use crate::pages::{PageBody, Problem};
use crate::service::challenge::{LoginChallenge, challenge_response};
use crate::service::{ResponseBody, ResponseFuture};
use crate::web::negotiate;

/// What a guard checks: whether an identity may pass, and what the refusals look like.
pub(crate) trait Check: fmt::Debug + Send + Sync + 'static {
    /// `None` when `identity` may pass; otherwise the refusal (a `403`). `html` says whether
    /// the request wants a page, `path` is the request's path (for the link home).
    fn refuse(&self, identity: &Identity, html: bool, path: &str) -> Option<Response<PageBody>>;

    /// The answer to an anonymous request when no [`OidcLayer`](crate::OidcLayer) in front
    /// left its login challenge (the layer is missing, or misplaced after the guard).
    fn anonymous(&self, html: bool) -> Response<PageBody> {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "Authentication required",
            "Sign in to use this page.",
        )
        .into_response(html)
    }
}

/// The service of the guard layers ([`RequireRole`](crate::RequireRole),
/// [`RequireScope`](crate::RequireScope), [`RequireClaim`](crate::RequireClaim),
/// [`RequireIdentity`](crate::RequireIdentity)): calls the inner service when the request's
/// [`Identity`] passes the guard, answers `403` when it does not, and the login challenge when
/// the request has no identity.
#[derive(Debug, Clone)]
pub struct GuardService<S> {
    inner: S,
    check: Arc<dyn Check>,
}

impl<S> GuardService<S> {
    pub(crate) fn new(inner: S, check: Arc<dyn Check>) -> Self {
        Self { inner, check }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GuardService<S>
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
        // The clone is ready-checked only in the original: call the original, keep the clone.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let check = self.check.clone();
        ResponseFuture::new(Box::pin(async move {
            let html = negotiate::wants_html(request.headers());
            let refusal = match request.extensions().get::<Identity>() {
                Some(identity) => check.refuse(identity, html, request.uri().path()),
                None => {
                    let (parts, _body) = request.into_parts();
                    let response = match parts.extensions.get::<LoginChallenge>().cloned() {
                        Some(LoginChallenge(shared)) => challenge_response(&shared, &parts).await,
                        None => check.anonymous(html),
                    };
                    return Ok(response.map(ResponseBody::page));
                }
            };
            match refusal {
                None => inner
                    .call(request)
                    .await
                    .map(|r| r.map(ResponseBody::inner)),
                Some(response) => Ok(response.map(ResponseBody::page)),
            }
        }))
    }
}

/// The `403` of the guards on pages: "You do not have access to this page", `detail`, and a
/// link home (a page for a person, problem+json for a program).
pub(crate) fn forbidden(detail: impl Into<String>, html: bool, path: &str) -> Response<PageBody> {
    Problem::new(
        StatusCode::FORBIDDEN,
        "You do not have access to this page",
        detail,
    )
    .kind(ProblemKind::Forbidden)
    .with_link("Home", relative_root(path))
    .into_response(html)
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
