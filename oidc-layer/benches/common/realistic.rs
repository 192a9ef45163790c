//! The session the hot-path figures are measured on: what a real OpenID Connect login leaves,
//! not the bare break-glass session (`sign_in_local`: no tokens, no claims). Alice as a
//! provider describes a person (20 claims, groups mapped to roles), a refresh token, an
//! access token that expires (in an hour: nothing is refreshed during a run), and an idle
//! timeout (30 minutes: activity is written at most every 3 minutes, so not during a run).
//!
//! Shared by the benches, `tests/hot_path_allocations.rs` and `perf/` (`#[path]` includes):
//! one definition of the measured session.

use std::time::Duration;

use oidc_layer::roles::RoleMapConfig;
use oidc_layer::{ConfigError, OidcConfig};
use oidc_testkit::{TestProvider, TestUser};

/// The session's idle timeout.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Alice with 20 claims: her usual ones and what a directory adds (profile details, employee
/// data). All of them are released for the scopes of [`config`].
pub fn user() -> TestUser {
    let mut alice = TestUser::alice();
    for (name, value) in [
        ("locale", "en-GB"),
        ("zoneinfo", "Europe/London"),
        (
            "picture",
            "https://id.example.test/avatars/u-1001-alice.png",
        ),
        ("website", "https://alice.example.test/"),
        ("nickname", "ali"),
        ("department", "Platform Engineering"),
        ("employee_id", "E-004217"),
        ("cost_center", "CC-3100"),
        ("office", "London, 3rd floor"),
        ("manager", "u-1009-mallory"),
        ("title", "Staff Engineer"),
    ] {
        alice = alice.claim(name, value);
    }
    alice
}

/// The in-process provider with [`user`] only, signing her in without a form; it issues a
/// refresh token with every code and access tokens valid for an hour.
pub async fn provider() -> Result<TestProvider, std::io::Error> {
    TestProvider::builder()
        .users([user()])
        .auto_login("alice")
        .allow_any_loopback_redirect()
        .id_token_ttl(Duration::from_secs(3600))
        .access_token_ttl(Duration::from_secs(3600))
        .start()
        .await
}

/// The layer's configuration for an app served at `base`: all of alice's claims requested,
/// groups mapped to roles, the idle timeout on.
pub fn config(provider: &TestProvider, base: &str) -> Result<OidcConfig, ConfigError> {
    OidcConfig::builder()
        .issuer(provider.issuer())
        .client_id(provider.client_id())
        .client_secret(provider.client_secret())
        .scopes(["openid", "profile", "email", "groups"])
        .roles(
            RoleMapConfig::new()
                .rule("admins", "admin")
                .rule("users", "trusted")
                .order(["untrusted", "trusted", "admin"])
                .default_role("untrusted"),
        )
        .session_idle_timeout(IDLE_TIMEOUT)
        .external_url(base)
        .build()
}
