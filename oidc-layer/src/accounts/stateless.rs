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
    /// The account id of the identity `(iss, sub)`: the JSON array `["<iss>","<sub>"]`, e.g.
    /// `["https://id.example.com","248289761001"]`. Unambiguous whatever the two contain
    /// (a plain `iss|sub` is not: `a|b` + `c` and `a` + `b|c` would collide).
    pub fn account_id(iss: &str, sub: &str) -> String {
        Value::Array(vec![Value::from(iss), Value::from(sub)]).to_string()
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
