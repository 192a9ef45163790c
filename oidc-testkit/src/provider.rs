//! [`TestProvider`]: configuration, start and shutdown.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{Shared, Tamper, TestUser, authorize, endpoints, jwt, lock, store, token};

/// A running OpenID Provider on a loopback port, stopped by [`TestProvider::shutdown`] or when
/// dropped.
///
/// ```
/// use oidc_testkit::{Tamper, TestProvider};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let provider = TestProvider::start().await?;
/// assert_eq!(provider.issuer(), format!("http://127.0.0.1:{}", provider.addr().port()));
/// assert_eq!(provider.client_id(), "test-client");
/// provider.set_tamper(Tamper::WrongNonce);
/// assert_eq!(provider.token_requests(), 0);
/// provider.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct TestProvider {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl TestProvider {
    /// Starts a provider with the default configuration on `127.0.0.1`, port picked by the OS.
    pub async fn start() -> io::Result<TestProvider> {
        Self::builder().start().await
    }

    /// A builder to configure the client, users, lifetimes... before starting.
    pub fn builder() -> TestProviderBuilder {
        TestProviderBuilder::default()
    }

    /// The issuer URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// The address the provider listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The registered client's id.
    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    /// The registered client's secret.
    pub fn client_secret(&self) -> &str {
        &self.shared.client_secret
    }

    /// The users shown on the sign-in page (as updated by [`TestProvider::update_user`]).
    pub fn users(&self) -> Vec<TestUser> {
        lock(&self.shared.users).clone()
    }

    /// Replaces the user with `user`'s username (their groups changed at the provider, say):
    /// following ID tokens and userinfo answers carry the new claims. Returns `false`, changing
    /// nothing, when there is no such user or `user` has no string `sub`.
    pub fn update_user(&self, user: TestUser) -> bool {
        if user.sub().is_empty() {
            return false;
        }
        let mut users = lock(&self.shared.users);
        match users.iter_mut().find(|u| u.username == user.username) {
            Some(slot) => {
                *slot = user;
                true
            }
            None => false,
        }
    }

    /// Makes the following responses misbehave (see [`Tamper`]); [`Tamper::None`] restores
    /// correct behaviour.
    pub fn set_tamper(&self, tamper: Tamper) {
        *lock(&self.shared.tamper) = tamper;
    }

    /// The current [`Tamper`].
    pub fn tamper(&self) -> Tamper {
        self.shared.tamper()
    }

    /// How many requests reached the token endpoint so far, successful or not.
    pub fn token_requests(&self) -> usize {
        self.shared.token_requests.load(Ordering::SeqCst)
    }

    /// How many requests reached the userinfo endpoint so far, successful or not.
    pub fn userinfo_requests(&self) -> usize {
        self.shared.userinfo_requests.load(Ordering::SeqCst)
    }

    /// Stops accepting connections and waits (up to 5 s) for requests in flight to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        // Graceful shutdown continues in the background (or ends with the runtime).
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl fmt::Debug for TestProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestProvider")
            .field("issuer", &self.shared.issuer)
            .field("client_id", &self.shared.client_id)
            .field("tamper", &self.tamper())
            .finish_non_exhaustive()
    }
}

/// Configures a [`TestProvider`]; every setting has a default matching the reference provider
/// (`op.mjs`).
///
/// ```
/// use std::time::Duration;
/// use oidc_testkit::{TestProvider, TestUser};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let provider = TestProvider::builder()
///     .client("my-app", "my-secret")
///     .redirect_uris(["http://127.0.0.1:8080/auth/oidc"])
///     .post_logout_redirect_uris(["http://127.0.0.1:8080/"])
///     .users([TestUser::alice(), TestUser::bob()])
///     .access_token_ttl(Duration::from_secs(30))
///     .start()
///     .await?;
/// assert_eq!(provider.client_id(), "my-app");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct TestProviderBuilder {
    bind: SocketAddr,
    client_id: String,
    client_secret: String,
    id_token_audiences: Vec<String>,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    allow_any_loopback_redirect: bool,
    users: Vec<TestUser>,
    access_token_ttl: Duration,
    api_audience: Option<String>,
    machine_clients: Vec<(String, String)>,
    id_token_ttl: Duration,
    refresh_token_ttl: Duration,
    auto_login: Option<String>,
    tamper: Tamper,
}

