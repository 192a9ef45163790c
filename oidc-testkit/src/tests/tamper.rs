//! Each [`Tamper`] variant produces what it says.

use openidconnect::core::{CoreHmacKey, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey as _, PrivateSigningKey as _};
use serde_json::{Value, json};

use super::*;
use crate::jwt::{at_hash, now_secs};
use crate::{Tamper, TestProvider};

const PUBLIC_KEY_PEM: &str = include_str!("../keys/test-only-signing-key.pub.pem");

#[tokio::test]
async fn every_tamper_variant_does_what_it_says() {
    let provider = TestProvider::start().await.unwrap();
    let issuer = provider.issuer().to_owned();
    let wrong_issuer = format!("{issuer}/not-the-issuer");
    for &tamper in Tamper::ALL {
        provider.set_tamper(tamper);
        assert_eq!(provider.tamper(), tamper);
        let sign_in = sign_in(&provider, "alice").await;
        let requests_before = provider.token_requests();
        let response = redeem(&provider, &sign_in).await;
        assert_eq!(provider.token_requests(), requests_before + 1);

        // The authorization response.
        match tamper {
            Tamper::WrongIssInCallback => {
                assert_eq!(sign_in.param("iss").unwrap(), wrong_issuer);
            }
            Tamper::MissingIssInCallback => assert!(sign_in.param("iss").is_none()),
            _ => assert_eq!(sign_in.param("iss").unwrap(), issuer, "{tamper:?}"),
        }

        // The token endpoint's answer as a whole.
        match tamper {
            Tamper::TokenEndpointError => {
                assert_eq!(response.status(), 500);
                // The code was not consumed: it works once the provider behaves.
                provider.set_tamper(Tamper::None);
                assert_eq!(redeem(&provider, &sign_in).await.status(), 200);
                continue;
            }
            Tamper::GarbageTokenResponse => {
                assert_eq!(response.status(), 200);
                assert_eq!(response.headers()["content-type"], "application/json");
                let body = response.text().await.unwrap();
                assert!(serde_json::from_str::<Value>(&body).is_err(), "{body}");
                continue;
            }
            _ => {}
        }

        // The ID token.
        let tokens = tokens(response).await;
        let (header, payload) = decode_jwt(&tokens.id_token);
        let verified = verify_id_token(
            &provider,
            &tokens.id_token,
            Some(&sign_in.nonce),
            Some(&tokens.access_token),
        )
        .await;
        let now = now_secs();
        let signature = tokens.id_token.rsplit('.').next().unwrap();
        match tamper {
            Tamper::None | Tamper::WrongIssInCallback | Tamper::MissingIssInCallback => {
                verified.unwrap();
                // Honest tokens of a code exchange carry the code's c_hash.
                assert_eq!(payload["c_hash"], at_hash(&sign_in.code()), "{tamper:?}");
                assert_eq!(tokens.body["token_type"], "Bearer");
            }
            Tamper::WrongAudience => {
                assert_eq!(payload["aud"], json!(["another-client"]));
                assert_eq!(payload["azp"], "another-client");
                assert!(verified.unwrap_err().contains("aud"));
            }
            Tamper::WrongIssuer => {
                assert_eq!(payload["iss"], wrong_issuer);
                assert!(verified.is_err());
            }
            Tamper::ExpiredIdToken => {
                assert!(payload["exp"].as_u64().unwrap() + 3000 < now);
                assert!(payload["iat"].as_u64().unwrap() < payload["exp"].as_u64().unwrap());
                assert!(verified.unwrap_err().contains("expired"));
            }
            Tamper::IssuedInFuture => {
                let iat = payload["iat"].as_u64().unwrap();
                assert!(
                    (now + 590..=now + 610).contains(&iat),
                    "iat {iat} now {now}"
                );
                assert!(payload["exp"].as_u64().unwrap() > iat);
            }
            Tamper::WrongNonce => {
                assert!(payload["nonce"].is_string());
                assert_ne!(payload["nonce"], sign_in.nonce.as_str());
                assert!(verified.unwrap_err().contains("nonce"));
            }
            Tamper::MissingNonce => {
                assert!(payload.get("nonce").is_none());
                assert!(verified.unwrap_err().contains("nonce"));
            }
            Tamper::BadSignature => {
                assert_eq!(header["alg"], "RS256");
                assert_eq!(header["kid"], "testkit-rs256-1");
                assert_eq!(URL_SAFE_NO_PAD.decode(signature).unwrap().len(), 256);
                assert!(verified.unwrap_err().contains("ignature"));
            }
            Tamper::AlgNone => {
                assert_eq!(header, json!({"alg": "none", "typ": "JWT"}));
                assert!(tokens.id_token.ends_with('.'));
                assert!(verified.is_err());
            }
            Tamper::HmacWithPublicKey => {
                assert_eq!(header["alg"], "HS256");
                assert_eq!(header["kid"], "testkit-rs256-1");
                let (signing_input, _) = tokens.id_token.rsplit_once('.').unwrap();
                let expected = CoreHmacKey::new(PUBLIC_KEY_PEM.as_bytes())
                    .sign(
                        &CoreJwsSigningAlgorithm::HmacSha256,
                        signing_input.as_bytes(),
                    )
                    .unwrap();
                assert_eq!(URL_SAFE_NO_PAD.decode(signature).unwrap(), expected);
                assert!(verified.is_err());
            }
            Tamper::UnknownKid => {
                assert_eq!(header["alg"], "RS256");
                assert_eq!(header["kid"], "testkit-unknown-key");
                let jwks: Value = serde_json::to_value(fetch_jwks(&provider).await).unwrap();
                assert!(!jwks.to_string().contains("testkit-unknown-key"));
                assert!(verified.is_err());
            }
            Tamper::WrongAtHash => {
                assert!(payload["at_hash"].is_string());
                assert_eq!(verified.unwrap_err(), "at_hash mismatch");
            }
            Tamper::OversizedIdToken => {
                // Over a relying party's 64 KiB ID-token cap, under a 1 MiB body cap.
                assert!((64 * 1024..1 << 20).contains(&tokens.id_token.len()));
                assert!(tokens.body.to_string().len() < 1 << 20);
                assert_eq!(payload["padding"].as_str().unwrap().len(), 100_000);
                // Correctly signed: only a size limit protects the relying party.
                verified.unwrap();
            }
            Tamper::AzpMismatch => {
                assert_eq!(payload["aud"], json!(["test-client", "another-client"]));
                assert_eq!(payload["azp"], "another-client");
            }
            Tamper::Es256Signed => {
                assert_eq!(header["alg"], "ES256");
                assert_eq!(header["kid"], "testkit-es256-1");
                // A valid signature by a published key: only alg pinning refuses it.
                let jwks = fetch_jwks(&provider).await;
                let key = jwks
                    .keys()
                    .iter()
                    .find(|k| {
                        k.key_id()
                            .is_some_and(|id| id.as_str() == "testkit-es256-1")
                    })
                    .unwrap();
                let (signing_input, _) = tokens.id_token.rsplit_once('.').unwrap();
                key.verify_signature(
                    &CoreJwsSigningAlgorithm::EcdsaP256Sha256,
                    signing_input.as_bytes(),
                    &URL_SAFE_NO_PAD.decode(signature).unwrap(),
                )
                .unwrap();
                assert!(verified.is_err(), "openidconnect pins RS256 by default");
            }
            Tamper::NotYetValid => {
                let nbf = payload["nbf"].as_u64().unwrap();
                assert!(
                    (now + 590..=now + 610).contains(&nbf),
                    "nbf {nbf} now {now}"
                );
                verified.unwrap();
            }
            Tamper::StaleIssuedAt => {
                let iat = payload["iat"].as_u64().unwrap();
                assert!(
                    (now - 3610..=now - 3590).contains(&iat),
                    "iat {iat} now {now}"
                );
                assert!(payload["exp"].as_u64().unwrap() > now);
                verified.unwrap();
            }
            Tamper::WrongCodeHash => {
                assert!(payload["c_hash"].is_string());
                assert_ne!(payload["c_hash"], at_hash(&sign_in.code()));
                verified.unwrap();
            }
            Tamper::WrongTokenType => {
                assert_eq!(tokens.body["token_type"], "DPoP");
                verified.unwrap();
            }
            Tamper::HugeExpiresIn => {
                assert_eq!(tokens.body["expires_in"], u64::MAX);
                verified.unwrap();
            }
            Tamper::ExtraAudience => {
                assert_eq!(payload["aud"], json!(["test-client", "testkit-project"]));
                assert_eq!(payload["azp"], "test-client");
                assert!(verified.unwrap_err().contains("trusted"));
            }
            Tamper::ForeignAzp => {
                assert_eq!(payload["aud"], json!(["test-client"]));
                assert_eq!(payload["azp"], "another-client");
                verified.unwrap();
            }
            Tamper::NoKidSeveralKeys => {
                assert_eq!(header, json!({"alg": "RS256", "typ": "JWT"}));
                // Two published RSA keys fit: openidconnect will not choose between them.
                let error = verified.unwrap_err();
                assert!(error.contains("AmbiguousKeyId"), "{error}");
                let jwks = fetch_jwks(&provider).await;
                let key = jwks
                    .keys()
                    .iter()
                    .find(|k| {
                        k.key_id()
                            .is_some_and(|id| id.as_str() == "testkit-rs256-2")
                    })
                    .unwrap();
                let (signing_input, _) = tokens.id_token.rsplit_once('.').unwrap();
                key.verify_signature(
                    &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                    signing_input.as_bytes(),
                    &URL_SAFE_NO_PAD.decode(signature).unwrap(),
                )
                .unwrap();
            }
            Tamper::OtherSubject => {
                assert_eq!(payload["sub"], "u-9999-someone-else");
                verified.unwrap();
            }
            Tamper::ChangedAuthTime => {
                let auth_time = payload["auth_time"].as_u64().unwrap();
                assert!((now - 10..=now + 1).contains(&auth_time), "{auth_time}");
                verified.unwrap();
            }
            Tamper::TokenEndpointError | Tamper::GarbageTokenResponse => unreachable!(),
        }
        assert_eq!(
            tamper.affects_id_token(),
            !matches!(
                tamper,
                Tamper::None
                    | Tamper::WrongIssInCallback
                    | Tamper::MissingIssInCallback
                    | Tamper::WrongTokenType
                    | Tamper::HugeExpiresIn
            )
        );
    }
}

#[tokio::test]
async fn tamper_applies_to_refresh_responses_until_reset() {
    let provider = TestProvider::builder()
        .tamper(Tamper::WrongIssuer)
        .start()
        .await
        .unwrap();
    let sign_in = sign_in(&provider, "bob").await;
    let first = tokens(redeem(&provider, &sign_in).await).await;
    assert!(
        verify_id_token(&provider, &first.id_token, Some(&sign_in.nonce), None)
            .await
            .is_err()
    );

    let second = tokens(refresh(&provider, &first.refresh_token).await).await;
    let (_, payload) = decode_jwt(&second.id_token);
    assert_eq!(
        payload["iss"],
        format!("{}/not-the-issuer", provider.issuer())
    );

    provider.set_tamper(Tamper::None);
    let third = tokens(refresh(&provider, &second.refresh_token).await).await;
    verify_id_token(&provider, &third.id_token, None, Some(&third.access_token))
        .await
        .unwrap();
}
