//! Which of the app's accounts a verified identity belongs to.
//!
//! After the ID token is verified and before a session is created, the layer asks an
//! [`AccountResolver`] for the account the session belongs to. The resolver may also refuse the
//! sign-in with a reason the user sees (a 403 page); when it fails (the database is down) the
//! user sees a 503 and no session is created. The chosen account is available to handlers as
//! [`Identity::account`](crate::Identity::account).
//!
//! Two resolvers ship with the crate:
//!
//! - [`StatelessResolver`], the default: no storage. Every provider identity is its own account,
//!   whose id encodes the issuer and the subject ([`StatelessResolver::account_id`]).
//! - [`LinkingResolver`] over an [`AccountRepository`] the app implements on its own database:
//!   users keep one account across several providers (and the app's own password login), the way
//!   Seq, Jellyseerr or AudioBookRequest do it. `SqlAccounts` (features `postgres` and
//!   `sqlite`) is a ready-made repository in PostgreSQL or SQLite; [`InMemoryAccounts`] one
//!   for tests and demos.
//!
//! # The linking rules
//!
//! [`LinkingResolver`] applies these rules in order. `provider` is the provider's slug and `sub`
//! the subject of the verified ID token.
//!
//! 1. **Linking** (a signed-in user links this provider to their account, `link_to` is set): the
//!    account must exist, `(provider, sub)` must not belong to another account, and the account
//!    must not have another identity of this provider yet; then the identity is linked.
//! 2. **Known identity**: the account `(provider, sub)` is linked to.
//! 3. **Verified email** (only when the provider sent `email_verified: true` and a non-empty
//!    email): the accounts whose trusted email is that address (case-insensitive).
//!    - With the provider's [`link_by_verified_email`](crate::ProviderBuilder::link_by_verified_email)
//!      off (the default), any such account refuses the sign-in: the person is asked to sign in
//!      to that account and link this provider from there (rule 1). No second account is
//!      created for them.
//!    - With it on, the matching accounts that have no identity of this provider yet. Exactly
//!      one: the identity is linked to it and the user signs in to it, unless the account has
//!      a local (break-glass) login or the repository vetoes it
//!      ([`AccountRepository::allows_link_by_email`]); then it is refused as above. More than
//!      one: refused, an administrator must link it.
//!
//!    An unverified or missing email never links.
//! 4. **New user**, when the provider allows new users: an account is created with this
//!    identity. Its email is stored only when verified (see [`NewAccount::email`]).
//! 5. Otherwise refused: "new users are not allowed; ask an administrator to create your
//!    account".
//!
//! Concurrent sign-ins of the same new user create one account: the repository's
//! [`link`](AccountRepository::link) and [`create`](AccountRepository::create) are atomic and
//! report a lost race, and the resolver then uses the winner's account.
//!
//! # Plugging it in
//!
//! Keep an `Arc` of the resolver to unlink identities from the app's account page:
//!
//! ```
//! use std::sync::Arc;
//! use oidc_layer::OidcLayer;
//! use oidc_layer::accounts::{InMemoryAccounts, LinkingResolver, UnlinkError};
//!
//! fn with_accounts(layer: OidcLayer) -> (OidcLayer, Arc<LinkingResolver<InMemoryAccounts>>) {
//!     let accounts = InMemoryAccounts::new();
//!     // An account an administrator created: Alice's first verified sign-in at a provider
//!     // with `link_by_verified_email` links to it.
//!     accounts.add_account("alice", Some("alice@example.com"), true);
//!     let resolver = Arc::new(LinkingResolver::new(accounts));
//!     (layer.with_account_resolver(resolver.clone()), resolver)
//! }
//!
//! // In the account page's "remove Google" handler:
//! async fn remove_google(
//!     resolver: &LinkingResolver<InMemoryAccounts>,
//!     account_id: &str,
//! ) -> Result<(), UnlinkError> {
//!     resolver.unlink(account_id, "google").await
//! }
//! ```
//!
//! # Accounts in PostgreSQL or SQLite
//!
//! `SqlAccounts` (features `postgres`, `sqlite`) keeps the accounts and their provider
//! identities in the app's database, in tables it makes and migrates itself; its docs describe
//! the tables and how it settles races.
//!
//! ```no_run
//! # #[cfg(feature = "sqlite")]
//! # async fn run(layer: oidc_layer::OidcLayer) -> Result<(), oidc_layer::accounts::AccountError> {
//! use std::sync::Arc;
//! use oidc_layer::accounts::{LinkingResolver, SqlAccounts, SqlAccountsConfig};
//!
//! let accounts = SqlAccounts::connect("sqlite://accounts.db", SqlAccountsConfig::new()).await?;
//! if accounts.find_by_username("alice").await?.is_none() {
//!     // Alice's first verified sign-in at a provider with `link_by_verified_email` links here.
//!     accounts.add_account("alice", Some("alice@example.com"), false).await?;
//! }
//! let layer = layer.with_account_resolver(Arc::new(LinkingResolver::new(accounts)));
//! # let _ = layer; Ok(()) }
//! ```
//!
//! # Implementing the repository on the app's own tables
//!
//! An app with a users table of its own implements [`AccountRepository`] over it. Two unique
//! constraints on the identities, `(provider, sub)` and `(account, provider)`, make
//! [`link`](AccountRepository::link) and [`create`](AccountRepository::create) atomic: the
//! database refuses, the code names why. `SqlAccounts` (`src/accounts/sql/`) is a worked
//! example, and the checks it passes are those of `InMemoryAccounts`
//! (`src/accounts/contract.rs`).
//!
//! # Refusing more
//!
//! To refuse disabled accounts, or to apply rules of the app's own, wrap a resolver in another
//! [`AccountResolver`] that inspects its [`Resolution`].

