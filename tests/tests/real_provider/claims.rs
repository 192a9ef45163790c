//! Group claims in the shapes real providers send them, from users the provider is given in
//! `OP_USERS_FILE`: Keycloak's nested client roles, Zitadel's URN-named role object, and a
//! comma-separated string.

use oidc_layer::roles::RoleMapConfig;
use serde_json::Value;

use super::site::*;
use super::*;

/// Logs `user` in and checks the roles and groups the app sees.
async fn assert_user(site: &Site, user: &str, roles: &[&str], groups: &[&str]) {
    let identity = site.identity_of(&Browser::new(), user).await;
    assert_eq!(identity["username"], user, "{identity}");
    assert_eq!(identity["roles"], json!(roles), "{user}: {identity}");
    assert_eq!(identity["groups"], json!(groups), "{user}: {identity}");
}

fn keycloak_user(username: &str, sub: &str, client_roles: Value, other_roles: Value) -> Value {
    op_user(
        username,
        json!({
            "sub": sub,
            "preferred_username": username,
            "email": format!("{username}@example.test"),
            "email_verified": true,
            "resource_access": {
                "test-client": { "roles": client_roles },
                "other-client": { "roles": other_roles },
            },
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_client_roles_claim_by_path() {
    let site = Site::builder()
        .users(json!([
            keycloak_user(
                "dave",
                "u-2001-dave",
                json!(["app-admin", "viewer"]),
                json!([])
            ),
            // Another client's roles do not count for this app.
            keycloak_user(
                "erin",
                "u-2002-erin",
                json!(["viewer"]),
                json!(["app-admin"])
            ),
        ]))
        .op_env("OP_EXTRA_GROUP_CLAIMS", "resource_access")
        .configure(|c| {
            c.groups_claim("resource_access/test-client/roles").roles(
                RoleMapConfig::new()
                    .rule("app-admin", "admin")
                    .rule("viewer", "trusted")
                    .order(["untrusted", "trusted", "admin"])
                    .default_role("untrusted"),
            )
        })
        .start()
        .await;
    assert_user(&site, "dave", &["admin"], &["app-admin", "viewer"]).await;
    assert_user(&site, "erin", &["trusted"], &["viewer"]).await;
    assert_eq!(site.sessions().await, 2);
}

const ZITADEL_ROLES: &str = "urn:zitadel:iam:org:project:roles";

fn zitadel_user(username: &str, sub: &str, roles: Value) -> Value {
    op_user(
        username,
        json!({
            "sub": sub,
            "preferred_username": username,
            ZITADEL_ROLES: roles,
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urn_named_role_object_claim_from_a_toml_configuration() {
    let site = Site::builder()
        .users(json!([
            zitadel_user(
                "frank",
                "u-3001-frank",
                json!({ "admins": { "2134": "org.example.test" }, "users": { "2134": "org.example.test" } })
            ),
            zitadel_user(
                "grace",
                "u-3002-grace",
                json!({ "users": { "2134": "org.example.test" } })
            ),
            zitadel_user("heidi", "u-3003-heidi", json!({})),
        ]))
        .op_env("OP_EXTRA_GROUP_CLAIMS", ZITADEL_ROLES)
        .toml(|issuer, external_url| {
            format!(
                r#"
                external_url = "{external_url}"
                public_paths = ["/", "/health"]

                [[providers]]
                name = "Zitadel"
                slug = "{SLUG}"
                issuer = "{issuer}"
                client_id = "test-client"
                client_secret = "test-secret"
                scopes = "openid profile email groups"
                groups_claim = "{ZITADEL_ROLES}"
                roles = {{ rules = {{ admins = "admin", users = "trusted" }}, order = ["untrusted", "trusted", "admin"], default = "untrusted" }}
                "#
            )
        })
        .start()
        .await;
    assert_user(&site, "frank", &["admin"], &["admins", "users"]).await;
    assert_user(&site, "grace", &["trusted"], &["users"]).await;
    assert_user(&site, "heidi", &["untrusted"], &[]).await;
    assert_eq!(site.sessions().await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comma_separated_groups_string() {
    let user = |username: &str, sub: &str, groups: &str| {
        op_user(
            username,
            json!({ "sub": sub, "preferred_username": username, "groups": groups }),
        )
    };
    let site = Site::builder()
        .users(json!([
            user("ivan", "u-4001-ivan", "admins, users"),
            user("judy", "u-4002-judy", " users staff "),
        ]))
        .configure(|c| c.roles(demo_roles()))
        .start()
        .await;
    assert_user(&site, "ivan", &["admin"], &["admins", "users"]).await;
    assert_user(&site, "judy", &["trusted"], &["users", "staff"]).await;
    assert_eq!(site.sessions().await, 2);
}
