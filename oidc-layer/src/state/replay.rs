//! Replay defences that outlive a configuration swap: the states already used at the
//! callback, and the `jti`s of accepted logout tokens.

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

#[cfg(test)]
mod tests {
    use super::*;

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
