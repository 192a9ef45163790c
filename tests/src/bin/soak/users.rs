//! The simulated users: each a browser that signs in at the provider, browses, calls the app's
//! JSON endpoints (three at once, as a page's scripts do), signs out through the app or at the
//! provider (back-channel logout), and sometimes starts a login it abandons.
//!
//! Every action runs as a task of its own: the scripted browser panics on a transport error
//! (the app or the provider down), which ends the action, not the user.

use std::sync::Arc;
use std::time::{Duration, Instant};

use oidc_e2e::{AtProvider, Browser, Page};
use reqwest::StatusCode;
use url::Url;

use crate::stats::{Event, Stats};

pub struct World {
    pub app: String,
    pub end_session: Url,
    pub stats: Arc<Stats>,
    pub deadline: Instant,
}

impl World {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app)
    }
}

/// A small xorshift generator seeded from the system: the mix of actions, not security.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).expect("system randomness");
        Rng(u64::from_le_bytes(seed) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.next() % (to - from))
    }
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Browse,
    Api,
    Logout,
    BackChannel,
}

/// The provider account of simulated user `n` (password `<account>-password`).
pub fn account(n: usize) -> String {
    format!("soak{n}")
}

pub async fn user(world: Arc<World>, n: usize) {
    let name = account(n);
    let mut rng = Rng::new();
    let mut signed_in: Option<Browser> = None;
    while Instant::now() < world.deadline {
        tokio::time::sleep(rng.millis(150, 600)).await;
        let w = Arc::clone(&world);
        match signed_in.take() {
            None => {
                let abandon = rng.unit() < 0.1;
                let name = name.clone();
                let task = tokio::spawn(async move {
                    if abandon {
                        abandon_login(&w).await;
                        None
                    } else {
                        log_in(&w, &name).await
                    }
                });
                signed_in = task.await.unwrap_or_else(|_| {
                    world.stats.event(Event::LoginFailed, String::new);
                    None
                });
            }
            Some(browser) => {
                let roll = rng.unit();
                // A session lasts about 75 actions (half a minute): long enough for several
                // refreshes of 10-second tokens.
                let action = if roll < 0.65 {
                    Action::Browse
                } else if roll < 0.987 {
                    Action::Api
                } else if roll < 0.995 {
                    Action::Logout
                } else {
                    Action::BackChannel
                };
                let kept = browser.clone();
                let task = tokio::spawn(async move { act(&w, browser, action).await });
                signed_in = match task.await {
                    Ok(next) => next,
                    // A transport error while browsing: the session may well be alive; carry
                    // on with it. During a logout (the app ends the session before it sends
                    // the browser to the provider) or a logout at the provider, the outcome
                    // is unknown: this user starts afresh, and it counts as neither.
                    Err(_) => match action {
                        Action::Browse | Action::Api => Some(kept),
                        Action::Logout | Action::BackChannel => None,
                    },
                };
            }
        }
    }
}

async fn log_in(w: &World, name: &str) -> Option<Browser> {
    let browser = Browser::new();
    let first = browser.get(w.url("/profile")).await;
    let journey = browser.follow_with(first, AtProvider::log_in(name)).await;
    let last = journey.last();
    if last.status == StatusCode::OK && last.url.path() == "/profile" {
        w.stats.event(Event::LoginCompleted, String::new);
        Some(browser)
    } else {
        w.stats.event(Event::LoginFailed, String::new);
        None
    }
}

async fn abandon_login(w: &World) {
    let browser = Browser::new();
    let first = browser.get(w.url("/profile")).await;
    let journey = browser.follow_with(first, AtProvider::Stay).await;
    if journey.last().url.origin() != w.end_session.origin() {
        w.stats.event(Event::LoginFailed, String::new);
        return;
    }
    w.stats.event(Event::LoginAbandoned, String::new);
}

/// What a signed-in user's request says about the session: `Some(true)` signed in,
/// `Some(false)` signed out, `None` no verdict (a 5xx, counted by the balancer).
fn verdict(page: &Page) -> Option<bool> {
    match page.status.as_u16() {
        200 => Some(true),
        401 => Some(false),
        302 | 303 | 307 => Some(false),
        _ => None,
    }
}

async fn act(w: &World, browser: Browser, action: Action) -> Option<Browser> {
    match action {
        Action::Browse => {
            let page = browser.get(w.url("/profile")).await;
            still_signed_in(w, browser, &page, "GET /profile")
        }
        Action::Api => {
            let url = w.url("/whoami");
            let (a, b, c) = tokio::join!(
                browser.fetch(&url),
                browser.fetch(&url),
                browser.fetch(&url)
            );
            for page in [&a, &b, &c] {
                if verdict(page) == Some(false) {
                    return still_signed_in(w, browser, page, "fetch /whoami");
                }
            }
            let statuses = [a.status, b.status, c.status];
            if !statuses
                .iter()
                .all(|s| *s == StatusCode::OK || s.is_server_error())
            {
                w.stats
                    .event(Event::NoAnswer, || format!("fetch /whoami: {statuses:?}"));
            }
            Some(browser)
        }
        Action::Logout => {
            let form = browser.get(w.url("/auth/logout")).await;
            if form.form("logout").is_some() {
                let sent = browser.submit(&form, "logout", &[]).await;
                let journey = browser.follow_with(sent, AtProvider::Stay).await;
                if let Some(confirm) = journey
                    .last()
                    .form("op.logoutForm")
                    .map(|_| journey.last().clone())
                {
                    let back = browser
                        .submit(&confirm, "op.logoutForm", &[("logout", "yes")])
                        .await;
                    browser.follow_with(back, AtProvider::Stay).await;
                }
            }
            signed_out_after(w, browser, Event::Logout).await
        }
        Action::BackChannel => {
            let confirm = browser.get(w.end_session.as_str()).await;
            if confirm.form("op.logoutForm").is_none() {
                return Some(browser);
            }
            let done = browser
                .submit(&confirm, "op.logoutForm", &[("logout", "yes")])
                .await;
            if !done.is_redirect() {
                return Some(browser);
            }
            signed_out_after(w, browser, Event::BackChannelLogout).await
        }
    }
}

fn still_signed_in(w: &World, browser: Browser, page: &Page, what: &str) -> Option<Browser> {
    match verdict(page) {
        Some(false) => {
            w.stats.event(Event::LostSession, || {
                // The path only: a redirect to the provider carries a state and a nonce.
                let location = page
                    .location()
                    .map(|l| format!("{}{}", l.origin().ascii_serialization(), l.path()));
                format!("{what} answered {} (location {location:?})", page.status)
            });
            None
        }
        _ => Some(browser),
    }
}

/// After a logout: signed out within 5 s (`event`), else still signed in (a logout that did
/// not go through: kept; a back-channel logout the app missed: counted).
async fn signed_out_after(w: &World, browser: Browser, event: Event) -> Option<Browser> {
    let started = Instant::now();
    loop {
        let page = browser.fetch(w.url("/whoami")).await;
        match verdict(&page) {
            Some(false) => {
                w.stats.event(event, String::new);
                return None;
            }
            Some(true) if event == Event::Logout => return Some(browser),
            _ => {}
        }
        if started.elapsed() > Duration::from_secs(5) {
            if event == Event::BackChannelLogout {
                w.stats.event(Event::BackChannelMissed, || {
                    format!(
                        "still signed in 5 s after the provider's logout ({})",
                        page.status
                    )
                });
                return None;
            }
            return Some(browser);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
