use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use super::contract;
use super::*;

const GOOGLE: &str = "https://accounts.google.com";

fn identity(claims: Value) -> Identity {
    let Value::Object(map) = claims else {
        panic!("claims must be a JSON object")
    };
    Identity::from_claims(map).expect("iss and sub are present")
}

/// A Google identity with `sub` and the extra claims in `extra`.
pub(super) fn google(sub: &str, extra: Value) -> Identity {
    let mut claims = json!({"iss": GOOGLE, "sub": sub});
    if let (Value::Object(claims), Value::Object(extra)) = (&mut claims, extra) {
        claims.extend(extra);
    }
    identity(claims)
}

/// A sign-in at a provider with `link_by_verified_email` off (the default).
pub(super) async fn sign_in(
    resolver: &impl AccountResolver,
    provider: &str,
    allow_new_users: bool,
    identity: &Identity,
) -> Resolution {
    sign_in_with(resolver, provider, allow_new_users, false, identity).await
}

/// A sign-in at a provider with `link_by_verified_email` on.
pub(super) async fn sign_in_linking_email(
    resolver: &impl AccountResolver,
    provider: &str,
    allow_new_users: bool,
    identity: &Identity,
) -> Resolution {
    sign_in_with(resolver, provider, allow_new_users, true, identity).await
}

async fn sign_in_with(
    resolver: &impl AccountResolver,
    provider: &str,
    allow_new_users: bool,
    link_by_verified_email: bool,
    identity: &Identity,
) -> Resolution {
    resolver
        .resolve(
            ResolveRequest::new(provider, allow_new_users, identity, None)
                .with_link_by_verified_email(link_by_verified_email),
        )
        .await
        .expect("the store works")
}

/// What a sign-in refused for a verified email of an existing account says.
const SIGN_IN_AND_LINK: &str = "An account of this app already uses your email address. To use \
google with it, sign in to that account the way you usually do, then link google from your \
account page.";

async fn link(
    resolver: &impl AccountResolver,
    provider: &str,
    identity: &Identity,
    account_id: &str,
) -> Resolution {
    resolver
        .resolve(ResolveRequest::new(
            provider,
            false,
            identity,
            Some(account_id),
        ))
        .await
        .expect("the store works")
}

pub(super) fn account_of(resolution: &Resolution) -> &AccountRef {
    match resolution {
        Resolution::Account(account) => account,
        Resolution::Refused { reason } => panic!("refused: {reason}"),
    }
}

fn reason(resolution: &Resolution) -> &str {
    match resolution {
        Resolution::Refused { reason } => reason,
        Resolution::Account(account) => panic!("not refused: signed in to {account:?}"),
    }
}

pub(super) fn ids(provider: &str, sub: &str) -> Vec<LinkedIdentity> {
    vec![LinkedIdentity {
        provider: provider.to_owned(),
        sub: sub.to_owned(),
    }]
}

fn linking() -> LinkingResolver<InMemoryAccounts> {
    LinkingResolver::new(InMemoryAccounts::new())
}

// ---------------------------------------------------------------- StatelessResolver

#[test]
fn former_stateless_account_ids_are_read_and_migrated() {
    let old = r#"["https://accounts.google.com","alice"]"#;
    assert_eq!(
        StatelessResolver::parse_account_id(old),
        Some(("https://accounts.google.com".into(), "alice".into()))
    );
    assert_eq!(
        StatelessResolver::migrate_account_id(old).as_deref(),
        Some("https://accounts.google.com#alice")
    );
    // The current form, or any other id, is not migrated.
    assert_eq!(
        StatelessResolver::migrate_account_id("https://accounts.google.com#alice"),
        None
    );
    assert_eq!(StatelessResolver::migrate_account_id("42"), None);
    // Sessions of the current form also end their former-form sessions (store tags).
    assert_eq!(
        super::legacy_account("https://accounts.google.com#alice").as_deref(),
        Some(old)
    );
    assert_eq!(super::legacy_account("local-account#7"), None);
    assert_eq!(super::legacy_account(old), None);
    // A stored session's account in the former form of its own (iss, sub) reads as the
    // current form; another account (a repository's id) is left as it is.
    let iss = "https://accounts.google.com";
    assert_eq!(
        super::current_account(old.to_owned(), iss, "alice"),
        "https://accounts.google.com#alice"
    );
    assert_eq!(super::current_account(old.to_owned(), iss, "bob"), old);
    assert_eq!(super::current_account("7".to_owned(), iss, "alice"), "7");
}

