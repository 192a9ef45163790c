//! oidc-layer on plain hyper 1.x, without axum: a public `/` and a protected `/me` that reads
//! the [`Identity`] from the request extensions.
//!
//!     cargo run -p hyper-demo      # http://127.0.0.1:3003
//!
//! `PORT` sets another port (`0`: any free one; the URL printed at start says which). The
//! provider is the embedded test provider (users alice, bob and carol).
//!
//! What hyper needs that the compiler will not say:
//! - hyper 1.x has a `Service` trait of its own: the layered tower service is handed to
//!   `serve_connection` through hyper-util's `TowerToHyperService` (feature `service`);
//! - the inner service is a *tower* service (`tower::service_fn`, not `hyper::service::service_fn`);
//! - the response body becomes `oidc_layer::ResponseBody<B>` (the inner body, or a page the
//!   layer wrote), whose `Data` is `Bytes`: the inner body's `Data` must be `Bytes` too.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use oidc_layer::{Identity, OidcConfig, OidcLayer, ProviderBuilder};
use oidc_testkit::TestProvider;
use tower::ServiceBuilder;

/// The app behind the layer: `/` for everyone, `/me` for signed-in people (the layer sends
/// anyone else to sign in first, so the `Identity` is there).
async fn app(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match request.uri().path() {
        "/" => text(
            StatusCode::OK,
            "public: <a href=\"/me\">/me</a>",
            "text/html",
        ),
        "/me" => match request.extensions().get::<Identity>() {
            Some(identity) => text(
                StatusCode::OK,
                &serde_json::to_string(identity).unwrap_or_default(),
                "application/json",
            ),
            // Only when `/me` is made a public path: the layer let the request through.
            None => text(StatusCode::UNAUTHORIZED, "sign in first", "text/plain"),
        },
        _ => text(StatusCode::NOT_FOUND, "not found", "text/plain"),
    };
    Ok(response)
}

fn text(status: StatusCode, body: &str, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().init();
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse()?,
        Err(_) => 3003,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let app_url = format!("http://{}", listener.local_addr()?);
    let provider = TestProvider::builder()
        .allow_any_loopback_redirect()
        .start()
        .await?;
    let config = OidcConfig::builder()
        .external_url(&app_url)
        .public_paths(["/"])
        .provider(
            ProviderBuilder::new("Test provider")
                .issuer(provider.issuer())
                .client_id(provider.client_id())
                .client_secret(provider.client_secret())
                .scopes(["openid", "profile", "email", "groups"]),
        )
        .build()?;
    let service = ServiceBuilder::new()
        .layer(OidcLayer::new(config))
        .service(tower::service_fn(app));
    println!("open {app_url}/me");
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                eprintln!("connection error: {e}");
            }
        });
    }
}
