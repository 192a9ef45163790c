//! Instructions per request, for callgrind: `perf-icount MODE N` sends N authenticated
//! requests to the axum app of MODE, in process, on one thread. Run it under
//! `valgrind --tool=callgrind` with two values of N: the difference of the totals over the
//! difference of N is the instructions one request costs, free of timing noise (the login
//! and start-up cost the same in both runs and cancel out).
//!
//! MODE: `bare`; `layer`, the session of a real login against the in-process provider
//! (refresh token, expiring access token, 20 claims, roles, idle timeout: the `realistic`
//! module), served on a loopback port for the login only; `layer-local`, the same layer with
//! the break-glass session of `OidcLayer::sign_in_local` (no tokens, no claims), the easiest
//! path. Every request must answer 200.

use axum::body::Body;
use http::{Request, StatusCode, header};
use oidc_layer::{LocalUser, OidcLayer};
use oidc_layer_perf::{Error, app, login, provider, realistic, runtime, variant};
use tower::ServiceExt;

async fn run(mode: &str, n: u32) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (router, cookie, _provider) = match mode {
        "bare" | "layer" => {
            let (router, provider) = variant(mode, &base).await?;
            let served = router.clone();
            let server = tokio::spawn(async move { axum::serve(listener, served).await });
            let cookie = login(mode, &base).await?;
            server.abort();
            (router, cookie, provider)
        }
        "layer-local" => {
            let provider = provider().await?;
            let layer = OidcLayer::new(realistic::config(&provider, &base)?);
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
            (app().layer(layer), cookie, Some(provider))
        }
        other => return Err(format!("unknown mode {other}").into()),
    };
    let router = router.with_state::<()>(());
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
