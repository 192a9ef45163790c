//! The application under test, served on a loopback port.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use url::{Origin, Url};

/// A loopback listener bound before anything else, so the app's URL (and the redirect URI the
/// provider must know) is fixed before the provider and the layer are configured.
#[derive(Debug)]
pub struct AppListener {
    listener: TcpListener,
    addr: SocketAddr,
}

impl AppListener {
    /// Binds `127.0.0.1:0`.
    pub async fn bind() -> AppListener {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("local_addr of a bound listener");
        AppListener { listener, addr }
    }

    /// `http://127.0.0.1:<port>` (no trailing slash): the layer's `external_url`.
    pub fn external_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:<port>/auth/oidc`: the redirect URI to register at the provider.
    pub fn redirect_uri(&self) -> String {
        format!("{}/auth/oidc", self.external_url())
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A free loopback port, already bound (alias of [`AppListener::bind`]: returning a bare port
/// number would race with other tests).
pub async fn free_port() -> AppListener {
    AppListener::bind().await
}

/// The application under test, served on its [`AppListener`]. Stopped when dropped.
#[derive(Debug)]
pub struct App {
    addr: SocketAddr,
    server: JoinHandle<()>,
}

impl App {
    /// Serves `router` on `listener` in a background task.
    pub fn spawn(router: Router, listener: AppListener) -> App {
        let AppListener { listener, addr } = listener;
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, router).await {
                eprintln!("[app] server error: {err}");
            }
        });
        App { addr, server }
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn external_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The app's origin.
    pub fn origin(&self) -> Origin {
        self.url("/").origin()
    }

    /// An absolute URL on the app: `app.url("/whoami?x=1")`. `path_and_query` is appended
    /// verbatim (so `app.url("//evil.example")` is the path `//evil.example` on the app).
    pub fn url(&self, path_and_query: &str) -> Url {
        let raw = format!("{}{}", self.external_url(), path_and_query);
        Url::parse(&raw).unwrap_or_else(|err| panic!("bad app URL {raw:?}: {err}"))
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.server.abort();
    }
}
