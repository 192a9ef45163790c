//! The test OpenID provider: `tests/provider/op.mjs` as a child process.

use std::fmt;
use std::path::PathBuf;

use tokio::process::Command;
use url::{Origin, Url};

use crate::process::{Launch, ProviderProcess};
use crate::{AppListener, SETUP_COMMAND, provider_dir};

/// Settings of one provider instance; each field maps to an `OP_*` variable of `op.mjs`.
#[derive(Debug, Clone)]
pub struct OpOptions {
    /// `OP_REDIRECT_URIS`: the client's registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// `OP_POST_LOGOUT_REDIRECT_URIS`.
    pub post_logout_redirect_uris: Vec<String>,
    /// `OP_CLIENT_ID` (`test-client`).
    pub client_id: String,
    /// `OP_CLIENT_SECRET` (`test-secret`).
    pub client_secret: String,
    /// `OP_SKIP_CONSENT`: grant every requested scope without a consent page (false).
    pub skip_consent: bool,
    /// `OP_REQUIRE_PKCE`: reject authorization requests without `code_challenge` (true: the
    /// layer must always use PKCE).
    pub require_pkce: bool,
    /// `OP_ACCESS_TOKEN_TTL` in seconds (provider default 300).
    pub access_token_ttl: Option<u64>,
    /// `OP_ID_TOKEN_TTL` in seconds (provider default 3600).
    pub id_token_ttl: Option<u64>,
    /// `OP_REFRESH_TOKEN_TTL` in seconds (provider default 86400).
    pub refresh_token_ttl: Option<u64>,
    /// `OP_SESSION_TTL` in seconds (provider default 86400).
    pub session_ttl: Option<u64>,
    /// `OP_BACKCHANNEL_LOGOUT_URI`: enables back-channel logout for the client.
    pub backchannel_logout_uri: Option<String>,
    /// `OP_USERS_FILE`: a JSON array of users (default: alice, bob, carol; see op.mjs).
    pub users_file: Option<PathBuf>,
    /// `OP_JWKS_FILE`: the signing keys (default: the fixed, test-only
    /// `tests/provider/test-signing-key.jwks.json`). `None` = a fresh key per start.
    pub jwks_file: Option<PathBuf>,
    /// `OP_LOG_REQUESTS`: one log line per provider request (method, path, status) (true).
    pub log_requests: bool,
    /// `OP_RESOURCE_SERVERS`: the three test APIs ([`API_RS256`](crate::API_RS256),
    /// [`API_ES256`](crate::API_ES256), [`API_OPAQUE`](crate::API_OPAQUE)) as resource
    /// indicators (false: any `resource` parameter is `invalid_target`).
    pub resource_servers: bool,
    /// `OP_MACHINE_CLIENTS`: `(client_id, client_secret)` of clients for the
    /// `client_credentials` grant (none).
    pub machine_clients: Vec<(String, String)>,
    /// `OP_DPOP`: DPoP proofs at the token endpoint bind access tokens (true, the library's
    /// default).
    pub dpop: bool,
    /// Any other environment variables for op.mjs (e.g. `DEBUG=oidc-provider:*`).
    pub env: Vec<(String, String)>,
}

impl Default for OpOptions {
    fn default() -> Self {
        Self {
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            client_id: "test-client".into(),
            client_secret: "test-secret".into(),
            skip_consent: false,
            require_pkce: true,
            access_token_ttl: None,
            id_token_ttl: None,
            refresh_token_ttl: None,
            session_ttl: None,
            backchannel_logout_uri: None,
            users_file: None,
            jwks_file: Some(provider_dir().join("test-signing-key.jwks.json")),
            log_requests: true,
            resource_servers: false,
            machine_clients: Vec::new(),
            dpop: true,
            env: Vec::new(),
        }
    }
}

impl OpOptions {
    /// Defaults for an app on `listener`: redirect URI `{app}/auth/oidc`, post-logout redirect
    /// URIs `{app}/` and `{app}/logged-out`.
    pub fn for_app(listener: &AppListener) -> Self {
        let base = listener.external_url();
        Self {
            redirect_uris: vec![listener.redirect_uri()],
            post_logout_redirect_uris: vec![
                format!("{base}/"),
                format!("{base}/logged-out"),
                format!("{base}/auth/logged-out"),
            ],
            ..Self::default()
        }
    }

    /// These options plus the APIs: [`OpOptions::resource_servers`] on and the machine client
    /// [`MACHINE_CLIENT_ID`](crate::MACHINE_CLIENT_ID) /
    /// [`MACHINE_CLIENT_SECRET`](crate::MACHINE_CLIENT_SECRET) registered.
    pub fn with_apis(mut self) -> Self {
        self.resource_servers = true;
        self.machine_clients.push((
            crate::MACHINE_CLIENT_ID.to_string(),
            crate::MACHINE_CLIENT_SECRET.to_string(),
        ));
        self
    }

