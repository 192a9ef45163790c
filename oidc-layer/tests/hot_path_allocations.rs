//! The hot path (a request with a valid session) writes nothing to the session store and
//! allocates only a fixed, small number of blocks, counted here with a counting global
//! allocator: the same request is sent to the bare service and through `OidcLayer`, and the
//! difference is what the layer costs.
//!
//!     cargo test -p oidc-layer --test hot_path_allocations -- --nocapture
//!
//! Measured on two sessions: the one a real OpenID Connect login leaves (refresh token, an
//! access token that expires, 20 claims, roles, an idle timeout: `benches/common/realistic.rs`),
//! the figure the README gives; and the break-glass session of `sign_in_local` (no tokens, no
//! claims), the easiest path, for comparison.
//!
//! The counts are global, so this file holds a single test (no other test thread allocates
//! meanwhile) and polls the services on its own thread without a runtime. The provider's
//! runtime is idle while the requests are counted (the hot path never calls it), and each
//! figure is the median of many requests.

use std::alloc::System;
use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use oidc_layer::{
    Identity, LocalUser, MemoryStore, OidcLayer, ResponseBody, SessionData, SessionId, SessionStore,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::{Layer, Service, ServiceExt};

#[path = "../benches/common/mod.rs"]
mod common;
#[path = "../benches/common/realistic.rs"]
mod realistic;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Requests measured per service, after as many warm-up requests.
const REQUESTS: usize = 2_000;

/// Polls `future` once: the hot path never waits (no I/O, no lock held across an await).
fn ready_now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the hot path waited"),
    }
}

/// The inner service: answers a static body and checks that the identity arrived.
async fn hello(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let status = match request.extensions().get::<Identity>() {
        Some(_) => StatusCode::OK,
        None => StatusCode::NO_CONTENT,
    };
    let mut response = Response::new(Full::from("hello"));
    *response.status_mut() = status;
    Ok(response)
}

/// A browser's request: a few headers and the session cookie among others.
fn request(session: &str) -> Request<Full<Bytes>> {
    Request::get("/hello")
        .header(header::ACCEPT, "text/html")
        .header(header::USER_AGENT, "Mozilla/5.0")
        .header(header::ACCEPT_LANGUAGE, "en")
        .header(
            header::COOKIE,
            format!("theme=dark; {session}; _ga=GA1.2.3"),
        )
        .body(Full::default())
        .expect("request")
}

#[derive(Debug, Clone, Copy)]
struct Counts {
    /// Allocations (and reallocations) of the typical request: the median.
    median: u64,
    /// The fewest and most of any request (the most includes the store's occasional
    /// housekeeping, amortised over many requests).
    min: u64,
    max: u64,
    /// Bytes allocated by the median request.
    bytes: u64,
}

/// Sends `REQUESTS` requests (after as many warm-up ones) and counts what each allocates,
/// from the call to the response (the response is dropped outside the count).
fn count<S, B>(service: &S, session: &str, expected: StatusCode) -> Counts
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Infallible> + Clone,
{
    let mut samples = Vec::with_capacity(REQUESTS);
    for round in 0..2 * REQUESTS {
        let request = request(session);
        let region = Region::new(GLOBAL);
        let response = ready_now(service.clone().oneshot(request)).expect("infallible");
        let change = region.change();
        assert_eq!(response.status(), expected);
        drop(response);
        if round >= REQUESTS {
            let blocks = u64::try_from(change.allocations + change.reallocations).unwrap_or(0);
            let bytes = u64::try_from(change.bytes_allocated).unwrap_or(0);
            samples.push((blocks, bytes));
        }
    }
    samples.sort_unstable();
    let (median, bytes) = samples[samples.len() / 2];
    Counts {
        median,
        min: samples[0].0,
        max: samples[samples.len() - 1].0,
        bytes,
    }
}

/// The `name=value` pair of the session cookie in a `Set-Cookie` line.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .expect("a name=value pair")
        .to_owned()
}

