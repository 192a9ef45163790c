//! The `issuer` check: the provider's `issuer` equals the configured one, as the layer compares
//! issuers ([`issuers_match`]: a trailing slash is tolerated, nothing else).

use serde_json::Value;
use url::Url;

use super::{Document, Level, ProviderReport};
use crate::config::ProviderConfig;
use crate::provider::{issuers_match, normalized_issuer};

/// Compares the document's `issuer` with the configured one; on a mismatch, says how they
/// differ and what usually causes it.
pub(super) fn check(report: &mut ProviderReport, settings: &ProviderConfig, doc: &Document) {
    let configured = settings.issuer.as_str();
    let Some(advertised) = doc.get("issuer").and_then(Value::as_str) else {
        report.push(
            Level::Error,
            "issuer",
            "the discovery document has no issuer",
        );
        return;
    };
    if advertised == configured {
        report.push(Level::Ok, "issuer", format!("`{advertised}` as configured"));
        return;
    }
    if issuers_match(configured, advertised) {
        report.push(
            Level::Ok,
            "issuer",
            format!(
                "`{advertised}` (the configured `{configured}` differs only by a trailing slash, which is tolerated)"
            ),
        );
        return;
    }
    report.push(
        Level::Error,
        "issuer",
        format!(
            "the provider says its issuer is `{advertised}` but `{configured}` is configured; every login would be refused.\n{}",
            mismatch_hint(configured, advertised)
        ),
    );
}

/// What usually makes `advertised` differ from `configured` that way, and what to do.
fn mismatch_hint(configured: &str, advertised: &str) -> &'static str {
    match (Url::parse(configured), Url::parse(advertised)) {
        (Ok(c), Ok(a))
            if c.scheme() != a.scheme()
                && c.host() == a.host()
                && normalized_issuer(c.path()) == normalized_issuer(a.path()) =>
        {
            if a.scheme() == "http" {
                "the provider believes it is served over http: behind a TLS-terminating proxy it must be told the public URL (Keycloak: KC_PROXY_HEADERS=xforwarded and KC_HOSTNAME; others: X-Forwarded-Proto)"
            } else {
                "configure the https URL the provider advertises"
            }
        }
        (Ok(c), Ok(a))
            if c.host() != a.host() || c.port_or_known_default() != a.port_or_known_default() =>
        {
            "the host differs: configure the issuer exactly as the provider advertises it (localhost and 127.0.0.1 are different hosts; the provider may need its public hostname configured)"
        }
        _ => {
            "the path differs: copy the issuer from the provider's discovery document (Entra ID: https://login.microsoftonline.com/<tenant id>/v2.0; Keycloak: /realms/<realm>)"
        }
    }
}
