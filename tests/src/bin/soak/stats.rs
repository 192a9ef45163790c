//! What the soak counts, per minute and in total, and the outage windows it announced.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A 5xx or an error inside an announced outage window, or this long after its end (the
/// layer answers login starts with the 503 page for a few seconds after a failed contact).
pub const GRACE: Duration = Duration::from_secs(10);

/// Something a simulated user saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    LoginCompleted,
    /// A login that did not end signed in (the provider or the app was down).
    LoginFailed,
    LoginAbandoned,
    /// RP-initiated logout, through the app and the provider's confirmation.
    Logout,
    /// Signed out at the provider, which told the app by back-channel logout.
    BackChannelLogout,
    /// A signed-in user found signed out with no logout of theirs: must stay 0.
    LostSession,
    /// A back-channel logout whose session was still usable 5 s later.
    BackChannelMissed,
    /// The same within an outage window: the app could not apply the logout token (the store
    /// was down, it answered 400 as the spec says) and the provider does not send it again;
    /// the session ends at its next refresh, which the provider refuses.
    BackChannelMissedInOutage,
    /// A request that got no answer at all (connection refused, timeout).
    NoAnswer,
}

#[derive(Default)]
pub struct Minute {
    pub requests: u64,
    pub by_status: BTreeMap<u16, u64>,
    pub latencies_us: Vec<u32>,
    pub events: BTreeMap<Event, u64>,
    pub errors_in_window: u64,
    pub errors_outside: u64,
    /// 5xx other than the layer's 503 (a 500, a 502 of the balancer...), anywhere.
    pub not_503: u64,
    pub refreshes: u64,
    pub rss_kib: Vec<Option<u64>>,
}

pub struct Stats {
    pub start: Instant,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    minutes: Vec<Minute>,
    windows: Vec<(Instant, Option<Instant>, String)>,
    notes: Vec<String>,
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            start: Instant::now(),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn with_minute<R>(&self, at: Instant, f: impl FnOnce(&mut Minute) -> R) -> R {
        let index = (at.duration_since(self.start).as_secs() / 60) as usize;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        while inner.minutes.len() <= index {
            inner.minutes.push(Minute::default());
        }
        f(&mut inner.minutes[index])
    }

    fn in_window(&self, at: Instant) -> bool {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .windows
            .iter()
            .any(|(from, to, _)| at >= *from && to.is_none_or(|to| at <= to + GRACE))
    }

    pub fn elapsed(&self) -> String {
        let s = self.start.elapsed().as_secs();
        format!("{:02}:{:02}", s / 60, s % 60)
    }

    /// A response the balancer passed on.
    pub fn response(&self, status: u16, latency: Duration) {
        let now = Instant::now();
        let in_window = status >= 500 && self.in_window(now);
        self.with_minute(now, |m| {
            m.requests += 1;
            *m.by_status.entry(status).or_default() += 1;
            m.latencies_us
                .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
            if status >= 500 {
                if in_window {
                    m.errors_in_window += 1;
                } else {
                    m.errors_outside += 1;
                }
                if status != 503 {
                    m.not_503 += 1;
                }
            }
        });
    }

    /// A user's event; `what` says more for the notes (lost sessions and errors outside a
    /// window are listed at the end).
    pub fn event(&self, event: Event, what: impl FnOnce() -> String) {
        let now = Instant::now();
        let in_window = self.in_window(now);
        let event = match event {
            Event::BackChannelMissed if in_window => Event::BackChannelMissedInOutage,
            other => other,
        };
        let noted = matches!(
            event,
            Event::LostSession | Event::BackChannelMissed | Event::BackChannelMissedInOutage
        ) || (event == Event::NoAnswer && !in_window);
        self.with_minute(now, |m| {
            *m.events.entry(event).or_default() += 1;
            if event == Event::NoAnswer {
                if in_window {
                    m.errors_in_window += 1;
                } else {
                    m.errors_outside += 1;
                }
            }
        });
        if noted {
            let note = format!(
                "[{}] {event:?}{}: {}",
                self.elapsed(),
                if in_window {
                    " (in an outage window)"
                } else {
                    ""
                },
                what()
            );
            println!("{note}");
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if inner.notes.len() < 200 {
                inner.notes.push(note);
            }
        }
    }

    pub fn window_opens(&self, what: &str) -> usize {
        println!("[{}] outage: {what} ...", self.elapsed());
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.windows.push((Instant::now(), None, what.to_string()));
        inner.windows.len() - 1
    }

