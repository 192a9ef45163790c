//! Reading `application/x-www-form-urlencoded` input: query strings and the back-channel
//! logout body.

use std::borrow::Cow;

use url::form_urlencoded;

/// The percent-decoded `key=value` pairs of a query string (none without one).
pub(crate) fn pairs(query: Option<&str>) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query
        .into_iter()
        .flat_map(|q| form_urlencoded::parse(q.as_bytes()))
}

/// The value of the first `key` in a query string.
pub(crate) fn first(query: Option<&str>, key: &str) -> Option<String> {
    pairs(query)
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// A parameter that must appear at most once appeared twice: its name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Repeated(pub(crate) &'static str);

/// The values of `names` in `input`, each allowed at most once (RFC 6749 3.1); other keys are
/// ignored.
pub(crate) fn unique<const N: usize>(
    input: &[u8],
    names: [&'static str; N],
) -> Result<[Option<String>; N], Repeated> {
    let mut values = [const { None }; N];
    for (key, value) in form_urlencoded::parse(input) {
        let Some(i) = names.iter().position(|n| *n == key) else {
            continue;
        };
        if values[i].replace(value.into_owned()).is_some() {
            return Err(Repeated(names[i]));
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_first() {
        let q = Some("a=1&b=%2Fx&a=2");
        assert_eq!(pairs(q).count(), 3);
        assert_eq!(first(q, "a").as_deref(), Some("1"));
        assert_eq!(first(q, "b").as_deref(), Some("/x"));
        assert_eq!(first(q, "c"), None);
        assert_eq!(pairs(None).count(), 0);
    }

    #[test]
    fn unique_refuses_a_repeated_name_and_ignores_others() {
        assert_eq!(
            unique(b"x=1&b=2&a=1&x=3", ["a", "b"]),
            Ok([Some("1".to_owned()), Some("2".to_owned())])
        );
        assert_eq!(unique(b"a=1&a=1", ["a", "b"]), Err(Repeated("a")));
        assert_eq!(unique(b"", ["a"]), Ok([None]));
    }
}
