//! The load balancer in front of the two demo instances: one external URL (the apps'
//! `APP_URL`, the provider's redirect and back-channel logout URIs), round robin, and the next
//! instance when one refuses the connection (as a balancer's health check would). It sees every
//! request the app gets, so the status counts and latencies are taken here.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::stats::{Event, Stats};

pub struct Lb {
    client: reqwest::Client,
    backends: Vec<u16>,
    next: AtomicUsize,
    stats: Arc<Stats>,
}

/// Headers that belong to one hop.
const HOP: [&str; 5] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "upgrade",
];

fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let mut out = headers.clone();
    for name in HOP {
        out.remove(name);
    }
    out
}

pub async fn serve(listener: tokio::net::TcpListener, backends: Vec<u16>, stats: Arc<Stats>) {
    let lb = Arc::new(Lb {
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .build()
            .expect("build the balancer's client"),
        backends,
        next: AtomicUsize::new(0),
        stats,
    });
    let app = axum::Router::new().fallback(forward).with_state(lb);
    axum::serve(listener, app)
        .await
        .expect("the balancer serves");
}

async fn forward(State(lb): State<Arc<Lb>>, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let first = lb.next.fetch_add(1, Ordering::Relaxed);
    for attempt in 0..lb.backends.len() {
        let port = lb.backends[(first + attempt) % lb.backends.len()];
        let sent = lb
            .client
            .request(
                parts.method.clone(),
                format!("http://127.0.0.1:{port}{path}"),
            )
            .headers(end_to_end(&parts.headers))
            .body(body.clone())
            .send()
            .await;
        let answer = match sent {
            Ok(answer) => answer,
            // Not sent: the next instance.
            Err(e) if e.is_connect() => continue,
            Err(e) => {
                lb.stats.event(Event::NoAnswer, || {
                    format!("{} {path}: instance :{port}: {e}", parts.method)
                });
                return (StatusCode::BAD_GATEWAY, "the instance did not answer").into_response();
            }
        };
        let status = answer.status();
        let headers = end_to_end(answer.headers());
        let bytes = match answer.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => {
                lb.stats.event(Event::NoAnswer, || {
                    format!("{} {path}: body from :{port}: {e}", parts.method)
                });
                return (StatusCode::BAD_GATEWAY, "the instance broke off").into_response();
            }
        };
        lb.stats.response(status.as_u16(), started.elapsed());
        let mut response = Response::new(Body::from(bytes));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        return response;
    }
    lb.stats.event(Event::NoAnswer, || {
        format!("{} {path}: no instance accepts connections", parts.method)
    });
    (StatusCode::BAD_GATEWAY, "no instance").into_response()
}
