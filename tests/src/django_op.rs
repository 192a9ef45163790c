//! The second, independent test provider: `django-oidc-provider` (PyPI) in the minimal Django
//! project of `tests/django-op`, run by `tests/django-op/serve.py` with the virtual
//! environment `tests/django-op/.venv` (see [`DJANGO_OP_SETUP_COMMAND`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::process::Command;
use url::{Origin, Url};

use crate::AppListener;
use crate::process::{Launch, ProviderProcess};

/// How to install the Django provider (what `bash scripts/test.sh` does when it is missing or
/// `requirements.txt` changed); quoted in every "cannot start" message.
pub const DJANGO_OP_SETUP_COMMAND: &str = "python3 -m venv tests/django-op/.venv && \
     tests/django-op/.venv/bin/pip install --require-hashes -r tests/django-op/requirements.txt";

/// The `tests/django-op` folder (the Django project, serve.py, requirements.txt, .venv).
pub fn django_op_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("django-op")
}

/// Settings of one Django provider; each field maps to a `DJOP_*` variable of `serve.py`.
#[derive(Debug, Clone)]
pub struct DjangoOpOptions {
    /// `DJOP_REDIRECT_URIS`: the client's registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// `DJOP_POST_LOGOUT_REDIRECT_URIS`: its post-logout redirect URIs (the first is where the
    /// provider sends browsers whose logout request it does not accept).
    pub post_logout_redirect_uris: Vec<String>,
    /// `DJOP_CLIENT_ID` (`test-client`).
    pub client_id: String,
    /// `DJOP_CLIENT_SECRET` (`test-secret`).
    pub client_secret: String,
    /// `DJOP_REQUIRE_CONSENT`: a consent page once per user and client (true, the package's
    /// default).
    pub require_consent: bool,
    /// `DJOP_JWT_ALG`: the client's "JWT Algorithm" for ID tokens, `RS256` (the package's
    /// default) or `HS256` (signed with the client secret).
    pub jwt_alg: String,
    /// `DJOP_TOKEN_EXPIRE` (`OIDC_TOKEN_EXPIRE`): access token lifetime in seconds (3600).
    pub token_expire: Option<u64>,
    /// `DJOP_IDTOKEN_EXPIRE` (`OIDC_IDTOKEN_EXPIRE`): ID token lifetime in seconds (600).
    pub idtoken_expire: Option<u64>,
    /// `DJOP_IDTOKEN_INCLUDE_CLAIMS` (`OIDC_IDTOKEN_INCLUDE_CLAIMS`): the scopes' claims in the
    /// ID token too (false, the package's default: they come from userinfo only).
    pub idtoken_include_claims: bool,
    /// Any other environment variables for serve.py.
    pub env: Vec<(String, String)>,
}

impl Default for DjangoOpOptions {
    fn default() -> Self {
        Self {
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            client_id: "test-client".into(),
            client_secret: "test-secret".into(),
            require_consent: true,
            jwt_alg: "RS256".into(),
            token_expire: None,
            idtoken_expire: None,
            idtoken_include_claims: false,
            env: Vec::new(),
        }
    }
}

impl DjangoOpOptions {
    /// Defaults for an app on `listener`: redirect URI `{app}/auth/oidc`, post-logout redirect
    /// URIs `{app}/auth/logged-out` and `{app}/`.
    pub fn for_app(listener: &AppListener) -> Self {
        let base = listener.external_url();
        Self {
            redirect_uris: vec![listener.redirect_uri()],
            post_logout_redirect_uris: vec![format!("{base}/auth/logged-out"), format!("{base}/")],
            ..Self::default()
        }
    }

    fn to_env(&self) -> Vec<(String, String)> {
        let flag = |on: bool| if on { "1" } else { "0" }.to_string();
        let mut env = vec![
            ("DJOP_HOST".to_string(), "127.0.0.1".to_string()),
            ("DJOP_PORT".to_string(), "0".to_string()),
            ("DJOP_CLIENT_ID".to_string(), self.client_id.clone()),
            ("DJOP_CLIENT_SECRET".to_string(), self.client_secret.clone()),
            (
                "DJOP_REDIRECT_URIS".to_string(),
                self.redirect_uris.join(","),
            ),
            (
                "DJOP_POST_LOGOUT_REDIRECT_URIS".to_string(),
                self.post_logout_redirect_uris.join(","),
            ),
            (
                "DJOP_REQUIRE_CONSENT".to_string(),
                flag(self.require_consent),
            ),
            ("DJOP_JWT_ALG".to_string(), self.jwt_alg.clone()),
            (
                "DJOP_IDTOKEN_INCLUDE_CLAIMS".to_string(),
                flag(self.idtoken_include_claims),
            ),
            ("DJOP_EXIT_ON_STDIN_EOF".to_string(), "1".to_string()),
            // The provider's Python output unbuffered: log lines arrive as they happen.
            ("PYTHONUNBUFFERED".to_string(), "1".to_string()),
        ];
        if let Some(seconds) = self.token_expire {
            env.push(("DJOP_TOKEN_EXPIRE".to_string(), seconds.to_string()));
        }
        if let Some(seconds) = self.idtoken_expire {
            env.push(("DJOP_IDTOKEN_EXPIRE".to_string(), seconds.to_string()));
        }
        env.extend(self.env.iter().cloned());
        env
    }
}

