//! Where the claims come from: django-oidc-provider puts no profile, email or custom-scope
//! claims into the ID token unless `OIDC_IDTOKEN_INCLUDE_CLAIMS` is on, so the layer's
//! userinfo call (on by default) is what brings the groups.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_userinfo_the_id_token_alone_has_no_groups() {
    let env = Env::start_custom(|options| options, |_, config| config.fetch_userinfo(false)).await;
    let browser = Browser::new();
    let identity = env.log_in(&browser, "alice").await.last().json();
    let sub = env.op.sub("alice");
    assert_eq!(identity["sub"], sub, "{identity}");
    assert_eq!(identity["groups"], json!([]), "no groups claim: {identity}");
    assert_eq!(
        identity["roles"],
        json!(["untrusted"]),
        "only the default role: {identity}"
    );
    assert_eq!(
        identity["username"], sub,
        "no preferred_username in the ID token: the username falls back to sub: {identity}"
    );
    assert_eq!(identity["email"], json!(null), "{identity}");
    assert_eq!(
        env.provider_requests("GET /openid/userinfo", 200).await,
        0,
        "userinfo was not asked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_oidc_idtoken_include_claims_the_id_token_carries_the_groups() {
    let env = Env::start_custom(
        |mut options| {
            options.idtoken_include_claims = true;
            options
        },
        |_, config| config.fetch_userinfo(false),
    )
    .await;
    let browser = Browser::new();
    let identity = env.log_in(&browser, "alice").await.last().json();
    assert_eq!(identity["username"], "alice", "{identity}");
    assert_eq!(identity["email_verified"], true, "{identity}");
    assert_eq!(identity["groups"], json!(["admins", "users"]), "{identity}");
    assert_eq!(identity["roles"], json!(["admin"]), "{identity}");
    assert_eq!(
        env.provider_requests("GET /openid/userinfo", 200).await,
        0,
        "everything came from the ID token"
    );
}