#[tokio::test]
async fn stateless_account_id_is_stable_and_unambiguous() {
    let alice = google("alice", json!({"preferred_username": "al"}));
    let first = sign_in(&StatelessResolver, "google", true, &alice).await;
    let again = sign_in(&StatelessResolver, "google", true, &alice).await;
    assert_eq!(first, again);
    assert_eq!(account_of(&first).id, "https://accounts.google.com#alice");
    assert_eq!(
        account_of(&first).username,
        None,
        "keeps the provider's username"
    );

    assert_ne!(
        StatelessResolver::account_id("a|b", "c"),
        StatelessResolver::account_id("a", "b|c")
    );
    assert_ne!(
        StatelessResolver::account_id("a\",\"b", "c"),
        StatelessResolver::account_id("a", "b\",\"c")
    );
    // A `#` in the issuer is escaped (and `%`, so escapes never collide), the subject is
    // what follows the first `#`.
    assert_ne!(
        StatelessResolver::account_id("a#b", "c"),
        StatelessResolver::account_id("a", "b#c")
    );
    assert_ne!(
        StatelessResolver::account_id("a%23", "c"),
        StatelessResolver::account_id("a#", "c")
    );
    for (iss, sub) in [
        ("https://id.example.com/realms/home", "248289761001"),
        ("a#b", "c#d"),
        ("a%23b%", "%25"),
        ("https://x", "[\"\"]"),
    ] {
        let id = StatelessResolver::account_id(iss, sub);
        assert_eq!(
            StatelessResolver::parse_account_id(&id),
            Some((iss.to_owned(), sub.to_owned())),
            "{id}"
        );
    }
    assert_eq!(StatelessResolver::parse_account_id("no-hash"), None);
    assert_eq!(StatelessResolver::parse_account_id("a%2Fb#c"), None);
    let other_issuer = identity(json!({"iss": "https://id.example.com", "sub": "alice"}));
    let other = sign_in(&StatelessResolver, "google", true, &other_issuer).await;
    assert_ne!(account_of(&other).id, account_of(&first).id);
}

#[tokio::test]
async fn stateless_refuses_linking_and_closed_sign_ups() {
    let alice = google("alice", json!({}));
    let linked = link(&StatelessResolver, "google", &alice, "42").await;
    assert!(reason(&linked).contains("linking needs an account store"));
    let closed = sign_in(&StatelessResolver, "google", false, &alice).await;
    assert!(reason(&closed).contains("New users are not allowed"));
}

// ---------------------------------------------------------------- sign-in rules

#[tokio::test]
async fn known_identity_signs_in_to_its_account_even_when_sign_ups_are_closed() {
    let resolver = linking();
    let first = sign_in(
        &resolver,
        "google",
        true,
        &google("g-1", json!({"preferred_username": "al"})),
    )
    .await;
    let account = account_of(&first).clone();
    assert_eq!(account.username.as_deref(), Some("al"));

    let again = sign_in(&resolver, "google", false, &google("g-1", json!({}))).await;
    assert_eq!(account_of(&again), &account);
    assert_eq!(resolver.repository().accounts().len(), 1);
}

#[tokio::test]
async fn verified_email_links_the_one_unlinked_account_and_records_the_sub() {
    let resolver = linking();
    let alice = resolver
        .repository()
        .add_account("alice", Some("Alice@Example.com"), false);
    let bob = resolver
        .repository()
        .add_account("bob", Some("bob@example.com"), false);

    let id = google(
        "g-1",
        json!({"email": "alice@EXAMPLE.com", "email_verified": true, "preferred_username": "ally"}),
    );
    let resolution = sign_in_linking_email(&resolver, "google", false, &id).await;
    assert_eq!(
        account_of(&resolution),
        &AccountRef {
            id: alice.id.clone(),
            username: Some("alice".to_owned())
        },
        "the app's username wins over the provider's"
    );
    let accounts = resolver.repository().accounts();
    assert_eq!(accounts.len(), 2, "nothing created");
    assert_eq!(accounts[0].identities, ids("google", "g-1"));
    assert!(
        accounts[1].identities.is_empty(),
        "bob untouched: {:?}",
        bob
    );

    // From now on the subject finds the account, whatever the email says.
    let later = sign_in(
        &resolver,
        "google",
        false,
        &google("g-1", json!({"email": "new@example.com"})),
    )
    .await;
    assert_eq!(account_of(&later).id, alice.id);
}

