//! Byte clauses of a regular expression: sets of bytes such that every match contains at
//! least one byte of each set.
//!
//! Many CRS regexes have no required literal (command names with an optional quote or
//! backslash between every letter, `javascript:` with optional entities between letters),
//! so the literal prefilter lets them run on every value. Their matches still need certain
//! bytes: `(?i)(?:j|&#...;)...(?::|&#...;)` cannot match a text with neither `:` nor `&`.
//! A value missing every byte of one clause is rejected with a `memchr` scan or a table
//! lookup per byte instead of a regex search.
//!
//! The analysis works on the parsed pattern (`regex-syntax` HIR) as a conjunction of clauses:
//! a concatenation needs the clauses of all its parts, a repetition with a minimum of one
//! those of its body, an alternation a clause `a ∪ b` for clauses `a`, `b` of its branches,
//! and anything that can match the empty string (`x*`, `x?`, anchors) none.

use regex_syntax::hir::{Hir, HirKind};

use super::literals::class_bytes;
use crate::engine::transformations::triggers::{present, union, ByteSet as Set};

/// Most clauses kept per node (the smallest ones).
const MAX_CLAUSES: usize = 8;
/// Clauses larger than this are dropped: nearly every text satisfies them.
const MAX_CLAUSE_BYTES: u32 = 24;
/// Clauses checked at run time.
const MAX_CHECKED: usize = 2;

fn count(s: &Set) -> u32 {
    s.iter().map(|w| w.count_ones()).sum()
}

fn subset(a: &Set, b: &Set) -> bool {
    a.iter().zip(b).all(|(x, y)| x & !y == 0)
}

/// Keeps the useful clauses: small ones, no clause implied by a smaller one (a superset),
/// at most `MAX_CLAUSES`.
fn prune(mut v: Vec<Set>) -> Vec<Set> {
    v.retain(|s| count(s) <= MAX_CLAUSE_BYTES);
    v.sort_by_key(|s| (count(s), *s));
    v.dedup();
    let mut out: Vec<Set> = Vec::new();
    for s in v {
        if !out.iter().any(|o| subset(o, &s)) {
            out.push(s);
        }
        if out.len() == MAX_CLAUSES {
            break;
        }
    }
    out
}

/// Clauses every match of `h` satisfies (empty: nothing is required).
fn clauses(h: &Hir) -> Vec<Set> {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => Vec::new(),
        HirKind::Literal(l) => prune(l.0.iter().map(|&b| present(&[b])).collect()),
        HirKind::Class(c) => match class_bytes(c, MAX_CLAUSE_BYTES) {
            // An empty class never matches; nothing useful to say about it either.
            Some(bytes) if !bytes.is_empty() => prune(vec![present(&bytes)]),
            _ => Vec::new(),
        },
        HirKind::Capture(c) => clauses(&c.sub),
        HirKind::Repetition(r) => {
            if r.min == 0 {
                Vec::new()
            } else {
                clauses(&r.sub)
            }
        }
        HirKind::Concat(children) => prune(children.iter().flat_map(clauses).collect()),
        HirKind::Alternation(children) => {
            let mut acc: Option<Vec<Set>> = None;
            for c in children {
                let b = clauses(c);
                if b.is_empty() {
                    return Vec::new();
                }
                acc = Some(match acc {
                    None => b,
                    Some(a) => {
                        // Each clause of one side widened by the clause of the other side
                        // that widens it least: implied by (A or B).
                        let widen = |x: &[Set], y: &[Set]| -> Vec<Set> {
                            x.iter().map(|s| y.iter().map(|t| union(*s, *t)).min_by_key(count).unwrap_or([!0; 4])).collect::<Vec<_>>()
                        };
                        let mut v = widen(&a, &b);
                        v.extend(widen(&b, &a));
                        let v = prune(v);
                        if v.is_empty() {
                            return Vec::new();
                        }
                        v
                    }
                });
            }
            acc.unwrap_or_default()
        }
    }
}

/// All clauses of `pattern`, smallest first (see [`ByteClauses::of`]).
fn pattern_clauses(pattern: &str) -> Vec<Set> {
    super::literals::parse_as_compiled(pattern).map(|hir| clauses(&hir)).unwrap_or_default()
}

/// The bytes of a set, in order.
fn bytes_of(s: &Set) -> Vec<u8> {
    (0..=255u8).filter(|&b| s[b as usize / 64] & (1u64 << (b % 64)) != 0).collect()
}

/// One clause, checked against a text.
#[derive(Debug, Clone)]
enum Clause {
    One(u8),
    Two(u8, u8),
    Three(u8, u8, u8),
    Table(Box<[bool; 256]>),
}

impl Clause {
    fn new(s: &Set) -> Clause {
        let bytes = bytes_of(s);
        match bytes[..] {
            [a] => Clause::One(a),
            [a, b] => Clause::Two(a, b),
            [a, b, c] => Clause::Three(a, b, c),
            _ => {
                let mut t = Box::new([false; 256]);
                for b in bytes {
                    t[b as usize] = true;
                }
                Clause::Table(t)
            }
        }
    }

