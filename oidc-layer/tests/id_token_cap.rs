//! The 64 KiB ID-token cap is what refuses an oversized ID token: the same token, small, is
//! refused for another reason (its signature), so the big one can only have met the cap.
//! (The testkit's `Tamper::OversizedIdToken` end to end shows the login refused; this shows
//! which check refuses it.)

#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oidc_layer::bench::IdTokenCheck;
use oidc_layer::{OidcConfig, OidcLayer};
use oidc_testkit::TestProvider;

/// A well-formed RS256 JWS with a bogus signature, padded with `padding` bytes of claim.
fn unsigned_id_token(padding: usize) -> String {
    let part = |value: serde_json::Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let header = part(serde_json::json!({ "alg": "RS256", "typ": "JWT" }));
    let payload = part(serde_json::json!({
        "iss": "https://id.example.com", "aud": "app", "sub": "u", "exp": 1, "iat": 1,
        "padding": "a".repeat(padding),
    }));
    format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode([7u8; 256]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_token_over_64_kib_is_refused_by_the_size_cap() {
    let provider = TestProvider::builder().start().await.unwrap();
    let config = OidcConfig::builder()
        .issuer(provider.issuer())
        .client_id(provider.client_id())
        .client_secret(provider.client_secret())
        .external_url("http://127.0.0.1:8080")
        .build()
        .unwrap();
    let layer = OidcLayer::new(config);
    let refusal = |padding: usize| {
        let layer = layer.clone();
        async move {
            let token = unsigned_id_token(padding);
            let check = IdTokenCheck::new(&layer, &token, "nonce", "access")
                .await
                .unwrap();
            (token.len(), check.run().await.unwrap_err())
        }
    };
    let (small_len, small) = refusal(1_000).await;
    assert!(small_len < 64 * 1024);
    assert!(!small.contains("larger than"), "refused for: {small}");
    let (big_len, big) = refusal(100_000).await;
    assert!(big_len > 64 * 1024 && big_len < 1024 * 1024, "{big_len}");
    assert!(
        big.contains("larger than 65536 bytes"),
        "refused for: {big}"
    );
    provider.shutdown().await;
}