#[tokio::test]
async fn an_account_linked_to_another_provider_is_still_a_candidate() {
    let resolver = linking();
    let alice = resolver
        .repository()
        .add_account("alice", Some("alice@example.com"), false);
    assert_eq!(
        resolver
            .repository()
            .link(&alice.id, "github", "gh-1")
            .await
            .expect("store"),
        LinkOutcome::Linked
    );
    let id = google(
        "g-1",
        json!({"email": "alice@example.com", "email_verified": true}),
    );
    assert_eq!(
        account_of(&sign_in_linking_email(&resolver, "google", false, &id).await).id,
        alice.id
    );
    let account = resolver
        .repository()
        .find(&alice.id)
        .await
        .expect("store")
        .expect("exists");
    assert_eq!(account.identities.len(), 2);
}

#[tokio::test]
async fn unverified_email_never_links() {
    for email_verified in [json!(false), json!("true"), json!(1), Value::Null] {
        let resolver = linking();
        let alice = resolver
            .repository()
            .add_account("alice", Some("alice@example.com"), true);
        let mut claims = json!({"email": "alice@example.com", "preferred_username": "alice"});
        if !email_verified.is_null() {
            claims["email_verified"] = email_verified.clone();
        }
        let id = google("g-1", claims);

        // Sign-ups closed: refused, and told why the email did not help.
        let refused = sign_in(&resolver, "google", false, &id).await;
        assert!(
            reason(&refused).starts_with("New users are not allowed"),
            "{email_verified}"
        );
        assert!(reason(&refused).contains("not matched"), "{email_verified}");
        assert_eq!(resolver.repository().accounts().len(), 1);

        // Sign-ups open: a new account, without the unproven email; alice untouched.
        let created = sign_in(&resolver, "google", true, &id).await;
        let created = account_of(&created);
        assert_ne!(created.id, alice.id, "{email_verified}");
        assert_eq!(
            created.username.as_deref(),
            Some("alice-2"),
            "usernames stay unique"
        );
        let accounts = resolver.repository().accounts();
        assert_eq!(accounts.len(), 2);
        assert!(
            accounts[0].identities.is_empty(),
            "{email_verified}: alice was linked"
        );
        assert_eq!(accounts[1].email, None, "an unverified email is not stored");
        assert_eq!(accounts[1].identities, ids("google", "g-1"));
    }
}

#[tokio::test]
async fn missing_or_blank_email_never_links() {
    let resolver = linking();
    resolver.repository().add_account("alice", Some(" "), true);
    let no_email = google("g-1", json!({"email_verified": true}));
    assert!(reason(&sign_in(&resolver, "google", false, &no_email).await).starts_with("New users"));
    let blank = google("g-2", json!({"email": " ", "email_verified": true}));
    let refused = sign_in(&resolver, "google", false, &blank).await;
    assert_eq!(
        reason(&refused),
        "New users are not allowed; ask an administrator to create your account."
    );
    assert!(resolver.repository().accounts()[0].identities.is_empty());
}

#[tokio::test]
async fn email_match_already_linked_to_this_provider_is_not_linked() {
    let resolver = linking();
    let alice = resolver
        .repository()
        .add_account("alice", Some("alice@example.com"), false);
    resolver
        .repository()
        .link(&alice.id, "google", "g-old")
        .await
        .expect("store");
    let id = google(
        "g-new",
        json!({"email": "alice@example.com", "email_verified": true}),
    );

    // With linking by email off, the match is named and nothing is created.
    for allow_new_users in [false, true] {
        let refused = sign_in(&resolver, "google", allow_new_users, &id).await;
        assert_eq!(reason(&refused), SIGN_IN_AND_LINK);
    }
    assert_eq!(resolver.repository().accounts().len(), 1);

    let refused = sign_in_linking_email(&resolver, "google", false, &id).await;
    assert!(reason(&refused).starts_with("New users are not allowed"));

    let created = sign_in_linking_email(&resolver, "google", true, &id).await;
    assert_ne!(account_of(&created).id, alice.id);
    let accounts = resolver.repository().accounts();
    assert_eq!(
        accounts[0].identities,
        ids("google", "g-old"),
        "alice keeps only her old sub"
    );
    assert_eq!(accounts[1].identities, ids("google", "g-new"));
    assert_eq!(
        accounts[1].email.as_deref(),
        Some("alice@example.com"),
        "a verified email is stored"
    );
}

