use super::*;

use super::test_base as base;

fn vars(pairs: &[(&str, &str)]) -> Result<OidcConfig, ConfigError> {
    let table = env::table_from_vars(
        "OIDC_",
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    )?;
    OidcConfig::from_table(table)
}

#[test]
fn http_issuer_only_on_loopback() {
    assert_eq!(
        base()
            .issuer("http://id.example.com")
            .build()
            .unwrap_err()
            .key,
        "issuer"
    );
    assert!(base().issuer("http://127.0.0.1:9400").build().is_ok());
    assert!(base().issuer("http://localhost:9400/").build().is_ok());
    assert!(base().issuer("http://[::1]:9400").build().is_ok());
    assert_eq!(base().issuer("ftp://x").build().unwrap_err().key, "issuer");
}

#[test]
fn well_known_url_is_accepted() {
    let c = base()
        .issuer("https://id.example.com/realms/x/.well-known/openid-configuration")
        .build()
        .unwrap();
    assert_eq!(c.providers()[0].issuer(), "https://id.example.com/realms/x");
    assert_eq!(
        c.providers()[0].discovery_url,
        "https://id.example.com/realms/x/.well-known/openid-configuration"
    );
    let c = base()
        .issuer("https://id.example.com/realms/x/")
        .build()
        .unwrap();
    assert_eq!(
        c.providers()[0].discovery_url,
        "https://id.example.com/realms/x/.well-known/openid-configuration"
    );
}

#[test]
fn external_url_rules() {
    assert_eq!(
        base()
            .external_url("http://app.example.com")
            .build()
            .unwrap_err()
            .key,
        "external_url"
    );
    let c = base()
        .external_url("http://app.lan:8080")
        .allow_insecure_http(true)
        .build()
        .unwrap();
    assert!(!c.secure_cookies());
    let c = base()
        .external_url("https://example.com/app/")
        .build()
        .unwrap();
    assert_eq!(c.redirect_uri(), "https://example.com/app/auth/oidc");
    assert!(c.secure_cookies());
    assert!(
        !base()
            .external_url("http://127.0.0.1:3000")
            .build()
            .unwrap()
            .secure_cookies()
    );
    assert_eq!(
        base()
            .external_url("https://app?x=1")
            .build()
            .unwrap_err()
            .key,
        "external_url"
    );
}

#[test]
fn scopes_and_prefix() {
    let c = base()
        .scopes(["profile", "email"])
        .route_prefix("/sso/")
        .build()
        .unwrap();
    assert_eq!(c.providers()[0].scopes(), ["openid", "profile", "email"]);
    assert_eq!(c.route_prefix(), "/sso");
    assert_eq!(
        base().route_prefix("auth").build().unwrap_err().key,
        "route_prefix"
    );
    assert_eq!(base().scopes(["a\"b"]).build().unwrap_err().key, "scopes");
}

#[test]
fn several_providers_get_slugs_and_callbacks() {
    let c = base()
        .provider(
            ProviderBuilder::new("Keycloak Home")
                .issuer("https://kc.example.com")
                .client_id("a"),
        )
        .provider(
            ProviderBuilder::new("Google")
                .slug("g")
                .issuer("https://accounts.google.com")
                .client_id("b"),
        )
        .build()
        .unwrap();
    assert_eq!(c.providers()[0].slug(), "id-example-com");
    assert_eq!(
        c.redirect_uris(),
        [
            "https://app.example.com/auth/oidc",
            "https://app.example.com/auth/oidc/keycloak-home",
            "https://app.example.com/auth/oidc/g"
        ]
    );
    let dup = base()
        .provider(
            ProviderBuilder::new("id.example.com")
                .issuer("https://x.example.com")
                .client_id("a"),
        )
        .build();
    assert_eq!(dup.unwrap_err().key, "providers");
    let bad = base()
        .provider(
            ProviderBuilder::new("X")
                .issuer("http://x.example.com")
                .client_id("a"),
        )
        .build();
    assert_eq!(bad.unwrap_err().key, "providers[0].issuer");
}

