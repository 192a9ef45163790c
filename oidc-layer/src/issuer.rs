//! Issuer identifiers as the layer compares them: a trailing slash is a common configuration
//! slip, so issuers that differ only by trailing slashes are the same issuer. Everything else
//! (scheme, host, port, path, case) must match exactly.

/// `issuer` in the form issuers are compared in: without trailing slashes. It is also the base
/// the discovery URL is built on (OpenID Connect Discovery 1.0 §4: "any terminating `/` MUST be
/// removed before appending `/.well-known/openid-configuration`").
pub(crate) fn normalized_issuer(issuer: &str) -> &str {
    issuer.trim_end_matches('/')
}

/// Whether two issuers are the same issuer: equal once normalized ([`normalized_issuer`]).
pub(crate) fn issuers_match(configured: &str, advertised: &str) -> bool {
    normalized_issuer(configured) == normalized_issuer(advertised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_trailing_slashes_are_tolerated() {
        assert!(issuers_match(
            "https://id.example.com/realms/a/",
            "https://id.example.com/realms/a"
        ));
        assert!(issuers_match(
            "https://id.example.com",
            "https://id.example.com//"
        ));
        assert!(!issuers_match(
            "http://id.example.com",
            "https://id.example.com"
        ));
        assert!(!issuers_match(
            "https://ID.example.com",
            "https://id.example.com"
        ));
        assert!(!issuers_match(
            "https://id.example.com/realms/a",
            "https://id.example.com/realms/b"
        ));
        assert_eq!(
            normalized_issuer("https://id.example.com/a//"),
            "https://id.example.com/a"
        );
    }
}
