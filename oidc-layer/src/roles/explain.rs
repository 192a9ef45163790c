//! What a role decision says: [`RoleDecision`] and, for an admin page or the logs, why
//! ([`RoleExplanation`]).

use std::fmt;

use serde::Serialize;

/// A [`RoleExplanation`] lists at most this many matches in all, and this many per rule.
pub(super) const MAX_EXPLAINED_MATCHES: usize = 32;
pub(super) const MAX_EXPLAINED_PER_RULE: usize = 3;

/// The outcome of [`RoleMap::decide`](super::RoleMap::decide).
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
