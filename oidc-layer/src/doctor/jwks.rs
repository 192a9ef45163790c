//! The `jwks` check: the key set is reachable, not empty, and has signing keys the layer can use
//! (each published signature key it cannot use is named: RSA outside 2048-8192 bits, curves
//! ring lacks such as P-521, private members); an asymmetric ID-token algorithm is advertised
//! (or configured) and a usable key fits one.

use serde_json::Value;

use super::{Level, ProviderReport, error_chain};
use crate::config::ProviderConfig;
use crate::http_client::HttpClient;
use crate::jose::{Alg, JoseError, Jwk, PRIVATE_MEMBERS};
use crate::provider::{Metadata, is_asymmetric_alg, signing_algs};

/// The ID-token algorithms the layer would accept, then the key set at `jwks_uri`.
pub(super) async fn check(
    report: &mut ProviderReport,
    http: &HttpClient,
    settings: &ProviderConfig,
    metadata: &Metadata,
) {
    let usable = usable_algs(report, settings, metadata);
    let url = metadata.jwks_uri.as_str();
    let Some(keys) = fetch_keys(report, http, url).await else {
        return;
    };
    // What the layer will accept (RS256 alone when advertised, the OpenID default), which may
    // be fewer algorithms than advertised.
    let accepted = signing_algs(
        settings.id_token_signing_algs.as_deref(),
        &metadata.id_token_signing_algs,
    );
    if !usable.is_empty() {
        judge_keys(report, url, &keys, &accepted);
    } else {
        // Already an error (no asymmetric algorithm): only the keys themselves are judged.
        judge_keys(report, url, &keys, &[]);
    }
}

/// The findings on the key set `keys` (at `url`), for a layer accepting `accepted` (none: the
/// keys alone are judged).
fn judge_keys(report: &mut ProviderReport, url: &str, keys: &[Value], accepted: &[Alg]) {
    let signing: Vec<&Value> = keys.iter().filter(|k| is_signing_key(k)).collect();
    if keys.is_empty() {
        report.push(
            Level::Error,
            "jwks",
            format!("{url} has no keys: no ID token can be verified"),
        );
        return;
    }
    if signing.is_empty() {
        report.push(
            Level::Error,
            "jwks",
            format!(
                "{url} has {} key(s) but none for asymmetric signatures (kty RSA/EC/OKP, use sig)",
                keys.len()
            ),
        );
        return;
    }
    // The keys as the layer reads them: the ones it cannot use are said, one finding each.
    let mut parsed = Vec::new();
    for key in &signing {
        match Jwk::from_json(key) {
            // ring verifies RSA signatures with 2048 to 8192-bit keys only (RFC 7518 3.3: at
            // least 2048); the key set keeps a shorter key, but it verifies nothing.
            Ok(_) if rsa_bits(key).is_some_and(|bits| !(2048..=8192).contains(&bits)) => {
                unusable_key(report, url, key, "RSA keys need 2048 to 8192 bits");
            }
            Ok(jwk) => parsed.push(jwk),
            Err(JoseError::UnsupportedKey(why)) => unusable_key(report, url, key, why),
            Err(_) => unusable_key(report, url, key, "not a key the layer verifies with"),
        }
    }
    if parsed.is_empty() {
        report.push(
            Level::Error,
            "jwks",
            format!(
                "{url} has {} signing key(s) but none the layer can use: no ID token can be verified",
                signing.len()
            ),
        );
    } else if !accepted.is_empty() && !parsed.iter().any(|k| accepted.iter().any(|a| k.fits(*a))) {
        report.push(
            Level::Error,
            "jwks",
            format!(
                "no key at {url} fits an algorithm the layer accepts ({}): no ID token can be verified",
                names(accepted)
            ),
        );
    } else {
        report.push(
            Level::Ok,
            "jwks",
            format!(
                "{} signing key(s) of {} at {url}; accepting {}",
                parsed.len(),
                keys.len(),
                names(accepted)
            ),
        );
    }
}

/// `RS256, ES256`.
fn names(algs: &[Alg]) -> String {
    algs.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
}

/// A key meant for signatures: `kty` RSA, EC or OKP, `use` absent or `sig`. (Encryption keys
/// are left alone: providers rightly publish them. A signature key with an `alg` the layer does
/// not verify, such as ES512, is one it cannot use, and is named as such.)
fn is_signing_key(key: &Value) -> bool {
    let field = |name: &str| key.get(name).and_then(Value::as_str);
    matches!(field("kty"), Some("RSA" | "EC" | "OKP")) && field("use").is_none_or(|u| u == "sig")
}