#[tokio::test]
async fn two_candidate_accounts_are_refused_as_ambiguous() {
    let resolver = linking();
    resolver
        .repository()
        .add_account("alice", Some("alice@example.com"), true);
    resolver
        .repository()
        .add_account("alice-admin", Some("ALICE@example.com"), true);
    let id = google(
        "g-1",
        json!({"email": "alice@example.com", "email_verified": true}),
    );
    for allow_new_users in [false, true] {
        let refused = sign_in_linking_email(&resolver, "google", allow_new_users, &id).await;
        assert!(reason(&refused).contains("2 accounts in this app use your email address"));
        let refused = sign_in(&resolver, "google", allow_new_users, &id).await;
        assert_eq!(reason(&refused), SIGN_IN_AND_LINK);
    }
    let accounts = resolver.repository().accounts();
    assert_eq!(accounts.len(), 2, "nothing created");
    assert!(
        accounts.iter().all(|a| a.identities.is_empty()),
        "nothing linked"
    );
}

#[tokio::test]
async fn linking_by_email_is_off_by_default_and_never_creates_a_second_account() {
    let resolver = linking();
    let alice = resolver
        .repository()
        .add_account("alice", Some("alice@example.com"), false);
    let id = google(
        "g-1",
        json!({"email": "ALICE@example.com", "email_verified": true, "preferred_username": "alice"}),
    );
    let request = ResolveRequest::new("google", true, &id, None);
    assert!(
        !request.link_by_verified_email,
        "off unless the provider turns it on"
    );
    for allow_new_users in [false, true] {
        let refused = sign_in(&resolver, "google", allow_new_users, &id).await;
        assert_eq!(reason(&refused), SIGN_IN_AND_LINK, "{allow_new_users}");
    }
    assert_eq!(
        resolver.repository().accounts(),
        vec![alice.clone()],
        "nothing linked, nothing created"
    );

    // The way in: alice signs in to her account and links the provider explicitly.
    let linked = link(&resolver, "google", &id, &alice.id).await;
    assert_eq!(account_of(&linked).id, alice.id);
    let again = sign_in(&resolver, "google", false, &id).await;
    assert_eq!(account_of(&again).id, alice.id);
}

#[tokio::test]
async fn an_account_with_a_local_login_is_never_linked_by_email() {
    let resolver = linking();
    let root = resolver
        .repository()
        .add_account("root", Some("root@example.com"), true);
    let id = google(
        "g-1",
        json!({"email": "root@example.com", "email_verified": true}),
    );
    for allow_new_users in [false, true] {
        let refused = sign_in_linking_email(&resolver, "google", allow_new_users, &id).await;
        assert_eq!(reason(&refused), SIGN_IN_AND_LINK, "{allow_new_users}");
    }
    assert_eq!(
        resolver.repository().accounts(),
        vec![root.clone()],
        "nothing linked, nothing created"
    );
    // An explicit link from the signed-in account still works.
    assert_eq!(
        account_of(&link(&resolver, "google", &id, &root.id).await).id,
        root.id
    );
}

#[tokio::test]
async fn the_repository_vetoes_a_link_by_email_per_account() {
    let resolver = linking();
    let alice = resolver
        .repository()
        .add_account("alice", Some("alice@example.com"), false);
    let bob = resolver
        .repository()
        .add_account("bob", Some("bob@example.com"), false);
    resolver.repository().forbid_link_by_email(&alice.id);
    let alice_id = google(
        "g-1",
        json!({"email": "alice@example.com", "email_verified": true}),
    );
    let refused = sign_in_linking_email(&resolver, "google", true, &alice_id).await;
    assert_eq!(reason(&refused), SIGN_IN_AND_LINK);
    // Bob's account is not vetoed: his sign-in links.
    let bob_id = google(
        "g-2",
        json!({"email": "bob@example.com", "email_verified": true}),
    );
    let signed_in = sign_in_linking_email(&resolver, "google", true, &bob_id).await;
    assert_eq!(account_of(&signed_in).id, bob.id);
    let accounts = resolver.repository().accounts();
    assert_eq!(accounts.len(), 2, "nothing created");
    assert!(accounts[0].identities.is_empty(), "alice not linked");
    assert_eq!(accounts[1].identities, ids("google", "g-2"));
}

#[tokio::test]
async fn new_users_are_refused_when_not_allowed() {
    let resolver = linking();
    let id = google(
        "g-1",
        json!({"email": "new@example.com", "email_verified": true}),
    );
    let refused = sign_in(&resolver, "google", false, &id).await;
    assert_eq!(
        reason(&refused),
        "New users are not allowed; ask an administrator to create your account."
    );
    assert!(resolver.repository().accounts().is_empty());
}

