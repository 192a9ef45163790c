//! Roles from the provider's claims: the role map (rules, order, default, deny, overrides)
//! and required claims, with the real provider's `groups` and `is_admin` claims.

use oidc_layer::roles::RoleMapConfig;

use super::site::*;
use super::*;

/// What the app sees of one user: `/whoami`, `/can/{role}` for the three roles, `/why`, and the
/// stored session.
struct Expected<'a> {
    user: &'a str,
    sub: &'a str,
    roles: &'a [&'a str],
    groups: &'a [&'a str],
    /// `Identity::has_role` of untrusted, trusted, admin.
    has: [bool; 3],
    why: &'a str,
}

async fn assert_roles(site: &Site, expected: &Expected<'_>) {
    let user = expected.user;
    let browser = Browser::new();
    let identity = site.identity_of(&browser, user).await;
    assert_eq!(identity["sub"], expected.sub, "{user}: {identity}");
    assert_eq!(
        identity["roles"],
        json!(expected.roles),
        "{user}: {identity}"
    );
    assert_eq!(
        identity["groups"],
        json!(expected.groups),
        "{user}: {identity}"
    );
    for (role, has) in ["untrusted", "trusted", "admin"]
        .into_iter()
        .zip(expected.has)
    {
        let page = browser.fetch(site.app.url(&format!("/can/{role}"))).await;
        assert_eq!(page.status, 200, "{user} /can/{role}: {page}");
        assert_eq!(
            page.json(),
            json!({ "role": role, "has_role": has }),
            "{user}: has_role({role:?})"
        );
    }
    let why = browser.fetch(site.app.url("/why")).await;
    assert_eq!(why.status, 200, "{user} /why: {why}");
    assert_eq!(why.body, expected.why, "{user}: the role explanation");

    let session = site
        .session(&browser)
        .await
        .unwrap_or_else(|| panic!("{user}: no session in the store"));
    let stored = session.identity();
    assert_eq!(stored.sub(), expected.sub);
    assert_eq!(stored.roles(), expected.roles, "{user}: stored roles");
    assert_eq!(stored.groups(), expected.groups, "{user}: stored groups");
    assert_eq!(stored.role_explanation(), Some(expected.why));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_come_from_the_groups_claim_in_role_order() {
    let site = Site::builder()
        .configure(|c| c.roles(demo_roles()))
        .start()
        .await;
    let cases = [
        Expected {
            user: "alice",
            sub: ALICE,
            roles: &["admin"],
            groups: &["admins", "users"],
            // admin implies trusted and untrusted through the order.
            has: [true, true, true],
            why: "checked 2 claim values\n\
                  group \"admins\" matched rule \"admins\" -> admin\n\
                  group \"users\" matched rule \"users\" -> trusted\n\
                  most privileged in the role order: admin (matched admin, trusted)\n\
                  roles: admin",
        },
        Expected {
            user: "bob",
            sub: BOB,
            roles: &["trusted"],
            groups: &["users"],
            has: [true, true, false],
            why: "checked 1 claim value\n\
                  group \"users\" matched rule \"users\" -> trusted\n\
                  roles: trusted",
        },
        Expected {
            user: "carol",
            sub: CAROL,
            roles: &["untrusted"],
            groups: &[],
            has: [true, false, false],
            why: "checked 0 claim values\n\
                  no rule or override matched: default role untrusted\n\
                  roles: untrusted",
        },
    ];
    for expected in &cases {
        assert_roles(&site, expected).await;
    }
    assert_eq!(site.sessions().await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_unmatched_refuses_users_no_rule_matches() {
    let site = Site::builder()
        .configure(|c| {
            c.roles(
                RoleMapConfig::new()
                    .rule("admins", "admin")
                    .rule("users", "trusted")
                    .order(["trusted", "admin"])
                    .deny_unmatched(),
            )
        })
        .start()
        .await;

    let carol = Browser::new();
    let page = site.refused_login(&carol, "/whoami", "carol").await;
    assert_eq!(page.status, 403, "{page}");
    assert_eq!(heading(&page), "No access to this app");
    assert_eq!(
        detail(&page),
        "None of your groups gives you a role in this app. Ask an administrator for access."
    );
    assert_eq!(
        link_with_text(&page, "Sign in with another account"),
        // prompt=login: the provider asks again instead of signing carol straight back in.
        Some(site.app.url("/auth/login?return_to=%2Fwhoami&prompt=login")),
        "{}",
        page.body
    );
    assert!(
        carol
            .cookie_names(&site.app.url(CALLBACK))
            .iter()
            .all(|n| !is_attempt_cookie(n)),
        "the refused attempt's cookie is removed"
    );
    assert_eq!(site.sessions().await, 0, "a refused login stores nothing");
    let me = carol.fetch(site.app.url("/whoami")).await;
    assert_eq!(me.status, 401, "carol has no session: {me}");

    let alice = site.identity_of(&Browser::new(), "alice").await;
    assert_eq!(alice["roles"], json!(["admin"]), "{alice}");
    let bob = site.identity_of(&Browser::new(), "bob").await;
    assert_eq!(bob["roles"], json!(["trusted"]), "{bob}");
    assert_eq!(site.sessions().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_claim_must_be_true() {
    let site = Site::builder()
        .configure(|c| c.required_claims(["is_admin"]))
        .start()
        .await;

    let alice = site.identity_of(&Browser::new(), "alice").await;
    assert_eq!(alice["sub"], ALICE, "{alice}");
    assert_eq!(site.sessions().await, 1);

    // bob's `is_admin` is false: a person gets a page naming the claim.
    let bob = Browser::new();
    let page = site.refused_login(&bob, "/whoami", "bob").await;
    assert_eq!(page.status, 403, "{page}");
    assert_eq!(heading(&page), "Access denied");
    let why = detail(&page);
    assert!(
        why.contains("its <code>is_admin</code> claim is not true"),
        "the page should name the claim: {why}"
    );
    assert_eq!(
        site.sessions().await,
        1,
        "bob's refused login stores nothing"
    );

    // The same answer delivered to a script: problem+json naming the claim.
    let script = Browser::new();
    let callback = site.callback_for(&script, "/whoami", "bob").await;
    let page = script.fetch(&callback).await;
    let problem = page.problem(403);
    assert_eq!(problem["title"], "Access denied", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("`is_admin`")),
        "{problem}"
    );
    assert_no_session_cookie_set(&page, "bob's callback fetched by a script");
    assert_eq!(site.sessions().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_claim_the_scopes_do_not_release_refuses_everyone() {
    // `is_admin` comes with the `groups` scope, which this app does not ask for: a claim that is
    // missing is not true, even for alice.
    let site = Site::builder()
        .configure(|c| {
            c.scopes(["openid", "profile", "email"])
                .required_claims(["is_admin"])
        })
        .start()
        .await;
    let browser = Browser::new();
    let page = site.refused_login(&browser, "/whoami", "alice").await;
    assert_eq!(page.status, 403, "{page}");
    assert!(
        detail(&page).contains("<code>is_admin</code>"),
        "{}",
        detail(&page)
    );
    assert_eq!(site.sessions().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_overrides_add_roles_by_username_or_sub() {
    // The root administrator is carol, named by username (any case); bob's override by sub
    // to a lower role does not demote him.
    let site = Site::builder()
        .configure(|c| {
            c.roles(
                demo_roles()
                    .user_override("Carol", "admin")
                    .user_override(BOB, "untrusted"),
            )
        })
        .start()
        .await;
    let cases = [
        Expected {
            user: "carol",
            sub: CAROL,
            roles: &["admin"],
            groups: &[],
            has: [true, true, true],
            why: "checked 0 claim values\n\
                  override for \"Carol\" (by username) -> admin\n\
                  roles: admin",
        },
        Expected {
            user: "bob",
            sub: BOB,
            roles: &["trusted"],
            groups: &["users"],
            has: [true, true, false],
            why: "checked 1 claim value\n\
                  group \"users\" matched rule \"users\" -> trusted\n\
                  override for \"u-1002-bob\" (by sub) -> untrusted\n\
                  most privileged in the role order: trusted (matched trusted, untrusted)\n\
                  roles: trusted",
        },
    ];
    for expected in &cases {
        assert_roles(&site, expected).await;
    }
    // The override opens what the role guards.
    let carol = Browser::new();
    let journey = site.log_in(&carol, "/admin", "carol").await;
    assert_eq!(journey.last().body, "admin area");
}
