//! Every variant called in process (no sockets, no HTTP parsing): the cost of the middleware
//! itself per authenticated request. `perf-inprocess [MODE...]` prints one line per variant:
//!
//!     inprocess MODE NS_PER_REQUEST
//!
//! Each variant is served on a loopback port only for the login; the measured requests go
//! straight to the router, on one thread. The figure is the median of 15 batches.

use std::time::{Duration, Instant};

use axum::body::Body;
use http::{Request, StatusCode, header};
use oidc_layer_perf::{Error, HAS_REDIS, MODES, login, runtime, variant};
use tower::ServiceExt;

const BATCHES: usize = 15;
const BATCH_TIME: Duration = Duration::from_millis(80);

async fn measure(mode: &str) -> Result<f64, Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (app, _provider) = variant(mode, &base).await?;
    let served = app.clone();
    let server = tokio::spawn(async move { axum::serve(listener, served).await });
    let cookie = login(mode, &base).await?;
    server.abort();
    // As `axum::serve` does: handlers become routes (with their layers) once, not per request.
    let app = app.with_state::<()>(());
    let request = || {
        Request::get("/hello")
            .header(header::ACCEPT, "text/html")
            .header(header::USER_AGENT, "Mozilla/5.0")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
    };
    let one = || async {
        let response = app.clone().oneshot(request()?).await?;
        if response.status() != StatusCode::OK {
            return Err::<(), Error>(format!("{mode}: {}", response.status()).into());
        }
        Ok(())
    };
    // Warm up, and size the batches.
    let start = Instant::now();
    let mut warm = 0u32;
    while start.elapsed() < BATCH_TIME * 3 {
        one().await?;
        warm += 1;
    }
    let per_batch = (f64::from(warm) / 3.0).max(1.0) as u32;
    let mut means = Vec::with_capacity(BATCHES);
    for _ in 0..BATCHES {
        let start = Instant::now();
        for _ in 0..per_batch {
            one().await?;
        }
        means.push(start.elapsed().as_nanos() as f64 / f64::from(per_batch));
    }
    means.sort_by(f64::total_cmp);
    Ok(means[BATCHES / 2])
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let modes: Vec<&str> = if args.is_empty() {
        MODES
            .into_iter()
            .filter(|m| *m != "redis" || HAS_REDIS)
            .collect()
    } else {
        args.iter().map(String::as_str).collect()
    };
    let rt = runtime()?;
    for mode in modes {
        let ns = rt.block_on(measure(mode))?;
        println!("inprocess {mode} {ns:.0}");
    }
    Ok(())
}
