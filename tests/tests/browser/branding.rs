//! Every page the layer shows, as a person sees it, in the layer's own look and in the app's
//! branding (name, logo, colours, help link): the chooser, an error, the "No access"
//! refusal, the logout confirmation, the signed-out page and the 503 of a provider that is
//! down. Asserts what the browser shows (the name, the logo loaded under the page's CSP, the
//! colours the stylesheet applied) and saves each page's screenshot; `README_IMAGES=docs/images`
//! also writes them to `docs/images/pages/{default,branded}-<page>.png` for the README.

use std::path::PathBuf;

use super::*;

/// The branding of the branded run: the demo's own logo (a public path of the demo app).
fn acme() -> BrandingConfig {
    BrandingConfig::new()
        .app_name("Acme Portal")
        .logo(axum_demo::LOGO_PATH)
        .primary_color("#7b1fa2")
        .background_color("#f3e5f5")
        .text_color("#212121")
        .support_url("https://support.example.com/it")
        .support_label("Contact IT support")
}

/// Where the README's page images go, when asked for (relative to the workspace root).
fn readme_pages() -> Option<PathBuf> {
    std::env::var_os("README_IMAGES").map(|dir| {
        let dir = PathBuf::from(dir);
        let dir = if dir.is_absolute() {
            dir
        } else {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(dir)
        };
        dir.join("pages")
    })
}

/// The look a page must have.
struct Look {
    variant: &'static str,
    /// The app's name above the card (`None`: no header).
    app_name: Option<&'static str>,
    /// The primary button's background, as the browser computes it.
    button: &'static str,
    /// The page's background.
    background: &'static str,
}

const DEFAULT: Look = Look {
    variant: "default",
    app_name: None,
    button: "rgb(11, 87, 208)",
    background: "rgb(244, 245, 247)",
};

const BRANDED: Look = Look {
    variant: "branded",
    app_name: Some("Acme Portal"),
    button: "rgb(123, 31, 162)",
    background: "rgb(243, 229, 245)",
};

/// Runs `script` (its last statement returns) in the page.
async fn eval(site: &Site, script: &str) -> serde_json::Value {
    site.chrome
        .client()
        .execute(script, vec![])
        .await
        .expect("run a script in the page")
}

/// Asserts the current page has `look` (name, logo, colours: the stylesheet applied under
/// the page's CSP, the logo loaded under it), then saves it as `<variant>-<page>`.
async fn check_and_shoot(site: &Site, look: &Look, page: &str) {
    let chrome = &site.chrome;
    let styles = eval(
        site,
        "const b = document.querySelector('a.button, button, a.provider');
         const s = b ? getComputedStyle(b) : null;
         return [getComputedStyle(document.body).backgroundColor,
                 s ? s.backgroundColor : '', s ? s.borderTopColor : '',
                 document.documentElement.lang];",
    )
    .await;
    assert_eq!(styles[0], look.background, "{page}: the page's background");
    // The chooser's rows are outlined buttons: their border takes the primary colour on
    // hover only, so check a primary-coloured button where the page has one.
    if page != "chooser" {
        assert_eq!(styles[1], look.button, "{page}: the main button's colour");
    }
    assert_eq!(styles[3], "en", "{page}: the page's language");
    match look.app_name {
        Some(name) => {
            let shown = chrome
                .wait_for("#app-name")
                .await
                .text()
                .await
                .expect("the name's text");
            assert_eq!(shown, name, "{page}: the app's name above the card");
            let title = chrome.client().title().await.expect("the title");
            assert!(
                title.ends_with(&format!(" · {name}")),
                "{page}: title {title}"
            );
            // The logo is loaded (an image the CSP blocked has no natural width).
            let loaded = eval(
                site,
                "const i = document.querySelector('img.brand-logo');
                 return !!i && i.complete && i.naturalWidth > 0;",
            )
            .await;
            assert_eq!(loaded, true, "{page}: the logo shows");
            let help = chrome.wait_for("#support").await;
            assert_eq!(
                help.text().await.expect("the link's text"),
                "Contact IT support"
            );
        }
        None => {
            assert!(
                chrome.find("#app-name").await.is_none(),
                "{page}: no app name"
            );
            assert!(
                chrome.find("#support").await.is_none(),
                "{page}: no help link"
            );
        }
    }
    // Nothing sticks out of the window (a long name or text wraps).
    let overflow = eval(
        site,
        "return document.documentElement.scrollWidth > document.documentElement.clientWidth;",
    )
    .await;
    assert_eq!(overflow, false, "{page}: no horizontal scrolling");
    let name = format!("{}-{page}", look.variant);
    let path = chrome.screenshot(&format!("pages-{name}")).await;
    if let Some(dir) = readme_pages() {
        std::fs::create_dir_all(&dir).expect("create the README images folder");
        std::fs::copy(&path, dir.join(format!("{name}.png"))).expect("copy the README image");
    }
}