impl Default for TestProviderBuilder {
    fn default() -> Self {
        TestProviderBuilder {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            client_id: "test-client".to_owned(),
            client_secret: "test-secret".to_owned(),
            id_token_audiences: Vec::new(),
            redirect_uris: vec!["http://127.0.0.1:3000/auth/oidc".to_owned()],
            post_logout_redirect_uris: vec![
                "http://127.0.0.1:3000/".to_owned(),
                "http://127.0.0.1:3000/logged-out".to_owned(),
            ],
            allow_any_loopback_redirect: false,
            users: TestUser::defaults(),
            access_token_ttl: Duration::from_secs(300),
            api_audience: None,
            machine_clients: Vec::new(),
            id_token_ttl: Duration::from_secs(3600),
            refresh_token_ttl: Duration::from_secs(86400),
            auto_login: None,
            tamper: Tamper::None,
        }
    }
}

impl TestProviderBuilder {
    /// Address to listen on (default `127.0.0.1:0`, a port picked by the OS).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// The one registered client (default `test-client` / `test-secret`).
    pub fn client(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.client_id = client_id.into();
        self.client_secret = client_secret.into();
        self
    }

    /// Audiences every ID token names in `aud` after the client, with the client in `azp`: the
    /// shape of a provider that adds a resource of its own, as Zitadel adds the project's id
    /// (default: none, `aud` is the client alone). A relying party must trust them explicitly
    /// (OpenID Connect Core 3.1.3.7).
    pub fn id_token_audiences<I>(mut self, audiences: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.id_token_audiences = audiences.into_iter().map(Into::into).collect();
        self
    }

    /// Registered redirect URIs, matched exactly, character for character (default
    /// `http://127.0.0.1:3000/auth/oidc`).
    pub fn redirect_uris<I>(mut self, uris: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.redirect_uris = uris.into_iter().map(Into::into).collect();
        self
    }

    /// Registered post-logout redirect URIs, matched exactly (default `http://127.0.0.1:3000/`
    /// and `http://127.0.0.1:3000/logged-out`).
    pub fn post_logout_redirect_uris<I>(mut self, uris: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.post_logout_redirect_uris = uris.into_iter().map(Into::into).collect();
        self
    }

    /// Also accepts any `http://127.0.0.1[:port]/...` or `http://localhost[:port]/...` redirect
    /// URI and post-logout redirect URI (RFC 8252 loopback style), for demos whose port is not
    /// known in advance. Off by default: registered URIs are matched exactly.
    pub fn allow_any_loopback_redirect(mut self) -> Self {
        self.allow_any_loopback_redirect = true;
        self
    }

    /// The users shown on the sign-in page (default: alice, bob and carol, see
    /// [`TestUser::defaults`]).
    pub fn users<I>(mut self, users: I) -> Self
    where
        I: IntoIterator<Item = TestUser>,
    {
        self.users = users.into_iter().collect();
        self
    }