/// A running django-oidc-provider (`tests/django-op/serve.py`): users alice (groups `admins`,
/// `users`), bob (`users`, email not verified) and carol (no groups), passwords
/// `<name>-password`; one confidential client; issuer `http://127.0.0.1:PORT/openid`. Its own
/// SQLite database in a temporary folder. Killed, and the folder removed, when dropped.
///
/// Its login page has `<form id="login">` and its consent page `<form id="consent">` (and
/// `<form id="decline">`), so [`Browser::follow`](crate::Browser::follow) logs in there as at
/// [`Op`](crate::Op).
pub struct DjangoOp {
    process: ProviderProcess,
    client_id: String,
    client_secret: String,
    /// The folder of its SQLite database, removed on drop.
    data_dir: DataDir,
    /// The Python that runs it (for [`DjangoOp::manage`]).
    python: String,
}

/// A provider's database folder in the temp folder: removed when dropped, also when the start
/// fails (a panic unwinds through it).
struct DataDir(PathBuf);

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Makes the database folders of the providers of one test process unique.
static DATA_DIRS: AtomicU64 = AtomicU64::new(0);

impl fmt::Debug for DjangoOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DjangoOp")
            .field("issuer", &self.issuer())
            .finish_non_exhaustive()
    }
}

impl DjangoOp {
    /// Starts the provider on a free loopback port (a fresh database: migrations, key, users,
    /// client) and waits (at most 20 s) for its `OP_READY` line, then fetches its discovery
    /// document.
    ///
    /// Panics with the install command when `tests/django-op/.venv` is missing (it never
    /// skips), and with the provider's output when it exits or does not become ready in time.
    /// `DJANGO_OP_PYTHON` picks another Python that has the requirements installed.
    pub async fn start(options: DjangoOpOptions) -> DjangoOp {
        let dir = django_op_dir();
        let python = match std::env::var("DJANGO_OP_PYTHON") {
            Ok(python) => python,
            Err(_) => {
                let venv_python = dir.join(".venv").join("bin").join("python");
                if !venv_python.is_file() {
                    panic!(
                        "the Django test provider (django-oidc-provider) is not installed: {} is missing.\n\
                         Run `bash scripts/test.sh`, or from the workspace root:\n    {DJANGO_OP_SETUP_COMMAND}",
                        venv_python.display()
                    );
                }
                venv_python.display().to_string()
            }
        };
        let data_dir = DataDir(std::env::temp_dir().join(format!(
            "django-op-{}-{}",
            std::process::id(),
            DATA_DIRS.fetch_add(1, Ordering::Relaxed)
        )));
        std::fs::create_dir_all(&data_dir.0)
            .unwrap_or_else(|err| panic!("create {}: {err}", data_dir.0.display()));
        let mut command = Command::new(&python);
        command
            .arg("serve.py")
            .current_dir(&dir)
            .envs(options.to_env())
            .env("DJOP_DB", data_dir.0.join("op.sqlite3"));
        let process = ProviderProcess::start(
            command,
            Launch {
                prefix: "django-op",
                program: &python,
                missing: &format!(
                    "`{python}` was not found; the Django test provider needs it. From the workspace root:\n    {DJANGO_OP_SETUP_COMMAND}"
                ),
                stale: &format!(
                    "If the virtual environment is stale, reinstall it: rm -rf tests/django-op/.venv && {DJANGO_OP_SETUP_COMMAND}"
                ),
            },
        )
        .await;
        DjangoOp {
            process,
            client_id: options.client_id,
            client_secret: options.client_secret,
            data_dir,
            python,
        }
    }

    /// Runs `manage.py ARGS` on this provider's database while it runs (e.g.
    /// `["deactivate", "bob"]`, tests/django-op/djop/management/commands); returns its stdout.
    /// Panics with its output when it fails.
    pub async fn manage(&self, args: &[&str]) -> String {
        let output = Command::new(&self.python)
            .arg("manage.py")
            .args(args)
            .current_dir(django_op_dir())
            .env("DJOP_DB", self.data_dir.0.join("op.sqlite3"))
            .output()
            .await
            .unwrap_or_else(|err| panic!("could not run manage.py {args:?}: {err}"));
        assert!(
            output.status.success(),
            "manage.py {args:?} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The issuer URL, `http://127.0.0.1:PORT/openid` (no trailing slash).
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

    /// The `sub` the provider gives `username` (django-oidc-provider's default: the user's
    /// database id, e.g. `"1"`), as it reported at start.
    pub fn sub(&self, username: &str) -> String {
        self.process.ready()["subs"][username]
            .as_str()
            .unwrap_or_else(|| panic!("the provider reported no sub for {username:?}"))
            .to_string()
    }

    /// The provider's discovery document.
    pub fn discovery(&self) -> &serde_json::Value {
        self.process.discovery()
    }

    /// An endpoint URL from the discovery document (`token_endpoint`, `end_session_endpoint`...).
    pub fn endpoint(&self, name: &str) -> Url {
        self.process.endpoint(name)
    }

    /// The provider's login page, `/accounts/login/` (Django's `LoginView`).
    pub fn login_url(&self) -> Url {
        Url::parse(&format!(
            "{}/accounts/login/",
            self.origin().ascii_serialization()
        ))
        .expect("a URL")
    }

    /// The last lines the provider printed, for failure messages (they are also forwarded to
    /// the test output as they come, prefixed `[django-op]`).
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    /// How many lines the provider printed since it started contain `needle` (request lines
    /// such as `"POST /openid/token HTTP/1.1" 200`, and the package's debug log). Call
    /// [`DjangoOp::sync_log`] first to see everything up to now.
    pub fn count_log_lines(&self, needle: &str) -> usize {
        self.process.count_log_lines(needle)
    }

    /// Waits until every line the provider printed before this call has been read.
    pub async fn sync_log(&self) {
        self.process.sync_log().await;
    }
}
