//! `@rx` and `@rxGlobal` (libmodsecurity v3 `rx.cc`, `rx_global.cc`, `utils/regex.cc`).
//!
//! - An empty parameter (without macros) matches everything and captures nothing.
//! - A parameter with `%{...}` is expanded per evaluation and compiled on demand through a
//!   small bounded cache; an expansion that is empty compiles as `.*` (v3 `Regex`), and
//!   one that does not compile does not match (v3 logs it and returns false).
//! - `@rx` captures: `TX.0` is the whole first match, `TX.n` group `n` for every group up
//!   to the highest one that took part; groups that did not take part are left unset.
//! - `@rxGlobal` captures every match the way v3's `searchGlobal` walks them: slots are
//!   numbered continuously across matches (a match's slots start at the count of slots
//!   stored so far, so skipped groups shift the numbering); after an empty match it retries
//!   at the offset the search *started from* with `PCRE2_NOTEMPTY_ATSTART |
//!   PCRE2_ANCHORED` (so an empty match at the end of the subject can be recorded twice,
//!   as v3 does), and otherwise moves one byte on.

use std::sync::{Arc, Mutex};

use super::pcre::{AnchoredNonEmpty, Pcre};
use super::{has_macro, Captures, CompileCtx, Operator, OperatorEnv};

/// How many distinct macro expansions one operator keeps compiled.
const DYNAMIC_CACHE_SIZE: usize = 16;

pub(super) fn compile_rx(param: &str, _ctx: &CompileCtx<'_>) -> Result<Box<dyn Operator>, String> {
    Ok(Box::new(Rx {
        regex: RegexParam::new(param, false)?,
        global: false,
    }))
}

pub(super) fn compile_rx_global(
    param: &str,
    _ctx: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    Ok(Box::new(Rx {
        regex: RegexParam::new(param, true)?,
        global: true,
    }))
}

/// A compiled pattern, with the anchored non-empty matcher `@rxGlobal` needs.
#[derive(Debug)]
pub(super) struct Compiled {
    re: Pcre,
    retry: Option<AnchoredNonEmpty>,
}

impl Compiled {
    fn new(pattern: &str, global: bool) -> Result<Self, String> {
        let re = Pcre::new(pattern)?;
        let retry = if global {
            Some(AnchoredNonEmpty::new(pattern)?)
        } else {
            None
        };
        Ok(Compiled { re, retry })
    }
}

/// The regex of an `@rx`-like operator: fixed, always-matching (empty), or built from a
/// macro at run time.
#[derive(Debug)]
pub(super) enum RegexParam {
    /// Empty parameter: matches, captures nothing.
    Empty,
    /// A pattern whose first match is always the whole subject (see [`matches_whole`]):
    /// matches, `TX.0` is the value (CRS's `@rx ^.*$` on every header name, 920450).
    Whole,
    Static(Box<Compiled>),
    Dynamic(DynamicRegex),
}

impl RegexParam {
    pub(super) fn new(param: &str, global: bool) -> Result<Self, String> {
        if has_macro(param) {
            Ok(RegexParam::Dynamic(DynamicRegex::new(param, global)))
        } else if param.is_empty() {
            Ok(RegexParam::Empty)
        } else if !global && matches_whole(param) {
            Ok(RegexParam::Whole)
        } else {
            Ok(RegexParam::Static(Box::new(Compiled::new(param, global)?)))
        }
    }
}

/// Whether the first match of `param` in any subject is the whole subject, without groups:
/// with libmodsecurity's `DOTALL|MULTILINE`, `.` also matches a newline, so a greedy `.*`
/// from offset 0 takes every byte, and `$` matches at the end of the subject.
fn matches_whole(param: &str) -> bool {
    matches!(param, ".*" | "^.*" | ".*$" | "^.*$")
}

/// A regex whose pattern comes from macro expansion, compiled on first use per pattern.
#[derive(Debug)]
pub(super) struct DynamicRegex {
    template: String,
    global: bool,
    cache: Mutex<Vec<(String, Option<Arc<Compiled>>)>>,
}

