//! [`LinkingResolver`]: one account across providers, linked by subject, explicitly, or (where
//! the provider is trusted for it) by verified email.

use async_trait::async_trait;

use super::{
    Account, AccountError, AccountRef, AccountRepository, AccountResolver, CreateOutcome,
    LinkOutcome, NewAccount, Resolution, ResolveRequest,
};

/// How many times a sign-in is resolved again after losing a race against a concurrent change
/// of the same accounts. One retry settles every race with a well-behaved repository.
const ROUNDS: usize = 3;

/// Resolves identities against the app's accounts, linking them by subject or verified email
/// (the rules are listed in the [module docs](super#the-linking-rules)).
///
/// ```
/// use oidc_layer::accounts::{InMemoryAccounts, LinkingResolver};
///
/// let resolver = LinkingResolver::new(InMemoryAccounts::new());
/// resolver.repository().add_account("admin", None, true);
/// assert_eq!(resolver.repository().accounts().len(), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct LinkingResolver<R> {
    repository: R,
}

/// Why [`LinkingResolver::unlink`] removed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnlinkError {
    /// There is no account with this id.
    #[error("there is no such account")]
    NoSuchAccount,
    /// The account has no identity of this provider.
    #[error("this account has no sign-in of this provider")]
    NotLinked,
    /// It is the account's only way to sign in (no local login, no other identity).
    #[error(
        "this is the account's only way to sign in; set a password or link another provider first"
    )]
    LastWayIn,
    /// The account store failed.
    #[error(transparent)]
    Store(#[from] AccountError),
}

/// One pass over the rules: done, or lost a race and must look again.
enum Step {
    Done(Resolution),
    Retry,
}

impl<R: AccountRepository> LinkingResolver<R> {
    /// A resolver over `repository`.
    pub fn new(repository: R) -> Self {
        Self { repository }
    }

    /// The repository, for the app's own account pages.
    pub fn repository(&self) -> &R {
        &self.repository
    }

    /// Removes the account's identity of `provider` (its slug), unless that would leave the
    /// account with no way to sign in: no local login and no other identity.
    pub async fn unlink(&self, account_id: &str, provider: &str) -> Result<(), UnlinkError> {
        let repo = &self.repository;
        let account = repo
            .find(account_id)
            .await?
            .ok_or(UnlinkError::NoSuchAccount)?;
        let Some(removed) = account.identity_of(provider).cloned() else {
            return Err(UnlinkError::NotLinked);
        };
        if !has_other_way_in(&account, provider) {
            return Err(UnlinkError::LastWayIn);
        }
        if !repo.unlink(account_id, provider).await? {
            return Err(UnlinkError::NotLinked);
        }
        // Two unlinks racing on one account can each see the other's identity as the way that
        // remains, and remove both. Whoever finds nothing left puts its identity back.
        match repo.find(account_id).await? {
            Some(after) if !after.has_local_login && after.identities.is_empty() => {
                let restored = repo.link(account_id, provider, &removed.sub).await?;
                tracing::warn!(account = %account_id, provider, ?restored, "unlink raced another unlink; identity restored");
                Err(UnlinkError::LastWayIn)
            }
            _ => {
                tracing::info!(account = %account_id, provider, "provider identity unlinked");
                Ok(())
            }
        }
    }

    /// Rule 1: the signed-in user links this identity to their account.
    async fn link_to(
        &self,
        account_id: &str,
        request: &ResolveRequest<'_>,
    ) -> Result<Step, AccountError> {
        let (repo, provider, sub) = (&self.repository, request.provider, request.identity.sub());
        let Some(account) = repo.find(account_id).await? else {
            return Ok(Step::Done(Resolution::refused(
                "The account to link to no longer exists. Sign in again and retry.",
            )));
        };
        if let Some(owner) = repo.find_by_identity(provider, sub).await? {
            return Ok(Step::Done(if owner.id == account.id {
                // Linked already (a second click, or the first attempt's answer was lost).
                Resolution::Account(AccountRef::from(&account))
            } else {
                Resolution::refused(format!(
                    "This {} account is already linked to another user.",
                    request.provider_name
                ))
            }));
        }
        if account.identity_of(provider).is_some() {
            return Ok(Step::Done(already_has_provider(request)));
        }
        match repo.link(&account.id, provider, sub).await? {
            LinkOutcome::Linked => Ok(Step::Done(Resolution::Account(AccountRef::from(&account)))),
            // Changed since we looked: the next round names the reason.
            LinkOutcome::SubjectTaken | LinkOutcome::AlreadyLinkedToProvider => Ok(Step::Retry),
        }
    }

    /// Rule 3, for the one account with the identity's verified email: link, unless the account
    /// has a local login or the repository vetoes it.
    async fn link_by_email(
        &self,
        account: &Account,
        request: &ResolveRequest<'_>,
    ) -> Result<Step, AccountError> {
        let (repo, provider, sub) = (&self.repository, request.provider, request.identity.sub());
        // An account with a local (break-glass) login is usually an administrator's: whoever
        // controls an email address at some provider must not get it without its password.
        if account.has_local_login || !repo.allows_link_by_email(account, provider).await? {
            tracing::info!(account = %account.id, provider, sub, "verified email matches an account that must be linked explicitly");
            return Ok(Step::Done(sign_in_and_link(request)));
        }
        match repo.link(&account.id, provider, sub).await? {
            LinkOutcome::Linked => {
                tracing::info!(account = %account.id, provider, sub, "provider identity linked by verified email");
                Ok(Step::Done(Resolution::Account(AccountRef::from(account))))
            }
            // The subject was linked meanwhile, or the account got another identity of this
            // provider: look again.
            LinkOutcome::SubjectTaken | LinkOutcome::AlreadyLinkedToProvider => Ok(Step::Retry),
        }
    }

