//! The oidc-layer demo: an axum app behind `OidcLayer`.
//!
//! `cargo run -p axum-demo` starts it on <http://127.0.0.1:3000> with an embedded development
//! provider (users alice, bob and carol; no set-up). With `OIDC_ISSUER`, `OIDC_CLIENT_ID` and
//! `OIDC_CLIENT_SECRET` set it uses that provider instead. Optional: `OIDC_SCOPES`, `APP_URL`
//! (the external URL, default `http://127.0.0.1:$PORT`), `PORT` (3000), `BIND` (127.0.0.1),
//! `OIDC_COOKIE_KEY` (base64 of 32+ random bytes), `OIDC_GROUPS_CLAIM` (default `groups`),
//! `DEMO_ADMIN_PASSWORD` (the break-glass login; random and printed when unset). The session
//! cookie: `OIDC_COOKIE_NAME`, `OIDC_COOKIE_SAME_SITE` (`lax`, `strict`, `none`) and
//! `OIDC_COOKIE_DOMAIN` (one session for the apps on the domain's subdomains).
//! The layer's
//! pages take the app's name, logo and colours from `OIDC_BRANDING__APP_NAME`, `__LOGO` (the
//! demo serves one at `/brand/logo.svg`), `__PRIMARY_COLOR`, `__BACKGROUND_COLOR`,
//! `__TEXT_COLOR`, `__SUPPORT_URL` and `__SUPPORT_LABEL`.
//!
//! Several instances: with `REDIS_URL` (`redis://[:password@]host[:port][/db]` or `rediss://`
//! for TLS) sessions live in Redis behind an in-process tier (`TwoTierStore`: a hot session
//! costs no round trip; a change made on another instance shows at once through pub/sub, and
//! within `SESSION_STALENESS_MS`, default 2000, even when pub/sub is down). `REDIS_KEY_PREFIX`
//! (default `oidc-demo:`) separates apps sharing one Redis. With `rediss://`, `REDIS_TLS_CA_FILE`
//! trusts a private CA (PEM) instead of the system's roots, and `REDIS_TLS_CERT_FILE` with
//! `REDIS_TLS_KEY_FILE` present a client certificate (PEM). Every instance needs the same
//! `OIDC_COOKIE_KEY` (and `OIDC_PREVIOUS_COOKIE_KEYS`, comma-separated, while rotating) and the
//! same provider (`OIDC_ISSUER`: each embedded provider is another issuer) and `APP_URL`.
//!
//! On Redis Cluster: `REDIS_CLUSTER_URLS=redis://host1:port,redis://host2:port,...` (some of
//! its nodes; the client finds the others), instead of `REDIS_URL`.
//!
//! Sessions in the app's database instead: `DATABASE_URL=postgres://user:password@host/db`
//! (several instances share them as on Redis, changes announced by `LISTEN/NOTIFY`; the tables
//! `oidc_demo_*`, made at start) or `DATABASE_URL=sqlite://sessions.db` (one instance whose
//! sessions survive its restarts; the file is made when missing). Both behind the same
//! in-process tier. Set at most one of `REDIS_URL`, `REDIS_CLUSTER_URLS` and `DATABASE_URL`.
//!
//! API clients: with `OIDC_API_AUDIENCE` (the audience the provider puts into access tokens for
//! this app) requests to `/api/*` with `Authorization: Bearer <access token>` are authenticated
//! by the token, and `/api/me` answers the token's identity. `OIDC_LEGACY_ACCESS_TOKEN_TYP=true`
//! accepts JWT access tokens typed `JWT` (Keycloak, Entra ID...), `OIDC_INTROSPECTION=true`
//! opaque ones through the provider's introspection endpoint. The embedded provider issues
//! access tokens for `{APP_URL}/api` and has a client for programs, `demo-cli`, whose secret
//! the demo prints with a `curl` line that gets a token and calls `/api/me`.
//!
//! `OIDC_SILENT_LOGIN=true` tries a silent sign-in (`prompt=none`) once per browser session on
//! the public home page: someone with a session at the provider comes back signed in.
//!
//! Operations: `/metrics` answers the layer's metrics in the Prometheus text format (the
//! `metrics-exporter-prometheus` recorder installed here) and `/health/ready` its readiness
//! (200 or 503 with the health report as JSON); both without signing in.
//!
//! `cargo run -p axum-demo -- doctor` checks the provider (discovery, issuer, redirect URI,
//! scopes and claims, keys, clock) instead of serving, and exits with status 1 when
//! something is wrong (see `oidc_layer::doctor`).
//!
//! The pages, routes and role map are the library's (`src/lib.rs`, `axum_demo::router`), which
//! the real-browser suite serves too.