impl DynamicRegex {
    fn new(template: &str, global: bool) -> Self {
        DynamicRegex {
            template: template.to_owned(),
            global,
            cache: Mutex::new(Vec::with_capacity(DYNAMIC_CACHE_SIZE)),
        }
    }

    /// The compiled regex for this evaluation (`None` when the expansion does not compile).
    fn get(&self, env: &dyn OperatorEnv) -> Option<Arc<Compiled>> {
        let mut pattern = env.expand(&self.template);
        if pattern.is_empty() {
            pattern.push_str(".*");
        }
        if let Ok(mut cache) = self.cache.lock() {
            if let Some(pos) = cache.iter().position(|(p, _)| *p == pattern) {
                // Move to the front: the cache is least-recently-used.
                let entry = cache.remove(pos);
                let re = entry.1.clone();
                cache.insert(0, entry);
                return re;
            }
        }
        let compiled = Compiled::new(&pattern, self.global).ok().map(Arc::new);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= DYNAMIC_CACHE_SIZE {
                cache.pop();
            }
            cache.insert(0, (pattern, compiled.clone()));
        }
        compiled
    }
}

#[derive(Debug)]
struct Rx {
    regex: RegexParam,
    global: bool,
}

impl Operator for Rx {
    fn required_literals(&self) -> Option<Vec<Vec<u8>>> {
        match &self.regex {
            RegexParam::Static(c) => c.re.required_literals(),
            RegexParam::Empty | RegexParam::Whole | RegexParam::Dynamic(_) => None,
        }
    }

    fn evaluate(
        &self,
        input: &[u8],
        env: &mut dyn OperatorEnv,
        captures: Option<&mut Captures>,
    ) -> bool {
        let dynamic;
        let compiled: &Compiled = match &self.regex {
            RegexParam::Empty => return true,
            RegexParam::Whole => {
                if let Some(caps) = captures {
                    caps.clear();
                    caps.set(0, input);
                }
                return true;
            }
            RegexParam::Static(re) => re,
            RegexParam::Dynamic(d) => match d.get(env) {
                Some(re) => {
                    dynamic = re;
                    &dynamic
                }
                None => return false,
            },
        };
        match captures {
            None => compiled.re.is_match(input),
            Some(caps) => {
                // Most values do not match: find that out without capture groups first.
                if !compiled.re.is_match(input) {
                    return false;
                }
                caps.clear();
                match (&compiled.retry, self.global) {
                    (Some(retry), true) => search_global(&compiled.re, retry, input, caps),
                    _ => search_one(&compiled.re, input, caps),
                }
            }
        }
    }
}

/// v3 `Regex::searchOneMatch`: the first match and its groups.
fn search_one(re: &Pcre, input: &[u8], caps: &mut Captures) -> bool {
    let subject = re.subject(input);
    let mut spans = Vec::new();
    if !re.captures_in(&subject, 0, &mut spans) {
        return false;
    }
    store_groups(input, &spans, 0, caps);
    true
}

/// Stores the participating groups of one match starting at slot `first`; returns how
/// many were stored.
fn store_groups(
    input: &[u8],
    spans: &[Option<(usize, usize)>],
    first: usize,
    caps: &mut Captures,
) -> usize {
    // PCRE reports groups up to the highest one that took part.
    let reported = spans.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
    let mut stored = 0;
    for (i, span) in spans.iter().take(reported).enumerate() {
        if let Some((s, e)) = span {
            caps.set(first + i, input.get(*s..*e).unwrap_or_default());
            stored += 1;
        }
    }
    stored
}

