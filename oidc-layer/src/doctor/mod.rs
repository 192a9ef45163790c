//! The configuration doctor: [`OidcLayer::check`] asks every configured provider what it
//! supports and reports, per provider, what is fine, what looks wrong and what will break
//! logins, before a person finds out at the login page.
//!
//! Each provider gets these checks, in this order (a failed discovery skips the ones that need
//! the document):
//!
//! | check | what |
//! |---|---|
//! | `discovery` | the discovery document is reachable and is JSON |
//! | `issuer` | the provider's `issuer` equals the configured one (a trailing slash is tolerated; `http` vs `https`, host or path differences are not) |
//! | `metadata` | the document passes the layer's own validation (endpoints, https) |
//! | `redirect_uri` | the redirect URI to register, and whether the authorization endpoint accepts it (one authorization request, never completed) |
//! | `client_secret` | one token request with a dummy code, authenticated as the layer authenticates (`client_secret_basic`, or `client_secret_post` when that is all the provider takes): `invalid_client` (or `401`) is an [`Level::Error`], a wrong secret; `invalid_grant` means the secret is right; any other answer is reported as inconclusive (a warning). The secret goes only to the token endpoint and never into the report |
//! | `logout` | the post-logout redirect URI (when the provider has an end-session endpoint or `end_session_url` is set) and the back-channel logout URI (when advertised) to register |
//! | `scopes` | configured scopes against `scopes_supported` (when advertised) |
//! | `claims` | the username, groups and required claims against `claims_supported` (when advertised); one missing there is [`Level::Info`], not a warning: the list need not be complete (OpenID Connect Discovery 1.0 section 3), and Keycloak, Entra ID, Dex, Google and Auth0 leave group and custom claims out |
//! | `jwks` | the key set is reachable, not empty, and has signing keys the layer can use (each it cannot use is named: short RSA, P-521, private members); an asymmetric ID-token algorithm is advertised and a usable key fits one |
//! | `clock` | the provider's `Date` header against this machine's clock (a warning above `clock_leeway_seconds`) |
//!
//! ```no_run
//! # async fn run(layer: oidc_layer::OidcLayer) {
//! let report = layer.check().await;
//! println!("{report}");
//! if !report.is_ok() {
//!     std::process::exit(1);
//! }
//! # }
//! ```

mod claims;
mod client_secret;
mod clock;
mod discovery;
mod issuer;
mod jwks;
mod logout;
mod metadata;
mod redirect;
mod scopes;

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::config::ProviderConfig;
use crate::http_client::HttpClient;
use crate::layer::{OidcLayer, Registration};

/// A discovery document as a JSON object.
type Document = serde_json::Map<String, Value>;

/// How serious a [`Finding`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Level {
    /// Checked and fine (or information, such as a URI to register).
    Ok,
    /// Cannot be told from what the provider advertises, and usual: worth knowing, not
    /// counted as a warning (a `--strict` check passes). For example a claim missing from
    /// `claims_supported`, which Keycloak, Entra ID, Dex, Google and Auth0 all leave out.
    Info,
    /// Probably fine, but worth a look: logins may work, some features may not.
    Warn,
    /// Logins through this provider will fail (or it could not be checked at all).
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Level::Ok => "ok",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        })
    }
}

/// One result of one check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// How serious it is.
    pub level: Level,
    /// Which check: `discovery`, `issuer`, `metadata`, `redirect_uri`, `client_secret`,
    /// `logout`, `scopes`, `claims`, `jwks` or `clock`.
    pub check: &'static str,
    /// What was found, for a person (never a secret).
    pub message: String,
}

/// What the doctor found about one provider.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ProviderReport {
    /// The provider's display name.
    pub name: String,
    /// The provider's slug.
    pub slug: String,
    /// The issuer as configured.
    pub issuer: String,
    /// The findings, in the order the checks ran.
    pub findings: Vec<Finding>,
}

impl ProviderReport {
    /// The most serious level among the findings (`Ok` when there are none).
    pub fn level(&self) -> Level {
        self.findings
            .iter()
            .map(|f| f.level)
            .max()
            .unwrap_or(Level::Ok)
    }

    /// The findings of one check.
    pub fn check(&self, check: &str) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.check == check)
    }

    /// An empty report for the provider `settings` describes.
    fn new(settings: &ProviderConfig) -> Self {
        Self {
            name: settings.name.clone(),
            slug: settings.slug.clone(),
            issuer: settings.issuer.clone(),
            findings: Vec::new(),
        }
    }

    fn push(&mut self, level: Level, check: &'static str, message: impl Into<String>) {
        self.findings.push(Finding {
            level,
            check,
            message: message.into(),
        });
    }
}

/// The doctor's report: one [`ProviderReport`] per configured provider. `Display` prints it
/// for a terminal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Report {
    /// One report per provider, in configuration order.
    pub providers: Vec<ProviderReport>,
}

impl Report {
    /// No finding is an [`Level::Error`] (warnings allowed).
    pub fn is_ok(&self) -> bool {
        self.errors() == 0
    }

    /// How many findings are errors.
    pub fn errors(&self) -> usize {
        self.count(Level::Error)
    }

