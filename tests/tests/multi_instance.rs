//! Two instances of one app behind one external URL, sharing sessions through Redis or
//! PostgreSQL: the real provider (op.mjs), one `redis-server` or PostgreSQL server started here
//! on a free loopback port, and two apps on two ports, each with its own `TwoTierStore` (moka
//! in front of the shared store, invalidation by Redis pub/sub or PostgreSQL `LISTEN/NOTIFY`,
//! staleness bound 2 s) and the same cookie key. Every test runs on each store
//! (`on_redis::*`, `on_postgres::*`, and `on_redis_cluster::*` on a cluster of three masters
//! and three replicas): the same behaviour is promised on each.
//!
//! Both instances are configured with instance A's URL as their external URL, as two backends
//! behind a load balancer would be: the provider knows one redirect URI (B's is registered
//! too, unused), and the test plays the load balancer by sending some requests to B's port.
//! The browser's cookie jar is per host, not per port, like a real browser's, so both
//! instances see the same cookies.
//!
//! Run: `npm ci --prefix tests/provider && cargo test -p oidc-e2e --test multi_instance`
//! (needs `redis-server` and PostgreSQL's programs, which `scripts/test.sh` installs; without
//! them these tests fail).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::{Json, Router};
use oidc_e2e::{
    App, AppListener, AtProvider, Browser, Op, OpOptions, Page, init_tracing, is_session_cookie,
};
use oidc_layer::{
    CookieNames, Identity, OidcConfig, OidcLayer, RedisConfig, RedisStore, SessionData, SessionId,
    SessionStore, TwoTierConfig, TwoTierStore,
};
use session_store::postgres_server::PostgresServer;
use session_store::redis_cluster::RedisCluster;
use session_store::redis_server::RedisServer;
use session_store::{PostgresStore, SqlConfig};
use url::Url;

const CALLBACK: &str = "/auth/oidc";
const ALICE_SUB: &str = "u-1001-alice";
/// The cookie key both instances share (test-only).
const COOKIE_KEY: &str =
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==";
/// Another test-only key, for a rotation.
const NEW_COOKIE_KEY: &str = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=";

/// The cookie keys of an instance: the one that seals, then previous ones still accepted.
#[derive(Clone, Copy)]
struct Keys {
    key: &'static str,
    previous: &'static [&'static str],
}

/// What both instances use unless a test says otherwise.
const SHARED_KEY: Keys = Keys {
    key: COOKIE_KEY,
    previous: &[],
};

/// The documented staleness bound of the two-tier store (`TwoTierConfig` default).
const BOUND: Duration = TwoTierConfig::DEFAULT_MAX_STALENESS;

/// An instance's store (a `TwoTierStore` over Redis or PostgreSQL), or the shared store itself.
type Store = Arc<dyn SessionStore<SessionData>>;

/// Which shared store the instances use.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Redis,
    RedisCluster,
    Postgres,
}

/// The shared store's server, started by the test.
enum Server {
    Redis(RedisServer),
    RedisCluster(RedisCluster),
    Postgres(PostgresServer),
}

impl Server {
    fn start(kind: Kind) -> Server {
        match kind {
            Kind::Redis => Server::Redis(RedisServer::start()),
            Kind::RedisCluster => Server::RedisCluster(RedisCluster::start()),
            Kind::Postgres => Server::Postgres(PostgresServer::start()),
        }
    }

    /// The shared store (a new pool of connections each time, as another process would have).
    async fn remote(&self) -> Remote {
        match self {
            Server::Redis(redis) => Remote::Redis(
                RedisStore::open(RedisConfig::new(redis.url()).key_prefix("e2e:"))
                    .expect("a redis:// URL"),
            ),
            Server::RedisCluster(cluster) => Remote::Redis(
                RedisStore::open(RedisConfig::cluster(cluster.urls()).key_prefix("e2e:"))
                    .expect("redis:// URLs"),
            ),
            Server::Postgres(postgres) => Remote::Postgres(
                PostgresStore::connect(&postgres.url(), SqlConfig::new().table_prefix("e2e_"))
                    .await
                    .expect("PostgreSQL answers"),
            ),
        }
    }

