//! Why a role map configuration was refused: [`RoleMapError`].

use super::MAX_RULES;

/// Why [`RoleMap::new`](super::RoleMap::new) refused a [`RoleMapConfig`](super::RoleMapConfig):
/// the entry at fault, as the configuration spells it, and what is wrong with it.
///
/// ```
/// use oidc_layer::roles::{RoleMapConfig, RoleMapProblem};
///
/// let error = RoleMapConfig::new().rule("admins", "admin").order(["user"]).build().unwrap_err();
/// assert_eq!(error.entry, r#"rules[0] ("admins" = "admin")"#);
/// assert_eq!(error.problem, RoleMapProblem::NotInOrder { role: "admin".to_owned() });
/// assert_eq!(error.to_string(), r#"rules[0] ("admins" = "admin"): role `admin` is not in `order`"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry}: {problem}")]
#[non_exhaustive]
pub struct RoleMapError {
    /// The entry at fault: `rules`, `overrides` or `order` as a whole, or one entry with what it
    /// says (`order[1]`, `rules[0] ("admins" = "admin")`, `default`, `overrides[0] (user "alice")`).
    pub entry: String,
    /// What is wrong with it.
    pub problem: RoleMapProblem,
}

impl RoleMapError {
    pub(super) fn new(entry: impl Into<String>, problem: RoleMapProblem) -> Self {
        Self {
            entry: entry.into(),
            problem,
        }
    }
}

/// What is wrong with an entry of a role map configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoleMapProblem {
    /// More than [`MAX_RULES`] rules.
    #[error("{count} rules, at most {MAX_RULES} are allowed")]
    TooManyRules {
        /// How many rules there are.
        count: usize,
    },
    /// More than [`MAX_RULES`] overrides.
    #[error("{count} overrides, at most {MAX_RULES} are allowed")]
    TooManyOverrides {
        /// How many overrides there are.
        count: usize,
    },
    /// `order` lists no role.
    #[error("the list is empty")]
    EmptyOrder,
    /// `order` lists a role twice.
    #[error("role `{role}` is listed twice")]
    ListedTwice {
        /// The role.
        role: String,
    },
    /// A rule's group pattern is empty.
    #[error("the group pattern is empty")]
    EmptyPattern,
    /// An override's user is empty.
    #[error("the user is empty")]
    EmptyUser,
    /// A role is empty.
    #[error("the role is empty")]
    EmptyRole,
    /// A role is named `deny`, the word that refuses unmatched users as `default`.
    #[error("`deny` is not a role name: use `default = \"deny\"` to refuse unmatched users")]
    ReservedRole,
    /// A role holds control characters.
    #[error("role {role:?} contains control characters")]
    ControlCharacters {
        /// The role.
        role: String,
    },
    /// A role of a rule, the default or an override is not in the configured `order`.
    #[error("role `{role}` is not in `order`")]
    NotInOrder {
        /// The role.
        role: String,
    },
}