#[cfg(test)]
mod contract;
mod linking;
mod memory;
mod repository;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql;
mod stateless;
pub(crate) use stateless::{current_account, legacy_account};
#[cfg(test)]
mod tests;

use std::error::Error;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::Identity;

pub use linking::{LinkingResolver, UnlinkError};
pub use memory::InMemoryAccounts;
pub use repository::{
    Account, AccountRepository, CreateOutcome, LinkOutcome, LinkedIdentity, NewAccount,
};
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use sql::{SqlAccounts, SqlAccountsConfig};
/// The sqlx [`SqlAccounts`] is built on, for the pools of `SqlAccounts::from_postgres_pool`
/// and `SqlAccounts::from_sqlite_pool` (features `postgres`, `sqlite`).
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use sqlx;
pub use stateless::StatelessResolver;

/// Maps a verified provider identity to the app's account, or refuses the sign-in.
///
/// Called by the layer's callback after the ID token is verified and before a session is
/// created. `Ok(Resolution::Refused { .. })` shows the user a 403 page with the reason;
/// `Err(_)` (the account store failed) shows a 503. Either way no session is created.
///
/// Implemented for `Arc<T>`, so the app can keep a handle to the resolver it gives the layer.
#[async_trait]
pub trait AccountResolver: Send + Sync + 'static {
    /// Decides which account `request.identity` signs in to (or, when `request.link_to` is set,
    /// links it to that account).
    async fn resolve(&self, request: ResolveRequest<'_>) -> Result<Resolution, AccountError>;
}

#[async_trait]
impl<T: AccountResolver + ?Sized> AccountResolver for Arc<T> {
    async fn resolve(&self, request: ResolveRequest<'_>) -> Result<Resolution, AccountError> {
        (**self).resolve(request).await
    }
}

