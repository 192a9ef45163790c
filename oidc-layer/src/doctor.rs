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
//! | `logout` | the post-logout redirect URI (when the provider has an end-session endpoint or `end_session_url` is set) and the back-channel logout URI (when advertised) to register |
//! | `scopes` | configured scopes against `scopes_supported` (when advertised) |
//! | `claims` | the username, groups and required claims against `claims_supported` (when advertised) |
//! | `jwks` | the key set is reachable, not empty, and has signing keys; an asymmetric ID-token algorithm is advertised |
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

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, StatusCode, header};
use serde_json::Value;
use url::Url;

use crate::config::ProviderConfig;
use crate::http_client::HttpClient;
use crate::layer::{OidcLayer, Registration};
use crate::provider::Metadata;

/// How serious a [`Finding`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Level {
    /// Checked and fine (or information, such as a URI to register).
    Ok,
    /// Probably fine, but worth a look: logins may work, some features may not.
    Warn,
    /// Logins through this provider will fail (or it could not be checked at all).
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Level::Ok => "ok",
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
    /// Which check: `discovery`, `issuer`, `metadata`, `redirect_uri`, `logout`, `scopes`,
    /// `claims`, `jwks` or `clock`.
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

    /// How many findings are warnings.
    pub fn warnings(&self) -> usize {
        self.count(Level::Warn)
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
                    "  {:<5} {:<12} {}",
                    finding.level,
                    finding.check,
                    lines.next().unwrap_or("")
                )?;
                for line in lines {
                    writeln!(f, "  {:<5} {:<12} {line}", "", "")?;
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

/// How long a clock may be off before the doctor says so, at least: the `Date` header has a
/// resolution of one second, and the request takes time.
const CLOCK_RESOLUTION: Duration = Duration::from_secs(2);

async fn check_provider(
    http: &HttpClient,
    settings: &ProviderConfig,
    registration: Option<&Registration>,
    leeway: Duration,
) -> ProviderReport {
    let mut report = ProviderReport {
        name: settings.name.clone(),
        slug: settings.slug.clone(),
        issuer: settings.issuer.clone(),
        findings: Vec::new(),
    };
    let url = &settings.discovery_url;
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
            registrations_only(&mut report, registration);
            return report;
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
        registrations_only(&mut report, registration);
        return report;
    }
    let doc: serde_json::Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(Value::Object(doc)) => doc,
        _ => {
            report.push(
                Level::Error,
                "discovery",
                format!("{url} did not answer with a JSON object (a proxy's page?)"),
            );
            registrations_only(&mut report, registration);
            return report;
        }
    };
    report.push(
        Level::Ok,
        "discovery",
        format!("{url} answered in {} ms", elapsed.as_millis()),
    );

    check_issuer(&mut report, settings, &doc);
    let metadata = match Metadata::parse(&body, &settings.issuer) {
        Ok(metadata) => {
            report.push(
                Level::Ok,
                "metadata",
                "the discovery document passes the layer's checks",
            );
            check_methods(&mut report, settings, &metadata);
            Some(metadata)
        }
        Err(e) => {
            // An issuer mismatch is already reported above.
            if !e.to_string().contains("says its issuer is") {
                report.push(Level::Error, "metadata", e.to_string());
            }
            None
        }
    };
    match (&metadata, registration) {
        (Some(metadata), Some(registration)) => {
            check_redirect_uri(&mut report, http, settings, metadata, registration).await;
        }
        (None, Some(registration)) => report.push(
            Level::Ok,
            "redirect_uri",
            format!("register this redirect URI: {}", registration.redirect_uri),
        ),
        _ => {}
    }
    if let Some(registration) = registration {
        check_logout(&mut report, settings, &doc, registration);
    }
    check_scopes(&mut report, settings, &doc);
    check_claims(&mut report, settings, &doc);
    if let Some(metadata) = &metadata {
        check_jwks(&mut report, http, settings, metadata).await;
    }
    check_clock(&mut report, &headers, sent, elapsed, leeway);
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

