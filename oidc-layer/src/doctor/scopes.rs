//! The `scopes` check: the configured scopes against `scopes_supported` (when advertised).

use super::{Document, Level, ProviderReport, string_list};
use crate::config::ProviderConfig;

/// The configured scopes against `scopes_supported`, when advertised.
pub(super) fn check(report: &mut ProviderReport, settings: &ProviderConfig, doc: &Document) {
    let requested = settings.scopes.join(" ");
    let Some(supported) = string_list(doc, "scopes_supported") else {
        report.push(
            Level::Ok,
            "scopes",
            format!("requesting `{requested}` (the provider does not advertise scopes_supported)"),
        );
        return;
    };
    let unknown: Vec<&str> = settings
        .scopes
        .iter()
        .map(String::as_str)
        .filter(|s| !supported.contains(s))
        .collect();
    if unknown.is_empty() {
        report.push(
            Level::Ok,
            "scopes",
            format!("requesting `{requested}`, all advertised"),
        );
    } else {
        report.push(
            Level::Warn,
            "scopes",
            format!(
                "`{}` not in scopes_supported ({}); the provider may refuse the login or ignore the scope",
                unknown.join(" "),
                supported.join(" ")
            ),
        );
    }
    if settings.role_map.is_some()
        && supported.contains(&"groups")
        && !settings.scopes.iter().any(|s| s == "groups")
    {
        report.push(
            Level::Warn,
            "scopes",
            "the provider offers a `groups` scope that is not requested, and roles are configured: add it to `scopes` if groups come from it",
        );
    }
}