/// Walks through every page of the layer with two providers (alpha refuses a person none of
/// whose groups maps to a role), checking and saving each.
async fn every_page(look: Look, branding: Option<BrandingConfig>) {
    let mut site = Site::start_with(Setup {
        provider: Box::new(|p| p.roles(axum_demo::role_map().deny_unmatched())),
        second_provider: true,
        branding,
        ..Setup::default()
    })
    .await;
    site.chrome.resize(600, 660).await;
    let chrome = &site.chrome;

    // The chooser.
    chrome.goto(&site.url("/profile")).await;
    chrome.wait_for("a#provider-alpha").await;
    assert_eq!(site.status().await, 200);
    assert_eq!(chrome.heading().await, "Sign in");
    check_and_shoot(&site, &look, "chooser").await;

    // An error: an unknown provider in a hand-made link.
    chrome
        .goto(&site.url("/auth/login?provider=gamma&return_to=%2Fprofile"))
        .await;
    assert_eq!(site.status().await, 400);
    assert_eq!(chrome.heading().await, "Unknown sign-in provider");
    check_and_shoot(&site, &look, "error").await;

    // Beta is down, before anything contacted it (a provider heard from within the last 30 s
    // still gets the redirect): the 503 page.
    site.beta.as_mut().expect("two providers").stop().await;
    chrome
        .goto(&site.url("/auth/login?provider=beta&return_to=%2Fprofile"))
        .await;
    assert_eq!(site.status().await, 503);
    assert_eq!(chrome.heading().await, "The sign-in service is unreachable");
    check_and_shoot(&site, &look, "provider-down").await;

    // The refusal: carol's groups give her no role.
    chrome.goto(&site.url("/profile")).await;
    chrome.click("a#provider-alpha").await;
    site.sign_in_at_provider("carol", None).await;
    assert_eq!(site.status().await, 403, "{}", chrome.text().await);
    assert_eq!(chrome.heading().await, "No access to this app");
    check_and_shoot(&site, &look, "refusal").await;
    assert_eq!(site.sessions().await, 0, "carol is not signed in");

    // Its way out: another account (alice; with two providers through the chooser, whose
    // links ask for a fresh sign-in), then the logout confirmation.
    chrome.click(".actions a").await;
    chrome.click("a#provider-alpha").await;
    site.sign_in_at_provider("alice", None).await;
    site.assert_on("/profile", "Alice Anders").await;
    chrome.goto(&site.url("/auth/logout")).await;
    chrome.wait_for("form#logout").await;
    assert_eq!(chrome.heading().await, "Sign out?");
    check_and_shoot(&site, &look, "logout-confirm").await;

    // Signing out: the provider asks whether to sign out there too (yes), then the app's
    // signed-out page.
    chrome.click("form#logout button[type=submit]").await;
    chrome.click("button[name=logout]").await;
    chrome
        .wait_for_url("the signed-out page", |u| {
            site.on_app(u) && u.path() == "/auth/logged-out"
        })
        .await;
    assert_eq!(site.status().await, 200);
    assert_eq!(chrome.heading().await, "You are signed out");
    check_and_shoot(&site, &look, "signed-out").await;
    assert_eq!(site.sessions().await, 0, "alice is signed out");

    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_in_the_layers_own_look() {
    every_page(DEFAULT, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_in_the_apps_branding() {
    every_page(BRANDED, Some(acme())).await;
}

/// The app's own signed-out page: it embeds the layer's stylesheet (allowed by its hash) and
/// tries an inline style of its own, which the page's CSP must block.
struct OwnSignedOut;

impl PageRenderer for OwnSignedOut {
    fn signed_out(&self, page: &oidc_layer::custom_pages::SignedOutPage) -> String {
        let name = page.branding().app_name().unwrap_or("this app");
        maud::html! {
            (maud::DOCTYPE)
            html lang="en" {
                head {
                    title { "Goodbye" }
                    (maud::PreEscaped(page.style_element()))
                }
                body {
                    main {
                        h1 { "See you soon at " (name) }
                        p id="inline" style="color: rgb(255, 0, 0)" { "An inline style." }
                        a class="button" id="again" href=(page.sign_in_href()) { "Sign in again" }
                    }
                }
            }
        }
        .into_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apps_own_page_replaces_one_page_and_keeps_the_csp() {
    let site = Site::start_with(Setup {
        branding: Some(acme()),
        pages: Some(Arc::new(OwnSignedOut)),
        ..Setup::default()
    })
    .await;
    let chrome = &site.chrome;
    chrome.resize(600, 660).await;
    // Replaced: the signed-out page is the app's, in the layer's stylesheet (its colours
    // applied), and its own inline style is blocked.
    chrome.goto(&site.url("/auth/logged-out")).await;
    assert_eq!(site.status().await, 200);
    assert_eq!(chrome.heading().await, "See you soon at Acme Portal");
    let styles = eval(
        &site,
        "return [getComputedStyle(document.querySelector('#again')).backgroundColor,
                 getComputedStyle(document.querySelector('#inline')).color];",
    )
    .await;
    assert_eq!(styles[0], BRANDED.button, "the layer's stylesheet applies");
    assert_eq!(styles[1], "rgb(33, 33, 33)", "the inline style is blocked");
    chrome.screenshot("pages-own-signed-out").await;
    // Not replaced: the logout confirmation is the built-in page, branded.
    chrome.goto(&site.url("/auth/logout")).await;
    chrome.wait_for("form#logout").await;
    assert_eq!(chrome.heading().await, "Sign out?");
    let name = chrome
        .wait_for("#app-name")
        .await
        .text()
        .await
        .expect("the name's text");
    assert_eq!(name, "Acme Portal");
    site.stop().await;
}
