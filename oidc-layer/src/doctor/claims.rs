//! The `claims` check: the username, groups and required claims against `claims_supported`
//! (when advertised). A claim missing there is [`Level::Info`]: `claims_supported` need not
//! list every claim (OpenID Connect Discovery 1.0 section 3), and Keycloak, Entra ID, Dex,
//! Google and Auth0 all leave out group and custom claims, so a warning would fail every
//! `--strict` check without telling anything. The first sign-in shows what is really sent.

use super::{Document, Level, ProviderReport, string_list};
use crate::config::ProviderConfig;

/// Appended to each finding about a claim missing from `claims_supported`.
const USUAL: &str = "(informational, not a warning: providers often leave claims out of claims_supported, Keycloak, Entra ID, Dex, Google and Auth0 among them; check the identity after a first sign-in)";

/// Whether `claim` (a name or a path) is advertised: its whole name, or its first segment.
fn advertised(supported: &[&str], claim: &str) -> bool {
    supported.contains(&claim)
        || claim
            .trim_start_matches('/')
            .split('/')
            .next()
            .is_some_and(|first| supported.contains(&first))
}

/// The claims the configuration reads against `claims_supported`, when advertised.
pub(super) fn check(report: &mut ProviderReport, settings: &ProviderConfig, doc: &Document) {
    let username = settings.username_claim.as_str();
    let groups = settings.groups_claim.as_str();
    let Some(supported) = string_list(doc, "claims_supported") else {
        report.push(
            Level::Ok,
            "claims",
            format!(
                "username from `{username}`, groups from `{groups}` (the provider does not advertise claims_supported)"
            ),
        );
        return;
    };
    let mut fine = true;
    if !advertised(&supported, username) {
        fine = false;
        report.push(
            Level::Info,
            "claims",
            format!(
                "username_claim `{username}` is not in claims_supported: usernames may fall back to the `sub` {USUAL}"
            ),
        );
    }
    if !advertised(&supported, groups) {
        let (level, consequence) = if settings.role_map.is_some() {
            (
                Level::Info,
                format!(
                    "roles are configured and end up empty if the provider does not send it (check the provider's group mapper or scope) {USUAL}"
                ),
            )
        } else {
            (
                Level::Ok,
                "no roles are configured, so it is not needed".to_owned(),
            )
        };
        fine &= level == Level::Ok;
        report.push(
            level,
            "claims",
            format!("groups_claim `{groups}` is not in claims_supported: {consequence}"),
        );
    }
    for required in &settings.required_claims {
        if !advertised(&supported, required.as_str()) {
            fine = false;
            report.push(
                Level::Info,
                "claims",
                format!(
                    "required claim `{required}` is not in claims_supported: every login is refused unless the provider sends it anyway {USUAL}"
                ),
            );
        }
    }
    if fine {
        report.push(
            Level::Ok,
            "claims",
            format!("username from `{username}`, groups from `{groups}`: advertised"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_advertised_by_name_or_first_segment() {
        let supported = [
            "sub",
            "groups",
            "realm_access",
            "urn:zitadel:iam:org:project:roles",
        ];
        assert!(advertised(&supported, "groups"));
        assert!(advertised(&supported, "realm_access/roles"));
        assert!(advertised(&supported, "urn:zitadel:iam:org:project:roles"));
        assert!(!advertised(&supported, "https://example.com/roles"));
        assert!(!advertised(&supported, "roles"));
    }
}
