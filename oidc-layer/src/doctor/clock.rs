//! The `clock` check: the provider's `Date` header against this machine's clock (a warning
//! above `clock_leeway_seconds`).

use std::time::{Duration, SystemTime};

use http::{HeaderMap, header};

use super::{Level, ProviderReport};

/// How long a clock may be off before the doctor says so, at least: the `Date` header has a
/// resolution of one second, and the request takes time.
const CLOCK_RESOLUTION: Duration = Duration::from_secs(2);

/// Parses an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 IMF-fixdate).
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let parsed = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    let seconds = u64::try_from(parsed.timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
}

/// The provider's `Date` header against this machine's clock, allowing for the time the
/// request took.
pub(super) fn check(
    report: &mut ProviderReport,
    headers: &HeaderMap,
    sent: SystemTime,
    elapsed: Duration,
    leeway: Duration,
) {
    let Some(theirs) = headers
        .get(header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date)
    else {
        report.push(
            Level::Ok,
            "clock",
            "the provider sent no Date header; clock skew not checked",
        );
        return;
    };
    // The provider stamped its answer some time between sending and receiving.
    let ours = sent + elapsed / 2;
    let (skew, ahead) = match theirs.duration_since(ours) {
        Ok(d) => (d, true),
        Err(e) => (e.duration(), false),
    };
    // The Date header truncates to whole seconds.
    let skew = skew.saturating_sub(Duration::from_secs(1));
    let seconds = skew.as_secs();
    let direction = if ahead { "ahead of" } else { "behind" };
    if skew > leeway.max(CLOCK_RESOLUTION) {
        report.push(
            Level::Warn,
            "clock",
            format!(
                "the provider's clock is about {seconds} s {direction} this machine's, more than the clock leeway of {} s: ID tokens may be refused as issued in the future or expired; sync both clocks (NTP)",
                leeway.as_secs()
            ),
        );
    } else {
        report.push(
            Level::Ok,
            "clock",
            format!(
                "within {} s of this machine's clock (leeway {} s)",
                seconds.max(1),
                leeway.as_secs()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Finding;

    #[test]
    fn http_dates() {
        let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            784_111_777
        );
        assert!(parse_http_date("yesterday").is_none());
    }

    fn clock(date: SystemTime, leeway: u64) -> Finding {
        let mut report = ProviderReport {
            name: "p".into(),
            slug: "p".into(),
            issuer: "https://id.example.com".into(),
            findings: Vec::new(),
        };
        let mut headers = HeaderMap::new();
        let http_date = chrono::DateTime::<chrono::Utc>::from(date)
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        headers.insert(header::DATE, http_date.parse().unwrap());
        check(
            &mut report,
            &headers,
            SystemTime::now(),
            Duration::from_millis(10),
            Duration::from_secs(leeway),
        );
        report.findings.remove(0)
    }

    #[test]
    fn clock_skew_beyond_the_leeway_warns() {
        let now = SystemTime::now();
        assert_eq!(clock(now, 30).level, Level::Ok);
        let ahead = clock(now + Duration::from_secs(120), 30);
        assert_eq!(ahead.level, Level::Warn, "{ahead:?}");
        assert!(ahead.message.contains("ahead of"), "{}", ahead.message);
        let behind = clock(now - Duration::from_secs(45), 30);
        assert_eq!(behind.level, Level::Warn);
        assert!(behind.message.contains("behind"), "{}", behind.message);
        assert_eq!(clock(now - Duration::from_secs(45), 60).level, Level::Ok);
    }
}
