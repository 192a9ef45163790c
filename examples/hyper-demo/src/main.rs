//! oidc-layer on plain hyper 1.x, without axum: a public `/`, a protected `/me` and a public
//! `/whoami` that read the [`Identity`] from the request extensions.
//!
//!     cargo run -p hyper-demo      # http://127.0.0.1:3003
//!
//! `PORT` sets another port (`0`: any free one; the URL printed at start says which). The
//! provider is the embedded test provider (users alice, bob and carol); built without the
//! default feature `embedded-provider`, the demo signs in at `OIDC_ISSUER` with
//! `OIDC_CLIENT_ID` and `OIDC_CLIENT_SECRET` instead.
//!
//! What hyper needs that the compiler will not say:
//! - hyper 1.x has a `Service` trait of its own: the layered tower service is handed to
//!   `serve_connection` through hyper-util's `TowerToHyperService` (feature `service`);
//! - the inner service is a *tower* service (`tower::service_fn`, not `hyper::service::service_fn`);
//! - the response body becomes `oidc_layer::ResponseBody<B>` (the inner body, or a page the
//!   layer wrote), whose `Data` is `Bytes`: the inner body's `Data` must be `Bytes` too
//!   (`OidcLayer::wrap` reports a wrong one at its call).

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use oidc_layer::{Identity, OidcConfig, OidcLayer, ProviderBuilder};

/// The app behind the layer: `/` for everyone; `/me` for signed-in people (the layer sends
/// anyone else to sign in first); `/whoami`, a public path, answers the identity or, to
/// someone not signed in, the layer's "not signed in" answer (`401` problem+json) without
/// sending them anywhere.
async fn app(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match request.uri().path() {
        "/" => text(
            StatusCode::OK,
            "public: <a href=\"/me\">/me</a>",
            "text/html",
        ),
        "/me" | "/whoami" => match Identity::of(&request) {
            Ok(identity) => text(
                StatusCode::OK,
                &serde_json::to_string(identity).unwrap_or_default(),
                "application/json",
            ),
            // On `/me` only if it were made a public path: the layer challenged already.
            Err(missing) => missing.into_http_response(),
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

/// The embedded test provider, started in this process (it serves while the second value
/// lives).
#[cfg(feature = "embedded-provider")]
async fn provider()
-> Result<(ProviderBuilder, oidc_testkit::TestProvider), Box<dyn std::error::Error>> {
    let provider = oidc_testkit::TestProvider::builder()
        .allow_any_loopback_redirect()
        .start()
        .await?;
    let builder = ProviderBuilder::new("Test provider")
        .issuer(provider.issuer())
        .client_id(provider.client_id())
        .client_secret(provider.client_secret());
    Ok((builder, provider))
}

/// The provider `OIDC_ISSUER`, `OIDC_CLIENT_ID` and `OIDC_CLIENT_SECRET` name.
#[cfg(not(feature = "embedded-provider"))]
async fn provider() -> Result<(ProviderBuilder, ()), Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let builder = ProviderBuilder::new("Identity provider")
        .issuer(var("OIDC_ISSUER")?)
        .client_id(var("OIDC_CLIENT_ID")?)
        .client_secret(var("OIDC_CLIENT_SECRET")?);
    Ok((builder, ()))
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
    let (provider, _running) = provider().await?;
    let config = OidcConfig::builder()
        .external_url(&app_url)
        .public_paths(["/", "/whoami"])
        .provider(provider.scopes(["openid", "profile", "email", "groups"]))
        .build()?;
    // `wrap` checks here that `app` fits behind the layer (e.g. that its body yields `Bytes`);
    // `ServiceBuilder::new().layer(..).service(..)` gives the same service, checked only
    // where hyper first uses it.
    let service = OidcLayer::new(config).wrap(tower::service_fn(app));
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
