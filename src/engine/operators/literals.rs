//! Required literals of a regular expression, for prefiltering.
//!
//! `required_literals(pattern)` returns a set of byte strings (ASCII-lower-cased) such that
//! every match of the pattern contains at least one of them, compared ASCII
//! case-insensitively — or `None` when no useful set can be derived. The engine uses the
//! sets of many rules at once (one Aho-Corasick automaton per transformation chain) to skip
//! rules whose regular expression cannot match any value of the transaction.

use regex_syntax::hir::{Class, Hir, HirKind};

/// Most strings a finite ("exact") set may hold before it is treated as a requirement.
const MAX_EXACT: usize = 256;
/// Longest string kept in an exact set (longer ones are cut to a requirement).
const MAX_LEN: usize = 64;
/// Most literals a requirement may hold.
const MAX_REQUIRED: usize = 4096;
/// Largest byte class enumerated (8 covers `[\s\x0b]`-style classes: on stock CRS, 2-4% fewer
/// instructions per transaction than 4, for 0.25 MB more automaton; 16 gains nothing more).
const MAX_CLASS: usize = 8;

#[derive(Debug, Clone)]
enum Info {
    /// The node matches exactly one of these strings.
    Exact(Vec<Vec<u8>>),
    /// Every match contains one of these strings.
    Required(Vec<Vec<u8>>),
    /// Nothing useful is known.
    Unknown,
}

fn lower(b: &[u8]) -> Vec<u8> {
    b.to_ascii_lowercase()
}

fn dedup(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v.dedup();
    v
}

/// Quality of a requirement: longer shortest literal first, then fewer literals.
fn score(set: &[Vec<u8>]) -> Option<(usize, std::cmp::Reverse<usize>)> {
    let min = set.iter().map(Vec::len).min()?;
    if min == 0 || set.len() > MAX_REQUIRED {
        return None;
    }
    Some((min.min(8), std::cmp::Reverse(set.len())))
}

fn better(a: Option<Vec<Vec<u8>>>, b: Vec<Vec<u8>>) -> Option<Vec<Vec<u8>>> {
    match (a, score(&b)) {
        (None, Some(_)) => Some(b),
        (Some(a), Some(sb)) => match score(&a) {
            Some(sa) if sa >= sb => Some(a),
            _ => Some(b),
        },
        (a, None) => a,
    }
}

fn product(a: &[Vec<u8>], b: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    if a.len().saturating_mul(b.len()) > MAX_EXACT {
        return None;
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            if x.len() + y.len() > MAX_LEN {
                return None;
            }
            let mut s = x.clone();
            s.extend_from_slice(y);
            out.push(s);
        }
    }
    Some(dedup(out))
}

/// The bytes `class` matches (in the engine's byte mode), or `None` when one of its ranges
/// spans `max_range` bytes or more, or it reaches beyond ASCII as a Unicode class (where it
/// may stand for multi-byte sequences).
pub(crate) fn class_bytes(class: &Class, max_range: u32) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    match class {
        Class::Bytes(cb) => {
            for r in cb.iter() {
                if u32::from(r.end() - r.start()) >= max_range {
                    return None;
                }
                bytes.extend(r.start()..=r.end());
            }
        }
        Class::Unicode(cu) => {
            for r in cu.iter() {
                let (lo, hi) = (r.start() as u32, r.end() as u32);
                if hi > 0x7f || hi - lo >= max_range {
                    return None;
                }
                bytes.extend((lo..=hi).map(|b| b as u8));
            }
        }
    }
    Some(bytes)
}

