//! A provider's authorization-request settings: `extra_auth_params` (Auth0's `audience`,
//! RFC 8707 `resource`, `acr_values`, `ui_locales`, ...) and `max_age_seconds`.

use std::collections::BTreeMap;

use super::ConfigError;
use crate::login_options::MAX_MAX_AGE_SECONDS;

/// Parameters the layer sets itself, or that have a setting of their own: an extra of one of
/// these names would break the flow or weaken it (PKCE, state, nonce, the redirect URI), or
/// would leak a secret into the browser's address bar (client authentication).
pub(crate) const RESERVED_AUTH_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "request",
    "request_uri",
    "prompt",
    "max_age",
    "login_hint",
    "id_token_hint",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
];

/// At most this many extra parameters per provider.
pub(crate) const MAX_EXTRA_AUTH_PARAMS: usize = 16;
/// The longest name of an extra parameter.
const MAX_NAME: usize = 64;
/// The longest value of an extra parameter, and of all of them together (names included):
/// authorization URLs stay well under the 8 KB that servers and proxies accept.
const MAX_VALUE: usize = 1024;
const MAX_TOTAL: usize = 2048;

/// The extras, each name a token (letters, digits, `_ - . :`) the layer does not set itself,
/// each value printable; bounded in count and size.
pub(crate) fn validate_extra_auth_params(
    key: &str,
    params: Option<BTreeMap<String, String>>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let params = params.unwrap_or_default();
    if params.len() > MAX_EXTRA_AUTH_PARAMS {
        return Err(ConfigError::new(
            key,
            format!("at most {MAX_EXTRA_AUTH_PARAMS} parameters"),
        ));
    }
    let mut total = 0;
    for (name, value) in &params {
        let at = format!("{key}.{name}");
        let token = !name.is_empty()
            && name.len() <= MAX_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
        if !token {
            return Err(ConfigError::new(
                &at,
                format!(
                    "a parameter name is 1 to {MAX_NAME} letters, digits, `_`, `-`, `.` or `:`"
                ),
            ));
        }
        if RESERVED_AUTH_PARAMS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(ConfigError::new(
                &at,
                "is set by the layer (prompt, max_age and login_hint have settings of their own)",
            ));
        }
        if value.is_empty() || value.len() > MAX_VALUE || value.chars().any(char::is_control) {
            return Err(ConfigError::new(
                &at,
                format!("must be 1 to {MAX_VALUE} bytes without control characters"),
            ));
        }
        total += name.len() + value.len();
    }
    if total > MAX_TOTAL {
        return Err(ConfigError::new(
            key,
            format!("names and values together must stay under {MAX_TOTAL} bytes"),
        ));
    }
    Ok(params.into_iter().collect())
}

/// `max_age_seconds`: 0 (authenticate at every login) to a year.
pub(crate) fn validate_max_age(
    key: &str,
    seconds: Option<u64>,
) -> Result<Option<u64>, ConfigError> {
    match seconds {
        Some(s) if s > MAX_MAX_AGE_SECONDS => Err(ConfigError::new(
            key,
            format!("must be at most {MAX_MAX_AGE_SECONDS} seconds"),
        )),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        )
    }

    #[test]
    fn extras_are_kept_in_name_order() {
        let ok = validate_extra_auth_params(
            "extra_auth_params",
            params(&[
                ("ui_locales", "de fr"),
                ("audience", "https://api.example.com/"),
            ]),
        )
        .unwrap();
        assert_eq!(
            ok,
            [
                ("audience".to_owned(), "https://api.example.com/".to_owned()),
                ("ui_locales".to_owned(), "de fr".to_owned())
            ]
        );
        assert!(validate_extra_auth_params("k", None).unwrap().is_empty());
    }

    #[test]
    fn reserved_names_are_refused_naming_the_key() {
        for name in RESERVED_AUTH_PARAMS
            .iter()
            .chain(&["Redirect_URI", "STATE"])
        {
            let e = validate_extra_auth_params(
                "providers[0].extra_auth_params",
                params(&[(name, "x")]),
            )
            .unwrap_err();
            assert_eq!(e.key, format!("providers[0].extra_auth_params.{name}"));
        }
    }

    #[test]
    fn bad_names_values_and_sizes_are_refused() {
        for (name, value) in [
            ("", "x"),
            ("a b", "x"),
            ("a&b", "x"),
            ("a=b", "x"),
            ("audience", ""),
            ("audience", "a\nb"),
            ("audience", "a\u{7f}"),
        ] {
            assert!(
                validate_extra_auth_params("k", params(&[(name, value)])).is_err(),
                "{name:?}={value:?}"
            );
        }
        let long_name = "n".repeat(MAX_NAME + 1);
        assert!(validate_extra_auth_params("k", params(&[(&long_name, "x")])).is_err());
        let long_value = "v".repeat(MAX_VALUE + 1);
        assert!(validate_extra_auth_params("k", params(&[("a", &long_value)])).is_err());
        let v = "v".repeat(MAX_VALUE);
        let e = validate_extra_auth_params("k", params(&[("a", &v), ("b", &v), ("c", &v)]))
            .unwrap_err();
        assert_eq!(e.key, "k");
        let many: Vec<(String, String)> = (0..=MAX_EXTRA_AUTH_PARAMS)
            .map(|i| (format!("p{i}"), "x".into()))
            .collect();
        let many = Some(many.into_iter().collect());
        assert!(validate_extra_auth_params("k", many).is_err());
    }

    #[test]
    fn max_age_is_bounded() {
        assert_eq!(validate_max_age("m", None), Ok(None));
        assert_eq!(validate_max_age("m", Some(0)), Ok(Some(0)));
        assert!(validate_max_age("m", Some(MAX_MAX_AGE_SECONDS + 1)).is_err());
    }
}
