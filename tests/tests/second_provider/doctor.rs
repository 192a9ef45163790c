//! The configuration doctor (`OidcLayer::check`) against django-oidc-provider: every check
//! passes, though the provider advertises neither `scopes_supported`, `claims_supported` nor
//! `code_challenge_methods_supported` (absent lists are not held against it).

use oidc_layer::doctor::Level;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doctor_passes_every_check() {
    let env = Env::start().await;
    let report = env.layer.check().await;
    assert_eq!((report.errors(), report.warnings()), (0, 0), "{report}");
    let provider = &report.providers[0];
    for check in [
        "discovery",
        "issuer",
        "metadata",
        "redirect_uri",
        "logout",
        "scopes",
        "claims",
        "jwks",
        "clock",
    ] {
        let levels: Vec<Level> = provider.check(check).map(|f| f.level).collect();
        assert!(
            !levels.is_empty() && levels.iter().all(|l| *l == Level::Ok),
            "{check}: {levels:?}\n{report}"
        );
    }
    for (check, says) in [
        ("scopes", "does not advertise scopes_supported"),
        ("claims", "does not advertise claims_supported"),
        ("jwks", "accepting RS256"),
    ] {
        assert!(
            provider.check(check).any(|f| f.message.contains(says)),
            "{check} should say {says:?}:\n{report}"
        );
    }
}