use std::net::SocketAddr;

use base64::Engine as _;
use oidc_layer::{
    OidcConfig, OidcLayer, PostgresStore, RedisConfig, RedisStore, SessionData, SqlConfig,
    SqliteStore, TwoTierConfig, TwoTierStore,
};
use oidc_testkit::TestProvider;

/// The embedded provider's client for programs (client credentials).
const DEMO_CLI: &str = "demo-cli";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A boolean variable: `true`/`1` or `false`/`0` (unset: false).
fn flag(name: &str) -> Result<bool, String> {
    match env(name).as_deref().map(str::trim) {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(other) => Err(format!("{name}: expected true or false, got `{other}`")),
    }
}

/// 12 random bytes, base64url: the one-off passwords the demo prints.
fn random_text() -> Result<String, String> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| format!("no system randomness: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// `cargo run -p axum-demo -- doctor [--strict]`: checks the configured provider and prints
/// what to register there; exits with status 1 when something will break logins (with
/// `--strict`, also on warnings; `info` findings, usual at many providers, never fail it).
async fn doctor(layer: &OidcLayer) -> Result<(), Box<dyn std::error::Error>> {
    let strict = std::env::args().any(|a| a == "--strict");
    let report = layer.check().await;
    println!("{report}");
    if !report.is_ok() || (strict && report.warnings() > 0) {
        std::process::exit(1);
    }
    Ok(())
}

/// Sessions in Redis (`config`: one server or a cluster), behind an in-process tier (see the
/// module docs).
async fn redis_sessions(
    config: RedisConfig,
) -> Result<TwoTierStore<RedisStore<SessionData>, SessionData>, Box<dyn std::error::Error>> {
    let mut config =
        config.key_prefix(env("REDIS_KEY_PREFIX").unwrap_or_else(|| "oidc-demo:".into()));
    let read = |name: &str| -> Result<Option<Vec<u8>>, String> {
        env(name)
            .map(|path| std::fs::read(&path).map_err(|e| format!("{name}: {path}: {e}")))
            .transpose()
    };
    if let Some(ca) = read("REDIS_TLS_CA_FILE")? {
        config = config.tls_root_certificates(ca);
    }
    match (read("REDIS_TLS_CERT_FILE")?, read("REDIS_TLS_KEY_FILE")?) {
        (Some(certificate), Some(key)) => config = config.tls_client_certificate(certificate, key),
        (None, None) => {}
        _ => return Err("REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together".into()),
    }
    let shown = config.redacted_url();
    let what = if config.is_cluster() {
        "Redis Cluster"
    } else {
        "Redis"
    };
    let redis = RedisStore::connect(config)
        .await
        .map_err(|e| format!("cannot reach Redis at {shown}: {e}"))?;
    let staleness = staleness()?;
    warn_without_cookie_key("Redis");
    println!("sessions in {what} at {shown} (two-tier, staleness bound {staleness:?})");
    Ok(TwoTierStore::with_changes(
        redis,
        TwoTierConfig::new().max_staleness(staleness),
    ))
}

/// `SESSION_STALENESS_MS`: how stale an instance's in-process copy of a session may be.
fn staleness() -> Result<std::time::Duration, String> {
    Ok(env("SESSION_STALENESS_MS")
        .map(|ms| ms.parse::<u64>())
        .transpose()
        .map_err(|e| format!("SESSION_STALENESS_MS: {e}"))?
        .map_or(
            TwoTierConfig::DEFAULT_MAX_STALENESS,
            std::time::Duration::from_millis,
        ))
}

fn warn_without_cookie_key(store: &str) {
    if env("OIDC_COOKIE_KEY").is_none() {
        tracing::warn!(
            "{store} without OIDC_COOKIE_KEY: sessions are kept, but a login started on one instance (or before a restart) fails on another (set the same OIDC_COOKIE_KEY everywhere)"
        );
    }
}

/// `layer` with its sessions in the database at `url` (`postgres://` or `sqlite://`), behind
/// an in-process tier (see the module docs).
async fn database_sessions(
    layer: OidcLayer,
    url: &str,
) -> Result<OidcLayer, Box<dyn std::error::Error>> {
    let config = SqlConfig::new().table_prefix("oidc_demo_");
    // What is shown of the URL: host and database, never the user, password or parameters.
    let shown = url.split_once('@').map_or(url, |(_, host)| host);
    let shown = shown.split('?').next().unwrap_or_default();
    let bound = staleness()?;
    let tier = TwoTierConfig::new().max_staleness(bound);
    warn_without_cookie_key("DATABASE_URL");
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PostgresStore::connect(url, config)
            .await
            .map_err(|e| format!("DATABASE_URL: cannot use PostgreSQL at {shown}: {e}"))?;
        println!("sessions in PostgreSQL at {shown} (two-tier, staleness bound {bound:?})");
        Ok(layer.with_store(TwoTierStore::with_changes(store, tier)))
    } else if url.starts_with("sqlite:") {
        let store = SqliteStore::connect(url, config)
            .await
            .map_err(|e| format!("DATABASE_URL: cannot use the SQLite file {url}: {e}"))?;
        println!("sessions in the SQLite file {url} (one instance; kept across restarts)");
        // One instance writes the file: its local tier sees every change it makes.
        Ok(layer.with_store(TwoTierStore::new(store, tier)))
    } else {
        Err("DATABASE_URL: use postgres://... or sqlite://...".into())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let port: u16 = env("PORT").map(|p| p.parse()).transpose()?.unwrap_or(3000);
    let bind: std::net::IpAddr = env("BIND")
        .map(|b| b.parse())
        .transpose()?
        .unwrap_or([127, 0, 0, 1].into());
    let doctor_mode = std::env::args().nth(1).is_some();
    // Bound before anything else so that `PORT=0` (a free port) gives a known URL.
    let listener = if doctor_mode {
        None
    } else {
        Some(tokio::net::TcpListener::bind(SocketAddr::new(bind, port)).await?)
    };
    let port = match &listener {
        Some(listener) => listener.local_addr()?.port(),
        None => port,
    };
    let app_url = env("APP_URL").unwrap_or_else(|| format!("http://127.0.0.1:{port}"));

    // The embedded provider lives as long as `main`.
    let mut _embedded = None;
    // The embedded provider's API audience and its CLI client's one-off secret.
    let mut cli_secret = None;
    let (issuer, client_id, client_secret, default_scopes, api_audience) = match env("OIDC_ISSUER")
    {
        Some(issuer) => (
            issuer,
            env("OIDC_CLIENT_ID").ok_or("OIDC_CLIENT_ID is required with OIDC_ISSUER")?,
            env("OIDC_CLIENT_SECRET").unwrap_or_default(),
            "openid profile email",
            env("OIDC_API_AUDIENCE"),
        ),
        None => {
            let audience = env("OIDC_API_AUDIENCE").unwrap_or_else(|| format!("{app_url}/api"));
            let secret = random_text()?;
            let provider = TestProvider::builder()
                .allow_any_loopback_redirect()
                .api_audience(&audience)
                .machine_client(DEMO_CLI, &secret)
                .start()
                .await?;
            cli_secret = Some(secret);
            let found = (
                provider.issuer().to_owned(),
                provider.client_id().to_owned(),
                provider.client_secret().to_owned(),
            );
            _embedded = Some(provider);
            (
                found.0,
                found.1,
                found.2,
                "openid profile email groups",
                Some(audience),
            )
        }
    };
    let scopes = env("OIDC_SCOPES").unwrap_or_else(|| default_scopes.to_owned());
    let (admin_password, generated) = match env("DEMO_ADMIN_PASSWORD") {
        Some(password) => (password, false),
        None => (random_text()?, true),
    };

    let mut config = OidcConfig::builder()
        .issuer(&issuer)
        .client_id(client_id)
        .client_secret(client_secret)
        .scopes(
            scopes
                .split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        )
        .groups_claim(env("OIDC_GROUPS_CLAIM").unwrap_or_else(|| "groups".into()))
        .roles(axum_demo::role_map())
        .external_url(&app_url)
        .public_paths(axum_demo::PUBLIC_PATHS)
        .api_paths(axum_demo::API_PATHS)
        .backup_login_path(axum_demo::BACKUP_LOGIN_PATH);
    if let Some(audience) = &api_audience {
        config = config
            .api_audiences(audience.split([' ', ',']).filter(|a| !a.is_empty()))
            .legacy_access_token_typ(flag("OIDC_LEGACY_ACCESS_TOKEN_TYP")?)
            .introspection(flag("OIDC_INTROSPECTION")?);
    }
    // Public pages (the home page) try a silent sign-in once per browser session.
    if flag("OIDC_SILENT_LOGIN")? {
        config = config.silent_login(true);
    }
    if let Some(key) = env("OIDC_COOKIE_KEY") {
        config = config.cookie_key(key);
    }
    // The session cookie's scope: `OIDC_COOKIE_SAME_SITE=strict`, or one session for two
    // demos on subdomains (`OIDC_COOKIE_DOMAIN=example.com` with the same `OIDC_COOKIE_NAME`
    // and session store in both).
    if let Some(name) = env("OIDC_COOKIE_NAME") {
        config = config.cookie_name(name);
    }
    if let Some(domain) = env("OIDC_COOKIE_DOMAIN") {
        config = config.cookie_domain(domain);
    }
    if let Some(same_site) = env("OIDC_COOKIE_SAME_SITE") {
        config = config.cookie_same_site(same_site.parse()?);
    }
    if let Some(branding) = axum_demo::branding_from_env(env) {
        config = config.branding(branding);
    }
    if let Some(keys) = env("OIDC_PREVIOUS_COOKIE_KEYS") {
        config = config.previous_cookie_keys(
            keys.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        );
    }
    // Before the layer: it describes its metrics to the recorder installed then.
    let prometheus = if doctor_mode {
        None
    } else {
        Some(metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?)
    };
    let layer = OidcLayer::new(config.build()?).with_after_login(axum_demo::after_login);
    if let Some(command) = std::env::args().nth(1) {
        return match command.as_str() {
            "doctor" => doctor(&layer).await,
            other => Err(format!("unknown command `{other}` (try `doctor`)").into()),
        };
    }
    let layer = match (
        env("REDIS_URL"),
        env("REDIS_CLUSTER_URLS"),
        env("DATABASE_URL"),
    ) {
        (None, None, None) => layer,
        (Some(url), None, None) => layer.with_store(redis_sessions(RedisConfig::new(url)).await?),
        (None, Some(urls), None) => {
            let nodes = urls.split(',').map(str::trim).filter(|u| !u.is_empty());
            layer.with_store(redis_sessions(RedisConfig::cluster(nodes.map(str::to_owned))).await?)
        }
        (None, None, Some(url)) => database_sessions(layer, &url).await?,
        _ => {
            return Err("set one of REDIS_URL, REDIS_CLUSTER_URLS and DATABASE_URL".into());
        }
    };
    let prometheus = prometheus.ok_or("no metrics recorder outside the doctor")?;
    // The operations routes first, outside the layer; everything else (the layer's own routes
    // included) to the app behind it.
    let app = axum_demo::operations(&layer, move || prometheus.render())
        .fallback_service(axum_demo::router(&layer, admin_password.clone()));

    let listener = listener.ok_or("no listener outside the doctor")?;
    println!("oidc-layer demo listening on {app_url}");
    match &_embedded {
        Some(p) => println!(
            "embedded development provider at {} (users: alice, bob, carol)",
            p.issuer()
        ),
        None => println!(
            "provider {issuer}; register the redirect URI {}",
            layer.redirect_uri()
        ),
    }
    if generated {
        // A one-off development password, shown once to the person who started the demo.
        println!(
            "backup administrator login: {app_url}/login/local (user admin, password {admin_password})"
        );
    } else {
        println!(
            "backup administrator login: {app_url}/login/local (user admin, password from DEMO_ADMIN_PASSWORD)"
        );
    }
    match (&_embedded, &cli_secret) {
        (Some(p), Some(secret)) => {
            // No jq: sed takes the token out of the JSON answer.
            println!("API clients: get a token for the CLI client and call /api/me:");
            println!(
                "  TOKEN=$(curl -s -u {DEMO_CLI}:{secret} -d grant_type=client_credentials {}/token | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/') && curl -H \"Authorization: Bearer $TOKEN\" {app_url}/api/me",
                p.issuer()
            );
        }
        _ => match &api_audience {
            Some(audience) => println!(
                "API clients: /api/* takes access tokens for the audience {audience} (Authorization: Bearer)"
            ),
            None => {
                println!("API clients: set OIDC_API_AUDIENCE to accept access tokens on /api/*")
            }
        },
    }
    println!("open {app_url}/whoami to log in");
    // With the peer address, for the break-glass login's per-address throttle.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
