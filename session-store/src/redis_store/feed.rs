//! [`RedisStore`]'s [`ChangeFeed`]: the pub/sub subscription that tells
//! [`TwoTierStore`](crate::TwoTierStore)s what other instances changed.

use std::sync::Weak;
use std::time::Duration;

use futures_util::StreamExt as _;

use super::RedisStore;
use crate::Fingerprint;
use crate::two_tier::{ChangeFeed, Invalidate};

/// How often the subscription connection is pinged: a connection that stopped answering is
/// replaced within about twice this.
const SUBSCRIPTION_PING: Duration = Duration::from_secs(1);
/// The longest wait between two attempts to subscribe while Redis is away.
const MAX_RESUBSCRIBE_DELAY: Duration = Duration::from_secs(2);

/// Tells [`TwoTierStore`](crate::TwoTierStore)s about every record saved or deleted by any
/// instance, through the pub/sub channel `P` `changes`.
///
/// One task per watching store keeps a dedicated subscription connection: it pings it every
/// second, replaces it when it breaks, and on every (re)subscription tells the store to forget
/// its whole local tier (changes published while it was not subscribed are lost).
///
/// On Redis Cluster the scripts `PUBLISH` on the master that owns the record, and the cluster
/// bus forwards every message to every node: the task subscribes on one of the configured
/// nodes, and moves to the next one when that node fails (and forgets the local tier then too).
impl<T> ChangeFeed for RedisStore<T>
where
    T: Send + Sync + 'static,
{
    fn watch(&self, sink: Weak<dyn Invalidate>) {
        let clients = self.inner.subscribers.clone();
        let channel = self.inner.channel.clone();
        let timeout = self.inner.config.connect_timeout;
        tokio::spawn(subscribe(clients, channel, timeout, sink));
    }
}

async fn subscribe(
    clients: Vec<redis::Client>,
    channel: String,
    timeout: Duration,
    sink: Weak<dyn Invalidate>,
) {
    let mut delay = Duration::from_millis(50);
    let mut failures = 0usize;
    // The node tried next (always the one for a single Redis): after a failure, the next one.
    let mut next = 0usize;
    while sink.strong_count() > 0 {
        let Some(client) = clients.get(next % clients.len().max(1)) else {
            return;
        };
        next = next.wrapping_add(1);
        let connected = tokio::time::timeout(timeout, async {
            let (mut commands, messages) = client.get_async_pubsub().await?.split();
            commands.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>((commands, messages))
        })
        .await;
        let (mut commands, mut messages) = match connected {
            Ok(Ok(connection)) => connection,
            Ok(Err(e)) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(error = %e, "cannot subscribe to session changes; retrying");
                }
                // Another node may answer at once; after a round of them, wait.
                if failures.is_multiple_of(clients.len()) {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_RESUBSCRIBE_DELAY);
                }
                continue;
            }
            Err(_) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!("subscribing to session changes timed out; retrying");
                }
                if failures.is_multiple_of(clients.len()) {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_RESUBSCRIBE_DELAY);
                }
                continue;
            }
        };

        // Whatever was published while unsubscribed is lost: start over.
        match sink.upgrade() {
            Some(sink) => sink.invalidate_all(),
            None => return,
        }
        tracing::info!(channel, "subscribed to session changes");
        delay = Duration::from_millis(50);
        failures = 0;
        let mut ping = tokio::time::interval(SUBSCRIPTION_PING);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else { break };
                    let Some(sink) = sink.upgrade() else { return };
                    match Fingerprint::parse(message.get_payload_bytes()) {
                        Some(fingerprint) => sink.invalidate(&fingerprint),
                        // Not ours (or a future format): be safe.
                        None => sink.invalidate_all(),
                    }
                }
                _ = ping.tick() => {
                    if sink.strong_count() == 0 {
                        return;
                    }
                    let answered = tokio::time::timeout(
                        SUBSCRIPTION_PING,
                        commands.ping::<redis::Value>(),
                    )
                    .await;
                    if !matches!(answered, Ok(Ok(_))) {
                        break;
                    }
                }
            }
        }
        tracing::warn!(
            channel,
            "lost the subscription to session changes; resubscribing (meanwhile other instances' changes show within the staleness bound)"
        );
    }
}
