//! The repository contract, as checks every [`AccountRepository`] of the crate runs:
//! [`InMemoryAccounts`] in `tests.rs`, `SqlAccounts` on SQLite and PostgreSQL in `sql/tests.rs`.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;

use super::tests::{account_of, concurrent_sign_ins, google, ids, sign_in, sign_in_linking_email};
use crate::accounts::{
    Account, AccountRepository, CreateOutcome, InMemoryAccounts, LinkOutcome, LinkingResolver,
    NewAccount,
};

/// What the checks need beyond the trait: the administrator's side of a repository.
#[async_trait]
pub(super) trait Admin: AccountRepository + Sized {
    /// Adds an account with no identity.
    async fn add(&self, username: &str, email: Option<&str>, has_local_login: bool) -> Account;
    /// Every account, in creation order.
    async fn all(&self) -> Vec<Account>;
    /// Vetoes linking the account by verified email.
    async fn veto_link_by_email(&self, account_id: &str);
}

#[async_trait]
impl Admin for InMemoryAccounts {
    async fn add(&self, username: &str, email: Option<&str>, has_local_login: bool) -> Account {
        self.add_account(username, email, has_local_login)
    }
    async fn all(&self) -> Vec<Account> {
        self.accounts()
    }
    async fn veto_link_by_email(&self, account_id: &str) {
        self.forbid_link_by_email(account_id);
    }
}

/// Lookups, links, creation, unlinking: what [`AccountRepository`] promises, on an empty
/// repository.
pub(super) async fn keeps_the_contract(repo: &impl Admin) {
    let alice = repo.add("alice", Some("Alice@Example.com"), true).await;
    let bob = repo.add("bob", None, false).await;
    assert_eq!(
        repo.find_by_email("aLiCe@example.COM")
            .await
            .expect("store"),
        vec![alice.clone()]
    );
    assert!(
        repo.find_by_email("nobody@example.com")
            .await
            .expect("store")
            .is_empty()
    );
    assert_eq!(repo.find(&bob.id).await.expect("store"), Some(bob.clone()));
    assert_eq!(repo.find("404").await.expect("store"), None);
    assert_eq!(repo.find("not a number").await.expect("store"), None);

    assert_eq!(
        repo.link(&alice.id, "google", "g-1").await.expect("store"),
        LinkOutcome::Linked
    );
    assert_eq!(
        repo.link(&bob.id, "google", "g-1").await.expect("store"),
        LinkOutcome::SubjectTaken
    );
    assert_eq!(
        repo.link(&alice.id, "google", "g-1").await.expect("store"),
        LinkOutcome::SubjectTaken
    );
    assert_eq!(
        repo.link(&alice.id, "google", "g-2").await.expect("store"),
        LinkOutcome::AlreadyLinkedToProvider
    );
    assert_eq!(
        repo.link(&bob.id, "github", "g-1").await.expect("store"),
        LinkOutcome::Linked,
        "subs are per provider"
    );
    assert!(
        repo.link("404", "gitlab", "x").await.is_err(),
        "no account to link to"
    );
    let found = repo
        .find_by_identity("google", "g-1")
        .await
        .expect("store")
        .expect("linked");
    assert_eq!(found.id, alice.id);
    assert_eq!(found.identities, ids("google", "g-1"));
    assert_eq!(
        repo.find_by_identity("google", "G-1").await.expect("store"),
        None,
        "subjects are compared exactly"
    );

    let mut new = NewAccount::new("Alice", "google", "g-1");
    new.email = Some("other@example.com".to_owned());
    assert_eq!(
        repo.create(new).await.expect("store"),
        CreateOutcome::SubjectTaken(found),
        "create under a race returns the winner"
    );
    let CreateOutcome::Created(created) = repo
        .create(NewAccount::new("Alice", "google", "g-3"))
        .await
        .expect("store")
    else {
        panic!("a new subject creates an account")
    };
    assert_eq!(created.username, "Alice-2");
    assert_eq!(created.identities, ids("google", "g-3"));
    assert_eq!(
        repo.find(&created.id).await.expect("store"),
        Some(created.clone())
    );
    assert_eq!(repo.all().await.len(), 3);
    assert!(
        repo.find_by_email("other@example.com")
            .await
            .expect("store")
            .is_empty(),
        "the lost create stored nothing"
    );

    assert!(repo.unlink(&alice.id, "google").await.expect("store"));
    assert!(!repo.unlink(&alice.id, "google").await.expect("store"));
    assert!(!repo.unlink("404", "google").await.expect("store"));
    assert_eq!(
        repo.find_by_identity("google", "g-1").await.expect("store"),
        None
    );
    assert_eq!(
        repo.link(&bob.id, "google", "g-1").await.expect("store"),
        LinkOutcome::Linked,
        "an unlinked subject can be linked again"
    );
}

/// Email addresses compare by their Unicode lowercase form, non-ASCII letters included.
pub(super) async fn compares_emails_case_insensitively(repo: &impl Admin) {
    let elodie = repo.add("elodie", Some("ÉLODIE@example.com"), false).await;
    repo.add("eloise", Some("eloise@example.com"), false).await;
    for spelling in [
        "élodie@example.com",
        "ÉLODIE@EXAMPLE.COM",
        "Élodie@Example.Com",
    ] {
        assert_eq!(
            repo.find_by_email(spelling).await.expect("store"),
            vec![elodie.clone()],
            "{spelling}"
        );
    }
    assert!(
        repo.find_by_email("elodie@example.com")
            .await
            .expect("store")
            .is_empty(),
        "é is not e"
    );
    let mut new = NewAccount::new("Zoë", "google", "g-zoe");
    new.email = Some("ZOË@example.com".to_owned());
    let CreateOutcome::Created(zoe) = repo.create(new).await.expect("store") else {
        panic!("a new subject creates an account")
    };
    assert_eq!(
        repo.find_by_email("zoë@example.com").await.expect("store"),
        vec![zoe]
    );
}

