//! The `discovery` check: the discovery document is reachable and is a JSON object. Every other
//! check reads what this one fetched.

use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::{Document, Level, ProviderReport, error_chain};
use crate::http_client::HttpClient;

/// The discovery document as fetched, with what the `clock` check needs to know about the
/// request.
pub(super) struct Fetched {
    /// The answer's headers (`Date`).
    pub(super) headers: HeaderMap,
    /// The body, as received (for the layer's own parser).
    pub(super) body: Vec<u8>,
    /// The body as a JSON object (for the checks reading fields the layer does not keep).
    pub(super) doc: Document,
    /// When the request was sent, by this machine's clock.
    pub(super) sent: SystemTime,
    /// How long the answer took.
    pub(super) elapsed: Duration,
}

/// Fetches the discovery document at `url` and reports how that went; `None` when there is no
/// document to check further.
pub(super) async fn check(
    report: &mut ProviderReport,
    http: &HttpClient,
    url: &str,
) -> Option<Fetched> {
    let sent = SystemTime::now();
    let started = Instant::now();
    let fetched = http.get_with_headers(url).await;
    let elapsed = started.elapsed();
    let (status, headers, body) = match fetched {
        Ok(answer) => answer,
        Err(e) => {
            report.push(
                Level::Error,
                "discovery",
                format!("cannot reach {url}: {}", error_chain(&e)),
            );
            return None;
        }
    };
    if !status.is_success() {
        let hint = if status == StatusCode::NOT_FOUND {
            " (is the issuer URL complete? Keycloak needs /realms/<realm>, Authentik /application/o/<slug>/, Entra ID /<tenant>/v2.0)"
        } else {
            ""
        };
        report.push(
            Level::Error,
            "discovery",
            format!("{url} answered {status}{hint}"),
        );
        return None;
    }
    let doc: Document = match serde_json::from_slice(&body) {
        Ok(Value::Object(doc)) => doc,
        _ => {
            report.push(
                Level::Error,
                "discovery",
                format!("{url} did not answer with a JSON object (a proxy's page?)"),
            );
            return None;
        }
    };
    report.push(
        Level::Ok,
        "discovery",
        format!("{url} answered in {} ms", elapsed.as_millis()),
    );
    Some(Fetched {
        headers,
        body,
        doc,
        sent,
        elapsed,
    })
}
