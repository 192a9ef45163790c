//! Whether the provider answers now, for a login start: a browser sent to a provider that is
//! down sees the provider's error (or nothing), so the layer shows its 503 page instead.
//!
//! Every call to the provider reports its outcome ([`Provider::note_contact`]). A recent
//! success vouches for the provider; otherwise one login start probes its discovery document
//! (at most [`PROBE_TIMEOUT`]) while the others wait for that probe's result, and a failure is
//! the answer for [`FAILURE_VOUCHES_FOR`] without asking again. So with the provider down, a
//! crowd of login starts costs one probe, not one each in turn.

use std::time::{Duration, Instant};

use super::{Provider, ProviderError};

/// How long a successful contact with the provider vouches for it when a login starts.
const CONTACT_VOUCHES_FOR: Duration = Duration::from_secs(30);
/// How long a failed contact is the answer to login starts before the provider is probed again.
const FAILURE_VOUCHES_FOR: Duration = Duration::from_secs(5);
/// A probe (one small JSON document) that takes longer failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The provider's last contacts, and the probe lock.
#[derive(Default)]
pub(super) struct Reachability {
    contact: std::sync::Mutex<Contact>,
    probe: tokio::sync::Mutex<()>,
}

/// The last successful and failed contacts with the provider, and why the last failure
/// failed (for [`OidcLayer::health`](crate::OidcLayer::health)).
#[derive(Debug, Default, Clone)]
struct Contact {
    ok: Option<Instant>,
    failed: Option<Instant>,
    last_error: Option<String>,
    /// Why the last metadata fetch failed, when it did (the provider answered, but with
    /// unusable metadata or keys; or it did not answer).
    metadata_error: Option<(Instant, String)>,
}

/// What [`Provider::contact_health`] tells: whether the last contact failed, and the reason
/// of the last failure with its time.
pub(crate) struct ContactHealth {
    pub(crate) ok: Option<Instant>,
    pub(crate) failing: bool,
    pub(crate) last_error: Option<(Instant, String)>,
    pub(crate) metadata_error: Option<(Instant, String)>,
}

impl Contact {
    /// What is known about the provider for a login start that began at `asked`: up (a recent
    /// success not followed by a failure), down (a failure since the last success, recent or
    /// seen while waiting), or not known (`None`: probe).
    fn known(&self, asked: Instant) -> Option<Result<(), ProviderError>> {
        let failed_last = self
            .failed
            .filter(|failed| self.ok.is_none_or(|ok| ok < *failed));
        match (self.ok, failed_last) {
            (Some(ok), None) if ok.elapsed() < CONTACT_VOUCHES_FOR => Some(Ok(())),
            (_, Some(failed)) if failed >= asked || failed.elapsed() < FAILURE_VOUCHES_FOR => {
                Some(Err(ProviderError::Unavailable(format!(
                    "the provider could not be reached {} ms ago",
                    failed.elapsed().as_millis()
                ))))
            }
            _ => None,
        }
    }
}

/// A probe under way: dropped before it finished (its caller went away), it counts as a
/// failed contact, so the callers waiting for it do not each probe in turn.
struct Probing<'a> {
    provider: &'a Provider,
    finished: bool,
}

impl Drop for Probing<'_> {
    fn drop(&mut self) {
        if !self.finished {
            tracing::warn!("provider probe cancelled before the provider answered");
            self.provider.note_contact(false);
        }
    }
}

impl Provider {
    /// Records the outcome of a call to the provider (failures: it could not be reached).
    pub(crate) fn note_contact(&self, ok: bool) {
        if ok {
            if let Ok(mut contact) = self.reachability.contact.lock() {
                contact.ok = Some(Instant::now());
            }
        } else {
            self.note_failure("a request to the provider failed".to_owned());
        }
    }

    /// Records a failed contact and why (no token or secret in `reason`).
    pub(crate) fn note_failure(&self, reason: String) {
        if let Ok(mut contact) = self.reachability.contact.lock() {
            contact.failed = Some(Instant::now());
            contact.last_error = Some(reason);
        }
    }

    /// Records the outcome of a metadata fetch (`Some(reason)`: it failed).
    pub(crate) fn note_metadata(&self, failure: Option<String>) {
        if let Ok(mut contact) = self.reachability.contact.lock() {
            contact.metadata_error = failure.map(|reason| (Instant::now(), reason));
        }
    }

    /// The provider's contacts as the health report shows them (no network).
    pub(crate) fn contact_health(&self) -> ContactHealth {
        let Ok(contact) = self.reachability.contact.lock() else {
            return ContactHealth {
                ok: None,
                failing: true,
                last_error: Some((Instant::now(), "internal state unavailable".into())),
                metadata_error: None,
            };
        };
        ContactHealth {
            ok: contact.ok,
            failing: contact
                .failed
                .is_some_and(|failed| contact.ok.is_none_or(|ok| ok < failed)),
            last_error: contact.failed.zip(contact.last_error.clone()),
            metadata_error: contact.metadata_error.clone(),
        }
    }

