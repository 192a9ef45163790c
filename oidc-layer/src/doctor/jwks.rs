//! The `jwks` check: the key set is reachable, not empty, and has signing keys; an asymmetric
//! ID-token algorithm is advertised (or configured).

use serde_json::Value;

use super::{Level, ProviderReport, error_chain};
use crate::config::ProviderConfig;
use crate::http_client::HttpClient;
use crate::provider::{Metadata, is_asymmetric_alg};

/// The ID-token algorithms the layer would accept, then the key set at `jwks_uri`.
pub(super) async fn check(
    report: &mut ProviderReport,
    http: &HttpClient,
    settings: &ProviderConfig,
    metadata: &Metadata,
) {
    let usable = usable_algs(report, settings, metadata);
    let url = metadata.jwks_uri.as_str();
    let Some(keys) = fetch_keys(report, http, url).await else {
        return;
    };
    let signing = keys
        .iter()
        .filter(|k| {
            let field = |name: &str| k.get(name).and_then(Value::as_str);
            matches!(field("kty"), Some("RSA" | "EC" | "OKP"))
                && field("use").is_none_or(|u| u == "sig")
                && field("alg").is_none_or(is_asymmetric_alg)
        })
        .count();
    if keys.is_empty() {
        report.push(
            Level::Error,
            "jwks",
            format!("{url} has no keys: no ID token can be verified"),
        );
    } else if signing == 0 {
        report.push(
            Level::Error,
            "jwks",
            format!(
                "{url} has {} key(s) but none for asymmetric signatures (kty RSA/EC/OKP, use sig)",
                keys.len()
            ),
        );
    } else {
        report.push(
            Level::Ok,
            "jwks",
            format!(
                "{signing} signing key(s) of {} at {url}; accepting {}",
                keys.len(),
                usable.join(", ")
            ),
        );
    }
}

/// The asymmetric algorithms pinned in the configuration, or else advertised; an error finding
/// when there is none.
fn usable_algs<'a>(
    report: &mut ProviderReport,
    settings: &'a ProviderConfig,
    metadata: &'a Metadata,
) -> Vec<&'a str> {
    let advertised: Vec<&str> = metadata
        .id_token_signing_algs
        .iter()
        .map(String::as_str)
        .filter(|a| is_asymmetric_alg(a))
        .collect();
    let usable: Vec<&str> = match &settings.id_token_signing_algs {
        Some(pinned) => pinned
            .iter()
            .map(String::as_str)
            .filter(|a| is_asymmetric_alg(a))
            .collect(),
        None => advertised,
    };
    if usable.is_empty() {
        report.push(
            Level::Error,
            "jwks",
            format!(
                "no asymmetric ID-token algorithm to accept (advertised: {}); the layer never accepts `none` or HMAC",
                if metadata.id_token_signing_algs.is_empty() {
                    "none".to_owned()
                } else {
                    metadata.id_token_signing_algs.join(", ")
                }
            ),
        );
    }
    usable
}

/// The `keys` of the key set at `url`; `None` (and an error finding) when it cannot be read.
async fn fetch_keys(
    report: &mut ProviderReport,
    http: &HttpClient,
    url: &str,
) -> Option<Vec<Value>> {
    let body = match http.get_json(url).await {
        Ok((status, body)) if status.is_success() => body,
        Ok((status, _)) => {
            report.push(Level::Error, "jwks", format!("{url} answered {status}"));
            return None;
        }
        Err(e) => {
            report.push(
                Level::Error,
                "jwks",
                format!("cannot reach {url}: {}", error_chain(&e)),
            );
            return None;
        }
    };
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mut set)) => match set.remove("keys") {
            Some(Value::Array(keys)) => Some(keys),
            _ => {
                report.push(
                    Level::Error,
                    "jwks",
                    format!("{url} is not a key set (no `keys` list)"),
                );
                None
            }
        },
        _ => {
            report.push(
                Level::Error,
                "jwks",
                format!("{url} did not answer with JSON"),
            );
            None
        }
    }
}
