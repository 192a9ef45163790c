//! Claims of a verified token: where a claim lives ([`ClaimPath`]), what values it holds as
//! group or role names ([`claim_values`]), and which claims must be `true` for a login to count
//! ([`check_required_claims`]). The identity reads its username and groups through them, and
//! the role map decides on the values; all three are public as `oidc_layer::roles::*`.
//!
//! Pure logic over already verified claims: no I/O, no panics on hostile tokens, bounded work.

use std::fmt;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::words::words;

/// At most this many values are taken from one claim (a hostile token may send millions).
pub const MAX_CLAIM_VALUES: usize = 1024;
/// Claim values longer than this many bytes are dropped.
pub const MAX_CLAIM_VALUE_LEN: usize = 1024;

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
            for word in words(s) {
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

    // --- properties ------------------------------------------------------------------------

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

    proptest! {
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
    }
}
