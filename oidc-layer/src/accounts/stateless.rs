//! The default resolver: no storage, one account per provider identity.

use async_trait::async_trait;
use serde_json::Value;

use super::{AccountError, AccountRef, AccountResolver, Resolution, ResolveRequest};

/// The default resolver: keeps no accounts; every provider identity is its own account.
///
/// The account id is [`StatelessResolver::account_id`] of the identity's issuer and subject, so
/// it is the same at every sign-in and two identities never share one. The session keeps the
/// provider's username.
///
/// A lookup ([`ResolveRequest::lookup_only`], an access token's identity) gets that same
/// account id. It refuses linking (there is nothing to link to), and refuses every sign-in
/// and every token through a provider configured with `allow_new_users = false`: without an
/// account store every user is new, and admitting them all would silently ignore the setting. Use a [`LinkingResolver`]
/// to admit only known users.
///
/// [`LinkingResolver`]: super::LinkingResolver
#[derive(Debug, Clone, Copy, Default)]
pub struct StatelessResolver;

impl StatelessResolver {
    /// The account id of the identity `(iss, sub)`: the issuer, `#`, the subject, e.g.
    /// `https://id.example.com#248289761001`. Unambiguous whatever the two contain: the id is
    /// split at its first `#`, and a `#` (or `%`) in the issuer is written `%23` (`%25`), which
    /// an issuer never needs (OpenID Connect Discovery 1.0 section 3: no fragment).
    ///
    /// Earlier versions wrote the JSON array `["<iss>","<sub>"]`: [`Self::parse_account_id`]
    /// reads both, [`Self::migrate_account_id`] turns an old one into this form, and sessions
    /// signed in before the change report this form too (see the changelog).
    pub fn account_id(iss: &str, sub: &str) -> String {
        let mut id = String::with_capacity(iss.len() + sub.len() + 1);
        for c in iss.chars() {
            match c {
                '%' => id.push_str("%25"),
                '#' => id.push_str("%23"),
                c => id.push(c),
            }
        }
        id.push('#');
        id.push_str(sub);
        id
    }

    /// The `(iss, sub)` of an account id this resolver made, in the current form or the
    /// former JSON array; `None` for anything else.
    pub fn parse_account_id(id: &str) -> Option<(String, String)> {
        if id.starts_with('[') {
            return legacy_parts(id);
        }
        let (iss, sub) = id.split_once('#')?;
        let iss = unescape_issuer(iss)?;
        (!iss.is_empty() && !sub.is_empty()).then(|| (iss, sub.to_owned()))
    }

    /// The current form of an account id in the former JSON-array form (`None` when `id` is
    /// not one): for an app that stored account ids in its own tables, e.g.
    /// `UPDATE notes SET account = $new WHERE account = $old` for each distinct old id.
    pub fn migrate_account_id(id: &str) -> Option<String> {
        legacy_parts(id).map(|(iss, sub)| Self::account_id(&iss, &sub))
    }
}

/// `(iss, sub)` of an account id in the former form, the JSON array `["<iss>","<sub>"]`.
fn legacy_parts(id: &str) -> Option<(String, String)> {
    let (iss, sub): (String, String) = serde_json::from_str(id).ok()?;
    (!iss.is_empty() && !sub.is_empty()).then_some((iss, sub))
}

/// The account id `(iss, sub)` had in earlier versions (still in the records and store tags
/// of sessions signed in before the change).
pub(crate) fn legacy_account_id(iss: &str, sub: &str) -> String {
    Value::Array(vec![Value::from(iss), Value::from(sub)]).to_string()
}

/// The issuer part of an account id, its `%25` and `%23` decoded; `None` for any other escape
/// (which [`StatelessResolver::account_id`] never writes).
fn unescape_issuer(escaped: &str) -> Option<String> {
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let code = rest.get(at..at + 3)?;
        out.push(match code {
            "%25" => '%',
            "%23" => '#',
            _ => return None,
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// The former form of `account` when it is a stateless account id of an http(s) issuer: the
/// account of sessions signed in before the change, in their records and store tags.
pub(crate) fn legacy_account(account: &str) -> Option<String> {
    if account.starts_with('[') {
        return None;
    }
    let (iss, sub) = StatelessResolver::parse_account_id(account)?;
    (iss.starts_with("https://") || iss.starts_with("http://"))
        .then(|| legacy_account_id(&iss, &sub))
}

/// A stored session's account in the current form: a former stateless id of the session's
/// own `(iss, sub)` becomes [`StatelessResolver::account_id`]; anything else is kept. Cheap
/// for every other id (one byte compared).
pub(crate) fn current_account(account: String, iss: &str, sub: &str) -> String {
    if account.starts_with("[\"") && account == legacy_account_id(iss, sub) {
        StatelessResolver::account_id(iss, sub)
    } else {
        account
    }
}

#[async_trait]
impl AccountResolver for StatelessResolver {
    async fn resolve(&self, request: ResolveRequest<'_>) -> Result<Resolution, AccountError> {
        if request.link_to.is_some() {
            return Ok(Resolution::refused(
                "This app keeps no accounts to link sign-ins to: linking needs an account store.",
            ));
        }
        // Every identity is its own account here: a lookup (an access token) finds the one a
        // login gives, and is refused where a login is.
        if !request.allow_new_users {
            return Ok(Resolution::refused(format!(
                "New users are not allowed to sign in with {}; ask an administrator for access.",
                request.provider_name
            )));
        }
        let identity = request.identity;
        Ok(Resolution::Account(AccountRef {
            id: Self::account_id(identity.iss(), identity.sub()),
            username: None,
        }))
    }
}
