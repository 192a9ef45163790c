//! From verified claims to the app's roles: where a claim lives ([`ClaimPath`]), what values it
//! holds ([`claim_values`]), which roles those values give ([`RoleMap`]) and why
//! ([`RoleExplanation`]), and which claims must be `true` for a login to count
//! ([`check_required_claims`]).
//!
//! Everything here is pure logic over already verified claims: no I/O, no panics on hostile
//! tokens, bounded work.
//!
//! ```
//! use oidc_layer::roles::{ClaimPath, RoleDecision, RoleMap, RoleMapConfig, check_required_claims, claim_values};
//! use serde_json::json;
//!
//! // AudioBookRequest's mapping: admins → admin, users → trusted, anyone else → untrusted.
//! let config: RoleMapConfig = toml::from_str(r#"
//!     rules = { admins = "admin", users = "trusted", "team-*" = "trusted" }
//!     order = ["untrusted", "trusted", "admin"]
//!     default = "untrusted"
//!     overrides = [{ user = "alice", role = "admin" }]
//! "#).unwrap();
//! let map = RoleMap::new(config).unwrap();
//!
//! // Keycloak puts realm roles under `realm_access.roles`.
//! let claims = json!({ "sub": "42", "realm_access": { "roles": ["Users", "offline_access"] } });
//! let claims = claims.as_object().unwrap();
//! let groups_claim = ClaimPath::new("realm_access/roles");
//! let groups = groups_claim.lookup(claims).map(claim_values).unwrap_or_default();
//! assert_eq!(groups, ["Users", "offline_access"]);
//!
//! let RoleDecision::Granted { roles, explanation } = map.decide(&groups, "bob", "42") else { panic!() };
//! assert_eq!(roles, ["trusted"]);
//! assert!(explanation.to_string().contains(r#"group "Users" matched rule "users" -> trusted"#));
//! // With an order, a higher role satisfies a lower requirement.
//! assert!(map.satisfies(&roles, "untrusted") && !map.satisfies(&roles, "admin"));
//! assert_eq!(map.rank("admin"), Some(2));
//! assert_eq!(map.implied_by(&["admin".to_owned()]), ["untrusted", "trusted"]);
//!
//! // A string group claim is split on commas and whitespace; a Zitadel role object gives its keys.
//! assert_eq!(claim_values(&json!("admins, users")), ["admins", "users"]);
//! assert_eq!(claim_values(&json!({ "admin": { "1234": "org.example.com" } })), ["admin"]);
//!
//! // Jellyseerr-style required claims: only the JSON boolean `true` passes.
//! let claims = json!({ "jellyseerr_user": "true" });
//! let required = [ClaimPath::new("jellyseerr_user")];
//! assert_eq!(check_required_claims(claims.as_object().unwrap(), &required), Err("jellyseerr_user".to_owned()));
//! ```
//!
//! The same configuration in code, with logins refused when no rule matches:
//!
//! ```
//! use oidc_layer::roles::{RoleDecision, RoleMapConfig};
//!
//! let map = RoleMapConfig::new()
//!     .rule("media-admins", "admin")
//!     .rule("media-*", "user")
//!     .deny_unmatched()
//!     .build()
//!     .unwrap();
//! // Without an order every matched role is kept, in rule order.
//! let granted = map.decide(&["Media-Admins".to_owned()], "carol", "c-1");
//! assert_eq!(granted.roles(), Some(&["admin".to_owned(), "user".to_owned()][..]));
//! let denied = map.decide(&["staff".to_owned()], "mallory", "m-1");
//! assert!(matches!(denied, RoleDecision::Denied { .. }));
//! println!("{}", denied.explanation()); // "... no rule or override matched: login denied ..."
//! ```

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

/// At most this many values are taken from one claim (a hostile token may send millions).
pub const MAX_CLAIM_VALUES: usize = 1024;
/// Claim values longer than this many bytes are dropped.
pub const MAX_CLAIM_VALUE_LEN: usize = 1024;
/// At most this many rules (and this many overrides) in one [`RoleMapConfig`].
pub const MAX_RULES: usize = 1000;
/// A [`RoleExplanation`] lists at most this many matches in all, and this many per rule.
const MAX_EXPLAINED_MATCHES: usize = 32;
const MAX_EXPLAINED_PER_RULE: usize = 3;

/// The word that, as `default`, refuses logins no rule matches; it cannot be a role name.
const DENY: &str = "deny";

// ---------------------------------------------------------------------------------------------
// Claim paths and values
// ---------------------------------------------------------------------------------------------

/// Where a claim lives: a top-level name (`groups`, `urn:zitadel:iam:org:project:roles`,
/// `https://example.com/roles`) or a `/`-separated path into nested objects
/// (`realm_access/roles`, `resource_access/my-client/roles`; `~1` is a `/` and `~0` a `~`
/// inside a segment, as in JSON pointers; a segment may index an array).
///
/// The whole string is first tried as a top-level claim name, and only when no such claim
/// exists is it split into a path, so URL claim names with slashes work as written.
///
/// ```
/// use oidc_layer::roles::ClaimPath;
/// use serde_json::json;
///
/// let claims = json!({
///     "https://example.com/roles": ["admin"],
///     "resource_access": { "my-client": { "roles": ["editor"] } },
/// });
/// let claims = claims.as_object().unwrap();
/// assert_eq!(ClaimPath::new("https://example.com/roles").lookup(claims), Some(&json!(["admin"])));
/// assert_eq!(ClaimPath::new("resource_access/my-client/roles").lookup(claims), Some(&json!(["editor"])));
/// assert_eq!(ClaimPath::new("groups").lookup(claims), None);
/// assert_eq!(ClaimPath::new("realm_access/roles").to_string(), "realm_access/roles");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClaimPath {
    /// As configured (trimmed); also the top-level name tried first.
    name: String,
    /// The unescaped path segments, when the name could be a path (contains `/` or `~`).
    segments: Option<Vec<String>>,
}

impl ClaimPath {
    /// A claim path from its configured text (surrounding whitespace is ignored).
    pub fn new(name: impl Into<String>) -> Self {
        let mut name: String = name.into();
        let trimmed = name.trim();
        if trimmed.len() != name.len() {
            name = trimmed.to_owned();
        }
        let segments = name.contains(['/', '~']).then(|| {
            name.strip_prefix('/')
                .unwrap_or(&name)
                .split('/')
                .map(|s| s.replace("~1", "/").replace("~0", "~"))
                .collect()
        });
        Self { name, segments }
    }

    /// The path as configured.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The claim's value: the top-level claim named by the whole string if there is one,
    /// otherwise the value at the path.
    pub fn lookup<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        if let Some(value) = claims.get(&self.name) {
            return Some(value);
        }
        let (first, rest) = self.segments.as_deref()?.split_first()?;
        let mut current = claims.get(first)?;
        for segment in rest {
            current = match current {
                Value::Object(map) => map.get(segment)?,
                Value::Array(items) => items.get(array_index(segment)?)?,
                _ => return None,
            };
        }
        Some(current)
    }
}

/// A JSON-pointer array index: digits without a leading zero.
fn array_index(segment: &str) -> Option<usize> {
    let canonical = segment == "0"
        || (!segment.starts_with('0') && segment.bytes().all(|b| b.is_ascii_digit()));
    if canonical {
        segment.parse().ok()
    } else {
        None
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl Serialize for ClaimPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for ClaimPath {
    /// From a non-empty string.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        if name.trim().is_empty() {
            return Err(de::Error::custom("a claim name cannot be empty"));
        }
        Ok(Self::new(name))
    }
}

