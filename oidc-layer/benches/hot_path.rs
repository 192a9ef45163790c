//! The cost of the layer on an authenticated request: the same trivial service called bare and
//! behind `OidcLayer` with a valid session, in one run, in process (no sockets on the measured
//! path). The session comes from a real login against the in-process test provider.
//!
//!     cargo bench -p oidc-layer --features testkit --bench hot_path

use std::convert::Infallible;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use oidc_layer::testkit::TestProvider;
use oidc_layer::{OidcConfig, OidcLayer};
use tower::{Layer, ServiceExt};

#[path = "common/mod.rs"]
mod common;

async fn bare(_request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::from("ok")))
}

fn hot_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let provider = rt
        .block_on(
            TestProvider::builder()
                .auto_login("alice")
                .allow_any_loopback_redirect()
                .start(),
        )
        .expect("provider");
    let config = OidcConfig::builder()
        .issuer(provider.issuer())
        .client_id(provider.client_id())
        .client_secret(provider.client_secret())
        .external_url("http://127.0.0.1:8080")
        .build()
        .expect("config");
    let bare_service = tower::service_fn(bare);
    let layered = OidcLayer::new(config).layer(bare_service);
    let session = rt.block_on(common::login(&layered, "/whoami"));
    let request = |cookie: Option<&str>| {
        let mut builder = Request::get("/whoami")
            .header(header::ACCEPT, "text/html")
            .header(header::USER_AGENT, "bench")
            .header(header::ACCEPT_LANGUAGE, "en");
        if let Some(cookie) = cookie {
            builder = builder.header(header::COOKIE, format!("theme=dark; {cookie}; _ga=GA1.2.3"));
        }
        builder.body(Full::default()).expect("request")
    };

    let mut group = c.benchmark_group("authenticated_request");
    group.bench_function("bare", |b| {
        b.to_async(&rt).iter(|| async {
            bare_service
                .oneshot(request(Some(&session)))
                .await
                .expect("ok")
        })
    });
    group.bench_function("with_layer", |b| {
        b.to_async(&rt).iter(|| async {
            let response = layered
                .clone()
                .oneshot(request(Some(&session)))
                .await
                .expect("ok");
            debug_assert_eq!(response.status(), StatusCode::OK);
            response
        })
    });
    group.finish();
    rt.block_on(provider.shutdown());
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