#[test]
fn toml_errors_name_the_key() {
    let err = OidcConfig::from_toml_str(
        "issuer = 'https://x'\nclient_id = 'a'\nexternal_url = 'https://a'\nbogus = 1",
    )
    .unwrap_err();
    assert!(err.reason.contains("bogus"), "{err}");
    let err = OidcConfig::from_toml_str(
        "issuer = 'https://x'\nclient_id = 'a'\nexternal_url = 'https://a'\ncookie_key = 'c2hvcnQ='",
    )
    .unwrap_err();
    assert_eq!(err.key, "cookie_key");
    let err = OidcConfig::from_toml_str(
        "external_url = 'https://a'\n[[providers]]\nissuer = 'https://x'\nclient_id = ''",
    )
    .unwrap_err();
    assert_eq!(err.key, "providers[0].client_id");
    let ok = OidcConfig::from_toml_str(
        "issuer = 'https://x'\nclient_id = 'a'\nexternal_url = 'https://a'\nscopes = ['openid', 'groups']\npublic_paths = '/, /static/*'",
    )
    .unwrap();
    assert_eq!(
        ok.public_paths,
        vec![
            PathRule::Exact("/".into()),
            PathRule::Prefix("/static/".into())
        ]
    );
    assert!(
        OidcConfig::from_toml_str("external_url = 'https://a'")
            .unwrap_err()
            .reason
            .contains("required")
    );
}

#[test]
fn env_vars_single_and_nested() {
    let c = vars(&[
        ("OIDC_ISSUER", "https://id.example.com"),
        ("OIDC_CLIENT_ID", "app"),
        ("OIDC_CLIENT_SECRET", "12345"),
        ("OIDC_EXTERNAL_URL", "https://app.example.com"),
        ("OIDC_SCOPES", "openid,profile,groups"),
        ("OIDC_ALLOW_NEW_USERS", "false"),
        ("OIDC_LINK_BY_VERIFIED_EMAIL", "yes"),
        ("OIDC_SESSION_MAX_AGE_SECONDS", "3600"),
        ("OTHER", "ignored"),
    ])
    .unwrap();
    assert_eq!(c.providers()[0].scopes(), ["openid", "profile", "groups"]);
    assert!(!c.providers()[0].allow_new_users());
    assert!(c.providers()[0].link_by_verified_email());
    assert_eq!(c.session_max_age, Duration::from_secs(3600));
    assert!(format!("{c:?}").contains("Secret(***)"));
    assert!(!format!("{c:?}").contains("12345"));

    let c = vars(&[
        ("OIDC_EXTERNAL_URL", "https://app.example.com"),
        ("OIDC_PROVIDERS__0__ISSUER", "https://kc.example.com"),
        ("OIDC_PROVIDERS__0__CLIENT_ID", "a"),
        ("OIDC_PROVIDERS__1__NAME", "Google"),
        ("OIDC_PROVIDERS__1__ISSUER", "https://accounts.google.com"),
        ("OIDC_PROVIDERS__1__CLIENT_ID", "b"),
    ])
    .unwrap();
    assert_eq!(c.providers()[1].slug(), "google");
    let err = vars(&[
        ("OIDC_ISSUER", "https://x"),
        ("OIDC_FETCH_USERINFO", "maybe"),
    ])
    .unwrap_err();
    assert_eq!(err.key, "fetch_userinfo");
    assert_eq!(
        vars(&[("OIDC_ISSUER__", "x")]).unwrap_err().key,
        "environment"
    );
}

#[test]
fn cookie_keys_and_paths() {
    let key = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";
    let c = base()
        .cookie_key(key)
        .previous_cookie_keys([key])
        .backup_login_path("/login/local")
        .build()
        .unwrap();
    assert_eq!(c.cookie_keys.len(), 2);
    assert_eq!(c.backup_login_path(), Some("/login/local"));
    assert_eq!(
        base().backup_login_path("//evil").build().unwrap_err().key,
        "backup_login_path"
    );
    assert_eq!(
        base()
            .post_logout_path("https://evil")
            .build()
            .unwrap_err()
            .key,
        "post_logout_path"
    );
}

