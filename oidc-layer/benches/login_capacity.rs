//! Login capacity: the CPU a login start and a callback cost the app, the provider's own work
//! excluded, and what that makes per second on one core.
//!
//! The in-process provider (oidc-testkit) runs on a thread of its own; the layer, with its HTTP
//! client, runs on this thread (a current-thread runtime), whose CPU time is read from
//! `/proc/thread-self/schedstat` around a batch of login starts, then around the batch of their
//! callbacks (the provider's authorizations in between, untimed; the kernel updates that
//! figure at scheduler ticks and switches, so single steps would read 0). Waiting for the
//! provider costs no CPU, so
//! what is measured is the layer's own work: for the start, the attempt cookie and the
//! authorization URL; for the callback, the attempt cookie, the state, the code exchange's
//! request and response, the ID token's validation (RS256), the userinfo request, the session
//! and its cookies. Discovery and keys are cached (one warm-up login fetches them).
//!
//!     cargo bench -p oidc-layer --bench login_capacity
//!
//! Linux only (schedstat). `LOGIN_CAPACITY_LOGINS` (default 2000) sets the number of logins.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use oidc_layer::{OidcConfig, OidcLayer};
use oidc_testkit::TestProvider;
use tower::{Layer, ServiceExt};

#[path = "common/cookies.rs"]
mod cookies;

async fn hello(_request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::from("hello")))
}

/// This thread's time on a CPU so far, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("/proc/thread-self/schedstat (Linux)");
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("schedstat's first field")
}

type Layered =
    oidc_layer::OidcService<tower::util::ServiceFn<fn(Request<Full<Bytes>>) -> HelloFuture>>;
type HelloFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>,
>;

fn hello_boxed(request: Request<Full<Bytes>>) -> HelloFuture {
    Box::pin(hello(request))
}

/// A login start through the layer: the 302 to the provider, with the attempt cookie.
async fn start(layered: &Layered) -> Response<oidc_layer::ResponseBody<Full<Bytes>>> {
    let request = Request::get("/hello")
        .header(header::ACCEPT, "text/html")
        .body(Full::default())
        .expect("request");
    let response = layered.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::FOUND);
    response
}

/// The provider's authorization for the login `started`; the callback request it leads to.
async fn to_callback(
    http: &reqwest::Client,
    started: Response<oidc_layer::ResponseBody<Full<Bytes>>>,
) -> Request<Full<Bytes>> {
    let authorize = started.headers()[header::LOCATION]
        .to_str()
        .expect("location")
        .to_owned();
    let answer = http.get(&authorize).send().await.expect("provider");
    let callback = url::Url::parse(
        answer.headers()[header::LOCATION]
            .to_str()
            .expect("location"),
    )
    .expect("url");
    Request::get(format!(
        "{}?{}",
        callback.path(),
        callback.query().unwrap_or("")
    ))
    .header(header::ACCEPT, "text/html")
    .header(header::COOKIE, cookies::cookie_pairs(&started).join("; "))
    .body(Full::default())
    .expect("request")
}

fn main() {
    let logins: usize = std::env::var("LOGIN_CAPACITY_LOGINS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    // The provider, on its own thread and runtime.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let provider = TestProvider::builder()
                .auto_login("alice")
                .allow_any_loopback_redirect()
                .start()
                .await
                .expect("provider");
            tx.send((
                provider.issuer().to_owned(),
                provider.client_id().to_owned(),
                provider.client_secret().to_owned(),
            ))
            .expect("send");
            std::future::pending::<()>().await;
        });
    });
    let (issuer, client_id, client_secret) = rx.recv().expect("the provider started");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let config = OidcConfig::builder()
            .issuer(issuer)
            .client_id(client_id)
            .client_secret(client_secret)
            .external_url("http://127.0.0.1:8080")
            .build()
            .expect("config");
        let layered: Layered = OidcLayer::new(config).layer(tower::service_fn(
            hello_boxed as fn(Request<Full<Bytes>>) -> HelloFuture,
        ));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        // One login fetches discovery and keys: not counted.
        let warm = start(&layered).await;
        let warm = to_callback(&http, warm).await;
        let response = layered.clone().oneshot(warm).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "login failed");

        // The starts, timed as one batch: the kernel updates a thread's CPU time at scheduler
        // ticks and switches, so only a batch of many is measured to the microsecond.
        let before = thread_cpu_ns();
        let mut started = Vec::with_capacity(logins);
        for _ in 0..logins {
            started.push(start(&layered).await);
        }
        let starts_ns = thread_cpu_ns() - before;
        // The provider's authorizations (this thread's HTTP client: untimed).
        let mut callbacks = Vec::with_capacity(logins);
        for response in started {
            callbacks.push(to_callback(&http, response).await);
        }
        // The callbacks, timed as one batch.
        let before = thread_cpu_ns();
        for request in callbacks {
            let response = layered.clone().oneshot(request).await.expect("infallible");
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "login failed");
        }
        let callbacks_ns = thread_cpu_ns() - before;

        let per = |ns: u64| ns as f64 / logins as f64;
        let (start_ns, callback_ns) = (per(starts_ns), per(callbacks_ns));
        println!(
            "login capacity ({logins} logins; the layer's CPU on this thread, provider excluded):"
        );
        println!(
            "  login start: {:.1} us CPU = {:.0} starts/s per core",
            start_ns / 1e3,
            1e9 / start_ns
        );
        println!(
            "  callback:    {:.1} us CPU = {:.0} callbacks/s per core",
            callback_ns / 1e3,
            1e9 / callback_ns
        );
        println!(
            "  a whole login (start + callback) = {:.0} logins/s per core",
            1e9 / (start_ns + callback_ns)
        );
    });
}