    #[inline]
    fn occurs_in(&self, text: &[u8]) -> bool {
        match self {
            Clause::One(a) => memchr::memchr(*a, text).is_some(),
            Clause::Two(a, b) => memchr::memchr2(*a, *b, text).is_some(),
            Clause::Three(a, b, c) => memchr::memchr3(*a, *b, *c, text).is_some(),
            Clause::Table(t) => text.iter().any(|&b| t[b as usize]),
        }
    }
}

/// The byte clauses of one regular expression, checked before it runs.
#[derive(Debug, Clone, Default)]
pub struct ByteClauses {
    clauses: Vec<Clause>,
}

impl ByteClauses {
    /// The smallest clauses of `pattern` (in the `regex` crate's syntax, parsed as the engine
    /// compiles it: bytes, no Unicode, `s` and `m` flags); none when the pattern does not
    /// parse or nothing useful is required.
    pub fn of(pattern: &str) -> ByteClauses {
        let mut sets = pattern_clauses(pattern);
        // The smallest clauses are checked (ordering them by how common their bytes are in
        // request text instead measured worse on the benchmark shapes).
        sets.truncate(MAX_CHECKED);
        ByteClauses { clauses: sets.iter().map(Clause::new).collect() }
    }

    /// Whether `text` lacks every byte of some clause: then the pattern cannot match it.
    #[inline]
    pub fn rule_out(&self, text: &[u8]) -> bool {
        self.clauses.iter().any(|c| !c.occurs_in(text))
    }

    /// The clauses as byte lists (for tests and diagnostics).
    pub fn describe(&self) -> Vec<Vec<u8>> {
        self.clauses
            .iter()
            .map(|c| match c {
                Clause::One(a) => vec![*a],
                Clause::Two(a, b) => vec![*a, *b],
                Clause::Three(a, b, c) => vec![*a, *b, *c],
                Clause::Table(t) => (0..=255u8).filter(|&b| t[b as usize]).collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// All clauses of `p`, smallest first.
    fn desc(p: &str) -> Vec<String> {
        pattern_clauses(p).iter().map(|s| String::from_utf8_lossy(&bytes_of(s)).into_owned()).collect()
    }

    #[test]
    fn derives_what_every_match_needs() {
        assert_eq!(desc("a:b"), vec!["a", "b", ":"]);
        // One clause per required byte, case-folded letters as pairs.
        assert_eq!(desc("(?i)j:"), vec![":", "Jj"]);
        // Entities or the letter, and the colon or an entity.
        let c = desc("(?i)(?:j|&#(?:0*(?:74|106)|x0*[46]A);)(?:[\\t\\n\\r]|&tab;)*(?::|&colon;)");
        assert!(c.contains(&"&:".to_string()), "{c:?}");
        assert!(c.contains(&"&Jj".to_string()), "{c:?}");
        // Optional parts, anchors, wide classes and empty branches require nothing.
        assert!(desc("a?").is_empty());
        assert!(desc("^$").is_empty());
        assert!(desc("[a-z]+").is_empty());
        assert!(desc("x|y*").is_empty());
        assert!(desc(".").is_empty());
        // An alternation needs a byte of one branch or the other.
        assert_eq!(desc("x|y"), vec!["xy"]);
        let mut c = desc("(?:ab|cd)");
        c.sort();
        assert_eq!(c, vec!["ac", "ad", "bc"]);
    }

    #[test]
    fn never_rules_out_a_text_the_pattern_matches() {
        let cases: &[(&str, &[&str])] = &[
            (r"(?i)(?:j|&#(?:0*(?:74|106)|x0*[46]A);)(?:[\t\n\r]|&(?:#(?:0*(?:9|1[03])|x0*[AD]);?|(?:tab|newline);))*(?:a|&#(?:0*(?:65|97)|x0*[46]1);)(?::|&colon;)", &["J\ta:", "&#74;&#97;&colon;", "ja:"]),
            (r"(?i)\bcat[\s\x0b&\),<>\|]", &["CAT ", "cat|", "x cat<"]),
            (r"(?:^|[/;\x5c])\.{2,3}[/;\x5c]", &["../x", "a/.../b", ";..\\"]),
            (r"(?i)<script[^>]*>|on(?:load|error)\s*=", &["<SCRIPT src=x>", "onError ="]),
            (r"\d{3}-\d{4}", &["555-1234"]),
        ];
        for (p, inputs) in cases {
            let bc = ByteClauses::of(p);
            let re = regex::bytes::RegexBuilder::new(p).unicode(false).build().unwrap();
            for i in *inputs {
                assert!(re.is_match(i.as_bytes()), "{p} should match {i:?}");
                assert!(!bc.rule_out(i.as_bytes()), "{p}: {i:?} matches but was ruled out by {:?}", bc.describe());
            }
        }
        // And it does rule out texts that lack a needed byte.
        let bc = ByteClauses::of(cases[0].0);
        assert!(bc.rule_out(b"javascript"), "{:?}", bc.describe());
    }
}