fn check_issuer(
    report: &mut ProviderReport,
    settings: &ProviderConfig,
    doc: &serde_json::Map<String, Value>,
) {
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
    if configured.trim_end_matches('/') == advertised.trim_end_matches('/') {
        report.push(
            Level::Ok,
            "issuer",
            format!(
                "`{advertised}` (the configured `{configured}` differs only by a trailing slash, which is tolerated)"
            ),
        );
        return;
    }
    let hint = match (Url::parse(configured), Url::parse(advertised)) {
        (Ok(c), Ok(a))
            if c.scheme() != a.scheme()
                && c.host() == a.host()
                && c.path().trim_end_matches('/') == a.path().trim_end_matches('/') =>
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
    };
    report.push(
        Level::Error,
        "issuer",
        format!(
            "the provider says its issuer is `{advertised}` but `{configured}` is configured; every login would be refused.\n{hint}"
        ),
    );
}

fn check_methods(report: &mut ProviderReport, settings: &ProviderConfig, metadata: &Metadata) {
    if let Some(methods) = &metadata.code_challenge_methods
        && !methods.iter().any(|m| m == "S256")
    {
        report.push(
            Level::Warn,
            "metadata",
            "the provider does not advertise PKCE S256 (code_challenge_methods_supported); the layer sends it anyway",
        );
    }
    let basic = metadata
        .token_auth_methods
        .iter()
        .any(|m| m == "client_secret_basic");
    let post = metadata
        .token_auth_methods
        .iter()
        .any(|m| m == "client_secret_post");
    if settings.client_secret.is_some() && !basic && !post {
        report.push(
            Level::Error,
            "metadata",
            format!(
                "the token endpoint supports neither client_secret_basic nor client_secret_post (it advertises {})",
                metadata.token_auth_methods.join(", ")
            ),
        );
    }
}

/// Sends one authorization request (never completed) and reads how the provider treats the
/// redirect URI: most providers refuse an unregistered one with an error page before any
/// sign-in page, and redirect other errors (`invalid_scope`, `unauthorized_client`) to it.
async fn check_redirect_uri(
    report: &mut ProviderReport,
    http: &HttpClient,
    settings: &ProviderConfig,
    metadata: &Metadata,
    registration: &Registration,
) {
    let redirect_uri = &registration.redirect_uri;
    let mut url = metadata.authorization_endpoint.clone();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &settings.client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", &settings.scopes.join(" "))
        .append_pair("state", "oidc-layer-doctor")
        .append_pair("nonce", "oidc-layer-doctor")
        // The S256 challenge of an unused verifier (RFC 7636 appendix B).
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256");
    let answer = match http.get_with_headers(url.as_str()).await {
        Ok(answer) => answer,
        Err(e) => {
            report.push(
                Level::Error,
                "redirect_uri",
                format!(
                    "register this redirect URI: {redirect_uri}\nthe authorization endpoint {} is unreachable: {}",
                    metadata.authorization_endpoint,
                    error_chain(&e)
                ),
            );
            return;
        }
    };
    let (status, headers, _) = answer;
    let location = headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| metadata.authorization_endpoint.join(l).ok());
    let back_to_us = location
        .as_ref()
        .filter(|l| l.as_str().split(['?', '#']).next() == Some(redirect_uri.as_str()));
    match back_to_us {
        Some(location) => {
            let error = location
                .query_pairs()
                .chain(location.fragment().map_or_else(Vec::new, |f| {
                    url::form_urlencoded::parse(f.as_bytes()).collect()
                }))
                .find(|(k, _)| k == "error")
                .map(|(_, v)| v.into_owned());
            match error {
                None => report.push(
                    Level::Ok,
                    "redirect_uri",
                    format!(
                        "{redirect_uri} is registered (the provider answered a test authorization request there)"
                    ),
                ),
                Some(error) => {
                    let hint = match error.as_str() {
                        "invalid_scope" => {
                            " (a configured scope is not allowed for this client)"
                        }
                        "unauthorized_client" => {
                            " (the client may not use the authorization code flow)"
                        }
                        _ => "",
                    };
                    report.push(
                        Level::Error,
                        "redirect_uri",
                        format!(
                            "{redirect_uri} is registered, but the provider refused a test authorization request with `{error}`{hint}"
                        ),
                    );
                }
            }
        }
        None if status.is_client_error() || status.is_server_error() => report.push(
            Level::Error,
            "redirect_uri",
            format!(
                "the provider refused a test authorization request ({status}): register the redirect URI {redirect_uri} exactly (scheme, host, port, path) for client `{}`, and check the client id",
                settings.client_id
            ),
        ),
        None => report.push(
            Level::Ok,
            "redirect_uri",
            format!(
                "register this redirect URI: {redirect_uri} (a test authorization request with it was not refused: {status})"
            ),
        ),
    }
}