#[tokio::test]
async fn a_new_account_gets_the_identity_username_and_verified_email() {
    let resolver = linking();
    resolver.repository().add_account("Carol", None, true);
    let id = google(
        "g-1",
        json!({"preferred_username": "carol", "name": "Carol C", "email": "c@example.com", "email_verified": true}),
    );
    let created = sign_in(&resolver, "google", true, &id).await;
    let account = resolver
        .repository()
        .find(&account_of(&created).id)
        .await
        .expect("store")
        .expect("exists");
    assert_eq!(
        account.username, "carol-2",
        "Carol is taken, case-insensitively"
    );
    assert_eq!(account.email.as_deref(), Some("c@example.com"));
    assert_eq!(account.identities, ids("google", "g-1"));
    assert!(!account.has_local_login);
    assert_eq!(account_of(&created).username.as_deref(), Some("carol-2"));

    // Without preferred_username the subject is the username.
    let bare = sign_in(&resolver, "google", true, &google("1234", json!({}))).await;
    assert_eq!(account_of(&bare).username.as_deref(), Some("1234"));
}

#[tokio::test]
async fn refusals_name_the_provider_by_its_display_name() {
    let resolver = linking();
    let one = resolver.repository().add_account("one", None, true);
    let two = resolver.repository().add_account("two", None, true);
    resolver
        .repository()
        .link(&one.id, "g", "g-1")
        .await
        .expect("store");
    let id = google("g-1", json!({}));
    let request = ResolveRequest::new("g", false, &id, Some(&two.id)).with_provider_name("Google");
    let refused = resolver.resolve(request).await.expect("store");
    assert_eq!(
        reason(&refused),
        "This Google account is already linked to another user."
    );
}

// ---------------------------------------------------------------- linking (link_to)

#[tokio::test]
async fn link_to_links_the_identity_to_the_signed_in_account() {
    let resolver = linking();
    let alice = resolver
        .repository()
        .add_account("alice", Some("alice@example.com"), true);
    // No email at all: linking is proven by signing in at both ends, not by email.
    let id = google("g-1", json!({"preferred_username": "someone-else"}));
    let linked = link(&resolver, "google", &id, &alice.id).await;
    assert_eq!(account_of(&linked).id, alice.id);
    assert_eq!(
        resolver.repository().accounts()[0].identities,
        ids("google", "g-1")
    );

    // Linking again is harmless; and the identity now signs in to alice.
    assert_eq!(
        account_of(&link(&resolver, "google", &id, &alice.id).await).id,
        alice.id
    );
    assert_eq!(
        account_of(&sign_in(&resolver, "google", false, &id).await).id,
        alice.id
    );
    assert_eq!(resolver.repository().accounts()[0].identities.len(), 1);
}

#[tokio::test]
async fn link_to_a_missing_account_is_refused() {
    let resolver = linking();
    let refused = link(&resolver, "google", &google("g-1", json!({})), "404").await;
    assert!(reason(&refused).contains("no longer exists"));
    assert!(
        resolver.repository().accounts().is_empty(),
        "no account created"
    );
}

#[tokio::test]
async fn link_to_refuses_a_sub_linked_to_another_account() {
    let resolver = linking();
    let alice = resolver.repository().add_account("alice", None, true);
    let mallory = resolver.repository().add_account("mallory", None, true);
    resolver
        .repository()
        .link(&alice.id, "google", "g-1")
        .await
        .expect("store");
    let refused = link(&resolver, "google", &google("g-1", json!({})), &mallory.id).await;
    assert_eq!(
        reason(&refused),
        "This google account is already linked to another user."
    );
    let accounts = resolver.repository().accounts();
    assert_eq!(accounts[0].identities, ids("google", "g-1"));
    assert!(accounts[1].identities.is_empty());
}

#[tokio::test]
async fn link_to_refuses_a_second_identity_of_the_same_provider() {
    let resolver = linking();
    let alice = resolver.repository().add_account("alice", None, true);
    resolver
        .repository()
        .link(&alice.id, "google", "g-1")
        .await
        .expect("store");
    let refused = link(&resolver, "google", &google("g-2", json!({})), &alice.id).await;
    assert!(reason(&refused).contains("already has a google sign-in"));
    assert_eq!(
        resolver.repository().accounts()[0].identities,
        ids("google", "g-1")
    );
    // g-2 is not linked anywhere: it is still a stranger.
    assert!(
        reason(&sign_in(&resolver, "google", false, &google("g-2", json!({}))).await)
            .starts_with("New users")
    );
}

