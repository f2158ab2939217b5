//! `t:normalizePath` / `t:normalisePath` and `t:normalizePathWin` / `t:normalisePathWin`
//! (libmodsecurity v3 `NormalisePath::normalize_path_inplace`), quirks included:
//!
//! - Multiple slashes collapse to one; `.` segments are dropped; `..` removes the previous
//!   segment. An absolute path never goes above `/` (`/a/../../etc` gives `/etc`); a
//!   relative path keeps the `..` it cannot resolve (`a/../../b` gives `../b`). An
//!   absolute path reduced to the root by a final `..` without trailing slash becomes
//!   empty (`/a/..` gives ``, `/a/../` gives `/`).
//! - A leading `./` or a relative path whose first segments cancel out loses its leading
//!   slash (`./x` gives `x`, `.` gives the empty string).
//! - A trailing slash is kept only if the input had one.
//! - Like the C code, a back-reference is recognised by its last two bytes, so any segment
//!   ending in `..` (e.g. `foo..`) acts as `..`.
//! - The Windows variant first turns `\` into `/` (in the bytes it looks at).

use std::borrow::Cow;

/// `t:normalizePath`.
pub(super) fn normalize_path(input: &[u8]) -> Cow<'_, [u8]> {
    normalize(input, false)
}

/// `t:normalizePathWin`.
pub(super) fn normalize_path_win(input: &[u8]) -> Cow<'_, [u8]> {
    normalize(input, true)
}

/// Cheap test: can the algorithm change this value at all? It cannot unless the value
/// holds a slash run, a `.` ending a segment that starts the value or follows `/` or `.`,
/// or (Windows) a backslash.
fn may_change(input: &[u8], win: bool) -> bool {
    if win && memchr::memchr(b'\\', input).is_some() {
        return true;
    }
    if memchr::memmem::find(input, b"//").is_some() {
        return true;
    }
    memchr::memchr_iter(b'.', input).any(|p| {
        let ends_segment = matches!(input.get(p + 1), None | Some(b'/'));
        let after = p.checked_sub(1).and_then(|q| input.get(q));
        ends_segment && matches!(after, None | Some(b'/' | b'.'))
    })
}

fn normalize(input: &[u8], win: bool) -> Cow<'_, [u8]> {
    if input.is_empty() || !may_change(input, win) {
        return Cow::Borrowed(input);
    }
    let mut buf = input.to_vec();
    let len = buf.len();
    let end = len - 1;
    let is_sep = |c: u8| c == b'/' || (win && c == b'\\');
    let relative = !buf.first().copied().is_some_and(is_sep);
    let trailing = buf.get(end).copied().is_some_and(is_sep);
    let at = |buf: &Vec<u8>, k: usize| buf.get(k).copied().unwrap_or(0);

    let (mut src, mut dst) = (0usize, 0usize);
    let mut hitroot = false;
    let mut done = false;
    while !done && src <= end && dst <= end {
        if win {
            if at(&buf, src) == b'\\' {
                if let Some(c) = buf.get_mut(src) {
                    *c = b'/';
                }
            }
            if src < end && at(&buf, src + 1) == b'\\' {
                if let Some(c) = buf.get_mut(src + 1) {
                    *c = b'/';
                }
            }
        }

        // Normalise only at the end of a path segment (or of the input).
        let mut normalise = true;
        if src == end {
            done = true;
        } else if at(&buf, src + 1) != b'/' {
            normalise = false;
        }

        if normalise {
            let cur = at(&buf, src);
            if src != end && cur == b'/' {
                // Empty segment: the copy below collapses the slashes.
            } else if cur == b'.' {
                if dst > 0 && at(&buf, dst - 1) == b'.' {
                    // Back-reference.
                    if relative && (hitroot || dst <= 2) {
                        // Nothing to remove in a relative path: keep the "..".
                        hitroot = true;
                    } else {
                        // Drop the ".." and the previous segment, not going above root.
                        let mut d = dst as isize - 3;
                        while d > 0 && at(&buf, d as usize) != b'/' {
                            d -= 1;
                        }
                        if d <= 0 {
                            hitroot = true;
                            d = 0;
                            if !relative && src == end {
                                d += 1; // keep the root slash
                            }
                        }
                        dst = d as usize;
                        if done {
                            continue;
                        }
                        src += 1;
                    }
                } else if dst == 0 {
                    // Relative self-reference at the start.
                    if done {
                        continue;
                    }
                    src += 1;
                } else if at(&buf, dst - 1) == b'/' {
                    // Self-reference.
                    if done {
                        continue;
                    }
                    dst -= 1;
                    src += 1;
                }
            } else if dst > 0 {
                // A regular segment.
                hitroot = false;
            }
        }

        // Copy the byte, skipping to the last slash of a run.
        if at(&buf, src) == b'/' {
            while src < end && is_sep(at(&buf, src + 1)) {
                src += 1;
            }
            if relative && dst == 0 {
                // No leading slash for a relative path.
                src += 1;
                continue;
            }
        }
        let c = at(&buf, src);
        if let Some(slot) = buf.get_mut(dst) {
            *slot = c;
        }
        dst += 1;
        src += 1;
    }
    if !trailing && dst > 0 && at(&buf, dst - 1) == b'/' {
        dst -= 1;
    }
    buf.truncate(dst);
    super::util::finish(input, buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn np(s: &str) -> String {
        String::from_utf8_lossy(&normalize_path(s.as_bytes())).into_owned()
    }

    fn npw(s: &str) -> String {
        String::from_utf8_lossy(&normalize_path_win(s.as_bytes())).into_owned()
    }

    #[test]
    fn crs_cases() {
        assert_eq!(np("/a/b/../../../etc/passwd"), "/etc/passwd");
        assert_eq!(np("./x//y/."), "x/y");
        // The root slash kept for an absolute path ending in ".." is then removed by the
        // trailing-slash rule (the input has no trailing slash), as in the C code.
        assert_eq!(np("/a/.."), "");
        assert_eq!(np("/.."), "");
        assert_eq!(np("/a/../"), "/");
        assert_eq!(np("a/../../b"), "../b");
        assert_eq!(np("../.."), "../..");
        assert_eq!(np("/foo/./bar/"), "/foo/bar/");
        assert_eq!(np("/x/y/.."), "/x");
        assert_eq!(np("/x/y/../"), "/x/");
    }

    #[test]
    fn quirks() {
        // A segment ending in ".." is taken as a back-reference.
        assert_eq!(np("/ab../c"), "/c");
        assert_eq!(np("a../b"), "a../b");
        assert_eq!(np("x."), "x.");
        assert_eq!(np("."), "");
        assert_eq!(np("//"), "/");
        assert_eq!(np("/"), "/");
        assert_eq!(np("a//"), "a/");
    }

    #[test]
    fn windows() {
        assert_eq!(npw("\\windows\\..\\boot.ini"), "/boot.ini");
        assert_eq!(npw("c:\\a\\.\\b\\\\c"), "c:/a/b/c");
        assert_eq!(npw("..\\"), "../");
        assert_eq!(np("a\\..\\b"), "a\\..\\b");
    }

    #[test]
    fn unchanged_is_borrowed() {
        for s in ["", "/foo/bar", "x", "a.b/c.d", "..", "../", "a/b.", "/.x/y"] {
            assert!(
                matches!(normalize_path(s.as_bytes()), Cow::Borrowed(_)),
                "{s}"
            );
        }
        // Unchanged after running the algorithm: still borrowed.
        assert!(matches!(normalize_path(b"../.."), Cow::Borrowed(_)));
    }
}
