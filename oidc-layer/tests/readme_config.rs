//! Every ```toml block of the README and of docs/providers.md is a whole configuration that
//! `OidcConfig::from_toml_str` accepts, so the documented keys cannot silently drift from the
//! code; and the guides' configurations that depend on a provider's token shape (Google's `hd`
//! rule, Zitadel's extra audience) do what the guides say with that shape.

use oidc_layer::OidcConfig;

const README: &str = include_str!("../../README.md");
const PROVIDER_GUIDES: &str = include_str!("../../docs/providers.md");

/// The bodies of the fenced code blocks whose info string is exactly `lang`.
fn blocks(markdown: &str, lang: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (number, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut current, fence) {
            (None, Some(info)) if info.trim() == lang => {
                current = Some((number + 1, String::new()))
            }
            (Some(_), Some(rest)) if rest.trim().is_empty() => found.extend(current.take()),
            (Some((_, body)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "a ```{lang} block is not closed");
    found
}

#[test]
fn every_toml_block_of_the_readme_is_a_valid_configuration() {
    let blocks = blocks(README, "toml");
    assert!(
        blocks.len() >= 6,
        "expected the README's TOML examples, found {} blocks",
        blocks.len()
    );
    for (line, text) in &blocks {
        if let Err(e) = OidcConfig::from_toml_str(text) {
            panic!("README.md line {line}: the TOML example is rejected: {e}\n{text}");
        }
    }
}

#[test]
fn every_toml_block_of_the_provider_guides_is_a_valid_configuration() {
    let blocks = blocks(PROVIDER_GUIDES, "toml");
    assert!(
        blocks.len() >= 11,
        "expected a TOML example per provider guide, found {} blocks",
        blocks.len()
    );
    for (line, text) in &blocks {
        if let Err(e) = OidcConfig::from_toml_str(text) {
            panic!("docs/providers.md line {line}: the TOML example is rejected: {e}\n{text}");
        }
    }
    for provider in [
        "Keycloak",
        "Authentik",
        "Authelia",
        "Auth0",
        "Entra ID",
        "Google",
        "Dex",
        "Zitadel",
        "django-oidc-provider",
    ] {
        assert!(
            PROVIDER_GUIDES.contains(&format!("\n## {provider}\n")),
            "docs/providers.md has a section for {provider}"
        );
    }
}

#[test]
fn the_google_domain_rule_admits_only_that_domain() {
    use oidc_layer::roles::{ClaimPath, RoleDecision, claim_values};
    let (_, text) = blocks(PROVIDER_GUIDES, "toml")
        .into_iter()
        .find(|(_, text)| text.contains("groups_claim = \"hd\""))
        .expect("the Google example");
    let table: toml::Table = toml::from_str(&text).expect("TOML");
    let roles: oidc_layer::roles::RoleMapConfig = table["roles"].clone().try_into().expect("roles");
    let roles = roles.build().expect("a valid role map");
    let decide = |claims: serde_json::Value| {
        let claims = claims.as_object().cloned().unwrap_or_default();
        let groups = ClaimPath::new("hd")
            .lookup(&claims)
            .map(claim_values)
            .unwrap_or_default();
        roles.decide(&groups, "someone", "123")
    };
    assert!(matches!(
        decide(serde_json::json!({ "hd": "example.com" })),
        RoleDecision::Granted { .. }
    ));
    assert!(matches!(
        decide(serde_json::json!({ "hd": "other.example" })),
        RoleDecision::Denied { .. }
    ));
    assert!(matches!(
        decide(serde_json::json!({})),
        RoleDecision::Denied { .. }
    ));
}

#[test]
fn the_providers_example_has_the_documented_callbacks() {
    let blocks = blocks(README, "toml");
    let (_, text) = blocks
        .iter()
        .find(|(_, text)| text.contains("[[providers]]"))
        .expect("a [[providers]] example");
    let config = OidcConfig::from_toml_str(text).expect("valid");
    let slugs: Vec<&str> = config.providers().iter().map(|p| p.slug()).collect();
    assert_eq!(slugs, ["company-sso", "google"]);
    assert_eq!(
        config.redirect_uris(),
        [
            "https://app.example.com/auth/oidc",
            "https://app.example.com/auth/oidc/google"
        ]
    );
    assert_eq!(config.backup_login_path(), Some("/login/local"));
}

#[test]
fn the_block_finder_sees_fences() {
    let md = "x\n```toml\na = 1\n```\n```rust\nfn f() {}\n```\n```toml\nb = 2\n```\n";
    assert_eq!(
        blocks(md, "toml"),
        [(2, "a = 1\n".to_owned()), (8, "b = 2\n".to_owned())]
    );
}

/// The Zitadel guide's configuration, unchanged but for its issuer (the test provider stands in
/// for the instance), against an ID token of Zitadel's shape: the project's id in `aud` next to
/// the client id, the client in `azp`, the project roles as an object keyed by role. It logs in
/// with the roles the guide's rules give; without its `trusted_audiences` line the same login is
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_zitadel_guide_logs_in_with_zitadels_id_token() {
    use std::convert::Infallible;

    use bytes::Bytes;
    use http::{Request, Response, StatusCode, header};
    use http_body_util::{BodyExt, Full};
    use oidc_layer::{Identity, OidcLayer};
    use oidc_testkit::{TestProvider, TestUser};
    use tower::{Layer, ServiceExt};

    /// The project's "Resource Id" that Zitadel names in every ID token's `aud`.
    const PROJECT_ID: &str = "123456789012345677";
    const ROLES_CLAIM: &str = "urn:zitadel:iam:org:project:roles";

    async fn roles(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
        let roles = request
            .extensions()
            .get::<Identity>()
            .map(|id| id.roles().join(" "))
            .unwrap_or_default();
        Ok(Response::new(Full::from(roles)))
    }

    let (line, guide) = blocks(PROVIDER_GUIDES, "toml")
        .into_iter()
        .find(|(_, text)| {
            text.contains("zitadel.cloud") && text.contains(ROLES_CLAIM) && !text.contains("api_")
        })
        .expect("the Zitadel guide's login configuration");
    let table: toml::Table = toml::from_str(&guide).expect("TOML");
    let text = |key: &str| table[key].as_str().expect(key).to_owned();
    let provider = TestProvider::builder()
        .client(text("client_id"), text("client_secret"))
        .id_token_audiences([PROJECT_ID])
        .redirect_uris([format!("{}/auth/oidc", text("external_url"))])
        .users([TestUser::alice().claim(
            ROLES_CLAIM,
            serde_json::json!({ "admin": { "231848297847848993": "org.example.com" } }),
        )])
        .auto_login("alice")
        .start()
        .await
        .unwrap();
    // Only the issuer line changes: the test provider stands in for the Zitadel instance.
    let with_issuer = |guide: &str| -> String {
        guide
            .lines()
            .map(|l| match l.starts_with("issuer = ") {
                true => format!("issuer = \"{}\"", provider.issuer()),
                false => l.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };

    let get = |path: &str, cookie: &str| {
        Request::get(path)
            .header(header::ACCEPT, "text/html")
            .header(header::COOKIE, cookie)
            .body(Full::<Bytes>::default())
            .unwrap()
    };
    let cookies = |response: &Response<_>| -> String {
        response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter(|l| !l.contains("Max-Age=0"))
            .filter_map(|l| l.split(';').next())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // The status of the callback, and what the app then sees.
    let log_in = |config: String| {
        let http = http.clone();
        async move {
            let config = OidcConfig::from_toml_str(&config).expect("valid");
            let service = OidcLayer::new(config).layer(tower::service_fn(roles));
            let start = service.clone().oneshot(get("/", "")).await.unwrap();
            assert_eq!(start.status(), StatusCode::FOUND);
            let authorize = start.headers()[header::LOCATION].to_str().unwrap();
            let to_callback = http.get(authorize).send().await.unwrap();
            let callback =
                url::Url::parse(to_callback.headers()[header::LOCATION].to_str().unwrap()).unwrap();
            let path = format!("{}?{}", callback.path(), callback.query().unwrap());
            let done = service
                .clone()
                .oneshot(get(&path, &cookies(&start)))
                .await
                .unwrap();
            let status = done.status();
            let seen = service.oneshot(get("/", &cookies(&done))).await.unwrap();
            let seen = match seen.status() {
                StatusCode::OK => {
                    let body = seen.into_body().collect().await.unwrap().to_bytes();
                    String::from_utf8(body.to_vec()).unwrap()
                }
                other => format!("status {other}"),
            };
            (status, seen)
        }
    };

    let (status, seen) = log_in(with_issuer(&guide)).await;
    assert_eq!(
        (status, seen.as_str()),
        (StatusCode::SEE_OTHER, "admin"),
        "docs/providers.md line {line}: the Zitadel guide's configuration must log alice in as admin"
    );

    let trusting = with_issuer(&guide);
    let untrusting: String = trusting
        .lines()
        .filter(|l| !l.starts_with("trusted_audiences"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        untrusting.len() < trusting.len(),
        "the guide trusts the project id"
    );
    let (status, seen) = log_in(untrusting).await;
    assert_ne!(
        status,
        StatusCode::SEE_OTHER,
        "refused without trusted_audiences"
    );
    assert_eq!(
        seen, "status 302 Found",
        "no session without trusted_audiences"
    );
    provider.shutdown().await;
}

/// The README's Cargo lines for a hyper app are the hyper example's own dependencies (version,
/// features, default features), and `scripts/features.sh` builds that example without its
/// embedded test provider: so the lines are enough for an app without the testkit, whose axum
/// would otherwise bring hyper's and tokio's features along unseen.
#[test]
fn the_readmes_hyper_cargo_lines_are_the_hyper_examples() {
    let blocks = blocks(README, "toml,cargo");
    assert_eq!(blocks.len(), 1, "one ```toml,cargo block (Without axum)");
    let (line, text) = &blocks[0];
    let readme: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("README.md line {line}: not a Cargo manifest: {e}"));
    let demo: toml::Table = include_str!("../../examples/hyper-demo/Cargo.toml")
        .parse()
        .expect("hyper-demo's Cargo.toml");
    let deps = |table: &toml::Table| -> toml::Table {
        table
            .get("dependencies")
            .and_then(toml::Value::as_table)
            .cloned()
            .expect("a [dependencies] table")
    };
    let (readme, demo) = (deps(&readme), deps(&demo));
    // A plain `"1"` and `{ version = "1" }` say the same.
    let norm = |value: &toml::Value| -> (Option<String>, bool, Vec<String>) {
        match value {
            toml::Value::String(version) => (Some(version.clone()), true, Vec::new()),
            toml::Value::Table(t) => {
                let mut features: Vec<String> = t
                    .get("features")
                    .and_then(toml::Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|f| f.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                features.sort();
                (
                    t.get("version")
                        .and_then(toml::Value::as_str)
                        .map(str::to_owned),
                    t.get("default-features")
                        .and_then(toml::Value::as_bool)
                        .unwrap_or(true),
                    features,
                )
            }
            other => panic!("unexpected dependency entry {other}"),
        }
    };
    for (name, entry) in &readme {
        let demo_entry = demo.get(name).unwrap_or_else(|| {
            panic!("README.md line {line}: `{name}` is not a dependency of hyper-demo")
        });
        assert_eq!(
            norm(entry),
            norm(demo_entry),
            "README.md line {line}: `{name}` differs from examples/hyper-demo/Cargo.toml"
        );
    }
    // Every dependency of the example but its own (the test provider, logging) is in the README.
    for name in demo.keys() {
        assert!(
            readme.contains_key(name)
                || ["oidc-testkit", "tracing-subscriber"].contains(&name.as_str()),
            "hyper-demo depends on `{name}`, which the README's Cargo lines leave out"
        );
    }
}
