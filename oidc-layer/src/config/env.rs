//! Environment variables → the same table TOML gives: `OIDC_CLIENT_ID` is `client_id`,
//! `OIDC_ROLES__RULES__ADMINS` is `roles.rules.admins`, `OIDC_PROVIDERS__1__ISSUER` is
//! `providers[1].issuer`. Values are strings except for the few keys that are booleans, whole
//! numbers or lists of words.

use std::collections::BTreeMap;

use super::ConfigError;

const BOOLEAN_KEYS: &[&str] = &[
    "allow_insecure_http",
    "allow_new_users",
    "link_by_verified_email",
    "fetch_userinfo",
    "session_follows_token",
    "expose_access_token",
    "legacy_access_token_typ",
    "introspection",
    "proxy_keeps_prefix",
    "silent_login",
];
const NUMBER_KEYS: &[&str] = &[
    "clock_leeway_seconds",
    "session_max_age_seconds",
    "session_idle_timeout_seconds",
    "max_sessions_per_user",
    "app_data_max_bytes",
    "refresh_margin_seconds",
    "id_token_max_age_seconds",
    "introspection_cache_seconds",
    "max_age_seconds",
];
/// Keys whose value is a list but whose deserializer does not take a string.
const WORD_LIST_KEYS: &[&str] = &["order"];

/// A nested key tree before it becomes a TOML value (numeric keys become arrays).
#[derive(Default)]
struct Node {
    value: Option<toml::Value>,
    children: BTreeMap<String, Node>,
}

impl Node {
    fn into_value(self, path: &str) -> Result<toml::Value, ConfigError> {
        match (self.value, self.children.is_empty()) {
            (Some(value), true) => Ok(value),
            (Some(_), false) => Err(ConfigError::new(
                path,
                "is set both as a value and as a table",
            )),
            (None, _) => {
                let numeric = self.children.keys().all(|k| k.parse::<usize>().is_ok());
                if numeric {
                    let mut items: Vec<(usize, Node)> = self
                        .children
                        .into_iter()
                        .filter_map(|(k, v)| Some((k.parse().ok()?, v)))
                        .collect();
                    items.sort_by_key(|(i, _)| *i);
                    let values = items
                        .into_iter()
                        .map(|(i, node)| node.into_value(&format!("{path}[{i}]")))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(toml::Value::Array(values))
                } else {
                    let mut table = toml::Table::new();
                    for (k, node) in self.children {
                        let child = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        table.insert(k, node.into_value(&child)?);
                    }
                    Ok(toml::Value::Table(table))
                }
            }
        }
    }
}

fn typed(name: &str, key: &str, value: String) -> Result<toml::Value, ConfigError> {
    if BOOLEAN_KEYS.contains(&key) {
        return match value.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(toml::Value::Boolean(true)),
            "0" | "false" | "no" | "off" | "" => Ok(toml::Value::Boolean(false)),
            _ => Err(ConfigError::new(
                key,
                format!("{name} must be true or false"),
            )),
        };
    }
    if NUMBER_KEYS.contains(&key) {
        return value
            .trim()
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| ConfigError::new(key, format!("{name} must be a whole number")));
    }
    if WORD_LIST_KEYS.contains(&key) {
        return Ok(toml::Value::Array(
            crate::words::split_words(&value)
                .into_iter()
                .map(toml::Value::String)
                .collect(),
        ));
    }
    Ok(toml::Value::String(value))
}

/// The table that the variables starting with `prefix` describe.
pub(super) fn table_from_vars(
    prefix: &str,
    vars: impl Iterator<Item = (String, String)>,
) -> Result<toml::Table, ConfigError> {
    let mut root = Node::default();
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        let segments: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if segments.iter().any(String::is_empty) {
            return Err(ConfigError::new(
                "environment",
                format!("{name} has an empty key segment"),
            ));
        }
        // An extra authorization parameter is a string whatever its name.
        let leaf = match segments.as_slice() {
            [.., table, _] if table == "extra_auth_params" => String::new(),
            _ => segments.last().cloned().unwrap_or_default(),
        };
        let mut node = &mut root;
        for segment in &segments {
            node = node.children.entry(segment.clone()).or_default();
        }
        node.value = Some(typed(&name, &leaf, value)?);
    }
    match root.into_value("")? {
        toml::Value::Table(table) => Ok(table),
        _ => Ok(toml::Table::new()),
    }
}