    fn to_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("OP_HOST".to_string(), "127.0.0.1".to_string()),
            ("OP_PORT".to_string(), "0".to_string()),
            ("OP_CLIENT_ID".to_string(), self.client_id.clone()),
            ("OP_CLIENT_SECRET".to_string(), self.client_secret.clone()),
            ("OP_SKIP_CONSENT".to_string(), flag(self.skip_consent)),
            ("OP_REQUIRE_PKCE".to_string(), flag(self.require_pkce)),
            ("OP_LOG_REQUESTS".to_string(), flag(self.log_requests)),
            ("OP_EXIT_ON_STDIN_EOF".to_string(), "1".to_string()),
            (
                "OP_RESOURCE_SERVERS".to_string(),
                flag(self.resource_servers),
            ),
            ("OP_DPOP".to_string(), flag(self.dpop)),
        ];
        let mut set = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                env.push((name.to_string(), value));
            }
        };
        set("OP_REDIRECT_URIS", non_empty(self.redirect_uris.join(",")));
        set(
            "OP_POST_LOGOUT_REDIRECT_URIS",
            non_empty(self.post_logout_redirect_uris.join(",")),
        );
        set(
            "OP_ACCESS_TOKEN_TTL",
            self.access_token_ttl.map(|s| s.to_string()),
        );
        set("OP_ID_TOKEN_TTL", self.id_token_ttl.map(|s| s.to_string()));
        set(
            "OP_REFRESH_TOKEN_TTL",
            self.refresh_token_ttl.map(|s| s.to_string()),
        );
        set("OP_SESSION_TTL", self.session_ttl.map(|s| s.to_string()));
        set(
            "OP_BACKCHANNEL_LOGOUT_URI",
            self.backchannel_logout_uri.clone(),
        );
        set(
            "OP_USERS_FILE",
            self.users_file.as_ref().map(|p| p.display().to_string()),
        );
        set(
            "OP_MACHINE_CLIENTS",
            non_empty(
                self.machine_clients
                    .iter()
                    .map(|(id, secret)| format!("{id}:{secret}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        );
        set(
            "OP_JWKS_FILE",
            self.jwks_file.as_ref().map(|p| p.display().to_string()),
        );
        env.extend(self.env.iter().cloned());
        env
    }
}

fn flag(on: bool) -> String {
    if on { "1" } else { "0" }.to_string()
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// A running `tests/provider/op.mjs`. Killed when dropped.
pub struct Op {
    process: ProviderProcess,
    client_id: String,
    client_secret: String,
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Op")
            .field("issuer", &self.issuer())
            .finish_non_exhaustive()
    }
}

impl Op {
    /// Starts the provider on a free loopback port and waits (at most 20 s) for its `OP_READY`
    /// line, then fetches its discovery document.
    ///
    /// Panics with instructions when `node` or `tests/provider/node_modules` is missing, and
    /// with the provider's output when it exits or does not become ready in time.
    pub async fn start(options: OpOptions) -> Op {
        let dir = provider_dir();
        if !dir.join("node_modules").join("oidc-provider").is_dir() {
            panic!(
                "the test OpenID provider is not installed: {}/node_modules/oidc-provider is missing.\n\
                 Run the README test command from the workspace root:\n    {SETUP_COMMAND}",
                dir.display()
            );
        }
        let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_string());
        let mut command = Command::new(&node);
        command
            .arg("op.mjs")
            .current_dir(&dir)
            .envs(options.to_env());
        let process = ProviderProcess::start(
            command,
            Launch {
                prefix: "op",
                program: &node,
                missing: &format!(
                    "`{node}` (Node.js) was not found on PATH; the end-to-end tests need it to run the \
                     test OpenID provider. Install Node.js 20+ and run from the workspace root:\n    {SETUP_COMMAND}"
                ),
                stale: &format!("If node_modules is stale, rerun: {SETUP_COMMAND}"),
            },
        )
        .await;
        Op {
            process,
            client_id: options.client_id,
            client_secret: options.client_secret,
        }
    }

    /// The issuer URL, e.g. `http://127.0.0.1:41923` (no trailing slash).
    pub fn issuer(&self) -> &str {
        self.process.issuer()
    }

    /// The provider's port.
    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// The provider's origin (scheme, host, port).
    pub fn origin(&self) -> Origin {
        self.process.origin()
    }

    /// The registered client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The registered client secret.
    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }

    /// The provider's discovery document.
    pub fn discovery(&self) -> &serde_json::Value {
        self.process.discovery()
    }

    /// `authorization_endpoint` from the discovery document.
    pub fn authorization_endpoint(&self) -> Url {
        self.process.endpoint("authorization_endpoint")
    }

    /// An endpoint URL from the discovery document (`token_endpoint`, `end_session_endpoint`...).
    pub fn endpoint(&self, name: &str) -> Url {
        self.process.endpoint(name)
    }

    /// The last lines the provider printed (stdout after `OP_READY`, and stderr), for
    /// failure messages. They are also forwarded to the test output as they come.
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    /// Every line the provider printed since it started (stdout after `OP_READY`, and stderr).
    /// Lines arrive through pipes: call [`Op::sync_log`] first to see everything up to now.
    pub fn log_lines(&self) -> Vec<String> {
        self.process.log_lines()
    }

    /// How many of [`Op::log_lines`] contain `needle` (e.g. `"grant.success refresh_token"`).
    pub fn count_log_lines(&self, needle: &str) -> usize {
        self.process.count_log_lines(needle)
    }

    /// Waits until every line the provider printed before this call has been read: requests a
    /// unique marker path and waits for its request log line (needs `log_requests`, the
    /// default). The provider logs events and requests in order on one stream.
    pub async fn sync_log(&self) {
        self.process.sync_log().await;
    }

    /// Stops the provider gracefully (SIGTERM: in-flight requests finish and, with
    /// `OP_STATE_FILE`, its state is written) and waits for it to exit; SIGKILL after 10 s.
    pub async fn shutdown(&mut self) {
        self.process.terminate().await;
    }

    /// Stops the provider (SIGKILL) and waits until it has exited, so that its port is free for
    /// a new provider (pass `OP_PORT` in [`OpOptions::env`] to start one on the same port).
    /// The stopped `Op` still knows its issuer and port.
    pub async fn stop(&mut self) {
        self.process.stop().await;
    }
}