/// v3 `Regex::searchGlobal`.
fn search_global(re: &Pcre, retry: &AnchoredNonEmpty, input: &[u8], caps: &mut Captures) -> bool {
    let subject = re.subject(input);
    let mut spans = Vec::new();
    let mut stored = 0usize;
    let mut offset = 0usize;
    let mut after_empty = false;
    while offset <= input.len() {
        let found = if after_empty {
            retry.captures(input, offset, &mut spans)
        } else {
            re.captures_in(&subject, offset, &mut spans)
        };
        if !found {
            if !after_empty {
                break;
            }
            // The anchored retry failed: move one byte on.
            offset += 1;
            after_empty = false;
            continue;
        }
        let Some(Some((start, end))) = spans.first().copied() else {
            break;
        };
        stored += store_groups(input, &spans, stored, caps);
        if end > start {
            offset = end;
            after_empty = false;
        } else if offset == input.len() {
            break;
        } else {
            // v3 retries from where this search started, not from the empty match. No
            // match starts between the two, so the retries there fail and every search
            // from them finds this same empty match again: record those repeats directly
            // instead of searching (v3 takes quadratic time here).
            for _ in offset..start {
                stored += store_groups(input, &spans, stored, caps);
            }
            offset = start;
            if offset == input.len() {
                break;
            }
            after_empty = true;
        }
    }
    stored > 0
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{eval, eval_captures, op, set_slots, MapEnv};
    use super::super::Captures;

    fn some(v: &[&str]) -> Vec<Option<Vec<u8>>> {
        v.iter().map(|s| Some(s.as_bytes().to_vec())).collect()
    }

    /// The whole-subject shortcut gives what the compiled pattern gives: a match, with the
    /// whole value in `TX.0` (newlines, a final newline and an empty value included).
    #[test]
    fn whole_subject_patterns_agree_with_the_regex() {
        let subjects: [&[u8]; 9] = [b"", b"a", b"host", b"abc\n", b"a\nb", b"\n", b"x\r\ny\n\n", b"\x00\xff\n\x80", b"\n\nz"];
        for pattern in [".*", "^.*", ".*$", "^.*$"] {
            assert!(matches!(super::RegexParam::new(pattern, false), Ok(super::RegexParam::Whole)));
            let re = super::Pcre::new(pattern).unwrap_or_else(|e| panic!("{e}"));
            for subject in subjects {
                let mut expected = Captures::default();
                let hit = re.is_match(subject) && super::search_one(&re, subject, &mut expected);
                let got = eval_captures("rx", pattern, subject);
                assert_eq!(got, (hit, set_slots(&expected)), "{pattern:?} on {subject:?}");
                assert_eq!(got.1, vec![Some(subject.to_vec())], "{pattern:?} on {subject:?}");
            }
        }
    }

    #[test]
    fn empty_parameter_matches_without_captures() {
        assert_eq!(eval_captures("rx", "", b"abc"), (true, vec![]));
        assert_eq!(eval_captures("rxGlobal", "", b""), (true, vec![]));
    }

    #[test]
    fn captures_follow_pcre_group_reporting() {
        assert_eq!(
            eval_captures("rx", "(a)(b?)(c)", b"ac"),
            (true, some(&["ac", "a", "", "c"]))
        );
        // Group 2 did not take part: slot 2 is left unset, slot 3 is set.
        assert_eq!(
            eval_captures("rx", "(a)(x)?(c)", b"ac"),
            (
                true,
                vec![
                    Some(b"ac".to_vec()),
                    Some(b"a".to_vec()),
                    None,
                    Some(b"c".to_vec())
                ]
            )
        );
        // Trailing groups that did not take part are not reported at all.
        assert_eq!(
            eval_captures("rx", "(a)(x)?", b"a"),
            (true, some(&["a", "a"]))
        );
        // More than nine groups are all captured, as in v3.
        let (_, slots) = eval_captures("rx", "(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)", b"abcdefghijk");
        assert_eq!(slots.len(), 12);
        assert_eq!(slots[11], Some(b"k".to_vec()));
    }

    #[test]
    fn rx_global_numbering_matches_v3() {
        assert_eq!(
            eval_captures("rxGlobal", "[a-z]*", b"aaa0bbb"),
            (true, some(&["aaa", "", "bbb", ""]))
        );
        assert_eq!(
            eval_captures("rxGlobal", "(a|b|1|2)(a|b|1|2)", b"a2b1"),
            (true, some(&["a2", "a", "2", "b1", "b", "1"]))
        );
        // Skipped groups shift the numbering of the next match (v3 quirk).
        let (hit, slots) = eval_captures("rxGlobal", "(a)(x)?(c)", b"acac");
        assert!(hit);
        assert_eq!(
            slots,
            vec![
                Some(b"ac".to_vec()),
                Some(b"a".to_vec()),
                None,
                Some(b"ac".to_vec()),
                Some(b"a".to_vec()),
                None,
                Some(b"c".to_vec()),
            ]
        );
        assert!(!eval("rxGlobal", "x", b"abc"));
    }

    #[test]
    fn rx_global_empty_matches_as_v3() {
        // Expected values checked with libmodsecurity 3.0.9.
        assert_eq!(
            eval_captures("rxGlobal", "a*?", b"a"),
            (true, some(&["", "a", ""]))
        );
        assert_eq!(
            eval_captures("rxGlobal", "(|a)", b"a"),
            (true, some(&["", "", "a", "a", "", ""]))
        );
        // The empty match at the end is found twice.
        assert_eq!(
            eval_captures("rxGlobal", r"\b", b"zc"),
            (true, some(&["", "", ""]))
        );
        assert_eq!(
            eval_captures("rxGlobal", "$", b"x"),
            (true, some(&["", ""]))
        );
        assert_eq!(
            eval_captures("rxGlobal", "^", b".\nx"),
            (true, some(&["", "", ""]))
        );
    }

    #[test]
    fn rx_global_repeated_empty_matches_are_linear() {
        // v3 records the empty match at the end once per start offset: n + 1 times.
        let input = vec![b'x'; 50_000];
        let started = std::time::Instant::now();
        let (hit, slots) = eval_captures("rxGlobal", "$", &input);
        assert!(hit);
        assert_eq!(slots.len(), input.len() + 1);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert_eq!(
            eval_captures("rxGlobal", "b|$", b"xxb"),
            (true, some(&["b", ""]))
        );
        assert_eq!(
            eval_captures("rxGlobal", "$", b"xxx"),
            (true, some(&["", "", "", ""]))
        );
        assert_eq!(
            eval_captures("rxGlobal", "(?=c)", b"abc"),
            (true, some(&["", "", ""]))
        );
    }

    #[test]
    fn macro_patterns_compile_on_demand() {
        let rx = op("rx", "^%{tx.p}$");
        let mut env = MapEnv::default();
        env.vars.insert("tx.p".into(), "a+".into());
        assert!(rx.evaluate(b"aaa", &mut env, None));
        env.vars.insert("tx.p".into(), "b+".into());
        assert!(!rx.evaluate(b"aaa", &mut env, None));
        assert!(rx.evaluate(b"bb", &mut env, None));
        // An invalid expansion does not match.
        env.vars.insert("tx.p".into(), "(".into());
        assert!(!rx.evaluate(b"(", &mut env, None));
        // An empty expansion is `.*`.
        let rx = op("rx", "%{tx.none}");
        let mut caps = Captures::default();
        assert!(rx.evaluate(b"xyz", &mut MapEnv::default(), Some(&mut caps)));
        assert_eq!(caps.groups, vec![b"xyz".to_vec()]);
    }

    #[test]
    fn dynamic_cache_is_bounded() {
        let rx = op("rx", "%{tx.p}");
        let mut env = MapEnv::default();
        for i in 0..100 {
            env.vars.insert("tx.p".into(), format!("x{i}y"));
            assert!(rx.evaluate(format!("ax{i}yb").as_bytes(), &mut env, None));
        }
        let dbg = format!("{rx:?}");
        assert!(
            dbg.matches("Pcre {").count() <= super::DYNAMIC_CACHE_SIZE,
            "{dbg}"
        );
    }

    #[test]
    fn invalid_pattern_is_a_compile_error() {
        let ctx = super::super::CompileCtx {
            base_dir: std::path::Path::new("/"),
        };
        let err = super::super::compile("rx", "a(b", &ctx).unwrap_err();
        assert!(err.contains("a(b"), "{err}");
    }
}
