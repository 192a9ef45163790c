//! The `Authorization` header of a request as the bearer path reads it (RFC 6750 section 2.1,
//! RFC 9449 section 7.1): which scheme, which token, or why the header is malformed.
//!
//! Only the `Bearer` and `DPoP` schemes are ours; any other (`Basic`, ...) is left to the app.

use http::HeaderMap;
use http::header::AUTHORIZATION;

/// The two schemes an access token is presented with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `Authorization: Bearer <token>` (RFC 6750).
    Bearer,
    /// `Authorization: DPoP <token>` with a `DPoP` proof header (RFC 9449).
    Dpop,
}

/// What the request's `Authorization` header presents.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Presented<'a> {
    /// No header, or only another scheme's (left to the app).
    Nothing,
    /// An access token under `scheme`. Its characters are not checked here: a token that is
    /// not a valid token is the token's fault (`invalid_token`), not the request's.
    Token { scheme: Scheme, token: &'a str },
    /// A `Bearer` or `DPoP` header that cannot be read (`invalid_request`): the reason, safe
    /// to show (it never quotes the header).
    Malformed(&'static str),
}

/// Reads the request's `Authorization` header(s).
pub(crate) fn presented(headers: &HeaderMap) -> Presented<'_> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(first) = values.next() else {
        return Presented::Nothing;
    };
    let more = values.next().is_some();
    let ours = |value: &http::HeaderValue| scheme_of(value.as_bytes()).is_some();
    if more {
        // Which of several credentials counts is ambiguous: refuse rather than pick one.
        return if headers.get_all(AUTHORIZATION).iter().any(ours) {
            Presented::Malformed("more than one Authorization header")
        } else {
            Presented::Nothing
        };
    }
    let bytes = first.as_bytes();
    let Some((scheme, rest)) = scheme_of(bytes) else {
        return Presented::Nothing;
    };
    // `credentials = auth-scheme [ 1*SP token68 ]`: one or more spaces, then the token.
    let token = trim_spaces(rest);
    if token.is_empty() {
        return Presented::Malformed("the Authorization header has no token");
    }
    if token.contains(&b' ') {
        return Presented::Malformed("the Authorization header has more than one token");
    }
    match std::str::from_utf8(token) {
        Ok(token) if token.bytes().all(|b| b.is_ascii_graphic()) => {
            Presented::Token { scheme, token }
        }
        _ => Presented::Malformed("the Authorization header is not visible ASCII"),
    }
}

/// The scheme of a header value (case-insensitive, RFC 9110 section 11.1) when it is ours,
/// and what follows it. `Bearer` alone (no space, no token) is ours too, with nothing after.
fn scheme_of(value: &[u8]) -> Option<(Scheme, &[u8])> {
    let (name, rest) = match value.iter().position(|&b| b == b' ' || b == b'\t') {
        Some(at) => (&value[..at], &value[at..]),
        None => (value, &value[value.len()..]),
    };
    if name.eq_ignore_ascii_case(b"bearer") {
        Some((Scheme::Bearer, rest))
    } else if name.eq_ignore_ascii_case(b"dpop") {
        Some((Scheme::Dpop, rest))
    } else {
        None
    }
}

fn trim_spaces(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(start, |at| at + 1);
    &bytes[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    fn read(values: &[&[u8]]) -> Presented<'static> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(AUTHORIZATION, HeaderValue::from_bytes(v).unwrap());
        }
        // The headers live as long as the test: leak them for a 'static borrow.
        presented(Box::leak(Box::new(headers)))
    }

    #[test]
    fn schemes_are_case_insensitive_and_others_are_left_to_the_app() {
        let token = |scheme, token| Presented::Token { scheme, token };
        assert_eq!(read(&[b"Bearer abc.def"]), token(Scheme::Bearer, "abc.def"));
        assert_eq!(read(&[b"bearer  abc"]), token(Scheme::Bearer, "abc"));
        assert_eq!(read(&[b"BEARER abc="]), token(Scheme::Bearer, "abc="));
        assert_eq!(read(&[b"DPoP abc"]), token(Scheme::Dpop, "abc"));
        assert_eq!(read(&[b"dpop abc"]), token(Scheme::Dpop, "abc"));
        assert_eq!(read(&[]), Presented::Nothing);
        assert_eq!(read(&[b"Basic dXNlcjpwYXNz"]), Presented::Nothing);
        assert_eq!(read(&[b"Bearerx abc"]), Presented::Nothing);
        assert_eq!(read(&[b"Basic a", b"Basic b"]), Presented::Nothing);
    }

    #[test]
    fn malformed_headers_are_invalid_requests() {
        for bad in [&b"Bearer"[..], b"Bearer ", b"Bearer a b", b"DPoP  "] {
            assert!(
                matches!(read(&[bad]), Presented::Malformed(_)),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(
            read(&[b"Bearer \xff\xfe"]),
            Presented::Malformed(_)
        ));
        assert_eq!(
            read(&[b"Bearer a", b"Bearer b"]),
            Presented::Malformed("more than one Authorization header")
        );
        assert_eq!(
            read(&[b"Basic a", b"Bearer b"]),
            Presented::Malformed("more than one Authorization header")
        );
    }

    proptest! {
        #[test]
        fn any_header_is_read_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                let mut headers = HeaderMap::new();
                headers.insert(AUTHORIZATION, value);
                if let Presented::Token { token, .. } = presented(&headers) {
                    prop_assert!(!token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic()));
                }
            }
        }
    }
}