#[test]
fn the_slug_local_is_reserved_for_the_apps_own_login() {
    for config in [
        base().slug("local"),
        base().slug(" local "),
        base().name("Local").slug("local"),
    ] {
        let error = config.build().unwrap_err();
        assert_eq!(error.key, "slug");
        assert!(error.reason.contains("reserved"), "{error}");
    }
    // Derived from the name, too.
    assert_eq!(base().name("Local").build().unwrap_err().key, "slug");
    let error = OidcConfig::from_toml_str(
        "external_url = 'https://app.example.com'\n[[providers]]\nissuer = 'https://id.example.com'\nclient_id = 'a'\nslug = 'local'",
    )
    .unwrap_err();
    assert_eq!(error.key, "providers[0].slug");
    assert!(base().slug("local-ldap").build().is_ok());
}

#[test]
fn linking_by_verified_email_is_off_unless_turned_on() {
    assert!(!base().build().unwrap().providers()[0].link_by_verified_email());
    assert!(
        base()
            .link_by_verified_email(true)
            .build()
            .unwrap()
            .providers()[0]
            .link_by_verified_email()
    );
    let c = OidcConfig::from_toml_str(
        "external_url = 'https://app.example.com'\n[[providers]]\nissuer = 'https://a.example.com'\nclient_id = 'a'\nlink_by_verified_email = true\n[[providers]]\nissuer = 'https://b.example.com'\nclient_id = 'b'",
    )
    .unwrap();
    assert!(c.providers()[0].link_by_verified_email());
    assert!(!c.providers()[1].link_by_verified_email());
}

#[test]
fn debug_never_shows_a_secret() {
    // Base64 of 32 bytes, as a cookie key is written; the decoded bytes are checked too.
    let key = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";
    let old = "ASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4mrze8=";
    let builder = base()
        .client_secret("client-secret-value")
        .cookie_key(key)
        .previous_cookie_keys([old]);
    let config = builder.clone().build().unwrap();
    let from_toml = OidcConfig::from_toml_str(&format!(
        "external_url = 'https://app.example.com'\nissuer = 'https://id.example.com'\nclient_id = 'a'\nclient_secret = 'client-secret-value'\ncookie_key = '{key}'\nprevious_cookie_keys = ['{old}']"
    ))
    .unwrap();
    use base64::Engine as _;
    let decoded = |b64: &str| {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        // How `{:?}` prints a byte vector.
        format!("{bytes:?}").trim_matches(['[', ']']).to_owned()
    };
    for (what, printed) in [
        ("builder", format!("{builder:?}")),
        ("config", format!("{config:?}")),
        ("config from TOML", format!("{from_toml:?}")),
        ("provider", format!("{:?}", config.providers()[0])),
        ("alternate", format!("{config:#?}")),
    ] {
        for secret in [
            "client-secret-value",
            key,
            key.trim_end_matches('='),
            old,
            old.trim_end_matches('='),
            &decoded(key),
            &decoded(old),
        ] {
            assert!(
                !printed.contains(secret),
                "{what} prints {secret}: {printed}"
            );
        }
    }
    assert!(format!("{config:?}").contains("CookieKey(***)"));
}

