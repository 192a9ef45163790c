//! One server of the load test: `perf-server MODE PORT COOKIE_FILE`.
//!
//! Serves the variant MODE (`bare`, `layer`, `redis`, `axum-oidc`) on 127.0.0.1:PORT, logs in
//! against the in-process provider, writes the `Cookie` header to send to COOKIE_FILE and
//! serves until killed, on one thread.

use std::net::SocketAddr;

use oidc_layer_perf::{Error, login, runtime, variant};

async fn run(mode: &str, port: u16, cookie_file: &str) -> Result<(), Error> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let base = format!("http://{addr}");
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let (app, _provider) = variant(mode, &base).await?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let cookie = login(mode, &base).await?;
    std::fs::write(cookie_file, &cookie)?;
    server.await??;
    Ok(())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, port, cookie_file] = args.as_slice() else {
        return Err("usage: perf-server MODE PORT COOKIE_FILE".into());
    };
    runtime()?.block_on(run(mode, port.parse()?, cookie_file))
}