/// The finding for a published signature key the layer cannot verify with: an error when it
/// has private members (the provider's signing secret is public), else a warning (tokens
/// signed with it will be refused).
fn unusable_key(report: &mut ProviderReport, url: &str, key: &Value, why: &str) {
    let field = |name: &str| key.get(name).and_then(Value::as_str);
    let mut what = match field("kid") {
        Some(kid) => format!("key `{kid:.40}`"),
        None => "a key without kid".to_owned(),
    };
    what.push_str(&format!(" ({}", field("kty").unwrap_or_default()));
    if let Some(crv) = key.get("crv").and_then(Value::as_str) {
        what.push_str(&format!(" {crv:.16}"));
    }
    if let Some(bits) = rsa_bits(key) {
        what.push_str(&format!(", {bits} bits"));
    }
    what.push(')');
    if PRIVATE_MEMBERS.iter().any(|m| key.get(*m).is_some()) {
        report.push(
            Level::Error,
            "jwks",
            format!(
                "{what} at {url} has private members: the provider publishes its private key; the layer ignores this key, and the key must be replaced"
            ),
        );
    } else {
        report.push(
            Level::Warn,
            "jwks",
            format!(
                "{what} at {url} cannot be used by the layer ({why}): tokens it signs are refused"
            ),
        );
    }
}

/// An RSA key's modulus length in bits, for the message.
fn rsa_bits(key: &Value) -> Option<usize> {
    use base64::Engine as _;
    if key.get("kty").and_then(Value::as_str) != Some("RSA") {
        return None;
    }
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(key.get("n")?.as_str()?)
        .ok()?;
    let n: Vec<u8> = n.into_iter().skip_while(|b| *b == 0).collect();
    let first = *n.first()?;
    Some((n.len() - 1) * 8 + (8 - first.leading_zeros() as usize))
}

/// The asymmetric algorithms pinned in the configuration, or else advertised; an error finding
/// when there is none.
fn usable_algs<'a>(
    report: &mut ProviderReport,
    settings: &'a ProviderConfig,
    metadata: &'a Metadata,
) -> Vec<&'a str> {
    let advertised: Vec<&str> = metadata
        .id_token_signing_algs
        .iter()
        .map(String::as_str)
        .filter(|a| is_asymmetric_alg(a))
        .collect();
    let usable: Vec<&str> = match &settings.id_token_signing_algs {
        Some(pinned) => pinned
            .iter()
            .map(String::as_str)
            .filter(|a| is_asymmetric_alg(a))
            .collect(),
        None => advertised,
    };
    if usable.is_empty() {
        report.push(
            Level::Error,
            "jwks",
            format!(
                "no asymmetric ID-token algorithm to accept (advertised: {}); the layer never accepts `none` or HMAC",
                if metadata.id_token_signing_algs.is_empty() {
                    "none".to_owned()
                } else {
                    metadata.id_token_signing_algs.join(", ")
                }
            ),
        );
    }
    usable
}

