//! Lists written as one string of words: `"openid profile email"`, `"admins, users"`.
//!
//! The one reading of such strings, shared by the configuration (TOML and environment lists),
//! the role map's `order` and claim values holding several groups in one string.

use serde::{Deserialize, Deserializer};

/// The words of `s`: separated by commas and whitespace, empty ones dropped.
pub(crate) fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
}

/// [`words`], owned.
pub(crate) fn split_words(s: &str) -> Vec<String> {
    words(s).map(str::to_owned).collect()
}

/// Accepts `["a", "b"]`, `"a b"` and `"a,b"` (environment variables carry lists as strings).
/// A list's items are kept as written, so that validation can name an empty one.
pub(crate) fn list_or_words<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrWords {
        List(Vec<String>),
        Words(String),
    }
    Ok(Option::<ListOrWords>::deserialize(d)?.map(|v| match v {
        ListOrWords::List(items) => items,
        ListOrWords::Words(s) => split_words(&s),
    }))
}

/// [`list_or_words`] with a list's items trimmed and the empty ones dropped, as the words of a
/// string are.
pub(crate) fn trimmed_list_or_words<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    Ok(list_or_words(d)?.map(|items| {
        items
            .into_iter()
            .filter_map(|item| {
                let trimmed = item.trim();
                if trimmed.is_empty() {
                    None
                } else if trimmed.len() == item.len() {
                    Some(item)
                } else {
                    Some(trimmed.to_owned())
                }
            })
            .collect()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Lists {
        #[serde(default, deserialize_with = "list_or_words")]
        as_written: Option<Vec<String>>,
        #[serde(default, deserialize_with = "trimmed_list_or_words")]
        trimmed: Option<Vec<String>>,
    }

    fn lists(json: &str) -> Lists {
        serde_json::from_str(json).expect("lists")
    }

    #[test]
    fn strings_split_on_commas_and_whitespace() {
        assert_eq!(split_words(" a,b  c,,\td\n"), ["a", "b", "c", "d"]);
        assert!(split_words(" , ").is_empty());
        let l = lists(r#"{ "as_written": " x, y ", "trimmed": "x,,y z" }"#);
        assert_eq!(l.as_written.unwrap(), ["x", "y"]);
        assert_eq!(l.trimmed.unwrap(), ["x", "y", "z"]);
    }

    #[test]
    fn list_items_are_trimmed_only_when_asked() {
        let l = lists(r#"{ "as_written": [" a ", "", "b"], "trimmed": [" a ", "", " ", "b"] }"#);
        assert_eq!(l.as_written.unwrap(), [" a ", "", "b"]);
        assert_eq!(l.trimmed.unwrap(), ["a", "b"]);
        let absent = lists("{}");
        assert!(absent.as_written.is_none() && absent.trimmed.is_none());
        assert!(serde_json::from_str::<Lists>(r#"{ "trimmed": 3 }"#).is_err());
    }
}
