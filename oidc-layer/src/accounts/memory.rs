//! [`InMemoryAccounts`]: an [`AccountRepository`] in memory, for tests and demos.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use super::linking::{case_key, same_email};
use super::{
    Account, AccountError, AccountRepository, CreateOutcome, LinkOutcome, LinkedIdentity,
    NewAccount,
};

/// Accounts in memory, for tests, examples and demos: lost at exit.
///
/// Clones share the same accounts. Every operation holds one lock for its whole check-and-write,
/// so [`link`](AccountRepository::link) and [`create`](AccountRepository::create) are atomic as
/// the trait asks. Account ids are `"1"`, `"2"`, … in creation order.
#[derive(Debug, Clone, Default)]
pub struct InMemoryAccounts {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    accounts: Vec<Account>,
    last_id: u64,
    /// Accounts that [`AccountRepository::allows_link_by_email`] vetoes.
    no_link_by_email: Vec<String>,
}

impl State {
    fn new_id(&mut self) -> String {
        self.last_id += 1;
        self.last_id.to_string()
    }

    fn by_identity(&self, provider: &str, sub: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| {
            a.identities
                .iter()
                .any(|i| i.provider == provider && i.sub == sub)
        })
    }

    fn by_id_mut(&mut self, id: &str) -> Option<&mut Account> {
        self.accounts.iter_mut().find(|a| a.id == id)
    }

    /// `wanted`, or `wanted-2`, `wanted-3`, … whichever is free (case-insensitive).
    fn free_username(&self, wanted: &str) -> String {
        let taken = |name: &str| {
            self.accounts
                .iter()
                .any(|a| case_key(&a.username) == case_key(name))
        };
        let mut candidate = wanted.to_owned();
        let mut n = 1;
        while taken(&candidate) {
            n += 1;
            candidate = format!("{wanted}-{n}");
        }
        candidate
    }
}

impl InMemoryAccounts {
    /// No accounts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an account with no provider identity (as an administrator or a local sign-up
    /// would), and returns it. The username is taken as given, even if another account has it.
    pub fn add_account(
        &self,
        username: impl Into<String>,
        email: Option<&str>,
        has_local_login: bool,
    ) -> Account {
        let mut state = self.lock();
        let account = Account {
            id: state.new_id(),
            username: username.into(),
            email: email.map(str::to_owned),
            identities: Vec::new(),
            has_local_login,
        };
        state.accounts.push(account.clone());
        account
    }

    /// Vetoes linking a provider to the account by verified email
    /// ([`AccountRepository::allows_link_by_email`]): it can then only be linked explicitly.
    pub fn forbid_link_by_email(&self, account_id: &str) {
        self.lock().no_link_by_email.push(account_id.to_owned());
    }

    /// Every account, in creation order.
    pub fn accounts(&self) -> Vec<Account> {
        self.lock().accounts.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No operation panics half-way through a change, so a poisoned state is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl AccountRepository for InMemoryAccounts {
    async fn find_by_identity(
        &self,
        provider: &str,
        sub: &str,
    ) -> Result<Option<Account>, AccountError> {
        Ok(self.lock().by_identity(provider, sub).cloned())
    }

    async fn find_by_email(&self, email: &str) -> Result<Vec<Account>, AccountError> {
        Ok(self
            .lock()
            .accounts
            .iter()
            .filter(|a| a.email.as_deref().is_some_and(|e| same_email(e, email)))
            .cloned()
            .collect())
    }

    async fn find(&self, account_id: &str) -> Result<Option<Account>, AccountError> {
        Ok(self
            .lock()
            .accounts
            .iter()
            .find(|a| a.id == account_id)
            .cloned())
    }

    async fn link(
        &self,
        account_id: &str,
        provider: &str,
        sub: &str,
    ) -> Result<LinkOutcome, AccountError> {
        let mut state = self.lock();
        if state.by_identity(provider, sub).is_some() {
            return Ok(LinkOutcome::SubjectTaken);
        }
        let Some(account) = state.by_id_mut(account_id) else {
            return Err(AccountError::Inconsistent(format!(
                "cannot link to account `{account_id}`: it does not exist"
            )));
        };
        if account.identity_of(provider).is_some() {
            return Ok(LinkOutcome::AlreadyLinkedToProvider);
        }
        account.identities.push(LinkedIdentity {
            provider: provider.to_owned(),
            sub: sub.to_owned(),
        });
        Ok(LinkOutcome::Linked)
    }

    async fn create(&self, new: NewAccount) -> Result<CreateOutcome, AccountError> {
        let mut state = self.lock();
        if let Some(existing) = state.by_identity(&new.provider, &new.sub) {
            return Ok(CreateOutcome::SubjectTaken(existing.clone()));
        }
        let account = Account {
            id: state.new_id(),
            username: state.free_username(&new.username),
            email: new.email,
            identities: vec![LinkedIdentity {
                provider: new.provider,
                sub: new.sub,
            }],
            has_local_login: false,
        };
        state.accounts.push(account.clone());
        Ok(CreateOutcome::Created(account))
    }

    async fn unlink(&self, account_id: &str, provider: &str) -> Result<bool, AccountError> {
        let mut state = self.lock();
        let Some(account) = state.by_id_mut(account_id) else {
            return Ok(false);
        };
        let before = account.identities.len();
        account.identities.retain(|i| i.provider != provider);
        Ok(account.identities.len() < before)
    }

    async fn allows_link_by_email(
        &self,
        account: &Account,
        _provider: &str,
    ) -> Result<bool, AccountError> {
        Ok(!self.lock().no_link_by_email.contains(&account.id))
    }
}
