//! Access tokens cost the hot path (a request with a valid session) nothing beyond one header
//! lookup: the same session request allocates exactly as much with access tokens on as off.
//! And a token the layer has verified before is served without waiting (no I/O, no lock held
//! across an await), like a session, at a bounded number of allocations.
//!
//!     cargo test -p oidc-layer --test bearer_hot_path -- --nocapture
//!
//! Counted with a counting global allocator: this file holds a single test and polls the
//! services on its own thread without a runtime (as `hot_path_allocations.rs`).

#![allow(clippy::unwrap_used)]

use std::alloc::System;
use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use oidc_layer::roles::RoleMapConfig;
use oidc_layer::{Identity, OidcConfig, OidcLayer};
use serde_json::json;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::{Layer, Service, ServiceExt};

#[path = "../benches/common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../benches/common/realistic.rs"]
mod realistic;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const REQUESTS: usize = 1_000;
const AUDIENCE: &str = "https://api.example.test";

fn ready_now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the request waited"),
    }
}

async fn hello(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let status = match request.extensions().get::<Identity>() {
        Some(_) => StatusCode::OK,
        None => StatusCode::NO_CONTENT,
    };
    Ok(Response::builder()
        .status(status)
        .body(Full::from("hello"))
        .unwrap())
}

/// The realistic session configuration, with `/api/*` as API paths and, when `tokens`, an API
/// audience (access tokens on).
fn config(provider: &oidc_testkit::TestProvider, tokens: bool) -> OidcConfig {
    let mut builder = OidcConfig::builder()
        .issuer(provider.issuer())
        .client_id(provider.client_id())
        .client_secret(provider.client_secret())
        .scopes(["openid", "profile", "email", "groups"])
        .roles(
            RoleMapConfig::new()
                .rule("admins", "admin")
                .rule("users", "trusted"),
        )
        .session_idle_timeout(realistic::IDLE_TIMEOUT)
        .external_url("http://127.0.0.1:8080")
        .api_paths(["/api/*"]);
    if tokens {
        builder = builder.api_audience(AUDIENCE);
    }
    builder.build().unwrap()
}

/// The median allocations of `REQUESTS` requests made by `request` (after as many warm-up
/// ones), each served without waiting.
fn median_allocations<S, B>(service: &S, request: impl Fn() -> Request<Full<Bytes>>) -> u64
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Infallible> + Clone,
{
    let mut samples = Vec::with_capacity(REQUESTS);
    for round in 0..2 * REQUESTS {
        let request = request();
        let region = Region::new(GLOBAL);
        let response = ready_now(service.clone().oneshot(request)).unwrap();
        let change = region.change();
        assert_eq!(response.status(), StatusCode::OK);
        drop(response);
        if round >= REQUESTS {
            samples.push(u64::try_from(change.allocations + change.reallocations).unwrap());
        }
    }
    samples.sort_unstable();
    samples[samples.len() / 2]
}

#[test]
fn tokens_add_nothing_to_the_session_hot_path_and_a_known_token_is_served_at_once() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let provider = runtime.block_on(realistic::provider()).unwrap();
    let off = OidcLayer::new(config(&provider, false)).layer(tower::service_fn(hello));
    let on = OidcLayer::new(config(&provider, true)).layer(tower::service_fn(hello));
    let session_off = runtime.block_on(common::login(&off, "/hello"));
    let session_on = runtime.block_on(common::login(&on, "/hello"));
    let by_cookie = |session: &str| {
        let cookie = HeaderValue::from_str(&format!("theme=dark; {session}; _ga=GA1.2.3")).unwrap();
        move || {
            Request::get("/api/hello")
                .header(header::ACCEPT, "application/json")
                .header(header::COOKIE, cookie.clone())
                .body(Full::default())
                .unwrap()
        }
    };
    let session_without_tokens = median_allocations(&off, by_cookie(&session_off));
    let session_with_tokens = median_allocations(&on, by_cookie(&session_on));

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = oidc_testkit::sign_jws(
        Some(
            json!({"alg": "RS256", "typ": "at+jwt", "kid": "testkit-rs256-1"})
                .to_string()
                .as_bytes(),
        ),
        json!({
            "iss": provider.issuer(), "sub": "u-1001-alice", "aud": AUDIENCE, "client_id": "cli",
            "iat": now, "exp": now + 3600, "preferred_username": "alice", "groups": ["admins"],
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let authorization = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    let by_token = || {
        Request::get("/api/hello")
            .header(header::ACCEPT, "application/json")
            .header(header::AUTHORIZATION, authorization.clone())
            .body(Full::default())
            .unwrap()
    };
    // The first request verifies the token (it may wait for the provider's keys).
    let first = runtime.block_on(on.clone().oneshot(by_token())).unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let known_token = median_allocations(&on, by_token);
    println!(
        "allocations per request: session {session_without_tokens} (tokens off), \
         {session_with_tokens} (tokens on); known token {known_token}"
    );
    assert_eq!(
        session_with_tokens, session_without_tokens,
        "access tokens on must not cost a session request an allocation"
    );
    // A known token costs what a session does: no copy of the token, nothing per token.
    assert!(
        known_token <= session_with_tokens,
        "a known token allocates {known_token}, a session {session_with_tokens}"
    );
    runtime.block_on(provider.shutdown());
}
