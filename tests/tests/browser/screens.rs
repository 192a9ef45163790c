//! The layer's own pages as a person sees them with two providers: the chooser, an unknown
//! provider, a provider that is down. Saves their screenshots (and the README's small ones:
//! `README_IMAGES=docs/images` writes `chooser.png` and `error.png` there).

use std::path::PathBuf;

use super::*;

/// Where the README's images are written, when asked for.
fn readme_images() -> Option<PathBuf> {
    std::env::var_os("README_IMAGES").map(|dir| {
        let dir = PathBuf::from(dir);
        if dir.is_absolute() {
            dir
        } else {
            // Relative to the workspace root (tests/ is this crate's folder).
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(dir)
        }
    })
}

async fn readme_shot(site: &Site, name: &str) {
    let Some(dir) = readme_images() else {
        return;
    };
    let chrome = &site.chrome;
    chrome.resize(640, 600).await;
    let path = chrome.screenshot(&format!("readme-{name}")).await;
    std::fs::create_dir_all(&dir).expect("create the README images folder");
    std::fs::copy(&path, dir.join(format!("{name}.png"))).expect("copy the README image");
    chrome.resize(1000, 760).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chooser_lists_both_providers_and_each_one_signs_in() {
    let mut site = Site::start_with(Setup {
        second_provider: true,
        ..Setup::default()
    })
    .await;
    let chrome = &site.chrome;

    // A protected page without a session: the chooser, on the app.
    chrome.goto(&site.url("/profile")).await;
    let url = chrome.url().await;
    assert!(site.on_app(&url), "the chooser is the app's page: {url}");
    assert_eq!(site.status().await, 200);
    assert_eq!(chrome.heading().await, "Sign in");
    let alpha = chrome.wait_for("a#provider-alpha").await;
    let beta = chrome.wait_for("a#provider-beta").await;
    assert_eq!(alpha.text().await.unwrap(), "Sign in with Alpha ID");
    assert_eq!(beta.text().await.unwrap(), "Sign in with Beta Login");
    // The links are one below the other and equally wide (a list of buttons, not a jumble).
    let (a, b) = (
        alpha.rectangle().await.unwrap(),
        beta.rectangle().await.unwrap(),
    );
    assert!(b.1 > a.1 + a.3 - 1.0, "beta is below alpha: {a:?} {b:?}");
    assert!((a.2 - b.2).abs() < 1.0, "same width: {a:?} {b:?}");
    chrome.screenshot("chooser").await;
    readme_shot(&site, "chooser").await;

    // Beta: its login page, then back on /profile signed in through beta.
    chrome.click("a#provider-beta").await;
    chrome.wait_for("form#login").await;
    let at = chrome.url().await;
    let beta_op = site.beta.as_ref().expect("two providers");
    assert_eq!(
        at.origin(),
        url::Url::parse(beta_op.issuer()).unwrap().origin(),
        "the beta provider's page"
    );
    site.sign_in_at_provider("bob", None).await;
    site.assert_on("/profile", "Bob Brown").await;
    assert_eq!(
        site.last_callback().path(),
        "/auth/oidc/beta",
        "beta's own callback"
    );

    // An unknown provider in a hand-made link: a 400 page that leads to the chooser.
    chrome
        .goto(&site.url("/auth/login?provider=gamma&return_to=%2Fprofile"))
        .await;
    assert_eq!(site.status().await, 400);
    assert_eq!(chrome.heading().await, "Unknown sign-in provider");
    chrome.screenshot("error-unknown-provider").await;
    chrome.click(".actions a").await;
    chrome.wait_for("a#provider-alpha").await;

    // Alpha is down: a 503 page that says so and offers to try again.
    site.op.stop().await;
    // A new browser session would remember nothing; this one is signed in through beta, so
    // ask for alpha explicitly.
    let chrome = &site.chrome;
    chrome
        .goto(&site.url("/auth/login?provider=alpha&return_to=%2Fprofile"))
        .await;
    assert_eq!(site.status().await, 503);
    assert_eq!(chrome.heading().await, "The sign-in service is unreachable");
    assert!(
        chrome.find(".actions a.button").await.is_some(),
        "a retry button"
    );
    chrome.screenshot("error-provider-down").await;
    readme_shot(&site, "error").await;
    site.stop().await;
}