#[test]
fn cookie_name_is_configurable_and_by_default_unique_per_app() {
    let names = |b: OidcConfigBuilder| b.build().unwrap().cookie_names();
    let default = names(base());
    assert!(
        default.session().starts_with("__Host-oidc_session_"),
        "{default:?}"
    );
    assert_eq!(
        default.attempt_prefix(),
        format!("{}-attempt-", default.session())
    );
    assert_eq!(default.logout(), format!("{}-logout", default.session()));
    // The same app (every instance) gets the same names; another app on the host, another.
    assert_eq!(names(base()), default);
    for other in [
        base().external_url("https://app.example.com:8443"),
        base().external_url("https://app.example.com/b"),
        base().client_id("other-app"),
    ] {
        assert_ne!(names(other).session(), default.session());
    }
    // A second provider does not change the first one's app.
    let two = base().provider(
        ProviderBuilder::new("Google")
            .issuer("https://accounts.google.com")
            .client_id("g"),
    );
    assert_eq!(names(two), default);

    let set = names(base().cookie_name("my_app"));
    assert_eq!(
        (set.session(), set.attempt_prefix(), set.logout()),
        (
            "__Host-my_app",
            "__Host-my_app-attempt-",
            "__Host-my_app-logout"
        )
    );
    let http = names(
        base()
            .external_url("http://127.0.0.1:3000")
            .cookie_name("my_app"),
    );
    assert_eq!(http.session(), "my_app");
    let toml = OidcConfig::from_toml_str(
        r#"
        issuer = "https://id.example.com"
        client_id = "app"
        external_url = "https://app.example.com"
        cookie_name = "from_toml"
        "#,
    )
    .unwrap();
    assert_eq!(toml.cookie_names().session(), "__Host-from_toml");
    let env = vars(&[
        ("OIDC_ISSUER", "https://id.example.com"),
        ("OIDC_CLIENT_ID", "app"),
        ("OIDC_EXTERNAL_URL", "https://app.example.com"),
        ("OIDC_COOKIE_NAME", "from_env"),
    ])
    .unwrap();
    assert_eq!(env.cookie_names().session(), "__Host-from_env");
    for bad in ["", "a-b", "__Host-x", "a b", "a;b", &"a".repeat(65)] {
        assert_eq!(
            base().cookie_name(bad).build().unwrap_err().key,
            "cookie_name",
            "{bad:?}"
        );
    }
}

#[test]
fn sessions_per_user_default_bounds_and_environment() {
    assert_eq!(base().build().unwrap().max_sessions_per_user, 10);
    assert_eq!(
        base()
            .max_sessions_per_user(3)
            .build()
            .unwrap()
            .max_sessions_per_user,
        3
    );
    // At least one (the new session), at most 1000.
    assert_eq!(
        base()
            .max_sessions_per_user(0)
            .build()
            .unwrap()
            .max_sessions_per_user,
        1
    );
    assert_eq!(
        (base().max_sessions_per_user(usize::MAX).build().unwrap()).max_sessions_per_user,
        1000
    );
    let c = vars(&[
        ("OIDC_ISSUER", "https://id.example.com"),
        ("OIDC_CLIENT_ID", "app"),
        ("OIDC_EXTERNAL_URL", "https://app.example.com"),
        ("OIDC_MAX_SESSIONS_PER_USER", "4"),
    ])
    .unwrap();
    assert_eq!(c.max_sessions_per_user, 4);
}

#[test]
fn top_level_provider_keys_are_the_provider_settings_fields() {
    let provider = raw::serde_fields::<RawProvider>();
    let global = raw::serde_fields::<RawGlobal>();
    for key in [
        "name",
        "issuer",
        "client_id",
        "roles",
        "end_session_url",
        "id_token_max_age_seconds",
    ] {
        assert!(provider.contains(&key), "{key} in {provider:?}");
    }
    assert!(global.contains(&"external_url") && global.contains(&"providers"));
    // A key in both would be read as the provider's at the top level, never as the app's.
    let shared: Vec<_> = provider.iter().filter(|k| global.contains(k)).collect();
    assert!(shared.is_empty(), "{shared:?}");
    let c = OidcConfig::from_toml_str(
        "external_url = 'https://app.example.com'\nissuer = 'https://id.example.com'\nclient_id = 'a'\nend_session_url = 'https://id.example.com/logout?c={clientId}'\nid_token_max_age_seconds = 120",
    )
    .unwrap();
    assert_eq!(c.providers()[0].id_token_max_age, Duration::from_secs(120));
}

