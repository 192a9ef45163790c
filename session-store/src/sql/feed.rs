//! [`PostgresStore`]'s [`ChangeFeed`]: `LISTEN` on the store's channel, which every write
//! `NOTIFY`s (in its transaction, so only committed changes are heard).

use std::sync::Weak;
use std::time::Duration;

use sqlx::postgres::PgListener;

use super::postgres::PostgresStore;
use crate::Fingerprint;
use crate::two_tier::{ChangeFeed, Invalidate};

/// How often the listening connection is checked with a query: a connection that stopped
/// answering is replaced within about twice this.
const LISTENER_PING: Duration = Duration::from_secs(1);
/// The longest wait between two attempts to listen while PostgreSQL is away.
const MAX_RELISTEN_DELAY: Duration = Duration::from_secs(2);

/// Tells [`TwoTierStore`](crate::TwoTierStore)s about every record saved or deleted by any
/// instance, through `LISTEN/NOTIFY` on the channel `P` `changes`.
///
/// One task per watching store keeps a dedicated connection (not one of the pool's): it checks
/// it every second, replaces it when it breaks, and on every (re)listen tells the store to
/// forget its whole local tier (notifications sent while it was not listening are lost).
impl<T> ChangeFeed for PostgresStore<T>
where
    T: Send + Sync + 'static,
{
    fn watch(&self, sink: Weak<dyn Invalidate>) {
        let pool = self.inner.pool.clone();
        let channel = self.inner.channel.clone();
        let timeout = self.config().acquire_timeout;
        tokio::spawn(listen(pool, channel, timeout, sink));
    }
}

async fn listen(
    pool: sqlx::PgPool,
    channel: String,
    timeout: Duration,
    sink: Weak<dyn Invalidate>,
) {
    let mut delay = Duration::from_millis(50);
    let mut failures = 0u32;
    while sink.strong_count() > 0 {
        let connected = tokio::time::timeout(timeout, async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(&channel).await?;
            Ok::<_, sqlx::Error>(listener)
        })
        .await;
        let mut listener = match connected {
            Ok(Ok(listener)) => listener,
            failed => {
                failures += 1;
                if failures == 1 {
                    match failed {
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "cannot listen to session changes; retrying");
                        }
                        _ => tracing::warn!("listening to session changes timed out; retrying"),
                    }
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RELISTEN_DELAY);
                continue;
            }
        };
        // Whatever was notified while not listening is lost: start over.
        match sink.upgrade() {
            Some(sink) => sink.invalidate_all(),
            None => return,
        }
        tracing::info!(channel, "listening to session changes");
        delay = Duration::from_millis(50);
        failures = 0;
        let mut ping = tokio::time::interval(LISTENER_PING);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let event = tokio::select! {
                notification = listener.try_recv() => Some(notification),
                _ = ping.tick() => None,
            };
            match event {
                // `None`: the connection was lost. Ours to notice, not to have re-made behind
                // our back (`recv` would): the local tier must be forgotten when it happens.
                Some(Ok(Some(notification))) => {
                    let Some(sink) = sink.upgrade() else { return };
                    match Fingerprint::parse(notification.payload().as_bytes()) {
                        Some(fingerprint) => sink.invalidate(&fingerprint),
                        // Not ours (or a future format): be safe.
                        None => sink.invalidate_all(),
                    }
                }
                Some(_) => break,
                None => {
                    if sink.strong_count() == 0 {
                        return;
                    }
                    let answered = tokio::time::timeout(
                        LISTENER_PING,
                        sqlx::query("SELECT 1").execute(&mut listener),
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
            "lost the connection listening to session changes; listening again (meanwhile other instances' changes show within the staleness bound)"
        );
    }
}