fn check_logout(
    report: &mut ProviderReport,
    settings: &ProviderConfig,
    doc: &serde_json::Map<String, Value>,
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

fn string_list<'a>(doc: &'a serde_json::Map<String, Value>, name: &str) -> Option<Vec<&'a str>> {
    doc.get(name)
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
}

fn check_scopes(
    report: &mut ProviderReport,
    settings: &ProviderConfig,
    doc: &serde_json::Map<String, Value>,
) {
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

/// Whether `claim` (a name or a path) is advertised: its whole name, or its first segment.
fn advertised(supported: &[&str], claim: &str) -> bool {
    supported.contains(&claim)
        || claim
            .trim_start_matches('/')
            .split('/')
            .next()
            .is_some_and(|first| supported.contains(&first))
}

fn check_claims(
    report: &mut ProviderReport,
    settings: &ProviderConfig,
    doc: &serde_json::Map<String, Value>,
) {
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
            Level::Warn,
            "claims",
            format!(
                "username_claim `{username}` is not in claims_supported: usernames may fall back to the `sub`"
            ),
        );
    }
    if !advertised(&supported, groups) {
        let (level, consequence) = if settings.role_map.is_some() {
            (
                Level::Warn,
                "roles are configured and may end up empty (check the provider's group mapper or scope; custom claims are often not advertised)",
            )
        } else {
            (Level::Ok, "no roles are configured, so it is not needed")
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
                Level::Warn,
                "claims",
                format!(
                    "required claim `{required}` is not in claims_supported: every login is refused unless the provider sends it anyway"
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

/// Algorithms the layer accepts for ID tokens (asymmetric only).
fn asymmetric(alg: &str) -> bool {
    matches!(
        alg,
        "RS256"
            | "RS384"
            | "RS512"
            | "PS256"
            | "PS384"
            | "PS512"
            | "ES256"
            | "ES384"
            | "ES512"
            | "EdDSA"
    )
}

async fn check_jwks(
    report: &mut ProviderReport,
    http: &HttpClient,
    settings: &ProviderConfig,
    metadata: &Metadata,
) {
    let advertised: Vec<&str> = metadata
        .id_token_signing_algs
        .iter()
        .map(String::as_str)
        .filter(|a| asymmetric(a))
        .collect();
    let usable: Vec<&str> = match &settings.id_token_signing_algs {
        Some(pinned) => pinned
            .iter()
            .map(String::as_str)
            .filter(|a| asymmetric(a))
            .collect(),
        None => advertised.clone(),
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
    let url = metadata.jwks_uri.as_str();
    let body = match http.get_json(url).await {
        Ok((status, body)) if status.is_success() => body,
        Ok((status, _)) => {
            report.push(Level::Error, "jwks", format!("{url} answered {status}"));
            return;
        }
        Err(e) => {
            report.push(
                Level::Error,
                "jwks",
                format!("cannot reach {url}: {}", error_chain(&e)),
            );
            return;
        }
    };
    let keys = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(set)) => match set.get("keys") {
            Some(Value::Array(keys)) => keys.clone(),
            _ => {
                report.push(
                    Level::Error,
                    "jwks",
                    format!("{url} is not a key set (no `keys` list)"),
                );
                return;
            }
        },
        _ => {
            report.push(
                Level::Error,
                "jwks",
                format!("{url} did not answer with JSON"),
            );
            return;
        }
    };
    let signing = keys
        .iter()
        .filter(|k| {
            let field = |name: &str| k.get(name).and_then(Value::as_str);
            matches!(field("kty"), Some("RSA" | "EC" | "OKP"))
                && field("use").is_none_or(|u| u == "sig")
                && field("alg").is_none_or(asymmetric)
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

/// Parses an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 IMF-fixdate).
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let parsed = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    let seconds = u64::try_from(parsed.timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
}

fn check_clock(
    report: &mut ProviderReport,
    headers: &HeaderMap,
    sent: SystemTime,
    elapsed: Duration,
    leeway: Duration,
) {
    let Some(theirs) = headers
        .get(header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date)
    else {
        report.push(
            Level::Ok,
            "clock",
            "the provider sent no Date header; clock skew not checked",
        );
        return;
    };
    // The provider stamped its answer some time between sending and receiving.
    let ours = sent + elapsed / 2;
    let (skew, ahead) = match theirs.duration_since(ours) {
        Ok(d) => (d, true),
        Err(e) => (e.duration(), false),
    };
    // The Date header truncates to whole seconds.
    let skew = skew.saturating_sub(Duration::from_secs(1));
    let seconds = skew.as_secs();
    let direction = if ahead { "ahead of" } else { "behind" };
    if skew > leeway.max(CLOCK_RESOLUTION) {
        report.push(
            Level::Warn,
            "clock",
            format!(
                "the provider's clock is about {seconds} s {direction} this machine's, more than the clock leeway of {} s: ID tokens may be refused as issued in the future or expired; sync both clocks (NTP)",
                leeway.as_secs()
            ),
        );
    } else {
        report.push(
            Level::Ok,
            "clock",
            format!(
                "within {} s of this machine's clock (leeway {} s)",
                seconds.max(1),
                leeway.as_secs()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            784_111_777
        );
        assert!(parse_http_date("yesterday").is_none());
    }

    fn clock(date: SystemTime, leeway: u64) -> Finding {
        let mut report = ProviderReport {
            name: "p".into(),
            slug: "p".into(),
            issuer: "https://id.example.com".into(),
            findings: Vec::new(),
        };
        let mut headers = HeaderMap::new();
        let http_date = chrono::DateTime::<chrono::Utc>::from(date)
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        headers.insert(header::DATE, http_date.parse().unwrap());
        check_clock(
            &mut report,
            &headers,
            SystemTime::now(),
            Duration::from_millis(10),
            Duration::from_secs(leeway),
        );
        report.findings.remove(0)
    }

    #[test]
    fn clock_skew_beyond_the_leeway_warns() {
        let now = SystemTime::now();
        assert_eq!(clock(now, 30).level, Level::Ok);
        let ahead = clock(now + Duration::from_secs(120), 30);
        assert_eq!(ahead.level, Level::Warn, "{ahead:?}");
        assert!(ahead.message.contains("ahead of"), "{}", ahead.message);
        let behind = clock(now - Duration::from_secs(45), 30);
        assert_eq!(behind.level, Level::Warn);
        assert!(behind.message.contains("behind"), "{}", behind.message);
        assert_eq!(clock(now - Duration::from_secs(45), 60).level, Level::Ok);
    }

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
        assert!(text.contains("  ok    discovery    fine\n"), "{text}");
        assert!(text.contains("  error issuer       wrong\n"), "{text}");
        assert!(text.contains("                     hint\n"), "{text}");
        assert!(text.ends_with("FAILED: 1 error, 0 warnings"), "{text}");
    }
}
