//! The `logout` check: the post-logout redirect URI (when the provider has an end-session
//! endpoint or `end_session_url` is set) and the back-channel logout URI (when advertised) to
//! register.

use serde_json::Value;

use super::{Document, Level, ProviderReport};
use crate::config::ProviderConfig;
use crate::layer::Registration;

/// The logout URIs to register, as far as the provider supports logout.
pub(super) fn check(
    report: &mut ProviderReport,
    settings: &ProviderConfig,
    doc: &Document,
    registration: &Registration,
) {
    let end_session = doc
        .get("end_session_endpoint")
        .and_then(Value::as_str)
        .is_some();
    if settings.end_session_url.is_some() {
        report.push(
            Level::Ok,
            "logout",
            format!(
                "logout goes to the configured end_session_url; allow the return URL {} there",
                registration.post_logout_redirect_uri
            ),
        );
    } else if end_session {
        report.push(
            Level::Ok,
            "logout",
            format!(
                "RP-initiated logout: register the post-logout redirect URI {}",
                registration.post_logout_redirect_uri
            ),
        );
    } else {
        report.push(
            Level::Ok,
            "logout",
            "the provider has no end_session_endpoint: logout ends the app's session only (set end_session_url if it has a logout URL)",
        );
    }
    let flag = |name: &str| doc.get(name).and_then(Value::as_bool).unwrap_or(false);
    if flag("backchannel_logout_supported") {
        let session = if flag("backchannel_logout_session_supported") {
            " with \"session required\" (sid)"
        } else {
            ""
        };
        report.push(
            Level::Ok,
            "logout",
            format!(
                "back-channel logout: register {}{session}",
                registration.backchannel_logout_uri
            ),
        );
    }
}