fn analyze(h: &Hir) -> Info {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => Info::Exact(vec![Vec::new()]),
        HirKind::Literal(l) => Info::Exact(vec![lower(&l.0)]),
        HirKind::Class(c) => {
            let Some(mut bytes) = class_bytes(c, 2 * MAX_CLASS as u32 + 2) else { return Info::Unknown };
            bytes.make_ascii_lowercase();
            bytes.sort_unstable();
            bytes.dedup();
            if bytes.is_empty() || bytes.len() > MAX_CLASS {
                Info::Unknown
            } else {
                Info::Exact(bytes.into_iter().map(|b| vec![b]).collect())
            }
        }
        HirKind::Capture(c) => analyze(&c.sub),
        HirKind::Repetition(r) => {
            if r.min == 0 {
                return Info::Unknown;
            }
            match analyze(&r.sub) {
                Info::Exact(s) if r.max == Some(1) => Info::Exact(s),
                Info::Exact(s) | Info::Required(s) => Info::Required(s),
                Info::Unknown => Info::Unknown,
            }
        }
        HirKind::Concat(children) => {
            let mut best: Option<Vec<Vec<u8>>> = None;
            let mut run: Option<Vec<Vec<u8>>> = Some(vec![Vec::new()]);
            let mut all_exact = true;
            for c in children {
                match analyze(c) {
                    Info::Exact(s) => {
                        run = match run.take() {
                            Some(r) => match product(&r, &s) {
                                Some(p) => Some(p),
                                None => {
                                    // The run is too big: keep it as a requirement, restart.
                                    best = better(best, r);
                                    all_exact = false;
                                    Some(s)
                                }
                            },
                            None => Some(s),
                        };
                    }
                    Info::Required(s) => {
                        all_exact = false;
                        if let Some(r) = run.take() {
                            best = better(best, r);
                        }
                        best = better(best, s);
                        run = Some(vec![Vec::new()]);
                    }
                    Info::Unknown => {
                        all_exact = false;
                        if let Some(r) = run.take() {
                            best = better(best, r);
                        }
                        run = Some(vec![Vec::new()]);
                    }
                }
            }
            if all_exact {
                return match run {
                    Some(r) => Info::Exact(r),
                    None => Info::Unknown,
                };
            }
            if let Some(r) = run {
                best = better(best, r);
            }
            match best {
                Some(b) => Info::Required(b),
                None => Info::Unknown,
            }
        }
        HirKind::Alternation(children) => {
            let mut exact: Vec<Vec<u8>> = Vec::new();
            let mut required: Vec<Vec<u8>> = Vec::new();
            let mut all_exact = true;
            for c in children {
                match analyze(c) {
                    Info::Exact(s) => {
                        if all_exact {
                            exact.extend(s.iter().cloned());
                        }
                        required.extend(s);
                    }
                    Info::Required(s) => {
                        all_exact = false;
                        required.extend(s);
                    }
                    Info::Unknown => return Info::Unknown,
                }
                if required.len() > MAX_REQUIRED {
                    return Info::Unknown;
                }
            }
            if all_exact && exact.len() <= MAX_EXACT {
                Info::Exact(dedup(exact))
            } else {
                Info::Required(dedup(required))
            }
        }
    }
}

/// `pattern` (in the `regex` crate's syntax) parsed the way the engine compiles it: bytes,
/// no Unicode, `s` and `m` flags.
pub(crate) fn parse_as_compiled(pattern: &str) -> Option<Hir> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .multi_line(true)
        .dot_matches_new_line(true)
        .nest_limit(1000)
        .build()
        .parse(pattern)
        .ok()
}

/// Literals (lower-cased) one of which every match of `pattern` contains, ASCII
/// case-insensitively; `None` when none can be derived. `pattern` is in the `regex` crate's
/// syntax and is parsed as the engine compiles it (bytes, no Unicode, `s` and `m` flags).
pub fn required_literals(pattern: &str) -> Option<Vec<Vec<u8>>> {
    let hir = parse_as_compiled(pattern)?;
    let set = match analyze(&hir) {
        Info::Exact(s) | Info::Required(s) => dedup(s),
        Info::Unknown => return None,
    };
    score(&set)?;
    Some(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(p: &str) -> Option<Vec<String>> {
        required_literals(p).map(|v| v.into_iter().map(|s| String::from_utf8(s).unwrap()).collect())
    }

    #[test]
    fn extracts_what_every_match_contains() {
        assert_eq!(req("foo"), Some(vec!["foo".into()]));
        assert_eq!(req("(?i)SeLeCt"), Some(vec!["select".into()]));
        assert_eq!(req(r"(?i)\b(?:select|union)\b"), Some(vec!["select".into(), "union".into()]));
        let abc = req(r"ab+c").unwrap();
        assert!(abc == ["a"] || abc == ["b"] || abc == ["c"], "{abc:?}");
        let s = req(r"java\.lang\.(?:runtime|processbuilder)").unwrap();
        assert!(s.iter().all(|x| x.starts_with("java.lang.")), "{s:?}");
        assert_eq!(req(r".*"), None);
        assert_eq!(req(r"[a-z]+"), None);
        assert_eq!(req(r"a?b?"), None);
        assert_eq!(req(r"x|.*"), None);
        let s = req(r"(?i)<script[^>]*>").unwrap();
        assert_eq!(s, vec!["<script".to_string()]);
    }

    #[test]
    fn every_match_contains_a_literal() {
        // Soundness on samples: whenever the regex matches, a literal occurs.
        let cases = [
            (r"(?i)\b(?:eval|set(?:timeout|interval))[\s\x0b]*\(", &["EVAL (1)", "x setTimeout(", "setinterval\x0b("][..]),
            (r"(?:^|[/;\x5c])\.{2,3}[/;\x5c]", &["../x", "a/.../b", ";..\\"][..]),
            (r"(?i)union.{0,10}select", &["UNION ALL SELECT", "union/**/select"][..]),
        ];
        for (p, inputs) in cases {
            let lits = required_literals(p).unwrap_or_default();
            let re = regex::bytes::RegexBuilder::new(p).unicode(false).build().unwrap();
            for i in inputs {
                assert!(re.is_match(i.as_bytes()), "{p} should match {i}");
                if lits.is_empty() {
                    continue;
                }
                let li = i.to_ascii_lowercase();
                assert!(
                    lits.iter().any(|l| li.as_bytes().windows(l.len()).any(|w| w == l.as_slice())),
                    "{p}: {i:?} matched but contains none of {lits:?}"
                );
            }
        }
    }
}