    /// Probes the provider now unless a probe is already under way (the health report's
    /// background check): its metadata when none is cached, then its discovery document.
    pub(crate) async fn probe_now(self: &std::sync::Arc<Self>) {
        if self.cached_metadata_age().is_none() && self.discovered().await.is_err() {
            return;
        }
        let Ok(_one_at_a_time) = self.reachability.probe.try_lock() else {
            return;
        };
        let _ = self.probe().await;
    }

    fn known(&self, asked: Instant) -> Option<Result<(), ProviderError>> {
        self.reachability
            .contact
            .lock()
            .ok()
            .and_then(|c| c.known(asked))
    }

    /// Before sending a browser to the provider: Ok when a recent contact vouches for it, an
    /// error while a recent failure does, otherwise after one quick request to its discovery
    /// document (one at a time; callers that waited for it take its outcome).
    pub(crate) async fn check_reachable(&self) -> Result<(), ProviderError> {
        let asked = Instant::now();
        if let Some(known) = self.known(asked) {
            return known;
        }
        let _one_at_a_time = self.reachability.probe.lock().await;
        if let Some(known) = self.known(asked) {
            return known;
        }
        self.probe().await
    }

    /// One request to the discovery document, its outcome noted; the caller holds the probe
    /// lock.
    async fn probe(&self) -> Result<(), ProviderError> {
        let mut probing = Probing {
            provider: self,
            finished: false,
        };
        let answer = tokio::time::timeout(
            PROBE_TIMEOUT,
            crate::metrics::provider_call(
                &self.settings.slug,
                "discovery",
                self.http.get_json(&self.settings.discovery_url),
            ),
        )
        .await;
        probing.finished = true;
        let outcome = match answer {
            Ok(Ok((status, _))) if !status.is_server_error() => Ok(()),
            Ok(Ok((status, _))) => Err(ProviderError::Unavailable(format!(
                "discovery document answered {status}"
            ))),
            Ok(Err(e)) => Err(ProviderError::from(e)),
            Err(_) => Err(ProviderError::Unavailable(format!(
                "the provider did not answer within {} s",
                PROBE_TIMEOUT.as_secs()
            ))),
        };
        match &outcome {
            Ok(()) => self.note_contact(true),
            Err(e) => self.note_failure(e.to_string()),
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt as _;

    use super::super::testing::{hanging_provider, provider_at};
    use super::*;

    fn ago(secs: u64) -> Option<Instant> {
        Instant::now().checked_sub(Duration::from_secs(secs))
    }

    #[test]
    fn a_recent_success_vouches_a_recent_failure_refuses_else_probe() {
        let asked = Instant::now();
        let up = |c: Contact| matches!(c.known(asked), Some(Ok(())));
        let down = |c: Contact| matches!(c.known(asked), Some(Err(_)));
        let unknown = |c: Contact| c.known(asked).is_none();
        assert!(unknown(Contact::default()));
        assert!(up(Contact {
            ok: ago(1),
            failed: None,
            ..Contact::default()
        }));
        assert!(
            up(Contact {
                ok: ago(1),
                failed: ago(2),
                ..Contact::default()
            }),
            "recovered"
        );
        assert!(down(Contact {
            ok: ago(2),
            failed: ago(1),
            ..Contact::default()
        }));
        assert!(down(Contact {
            ok: None,
            failed: ago(1),
            ..Contact::default()
        }));
        let old_ok = CONTACT_VOUCHES_FOR.as_secs() + 1;
        assert!(unknown(Contact {
            ok: ago(old_ok),
            failed: None,
            ..Contact::default()
        }));
        let old_failure = FAILURE_VOUCHES_FOR.as_secs() + 1;
        assert!(unknown(Contact {
            ok: None,
            failed: ago(old_failure),
            ..Contact::default()
        }));
        // A failure seen while waiting for the probe is the answer, however old the wait.
        let waited_since = ago(old_failure + 5).expect("the clock is past a few seconds");
        let failed_while_waiting = Contact {
            ok: None,
            failed: ago(old_failure),
            ..Contact::default()
        };
        assert!(matches!(
            failed_while_waiting.known(waited_since),
            Some(Err(_))
        ));
    }

    #[tokio::test]
    async fn a_failed_probe_is_the_answer_for_the_next_login_starts() {
        let (listener, addr) = hanging_provider().await;
        let provider = provider_at(addr);
        drop(listener); // nothing listens: refused at once
        assert!(matches!(
            provider.check_reachable().await,
            Err(ProviderError::Unavailable(_))
        ));
        // The next login starts get that failure at once, without a probe of their own.
        for _ in 0..3 {
            assert!(matches!(
                provider.check_reachable().now_or_never(),
                Some(Err(ProviderError::Unavailable(_)))
            ));
        }
    }

    #[tokio::test]
    async fn a_cancelled_probe_counts_as_a_failure() {
        let (listener, addr) = hanging_provider().await;
        let provider = provider_at(addr);
        {
            let mut probe = std::pin::pin!(provider.check_reachable());
            tokio::select! {
                _ = &mut probe => panic!("a hanging provider cannot answer"),
                accepted = listener.accept() => { accepted.expect("the probe connects"); }
            }
        }
        assert!(matches!(
            provider.check_reachable().now_or_never(),
            Some(Err(ProviderError::Unavailable(_)))
        ));
    }
}
