//! The role map as written in TOML or built in code: [`RoleMapConfig`], before validation.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};

use super::DENY;
use crate::words::list_or_words;

/// How claim values (groups, provider roles) become the app's roles, as written in TOML or
/// built in code; validated by [`RoleMap::new`](super::RoleMap::new).
///
/// - `rules`: group pattern → role, as a table (`{ admins = "admin", "team-*" = "trusted" }`)
///   or as a list (`[{ group = "admins", role = "admin" }]`). Patterns match case-insensitively
///   and may use `*` (any run of characters) and `?` (one character). A table's order depends
///   on the source (TOML and the environment sort keys); use the list form when the order of
///   the roles list matters (only without `order`).
/// - `order`: the roles from least to most privileged (a list or a `"a, b c"` string). With it a
///   user gets only the most privileged role matched, and a higher role satisfies a lower one.
/// - `default`: the role of users no rule or override matches, or `"deny"` to refuse their
///   login; absent, they get no role.
/// - `overrides`: `{ user, role }` entries matched against the `sub` (exact) or the username
///   (ignoring ASCII case only, so a look-alike such as the Kelvin sign `K` never matches
///   `k`). They add a role and never remove one. Prefer the `sub`: at some providers users can
///   edit their username.
///
/// ```
/// use oidc_layer::roles::RoleMapConfig;
///
/// let from_toml: RoleMapConfig = toml::from_str(r#"
///     rules = [{ group = "admins", role = "admin" }, { group = "users", role = "trusted" }]
///     order = "untrusted trusted admin"
///     default = "untrusted"
/// "#).unwrap();
/// let in_code = RoleMapConfig::new()
///     .rule("admins", "admin")
///     .rule("users", "trusted")
///     .order(["untrusted", "trusted", "admin"])
///     .default_role("untrusted");
/// assert_eq!(from_toml, in_code);
/// assert!(toml::from_str::<RoleMapConfig>("rule = {}").is_err()); // unknown keys are errors
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleMapConfig {
    #[serde(default)]
    pub(super) rules: RoleRules,
    #[serde(default, deserialize_with = "list_or_words")]
    pub(super) order: Option<Vec<String>>,
    #[serde(default)]
    pub(super) default: Option<Unmatched>,
    #[serde(default)]
    pub(super) overrides: Vec<RoleOverride>,
}

impl RoleMapConfig {
    /// No rules, no order, no default: everyone gets no role.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a rule: claim values matching `group_pattern` give `role`.
    pub fn rule(mut self, group_pattern: impl Into<String>, role: impl Into<String>) -> Self {
        self.rules.0.push(RoleRule {
            group: group_pattern.into(),
            role: role.into(),
        });
        self
    }
    /// The roles from least to most privileged.
    pub fn order(mut self, roles: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.order = Some(roles.into_iter().map(Into::into).collect());
        self
    }
    /// The role of users no rule matches (`"deny"` means [`deny_unmatched`](Self::deny_unmatched),
    /// as in TOML).
    pub fn default_role(mut self, role: impl Into<String>) -> Self {
        self.default = Some(Unmatched::from_word(role.into()));
        self
    }
    /// Refuses the login of users no rule or override matches.
    pub fn deny_unmatched(mut self) -> Self {
        self.default = Some(Unmatched::Deny);
        self
    }
    /// Gives `role` to the user whose `sub` is `user`, or whose username is `user` (ignoring ASCII
    /// case; other characters must match exactly).
    pub fn user_override(mut self, user: impl Into<String>, role: impl Into<String>) -> Self {
        self.overrides.push(RoleOverride {
            user: user.into(),
            role: role.into(),
        });
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RoleRule {
    pub(super) group: String,
    pub(super) role: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RoleOverride {
    pub(super) user: String,
    pub(super) role: String,
}

/// Rules as a table (pattern → role) or a list of `{ group, role }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct RoleRules(pub(super) Vec<RoleRule>);

impl<'de> Deserialize<'de> for RoleRules {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RulesVisitor;
        impl<'de> Visitor<'de> for RulesVisitor {
            type Value = RoleRules;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of `group pattern = role` or a list of `{ group, role }`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RoleRules, A::Error> {
                let mut rules = Vec::new();
                while let Some((group, role)) = map.next_entry::<String, String>()? {
                    rules.push(RoleRule { group, role });
                }
                Ok(RoleRules(rules))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RoleRules, A::Error> {
                let mut rules = Vec::new();
                while let Some(rule) = seq.next_element::<RoleRule>()? {
                    rules.push(rule);
                }
                Ok(RoleRules(rules))
            }
        }
        deserializer.deserialize_any(RulesVisitor)
    }
}

/// What happens to users no rule or override matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Unmatched {
    Role(String),
    Deny,
}

impl Unmatched {
    fn from_word(word: String) -> Self {
        if word.trim().eq_ignore_ascii_case(DENY) {
            Self::Deny
        } else {
            Self::Role(word)
        }
    }
}

impl<'de> Deserialize<'de> for Unmatched {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::from_word(String::deserialize(deserializer)?))
    }
}
