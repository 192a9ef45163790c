//! The hyper example end to end: its binary started (embedded provider), `/` is public, `/me`
//! sends a browser to sign in and then answers the identity the layer put in the request's
//! extensions; a program without a session gets the layer's 401 problem+json; the public
//! `/whoami` answers `MissingIdentity`'s 401 from the handler (the same problem+json an axum
//! extractor answers), then the identity once signed in.

use oidc_e2e::{Browser, Example, sign_in_at_test_provider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hyper_service_behind_the_layer_signs_people_in() {
    let app = Example::start(env!("CARGO_BIN_EXE_hyper-demo"), &[]).await;

    let anonymous = Browser::new();
    let home = anonymous.get(app.url("/")).await;
    assert_eq!(home.status, 200, "{home}");
    let api = anonymous.fetch(app.url("/me")).await;
    assert_eq!(api.status, 401, "{api}");
    assert!(
        api.content_type().starts_with("application/problem+json"),
        "{api}"
    );

    // A public path: the layer lets the request through, the handler answers "not signed in".
    let whoami = anonymous.fetch(app.url("/whoami")).await;
    assert_eq!(whoami.status, 401, "{whoami}");
    assert!(
        whoami
            .content_type()
            .starts_with("application/problem+json"),
        "{whoami}"
    );
    assert_eq!(whoami.header("www-authenticate"), Some("OIDC"), "{whoami}");
    assert_eq!(
        whoami.json()["title"],
        "Authentication required",
        "{whoami}"
    );
    assert_eq!(whoami.json()["status"], 401, "{whoami}");

    let browser = Browser::new();
    let first = browser.get(app.url("/me")).await;
    assert_eq!(first.status, 302, "a browser is sent to sign in: {first}");
    let at_provider = browser.follow(first).await;
    let journey = sign_in_at_test_provider(&browser, at_provider.last(), "alice").await;
    journey.assert_no_server_error();
    let me = browser.get(app.url("/me")).await;
    assert_eq!(me.status, 200, "{me}");
    assert_eq!(me.json()["username"], "alice", "{}", me.body);
    // The stateless account id reads as the issuer, `#`, the subject.
    let iss = me.json()["iss"].as_str().expect("an issuer").to_owned();
    assert_eq!(
        me.json()["account"],
        format!("{iss}#u-1001-alice"),
        "{}",
        me.body
    );
    let whoami = browser.get(app.url("/whoami")).await;
    assert_eq!(whoami.status, 200, "{whoami}");
    assert_eq!(whoami.json()["username"], "alice", "{}", whoami.body);
}