    /// Stops the server like a crash.
    fn stop(&mut self) {
        match self {
            Server::Redis(redis) => redis.stop(),
            Server::RedisCluster(_) => {
                unreachable!("a cluster's failover is tested in session-store")
            }
            Server::Postgres(postgres) => postgres.stop(),
        }
    }

    /// Starts it again on the same port (Redis empty, PostgreSQL with its data).
    fn restart(&mut self) {
        match self {
            Server::Redis(redis) => redis.restart(),
            Server::RedisCluster(_) => {
                unreachable!("a cluster's failover is tested in session-store")
            }
            Server::Postgres(postgres) => postgres.restart(),
        }
    }

    /// Overwrites the stored record of `id` with something no instance can read (a newer
    /// version's format), behind the instances' backs, and announces the change on the feed.
    fn damage_record(&self, id: &SessionId) {
        let fingerprint = id.fingerprint().encode();
        match self {
            Server::Redis(redis) => {
                let key = format!("e2e:s:{fingerprint}");
                assert_eq!(redis.command(&format!("HSET {key} v \"\\x09{{}}\"")), ":0");
                assert_eq!(
                    redis.command(&format!("PUBLISH e2e:changes {fingerprint}")),
                    ":2"
                );
            }
            Server::RedisCluster(cluster) => {
                // On the master that serves the key; PUBLISH reaches every node's subscribers.
                let key = format!("e2e:s:{fingerprint}");
                let port = cluster.master_of(key.as_bytes());
                assert_eq!(
                    cluster.command(port, &format!("HSET {key} v \"\\x09{{}}\"")),
                    ":0"
                );
                cluster.command(port, &format!("PUBLISH e2e:changes {fingerprint}"));
            }
            Server::Postgres(postgres) => {
                let hex: String = id
                    .fingerprint()
                    .as_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                postgres.psql(&format!(
                    "UPDATE e2e_sessions SET value = '\\x097b7d'::bytea WHERE fingerprint = '\\x{hex}'::bytea"
                ));
                assert_eq!(
                    postgres
                        .psql("SELECT count(*) FROM e2e_sessions WHERE value = '\\x097b7d'::bytea"),
                    "1"
                );
                postgres.psql(&format!("SELECT pg_notify('e2e_changes', '{fingerprint}')"));
            }
        }
    }
}

/// A shared store, concretely (for its change feed).
#[derive(Clone)]
enum Remote {
    Redis(RedisStore<SessionData>),
    Postgres(PostgresStore<SessionData>),
}

impl Remote {
    /// An instance's store: this shared store behind a local tier, told about changes by
    /// `feed`.
    fn instance(self, feed: Feed, bound: Duration) -> Store {
        let config = TwoTierConfig::new().max_staleness(bound);
        match (self, feed) {
            (Remote::Redis(r), Feed::Changes) => Arc::new(TwoTierStore::with_changes(r, config)),
            (Remote::Redis(r), Feed::None) => Arc::new(TwoTierStore::new(r, config)),
            (Remote::Postgres(p), Feed::Changes) => Arc::new(TwoTierStore::with_changes(p, config)),
            (Remote::Postgres(p), Feed::None) => Arc::new(TwoTierStore::new(p, config)),
        }
    }

    fn erased(self) -> Store {
        match self {
            Remote::Redis(r) => Arc::new(r),
            Remote::Postgres(p) => Arc::new(p),
        }
    }
}

/// How an instance's local tier hears about the other instance's changes.
#[derive(Clone, Copy, PartialEq)]
enum Feed {
    /// Redis pub/sub or PostgreSQL `LISTEN/NOTIFY`: at once.
    Changes,
    /// Nothing: only the staleness bound.
    None,
}

struct Cluster {
    a: App,
    b: App,
    /// The shared store itself, to look at what is stored.
    remote: Store,
    op: Op,
    server: Server,
    /// The cookie names, the same on both instances (one app).
    cookies: CookieNames,
    /// Both instances' staleness bound.
    bound: Duration,
}