#[test]
fn bearer_settings_from_toml_env_and_builder() {
    // Off by default: no provider names an audience.
    let c = base().build().unwrap();
    assert!(!c.accepts_bearer_tokens());
    assert_eq!(c.bearer_paths(), BearerPaths::ApiPaths);
    assert_eq!(c.introspection_cache, Duration::from_secs(60));
    let p = &c.providers()[0];
    assert!(p.api_audiences().is_empty() && !p.legacy_access_token_typ && !p.introspection);

    let c = OidcConfig::from_toml_str(
        r#"
        external_url = "https://app.example.com"
        bearer_paths = "all_paths"
        introspection_cache_seconds = 30
        issuer = "https://id.example.com"
        client_id = "app"
        client_secret = "s"
        api_audience = ["https://api.example.com", "api://x"]
        legacy_access_token_typ = true
        introspection = true
        "#,
    )
    .unwrap();
    assert!(c.accepts_bearer_tokens());
    assert_eq!(c.bearer_paths(), BearerPaths::AllPaths);
    assert_eq!(c.introspection_cache, Duration::from_secs(30));
    let p = &c.providers()[0];
    assert_eq!(p.api_audiences(), ["https://api.example.com", "api://x"]);
    assert!(p.legacy_access_token_typ && p.introspection);

    let c = vars(&[
        ("OIDC_EXTERNAL_URL", "https://app.example.com"),
        ("OIDC_ISSUER", "https://id.example.com"),
        ("OIDC_CLIENT_ID", "app"),
        ("OIDC_API_AUDIENCE", "https://api.example.com"),
        ("OIDC_BEARER_PATHS", "all_paths"),
        ("OIDC_LEGACY_ACCESS_TOKEN_TYP", "true"),
        ("OIDC_INTROSPECTION_CACHE_SECONDS", "5"),
    ])
    .unwrap();
    assert_eq!(
        c.providers()[0].api_audiences(),
        ["https://api.example.com"]
    );
    assert_eq!(c.bearer_paths(), BearerPaths::AllPaths);
    assert!(c.providers()[0].legacy_access_token_typ);
    assert_eq!(c.introspection_cache, Duration::from_secs(5));

    let c = base()
        .api_audience("https://api.example.com")
        .bearer_paths(BearerPaths::AllPaths)
        .build()
        .unwrap();
    assert_eq!(
        c.providers()[0].api_audiences(),
        ["https://api.example.com"]
    );
    assert_eq!(c.bearer_paths(), BearerPaths::AllPaths);
}

#[test]
fn bearer_settings_are_validated() {
    let err = vars(&[
        ("OIDC_EXTERNAL_URL", "https://app.example.com"),
        ("OIDC_ISSUER", "https://id.example.com"),
        ("OIDC_CLIENT_ID", "app"),
        ("OIDC_BEARER_PATHS", "everywhere"),
    ])
    .unwrap_err();
    assert!(err.reason.contains("everywhere"), "{err}");
    // Introspection needs the audience the token must name and the app's credentials.
    let err = base()
        .client_secret("s")
        .introspection(true)
        .build()
        .unwrap_err();
    assert_eq!(err.key, "introspection");
    let err = base()
        .api_audience("a")
        .introspection(true)
        .build()
        .unwrap_err();
    assert_eq!(err.key, "introspection");
    assert!(
        base()
            .api_audience("a")
            .client_secret("s")
            .introspection(true)
            .build()
            .is_ok()
    );
    // One introspecting provider at most: an opaque token names no issuer.
    let two = base()
        .api_audience("a")
        .client_secret("s")
        .introspection(true)
        .provider(
            ProviderBuilder::new("Other")
                .issuer("https://other.example.com")
                .client_id("app")
                .client_secret("s")
                .api_audience("b")
                .introspection(true),
        )
        .build()
        .unwrap_err();
    assert_eq!(two.key, "introspection");
    let err = base()
        .api_audiences(["ok", "with\"quote"])
        .build()
        .unwrap_err();
    assert_eq!(err.key, "api_audience");
}