// ---------------------------------------------------------------- races and failures

/// Yields before every call, so concurrent sign-ins interleave between their reads and writes.
struct Yielding {
    inner: InMemoryAccounts,
    creates: AtomicUsize,
    links: AtomicUsize,
}

impl Yielding {
    fn new(inner: InMemoryAccounts) -> Self {
        Self {
            inner,
            creates: AtomicUsize::new(0),
            links: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl AccountRepository for Yielding {
    async fn find_by_identity(
        &self,
        provider: &str,
        sub: &str,
    ) -> Result<Option<Account>, AccountError> {
        tokio::task::yield_now().await;
        self.inner.find_by_identity(provider, sub).await
    }
    async fn find_by_email(&self, email: &str) -> Result<Vec<Account>, AccountError> {
        tokio::task::yield_now().await;
        self.inner.find_by_email(email).await
    }
    async fn find(&self, account_id: &str) -> Result<Option<Account>, AccountError> {
        tokio::task::yield_now().await;
        self.inner.find(account_id).await
    }
    async fn link(
        &self,
        account_id: &str,
        provider: &str,
        sub: &str,
    ) -> Result<LinkOutcome, AccountError> {
        tokio::task::yield_now().await;
        self.links.fetch_add(1, Ordering::SeqCst);
        self.inner.link(account_id, provider, sub).await
    }
    async fn create(&self, new: NewAccount) -> Result<CreateOutcome, AccountError> {
        tokio::task::yield_now().await;
        self.creates.fetch_add(1, Ordering::SeqCst);
        self.inner.create(new).await
    }
    async fn unlink(&self, account_id: &str, provider: &str) -> Result<bool, AccountError> {
        tokio::task::yield_now().await;
        self.inner.unlink(account_id, provider).await
    }
}

pub(super) async fn concurrent_sign_ins<R: AccountRepository>(
    resolver: Arc<LinkingResolver<R>>,
    id: Identity,
) -> Vec<Resolution> {
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (resolver, id) = (resolver.clone(), id.clone());
            tokio::spawn(
                async move { sign_in_linking_email(&*resolver, "google", true, &id).await },
            )
        })
        .collect();
    let mut resolutions = Vec::new();
    for task in tasks {
        resolutions.push(task.await.expect("task finished"));
    }
    resolutions
}

#[tokio::test]
async fn fifty_concurrent_first_logins_create_one_account() {
    let resolver = Arc::new(LinkingResolver::new(Yielding::new(InMemoryAccounts::new())));
    let id = google("g-1", json!({"preferred_username": "newbie"}));
    let resolutions = concurrent_sign_ins(resolver.clone(), id).await;

    let accounts = resolver.repository().inner.accounts();
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    assert!(
        resolutions
            .iter()
            .all(|r| account_of(r).id == accounts[0].id)
    );
    assert_eq!(
        resolver.repository().creates.load(Ordering::SeqCst),
        50,
        "every sign-in raced to create: the SubjectTaken path ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_parallel_first_logins_create_one_account() {
    let resolver = Arc::new(linking());
    let resolutions = concurrent_sign_ins(resolver.clone(), google("g-1", json!({}))).await;
    let accounts = resolver.repository().accounts();
    assert_eq!(accounts.len(), 1);
    assert!(
        resolutions
            .iter()
            .all(|r| account_of(r).id == accounts[0].id)
    );
}

#[tokio::test]
async fn concurrent_first_logins_by_verified_email_link_once() {
    let memory = InMemoryAccounts::new();
    let alice = memory.add_account("alice", Some("alice@example.com"), false);
    let resolver = Arc::new(LinkingResolver::new(Yielding::new(memory)));
    let id = google(
        "g-1",
        json!({"email": "alice@example.com", "email_verified": true}),
    );
    let resolutions = concurrent_sign_ins(resolver.clone(), id).await;

    assert!(resolutions.iter().all(|r| account_of(r).id == alice.id));
    let accounts = resolver.repository().inner.accounts();
    assert_eq!(accounts.len(), 1, "nobody created an account");
    assert_eq!(accounts[0].identities, ids("google", "g-1"));
    assert_eq!(
        resolver.repository().links.load(Ordering::SeqCst),
        50,
        "the lost links re-resolved"
    );
}

/// A database that is down.
struct Down;

#[async_trait]
impl AccountRepository for Down {
    async fn find_by_identity(&self, _: &str, _: &str) -> Result<Option<Account>, AccountError> {
        Err(AccountError::backend("connection refused"))
    }
    async fn find_by_email(&self, _: &str) -> Result<Vec<Account>, AccountError> {
        Err(AccountError::backend("connection refused"))
    }
    async fn find(&self, _: &str) -> Result<Option<Account>, AccountError> {
        Err(AccountError::backend("connection refused"))
    }
    async fn link(&self, _: &str, _: &str, _: &str) -> Result<LinkOutcome, AccountError> {
        Err(AccountError::backend("connection refused"))
    }
    async fn create(&self, _: NewAccount) -> Result<CreateOutcome, AccountError> {
        Err(AccountError::backend("connection refused"))
    }
    async fn unlink(&self, _: &str, _: &str) -> Result<bool, AccountError> {
        Err(AccountError::backend("connection refused"))
    }
}

#[tokio::test]
async fn a_failing_store_is_an_error_not_a_refusal() {
    let resolver = LinkingResolver::new(Down);
    let id = google("g-1", json!({}));
    for link_to in [None, Some("1")] {
        let error = resolver
            .resolve(ResolveRequest::new("google", true, &id, link_to))
            .await
            .expect_err("the store is down");
        assert!(matches!(error, AccountError::Backend(_)));
        assert_eq!(
            error.to_string(),
            "the account store failed: connection refused"
        );
    }
    assert!(matches!(
        resolver.unlink("1", "google").await,
        Err(UnlinkError::Store(_))
    ));
}

/// Claims a lost race forever: the resolver gives up instead of looping.
struct AlwaysRacing(InMemoryAccounts);

#[async_trait]
impl AccountRepository for AlwaysRacing {
    async fn find_by_identity(&self, p: &str, s: &str) -> Result<Option<Account>, AccountError> {
        self.0.find_by_identity(p, s).await
    }
    async fn find_by_email(&self, email: &str) -> Result<Vec<Account>, AccountError> {
        self.0.find_by_email(email).await
    }
    async fn find(&self, id: &str) -> Result<Option<Account>, AccountError> {
        self.0.find(id).await
    }
    async fn link(&self, _: &str, _: &str, _: &str) -> Result<LinkOutcome, AccountError> {
        Ok(LinkOutcome::SubjectTaken)
    }
    async fn create(&self, new: NewAccount) -> Result<CreateOutcome, AccountError> {
        self.0.create(new).await
    }
    async fn unlink(&self, id: &str, p: &str) -> Result<bool, AccountError> {
        self.0.unlink(id, p).await
    }
}

#[tokio::test]
async fn a_repository_that_always_loses_races_is_an_error() {
    let memory = InMemoryAccounts::new();
    memory.add_account("alice", Some("alice@example.com"), false);
    let resolver = LinkingResolver::new(AlwaysRacing(memory));
    let id = google(
        "g-1",
        json!({"email": "alice@example.com", "email_verified": true}),
    );
    let error = resolver
        .resolve(ResolveRequest::new("google", true, &id, None).with_link_by_verified_email(true))
        .await
        .expect_err("never settles");
    assert!(matches!(error, AccountError::Inconsistent(_)));
    assert_eq!(
        resolver.repository().0.accounts().len(),
        1,
        "no account created meanwhile"
    );
}

// ---------------------------------------------------------------- unlink

#[tokio::test]
async fn unlink_refuses_the_last_way_in() {
    let resolver = linking();
    let id = google("g-1", json!({}));
    let account = account_of(&sign_in(&resolver, "google", true, &id).await)
        .id
        .clone();
    assert!(matches!(
        resolver.unlink(&account, "google").await,
        Err(UnlinkError::LastWayIn)
    ));
    assert_eq!(
        resolver.repository().accounts()[0].identities,
        ids("google", "g-1")
    );
    assert!(matches!(
        resolver.unlink(&account, "github").await,
        Err(UnlinkError::NotLinked)
    ));
    assert!(matches!(
        resolver.unlink("404", "google").await,
        Err(UnlinkError::NoSuchAccount)
    ));
}

#[tokio::test]
async fn unlink_is_allowed_with_a_local_login() {
    let resolver = linking();
    let alice = resolver.repository().add_account("alice", None, true);
    resolver
        .repository()
        .link(&alice.id, "google", "g-1")
        .await
        .expect("store");
    resolver
        .unlink(&alice.id, "google")
        .await
        .expect("alice can still use her password");
    assert!(resolver.repository().accounts()[0].identities.is_empty());
    // The identity is a stranger again.
    let refused = sign_in(&resolver, "google", false, &google("g-1", json!({}))).await;
    assert!(reason(&refused).starts_with("New users"));
}

#[tokio::test]
async fn unlink_is_allowed_with_another_identity() {
    let resolver = linking();
    let alice = resolver.repository().add_account("alice", None, false);
    resolver
        .repository()
        .link(&alice.id, "google", "g-1")
        .await
        .expect("store");
    resolver
        .repository()
        .link(&alice.id, "github", "gh-1")
        .await
        .expect("store");
    resolver
        .unlink(&alice.id, "google")
        .await
        .expect("github remains");
    assert_eq!(
        resolver.repository().accounts()[0].identities,
        ids("github", "gh-1")
    );
    assert!(matches!(
        resolver.unlink(&alice.id, "github").await,
        Err(UnlinkError::LastWayIn)
    ));
}

#[tokio::test]
async fn racing_unlinks_leave_a_way_in() {
    let memory = InMemoryAccounts::new();
    let alice = memory.add_account("alice", None, false);
    memory
        .link(&alice.id, "google", "g-1")
        .await
        .expect("store");
    memory
        .link(&alice.id, "github", "gh-1")
        .await
        .expect("store");
    let resolver = Arc::new(LinkingResolver::new(Yielding::new(memory)));
    let (a, b) = tokio::join!(
        resolver.unlink(&alice.id, "google"),
        resolver.unlink(&alice.id, "github")
    );
    assert!(
        a.is_err() || b.is_err(),
        "both unlinks succeeded: {a:?} {b:?}"
    );
    let left = &resolver.repository().inner.accounts()[0].identities;
    assert!(!left.is_empty(), "alice is locked out");
}

// ---------------------------------------------------------------- the repository contract

#[tokio::test]
async fn in_memory_repository_keeps_the_contract() {
    contract::keeps_the_contract(&InMemoryAccounts::new()).await;
    contract::compares_emails_case_insensitively(&InMemoryAccounts::new()).await;
    contract::picks_free_usernames(&InMemoryAccounts::new()).await;
    contract::honours_the_link_by_email_veto(Arc::new(InMemoryAccounts::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_memory_repository_settles_racing_first_logins() {
    contract::settles_racing_first_logins(Arc::new(InMemoryAccounts::new())).await;
}

#[test]
fn shared_handles_are_resolvers_and_repositories() {
    fn resolver<T: AccountResolver>() {}
    fn repository<T: AccountRepository>() {}
    resolver::<Arc<LinkingResolver<InMemoryAccounts>>>();
    resolver::<Arc<dyn AccountResolver>>();
    resolver::<LinkingResolver<Arc<InMemoryAccounts>>>();
    repository::<Arc<dyn AccountRepository>>();
}

/// An access token's lookup: the provider's `allow_new_users` as configured.
async fn look_up(
    resolver: &impl AccountResolver,
    provider: &str,
    allow_new_users: bool,
    identity: &Identity,
) -> Resolution {
    resolver
        .resolve(ResolveRequest::new(provider, allow_new_users, identity, None).lookup_only())
        .await
        .expect("the store works")
}

#[tokio::test]
async fn a_lookup_finds_the_login_account_and_never_creates_or_links_one() {
    // Stateless: the login's account id where a login is admitted, refused where it is not.
    let id = google("g-1", json!({}));
    let login = sign_in(&StatelessResolver, "google", true, &id).await;
    assert_eq!(
        look_up(&StatelessResolver, "google", true, &id).await,
        login
    );
    let refused = look_up(&StatelessResolver, "google", false, &id).await;
    assert!(matches!(refused, Resolution::Refused { .. }), "{refused:?}");

    // Linking: even with sign-ups open, a lookup creates nothing and links nothing.
    let resolver = linking();
    let stranger = google(
        "g-2",
        json!({"email": "a@example.com", "email_verified": true}),
    );
    let refused = look_up(&resolver, "google", true, &stranger).await;
    assert!(matches!(refused, Resolution::Refused { .. }), "{refused:?}");
    assert!(
        resolver
            .repository()
            .find_by_email("a@example.com")
            .await
            .unwrap()
            .is_empty()
    );
    let created = sign_in(&resolver, "google", true, &stranger).await;
    assert_eq!(
        look_up(&resolver, "google", false, &stranger).await,
        created
    );
}
