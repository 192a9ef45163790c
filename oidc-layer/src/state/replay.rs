//! Replay defences that outlive a configuration swap: the states already used at the
//! callback, the `jti`s of accepted logout tokens, and the accepted DPoP proofs.

use std::time::Duration;

use crate::web::attempt::ATTEMPT_TTL;

/// States already used at the callback, each kept as long as a login attempt lives.
pub(crate) type UsedStates = moka::future::Cache<String, ()>;

/// An empty [`UsedStates`].
pub(crate) fn used_states() -> UsedStates {
    moka::future::Cache::builder()
        .max_capacity(1_000_000)
        .time_to_live(ATTEMPT_TTL)
        .build()
}

/// The accepted logout tokens' `issuer jti`, each remembered for as long as its token stays
/// acceptable (`iat` + max age + leeway, see `provider::logout_token`): a replay is refused
/// however late within that window it comes.
pub(crate) type JtiMemory = moka::future::Cache<String, Duration>;

/// Entries live for the duration they hold.
struct UntilUnacceptable;

impl moka::Expiry<String, Duration> for UntilUnacceptable {
    fn expire_after_create(
        &self,
        _key: &String,
        acceptable_for: &Duration,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(*acceptable_for)
    }
}

/// An empty [`JtiMemory`].
pub(crate) fn jti_memory() -> JtiMemory {
    moka::future::Cache::builder()
        .max_capacity(1_000_000)
        .expire_after(UntilUnacceptable)
        .build()
}

/// Records a callback's `state`; `false` when it was used already. Of concurrent callbacks
/// with one state exactly one gets `true`: moka coalesces concurrent initialisations of a key
/// only through `or_insert_with` (its `or_insert` is a get, then an insert).
pub(crate) async fn first_use_of_state(used: &UsedStates, state: String) -> bool {
    used.entry(state).or_insert_with(async {}).await.is_fresh()
}

/// Records a logout token's `issuer jti` for `acceptable_for`; `false` when it was used
/// already. Atomic as [`first_use_of_state`].
pub(crate) async fn first_use_of_jti(
    memory: &JtiMemory,
    key: String,
    acceptable_for: Duration,
) -> bool {
    memory
        .entry(key)
        .or_insert_with(async move { acceptable_for })
        .await
        .is_fresh()
}

/// How many DPoP proofs [`ProofReplay`] remembers at most.
pub(crate) const MAX_REMEMBERED_PROOFS: u64 = 100_000;

/// The DPoP proofs already accepted (`crate::bearer`), each remembered while it would still be
/// accepted (RFC 9449 11.1), by a hash of its key's thumbprint and `jti`
/// (`VerifiedProof::replay_key`).
///
/// Bounded at [`MAX_REMEMBERED_PROOFS`] with least-recently-used eviction, so a new proof is
/// always admitted (moka's default policy may decline to store a new entry, which would let
/// its replay through). Past about `MAX_REMEMBERED_PROOFS` proofs per acceptance window
/// (60 s plus twice the leeway; ~800 proofs a second with the default leeway) the oldest
/// proofs are forgotten before they expire. One process only: instances behind a load
/// balancer do not share it (RFC 9449 11.1 notes the same limit).
pub(crate) struct ProofReplay {
    seen: moka::sync::Cache<[u8; 32], Duration>,
}

impl std::fmt::Debug for ProofReplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProofReplay")
            .field("remembered", &self.seen.entry_count())
            .finish()
    }
}

/// Entries live for the duration they hold (how long the proof stays acceptable).
struct WhileAcceptable;

impl moka::Expiry<[u8; 32], Duration> for WhileAcceptable {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        remember_for: &Duration,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(*remember_for)
    }
}

impl ProofReplay {
    /// An empty cache holding at most [`MAX_REMEMBERED_PROOFS`].
    pub(crate) fn new() -> Self {
        Self::with_capacity(MAX_REMEMBERED_PROOFS)
    }

    pub(crate) fn with_capacity(capacity: u64) -> Self {
        Self {
            seen: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .expire_after(WhileAcceptable)
                .build(),
        }
    }

    /// Records the proof `key` (its `replay_key`) for `remember_for`; `false` when it was
    /// recorded already (a replay). Atomic: of two requests racing with one proof, exactly one
    /// gets `true`.
    pub(crate) fn first_use(&self, key: [u8; 32], remember_for: Duration) -> bool {
        // `or_insert_with`, not `or_insert` (see `first_use_of_state`).
        self.seen
            .entry(key)
            .or_insert_with(|| remember_for)
            .is_fresh()
    }

    /// Runs moka's pending expiry and eviction now (tests).
    #[cfg(test)]
    pub(crate) fn run_pending_tasks(&self) {
        self.seen.run_pending_tasks();
    }
}

impl Default for ProofReplay {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proof_key(round: u16) -> [u8; 32] {
        let mut key = [0; 32];
        key[..2].copy_from_slice(&round.to_le_bytes());
        key
    }

    /// Of concurrent first uses of one key, exactly one wins, for each of the three caches
    /// (moka's `or_insert` let two win now and then).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn of_racing_uses_of_one_key_exactly_one_wins() {
        let (states, jtis, proofs) = (used_states(), jti_memory(), ProofReplay::new());
        let proofs = std::sync::Arc::new(proofs);
        for round in 0..2000u16 {
            let mut tasks = Vec::new();
            for _ in 0..8 {
                let (states, jtis, proofs) = (states.clone(), jtis.clone(), proofs.clone());
                tasks.push(tokio::spawn(async move {
                    let key = format!("key-{round}");
                    (
                        first_use_of_state(&states, key.clone()).await,
                        first_use_of_jti(&jtis, key, Duration::from_secs(60)).await,
                        proofs.first_use(proof_key(round), Duration::from_secs(60)),
                    )
                }));
            }
            let mut wins = (0, 0, 0);
            for task in tasks {
                let (a, b, c) = task.await.expect("a task");
                wins.0 += usize::from(a);
                wins.1 += usize::from(b);
                wins.2 += usize::from(c);
            }
            assert_eq!(wins, (1, 1, 1), "round {round}");
        }
    }

    /// Each `jti` lives as long as its own token stays acceptable, not a fixed time: a token
    /// accepted late in its window is forgotten soon, one accepted early is remembered long.
    #[tokio::test]
    async fn a_jti_is_remembered_exactly_while_its_token_is_acceptable() {
        let memory = jti_memory();
        memory
            .insert("iss short".into(), Duration::from_millis(200))
            .await;
        memory
            .insert("iss long".into(), Duration::from_secs(60))
            .await;
        assert!(memory.contains_key("iss short") && memory.contains_key("iss long"));
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(
            !memory.contains_key("iss short"),
            "forgotten once its token is no longer acceptable"
        );
        assert!(
            memory.contains_key("iss long"),
            "remembered while acceptable"
        );
    }
}