    /// Rules 2 to 5: a sign-in.
    async fn sign_in(&self, request: &ResolveRequest<'_>) -> Result<Step, AccountError> {
        let (repo, provider, identity) = (&self.repository, request.provider, request.identity);
        let sub = identity.sub();
        if let Some(account) = repo.find_by_identity(provider, sub).await? {
            return Ok(Step::Done(Resolution::Account(AccountRef::from(&account))));
        }
        let verified_email = identity
            .email()
            .filter(|email| identity.email_verified() && !email.trim().is_empty());
        if let Some(email) = verified_email {
            let mut matches: Vec<Account> = repo
                .find_by_email(email)
                .await?
                .into_iter()
                // Re-checked here: linking to an account whose email differs is a takeover.
                .filter(|a| a.email.as_deref().is_some_and(|e| same_email(e, email)))
                .collect();
            matches.sort_by(|a, b| a.id.cmp(&b.id));
            matches.dedup_by(|a, b| a.id == b.id);
            if !request.link_by_verified_email {
                // Never a silent second account for someone the app knows: the person proves
                // they own the account by signing in to it, then links this provider.
                if !matches.is_empty() {
                    tracing::info!(
                        provider,
                        sub,
                        "verified email matches an account; linking by email is off for this provider"
                    );
                    return Ok(Step::Done(sign_in_and_link(request)));
                }
            } else {
                matches.retain(|a| a.identity_of(provider).is_none());
                match matches.as_slice() {
                    [] => {}
                    [account] => return self.link_by_email(account, request).await,
                    several => {
                        return Ok(Step::Done(Resolution::refused(format!(
                            "{} accounts in this app use your email address, so your {} sign-in \
                             cannot be matched to one of them. Ask an administrator to link it to \
                             the right account.",
                            several.len(),
                            request.provider_name
                        ))));
                    }
                }
            }
        }
        // A lookup (an access token's identity) never creates an account.
        if !request.allow_new_users || request.lookup_only {
            let mut reason = String::from(
                "New users are not allowed; ask an administrator to create your account.",
            );
            if identity.email().is_some() && !identity.email_verified() {
                // Said without looking the address up, so it reveals nothing about who has one.
                reason.push_str(&format!(
                    " {} did not confirm that your email address is verified, so it was not \
                     matched to an existing account.",
                    request.provider_name
                ));
            }
            return Ok(Step::Done(Resolution::refused(reason)));
        }
        let mut new = NewAccount::new(identity.username(), provider, sub);
        new.email = verified_email.map(str::to_owned);
        new.name = identity.name().map(str::to_owned);
        let account = match repo.create(new).await? {
            CreateOutcome::Created(account) => {
                tracing::info!(account = %account.id, provider, sub, "account created");
                account
            }
            CreateOutcome::SubjectTaken(account) => account,
        };
        Ok(Step::Done(Resolution::Account(AccountRef::from(&account))))
    }
}

#[async_trait]
impl<R: AccountRepository> AccountResolver for LinkingResolver<R> {
    async fn resolve(&self, request: ResolveRequest<'_>) -> Result<Resolution, AccountError> {
        for _ in 0..ROUNDS {
            let step = match request.link_to {
                Some(account_id) => self.link_to(account_id, &request).await?,
                None => self.sign_in(&request).await?,
            };
            if let Step::Done(resolution) = step {
                return Ok(resolution);
            }
            tracing::debug!(
                provider = request.provider,
                "accounts changed while resolving; looking again"
            );
        }
        Err(AccountError::Inconsistent(
            "the accounts kept changing while this sign-in was resolved".to_owned(),
        ))
    }
}

/// The refusal when the verified email belongs to an account this sign-in may not enter by
/// itself: the way in is the explicit link from that account.
fn sign_in_and_link(request: &ResolveRequest<'_>) -> Resolution {
    Resolution::refused(format!(
        "An account of this app already uses your email address. To use {name} with it, sign \
         in to that account the way you usually do, then link {name} from your account page.",
        name = request.provider_name
    ))
}

fn already_has_provider(request: &ResolveRequest<'_>) -> Resolution {
    Resolution::refused(format!(
        "Your account already has a {name} sign-in. Unlink it first to link another {name} account.",
        name = request.provider_name
    ))
}

fn has_other_way_in(account: &Account, provider: &str) -> bool {
    account.has_local_login || account.identities.iter().any(|i| i.provider != provider)
}

/// Case-insensitive, as [`AccountRepository::find_by_email`] compares.
pub(super) fn same_email(a: &str, b: &str) -> bool {
    a == b || case_key(a) == case_key(b)
}

/// The form of an email address or a username that compares case-insensitively: Unicode
/// lowercase (`ÉLODIE` and `élodie` match), the same whatever the database's locale.
pub(super) fn case_key(text: &str) -> String {
    text.to_lowercase()
}
