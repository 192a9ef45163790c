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

mod config;
mod error;
mod explain;
mod glob;
mod rules;

pub use crate::claims::{
    ClaimPath, MAX_CLAIM_VALUE_LEN, MAX_CLAIM_VALUES, check_required_claims, claim_values,
};
pub use config::RoleMapConfig;
pub use error::{RoleMapError, RoleMapProblem};
pub use explain::{
    MatchedOn, OverrideMatch, RoleDecision, RoleExplanation, RuleMatch, UnmatchedAction,
};
pub use rules::RoleMap;

/// At most this many rules (and this many overrides) in one [`RoleMapConfig`].
pub const MAX_RULES: usize = 1000;

/// The word that, as `default`, refuses logins no rule matches; it cannot be a role name.
const DENY: &str = "deny";

#[cfg(test)]
mod tests;