    pub fn window_closes(&self, index: usize) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (from, to, what) = &mut inner.windows[index];
        *to = Some(Instant::now());
        println!(
            "[{}] outage over: {what} ({:.1} s)",
            self.elapsed(),
            from.elapsed().as_secs_f64()
        );
    }

    pub fn minute_sample(&self, refreshes: u64, rss_kib: Vec<Option<u64>>) {
        // Sampled just before a minute ends: belongs to that minute.
        let at = Instant::now() - Duration::from_millis(500);
        self.with_minute(at, |m| {
            m.refreshes = refreshes;
            m.rss_kib = rss_kib;
        });
    }

    /// The line of minute `index` (1-based in the output), or the total line.
    pub fn report_minute(&self, index: usize) -> String {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match inner.minutes.get(index) {
            Some(m) => line(&format!("{:>4}", index + 1), m),
            None => String::new(),
        }
    }

    pub fn report_total(&self) -> (String, Totals) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut total = Minute::default();
        for m in &inner.minutes {
            total.requests += m.requests;
            for (s, n) in &m.by_status {
                *total.by_status.entry(*s).or_default() += n;
            }
            total.latencies_us.extend_from_slice(&m.latencies_us);
            for (e, n) in &m.events {
                *total.events.entry(*e).or_default() += n;
            }
            total.errors_in_window += m.errors_in_window;
            total.errors_outside += m.errors_outside;
            total.not_503 += m.not_503;
            total.refreshes += m.refreshes;
        }
        total.rss_kib = inner
            .minutes
            .iter()
            .rev()
            .find(|m| !m.rss_kib.is_empty())
            .map(|m| m.rss_kib.clone())
            .unwrap_or_default();
        let mut out = line("total", &total);
        let _ = writeln!(out);
        let _ = writeln!(out, "outage windows:");
        for (from, to, what) in &inner.windows {
            let _ = writeln!(
                out,
                "  {:>6.1} s .. {:>6.1} s  {what}",
                from.duration_since(self.start).as_secs_f64(),
                to.map_or(f64::NAN, |t| t.duration_since(self.start).as_secs_f64())
            );
        }
        if !inner.notes.is_empty() {
            let _ = writeln!(out, "notes:");
            for note in &inner.notes {
                let _ = writeln!(out, "  {note}");
            }
        }
        let count = |e| total.events.get(&e).copied().unwrap_or(0);
        let totals = Totals {
            lost: count(Event::LostSession),
            missed: count(Event::BackChannelMissed),
            errors_outside: total.errors_outside,
            not_503: total.not_503,
            logins: count(Event::LoginCompleted),
        };
        (out, totals)
    }
}

/// What decides the soak's exit status.
pub struct Totals {
    pub lost: u64,
    pub missed: u64,
    pub errors_outside: u64,
    pub not_503: u64,
    pub logins: u64,
}

pub fn header() -> String {
    format!(
        "{:>5} {:>7} {:<34} {:>6} {:>5} {:>6} {:>5} {:>5} {:>9} {:>8} {:>8}  {}",
        "min",
        "reqs",
        "by status",
        "logins",
        "fail",
        "refr",
        "ended",
        "lost",
        "5xx in/out",
        "p50 ms",
        "p99 ms",
        "RSS MiB (per instance)"
    )
}

fn line(label: &str, m: &Minute) -> String {
    let mut lat = m.latencies_us.clone();
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        let i = ((lat.len() as f64 - 1.0) * p).round() as usize;
        f64::from(lat[i]) / 1000.0
    };
    let statuses = m
        .by_status
        .iter()
        .map(|(s, n)| format!("{s}:{n}"))
        .collect::<Vec<_>>()
        .join(" ");
    let count = |e| m.events.get(&e).copied().unwrap_or(0);
    let rss = m
        .rss_kib
        .iter()
        .map(|r| r.map_or("down".to_string(), |k| format!("{:.1}", k as f64 / 1024.0)))
        .collect::<Vec<_>>()
        .join(" / ");
    format!(
        "{label:>5} {:>7} {statuses:<34} {:>6} {:>5} {:>6} {:>5} {:>5} {:>4}/{:<4} {:>8.2} {:>8.2}  {rss}",
        m.requests,
        count(Event::LoginCompleted),
        count(Event::LoginFailed),
        m.refreshes,
        count(Event::Logout) + count(Event::BackChannelLogout),
        count(Event::LostSession),
        m.errors_in_window,
        m.errors_outside,
        pct(0.5),
        pct(0.99),
    )
}
