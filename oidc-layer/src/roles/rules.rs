//! The validated role map: [`RoleMap::new`] checks and compiles a [`RoleMapConfig`], and
//! [`RoleMap::decide`] turns claim values into roles with the explanation of why.

use std::collections::{BTreeSet, HashMap};

use super::config::{RoleOverride, RoleRule, Unmatched};
use super::error::{RoleMapError, RoleMapProblem};
use super::explain::{
    MAX_EXPLAINED_MATCHES, MAX_EXPLAINED_PER_RULE, MatchedOn, OverrideMatch, RoleDecision,
    RoleExplanation, RuleMatch, UnmatchedAction,
};
use super::glob::glob_match;
use super::{DENY, MAX_RULES, RoleMapConfig};
use crate::claims::MAX_CLAIM_VALUE_LEN;

/// A validated [`RoleMapConfig`]: decides a user's roles from their claim values.
///
/// ```
/// use oidc_layer::roles::{RoleMap, RoleMapConfig};
///
/// let bad = RoleMapConfig::new().rule("admins", "admin").order(["user"]);
/// assert_eq!(RoleMap::new(bad).unwrap_err().to_string(), r#"rules[0] ("admins" = "admin"): role `admin` is not in `order`"#);
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

/// The rules compiled: each rule, then the exact patterns' index and the globs.
type CompiledRules = (Vec<Rule>, HashMap<String, Vec<usize>>, Vec<usize>);

impl RoleMapConfig {
    /// Validates the configuration: the same as [`RoleMap::new`].
    pub fn build(self) -> Result<RoleMap, RoleMapError> {
        RoleMap::new(self)
    }
}

