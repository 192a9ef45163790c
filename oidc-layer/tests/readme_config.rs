//! Every ```toml block of the README is a whole configuration that `OidcConfig::from_toml_str`
//! accepts, so the documented keys cannot silently drift from the code.

use oidc_layer::OidcConfig;

const README: &str = include_str!("../../README.md");

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
