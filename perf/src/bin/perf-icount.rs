//! Instructions per request, for callgrind: `perf-icount MODE N` sends N authenticated
//! requests to the axum app of MODE (`bare` or `layer`), in process, on one thread. Run it under
//! `valgrind --tool=callgrind` with two values of N: the difference of the totals over the
//! difference of N is the instructions one request costs, free of timing noise.
//!
//! The session is made with `OidcLayer::sign_in_local` (no provider: nothing else runs).

use axum::body::Body;
use http::{Request, StatusCode, header};
use oidc_layer::{LocalUser, OidcConfig, OidcLayer};
use oidc_layer_perf::{Error, app, runtime};
use tower::ServiceExt;

async fn run(mode: &str, n: u32) -> Result<(), Error> {
    let config = OidcConfig::builder()
        .issuer("https://id.example.com")
        .client_id("app")
        .client_secret("secret")
        .external_url("http://127.0.0.1:8080")
        .build()?;
    let layer = OidcLayer::new(config);
    let cookie = layer
        .sign_in_local(&Default::default(), LocalUser {
            username: "alice".into(),
            ..LocalUser::default()
        })
        .await?
        .to_str()?
        .split(';')
        .next()
        .ok_or("cookie")?
        .to_owned();
    let router = match mode {
        "bare" => app(),
        "layer" => app().layer(layer),
        other => return Err(format!("unknown mode {other}").into()),
    }
    .with_state::<()>(());
    for _ in 0..n {
        let request = Request::get("/hello")
            .header(header::ACCEPT, "text/html")
            .header(header::COOKIE, format!("theme=dark; {cookie}"))
            .body(Body::empty())?;
        let response = router.clone().oneshot(request).await?;
        if response.status() != StatusCode::OK {
            return Err(format!("{mode}: {}", response.status()).into());
        }
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, n] = args.as_slice() else {
        return Err("usage: perf-icount MODE N".into());
    };
    runtime()?.block_on(run(mode, n.parse()?))
}