impl RoleMap {
    /// Validates `config`. The error names the bad entry: an empty pattern, role or user, more
    /// than [`MAX_RULES`] rules or overrides, the reserved role name `deny`, a role listed twice
    /// in `order`, or (when `order` is given) a role of a rule, the default or an override that
    /// `order` does not list.
    pub fn new(config: RoleMapConfig) -> Result<Self, RoleMapError> {
        let RoleMapConfig {
            rules,
            order,
            default,
            overrides,
        } = config;
        let rules = rules.0;
        if rules.len() > MAX_RULES {
            let count = rules.len();
            return Err(RoleMapError::new(
                "rules",
                RoleMapProblem::TooManyRules { count },
            ));
        }
        if overrides.len() > MAX_RULES {
            let count = overrides.len();
            return Err(RoleMapError::new(
                "overrides",
                RoleMapProblem::TooManyOverrides { count },
            ));
        }
        let order = order.map(compile_order).transpose()?;
        let (rules, exact, globs) = compile_rules(rules, order.as_deref())?;
        let unmatched = compile_default(default, order.as_deref())?;
        let overrides = compile_overrides(overrides, order.as_deref())?;
        Ok(Self {
            rules,
            exact,
            globs,
            order,
            unmatched,
            overrides,
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
    /// values and values longer than [`MAX_CLAIM_VALUE_LEN`] are ignored (as
    /// [`claim_values`](crate::roles::claim_values) drops them). The decision does not depend on
    /// the order of `groups`.
    pub fn decide(&self, groups: &[String], username: &str, sub: &str) -> RoleDecision {
        let (hits, values_checked) = self.matching_rules(groups);
        let (matches, matches_omitted) = self.listed_matches(&hits);
        let overrides = self.matching_overrides(username, sub);

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

        self.conclude(RoleExplanation {
            values_checked,
            matches,
            matches_omitted,
            overrides,
            matched_roles,
            picked_by_order: false,
            unmatched: None,
            roles: Vec::new(),
            denied: false,
        })
    }

    /// The (rule index, value) pairs of the rules the values match, and how many distinct
    /// values were checked.
    fn matching_rules<'a>(&self, groups: &'a [String]) -> (BTreeSet<(usize, &'a str)>, usize) {
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
        (hits, checked.len())
    }

    /// The matches the explanation lists, and how many more there are. Roles come from every
    /// hit; the explanation lists a bounded sample (it is logged and kept in the session, and a
    /// catch-all rule may match a thousand values).
    fn listed_matches(&self, hits: &BTreeSet<(usize, &str)>) -> (Vec<RuleMatch>, usize) {
        let mut matches: Vec<RuleMatch> = Vec::new();
        let mut matches_omitted = 0;
        let mut listed_for_rule = (usize::MAX, 0);
        for &(i, value) in hits {
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
        (matches, matches_omitted)
    }

    /// The overrides for the user: by `sub` (exact) or username (ignoring ASCII case).
    fn matching_overrides(&self, username: &str, sub: &str) -> Vec<OverrideMatch> {
        let username_lowercase = username.to_ascii_lowercase();
        self.overrides
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
            .collect()
    }

    /// The final roles from what matched: the default when nothing did, else the top role by
    /// the order, or every matched role without one.
    fn conclude(&self, mut explanation: RoleExplanation) -> RoleDecision {
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

/// `order` trimmed, each role a valid name listed once.
fn compile_order(order: Vec<String>) -> Result<Vec<String>, RoleMapError> {
    let order: Vec<String> = order.into_iter().map(|r| r.trim().to_owned()).collect();
    if order.is_empty() {
        return Err(RoleMapError::new("order", RoleMapProblem::EmptyOrder));
    }
    for (i, role) in order.iter().enumerate() {
        check_role_name(role)
            .map_err(|problem| RoleMapError::new(format!("order[{i}]"), problem))?;
        if order[..i].contains(role) {
            let role = role.clone();
            return Err(RoleMapError::new(
                "order",
                RoleMapProblem::ListedTwice { role },
            ));
        }
    }
    Ok(order)
}

/// The rules trimmed and lowercased, indexed by exact pattern or listed as globs.
fn compile_rules(
    rules: Vec<RoleRule>,
    order: Option<&[String]>,
) -> Result<CompiledRules, RoleMapError> {
    let mut compiled = Vec::with_capacity(rules.len());
    let mut exact: HashMap<String, Vec<usize>> = HashMap::new();
    let mut globs = Vec::new();
    for (i, RoleRule { group, role }) in rules.into_iter().enumerate() {
        let at = |problem| RoleMapError::new(format!("rules[{i}] ({group:?} = {role:?})"), problem);
        let pattern = group.trim().to_owned();
        let trimmed_role = role.trim().to_owned();
        if pattern.is_empty() {
            return Err(at(RoleMapProblem::EmptyPattern));
        }
        check_role(&trimmed_role, order).map_err(at)?;
        let lowercase = pattern.to_lowercase();
        if lowercase.contains(['*', '?']) {
            globs.push(i);
        } else {
            exact.entry(lowercase.clone()).or_default().push(i);
        }
        compiled.push(Rule {
            pattern,
            lowercase: lowercase.chars().collect(),
            role: trimmed_role,
        });
    }
    Ok((compiled, exact, globs))
}

/// The default role trimmed and valid (`deny` is no role but the refusal).
fn compile_default(
    default: Option<Unmatched>,
    order: Option<&[String]>,
) -> Result<Option<Unmatched>, RoleMapError> {
    Ok(match default {
        Some(Unmatched::Role(role)) => {
            let role = role.trim().to_owned();
            check_role(&role, order).map_err(|problem| RoleMapError::new("default", problem))?;
            Some(Unmatched::Role(role))
        }
        other => other,
    })
}

/// The overrides trimmed, each with a user and a valid role.
fn compile_overrides(
    overrides: Vec<RoleOverride>,
    order: Option<&[String]>,
) -> Result<Vec<Override>, RoleMapError> {
    let mut compiled = Vec::with_capacity(overrides.len());
    for (i, RoleOverride { user, role }) in overrides.into_iter().enumerate() {
        let at = |problem| RoleMapError::new(format!("overrides[{i}] (user {user:?})"), problem);
        let trimmed_user = user.trim().to_owned();
        let role = role.trim().to_owned();
        if trimmed_user.is_empty() {
            return Err(at(RoleMapProblem::EmptyUser));
        }
        check_role(&role, order).map_err(at)?;
        compiled.push(Override {
            // ASCII only: Unicode folding maps look-alikes (the Kelvin sign `K`) to ASCII
            // letters, which would let a user pick a name that matches someone else's.
            user_lowercase: trimmed_user.to_ascii_lowercase(),
            user: trimmed_user,
            role,
        });
    }
    Ok(compiled)
}

/// The role of a rule, the default or an override: a valid name that the order lists, if there
/// is an order.
fn check_role(role: &str, order: Option<&[String]>) -> Result<(), RoleMapProblem> {
    check_role_name(role)?;
    if order.is_some_and(|order| !order.iter().any(|r| r == role)) {
        return Err(RoleMapProblem::NotInOrder {
            role: role.to_owned(),
        });
    }
    Ok(())
}

/// Role names are not empty, hold no control characters, and are not the reserved `deny`.
fn check_role_name(role: &str) -> Result<(), RoleMapProblem> {
    if role.is_empty() {
        return Err(RoleMapProblem::EmptyRole);
    }
    if role.eq_ignore_ascii_case(DENY) {
        return Err(RoleMapProblem::ReservedRole);
    }
    if role.chars().any(char::is_control) {
        return Err(RoleMapProblem::ControlCharacters {
            role: role.to_owned(),
        });
    }
    Ok(())
}