/// What one session costs through `layered`, against the bare service; asserts that nothing
/// was written to `store` (which holds that one session) and returns the layer's extra
/// allocations per request.
fn measure<S>(name: &str, layered: &S, store: &MemoryStore<SessionData>, session: &str) -> u64
where
    S: Service<
            Request<Full<Bytes>>,
            Response = Response<ResponseBody<Full<Bytes>>>,
            Error = Infallible,
        > + Clone,
{
    let id = SessionId::parse(session.split_once('=').expect("pair").1).expect("session id");
    let before = ready_now(store.load(&id)).expect("load").expect("session");

    let bare = tower::service_fn(hello);
    let bare_counts = count(&bare, session, StatusCode::NO_CONTENT);
    let layer_counts = count(layered, session, StatusCode::OK);
    let extra = layer_counts.median - bare_counts.median;
    println!(
        "allocations per request ({name}): bare {} ({} bytes), with the layer {} ({} bytes), \
         min {} max {}; the layer adds {extra} ({} bytes)",
        bare_counts.median,
        bare_counts.bytes,
        layer_counts.median,
        layer_counts.bytes,
        layer_counts.min,
        layer_counts.max,
        layer_counts.bytes - bare_counts.bytes,
    );

    // Nothing was written: the stored record is still the very one created at sign-in (a
    // save would have replaced it), and no session was created or deleted.
    let after = ready_now(store.load(&id)).expect("load").expect("session");
    assert!(
        Arc::ptr_eq(&before, &after),
        "{name}: the hot path wrote the session"
    );
    assert_eq!(
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(store.len()),
        1,
        "{name}: one session"
    );
    extra
}

#[test]
fn an_authenticated_request_allocates_only_the_identity_and_writes_nothing() {
    // A real login against the in-process provider; its runtime serves the login only.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let provider = runtime
        .block_on(realistic::provider())
        .expect("the test provider");
    let config =
        realistic::config(&provider, "http://127.0.0.1:8080").expect("the realistic config");
    let store = MemoryStore::<SessionData>::new();
    let layered = OidcLayer::new(config)
        .with_store(store.clone())
        .layer(tower::service_fn(hello));
    let session = runtime.block_on(common::login(&layered, "/hello"));
    // The session is the realistic one: tokens, every claim, roles, the idle timeout.
    let id = SessionId::parse(session.split_once('=').expect("pair").1).expect("session id");
    let record = ready_now(store.load(&id)).expect("load").expect("session");
    let data = serde_json::to_value(&record.data).expect("serialize the session");
    for field in ["refresh_token", "access_expires_at", "id_token"] {
        assert!(
            !data[field].is_null(),
            "the measured session has no {field}: {data}"
        );
    }
    let identity = record.data.identity();
    let user = realistic::user();
    // 20 claims of the person's (the ID token adds the protocol's own: `iss`, `nonce`...).
    assert_eq!(user.claims.len(), 20);
    for name in user.claims.keys() {
        assert!(
            identity.claims().contains_key(name),
            "the session lacks the claim {name}: {identity:?}"
        );
    }
    assert_eq!(identity.roles(), ["admin"]);
    drop(record);
    let oidc_extra = measure("OIDC session", &layered, &store, &session);

    // The break-glass session of the same layer configuration, in a store of its own.
    let local_store = MemoryStore::<SessionData>::new();
    let local_layer =
        OidcLayer::new(realistic::config(&provider, "http://127.0.0.1:8080").expect("config"))
            .with_store(local_store.clone());
    let set_cookie = runtime
        .block_on(local_layer.sign_in_local(
            &Default::default(),
            LocalUser {
                username: "alice".into(),
                ..LocalUser::default()
            },
        ))
        .expect("sign in");
    let local_session = cookie_pair(set_cookie.to_str().expect("ascii"));
    let local_extra = measure(
        "break-glass session",
        &local_layer.layer(tower::service_fn(hello)),
        &local_store,
        &local_session,
    );

    // What the layer adds per request, all fixed-size, whatever the session holds:
    //   1. the boxed `ResponseFuture` (the service's future is a named, boxed type);
    //   2. the identity in the request's extensions: the extension map (allocated by the
    //      first insert, unless a router already put something there), its table, and the
    //      boxed `Identity` (an `Arc` clone: the claims are not copied);
    //   3. the boxed `AppSession` (two `Arc` clones and the session id), the app's handle to
    //      its data in the session.
    // The memory store answers `load_now` from memory: no boxed `load` future.
    for (name, extra) in [("OIDC", oidc_extra), ("break-glass", local_extra)] {
        assert!(
            extra <= 5,
            "{name}: the hot path allocates {extra} blocks per request, expected at most 5"
        );
    }
    runtime.block_on(provider.shutdown());
}