/// A taken username (compared case-insensitively) is never an error: the next free one.
pub(super) async fn picks_free_usernames(repo: &impl Admin) {
    repo.add("Carol", None, true).await;
    let mut names = Vec::new();
    for n in 1..=4 {
        let wanted = if n == 3 { "CAROL" } else { "carol" };
        match repo
            .create(NewAccount::new(wanted, "google", format!("g-{n}")))
            .await
            .expect("store")
        {
            CreateOutcome::Created(account) => names.push(account.username),
            CreateOutcome::SubjectTaken(account) => panic!("taken by {account:?}"),
        }
    }
    assert_eq!(names, ["carol-2", "carol-3", "CAROL-4", "carol-5"]);
    // Past the numbered ones: a random suffix, still unique.
    for n in 6..=30 {
        repo.create(NewAccount::new("dave", "google", format!("d-{n}")))
            .await
            .expect("store");
    }
    let usernames: HashSet<String> = repo
        .all()
        .await
        .into_iter()
        .map(|a| a.username.to_lowercase())
        .collect();
    assert_eq!(usernames.len(), 1 + 4 + 25, "{usernames:?}");
}

/// The per-account veto of linking by email.
pub(super) async fn honours_the_link_by_email_veto(repo: Arc<impl Admin>) {
    let alice = repo.add("alice", Some("alice@example.com"), false).await;
    let bob = repo.add("bob", Some("bob@example.com"), false).await;
    repo.veto_link_by_email(&alice.id).await;
    assert!(
        !repo
            .allows_link_by_email(&alice, "google")
            .await
            .expect("store")
    );
    assert!(
        repo.allows_link_by_email(&bob, "google")
            .await
            .expect("store")
    );
    let resolver = LinkingResolver::new(repo.clone());
    let alice_id = google(
        "g-1",
        json!({"email": "alice@example.com", "email_verified": true}),
    );
    let refused = sign_in_linking_email(&resolver, "google", true, &alice_id).await;
    assert!(matches!(
        refused,
        crate::accounts::Resolution::Refused { .. }
    ));
    let bob_id = google(
        "g-2",
        json!({"email": "bob@example.com", "email_verified": true}),
    );
    let signed_in = sign_in_linking_email(&resolver, "google", true, &bob_id).await;
    assert_eq!(account_of(&signed_in).id, bob.id);
    let accounts = repo.all().await;
    assert_eq!(accounts.len(), 2, "nothing created");
    assert!(accounts[0].identities.is_empty(), "alice not linked");
    assert_eq!(accounts[1].identities, ids("google", "g-2"));
}

/// Racing first sign-ins of one person make one account and one link: direct `create`s, and
/// whole resolutions (new account, and link by verified email). Run it on a multi-threaded
/// runtime.
pub(super) async fn settles_racing_first_logins<R: Admin>(repo: Arc<R>) {
    const RACERS: usize = 50;
    let tasks: Vec<_> = (0..RACERS)
        .map(|n| {
            let repo = repo.clone();
            tokio::spawn(async move {
                let mut new = NewAccount::new(format!("racer{n}"), "google", "g-race");
                new.email = Some(format!("racer{n}@example.com"));
                repo.create(new).await.expect("store")
            })
        })
        .collect();
    let mut created = Vec::new();
    let mut lost = Vec::new();
    for task in tasks {
        match task.await.expect("task finished") {
            CreateOutcome::Created(account) => created.push(account),
            CreateOutcome::SubjectTaken(account) => lost.push(account),
        }
    }
    assert_eq!(created.len(), 1, "{created:?}");
    assert!(
        lost.iter().all(|account| account == &created[0]),
        "every loser got the winner's account"
    );
    let accounts = repo.all().await;
    assert_eq!(accounts, created, "one account, one link");

    // Whole sign-ins through the resolver: a new user.
    let resolver = Arc::new(LinkingResolver::new(repo.clone()));
    let newbie = google("g-new", json!({"preferred_username": "newbie"}));
    let resolutions = concurrent_sign_ins(resolver.clone(), newbie.clone()).await;
    let account = repo
        .find_by_identity("google", "g-new")
        .await
        .expect("store")
        .expect("created");
    assert!(resolutions.iter().all(|r| account_of(r).id == account.id));
    assert_eq!(repo.all().await.len(), 2, "one account more");

    // And a known user, linked by verified email once.
    let alice = repo.add("alice", Some("alice@example.com"), false).await;
    let id = google(
        "g-alice",
        json!({"email": "alice@example.com", "email_verified": true}),
    );
    let resolutions = concurrent_sign_ins(resolver.clone(), id).await;
    assert!(resolutions.iter().all(|r| account_of(r).id == alice.id));
    let accounts = repo.all().await;
    assert_eq!(accounts.len(), 3, "nobody created an account");
    assert_eq!(accounts[2].identities, ids("google", "g-alice"));
    // The known identity signs in with sign-ups closed.
    let again = sign_in(&*resolver, "google", false, &newbie).await;
    assert_eq!(account_of(&again).id, account.id);
}
