//! [`OidcService`]: routes the layer's own paths, attaches the session's identity, and
//! challenges requests without one.
//!
//! The hot path (a request with a valid session) is one cookie lookup, one store load and one
//! extension insert; nothing is written to the store. With access tokens on, it costs one more
//! header lookup (`Authorization`); a request with a `Bearer`/`DPoP` credential on a bearer
//! path takes the bearer path instead (`crate::bearer`), which never reads the cookie.

mod body;
pub(crate) mod challenge;
mod router;
mod silent;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use http::header::AUTHORIZATION;
use http::{Request, Response};
use session_store::{Record, SessionId};
use tower_service::Service;

use crate::app_data::AppSession;
use crate::bearer::{self, Lookup};
use crate::pages::{self, PageBody};
use crate::record::SessionData;
use crate::record::upkeep::Upkeep;
use crate::session::current::{self, Expired};
use crate::session::refresh;
use crate::state::Shared;
use crate::web::negotiate;
pub use body::{BoxError, ResponseBody};
use challenge::{
    LoginChallenge, challenge_response, is_public, provider_unavailable, store_unavailable,
};
use router::Routed;
use silent::Silent;

/// The service produced by [`OidcLayer`](crate::OidcLayer).
///
/// It is a tower [`Service`] of `http::Request<ReqBody>` when the inner service `S` is one
/// and (bounds written on the impl, so a mismatch is reported against them):
/// - `S::Response` is `http::Response<ResBody>` with `ResBody: http_body::Body<Data = Bytes>`
///   and `ResBody::Error: Into<BoxError>`: the answer is a [`ResponseBody<ResBody>`], your
///   body or a page the layer wrote, whose `Data` is [`Bytes`](bytes::Bytes). Use
///   `Full<Bytes>`, `BoxBody<Bytes, _>`, `String`, axum's `Body`; not `Full<&[u8]>` or
///   `Full<Vec<u8>>`;
/// - `S::Error: Into<BoxError>` (passed through unchanged; axum's `Infallible` and tower's
///   `BoxError` qualify), as hyper's `serve_connection` requires;
/// - `ReqBody: http_body::Body + Send + 'static` with `Send` data and errors into
///   [`BoxError`] (hyper's `Incoming`, axum's `Body`): the layer reads form posts itself;
/// - `S` is `Clone + Send + 'static` and its future `Send + 'static`.
///
/// `ServiceBuilder::layer(..).service(..)` cannot check them (the request type is not known
/// there), so the first place that asks for a `Service` reports them (axum's `Router::layer`,
/// or hyper's `serve_connection`), naming this impl's bounds. [`OidcLayer::wrap`] checks them
/// where the layer is applied:
///
/// ```compile_fail
/// use std::convert::Infallible;
/// use http_body_util::Full;
/// use oidc_layer::{OidcConfig, OidcLayer};
///
/// // `Full<&[u8]>`: its `Data` is `&[u8]`, not `Bytes`.
/// async fn app(_: http::Request<String>) -> Result<http::Response<Full<&'static [u8]>>, Infallible> {
///     Ok(http::Response::new(Full::new(&b"hello"[..])))
/// }
/// # fn run(config: OidcConfig) {
/// // error[E0271]: type mismatch resolving `<Full<&[u8]> as Body>::Data == Bytes`
/// //   = note: required for `OidcService<ServiceFn<..>>` to implement `Service<Request<String>>`
/// let service = OidcLayer::new(config).wrap(tower::service_fn(app));
/// # let _ = service; }
/// ```
///
/// [`OidcLayer::wrap`]: crate::OidcLayer::wrap
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

/// The bounds are the whole contract (see [`OidcService`]); each is written here, not left to
/// the `Body` impl of [`ResponseBody`], so a compiler error names it at the first use.
impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for OidcService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    // hyper's `serve_connection` needs it; passed through unchanged.
    S::Error: Into<BoxError> + 'static,
    ReqBody: http_body::Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
    // The answer is `ResponseBody<ResBody>`, a body only when the inner one yields `Bytes`.
    ResBody: http_body::Body<Data = bytes::Bytes> + 'static,
    ResBody::Error: Into<BoxError>,
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

/// One of the layer's own answers, in the app's branding and pages when it is a page.
fn page<B>(shared: &Shared, mut response: Response<PageBody>) -> Response<ResponseBody<B>> {
    if let Some(body) = pages::rebrand(shared, &mut response) {
        *response.body_mut() = body;
    }
    response.map(ResponseBody::page)
}

/// The inner service's answer; a page of the layer among them (a guard's `403`) is rendered
/// in the app's branding and pages (one extension lookup for any other response).
fn from_inner<B>(shared: &Shared, mut response: Response<B>) -> Response<ResponseBody<B>> {
    match pages::rebrand(shared, &mut response) {
        Some(body) => {
            let (parts, _) = response.into_parts();
            Response::from_parts(parts, ResponseBody::page(body))
        }
        None => response.map(ResponseBody::inner),
    }
}

