//! The hot path (a request with a valid session) writes nothing to the session store and
//! allocates only a fixed, small number of blocks, counted here with a counting global
//! allocator: the same request is sent to the bare service and through `OidcLayer`, and the
//! difference is what the layer costs.
//!
//!     cargo test -p oidc-layer --test hot_path_allocations -- --nocapture
//!
//! The counts are global, so this file holds a single test (no other test thread allocates
//! meanwhile) and polls the services on its own thread without a runtime.

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
    Identity, LocalUser, MemoryStore, OidcConfig, OidcLayer, SessionData, SessionId, SessionStore,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::{Layer, Service, ServiceExt};

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

#[test]
fn an_authenticated_request_allocates_only_the_identity_and_writes_nothing() {
    let config = OidcConfig::builder()
        .issuer("https://id.example.com")
        .client_id("app")
        .client_secret("secret")
        .external_url("http://127.0.0.1:8080")
        .build()
        .expect("config");
    let store = MemoryStore::<SessionData>::new();
    let layer = OidcLayer::new(config).with_store(store.clone());
    // A real session, created the way the app's local login does (no provider needed).
    let set_cookie = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(layer.sign_in_local(
            &Default::default(),
            LocalUser {
                username: "alice".into(),
                ..LocalUser::default()
            },
        ))
        .expect("sign in");
    let session = set_cookie
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let id = SessionId::parse(session.split_once('=').expect("pair").1).expect("session id");
    let before = ready_now(store.load(&id)).expect("load").expect("session");

    let bare = tower::service_fn(hello);
    let layered = layer.layer(tower::service_fn(hello));
    let bare_counts = count(&bare, &session, StatusCode::NO_CONTENT);
    let layer_counts = count(&layered, &session, StatusCode::OK);
    let extra = layer_counts.median - bare_counts.median;
    println!(
        "allocations per request: bare {} ({} bytes), with the layer {} ({} bytes), \
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
        "the hot path wrote the session"
    );
    assert_eq!(
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(store.len()),
        1
    );

    // What the layer adds per request, all fixed-size:
    //   1. the boxed `ResponseFuture` (the service's future is a named, boxed type);
    //   2. the identity in the request's extensions: the extension map (allocated by the
    //      first insert, unless a router already put something there), its table, and the
    //      boxed `Identity` (an `Arc` clone: the claims are not copied).
    // The memory store answers `load_now` from memory: no boxed `load` future.
    assert!(
        extra <= 4,
        "the hot path allocates {extra} blocks per request, expected at most 4"
    );
}
