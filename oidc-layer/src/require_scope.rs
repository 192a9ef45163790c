//! [`RequireScope`]: a layer for routes that need access-token scopes.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response, StatusCode, header};
use tower_layer::Layer;
use tower_service::Service;

use crate::identity::{Authentication, Identity};
use crate::pages::Problem;
use crate::service::challenge::{LoginChallenge, challenge_response};
use crate::service::{ResponseBody, ResponseFuture};
use crate::web::negotiate;

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
        RequireScopeService {
            inner,
            rule: self.clone(),
        }
    }
}

/// The service of [`RequireScope`].
#[derive(Debug, Clone)]
pub struct RequireScopeService<S> {
    inner: S,
    rule: RequireScope,
}

impl RequireScope {
    /// Whether `identity` may pass.
    fn admits(&self, identity: &Identity) -> bool {
        match identity.authentication() {
            Authentication::Session => self.allow_sessions,
            _ => self.scopes.iter().all(|s| identity.has_scope(s)),
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireScopeService<S>
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
        let rule = self.rule.clone();
        ResponseFuture::new(Box::pin(async move {
            match request.extensions().get::<Identity>() {
                Some(identity) if rule.admits(identity) => inner
                    .call(request)
                    .await
                    .map(|r| r.map(ResponseBody::inner)),
                Some(identity) => {
                    let wanted = rule.scopes.join(" ");
                    tracing::info!(sub = identity.sub(), scope = %wanted, "forbidden: scope missing");
                    Ok(insufficient_scope(identity, &wanted).map(ResponseBody::page))
                }
                None => {
                    let html = negotiate::wants_html(request.headers());
                    let (parts, _body) = request.into_parts();
                    let response = match parts.extensions.get::<LoginChallenge>().cloned() {
                        Some(LoginChallenge(shared)) => challenge_response(&shared, &parts).await,
                        None => {
                            let mut response = Problem::new(
                                StatusCode::UNAUTHORIZED,
                                "Authentication required",
                                "An access token is required.",
                            )
                            .into_response(html);
                            response.headers_mut().insert(
                                header::WWW_AUTHENTICATE,
                                HeaderValue::from_static("Bearer"),
                            );
                            response
                        }
                    };
                    Ok(response.map(ResponseBody::page))
                }
            }
        }))
    }
}

/// `403 insufficient_scope` (RFC 6750 section 3.1) naming the scopes the route needs.
fn insufficient_scope(identity: &Identity, wanted: &str) -> Response<crate::pages::PageBody> {
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