/// The string values of a claim, as group or role names:
///
/// - a list: its strings (numbers as their decimal text; other items ignored),
/// - a string: split on commas and whitespace,
/// - an object: its keys (Zitadel's `{"admin": {"<org id>": "<domain>"}}`),
/// - anything else: nothing.
///
/// Empty values are dropped, and so are values longer than [`MAX_CLAIM_VALUE_LEN`] bytes; at
/// most [`MAX_CLAIM_VALUES`] are returned.
///
/// ```
/// use oidc_layer::roles::claim_values;
/// use serde_json::json;
///
/// assert_eq!(claim_values(&json!(["admins", 7, null, "users"])), ["admins", "7", "users"]);
/// assert_eq!(claim_values(&json!(" admins,users  staff ")), ["admins", "users", "staff"]);
/// assert_eq!(claim_values(&json!({ "admin": {}, "viewer": {} })), ["admin", "viewer"]);
/// assert!(claim_values(&json!(true)).is_empty());
/// ```
pub fn claim_values(value: &Value) -> Vec<String> {
    let mut values = Vec::new();
    // Returns whether to keep going.
    let mut take = |s: &str| {
        if !s.is_empty() && s.len() <= MAX_CLAIM_VALUE_LEN {
            values.push(s.to_owned());
        }
        values.len() < MAX_CLAIM_VALUES
    };
    match value {
        Value::Array(items) => {
            for item in items {
                let more = match item {
                    Value::String(s) => take(s),
                    Value::Number(n) => take(&n.to_string()),
                    _ => true,
                };
                if !more {
                    break;
                }
            }
        }
        Value::String(s) => {
            for word in s.split(|c: char| c == ',' || c.is_whitespace()) {
                if !take(word) {
                    break;
                }
            }
        }
        Value::Object(map) => {
            for key in map.keys() {
                if !take(key) {
                    break;
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    values
}

/// Checks that every required claim is the JSON boolean `true` (the string `"true"` or `1` is
/// not); on failure returns the first failing claim's name as configured.
///
/// ```
/// use oidc_layer::roles::{ClaimPath, check_required_claims};
/// use serde_json::json;
///
/// let claims = json!({ "seq_user": true, "app": { "enabled": 1 } });
/// let claims = claims.as_object().unwrap();
/// assert_eq!(check_required_claims(claims, &[ClaimPath::new("seq_user")]), Ok(()));
/// assert_eq!(check_required_claims(claims, &[ClaimPath::new("app/enabled")]), Err("app/enabled".to_owned()));
/// ```
pub fn check_required_claims(
    claims: &Map<String, Value>,
    required: &[ClaimPath],
) -> Result<(), String> {
    match required
        .iter()
        .find(|path| path.lookup(claims) != Some(&Value::Bool(true)))
    {
        Some(failed) => Err(failed.to_string()),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// How claim values (groups, provider roles) become the app's roles, as written in TOML or
/// built in code; validated by [`RoleMap::new`].
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
    rules: RoleRules,
    #[serde(default, deserialize_with = "list_or_words")]
    order: Option<Vec<String>>,
    #[serde(default)]
    default: Option<Unmatched>,
    #[serde(default)]
    overrides: Vec<RoleOverride>,
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
    /// Validates the configuration: the same as [`RoleMap::new`].
    pub fn build(self) -> Result<RoleMap, String> {
        RoleMap::new(self)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleRule {
    group: String,
    role: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleOverride {
    user: String,
    role: String,
}

/// Rules as a table (pattern → role) or a list of `{ group, role }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct RoleRules(Vec<RoleRule>);

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
enum Unmatched {
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

/// Accepts `["a", "b"]`, `"a b"` and `"a,b"`.
fn list_or_words<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrWords {
        List(Vec<String>),
        Words(String),
    }
    Ok(
        Option::<ListOrWords>::deserialize(deserializer)?.map(|v| match v {
            ListOrWords::List(items) => items,
            ListOrWords::Words(words) => crate::config::split_words(&words),
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// The validated map and its decisions
// ---------------------------------------------------------------------------------------------

/// A validated [`RoleMapConfig`]: decides a user's roles from their claim values.
///
/// ```
/// use oidc_layer::roles::{RoleMap, RoleMapConfig};
///
/// let bad = RoleMapConfig::new().rule("admins", "admin").order(["user"]);
/// assert_eq!(RoleMap::new(bad).unwrap_err(), r#"rules[0] ("admins" = "admin"): role `admin` is not in `order`"#);
/// ```
#[derive(Debug, Clone)]
pub struct RoleMap {
    rules: Vec<Rule>,
    /// Lowercased wildcard-free pattern → indices of its rules.
    exact: HashMap<String, Vec<usize>>,
    /// Indices of the rules whose pattern has a wildcard.
    globs: Vec<usize>,
    order: Option<Vec<String>>,
    unmatched: Option<Unmatched>,
    overrides: Vec<Override>,
}

#[derive(Debug, Clone)]
struct Rule {
    pattern: String,
    lowercase: Vec<char>,
    role: String,
}

#[derive(Debug, Clone)]
struct Override {
    user: String,
    user_lowercase: String,
    role: String,
}

impl RoleMap {
    /// Validates `config`. The error names the bad entry: an empty pattern, role or user, more
    /// than [`MAX_RULES`] rules or overrides, the reserved role name `deny`, a role listed twice
    /// in `order`, or (when `order` is given) a role of a rule, the default or an override that
    /// `order` does not list.
    pub fn new(config: RoleMapConfig) -> Result<Self, String> {
        let RoleMapConfig {
            rules,
            order,
            default,
            overrides,
        } = config;
        let rules = rules.0;
        if rules.len() > MAX_RULES {
            return Err(format!(
                "rules: {} rules, at most {MAX_RULES} are allowed",
                rules.len()
            ));
        }
        if overrides.len() > MAX_RULES {
            return Err(format!(
                "overrides: {} overrides, at most {MAX_RULES} are allowed",
                overrides.len()
            ));
        }
        let order = match order {
            None => None,
            Some(order) => {
                let order: Vec<String> = order.into_iter().map(|r| r.trim().to_owned()).collect();
                if order.is_empty() {
                    return Err("order: the list is empty".to_owned());
                }
                for (i, role) in order.iter().enumerate() {
                    check_role_name(role).map_err(|e| format!("order[{i}]: {e}"))?;
                    if order[..i].contains(role) {
                        return Err(format!("order: role `{role}` is listed twice"));
                    }
                }
                Some(order)
            }
        };
        let ordered = |role: &str| order.as_ref().is_none_or(|o| o.iter().any(|r| r == role));

        let mut compiled = Vec::with_capacity(rules.len());
        let mut exact: HashMap<String, Vec<usize>> = HashMap::new();
        let mut globs = Vec::new();
        for (i, RoleRule { group, role }) in rules.into_iter().enumerate() {
            let entry = format!("rules[{i}] ({group:?} = {role:?})");
            let pattern = group.trim().to_owned();
            let role = role.trim().to_owned();
            if pattern.is_empty() {
                return Err(format!("{entry}: the group pattern is empty"));
            }
            check_role_name(&role).map_err(|e| format!("{entry}: {e}"))?;
            if !ordered(&role) {
                return Err(format!("{entry}: role `{role}` is not in `order`"));
            }
            let lowercase = pattern.to_lowercase();
            if lowercase.contains(['*', '?']) {
                globs.push(i);
            } else {
                exact.entry(lowercase.clone()).or_default().push(i);
            }
            compiled.push(Rule {
                pattern,
                lowercase: lowercase.chars().collect(),
                role,
            });
        }

        let unmatched = match default {
            Some(Unmatched::Role(role)) => {
                let role = role.trim().to_owned();
                check_role_name(&role).map_err(|e| format!("default: {e}"))?;
                if !ordered(&role) {
                    return Err(format!("default: role `{role}` is not in `order`"));
                }
                Some(Unmatched::Role(role))
            }
            other => other,
        };

        let mut compiled_overrides = Vec::with_capacity(overrides.len());
        for (i, RoleOverride { user, role }) in overrides.into_iter().enumerate() {
            let entry = format!("overrides[{i}] (user {user:?})");
            let user = user.trim().to_owned();
            let role = role.trim().to_owned();
            if user.is_empty() {
                return Err(format!("{entry}: the user is empty"));
            }
            check_role_name(&role).map_err(|e| format!("{entry}: {e}"))?;
            if !ordered(&role) {
                return Err(format!("{entry}: role `{role}` is not in `order`"));
            }
            compiled_overrides.push(Override {
                // ASCII only: Unicode folding maps look-alikes (the Kelvin sign `K`) to ASCII
                // letters, which would let a user pick a name that matches someone else's.
                user_lowercase: user.to_ascii_lowercase(),
                user,
                role,
            });
        }

        Ok(Self {
            rules: compiled,
            exact,
            globs,
            order,
            unmatched,
            overrides: compiled_overrides,
        })
    }

    /// The roles from least to most privileged, when an order is configured.
    pub fn order(&self) -> Option<&[String]> {
        self.order.as_deref()
    }

    /// The position of `role` in the order (0 is the least privileged); `None` without an
    /// order or for a role the order does not list.
    pub fn rank(&self, role: &str) -> Option<usize> {
        self.order.as_ref()?.iter().position(|r| r == role)
    }

    /// Whether holding `held` satisfies a requirement of `required`: with an order, some held
    /// role ranks at least as high; always, holding `required` itself.
    pub fn satisfies(&self, held: &[String], required: &str) -> bool {
        if held.iter().any(|r| r == required) {
            return true;
        }
        match self.rank(required) {
            Some(needed) => held
                .iter()
                .filter_map(|r| self.rank(r))
                .any(|rank| rank >= needed),
            None => false,
        }
    }

    /// The roles `held` implies through the order and does not already contain (an `admin`
    /// implies `untrusted` and `trusted` with `untrusted < trusted < admin`), least privileged
    /// first; empty without an order.
    pub fn implied_by(&self, held: &[String]) -> Vec<String> {
        let (Some(order), Some(top)) =
            (&self.order, held.iter().filter_map(|r| self.rank(r)).max())
        else {
            return Vec::new();
        };
        order[..top]
            .iter()
            .filter(|r| !held.contains(r))
            .cloned()
            .collect()
    }

    /// Decides the roles of a user with these claim values (`groups`), `username` and `sub`.
    ///
    /// Every rule any value matches gives its role, and so does every override for the user.
    /// With an order only the most privileged of those roles is kept; without, all of them,
    /// deduplicated, rules first in rule order. When nothing matches, the default applies. Empty
    /// values and values longer than [`MAX_CLAIM_VALUE_LEN`] are ignored (as [`claim_values`]
    /// drops them). The decision does not depend on the order of `groups`.
    pub fn decide(&self, groups: &[String], username: &str, sub: &str) -> RoleDecision {
        let mut hits: BTreeSet<(usize, &str)> = BTreeSet::new();
        let mut checked: BTreeSet<&str> = BTreeSet::new();
        for value in groups {
            if value.is_empty() || value.len() > MAX_CLAIM_VALUE_LEN || !checked.insert(value) {
                continue;
            }
            let lowercase = value.to_lowercase();
            if let Some(indices) = self.exact.get(&lowercase) {
                hits.extend(indices.iter().map(|&i| (i, value.as_str())));
            }
            if !self.globs.is_empty() {
                let chars: Vec<char> = lowercase.chars().collect();
                for &i in &self.globs {
                    if glob_match(&self.rules[i].lowercase, &chars) {
                        hits.insert((i, value));
                    }
                }
            }
        }
        // Roles come from every hit; the explanation lists a bounded sample (it is logged and
        // kept in the session, and a catch-all rule may match a thousand values).
        let mut matches: Vec<RuleMatch> = Vec::new();
        let mut matches_omitted = 0;
        let mut listed_for_rule = (usize::MAX, 0);
        for &(i, value) in &hits {
            listed_for_rule = if listed_for_rule.0 == i {
                (i, listed_for_rule.1 + 1)
            } else {
                (i, 1)
            };
            if matches.len() >= MAX_EXPLAINED_MATCHES || listed_for_rule.1 > MAX_EXPLAINED_PER_RULE
            {
                matches_omitted += 1;
                continue;
            }
            matches.push(RuleMatch {
                value: value.to_owned(),
                rule: i,
                pattern: self.rules[i].pattern.clone(),
                role: self.rules[i].role.clone(),
            });
        }

        let username_lowercase = username.to_ascii_lowercase();
        let overrides: Vec<OverrideMatch> = self
            .overrides
            .iter()
            .filter_map(|o| {
                let matched_on = if !sub.is_empty() && o.user == sub {
                    MatchedOn::Sub
                } else if !username.is_empty() && o.user_lowercase == username_lowercase {
                    MatchedOn::Username
                } else {
                    return None;
                };
                Some(OverrideMatch {
                    user: o.user.clone(),
                    matched_on,
                    role: o.role.clone(),
                })
            })
            .collect();

        let mut matched_roles: Vec<String> = Vec::new();
        for role in hits
            .iter()
            .map(|&(i, _)| &self.rules[i].role)
            .chain(overrides.iter().map(|o| &o.role))
        {
            if !matched_roles.contains(role) {
                matched_roles.push(role.clone());
            }
        }

        let mut explanation = RoleExplanation {
            values_checked: checked.len(),
            matches,
            matches_omitted,
            overrides,
            matched_roles,
            picked_by_order: false,
            unmatched: None,
            roles: Vec::new(),
            denied: false,
        };
        if explanation.matched_roles.is_empty() {
            match &self.unmatched {
                Some(Unmatched::Deny) => {
                    explanation.unmatched = Some(UnmatchedAction::Deny);
                    explanation.denied = true;
                    return RoleDecision::Denied { explanation };
                }
                Some(Unmatched::Role(role)) => {
                    explanation.unmatched =
                        Some(UnmatchedAction::DefaultRole { role: role.clone() });
                    explanation.roles = vec![role.clone()];
                }
                None => explanation.unmatched = Some(UnmatchedAction::NoRole),
            }
        } else if self.order.is_some() {
            // Every configured role is in the order (validated), so a top role exists.
            let top = explanation
                .matched_roles
                .iter()
                .filter_map(|r| Some((self.rank(r)?, r)))
                .max();
            explanation.roles = match top {
                Some((_, role)) => vec![role.clone()],
                None => explanation.matched_roles.clone(),
            };
            explanation.picked_by_order = explanation.matched_roles.len() > 1;
        } else {
            explanation.roles = explanation.matched_roles.clone();
        }
        RoleDecision::Granted {
            roles: explanation.roles.clone(),
            explanation,
        }
    }
}

/// Role names are not empty, hold no control characters, and are not the reserved `deny`.
fn check_role_name(role: &str) -> Result<(), String> {
    if role.is_empty() {
        return Err("the role is empty".to_owned());
    }
    if role.eq_ignore_ascii_case(DENY) {
        return Err(
            "`deny` is not a role name: use `default = \"deny\"` to refuse unmatched users"
                .to_owned(),
        );
    }
    if role.chars().any(char::is_control) {
        return Err(format!("role {role:?} contains control characters"));
    }
    Ok(())
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters (also none) and
/// `?` exactly one. The classic two-pointer algorithm: on a mismatch it resumes after the last
/// `*`, one character further, so it never backtracks further than that — at most
/// `pattern.len() * text.len()` steps, with no exponential blow-up.
fn glob_match(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    // The position after the last `*` seen, and the text position it is currently tried at.
    let mut resume: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                p += 1;
                resume = Some((p, t));
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match resume {
                Some((after_star, tried_at)) => {
                    p = after_star;
                    t = tried_at + 1;
                    resume = Some((after_star, t));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

// ---------------------------------------------------------------------------------------------
// Decisions and explanations
// ---------------------------------------------------------------------------------------------

/// The outcome of [`RoleMap::decide`].
///
/// ```
/// use oidc_layer::roles::{RoleDecision, RoleMapConfig};
///
/// let map = RoleMapConfig::new().rule("admins", "admin").build().unwrap();
/// match map.decide(&[], "dave", "d-1") {
///     RoleDecision::Granted { roles, .. } => assert!(roles.is_empty()), // no default: no role
///     RoleDecision::Denied { .. } => unreachable!(),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum RoleDecision {
    /// The user may log in with these roles (possibly none).
    Granted {
        /// The app roles: one with an order, all matched without, or the default.
        roles: Vec<String>,
        /// Why.
        explanation: RoleExplanation,
    },
    /// The login is refused: nothing matched and the default is `deny`.
    Denied {
        /// Why.
        explanation: RoleExplanation,
    },
}

impl RoleDecision {
    /// The granted roles, or `None` when denied.
    pub fn roles(&self) -> Option<&[String]> {
        match self {
            Self::Granted { roles, .. } => Some(roles),
            Self::Denied { .. } => None,
        }
    }
    /// Why the decision came out this way.
    pub fn explanation(&self) -> &RoleExplanation {
        match self {
            Self::Granted { explanation, .. } | Self::Denied { explanation } => explanation,
        }
    }
}

/// Why a user has their roles, for an admin page (`Serialize`, structured) or the logs
/// (`Display`, one line per step; claim values are quoted and escaped).
///
/// ```
/// use oidc_layer::roles::RoleMapConfig;
///
/// let map = RoleMapConfig::new()
///     .rule("admins", "admin")
///     .rule("users", "trusted")
///     .order(["untrusted", "trusted", "admin"])
///     .default_role("untrusted")
///     .build()
///     .unwrap();
/// let decision = map.decide(&["users".to_owned(), "Admins".to_owned()], "bob", "b-1");
/// assert_eq!(decision.explanation().to_string(), "\
/// checked 2 claim values
/// group \"Admins\" matched rule \"admins\" -> admin
/// group \"users\" matched rule \"users\" -> trusted
/// most privileged in the role order: admin (matched admin, trusted)
/// roles: admin");
/// let json = serde_json::to_value(decision.explanation()).unwrap();
/// assert_eq!(json["matches"][0]["pattern"], "admins");
/// assert_eq!(json["roles"], serde_json::json!(["admin"]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RoleExplanation {
    /// How many distinct claim values were checked against the rules.
    pub values_checked: usize,
    /// The (value, rule) pairs that matched, by rule then value (a bounded sample: see
    /// `matches_omitted`; `matched_roles` counts them all).
    pub matches: Vec<RuleMatch>,
    /// How many more (value, rule) pairs matched than `matches` lists (it lists at most
    /// 3 values per rule and 32 in all).
    pub matches_omitted: usize,
    /// The overrides that applied to the user.
    pub overrides: Vec<OverrideMatch>,
    /// The roles rules and overrides gave, deduplicated, rules first.
    pub matched_roles: Vec<String>,
    /// Whether the order picked one role out of several.
    pub picked_by_order: bool,
    /// What happened because nothing matched (`None` when something did).
    pub unmatched: Option<UnmatchedAction>,
    /// The final roles (empty when denied).
    pub roles: Vec<String>,
    /// Whether the login is refused.
    pub denied: bool,
}

/// A claim value that matched a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RuleMatch {
    /// The claim value as the token had it.
    pub value: String,
    /// The rule's index in the configuration (from 0).
    pub rule: usize,
    /// The rule's pattern.
    pub pattern: String,
    /// The role it gives.
    pub role: String,
}

/// An override that applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct OverrideMatch {
    /// The override's `user` as configured.
    pub user: String,
    /// Whether it matched the `sub` or the username.
    pub matched_on: MatchedOn,
    /// The role it gives.
    pub role: String,
}

/// What an override matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedOn {
    /// The subject (exact).
    Sub,
    /// The username (ignoring ASCII case).
    Username,
}

/// What happened to a user no rule or override matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum UnmatchedAction {
    /// The configured default role was given.
    DefaultRole {
        /// The default role.
        role: String,
    },
    /// The login was refused (`default = "deny"`).
    Deny,
    /// No default is configured: no role.
    NoRole,
}

impl fmt::Display for RoleExplanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "checked {} claim value{}",
            self.values_checked,
            if self.values_checked == 1 { "" } else { "s" }
        )?;
        for m in &self.matches {
            write!(
                f,
                "\ngroup {:?} matched rule {:?} -> {}",
                m.value, m.pattern, m.role
            )?;
        }
        if self.matches_omitted > 0 {
            write!(f, "\n... and {} more matches", self.matches_omitted)?;
        }
        for o in &self.overrides {
            let on = match o.matched_on {
                MatchedOn::Sub => "sub",
                MatchedOn::Username => "username",
            };
            write!(f, "\noverride for {:?} (by {on}) -> {}", o.user, o.role)?;
        }
        if self.picked_by_order {
            write!(
                f,
                "\nmost privileged in the role order: {} (matched {})",
                self.roles.join(", "),
                self.matched_roles.join(", ")
            )?;
        }
        match &self.unmatched {
            Some(UnmatchedAction::DefaultRole { role }) => {
                write!(f, "\nno rule or override matched: default role {role}")?
            }
            Some(UnmatchedAction::Deny) => write!(
                f,
                "\nno rule or override matched: login denied (default = deny)"
            )?,
            Some(UnmatchedAction::NoRole) => {
                write!(f, "\nno rule or override matched and there is no default")?
            }
            None => {}
        }
        if self.denied {
            f.write_str("\ndenied")
        } else if self.roles.is_empty() {
            f.write_str("\nroles: none")
        } else {
            write!(f, "\nroles: {}", self.roles.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    /// AudioBookRequest: admins → admin, users → trusted, anyone else → untrusted.
    fn abr() -> RoleMap {
        RoleMapConfig::new()
            .rule("users", "trusted")
            .rule("admins", "admin")
            .order(["untrusted", "trusted", "admin"])
            .default_role("untrusted")
            .build()
            .unwrap()
    }

    fn granted(decision: &RoleDecision) -> Vec<String> {
        decision.roles().expect("granted").to_vec()
    }

    // --- claim paths -----------------------------------------------------------------------

    #[test]
    fn keycloak_realm_and_client_roles() {
        let claims = obj(json!({
            "realm_access": { "roles": ["admins", "offline_access"] },
            "resource_access": { "my-client": { "roles": ["users"] }, "other": { "roles": ["admins"] } },
        }));
        let realm = ClaimPath::new("realm_access/roles");
        assert_eq!(
            realm.lookup(&claims).map(claim_values).unwrap(),
            ["admins", "offline_access"]
        );
        let client = ClaimPath::new("resource_access/my-client/roles");
        assert_eq!(client.lookup(&claims).map(claim_values).unwrap(), ["users"]);
        assert_eq!(
            ClaimPath::new("resource_access/missing/roles").lookup(&claims),
            None
        );
        assert_eq!(ClaimPath::new("realm_access/roles/x").lookup(&claims), None);
        assert_eq!(
            ClaimPath::new("/realm_access/roles").lookup(&claims),
            realm.lookup(&claims)
        );
        assert_eq!(
            ClaimPath::new("realm_access/roles/1").lookup(&claims),
            Some(&json!("offline_access"))
        );
        assert_eq!(
            ClaimPath::new("realm_access/roles/01").lookup(&claims),
            None
        );
        assert_eq!(ClaimPath::new("realm_access/roles/9").lookup(&claims), None);
    }

    #[test]
    fn whole_name_is_tried_before_the_path() {
        // Auth0 namespaced claims contain slashes; Zitadel's contain colons.
        let claims = obj(json!({
            "https://example.com/roles": ["admins"],
            "urn:zitadel:iam:org:project:roles": { "admin": { "1234": "org.example.com" }, "viewer": {} },
            "a/b": "top",
            "a": { "b": "nested" },
        }));
        let auth0 = ClaimPath::new("https://example.com/roles");
        assert_eq!(auth0.lookup(&claims).map(claim_values).unwrap(), ["admins"]);
        assert_eq!(
            ClaimPath::new("https://example.com/other").lookup(&claims),
            None
        );
        let zitadel = ClaimPath::new("urn:zitadel:iam:org:project:roles");
        assert_eq!(
            zitadel.lookup(&claims).map(claim_values).unwrap(),
            ["admin", "viewer"]
        );
        assert_eq!(ClaimPath::new("a/b").lookup(&claims), Some(&json!("top")));
        assert_eq!(ClaimPath::new("a~1b").lookup(&claims), Some(&json!("top")));
        let only_nested = obj(json!({ "a": { "b": "nested" } }));
        assert_eq!(
            ClaimPath::new("a/b").lookup(&only_nested),
            Some(&json!("nested"))
        );
    }

    #[test]
    fn escapes_and_display() {
        let claims = obj(json!({ "x": { "a/b": { "c~d": true } } }));
        let path = ClaimPath::new("  x/a~1b/c~0d ");
        assert_eq!(path.lookup(&claims), Some(&json!(true)));
        assert_eq!(path.to_string(), "x/a~1b/c~0d");
        assert_eq!(path.as_str(), "x/a~1b/c~0d");
        // `~01` is `~1` (RFC 6901 order), not `/`.
        let claims = obj(json!({ "x": { "~1": 1 } }));
        assert_eq!(ClaimPath::new("x/~01").lookup(&claims), Some(&json!(1)));
    }

    #[test]
    fn claim_path_deserializes_from_a_string() {
        #[derive(Deserialize)]
        struct C {
            claim: ClaimPath,
        }
        let c: C = toml::from_str("claim = 'realm_access/roles'").unwrap();
        assert_eq!(c.claim, ClaimPath::new("realm_access/roles"));
        assert!(toml::from_str::<C>("claim = ' '").is_err());
        assert!(toml::from_str::<C>("claim = 3").is_err());
        assert_eq!(
            serde_json::to_value(&c.claim).unwrap(),
            json!("realm_access/roles")
        );
    }

    // --- claim values ----------------------------------------------------------------------

    #[test]
    fn claim_values_shapes() {
        assert_eq!(
            claim_values(&json!(["a", 1, -2, 1.5, true, null, {"x": 1}, ["b"], "", "c d"])),
            ["a", "1", "-2", "1.5", "c d"]
        );
        assert_eq!(
            claim_values(&json!("admins,users staff\t\nops,, ")),
            ["admins", "users", "staff", "ops"]
        );
        assert_eq!(
            claim_values(&json!({ "admin": { "1": "x" }, "": 1 })),
            ["admin"]
        );
        for scalar in [json!(null), json!(true), json!(12), json!(""), json!(" , ")] {
            assert!(claim_values(&scalar).is_empty(), "{scalar}");
        }
    }

    #[test]
    fn claim_values_are_bounded() {
        let many: Vec<Value> = (0..100_000).map(|i| json!(format!("g{i}"))).collect();
        let values = claim_values(&Value::Array(many));
        assert_eq!(values.len(), MAX_CLAIM_VALUES);
        assert_eq!(values[1023], "g1023");

        let long = "x".repeat(MAX_CLAIM_VALUE_LEN + 1);
        let edge = "y".repeat(MAX_CLAIM_VALUE_LEN);
        assert_eq!(
            claim_values(&json!([long, edge, "ok"])),
            [edge.clone(), "ok".to_owned()]
        );
        assert_eq!(claim_values(&json!(format!("{long} ok"))), ["ok"]);
        assert_eq!(
            claim_values(&json!("a ".repeat(1_000_000))).len(),
            MAX_CLAIM_VALUES
        );
        assert!(claim_values(&json!(",".repeat(1_000_000))).is_empty());
        let keys: Map<String, Value> = (0..5000).map(|i| (format!("k{i}"), json!(i))).collect();
        assert_eq!(claim_values(&Value::Object(keys)).len(), MAX_CLAIM_VALUES);
        // Deep nesting is not walked.
        let mut deep = json!("inner");
        for _ in 0..200 {
            deep = json!([deep]);
        }
        assert!(claim_values(&deep).is_empty());
    }

    // --- required claims -------------------------------------------------------------------

    #[test]
    fn required_claims_must_be_json_true() {
        let claims = obj(json!({
            "seq": true, "str": "true", "one": 1, "no": false, "nested": { "ok": true },
            "https://example.com/allowed": true,
        }));
        let check = |names: &[&str]| {
            let paths: Vec<ClaimPath> = names.iter().map(|n| ClaimPath::new(*n)).collect();
            check_required_claims(&claims, &paths)
        };
        assert_eq!(check(&[]), Ok(()));
        assert_eq!(
            check(&["seq", "nested/ok", "https://example.com/allowed"]),
            Ok(())
        );
        assert_eq!(check(&["seq", "str"]), Err("str".to_owned()));
        assert_eq!(check(&["one"]), Err("one".to_owned()));
        assert_eq!(check(&["no"]), Err("no".to_owned()));
        assert_eq!(check(&["missing", "str"]), Err("missing".to_owned()));
        assert_eq!(check(&["nested"]), Err("nested".to_owned()));
    }

    // --- configuration ---------------------------------------------------------------------

    #[test]
    fn rules_as_table_or_list() {
        let table: RoleMapConfig = toml::from_str(
            r#"
            rules = { admins = "admin", users = "trusted", "team-*" = "trusted" }
            order = "untrusted, trusted admin"
            default = "untrusted"
            overrides = [{ user = "alice", role = "admin" }]
            "#,
        )
        .unwrap();
        assert_eq!(table.rules.0.len(), 3);
        assert_eq!(
            table.order.as_deref(),
            Some(&strings(&["untrusted", "trusted", "admin"])[..])
        );
        assert_eq!(table.default, Some(Unmatched::Role("untrusted".into())));
        RoleMap::new(table).unwrap();

        let list: RoleMapConfig = toml::from_str(
            r#"
            rules = [{ group = "zeta", role = "z" }, { group = "alpha", role = "a" }, { group = "zeta", role = "a" }]
            default = "deny"
            "#,
        )
        .unwrap();
        let groups: Vec<&str> = list.rules.0.iter().map(|r| r.group.as_str()).collect();
        assert_eq!(groups, ["zeta", "alpha", "zeta"], "list order is kept");
        assert_eq!(list.default, Some(Unmatched::Deny));

        let json: RoleMapConfig =
            serde_json::from_str(r#"{"rules": {"admins": "admin"}, "order": ["user", "admin"]}"#)
                .unwrap();
        assert_eq!(
            json,
            RoleMapConfig::new()
                .rule("admins", "admin")
                .order(["user", "admin"])
        );
        assert_eq!(
            RoleMapConfig::new().default_role("DENY"),
            RoleMapConfig::new().deny_unmatched()
        );
    }

    #[test]
    fn unknown_keys_and_wrong_shapes_are_rejected() {
        for bad in [
            "rule = { a = 'b' }",
            "rules = [{ group = 'a', role = 'b', extra = 1 }]",
            "rules = [{ group = 'a' }]",
            "rules = 'admins=admin'",
            "rules = { a = 1 }",
            "overrides = [{ username = 'a', role = 'b' }]",
            "default = 1",
        ] {
            assert!(toml::from_str::<RoleMapConfig>(bad).is_err(), "{bad}");
        }
        assert_eq!(
            toml::from_str::<RoleMapConfig>("").unwrap(),
            RoleMapConfig::new()
        );
    }

    #[test]
    fn validation_names_the_bad_entry() {
        let order = ["untrusted", "trusted", "admin"];
        let err = |c: RoleMapConfig| RoleMap::new(c).unwrap_err();
        assert_eq!(
            err(RoleMapConfig::new()
                .rule("users", "trusted")
                .rule("admins", "root")
                .order(order)),
            r#"rules[1] ("admins" = "root"): role `root` is not in `order`"#
        );
        assert_eq!(
            err(RoleMapConfig::new().order(order).default_role("guest")),
            "default: role `guest` is not in `order`"
        );
        assert_eq!(
            err(RoleMapConfig::new()
                .order(order)
                .user_override("alice", "root")),
            r#"overrides[0] (user "alice"): role `root` is not in `order`"#
        );
        assert_eq!(
            err(RoleMapConfig::new().rule(" ", "admin")),
            r#"rules[0] (" " = "admin"): the group pattern is empty"#
        );
        assert!(err(RoleMapConfig::new().rule("admins", "")).contains("rules[0]"));
        assert!(
            err(RoleMapConfig::new().rule("banned", "deny")).contains("`deny` is not a role name")
        );
        assert!(err(RoleMapConfig::new().user_override("", "admin")).contains("the user is empty"));
        assert_eq!(
            err(RoleMapConfig::new().order(["a", "b", "a"])),
            "order: role `a` is listed twice"
        );
        assert_eq!(
            err(RoleMapConfig::new().order(Vec::<String>::new())),
            "order: the list is empty"
        );
        assert!(err(RoleMapConfig::new().rule("x", "bad\nrole")).contains("control characters"));
        let mut many = RoleMapConfig::new();
        for i in 0..=MAX_RULES {
            many = many.rule(format!("g{i}"), "r");
        }
        assert_eq!(err(many), "rules: 1001 rules, at most 1000 are allowed");
        let mut enough = RoleMapConfig::new();
        for i in 0..MAX_RULES {
            enough = enough.rule(format!("g{i}"), "r");
        }
        assert!(RoleMap::new(enough).is_ok());
        // Without an order any role name is fine.
        assert!(
            RoleMap::new(
                RoleMapConfig::new()
                    .rule("a", "anything")
                    .default_role("guest")
            )
            .is_ok()
        );
    }

    // --- decisions -------------------------------------------------------------------------

    #[test]
    fn audiobookrequest_mapping() {
        let map = abr();
        assert_eq!(
            granted(&map.decide(&strings(&["users"]), "bob", "b")),
            ["trusted"]
        );
        assert_eq!(
            granted(&map.decide(&strings(&["Admins"]), "al", "a")),
            ["admin"]
        );
        assert_eq!(
            granted(&map.decide(&strings(&["ADMINS", "offline_access"]), "al", "a")),
            ["admin"]
        );
        assert_eq!(
            granted(&map.decide(&strings(&["staff"]), "carol", "c")),
            ["untrusted"]
        );
        assert_eq!(granted(&map.decide(&[], "carol", "c")), ["untrusted"]);
        // In both groups: admin, whatever the order of groups or of rules.
        let reversed = RoleMapConfig::new()
            .rule("admins", "admin")
            .rule("users", "trusted")
            .order(["untrusted", "trusted", "admin"])
            .default_role("untrusted")
            .build()
            .unwrap();
        for m in [&map, &reversed] {
            for groups in [["users", "admins"], ["admins", "users"]] {
                assert_eq!(granted(&m.decide(&strings(&groups), "dan", "d")), ["admin"]);
            }
        }
    }

    #[test]
    fn without_order_every_role_in_rule_order() {
        let map = RoleMapConfig::new()
            .rule("editors", "edit")
            .rule("admins", "admin")
            .rule("team-*", "edit")
            .rule("*", "read")
            .build()
            .unwrap();
        let d = map.decide(&strings(&["team-x", "admins", "editors"]), "u", "s");
        assert_eq!(granted(&d), ["edit", "admin", "read"]);
        assert!(!d.explanation().picked_by_order);
        // `*` means any group, not "no groups": an empty value is no group.
        assert!(granted(&map.decide(&strings(&[""]), "u", "s")).is_empty());
        let empty = RoleMapConfig::new()
            .rule("admins", "admin")
            .build()
            .unwrap();
        let d = empty.decide(&strings(&["users"]), "u", "s");
        assert_eq!(granted(&d), Vec::<String>::new());
        assert_eq!(d.explanation().unmatched, Some(UnmatchedAction::NoRole));
    }

    #[test]
    fn globs_and_case() {
        let map = RoleMapConfig::new()
            .rule("team-*", "member")
            .rule("ops-?", "ops")
            .rule("*-ADMINS", "admin")
            .rule("café", "coffee")
            .build()
            .unwrap();
        let roles = |g: &str| granted(&map.decide(&[g.to_owned()], "u", "s"));
        assert_eq!(roles("team-"), ["member"]);
        assert_eq!(roles("Team-Blue"), ["member"]);
        assert_eq!(roles("my-team-blue"), Vec::<String>::new());
        assert_eq!(roles("ops-1"), ["ops"]);
        assert_eq!(roles("ops-"), Vec::<String>::new());
        assert_eq!(roles("ops-12"), Vec::<String>::new());
        assert_eq!(roles("media-admins"), ["admin"]);
        assert_eq!(roles("team-x-admins"), ["member", "admin"]);
        assert_eq!(roles("CAFÉ"), ["coffee"]);
        assert_eq!(roles("cafe"), Vec::<String>::new());
        // An exact pattern is not a prefix.
        let exact = RoleMapConfig::new()
            .rule("admins", "admin")
            .build()
            .unwrap();
        assert!(
            granted(&exact.decide(&strings(&["admins2", "xadmins", "admin"]), "u", "s")).is_empty()
        );
    }

    #[test]
    fn glob_matcher_edges() {
        let m = |p: &str, t: &str| {
            glob_match(
                &p.chars().collect::<Vec<_>>(),
                &t.chars().collect::<Vec<_>>(),
            )
        };
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("*", ""));
        assert!(m("**", "abc"));
        assert!(!m("?", ""));
        assert!(m("a*b*c", "aXbYc"));
        assert!(m("a*b*c", "abbbc"));
        assert!(!m("a*b*c", "acb"));
        assert!(m("*ab", "aab"));
        assert!(m("?é", "ñé"));
        // Pathological for backtracking matchers; quadratic at worst here.
        let text = "a".repeat(MAX_CLAIM_VALUE_LEN);
        assert!(!m(
            &"*a"
                .repeat(40)
                .chars()
                .chain("b".chars())
                .collect::<String>(),
            &text
        ));
        assert!(m(&"*a".repeat(40), &text));
    }

    #[test]
    fn deny_refuses_unmatched_users() {
        let map = RoleMapConfig::new()
            .rule("admins", "admin")
            .deny_unmatched()
            .user_override("breakglass-sub", "admin")
            .build()
            .unwrap();
        let d = map.decide(&strings(&["staff"]), "mallory", "m");
        assert!(matches!(d, RoleDecision::Denied { .. }));
        assert_eq!(d.roles(), None);
        let e = d.explanation();
        assert!(e.denied && e.roles.is_empty());
        assert_eq!(e.unmatched, Some(UnmatchedAction::Deny));
        assert!(
            e.to_string()
                .ends_with("login denied (default = deny)\ndenied"),
            "{e}"
        );
        assert_eq!(serde_json::to_value(&d).unwrap()["decision"], "denied");
        // An override counts as a match.
        assert_eq!(granted(&map.decide(&[], "x", "breakglass-sub")), ["admin"]);
        assert_eq!(
            granted(&map.decide(&strings(&["admins"]), "x", "y")),
            ["admin"]
        );
    }

    #[test]
    fn overrides_match_sub_exactly_and_username_ignoring_case() {
        let map = RoleMapConfig::new()
            .rule("admins", "admin")
            .rule("users", "trusted")
            .order(["untrusted", "trusted", "admin"])
            .default_role("untrusted")
            .user_override("Alice", "admin")
            .user_override("Sub-123", "trusted")
            .build()
            .unwrap();
        let d = map.decide(&[], "alice", "zzz");
        assert_eq!(granted(&d), ["admin"]);
        assert_eq!(d.explanation().overrides[0].matched_on, MatchedOn::Username);
        assert!(
            d.explanation()
                .to_string()
                .contains("override for \"Alice\" (by username) -> admin")
        );
        let d = map.decide(&[], "someone", "Sub-123");
        assert_eq!(granted(&d), ["trusted"]);
        assert_eq!(d.explanation().overrides[0].matched_on, MatchedOn::Sub);
        // The sub is case-sensitive.
        assert_eq!(
            granted(&map.decide(&[], "someone", "sub-123")),
            ["untrusted"]
        );
        // Overrides add and never demote; the order still picks the top.
        assert_eq!(
            granted(&map.decide(&strings(&["admins"]), "x", "Sub-123")),
            ["admin"]
        );
        // Empty username or sub never match.
        assert_eq!(granted(&map.decide(&[], "", "")), ["untrusted"]);
        // Only ASCII case is ignored: look-alikes that Unicode folds to ASCII never match.
        let kate = RoleMapConfig::new()
            .user_override("kate", "admin")
            .build()
            .unwrap();
        assert_eq!(granted(&kate.decide(&[], "KATE", "s")), ["admin"]);
        for spoof in ["\u{212A}ate", "\u{212A}ATE"] {
            assert!(granted(&kate.decide(&[], spoof, "s")).is_empty(), "{spoof}");
        }
        // A non-ASCII override matches exactly that name, never another one it folds with.
        let kelvin = RoleMapConfig::new()
            .user_override("\u{212A}ate", "admin")
            .build()
            .unwrap();
        assert!(granted(&kelvin.decide(&[], "kate", "s")).is_empty());
        assert_eq!(granted(&kelvin.decide(&[], "\u{212A}ate", "s")), ["admin"]);
        // Without an order, override roles come after rule roles.
        let plain = RoleMapConfig::new()
            .rule("users", "user")
            .user_override("bob", "ops")
            .build()
            .unwrap();
        assert_eq!(
            granted(&plain.decide(&strings(&["users"]), "BOB", "b")),
            ["user", "ops"]
        );
    }

    #[test]
    fn rank_satisfies_and_implied() {
        let map = abr();
        assert_eq!(
            map.order(),
            Some(&strings(&["untrusted", "trusted", "admin"])[..])
        );
        assert_eq!(map.rank("untrusted"), Some(0));
        assert_eq!(map.rank("admin"), Some(2));
        assert_eq!(map.rank("root"), None);
        let admin = strings(&["admin"]);
        assert!(
            map.satisfies(&admin, "admin")
                && map.satisfies(&admin, "trusted")
                && map.satisfies(&admin, "untrusted")
        );
        let trusted = strings(&["trusted"]);
        assert!(!map.satisfies(&trusted, "admin"));
        assert!(!map.satisfies(&[], "untrusted"));
        assert!(!map.satisfies(&admin, "root"));
        assert!(map.satisfies(&strings(&["root"]), "root"));
        assert_eq!(map.implied_by(&admin), ["untrusted", "trusted"]);
        assert_eq!(
            map.implied_by(&strings(&["untrusted"])),
            Vec::<String>::new()
        );
        assert_eq!(
            map.implied_by(&strings(&["trusted", "untrusted"])),
            Vec::<String>::new()
        );
        assert_eq!(map.implied_by(&[]), Vec::<String>::new());

        let plain = RoleMapConfig::new()
            .rule("a", "x")
            .rule("b", "y")
            .build()
            .unwrap();
        assert_eq!(plain.rank("x"), None);
        assert!(plain.satisfies(&strings(&["x", "y"]), "y"));
        assert!(!plain.satisfies(&strings(&["x"]), "y"));
        assert!(plain.implied_by(&strings(&["x"])).is_empty());
    }

    #[test]
    fn explanation_lines_and_json() {
        let map = RoleMapConfig::new()
            .rule("users", "trusted")
            .rule("team-*", "trusted")
            .rule("admins", "admin")
            .order(["untrusted", "trusted", "admin"])
            .default_role("untrusted")
            .build()
            .unwrap();
        let d = map.decide(
            &strings(&["team-b", "Admins", "team-a", "users", "team-a"]),
            "u",
            "s",
        );
        assert_eq!(
            d.explanation().to_string(),
            "checked 4 claim values\n\
             group \"users\" matched rule \"users\" -> trusted\n\
             group \"team-a\" matched rule \"team-*\" -> trusted\n\
             group \"team-b\" matched rule \"team-*\" -> trusted\n\
             group \"Admins\" matched rule \"admins\" -> admin\n\
             most privileged in the role order: admin (matched trusted, admin)\n\
             roles: admin"
        );
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["decision"], "granted");
        assert_eq!(json["roles"], json!(["admin"]));
        let e = &json["explanation"];
        assert_eq!(e["values_checked"], 4);
        assert_eq!(
            e["matches"][3],
            json!({ "value": "Admins", "rule": 2, "pattern": "admins", "role": "admin" })
        );
        assert_eq!(e["matched_roles"], json!(["trusted", "admin"]));
        assert_eq!(e["picked_by_order"], true);
        assert_eq!(e["unmatched"], Value::Null);
        assert_eq!(e["denied"], false);

        let d = map.decide(&strings(&["x"]), "u", "s");
        assert_eq!(
            d.explanation().to_string(),
            "checked 1 claim value\nno rule or override matched: default role untrusted\nroles: untrusted"
        );
        let e = serde_json::to_value(d.explanation()).unwrap();
        assert_eq!(
            e["unmatched"],
            json!({ "action": "default_role", "role": "untrusted" })
        );

        let none = RoleMapConfig::new()
            .rule("a", "b")
            .build()
            .unwrap()
            .decide(&[], "u", "s");
        assert!(
            none.explanation()
                .to_string()
                .ends_with("there is no default\nroles: none")
        );
    }

    #[test]
    fn hostile_group_values() {
        let map = RoleMapConfig::new()
            .rule("*admins*", "admin")
            .rule("users", "user")
            .rule("x*", "x")
            .build()
            .unwrap();
        // A value with a newline cannot forge an explanation line.
        let d = map.decide(
            &strings(&["x\ngroup \"users\" matched rule \"users\" -> user\nroles: user"]),
            "u",
            "s",
        );
        let text = d.explanation().to_string();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.contains(r#"group "x\ngroup \"users\""#), "{text}");
        assert_eq!(granted(&d), ["x"]);
        // Over-long values are ignored (they could not come from claim_values anyway).
        let long = format!("{}admins", "a".repeat(MAX_CLAIM_VALUE_LEN));
        assert!(granted(&map.decide(&[long], "u", "s")).is_empty());
        // Many long values against globs stay fast enough (quadratic bound, not exponential).
        let values: Vec<String> = (0..MAX_CLAIM_VALUES)
            .map(|i| format!("{i}{}", "a".repeat(1000)))
            .collect();
        let d = map.decide(&values, "u", "s");
        assert!(granted(&d).is_empty());
        assert_eq!(d.explanation().values_checked, MAX_CLAIM_VALUES);

        // A catch-all rule matching every value: roles are complete, the listing is bounded.
        let map = RoleMapConfig::new()
            .rule("*", "member")
            .rule("g1*", "g1")
            .rule("zzz", "z")
            .build()
            .unwrap();
        let values: Vec<String> = (0..MAX_CLAIM_VALUES).map(|i| format!("g{i}")).collect();
        let mut with_last = values.clone();
        with_last.push("zzz".to_owned());
        let d = map.decide(&with_last, "u", "s");
        assert_eq!(granted(&d), ["member", "g1", "z"]);
        let e = d.explanation();
        assert_eq!(e.matches.len(), 7);
        assert_eq!(
            e.matches.iter().filter(|m| m.rule == 0).count(),
            MAX_EXPLAINED_PER_RULE
        );
        assert_eq!(e.matches.last().map(|m| m.value.as_str()), Some("zzz"));
        let g1_hits = values.iter().filter(|v| v.starts_with("g1")).count();
        // `*` matches all 1025 values, `g1*` the g1… ones, `zzz` one; 7 are listed.
        assert_eq!(e.matches_omitted, (MAX_CLAIM_VALUES + 1) + g1_hits + 1 - 7);
        assert!(e.to_string().lines().count() < 12);
        assert!(
            e.to_string()
                .contains(&format!("... and {} more matches", e.matches_omitted))
        );
        let many_rules = (0..100).fold(RoleMapConfig::new(), |c, i| c.rule(format!("g{i}"), "r"));
        let e = many_rules
            .build()
            .unwrap()
            .decide(&values, "u", "s")
            .explanation()
            .clone();
        assert_eq!(
            (e.matches.len(), e.matches_omitted),
            (MAX_EXPLAINED_MATCHES, 100 - MAX_EXPLAINED_MATCHES)
        );
    }

    // --- properties ------------------------------------------------------------------------

    /// The obviously correct (exponential) matcher.
    fn reference_glob(pattern: &[char], text: &[char]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some(('*', rest)) => (0..=text.len()).any(|i| reference_glob(rest, &text[i..])),
            Some(('?', rest)) => !text.is_empty() && reference_glob(rest, &text[1..]),
            Some((c, rest)) => text.first() == Some(c) && reference_glob(rest, &text[1..]),
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
                .map(Value::Number)),
            ".{0,24}".prop_map(Value::String),
            "[a-c ,\t]{0,24}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(".{0,8}", inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// The roles of the ordered map `r0 < r1 < r2` by brute force: the top role of a rule some
    /// non-empty value matches, or the default `r0`.
    fn reference_top(rules: &[(String, usize)], groups: &[String]) -> String {
        let top = rules
            .iter()
            .filter(|(pattern, _)| {
                let p: Vec<char> = pattern.to_lowercase().chars().collect();
                groups
                    .iter()
                    .filter(|g| !g.is_empty())
                    .any(|g| reference_glob(&p, &g.to_lowercase().chars().collect::<Vec<_>>()))
            })
            .map(|(_, rank)| *rank)
            .max()
            .unwrap_or(0);
        format!("r{top}")
    }

    fn arb_rules() -> impl Strategy<Value = Vec<(String, usize)>> {
        prop::collection::vec(("[aAb*?]{1,4}", 0..3usize), 0..6)
    }

    fn ordered_map(rules: &[(String, usize)], ordered: bool) -> RoleMap {
        let mut config = RoleMapConfig::new();
        for (pattern, rank) in rules {
            config = config.rule(pattern.clone(), format!("r{rank}"));
        }
        if ordered {
            config = config.order(["r0", "r1", "r2"]).default_role("r0");
        }
        config.build().unwrap()
    }

    /// A list of groups and the same list shuffled.
    fn arb_groups_twice() -> impl Strategy<Value = (Vec<String>, Vec<String>)> {
        prop::collection::vec("[aAbB]{0,5}", 0..8)
            .prop_flat_map(|g| (Just(g.clone()), Just(g).prop_shuffle()))
    }

    proptest! {
        #[test]
        fn glob_agrees_with_reference(pattern in "[ab*?]{0,8}", text in "[ab]{0,10}") {
            let p: Vec<char> = pattern.chars().collect();
            let t: Vec<char> = text.chars().collect();
            prop_assert_eq!(glob_match(&p, &t), reference_glob(&p, &t));
        }

        #[test]
        fn claim_values_never_panics_and_is_bounded(value in arb_json()) {
            let values = claim_values(&value);
            prop_assert!(values.len() <= MAX_CLAIM_VALUES);
            prop_assert!(values.iter().all(|v| !v.is_empty() && v.len() <= MAX_CLAIM_VALUE_LEN));
        }

        #[test]
        fn claim_path_lookup_never_panics(value in arb_json(), path in "[a-c/~01]{0,12}") {
            let claims = obj(json!({ "a": value.clone(), "b": { "c": value } }));
            let found = ClaimPath::new(path).lookup(&claims).map(claim_values);
            prop_assert!(found.is_none_or(|v| v.len() <= MAX_CLAIM_VALUES));
        }

        #[test]
        fn decisions_ignore_the_order_of_groups(
            rules in arb_rules(),
            (groups, shuffled) in arb_groups_twice(),
            ordered in any::<bool>(),
        ) {
            let map = ordered_map(&rules, ordered);
            prop_assert_eq!(map.decide(&groups, "u", "s"), map.decide(&shuffled, "u", "s"));
        }

        #[test]
        fn with_order_the_result_is_the_maximum(rules in arb_rules(), groups in prop::collection::vec("[aAbB]{0,5}", 0..8)) {
            let map = ordered_map(&rules, true);
            let roles = map.decide(&groups, "u", "s").roles().map(<[String]>::to_vec);
            prop_assert_eq!(roles, Some(vec![reference_top(&rules, &groups)]));
        }
    }
}