#[test]
fn authorization_request_settings_in_toml_env_and_code_agree() {
    let toml = OidcConfig::from_toml_str(
        r#"
        external_url = "https://app.example.com"
        silent_login = true
        [[providers]]
        issuer = "https://id.example.com"
        client_id = "app"
        max_age_seconds = 3600
        extra_auth_params = { audience = "https://api.example.com", ui_locales = "de fr" }
        [[providers]]
        name = "Other"
        issuer = "https://other.example.com"
        client_id = "app"
        "#,
    )
    .unwrap();
    let env = vars(&[
        ("OIDC_EXTERNAL_URL", "https://app.example.com"),
        ("OIDC_SILENT_LOGIN", "true"),
        ("OIDC_PROVIDERS__0__ISSUER", "https://id.example.com"),
        ("OIDC_PROVIDERS__0__CLIENT_ID", "app"),
        ("OIDC_PROVIDERS__0__MAX_AGE_SECONDS", "3600"),
        (
            "OIDC_PROVIDERS__0__EXTRA_AUTH_PARAMS__AUDIENCE",
            "https://api.example.com",
        ),
        ("OIDC_PROVIDERS__0__EXTRA_AUTH_PARAMS__UI_LOCALES", "de fr"),
        ("OIDC_PROVIDERS__1__NAME", "Other"),
        ("OIDC_PROVIDERS__1__ISSUER", "https://other.example.com"),
        ("OIDC_PROVIDERS__1__CLIENT_ID", "app"),
    ])
    .unwrap();
    let code = OidcConfig::builder()
        .external_url("https://app.example.com")
        .silent_login(true)
        .provider(
            ProviderBuilder::new("id.example.com")
                .issuer("https://id.example.com")
                .client_id("app")
                .max_age(Duration::from_secs(3600))
                .extra_auth_params([
                    ("ui_locales", "de fr"),
                    ("audience", "https://api.example.com"),
                ]),
        )
        .provider(
            ProviderBuilder::new("Other")
                .issuer("https://other.example.com")
                .client_id("app"),
        )
        .build()
        .unwrap();
    let expected = [
        ("audience".to_owned(), "https://api.example.com".to_owned()),
        ("ui_locales".to_owned(), "de fr".to_owned()),
    ];
    for c in [&toml, &env, &code] {
        assert_eq!(c.providers()[0].extra_auth_params(), expected);
        assert_eq!(c.providers()[0].max_age_seconds(), Some(3600));
        assert!(c.providers()[1].extra_auth_params().is_empty());
        assert_eq!(
            c.silent_login_provider().map(|p| p.slug()),
            Some("id-example-com")
        );
    }
    // An extra named like a boolean or number setting stays a string from the environment.
    let typed = vars(&[
        ("OIDC_EXTERNAL_URL", "https://app.example.com"),
        ("OIDC_ISSUER", "https://id.example.com"),
        ("OIDC_CLIENT_ID", "app"),
        ("OIDC_EXTRA_AUTH_PARAMS__INTROSPECTION", "yes"),
    ])
    .unwrap();
    assert_eq!(
        typed.providers()[0].extra_auth_params(),
        [("introspection".to_owned(), "yes".to_owned())]
    );
}

#[test]
fn reserved_extra_auth_params_and_silent_login_provider_are_checked() {
    let err = OidcConfig::from_toml_str(
        r#"
        external_url = "https://app.example.com"
        issuer = "https://id.example.com"
        client_id = "app"
        extra_auth_params = { redirect_uri = "https://evil.example/cb" }
        "#,
    )
    .unwrap_err();
    assert_eq!(err.key, "extra_auth_params.redirect_uri");
    let err = base()
        .extra_auth_params([("prompt", "none")])
        .build()
        .unwrap_err();
    assert_eq!(err.key, "extra_auth_params.prompt");
    let err = base()
        .silent_login(true)
        .silent_login_provider("nope")
        .build()
        .unwrap_err();
    assert_eq!(err.key, "silent_login_provider");
    let err = base()
        .silent_login_provider("id-example-com")
        .build()
        .unwrap_err();
    assert_eq!(err.key, "silent_login_provider");
    assert!(base().build().unwrap().silent_login_provider().is_none());
    let err = base()
        .max_age(Duration::from_secs(400 * 24 * 3600))
        .build()
        .unwrap_err();
    assert_eq!(err.key, "max_age_seconds");
}
