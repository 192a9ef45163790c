//! The cost of the layer on an authenticated request: the same trivial service called bare and
//! behind `OidcLayer` with a valid session, in one run, in process (no sockets on the measured
//! path). `with_layer` uses the session a real login against the in-process test provider
//! leaves (refresh token, expiring access token, 20 claims, roles, idle timeout:
//! `common/realistic.rs`); `with_layer_break_glass` the bare session of `sign_in_local`.
//! Every measured response is checked to be a 200 (a real assert: benches build without
//! debug assertions), so no figure comes from a redirect.
//!
//!     cargo bench -p oidc-layer --bench hot_path

use std::convert::Infallible;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use oidc_layer::{LocalUser, OidcLayer};
use tower::{Layer, ServiceExt};

#[path = "common/mod.rs"]
mod common;
#[path = "common/realistic.rs"]
mod realistic;

async fn bare(_request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::from("ok")))
}

fn hot_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let provider = rt.block_on(realistic::provider()).expect("provider");
    let config = realistic::config(&provider, "http://127.0.0.1:8080").expect("config");
    let bare_service = tower::service_fn(bare);
    let layer = OidcLayer::new(config);
    let layered = layer.clone().layer(bare_service);
    let session = rt.block_on(common::login(&layered, "/whoami"));
    let local_session = rt
        .block_on(layer.sign_in_local(
            &Default::default(),
            LocalUser {
                username: "alice".into(),
                ..LocalUser::default()
            },
        ))
        .expect("sign in")
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("a name=value pair")
        .to_owned();
    let request = |cookie: &str| {
        Request::get("/whoami")
            .header(header::ACCEPT, "text/html")
            .header(header::USER_AGENT, "bench")
            .header(header::ACCEPT_LANGUAGE, "en")
            .header(header::COOKIE, format!("theme=dark; {cookie}; _ga=GA1.2.3"))
            .body(Full::default())
            .expect("request")
    };

    let mut group = c.benchmark_group("authenticated_request");
    group.bench_function("bare", |b| {
        b.to_async(&rt).iter(|| async {
            let response = bare_service.oneshot(request(&session)).await.expect("ok");
            assert_eq!(response.status(), StatusCode::OK);
            response
        })
    });
    for (name, cookie) in [
        ("with_layer", &session),
        ("with_layer_break_glass", &local_session),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let response = layered.clone().oneshot(request(cookie)).await.expect("ok");
                assert_eq!(response.status(), StatusCode::OK);
                response
            })
        });
    }
    group.finish();
    rt.block_on(provider.shutdown());
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
