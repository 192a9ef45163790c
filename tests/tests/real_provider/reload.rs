//! `OidcLayer::reload`: a new configuration applies to the next login, and sessions made under
//! the old one stay valid (with the identity and roles they were granted).

use oidc_e2e::Browser;
use oidc_layer::OidcConfig;

use super::site::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_to_new_logins_and_keeps_sessions() {
    let site = Site::builder()
        .configure(|c| c.roles(demo_roles()))
        .start()
        .await;
    let bob = Browser::new();
    let before = site.identity_of(&bob, "bob").await;
    assert_eq!(before["roles"], serde_json::json!(["trusted"]), "{before}");
    let carol = Browser::new();
    let carol_before = site.identity_of(&carol, "carol").await;
    assert_eq!(carol_before["roles"], serde_json::json!(["untrusted"]));

    // The new configuration refuses users no rule matches.
    let config = OidcConfig::builder()
        .issuer(site.op.issuer())
        .client_id(site.op.client_id())
        .client_secret(site.op.client_secret())
        .slug(SLUG)
        .external_url(site.app.external_url())
        .scopes(["openid", "profile", "email", "groups"])
        .public_paths(PUBLIC_PATHS)
        .roles(demo_roles().deny_unmatched())
        .build()
        .expect("a valid configuration");
    site.layer.reload(config);

    // Existing sessions go on, unchanged, under the new configuration.
    for (browser, expected) in [(&bob, &before), (&carol, &carol_before)] {
        let page = browser.get(site.app.url("/whoami")).await;
        assert_eq!(page.status, 200, "a session survives a reload: {page}");
        assert_eq!(&page.json(), expected);
    }
    assert_eq!(site.sessions().await, 2);

    // A new login is decided by the new configuration.
    let fresh = Browser::new();
    let refused = site.refused_login(&fresh, "/whoami", "carol").await;
    assert_eq!(refused.status, 403, "{refused}");
    assert_eq!(site.sessions().await, 2, "the refused login stored nothing");
}
