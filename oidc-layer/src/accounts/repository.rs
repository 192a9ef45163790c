//! [`AccountRepository`]: what the app implements over its database for [`LinkingResolver`].
//!
//! [`LinkingResolver`]: super::LinkingResolver

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::AccountError;

/// An account of the app, as the [`AccountRepository`] stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The account id (stable; what sessions refer to).
    pub id: String,
    /// The account's username in the app.
    pub username: String,
    /// The email address the app trusts for this account (verified, or set by an
    /// administrator); see [`AccountRepository::find_by_email`].
    pub email: Option<String>,
    /// The provider identities linked to this account (at most one per provider).
    pub identities: Vec<LinkedIdentity>,
    /// Whether the account can also sign in without a provider (the app's own password).
    pub has_local_login: bool,
}

impl Account {
    /// The identity of `provider` linked to this account, if any.
    pub fn identity_of(&self, provider: &str) -> Option<&LinkedIdentity> {
        self.identities.iter().find(|i| i.provider == provider)
    }
}

/// A provider identity linked to an account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LinkedIdentity {
    /// The provider's slug.
    pub provider: String,
    /// The subject at that provider.
    pub sub: String,
}

/// The account to create for a new user, with its first identity.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewAccount {
    /// The provider's username (`preferred_username`, else the subject). May be taken: the
    /// repository picks a free one then (e.g. `alice-2`).
    pub username: String,
    /// The email, only when the provider verified it. An unverified address is not passed on:
    /// stored, it would let the next provider that does verify it link into an account whose
    /// owner never proved they own it (account pre-hijacking).
    pub email: Option<String>,
    /// The display name, when the provider sent one.
    pub name: Option<String>,
    /// The provider's slug.
    pub provider: String,
    /// The subject at that provider.
    pub sub: String,
}

impl NewAccount {
    /// A new account named `username` with the identity `(provider, sub)`, no email, no name.
    pub fn new(
        username: impl Into<String>,
        provider: impl Into<String>,
        sub: impl Into<String>,
    ) -> Self {
        Self {
            username: username.into(),
            email: None,
            name: None,
            provider: provider.into(),
            sub: sub.into(),
        }
    }
}

/// What [`AccountRepository::link`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    /// The identity is now linked to the account.
    Linked,
    /// Nothing changed: `(provider, sub)` is already linked to an account (this one or another).
    SubjectTaken,
    /// Nothing changed: the account already has an identity of this provider.
    AlreadyLinkedToProvider,
}

/// What [`AccountRepository::create`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// The account was created with its identity.
    Created(Account),
    /// Nothing was created: `(provider, sub)` is already linked to this account (another
    /// sign-in of the same user got there first).
    SubjectTaken(Account),
}

/// The app's accounts, as [`LinkingResolver`](super::LinkingResolver) needs them: implement it over the app's database.
///
/// `provider` is always the provider's slug, so never reuse a slug for another issuer: the
/// same `sub` at another issuer is another person.
///
/// Implemented for `Arc<R>`.
#[async_trait]
pub trait AccountRepository: Send + Sync + 'static {
    /// The account `(provider, sub)` is linked to.
    async fn find_by_identity(
        &self,
        provider: &str,
        sub: &str,
    ) -> Result<Option<Account>, AccountError>;

    /// The accounts whose email is `email`, compared case-insensitively.
    ///
    /// Return only accounts whose address the app trusts (verified by the app, set by an
    /// administrator, or verified by a provider): a provider's verified email links to what
    /// this returns, so an address anyone could type in at a sign-up form would let its author
    /// take over the real owner's later sign-in.
    async fn find_by_email(&self, email: &str) -> Result<Vec<Account>, AccountError>;

    /// The account with this id.
    async fn find(&self, account_id: &str) -> Result<Option<Account>, AccountError>;

    /// Links `(provider, sub)` to the account, atomically: [`LinkOutcome::SubjectTaken`] if
    /// `(provider, sub)` is linked to any account already, [`LinkOutcome::AlreadyLinkedToProvider`]
    /// if this account already has an identity of `provider`, [`LinkOutcome::Linked`] otherwise.
    async fn link(
        &self,
        account_id: &str,
        provider: &str,
        sub: &str,
    ) -> Result<LinkOutcome, AccountError>;

    /// Creates an account with its identity, atomically: if `(new.provider, new.sub)` is
    /// already linked (a concurrent sign-in won), creates nothing and returns that account as
    /// [`CreateOutcome::SubjectTaken`]. Must not fail because the username is taken.
    async fn create(&self, new: NewAccount) -> Result<CreateOutcome, AccountError>;

    /// Removes the account's identity of `provider`; `false` if it had none.
    async fn unlink(&self, account_id: &str, provider: &str) -> Result<bool, AccountError>;

    /// Whether a first sign-in of `provider` may be linked to `account` because its verified
    /// email matches (asked only for providers with
    /// [`link_by_verified_email`](crate::ProviderBuilder::link_by_verified_email) on, and never
    /// for accounts with a local login, which are not linked this way). `false` refuses the
    /// sign-in and asks the person to sign in to the account and link from there. The default
    /// allows it; return `false` for accounts that must only ever be linked explicitly
    /// (administrators, accounts whose owner turned it off).
    async fn allows_link_by_email(
        &self,
        account: &Account,
        provider: &str,
    ) -> Result<bool, AccountError> {
        let _ = (account, provider);
        Ok(true)
    }
}

#[async_trait]
impl<R: AccountRepository + ?Sized> AccountRepository for Arc<R> {
    async fn find_by_identity(
        &self,
        provider: &str,
        sub: &str,
    ) -> Result<Option<Account>, AccountError> {
        (**self).find_by_identity(provider, sub).await
    }
    async fn find_by_email(&self, email: &str) -> Result<Vec<Account>, AccountError> {
        (**self).find_by_email(email).await
    }
    async fn find(&self, account_id: &str) -> Result<Option<Account>, AccountError> {
        (**self).find(account_id).await
    }
    async fn link(
        &self,
        account_id: &str,
        provider: &str,
        sub: &str,
    ) -> Result<LinkOutcome, AccountError> {
        (**self).link(account_id, provider, sub).await
    }
    async fn create(&self, new: NewAccount) -> Result<CreateOutcome, AccountError> {
        (**self).create(new).await
    }
    async fn unlink(&self, account_id: &str, provider: &str) -> Result<bool, AccountError> {
        (**self).unlink(account_id, provider).await
    }

    async fn allows_link_by_email(
        &self,
        account: &Account,
        provider: &str,
    ) -> Result<bool, AccountError> {
        (**self).allows_link_by_email(account, provider).await
    }
}
