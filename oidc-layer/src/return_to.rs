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

    proptest! {
        #[test]
        fn accepted_values_are_relative_paths(s in ".{0,64}") {
            if let Some(v) = sanitize(&s) {
                prop_assert!(v.starts_with('/'));
                prop_assert!(!v.starts_with("//"));
                prop_assert!(!v.contains('\\'));
                // A URL parser resolving it against our origin must stay on our origin.
                let base = url::Url::parse("https://app.example.com/").unwrap();
                prop_assert_eq!(base.join(&v).unwrap().origin(), base.origin());
            }
        }
    }
}