    /// Access token lifetime (default 300 s).
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_token_ttl = ttl;
        self
    }

    /// Makes access tokens RFC 9068 JWTs for the API `audience` (their `aud`) and enables the
    /// `client_credentials` grant (see the crate docs). Default: opaque access tokens, only
    /// good at userinfo.
    pub fn api_audience(mut self, audience: impl Into<String>) -> Self {
        self.api_audience = Some(audience.into());
        self
    }

    /// Registers another client that may only use the `client_credentials` grant (needs
    /// [`TestProviderBuilder::api_audience`]): a program without a user, like a CLI.
    pub fn machine_client(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.machine_clients
            .push((client_id.into(), client_secret.into()));
        self
    }

    /// ID token lifetime, `exp - iat` (default 3600 s).
    pub fn id_token_ttl(mut self, ttl: Duration) -> Self {
        self.id_token_ttl = ttl;
        self
    }

    /// Refresh token lifetime (default 86400 s).
    pub fn refresh_token_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_token_ttl = ttl;
        self
    }

    /// Signs every valid authorization request in as `username` at once: the authorization
    /// endpoint redirects back with a code instead of showing the sign-in page.
    pub fn auto_login(mut self, username: impl Into<String>) -> Self {
        self.auto_login = Some(username.into());
        self
    }

    /// Starts misbehaving from the first response (see [`TestProvider::set_tamper`]).
    pub fn tamper(mut self, tamper: Tamper) -> Self {
        self.tamper = tamper;
        self
    }

    /// Binds the listener and starts serving on the current Tokio runtime.
    ///
    /// Fails if the address cannot be bound, or with [`io::ErrorKind::InvalidInput`] if a user
    /// has no string `sub`, two users share a username, the `auto_login` user does not exist,
    /// two clients share an id, an extra ID-token audience is empty or the client id, or
    /// machine clients are registered without an API audience.
    pub async fn start(self) -> io::Result<TestProvider> {
        self.validate()?;
        let keys = jwt::Keys::get()?;
        let listener = TcpListener::bind(self.bind).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            issuer: issuer_for(addr),
            client_id: self.client_id,
            client_secret: self.client_secret,
            id_token_audiences: self.id_token_audiences,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            allow_any_loopback_redirect: self.allow_any_loopback_redirect,
            users: Mutex::new(self.users),
            access_token_ttl: self.access_token_ttl,
            api_audience: self.api_audience,
            machine_clients: self.machine_clients,
            id_token_ttl: self.id_token_ttl,
            refresh_token_ttl: self.refresh_token_ttl,
            auto_login: self.auto_login,
            keys,
            tamper: Mutex::new(self.tamper),
            token_requests: AtomicUsize::new(0),
            userinfo_requests: AtomicUsize::new(0),
            store: Mutex::new(store::Store::default()),
        });
        let router = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(endpoints::discovery),
            )
            .route("/jwks", get(endpoints::jwks))
            .route(
                "/authorize",
                get(authorize::authorize_get).post(authorize::authorize_post),
            )
            .route("/token", post(token::token))
            .route(
                "/userinfo",
                get(endpoints::userinfo).post(endpoints::userinfo),
            )
            .route(
                "/end-session",
                get(endpoints::end_session_get).post(endpoints::end_session_post),
            )
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                // A dropped sender also means stop.
                let _ = stopped.await;
            });
            if let Err(err) = serve.await {
                tracing::warn!(error = %err, "test provider stopped with an error");
            }
        });
        tracing::debug!(issuer = %shared.issuer, "test provider started");
        Ok(TestProvider {
            shared,
            addr,
            stop: Some(stop),
            server: Some(server),
        })
    }

    fn validate(&self) -> io::Result<()> {
        let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
        for (i, user) in self.users.iter().enumerate() {
            if user.sub().is_empty() {
                return Err(invalid(format!(
                    "test user `{}` has no string `sub` claim",
                    user.username
                )));
            }
            if self.users[..i].iter().any(|u| u.username == user.username) {
                return Err(invalid(format!(
                    "two test users are named `{}`",
                    user.username
                )));
            }
        }
        if !self.machine_clients.is_empty() && self.api_audience.is_none() {
            return Err(invalid(
                "machine clients need an API audience (TestProviderBuilder::api_audience)"
                    .to_owned(),
            ));
        }
        for (i, (id, _)) in self.machine_clients.iter().enumerate() {
            if *id == self.client_id || self.machine_clients[..i].iter().any(|(o, _)| o == id) {
                return Err(invalid(format!("two clients are named `{id}`")));
            }
        }
        if let Some(audience) = self
            .id_token_audiences
            .iter()
            .find(|a| a.is_empty() || **a == self.client_id)
        {
            return Err(invalid(format!(
                "an extra ID-token audience must be another non-empty value than the client id (`{audience}`)"
            )));
        }
        if let Some(name) = &self.auto_login
            && !self.users.iter().any(|u| &u.username == name)
        {
            return Err(invalid(format!(
                "auto_login user `{name}` is not a test user"
            )));
        }
        Ok(())
    }
}

/// `http://IP:PORT` of the bound address; a wildcard address is reached through loopback.
fn issuer_for(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => format!("http://127.0.0.1:{}", addr.port()),
        IpAddr::V4(ip) => format!("http://{ip}:{}", addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => format!("http://[::1]:{}", addr.port()),
        IpAddr::V6(ip) => format!("http://[{ip}]:{}", addr.port()),
    }
}
