//! A short summary of the browser at login ("Firefox on Linux") for a "your sessions" page:
//! the names come from fixed lists, so nothing of the `User-Agent` header itself is stored or
//! shown (it is free text the client chose, and a fingerprint).

use http::{HeaderMap, header};

/// How much of the header is looked at: real user agents name browser and system early.
const READ_AT_MOST: usize = 512;

/// Browsers, by a token of their user agent; the first match wins (Edge and Opera also say
/// `Chrome/`, Chrome also says `Safari/`).
const BROWSERS: &[(&str, &str)] = &[
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Version/", "Safari"),
    ("curl/", "curl"),
];

/// Operating systems, by a token of their user agent; the first match wins (Android also says
/// `Linux`, iOS also says `Mac OS X`).
const SYSTEMS: &[(&str, &str)] = &[
    ("Windows", "Windows"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
];

/// "Browser on System" from the request's `User-Agent`, each part from the lists above
/// ("Unknown browser" when neither is recognised); `None` without the header.
pub(crate) fn summary(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::USER_AGENT)?.as_bytes();
    let value = &value[..value.len().min(READ_AT_MOST)];
    let find = |list: &[(&str, &'static str)]| {
        list.iter()
            .find(|(token, _)| contains(value, token.as_bytes()))
            .map(|(_, name)| *name)
    };
    Some(match (find(BROWSERS), find(SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => format!("A browser on {system}"),
        (None, None) => "Unknown browser".to_owned(),
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(user_agent: &[u8]) -> Option<String> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::USER_AGENT,
            http::HeaderValue::from_bytes(user_agent).unwrap(),
        );
        summary(&headers)
    }

    #[test]
    fn real_user_agents() {
        let cases: &[(&str, &str)] = &[
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            ("curl/8.5.0", "curl"),
            (
                "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0)",
                "A browser on ChromeOS",
            ),
            ("<script>alert(1)</script>", "Unknown browser"),
            ("", "Unknown browser"),
        ];
        for (user_agent, expected) in cases {
            assert_eq!(
                of(user_agent.as_bytes()).as_deref(),
                Some(*expected),
                "{user_agent}"
            );
        }
        assert_eq!(summary(&HeaderMap::new()), None);
    }

    #[test]
    fn nothing_of_the_header_is_kept_and_the_length_is_bounded() {
        let hostile = format!("Firefox/1 {} Linux", "x".repeat(10_000));
        // The tokens past the first 512 bytes are not read.
        assert_eq!(of(hostile.as_bytes()).as_deref(), Some("Firefox"));
        assert_eq!(
            of(b"\xff\xfe Chrome/1 Windows").as_deref(),
            Some("Chrome on Windows")
        );
        let longest = BROWSERS.iter().map(|(_, b)| b.len()).max().unwrap_or(0)
            + SYSTEMS.iter().map(|(_, s)| s.len()).max().unwrap_or(0)
            + " on ".len();
        assert!(longest < 40);
    }
}