impl Cluster {
    async fn start(kind: Kind, b_feed: Feed) -> Cluster {
        Self::start_with(kind, b_feed, None, SHARED_KEY).await
    }

    /// [`Cluster::start`] with another staleness bound than the default [`BOUND`].
    async fn start_with_bound(kind: Kind, b_feed: Feed, bound: Duration) -> Cluster {
        Self::start_full(kind, b_feed, None, SHARED_KEY, bound).await
    }

    /// [`Cluster::start`] with the provider's access tokens living `access_token_ttl` seconds,
    /// and B's cookie keys (A has [`SHARED_KEY`]).
    async fn start_with(
        kind: Kind,
        b_feed: Feed,
        access_token_ttl: Option<u64>,
        b_keys: Keys,
    ) -> Cluster {
        Self::start_full(kind, b_feed, access_token_ttl, b_keys, BOUND).await
    }

    async fn start_full(
        kind: Kind,
        b_feed: Feed,
        access_token_ttl: Option<u64>,
        b_keys: Keys,
        bound: Duration,
    ) -> Cluster {
        init_tracing();
        let server = Server::start(kind);
        let listener_a = AppListener::bind().await;
        let listener_b = AppListener::bind().await;
        let external = listener_a.external_url();
        let mut options = OpOptions::for_app(&listener_a);
        options.redirect_uris.push(listener_b.redirect_uri());
        let b_url = listener_b.external_url();
        options
            .post_logout_redirect_uris
            .extend([format!("{b_url}/"), format!("{b_url}/auth/logged-out")]);
        // The provider posts logout tokens to the external URL (A).
        options.backchannel_logout_uri = Some(format!("{external}/auth/backchannel-logout"));
        options.access_token_ttl = access_token_ttl;
        let op = Op::start(options).await;
        let cookies = config(&op, &external, SHARED_KEY).cookie_names();
        assert_eq!(cookies, config(&op, &external, b_keys).cookie_names());
        let remote_a = server.remote().await;
        let remote = remote_a.clone().erased();
        let store_a = remote_a.instance(Feed::Changes, bound);
        let store_b = server.remote().await.instance(b_feed, bound);
        let a = App::spawn(app(&op, &external, store_a, SHARED_KEY), listener_a);
        let b = App::spawn(app(&op, &external, store_b, b_keys), listener_b);
        Cluster {
            a,
            b,
            remote,
            op,
            server,
            cookies,
            bound,
        }
    }

    /// Logs `browser` in as alice on A; returns the session id.
    async fn log_in_on_a(&self, browser: &Browser) -> SessionId {
        let first = browser.get(self.a.url("/whoami")).await;
        let journey = browser
            .follow_with(first, AtProvider::log_in("alice"))
            .await;
        journey.assert_no_server_error();
        assert_eq!(
            (journey.last().url.clone(), journey.last().status.as_u16()),
            (self.a.url("/whoami"), 200),
            "login on A:\n{journey}\n{}",
            self.op.log_tail()
        );
        self.session(browser)
    }

    fn session(&self, browser: &Browser) -> SessionId {
        let cookie = browser
            .find_cookie(&self.a.url("/"), is_session_cookie)
            .expect("a session cookie");
        SessionId::parse(&cookie).expect("a session id")
    }
}

fn app(op: &Op, external_url: &str, store: Store, keys: Keys) -> Router {
    Router::new()
        .route("/", get(|| async { "home" }))
        .route("/whoami", get(|id: Identity| async move { Json(id) }))
        .layer(OidcLayer::new(config(op, external_url, keys)).with_store(store))
}

/// The configuration of an instance: one external URL for all, each its own cookie keys.
fn config(op: &Op, external_url: &str, keys: Keys) -> OidcConfig {
    OidcConfig::builder()
        .issuer(op.issuer())
        .client_id(op.client_id())
        .client_secret(op.client_secret())
        .external_url(external_url)
        .scopes(["openid", "profile", "email"])
        .public_paths(["/"])
        .cookie_key(keys.key)
        .previous_cookie_keys(keys.previous.iter().copied())
        .build()
        .expect("a valid configuration")
}

