//! Where the browser goes after login: same-origin relative paths only.
//!
//! A return-to value comes from the browser (the path it asked for, or `?return_to=`), so it is
//! untrusted. Anything that a browser could read as another origin (`//host`, `/\host`,
//! `https:`, `javascript:`), anything with control characters or backslashes, and anything
//! overly long is refused; the caller falls back to `/`.

/// Longest return-to value kept (longer paths fall back to `/`).
pub(crate) const MAX_RETURN_TO: usize = 2048;

/// Returns `value` if it is a safe same-origin path (with optional query), else `None`.
pub(crate) fn sanitize(value: &str) -> Option<String> {
    if value.len() > MAX_RETURN_TO {
        tracing::info!(
            length = value.len(),
            "return_to longer than {MAX_RETURN_TO} bytes; falling back to /"
        );
        return None;
    }
    if value.is_empty() || !value.starts_with('/') {
        return None;
    }
    // Printable ASCII only: no spaces, controls, backslashes or non-ASCII that a browser might
    // normalise into something else.
    if !value
        .bytes()
        .all(|b| (0x21..=0x7e).contains(&b) && b != b'\\')
    {
        return None;
    }
    if value.starts_with("//") || value.contains('#') {
        return None;
    }
    // `/%2F%2Fevil` or `/%5Cevil` decode to `//evil`/`/\evil` in some stacks: refuse encoded
    // slashes and backslashes right after the leading slash.
    let lower = value.to_ascii_lowercase();
    if lower.starts_with("/%2f") || lower.starts_with("/%5c") || lower.contains("%5c") {
        return None;
    }
    Some(value.to_owned())
}

/// The path of a return-to value, without its query: all that logs may show, since a query
/// can carry one-time tokens (a magic link, a password reset) that must not end up in logs.
pub(crate) fn path_of(value: &str) -> &str {
    value.split(['?', '#']).next().unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_same_origin_paths() {
        for ok in ["/", "/whoami", "/a/b?x=1&y=%20", "/search?q=a%2Fb"] {
            assert_eq!(sanitize(ok).as_deref(), Some(ok), "{ok}");
        }
    }

    #[test]
    fn refuses_other_origins_and_tricks() {
        for bad in [
            "",
            "whoami",
            "//evil.example",
            "///evil",
            "/\\evil",
            "\\\\evil",
            "https://evil.example",
            "javascript:alert(1)",
            "/%2F%2Fevil",
            "/%2f%2fevil",
            "/%2f/evil",
            "/%2F%5Cevil",
            "/%5Cevil",
            "/%5cevil",
            "/a%5Cb",
            "/a b",
            "/a\tb",
            "/a\nb",
            "/ü",
            "/x#frag",
            " /x",
        ] {
            assert_eq!(sanitize(bad), None, "{bad:?}");
        }
        assert_eq!(sanitize(&format!("/{}", "a".repeat(MAX_RETURN_TO))), None);
    }

    #[test]
    fn logs_see_the_path_only() {
        assert_eq!(path_of("/reset?token=s3cret"), "/reset");
        assert_eq!(path_of("/a/b"), "/a/b");
        assert_eq!(path_of("/a#x?y"), "/a");
    }

    /// The oracle's own percent-decoding (deliberately not the code under test): `%XX` with
    /// two hex digits becomes that byte; anything else stays as it is.
    fn percent_decode(value: &str) -> Vec<u8> {
        let bytes = value.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (bytes[i], hex) {
                (b'%', Some(byte)) => {
                    out.push(byte);
                    i += 3;
                }
                (byte, _) => {
                    out.push(byte);
                    i += 1;
                }
            }
        }
        out
    }

    /// Slash-prefixed values built from the pieces of open-redirect tricks: slashes,
    /// backslashes, encoded slashes and backslashes in both cases, `%` and hex digits, so
    /// that a good share of them is accepted and the oracle has something to check.
    const TRICKY: &str = "/(/|\\\\|%2[fF]|%5[cC]|%[0-9a-fA-F]{2}|%|[a-z0-9.:@?&=~-]){0,24}";

    /// The generator is worth its name: it yields accepted and refused values both, so the
    /// property above checks accepted values with encoded slashes in them.
    #[test]
    fn the_tricky_generator_yields_accepted_values() {
        use proptest::strategy::{Strategy, ValueTree};
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = TRICKY;
        let values: Vec<String> = (0..1000)
            .map(|_| strategy.new_tree(&mut runner).unwrap().current())
            .collect();
        let accepted: Vec<&String> = values.iter().filter(|v| sanitize(v).is_some()).collect();
        let with_encoding = accepted.iter().filter(|v| v.contains('%')).count();
        assert!(
            accepted.len() >= 100,
            "only {} of 1000 accepted",
            accepted.len()
        );
        assert!(accepted.len() <= 900, "{} of 1000 accepted", accepted.len());
        assert!(
            with_encoding >= 50,
            "only {with_encoding} accepted with a `%`"
        );
    }

    proptest! {
        #[test]
        fn accepted_values_are_relative_paths(s in prop_oneof![Just(String::new()), ".{0,64}", TRICKY]) {
            if let Some(v) = sanitize(&s) {
                prop_assert_eq!(&v, &s, "an accepted value is kept as it is");
                prop_assert!(v.starts_with('/'));
                prop_assert!(!v.starts_with("//"));
                prop_assert!(!v.contains('\\'));
                // A URL parser resolving it against our origin must stay on our origin.
                let base = url::Url::parse("https://app.example.com/").unwrap();
                prop_assert_eq!(base.join(&v).unwrap().origin(), base.origin());
                // Nor may a stack that percent-decodes it first read it as another origin.
                let decoded = percent_decode(&v);
                prop_assert!(
                    !decoded.starts_with(b"//") && !decoded.starts_with(b"/\\"),
                    "{:?} decodes to {:?}", v, String::from_utf8_lossy(&decoded)
                );
            }
        }
    }
}