/// One request: the layer's own routes, else the session's identity handed to the inner
/// service, else the challenge.
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
    // The layer's own routes are cold and boxed (see `router::route`). The hot path keeps the
    // request whole and borrows nothing across its await, so the head is not moved out and
    // back in (and the body need not be `Sync`).
    if shared
        .config
        .app_path(request.uri().path())
        .is_some_and(|path| path.starts_with(&shared.routes.prefix))
    {
        request = match Box::pin(router::route(&shared, request)).await {
            Routed::Answered(response) => return Ok(page(&shared, response)),
            Routed::Passed(request) => request,
        };
    }
    // Access tokens: one header lookup when they are on; the rest is the bearer path's.
    if let Some(bearer) = &shared.bearer
        && request.headers().contains_key(AUTHORIZATION)
        && let Some(path) = shared.config.app_path(request.uri().path())
        && bearer.covers(&shared.config, path)
    {
        let found = match bearer::lookup(bearer, request.headers()) {
            Lookup::NotOurs => None,
            Lookup::Found(found) => Some(found),
            // Not seen before: verification is cold and boxed.
            Lookup::Unknown(pending) => {
                match Box::pin(bearer::verify(&shared, bearer, pending)).await {
                    Ok(found) => Some(found),
                    Err(refusal) => return Ok(page(&shared, refusal.into_response(bearer))),
                }
            }
            Lookup::Refused(refusal) => return Ok(page(&shared, refusal.into_response(bearer))),
        };
        if let Some(found) = found {
            let identity =
                bearer::accept(&shared, &found, request.method(), path, request.headers());
            return match identity {
                Ok(identity) => {
                    request.extensions_mut().insert(identity);
                    inner.call(request).await.map(|r| from_inner(&shared, r))
                }
                Err(refusal) => Ok(page(&shared, refusal.into_response(bearer))),
            };
        }
    }
    let session = match current::cookie_id(&shared, request.headers()) {
        Some(id) => match live_session(&shared, &id).await {
            Ok(session) => session.map(|record| (id, record)),
            Err(_) if is_public(&shared, request.uri().path()) => None,
            Err(down) => {
                let html = negotiate::wants_html(request.headers());
                let answer = match down {
                    Down::Store => store_unavailable(html),
                    Down::Provider => provider_unavailable(html),
                };
                return Ok(page(&shared, answer));
            }
        },
        None => None,
    };
    // A silent sign-in that could not start: the page is served with the marker.
    let mut mark_silent = false;
    match session {
        Some((id, record)) => {
            let extensions = request.extensions_mut();
            extensions.insert(SessionData::identity_of(&record));
            if shared.config.expose_access_token
                && let Some(token) = &record.data.access_token
            {
                extensions.insert(token.clone());
            }
            extensions.insert(AppSession::new(shared.clone(), id, record));
        }
        None if is_public(&shared, request.uri().path()) => {
            if shared.config.silent_login.is_some() {
                let (parts, body) = request.into_parts();
                match Box::pin(silent::attempt(&shared, &parts)).await {
                    Silent::Redirect(redirect) => return Ok(page(&shared, redirect)),
                    Silent::NotStarted => mark_silent = true,
                    Silent::NotWanted => {}
                }
                request = Request::from_parts(parts, body);
            }
            request
                .extensions_mut()
                .insert(LoginChallenge(shared.clone()));
        }
        None => {
            let (parts, _body) = request.into_parts();
            return Ok(page(
                &shared,
                Box::pin(challenge_response(&shared, &parts)).await,
            ));
        }
    }
    inner.call(request).await.map(|r| {
        let mut r = from_inner(&shared, r);
        if mark_silent {
            silent::mark(&shared, r.headers_mut());
        }
        r
    })
}

/// Why a request with a session cookie cannot be answered now (logged).
enum Down {
    /// The session store failed: the request has no session it can know of.
    Store,
    /// The session's access token has expired and the provider cannot be asked for another
    /// (`refresh_failure = "suspend"`): the session is kept for when it can.
    Provider,
}

/// The live session `id` names, brought up to date when it is due (a refresh, or activity to
/// write: cold, boxed); `None` when there is none. A record this version cannot read (written
/// by a newer version during a rolling deploy, or damaged) is no session: the browser signs in
/// again instead of getting an error page until the record expires; the record is left alone.
async fn live_session(
    shared: &Arc<Shared>,
    id: &SessionId,
) -> Result<Option<Arc<Record<SessionData>>>, Down> {
    let now = SystemTime::now();
    match current::load(shared, id, Expired::EndedAt(now)).await {
        Ok(Some(record)) if refresh::due(shared, &record, now) => {
            match Box::pin(refresh::upkeep(shared, id, record)).await {
                Upkeep::Keep(record) => Ok(Some(record)),
                Upkeep::Ended => Ok(None),
                Upkeep::Suspended => Err(Down::Provider),
            }
        }
        Ok(record) => Ok(record),
        Err(session_store::Error::Codec(e)) => {
            tracing::warn!(error = %e, "unreadable session record; treating the request as signed out");
            Ok(None)
        }
        Err(e) => {
            tracing::error!(error = %e, "session store failed");
            Err(Down::Store)
        }
    }
}