/// The `keys` of the key set at `url`; `None` (and an error finding) when it cannot be read.
async fn fetch_keys(
    report: &mut ProviderReport,
    http: &HttpClient,
    url: &str,
) -> Option<Vec<Value>> {
    let body = match http.get_json(url).await {
        Ok((status, body)) if status.is_success() => body,
        Ok((status, _)) => {
            report.push(Level::Error, "jwks", format!("{url} answered {status}"));
            return None;
        }
        Err(e) => {
            report.push(
                Level::Error,
                "jwks",
                format!("cannot reach {url}: {}", error_chain(&e)),
            );
            return None;
        }
    };
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mut set)) => match set.remove("keys") {
            Some(Value::Array(keys)) => Some(keys),
            _ => {
                report.push(
                    Level::Error,
                    "jwks",
                    format!("{url} is not a key set (no `keys` list)"),
                );
                None
            }
        },
        _ => {
            report.push(
                Level::Error,
                "jwks",
                format!("{url} did not answer with JSON"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::*;

    fn judged(keys: &[Value], accepted: &[Alg]) -> Vec<(Level, String)> {
        let mut report = ProviderReport {
            name: "p".into(),
            slug: "p".into(),
            issuer: "https://id.example.com".into(),
            findings: Vec::new(),
        };
        judge_keys(&mut report, "https://id.example.com/jwks", keys, accepted);
        report
            .findings
            .into_iter()
            .map(|f| (f.level, f.message))
            .collect()
    }

    /// An RSA public key of `bytes` bytes (the top bit set: exactly 8 * `bytes` bits).
    fn rsa(kid: &str, bytes: usize) -> Value {
        json!({"kty": "RSA", "use": "sig", "kid": kid,
               "n": URL_SAFE_NO_PAD.encode(vec![0xC5; bytes]), "e": "AQAB"})
    }

    fn p256(kid: &str) -> Value {
        json!({"kty": "EC", "crv": "P-256", "kid": kid,
               "x": URL_SAFE_NO_PAD.encode([1; 32]), "y": URL_SAFE_NO_PAD.encode([2; 32])})
    }

    #[test]
    fn usable_keys_are_ok() {
        let found = judged(&[rsa("r", 256), p256("e")], &[Alg::Rs256]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Level::Ok);
        assert!(
            found[0].1.starts_with("2 signing key(s) of 2 at "),
            "{found:?}"
        );
    }

    #[test]
    fn short_rsa_keys_and_p521_are_named_as_unusable() {
        let p521 = json!({"kty": "EC", "crv": "P-521", "kid": "big", "alg": "ES512",
                          "x": URL_SAFE_NO_PAD.encode([1; 66]), "y": URL_SAFE_NO_PAD.encode([2; 66])});
        let found = judged(&[rsa("old", 128), p521, rsa("good", 256)], &[Alg::Rs256]);
        let levels: Vec<Level> = found.iter().map(|f| f.0).collect();
        assert_eq!(levels, [Level::Warn, Level::Warn, Level::Ok], "{found:?}");
        assert!(
            found[0].1.contains("key `old` (RSA, 1024 bits)"),
            "{found:?}"
        );
        assert!(found[0].1.contains("2048 to 8192 bits"), "{found:?}");
        assert!(found[1].1.contains("key `big` (EC P-521)"), "{found:?}");
        assert!(
            found[1].1.contains("cannot be used by the layer"),
            "{found:?}"
        );
        assert!(found[2].1.starts_with("1 signing key(s) of 3"), "{found:?}");
        // 2048 and 8192 bits are fine, 8200 is not.
        let found = judged(&[rsa("a", 256), rsa("b", 1024), rsa("c", 1025)], &[]);
        let levels: Vec<Level> = found.iter().map(|f| f.0).collect();
        assert_eq!(levels, [Level::Warn, Level::Ok], "{found:?}");
        assert!(found[0].1.contains("key `c` (RSA, 8200 bits)"), "{found:?}");
        let x25519 = json!({"kty": "OKP", "crv": "X25519", "x": URL_SAFE_NO_PAD.encode([9; 32])});
        let found = judged(&[x25519, p256("e")], &[Alg::Es256]);
        assert_eq!(found[0].0, Level::Warn, "{found:?}");
        assert!(
            found[0].1.starts_with("a key without kid (OKP X25519) at "),
            "{found:?}"
        );
    }

    #[test]
    fn a_published_private_key_is_an_error() {
        let mut private = rsa("leaked", 256);
        private["d"] = json!("AQAB");
        let found = judged(&[private, rsa("good", 256)], &[Alg::Rs256]);
        assert_eq!(found[0].0, Level::Error, "{found:?}");
        assert!(found[0].1.contains("key `leaked`"), "{found:?}");
        assert!(found[0].1.contains("private"), "{found:?}");
        assert_eq!(found[1].0, Level::Ok, "{found:?}");
    }

    #[test]
    fn no_usable_key_or_none_for_the_accepted_algorithms_is_an_error() {
        let found = judged(&[rsa("old", 128)], &[Alg::Rs256]);
        assert_eq!(found.last().unwrap().0, Level::Error, "{found:?}");
        assert!(
            found.last().unwrap().1.contains("none the layer can use"),
            "{found:?}"
        );
        let found = judged(&[p256("e")], &[Alg::Rs256]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Level::Error, "{found:?}");
        assert!(
            found[0]
                .1
                .contains("fits an algorithm the layer accepts (RS256)"),
            "{found:?}"
        );
        assert_eq!(
            judged(&[p256("e")], &[Alg::Rs256, Alg::Es256])[0].0,
            Level::Ok
        );
    }

    #[test]
    fn encryption_keys_are_left_alone() {
        let enc = json!({"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"});
        let found = judged(&[enc, rsa("good", 256)], &[Alg::Rs256]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Level::Ok, "{found:?}");
        assert!(found[0].1.starts_with("1 signing key(s) of 2"), "{found:?}");
    }
}
