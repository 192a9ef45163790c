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
use tower::{Layer, Service, ServiceExt};

async fn bare(_request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::from("ok")))
}

fn cookie_pairs(response: &Response<impl Sized>) -> Vec<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|line| !line.contains("Max-Age=0"))
        .filter_map(|line| line.split(';').next().map(str::to_owned))
        .collect()
}

/// Logs alice in through the layer and the test provider; returns the session cookie pair.
async fn login<S>(service: &mut S) -> String
where
    S: Service<
            Request<Full<Bytes>>,
            Response = Response<oidc_layer::ResponseBody<Full<Bytes>>>,
            Error = Infallible,
        > + Clone,
{
    let start = Request::get("/whoami")
        .header(header::ACCEPT, "text/html")
        .body(Full::default())
        .expect("request");
    let response = service.clone().oneshot(start).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::FOUND);
    let attempt = cookie_pairs(&response).join("; ");
    let authorize = response.headers()[header::LOCATION]
        .to_str()
        .expect("location")
        .to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let to_callback = http.get(&authorize).send().await.expect("provider");
    let callback = url::Url::parse(
        to_callback.headers()[header::LOCATION]
            .to_str()
            .expect("location"),
    )
    .expect("url");
    let request = Request::get(format!(
        "{}?{}",
        callback.path(),
        callback.query().unwrap_or("")
    ))
    .header(header::ACCEPT, "text/html")
    .header(header::COOKIE, attempt)
    .body(Full::default())
    .expect("request");
    let response = service.clone().oneshot(request).await.expect("infallible");
    if response.status() != StatusCode::SEE_OTHER {
        use http_body_util::BodyExt;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        panic!("login failed: {status} {}", String::from_utf8_lossy(&body));
    }
    cookie_pairs(&response)
        .into_iter()
        .find(|c| c.starts_with("oidc_session="))
        .expect("session cookie")
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
    let mut layered = OidcLayer::new(config).layer(bare_service);
    let session = rt.block_on(login(&mut layered));
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
