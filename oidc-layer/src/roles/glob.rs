//! The wildcard matcher of role rules: `*` and `?`, in bounded time.

/// Whether `text` matches `pattern`, where `*` matches any run of characters (also none) and
/// `?` exactly one. The classic two-pointer algorithm: on a mismatch it resumes after the last
/// `*`, one character further, so it never backtracks further than that — at most
/// `pattern.len() * text.len()` steps, with no exponential blow-up.
pub(super) fn glob_match(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    // The position after the last `*` seen, and the text position it is currently tried at.
    let mut resume: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                p += 1;
                resume = Some((p, t));
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match resume {
                Some((after_star, tried_at)) => {
                    p = after_star;
                    t = tried_at + 1;
                    resume = Some((after_star, t));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}