/// `fetch('/whoami')` on `app` answers 200 for alice.
async fn assert_logged_in(browser: &Browser, app: &App, context: &str) {
    let page = browser.fetch(app.url("/whoami")).await;
    assert_eq!(page.status, 200, "{context}: {page}\n{}", page.body);
    assert_eq!(page.json()["sub"], ALICE_SUB, "{context}");
}

/// Polls `fetch('/whoami')` on `app` until it answers 401; fails after `within`. Returns how
/// long that took.
async fn logged_out_within(
    browser: &Browser,
    app: &App,
    within: Duration,
    context: &str,
) -> Duration {
    let started = Instant::now();
    loop {
        let page = browser.fetch(app.url("/whoami")).await;
        match page.status.as_u16() {
            401 => return started.elapsed(),
            200 => {}
            _ => panic!("{context}: unexpected answer {page}\n{}", page.body),
        }
        assert!(
            started.elapsed() < within,
            "{context}: the session still works after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `url` on instance B (same path and query, B's port): the load balancer's choice.
fn on_b(cluster: &Cluster, url: &Url) -> Url {
    let mut moved = url.clone();
    moved
        .set_port(Some(cluster.b.url("/").port().expect("B has a port")))
        .expect("an http URL takes a port");
    moved
}

/// Signs out through A's logout form and the provider's confirmation.
async fn log_out_on_a(cluster: &Cluster, browser: &Browser) {
    let form_page = browser.get(cluster.a.url("/auth/logout")).await;
    let page = browser.submit(&form_page, "logout", &[]).await;
    let journey = browser.follow_with(page, AtProvider::Stay).await;
    let confirm = journey.last();
    let back = confirm_at_provider(cluster, browser, confirm).await;
    let journey = browser.follow_with(back, AtProvider::Stay).await;
    journey.assert_no_server_error();
    assert_eq!(
        journey.last().url.path(),
        "/auth/logged-out",
        "logout on A:\n{journey}"
    );
}

async fn confirm_at_provider(cluster: &Cluster, browser: &Browser, confirm: &Page) -> Page {
    assert_eq!(
        (confirm.status.as_u16(), confirm.url.origin()),
        (200, cluster.op.origin()),
        "the provider's logout confirmation: {confirm}\n{}",
        confirm.body
    );
    let page = browser
        .submit(confirm, "op.logoutForm", &[("logout", "yes")])
        .await;
    assert_eq!(page.status, 303, "confirming at the provider: {page}");
    page
}

async fn a_session_made_on_one_instance_works_on_the_other(kind: Kind) {
    let cluster = Cluster::start(kind, Feed::Changes).await;
    let browser = Browser::new();
    let id = cluster.log_in_on_a(&browser).await;
    let record = cluster
        .remote
        .load(&id)
        .await
        .expect("the shared store answers")
        .expect("the session is in the shared store");
    // The shared store keeps what logout and refresh need, and no access token the app did not ask for.
    let stored = serde_json::to_value(&record.data).expect("SessionData serializes");
    assert!(stored["id_token"].is_string() && stored["refresh_token"].is_string());
    assert!(stored["access_token"].is_null(), "{stored}");
    assert_logged_in(&browser, &cluster.b, "the session on B").await;
    assert_logged_in(&browser, &cluster.a, "the session on A").await;
}

async fn a_login_started_on_one_instance_finishes_on_the_other(kind: Kind) {
    let cluster = Cluster::start(kind, Feed::Changes).await;
    login_started_on_a_finishes_on_b(&cluster).await;
}

async fn during_a_cookie_key_rotation_a_login_started_with_the_old_key_finishes_with_the_new(
    kind: Kind,
) {
    // B already seals with the new key and still accepts the old one; A is not updated yet.
    let rotating = Keys {
        key: NEW_COOKIE_KEY,
        previous: &[COOKIE_KEY],
    };
    let cluster = Cluster::start_with(kind, Feed::Changes, None, rotating).await;
    login_started_on_a_finishes_on_b(&cluster).await;
}

/// A login started on A (which sets the attempt cookie) whose callback lands on B.
async fn login_started_on_a_finishes_on_b(cluster: &Cluster) {
    let browser = Browser::new();
    // Started on A (A sets the attempt cookie, sealed with the shared key)...
    let first = browser.get(cluster.a.url("/whoami")).await;
    let journey = browser
        .follow_until(first, AtProvider::log_in("alice"), |u| u.path() == CALLBACK)
        .await;
    journey.assert_no_server_error();
    let callback = journey
        .pending
        .clone()
        .unwrap_or_else(|| panic!("never reached the callback:\n{journey}"));
    // ...the callback lands on B, which finishes the login.
    let landing = browser.get(on_b(cluster, &callback)).await;
    let journey = browser.follow(landing).await;
    journey.assert_no_server_error();
    let last = journey.last();
    assert_eq!(
        (last.url.path(), last.status.as_u16()),
        ("/whoami", 200),
        "the login finished on B:\n{journey}\n{}",
        cluster.op.log_tail()
    );
    assert_eq!(last.url.port(), cluster.b.url("/").port(), "{journey}");
    assert_logged_in(&browser, &cluster.a, "the session on A").await;
    assert_logged_in(&browser, &cluster.b, "the session on B").await;
}

/// A second holder of the session cookie (another tab of the same browser that missed the
/// logout's cookie removal, or a copied cookie): it must be refused once the session ends.
fn copy_of_session(cluster: &Cluster, id: &SessionId) -> Browser {
    let copy = Browser::new();
    copy.add_cookie(
        &cluster.a.url("/"),
        &format!("{}={}; Path=/", cluster.cookies.session(), id.encode()),
    );
    copy
}

async fn a_logout_on_one_instance_ends_the_session_on_the_other(kind: Kind) {
    let cluster = Cluster::start(kind, Feed::Changes).await;
    let browser = Browser::new();
    let id = cluster.log_in_on_a(&browser).await;
    let copy = copy_of_session(&cluster, &id);
    // B has the session in its local tier.
    assert_logged_in(&copy, &cluster.b, "the session on B, before the logout").await;
    log_out_on_a(&cluster, &browser).await;
    let took = logged_out_within(&copy, &cluster.b, BOUND, "B after the logout on A").await;
    eprintln!("the logout on A ended the session on B after {took:?}");
    assert!(
        took < Duration::from_millis(500),
        "with pub/sub the logout shows on B at once, not after {took:?}"
    );
    logged_out_within(&copy, &cluster.a, Duration::from_millis(100), "A").await;
    logged_out_within(&browser, &cluster.b, Duration::from_millis(100), "B").await;
}

async fn without_the_change_feed_a_logout_shows_on_the_other_instance_within_the_bound(kind: Kind) {
    // B's local tier hears nothing from A: only the staleness bound ends its copy.
    let cluster = Cluster::start(kind, Feed::None).await;
    let browser = Browser::new();
    let id = cluster.log_in_on_a(&browser).await;
    let copy = copy_of_session(&cluster, &id);
    let fetched = Instant::now();
    assert_logged_in(&copy, &cluster.b, "the session on B, before the logout").await;
    log_out_on_a(&cluster, &browser).await;
    let took = logged_out_within(&copy, &cluster.b, BOUND + Duration::from_millis(500), "B").await;
    eprintln!(
        "without pub/sub the logout on A ended the session on B {took:?} after the logout, {:?} after B read it",
        fetched.elapsed()
    );
    assert!(
        fetched.elapsed() <= BOUND + Duration::from_millis(500),
        "B served the session for {:?} after reading it (bound {BOUND:?})",
        fetched.elapsed()
    );
}

async fn a_back_channel_logout_received_by_one_instance_ends_the_session_everywhere(kind: Kind) {
    let cluster = Cluster::start(kind, Feed::Changes).await;
    let browser = Browser::new();
    let id = cluster.log_in_on_a(&browser).await;
    assert_logged_in(&browser, &cluster.b, "before").await;
    // alice signs out at the provider itself; it posts a logout token to A only.
    let confirm = browser
        .get(cluster.op.endpoint("end_session_endpoint").as_str())
        .await;
    confirm_at_provider(&cluster, &browser, &confirm).await;
    cluster.op.sync_log().await;
    assert_eq!(
        cluster.op.count_log_lines("backchannel.success"),
        1,
        "A accepted the logout token:\n{}",
        cluster.op.log_tail()
    );
    assert!(
        cluster
            .remote
            .load(&id)
            .await
            .expect("the shared store answers")
            .is_none()
    );
    let took = logged_out_within(&browser, &cluster.b, BOUND, "B").await;
    assert!(
        took < Duration::from_millis(500),
        "pub/sub: at once, not {took:?}"
    );
    logged_out_within(&browser, &cluster.a, Duration::from_millis(100), "A").await;
}

async fn requests_racing_on_both_instances_refresh_once_and_keep_the_grant(kind: Kind) {
    // Access tokens live 3 s: every request of a round finds the token expired, on both
    // instances at once. Each round refreshes exactly once (the other requests wait for that
    // refresh or reuse it), and the refreshed token is not due again within the round.
    const TTL: u64 = 3;
    let cluster = Cluster::start_with(kind, Feed::Changes, Some(TTL), SHARED_KEY).await;
    let browser = Browser::new();
    cluster.log_in_on_a(&browser).await;
    for round in 1..=2 {
        // Expired: nobody may go on with the old token; each instance refreshes or waits.
        tokio::time::sleep(Duration::from_secs(TTL) + Duration::from_millis(300)).await;
        let fetches = (0..6).map(|n| {
            let app = if n % 2 == 0 { &cluster.a } else { &cluster.b };
            browser.fetch(app.url("/whoami"))
        });
        for page in futures_util::future::join_all(fetches).await {
            assert_eq!(page.status, 200, "round {round}: {page}\n{}", page.body);
        }
        cluster.op.sync_log().await;
        assert_eq!(
            cluster.op.count_log_lines("grant.error"),
            0,
            "round {round}: a refresh token was redeemed twice (the provider revokes the grant):\n{}",
            cluster.op.log_tail()
        );
        assert_eq!(
            cluster.op.count_log_lines("grant.success refresh_token"),
            round,
            "round {round}: exactly one refresh per round:\n{}",
            cluster.op.log_tail()
        );
    }
}

async fn with_the_store_down_logins_get_a_503_page_local_sessions_last_the_bound_and_it_recovers(
    kind: Kind,
) {
    // A wider bound than the default, so that the read just after the stop is within it even
    // on a slow machine (no skipping): A's copy is at most half the bound old at the last
    // request before the stop (past half, a request re-reads it), and the read follows at once.
    let bound = Duration::from_secs(8);
    let mut cluster = Cluster::start_with_bound(kind, Feed::Changes, bound).await;
    let browser = Browser::new();
    cluster.log_in_on_a(&browser).await;
    assert_logged_in(&browser, &cluster.a, "before the store stops").await;
    cluster.server.stop();
    let stopped = Instant::now();

    // A serves the session it has in memory, for at most the bound.
    let page = browser.fetch(cluster.a.url("/whoami")).await;
    assert_eq!(
        page.status,
        200,
        "within the bound ({:?} after the stop): {page}\n{}",
        stopped.elapsed(),
        page.body
    );

    // A new login gets the 503 page at once, before anyone types a password at the provider.
    let newcomer = Browser::new();
    let page = newcomer.get(cluster.a.url("/whoami")).await;
    assert_eq!(page.status, 503, "a login while the store is down: {page}");
    assert!(
        page.content_type().starts_with("text/html")
            && page.body.contains("Sign-in is unavailable"),
        "the 503 page: {}",
        page.body
    );
    let page = newcomer
        .get(cluster.a.url("/auth/login?return_to=%2Fwhoami"))
        .await;
    assert_eq!(page.status, 503, "the login route too: {page}");

    // Past the bound the session cannot be read: a 503 page, not a login loop; public paths work.
    tokio::time::sleep(
        (stopped + cluster.bound + Duration::from_millis(300))
            .saturating_duration_since(Instant::now()),
    )
    .await;
    let page = browser.get(cluster.a.url("/whoami")).await;
    assert_eq!(page.status, 503, "past the bound: {page}\n{}", page.body);
    assert!(
        page.body.contains("Sessions cannot be read right now"),
        "{}",
        page.body
    );
    assert_eq!(
        browser.get(cluster.a.url("/")).await.status,
        200,
        "a public path"
    );

    // The store comes back (Redis empty: no persistence, so everybody signs in again;
    // PostgreSQL with its data); the instances reconnect by themselves and logins work again.
    cluster.server.restart();
    let started = Instant::now();
    loop {
        let again = Browser::new();
        let first = again.get(cluster.a.url("/whoami")).await;
        let journey = again.follow_with(first, AtProvider::log_in("alice")).await;
        let last = journey.last();
        if (last.status.as_u16(), last.url.path()) == (200, "/whoami") {
            assert_logged_in(
                &again,
                &cluster.b,
                "a login after the store came back, on B",
            )
            .await;
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "logins still fail 10 s after the store came back:\n{journey}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn a_session_record_the_instance_cannot_read_means_signing_in_again_not_an_error(kind: Kind) {
    let cluster = Cluster::start(kind, Feed::Changes).await;
    let browser = Browser::new();
    let id = cluster.log_in_on_a(&browser).await;
    // A newer version's format (or a damaged record), written behind the instances' backs;
    // the change feed tells both to drop their copies.
    cluster.server.damage_record(&id);
    for app in [&cluster.a, &cluster.b] {
        // The change feed drops the local copies at once; the bound, at the latest.
        let started = Instant::now();
        let page = loop {
            let page = browser.fetch(app.url("/whoami")).await;
            if page.status != 200 || started.elapsed() > BOUND + Duration::from_millis(500) {
                break page;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(page.status, 401, "an API call: {page}\n{}", page.body);
        let page = browser.get(app.url("/whoami")).await;
        let location = page.header("location").and_then(|l| Url::parse(l).ok());
        assert_eq!(
            (page.status.as_u16(), location.map(|l| l.origin())),
            (302, Some(cluster.op.origin())),
            "a page: off to sign in again, {page}"
        );
    }
}

/// Every test above, once on each shared store (the store-down test on those that can be
/// stopped and restarted as one server; a cluster's failover is tested in session-store's
/// `redis_cluster` tests).
macro_rules! tests_on {
    ($module:ident, $kind:expr $(, $extra:ident)*) => {
        mod $module {
            use super::Kind;
            tests_on!(@each $kind,
                a_session_made_on_one_instance_works_on_the_other,
                a_login_started_on_one_instance_finishes_on_the_other,
                during_a_cookie_key_rotation_a_login_started_with_the_old_key_finishes_with_the_new,
                a_logout_on_one_instance_ends_the_session_on_the_other,
                without_the_change_feed_a_logout_shows_on_the_other_instance_within_the_bound,
                a_back_channel_logout_received_by_one_instance_ends_the_session_everywhere,
                requests_racing_on_both_instances_refresh_once_and_keep_the_grant,
                a_session_record_the_instance_cannot_read_means_signing_in_again_not_an_error,
                $($extra,)*
            );
        }
    };
    (@each $kind:expr, $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($kind).await;
            }
        )*
    };
}

tests_on!(
    on_redis,
    Kind::Redis,
    with_the_store_down_logins_get_a_503_page_local_sessions_last_the_bound_and_it_recovers
);
tests_on!(
    on_postgres,
    Kind::Postgres,
    with_the_store_down_logins_get_a_503_page_local_sessions_last_the_bound_and_it_recovers
);
tests_on!(on_redis_cluster, Kind::RedisCluster);