/// What the layer knows when it asks for an account.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ResolveRequest<'a> {
    /// The slug of the provider the user signed in with (`google`, `authentik`).
    pub provider: &'a str,
    /// The provider's display name, for messages (the slug unless set with
    /// [`ResolveRequest::with_provider_name`]).
    pub provider_name: &'a str,
    /// Whether this provider may create accounts for users the app does not know yet.
    pub allow_new_users: bool,
    /// Whether a first sign-in may link to the account with the same verified email
    /// ([`ProviderBuilder::link_by_verified_email`](crate::ProviderBuilder::link_by_verified_email));
    /// `false` unless set with [`ResolveRequest::with_link_by_verified_email`].
    pub link_by_verified_email: bool,
    /// The verified identity.
    pub identity: &'a Identity,
    /// The account id when the signed-in user is linking this provider to their account
    /// (nobody signs in then); `None` for a sign-in.
    pub link_to: Option<&'a str>,
    /// The identity comes from an access token, not a login: only an existing account may
    /// answer; nothing is created or linked, whatever `allow_new_users` says
    /// (`link_by_verified_email` is `false`, `link_to` is `None`). `allow_new_users` keeps the
    /// provider's setting, so a resolver that admits every identity at sign-in (the stateless
    /// one) refuses the same users' tokens. Set with [`ResolveRequest::lookup_only`].
    pub lookup_only: bool,
}

impl<'a> ResolveRequest<'a> {
    /// A request for `identity`, verified by provider `provider` (its slug).
    pub fn new(
        provider: &'a str,
        allow_new_users: bool,
        identity: &'a Identity,
        link_to: Option<&'a str>,
    ) -> Self {
        Self {
            provider,
            provider_name: provider,
            allow_new_users,
            link_by_verified_email: false,
            identity,
            link_to,
            lookup_only: false,
        }
    }

    /// Makes the request a lookup (an access token's identity): the account the identity
    /// already has, or a refusal; never a new or linked account.
    pub fn lookup_only(mut self) -> Self {
        self.link_by_verified_email = false;
        self.link_to = None;
        self.lookup_only = true;
        self
    }

    /// Lets a first sign-in link to the account with the same verified email (the provider's
    /// [`link_by_verified_email`](crate::ProviderBuilder::link_by_verified_email) setting).
    pub fn with_link_by_verified_email(mut self, link: bool) -> Self {
        self.link_by_verified_email = link;
        self
    }

    /// Names the provider in messages with `name` ("Google") rather than its slug.
    pub fn with_provider_name(mut self, name: &'a str) -> Self {
        self.provider_name = name;
        self
    }
}

/// The resolver's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The session belongs to this account (for a link: the identity is now linked to it).
    Account(AccountRef),
    /// No session: the user sees `reason` (so it must say what to do, and never leak a secret).
    Refused {
        /// Why, in a sentence the user understands.
        reason: String,
    },
}

impl Resolution {
    /// A refusal with `reason`.
    pub fn refused(reason: impl Into<String>) -> Self {
        Self::Refused {
            reason: reason.into(),
        }
    }
}

/// The app's account a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRef {
    /// The account id (what [`Identity::account`](crate::Identity::account) returns).
    pub id: String,
    /// The account's username, which replaces the provider's username in the session's
    /// [`Identity`]; `None` keeps the provider's.
    pub username: Option<String>,
}

impl From<&Account> for AccountRef {
    fn from(account: &Account) -> Self {
        Self {
            id: account.id.clone(),
            username: Some(account.username.clone()),
        }
    }
}

/// The account store failed; the layer answers 503 and creates no session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The store could not answer (database down, query failed).
    #[error("the account store failed: {0}")]
    Backend(#[source] Box<dyn Error + Send + Sync>),
    /// The store's answers contradict each other (a repository breaking its contract, or
    /// accounts changing faster than a sign-in can settle).
    #[error("the account store answered inconsistently: {0}")]
    Inconsistent(String),
    /// The store cannot be used as configured (a database URL of no supported kind, an unsafe
    /// table prefix, tables of a newer schema than this version knows).
    #[error("the account store is misconfigured: {0}")]
    Config(String),
}

impl AccountError {
    /// Wraps a store error: `.map_err(AccountError::backend)?`.
    pub fn backend(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self::Backend(error.into())
    }
}
