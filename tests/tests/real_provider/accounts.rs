//! The app's accounts with [`LinkingResolver`] over [`InMemoryAccounts`]: a verified email
//! links a first login to an existing account only at a provider with
//! `link_by_verified_email` and never into an account with a local login, an unverified one
//! never does, and `allow_new_users = false` admits only users the app already knows.

use oidc_layer::accounts::{Account, InMemoryAccounts, LinkedIdentity, LinkingResolver};

use super::site::*;
use super::*;

fn identity(sub: &str) -> LinkedIdentity {
    LinkedIdentity {
        provider: SLUG.into(),
        sub: sub.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_email_links_an_existing_account_and_the_subject_finds_it_next_time() {
    let accounts = InMemoryAccounts::new();
    // Created by an administrator; the address differs in case from the provider's.
    let existing = accounts.add_account("alice-local", Some("ALICE@example.test"), false);
    let site = Site::builder()
        .accounts(LinkingResolver::new(accounts.clone()))
        .configure(|c| c.link_by_verified_email(true))
        .start()
        .await;

    let first = Browser::new();
    let me = site.identity_of(&first, "alice").await;
    assert_eq!(me["account"], existing.id, "{me}");
    assert_eq!(
        me["username"], "alice-local",
        "the account's username: {me}"
    );
    assert_eq!(me["sub"], ALICE, "{me}");
    assert_eq!(
        accounts.accounts(),
        [Account {
            identities: vec![identity(ALICE)],
            ..existing.clone()
        }],
        "alice's identity is linked to the existing account, nothing else is created"
    );
    let stored = site.session(&first).await.expect("a stored session");
    assert_eq!(stored.identity().account(), Some(existing.id.as_str()));

    // Another account with the same address appears. The next login is found by subject, not
    // matched by email again (which would now pick the new, unlinked account).
    let copy = accounts.add_account("alice-copy", Some("alice@example.test"), false);
    let me = site.identity_of(&Browser::new(), "alice").await;
    assert_eq!(me["account"], existing.id, "{me}");
    assert_eq!(
        accounts.accounts(),
        [
            Account {
                identities: vec![identity(ALICE)],
                ..existing
            },
            copy
        ]
    );
    assert_eq!(site.sessions().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unverified_email_never_links_and_a_new_account_is_made() {
    let accounts = InMemoryAccounts::new();
    let existing = accounts.add_account("bob-local", Some("bob@example.test"), false);
    // Linking by email is on: an unverified address still never links.
    let site = Site::builder()
        .accounts(LinkingResolver::new(accounts.clone()))
        .configure(|c| c.link_by_verified_email(true))
        .start()
        .await;

    // bob's provider does not vouch for bob@example.test (email_verified: false).
    let me = site.identity_of(&Browser::new(), "bob").await;
    assert_eq!(me["email_verified"], false, "{me}");
    assert_ne!(me["account"], existing.id, "never linked: {me}");
    let created = Account {
        id: "2".into(),
        username: "bob".into(),
        // An unverified address is not stored either.
        email: None,
        identities: vec![identity(BOB)],
        has_local_login: false,
    };
    assert_eq!(me["account"], created.id, "{me}");
    assert_eq!(accounts.accounts(), [existing.clone(), created.clone()]);

    // The next login finds bob's own account again.
    let me = site.identity_of(&Browser::new(), "bob").await;
    assert_eq!(me["account"], created.id, "{me}");
    assert_eq!(accounts.accounts(), [existing, created]);
    assert_eq!(site.sessions().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unverified_email_never_links_and_without_new_users_is_refused() {
    let accounts = InMemoryAccounts::new();
    let existing = accounts.add_account("bob-local", Some("bob@example.test"), false);
    let site = Site::builder()
        .accounts(LinkingResolver::new(accounts.clone()))
        .configure(|c| c.allow_new_users(false).link_by_verified_email(true))
        .start()
        .await;

    let browser = Browser::new();
    let page = site.refused_login(&browser, "/whoami", "bob").await;
    assert_eq!(page.status, 403, "{page}");
    assert_eq!(heading(&page), "Sign-in refused");
    assert_eq!(
        detail(&page),
        "New users are not allowed; ask an administrator to create your account. \
         127.0.0.1 did not confirm that your email address is verified, so it was not \
         matched to an existing account."
    );
    assert_eq!(accounts.accounts(), [existing], "nothing linked or created");
    assert_eq!(site.sessions().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_new_users_only_known_users_get_in() {
    let accounts = InMemoryAccounts::new();
    let existing = accounts.add_account("alice", Some("alice@example.test"), false);
    let site = Site::builder()
        .accounts(LinkingResolver::new(accounts.clone()))
        .configure(|c| c.allow_new_users(false).link_by_verified_email(true))
        .start()
        .await;

    // carol has no account.
    let carol = Browser::new();
    let page = site.refused_login(&carol, "/whoami", "carol").await;
    assert_eq!(page.status, 403, "{page}");
    assert_eq!(heading(&page), "Sign-in refused");
    assert_eq!(
        detail(&page),
        "New users are not allowed; ask an administrator to create your account."
    );
    assert_eq!(
        link_with_text(&page, "Sign in with another account"),
        Some(site.app.url("/auth/login?return_to=%2Fwhoami&prompt=login"))
    );
    assert_eq!(accounts.accounts(), std::slice::from_ref(&existing));
    assert_eq!(site.sessions().await, 0);
    let me = carol.fetch(site.app.url("/whoami")).await;
    assert_eq!(me.status, 401, "{me}");

    // The same refusal delivered to a script: problem+json with the reason, no session.
    let script = Browser::new();
    let callback = site.callback_for(&script, "/whoami", "carol").await;
    let page = script.fetch(&callback).await;
    let problem = page.problem(403);
    assert_eq!(problem["title"], "Sign-in refused", "{problem}");
    assert_eq!(
        problem["detail"],
        "New users are not allowed; ask an administrator to create your account.",
        "{problem}"
    );
    assert_no_session_cookie_set(&page, "carol's callback fetched by a script");
    assert_eq!(site.sessions().await, 0);

    // alice's verified address matches the account an administrator made for her.
    let me = site.identity_of(&Browser::new(), "alice").await;
    assert_eq!(me["account"], existing.id, "{me}");
    assert_eq!(
        accounts.accounts(),
        [Account {
            identities: vec![identity(ALICE)],
            ..existing
        }]
    );
    assert_eq!(site.sessions().await, 1);
}

/// What the refusal page says when a verified email belongs to an account the sign-in may not
/// enter by itself (the provider's name is the issuer's host).
const SIGN_IN_AND_LINK: &str = "An account of this app already uses your email address. To use \
127.0.0.1 with it, sign in to that account the way you usually do, then link 127.0.0.1 from \
your account page.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_link_by_verified_email_a_known_address_is_refused_not_made_a_second_account() {
    let accounts = InMemoryAccounts::new();
    let existing = accounts.add_account("alice", Some("alice@example.test"), false);
    // New users are allowed: the refusal is about the address, not about sign-ups.
    let site = Site::builder()
        .accounts(LinkingResolver::new(accounts.clone()))
        .start()
        .await;

    let browser = Browser::new();
    let page = site.refused_login(&browser, "/whoami", "alice").await;
    assert_eq!(page.status, 403, "{page}");
    assert_eq!(heading(&page), "Sign-in refused");
    assert_eq!(detail(&page), SIGN_IN_AND_LINK);
    assert_no_session_cookie_set(&page, "alice's refused sign-in");
    assert_eq!(
        accounts.accounts(),
        std::slice::from_ref(&existing),
        "nothing linked, no second account"
    );
    assert_eq!(site.sessions().await, 0);
    let me = browser.fetch(site.app.url("/whoami")).await;
    assert_eq!(me.status, 401, "{me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_with_a_local_login_is_never_linked_by_email() {
    let accounts = InMemoryAccounts::new();
    let admin = accounts.add_account("alice-admin", Some("alice@example.test"), true);
    let site = Site::builder()
        .accounts(LinkingResolver::new(accounts.clone()))
        .configure(|c| c.link_by_verified_email(true))
        .start()
        .await;

    let browser = Browser::new();
    let page = site.refused_login(&browser, "/whoami", "alice").await;
    assert_eq!(page.status, 403, "{page}");
    assert_eq!(detail(&page), SIGN_IN_AND_LINK);
    assert_eq!(
        accounts.accounts(),
        std::slice::from_ref(&admin),
        "nothing linked, no second account"
    );
    assert_eq!(site.sessions().await, 0);
}
