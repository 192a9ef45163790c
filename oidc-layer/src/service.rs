//! [`OidcService`]: routes the layer's own paths, attaches the session's identity, and
//! challenges requests without one.
//!
//! The hot path (a request with a valid session) is one cookie lookup, one store load and one
//! extension insert; nothing is written to the store.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use session_store::{Record, SessionId, SessionStore as _};
use tower_service::Service;

use crate::body::{BoxError, ResponseBody};
use crate::challenge;
use crate::cookies;
use crate::layer::Shared;
use crate::login::{self, login_url};
use crate::pages::{PageBody, Problem};
use crate::return_to;
use crate::session::SessionData;
use crate::{backchannel, callback, link, logout, refresh};

/// The service produced by [`OidcLayer`](crate::OidcLayer).
#[derive(Clone)]
pub struct OidcService<S> {
    inner: S,
    current: Arc<ArcSwap<Shared>>,
}

impl<S> OidcService<S> {
    pub(crate) fn new(inner: S, current: Arc<ArcSwap<Shared>>) -> Self {
        Self { inner, current }
    }
}

/// Left in the extensions of requests without a session, so that [`RequireRole`]
/// (crate::RequireRole) on a public route can send a browser to log in.
#[derive(Clone)]
pub(crate) struct LoginChallenge(pub(crate) Arc<Shared>);

impl<S: std::fmt::Debug> std::fmt::Debug for OidcService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

type BoxedResponse<B, E> =
    Pin<Box<dyn Future<Output = Result<Response<ResponseBody<B>>, E>> + Send>>;

/// The future of [`OidcService`].
pub struct ResponseFuture<B, E> {
    inner: BoxedResponse<B, E>,
}

impl<B, E> ResponseFuture<B, E> {
    pub(crate) fn new(inner: BoxedResponse<B, E>) -> Self {
        Self { inner }
    }
}

impl<B, E> Future for ResponseFuture<B, E> {
    type Output = Result<Response<ResponseBody<B>>, E>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<B, E> std::fmt::Debug for ResponseFuture<B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for OidcService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: 'static,
    ReqBody: http_body::Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
    ResBody: 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready serves this request (tower's usual pattern).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.current.load_full();
        ResponseFuture {
            inner: Box::pin(handle(shared, inner, request)),
        }
    }
}

fn page<B>(response: Response<PageBody>) -> Response<ResponseBody<B>> {
    response.map(ResponseBody::page)
}

async fn handle<S, ReqBody, ResBody>(
    shared: Arc<Shared>,
    mut inner: S,
    mut request: Request<ReqBody>,
) -> Result<Response<ResponseBody<ResBody>>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: http_body::Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
{
    // Cold paths are boxed so the hot path's future stays small (the callback's state machine
    // is kilobytes; inlining it would make every authenticated request allocate and move it).
    // They split the request: only its head is borrowed across their awaits (the body need not
    // be `Sync`). The hot path keeps the request whole and borrows nothing across its await, so
    // the head is not moved out and back in.
    let path = request.uri().path();
    if path.starts_with(&shared.routes.prefix) {
        if path == shared.routes.backchannel_logout {
            // The only route of the layer that reads a body (the provider's logout token).
            let (parts, body) = request.into_parts();
            return Ok(page(
                Box::pin(backchannel_route(&shared, &parts, body)).await,
            ));
        }
        let (parts, body) = request.into_parts();
        if let Some(response) = Box::pin(reserved_route(&shared, &parts)).await {
            return Ok(page(response));
        }
        request = Request::from_parts(parts, body);
    }
    let session_id = cookies::session_id(request.headers(), &shared.cookies.session_name);
    let session = match session_id {
        Some(id) => match load(&shared, &id).await {
            Ok(Some(record)) => {
                let now = SystemTime::now();
                if record.is_expired_at(now) {
                    None
                } else if refresh::due(&shared, &record, now) {
                    // Cold: the access token is due for a refresh or activity must be written.
                    match Box::pin(refresh::upkeep(&shared, &id, record)).await {
                        refresh::Upkeep::Keep(record) => Some(record),
                        refresh::Upkeep::Ended => None,
                    }
                } else {
                    Some(record)
                }
            }
            Ok(None) => None,
            // A record this version cannot read (written by a newer version during a rolling
            // deploy, or damaged): signed out here, so the browser signs in again instead of
            // getting an error page until the record expires. The record is left alone.
            Err(session_store::Error::Codec(e)) => {
                tracing::warn!(error = %e, "unreadable session record; treating the request as signed out");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "session store failed");
                if !is_public(&shared, request.uri().path()) {
                    let html = challenge::wants_html(request.headers());
                    return Ok(page(
                        Problem::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "Service unavailable",
                            "Sessions cannot be read right now. Please try again in a moment.",
                        )
                        .into_response(html),
                    ));
                }
                None
            }
        },
        None => None,
    };
    match session {
        Some(record) => {
            let extensions = request.extensions_mut();
            extensions.insert(record.data.identity.clone());
            if shared.config.expose_access_token
                && let Some(token) = &record.data.access_token
            {
                extensions.insert(token.clone());
            }
        }
        None if is_public(&shared, request.uri().path()) => {
            request
                .extensions_mut()
                .insert(LoginChallenge(shared.clone()));
        }
        None => {
            let (parts, _body) = request.into_parts();
            return Ok(page(Box::pin(challenge_response(&shared, &parts)).await));
        }
    }
    inner
        .call(request)
        .await
        .map(|r| r.map(ResponseBody::inner))
}