    /// How many findings are warnings (what a `--strict` check fails on; [`Level::Info`]
    /// findings are not counted).
    pub fn warnings(&self) -> usize {
        self.count(Level::Warn)
    }

    /// How many findings are [`Level::Info`]: usual for many providers, not warnings.
    pub fn notes(&self) -> usize {
        self.count(Level::Info)
    }

    fn count(&self, level: Level) -> usize {
        self.providers
            .iter()
            .flat_map(|p| &p.findings)
            .filter(|f| f.level == level)
            .count()
    }

    /// The report of the provider with `slug`.
    pub fn provider(&self, slug: &str) -> Option<&ProviderReport> {
        self.providers.iter().find(|p| p.slug == slug)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.providers.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            writeln!(f, "{} ({}): {}", p.name, p.slug, p.issuer)?;
            for finding in &p.findings {
                let mut lines = finding.message.lines();
                writeln!(
                    f,
                    "  {:<5} {:<13} {}",
                    finding.level,
                    finding.check,
                    lines.next().unwrap_or("")
                )?;
                for line in lines {
                    writeln!(f, "  {:<5} {:<13} {line}", "", "")?;
                }
            }
        }
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let (errors, warnings) = (self.errors(), self.warnings());
        write!(
            f,
            "\n{}: {errors} error{}, {warnings} warning{}",
            if errors > 0 { "FAILED" } else { "OK" },
            plural(errors),
            plural(warnings)
        )
    }
}

impl OidcLayer {
    /// Checks every configured provider against what it advertises, and lists what must be
    /// registered there: see the [doctor module](crate::doctor). Never panics and never
    /// prints a secret; a provider that cannot be reached is an [`Level::Error`] finding.
    pub async fn check(&self) -> Report {
        let shared = self.current();
        let registrations = self.registrations();
        let leeway = shared.config.clock_leeway;
        let mut providers = Vec::with_capacity(shared.providers.len());
        for runtime in &shared.providers {
            let registration = registrations
                .iter()
                .find(|r| r.slug == runtime.settings.slug);
            providers
                .push(check_provider(self.http(), &runtime.settings, registration, leeway).await);
        }
        Report { providers }
    }
}

/// Runs every check on one provider, in the order of the table in the module docs.
async fn check_provider(
    http: &HttpClient,
    settings: &ProviderConfig,
    registration: Option<&Registration>,
    leeway: Duration,
) -> ProviderReport {
    let mut report = ProviderReport::new(settings);
    let Some(fetched) = discovery::check(&mut report, http, &settings.discovery_url).await else {
        registrations_only(&mut report, registration);
        return report;
    };
    issuer::check(&mut report, settings, &fetched.doc);
    let metadata = metadata::check(&mut report, settings, &fetched.body);
    if let Some(registration) = registration {
        redirect::check(&mut report, http, settings, metadata.as_ref(), registration).await;
        if let Some(metadata) = &metadata {
            client_secret::check(&mut report, http, settings, metadata, registration).await;
        }
        logout::check(&mut report, settings, &fetched.doc, registration);
    }
    scopes::check(&mut report, settings, &fetched.doc);
    claims::check(&mut report, settings, &fetched.doc);
    if let Some(metadata) = &metadata {
        jwks::check(&mut report, http, settings, metadata).await;
    }
    clock::check(
        &mut report,
        &fetched.headers,
        fetched.sent,
        fetched.elapsed,
        leeway,
    );
    report
}

/// `error` and its sources, joined (reqwest's top-level message alone hides "connection
/// refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = e.source();
    }
    message
}

/// What to register at a provider whose discovery document could not be read.
fn registrations_only(report: &mut ProviderReport, registration: Option<&Registration>) {
    if let Some(r) = registration {
        report.push(
            Level::Ok,
            "redirect_uri",
            format!("register this redirect URI: {}", r.redirect_uri),
        );
        report.push(
            Level::Ok,
            "logout",
            format!(
                "if the provider supports logout, register the post-logout redirect URI {} and the back-channel logout URI {}",
                r.post_logout_redirect_uri, r.backchannel_logout_uri
            ),
        );
    }
}

/// The strings of the list `name` in the document (`None` when it is not advertised).
fn string_list<'a>(doc: &'a Document, name: &str) -> Option<Vec<&'a str>> {
    doc.get(name)
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_summarises() {
        let report = Report {
            providers: vec![ProviderReport {
                name: "Keycloak".into(),
                slug: "keycloak".into(),
                issuer: "https://kc.example.com/realms/home".into(),
                findings: vec![
                    Finding {
                        level: Level::Ok,
                        check: "discovery",
                        message: "fine".into(),
                    },
                    Finding {
                        level: Level::Error,
                        check: "issuer",
                        message: "wrong\nhint".into(),
                    },
                ],
            }],
        };
        let text = report.to_string();
        assert!(!report.is_ok());
        assert!(text.starts_with("Keycloak (keycloak): https://kc.example.com/realms/home\n"));
        assert!(text.contains("  ok    discovery     fine\n"), "{text}");
        assert!(text.contains("  error issuer        wrong\n"), "{text}");
        assert!(text.contains("                      hint\n"), "{text}");
        assert!(text.ends_with("FAILED: 1 error, 0 warnings"), "{text}");
    }
}