/// The session record of `id`: from memory when the store can answer so (no boxed future),
/// else through its `load` (a round trip).
async fn load(
    shared: &Shared,
    id: &SessionId,
) -> Result<Option<Arc<Record<SessionData>>>, session_store::Error> {
    match shared.store.load_now(id) {
        Some(answer) => answer,
        None => shared.store.load(id).await,
    }
}

/// Whether `path` is served without a session (checked only for requests without one).
fn is_public(shared: &Shared, path: &str) -> bool {
    // The backup login must work exactly when the provider does not, so it is public even when
    // the app did not list it (behind the challenge it would answer the provider's 503).
    let backup = shared
        .config
        .backup_login_path
        .as_deref()
        .and_then(|p| p.split(['?', '#']).next());
    backup == Some(path)
        || shared
            .config
            .public_paths
            .iter()
            .any(|rule| rule.matches(path))
}

/// Answers a request for a protected path without a session.
pub(crate) async fn challenge_response(shared: &Shared, request: &Parts) -> Response<PageBody> {
    let path_and_query = request.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let return_to = return_to::sanitize(path_and_query).unwrap_or_else(|| "/".to_owned());
    let api = shared
        .config
        .api_paths
        .iter()
        .any(|rule| rule.matches(request.uri.path()));
    if !api && challenge::is_navigation(&request.method, &request.headers) {
        return match shared.providers.len() {
            1 => login::start(shared, 0, &request.headers, return_to, None).await,
            _ => login::chooser(shared, &return_to),
        };
    }
    let login = login_url(shared, &return_to);
    let html = challenge::wants_html(&request.headers);
    let mut response = Problem::new(
        StatusCode::UNAUTHORIZED,
        "Authentication required",
        "Sign in to use this resource.",
    )
    .with_login_url(login.clone())
    .into_response(html);
    // Not a standard scheme: tells scripts where a person can log in, and that a cookie
    // session (not a bearer token) is what this resource takes.
    let challenge = format!(
        "OIDC realm=\"{}\", login_url=\"{}\"",
        shared.config.external.origin,
        login.replace('"', "%22")
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

/// `POST {prefix}/backchannel-logout`: reads the (bounded) form body, then hands it over.
async fn backchannel_route<B>(shared: &Shared, parts: &Parts, body: B) -> Response<PageBody>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    if parts.method != Method::POST {
        return method_not_allowed("POST");
    }
    let limited = http_body_util::Limited::new(body, backchannel::MAX_BODY_BYTES);
    match http_body_util::BodyExt::collect(limited).await {
        Ok(collected) => {
            backchannel::backchannel_logout(shared, &parts.headers, &collected.to_bytes()).await
        }
        // A 400 with the JSON error body of every other refusal (Back-Channel Logout 2.8).
        Err(_) => backchannel::invalid("the request body is too large or unreadable"),
    }
}

/// The layer's own routes under the prefix; `None` for every other path.
async fn reserved_route(shared: &Shared, request: &Parts) -> Option<Response<PageBody>> {
    let path = request.uri.path();
    if !path.starts_with(&shared.routes.prefix) {
        return None;
    }
    let routes = &shared.routes;
    let method = &request.method;
    let headers = &request.headers;
    let query = request.uri.query();
    let get = method == Method::GET || method == Method::HEAD;
    if let Some(index) = shared
        .providers
        .iter()
        .position(|p| p.callback_path == path)
    {
        if !get {
            return Some(method_not_allowed("GET"));
        }
        return Some(callback::callback(shared, index, query, headers).await);
    }
    let response = if path == routes.login {
        if !get {
            return Some(method_not_allowed("GET"));
        }
        login::login_route(shared, query, headers).await
    } else if path == routes.logout {
        match *method {
            Method::GET | Method::HEAD => logout::confirm_page(shared).await,
            Method::POST => logout::logout(shared, headers).await,
            _ => return Some(method_not_allowed("GET, POST")),
        }
    } else if path == routes.logged_out {
        logout::logged_out_page(shared, query, headers)
    } else if path == routes.link {
        if method != Method::POST {
            return Some(method_not_allowed("POST"));
        }
        link::link_route(shared, query, headers).await
    } else {
        return None;
    };
    Some(response)
}

fn method_not_allowed(allow: &'static str) -> Response<PageBody> {
    let mut response = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
        format!("Use {allow}."),
    )
    .into_response(false);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}
