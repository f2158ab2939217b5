//! PCRE-compatible regular expressions over bytes, as libmodsecurity compiles them
//! (PCRE2 with `DOTALL|MULTILINE`, no UTF mode: byte-oriented, ASCII-only `\w`/`\d`/`\s`/
//! `\b` and case folding). Patterns are translated by [`super::pcre_syntax`].
//!
//! Patterns run on `regex::bytes` (linear time) whenever possible. Constructs that need
//! backtracking (look-around, back-references, atomic groups, possessive quantifiers, `\K`,
//! `\Z`) run on `fancy-regex`, with a backtracking limit as PCRE has one (hitting it means
//! "no match", as in libmodsecurity). `fancy-regex` works on `str`, so for those patterns the
//! subject is mapped byte-for-byte to the code points U+0000..U+00FF (Latin-1) and the
//! pattern is written so that it only ever sees those.
//!
//! In multi-line mode PCRE's `^` does not match after a newline that ends the subject; the
//! `regex` crate's does. That can only make the linear engine's answer wrong when the
//! subject ends with `\n` and its match ends there too, so in that case the search is
//! redone with the backtracking engine, given PCRE's exact `^` (`(?:\A|(?<=\n)(?!\z))`).
//!
//! Known differences, documented rather than emulated:
//! - A repeated group whose last iteration can be empty: after `(a*)+b` matches `ab`,
//!   PCRE reports group 1 as empty (it runs one more, empty, iteration); the `regex` crate
//!   reports `a`. Only captures differ (and, with possessive repeats of such groups, which
//!   match is found), never whether a pattern without them matches.
//! - The backtracking engine: back-references are case-sensitive even under `(?i)`, and
//!   back-references inside look-behind are rejected; it accepts some look-behinds PCRE
//!   rejects as not fixed-length (PCRE makes such a pattern a load error in libmodsecurity
//!   3.0.10+, and a rule that never matches in 3.0.9). With `(?i)` it folds case of Latin-1
//!   letters inside classes (e.g. `[\xe0-\xfe]`); PCRE folds ASCII only.

use std::fmt;
use std::sync::{Arc, OnceLock};

use super::byteclauses::ByteClauses;
use super::pcre_syntax::{translate, translate_pattern, Target};

/// Limit on the size of one compiled linear regex (the `regex` crate's default is 10 MiB).
const SIZE_LIMIT: usize = 64 * 1024 * 1024;
/// Limit on the lazy DFA cache of one regex, per thread.
const DFA_SIZE_LIMIT: usize = 8 * 1024 * 1024;
/// Nesting limit of the pattern parser.
const NEST_LIMIT: u32 = 1000;
/// Backtracking steps before a backtracking match gives up (counts as "no match").
const BACKTRACK_LIMIT: usize = 1_000_000;

/// A compiled PCRE-compatible regular expression over bytes.
#[derive(Clone)]
pub struct Pcre {
    engine: Engine,
    source: String,
    uses_left_context: bool,
    /// Bytes every match needs (linear engine only): checked before a search.
    clauses: ByteClauses,
}

#[derive(Clone)]
enum Engine {
    /// `strict`: the same pattern for the backtracking engine, used when a multi-line `^`
    /// may have matched after a final newline (compiled on first use).
    Linear {
        re: regex::bytes::Regex,
        strict: Option<Arc<Strict>>,
    },
    Backtrack(Box<fancy_regex::Regex>),
}

impl fmt::Debug for Pcre {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.engine {
            Engine::Linear { .. } => "linear",
            Engine::Backtrack(_) => "backtracking",
        };
        f.debug_struct("Pcre")
            .field("pattern", &self.source)
            .field("engine", &kind)
            .field("byte_clauses", &self.clauses.describe().iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>())
            .finish()
    }
}

/// A subject prepared once for several searches with the same `Pcre`.
pub(crate) enum Subject<'a> {
    Bytes(&'a [u8]),
    Latin1(Latin1),
}

/// Subject bytes as a string of U+0000..U+00FF, with the UTF-8 offset of every byte.
pub(crate) struct Latin1 {
    text: String,
    /// `offsets[i]` is the UTF-8 offset of input byte `i`; `offsets[len]` is `text.len()`.
    /// Empty when the input is ASCII (offsets are then the identity).
    offsets: Vec<usize>,
}

impl Latin1 {
    fn new(input: &[u8]) -> Self {
        let text: String = input.iter().map(|&b| char::from(b)).collect();
        let offsets = if text.len() == input.len() {
            Vec::new()
        } else {
            let mut offsets = Vec::with_capacity(input.len() + 1);
            let mut pos = 0;
            for &b in input {
                offsets.push(pos);
                pos += if b < 0x80 { 1 } else { 2 };
            }
            offsets.push(pos);
            offsets
        };
        Latin1 { text, offsets }
    }

    /// UTF-8 offset of input byte offset `i`.
    fn to_text(&self, i: usize) -> usize {
        if self.offsets.is_empty() {
            i.min(self.text.len())
        } else {
            self.offsets.get(i).copied().unwrap_or(self.text.len())
        }
    }

    /// Input byte offset of UTF-8 offset `t` (a char boundary).
    fn to_input(&self, t: usize) -> usize {
        if self.offsets.is_empty() {
            t
        } else {
            match self.offsets.binary_search(&t) {
                Ok(i) | Err(i) => i,
            }
        }
    }
}

impl Pcre {
    /// Compiles `pattern` with libmodsecurity's options (`DOTALL|MULTILINE`, no UTF).
    pub fn new(pattern: &str) -> Result<Self, String> {
        let translated = translate_pattern(pattern)
            .map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))?;
        // The byte clauses are derived for the linear engine's syntax only.
        let clauses = if translated.backtracking { ByteClauses::default() } else { ByteClauses::of(&translated.pattern) };
        let engine = if translated.backtracking {
            Engine::Backtrack(Box::new(build_backtracking(pattern, &translated.pattern)?))
        } else {
            let re = regex::bytes::RegexBuilder::new(&translated.pattern)
                .unicode(false)
                .multi_line(true)
                .dot_matches_new_line(true)
                .size_limit(SIZE_LIMIT)
                .dfa_size_limit(DFA_SIZE_LIMIT)
                .nest_limit(NEST_LIMIT)
                .build()
                .map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))?;
            let strict = if translated.final_newline_sensitive {
                let exact = translate(pattern, Target::Backtrack)
                    .map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))?;
                Some(Arc::new(Strict {
                    translated: exact.pattern,
                    compiled: OnceLock::new(),
                }))
            } else {
                None
            };
            Engine::Linear { re, strict }
        };
        Ok(Pcre {
            engine,
            source: pattern.to_owned(),
            uses_left_context: translated.uses_left_context,
            clauses,
        })
    }

    /// Literals one of which every match contains (see [`super::literals`]); `None` for
    /// patterns run by the backtracking engine or without a useful set.
    pub fn required_literals(&self) -> Option<Vec<Vec<u8>>> {
        if self.is_backtracking() {
            return None;
        }
        let translated = translate_pattern(&self.source).ok()?;
        super::literals::required_literals(&translated.pattern)
    }

    /// The pattern as written in the rule.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the backtracking engine runs this pattern.
    pub fn is_backtracking(&self) -> bool {
        matches!(self.engine, Engine::Backtrack(_))
    }

    /// Whether the pattern depends on text left of the match start (see
    /// [`TranslatedPattern::uses_left_context`]).
    pub(crate) fn uses_left_context(&self) -> bool {
        self.uses_left_context
    }

    /// Number of capture slots, the whole match included.
    pub fn captures_len(&self) -> usize {
        match &self.engine {
            Engine::Linear { re, .. } => re.captures_len(),
            Engine::Backtrack(re) => re.captures_len(),
        }
    }

    /// Whether the pattern matches anywhere in `input`.
    pub fn is_match(&self, input: &[u8]) -> bool {
        !self.clauses.rule_out(input) && self.search_match(input)
    }

    /// The byte clauses checked before a search (empty for the backtracking engine).
    #[cfg(test)]
    pub(crate) fn byte_clauses(&self) -> &ByteClauses {
        &self.clauses
    }

    /// `is_match` without the byte clauses.
    pub(crate) fn search_match(&self, input: &[u8]) -> bool {
        match &self.engine {
            Engine::Linear { re, strict } => match strict.as_deref().filter(|_| input.last() == Some(&b'\n')).and_then(Strict::get) {
                Some(exact) => match re.find(input) {
                    None => false,
                    Some(m) if m.end() < input.len() => true,
                    Some(_) => exact.is_match(&Latin1::new(input).text).unwrap_or(false),
                },
                _ => re.is_match(input),
            },
            Engine::Backtrack(re) => re.is_match(&Latin1::new(input).text).unwrap_or(false),
        }
    }

    /// Prepares `input` for repeated searches.
    pub(crate) fn subject<'a>(&self, input: &'a [u8]) -> Subject<'a> {
        match self.engine {
            Engine::Linear { .. } => Subject::Bytes(input),
            Engine::Backtrack(_) => Subject::Latin1(Latin1::new(input)),
        }
    }

    /// First match at or after `pos` when the subject is `input[base..]` (`base <= pos`),
    /// as absolute byte offsets of `input`.
    pub(crate) fn find_in(
        &self,
        subject: &Subject<'_>,
        base: usize,
        pos: usize,
    ) -> Option<(usize, usize)> {
        match (&self.engine, subject) {
            (Engine::Linear { re, strict }, Subject::Bytes(input)) => {
                let hay = input.get(base..)?;
                let rel = pos.checked_sub(base)?;
                let m = re.find_at(hay, rel)?;
                if let Some(strict) = strict
                    .as_deref()
                    .filter(|_| final_newline_match(hay, m.end()))
                    .and_then(Strict::get)
                {
                    let l = Latin1::new(hay);
                    let m = strict.find_from_pos(&l.text, l.to_text(rel)).ok()??;
                    return Some((base + l.to_input(m.start()), base + l.to_input(m.end())));
                }
                Some((base + m.start(), base + m.end()))
            }
            (Engine::Backtrack(re), Subject::Latin1(l)) => {
                let tbase = l.to_text(base);
                let hay = l.text.get(tbase..)?;
                let tpos = l.to_text(pos).checked_sub(tbase)?;
                let m = re.find_from_pos(hay, tpos).ok()??;
                Some((l.to_input(tbase + m.start()), l.to_input(tbase + m.end())))
            }
            _ => None,
        }
    }

    /// Match at or after `pos` in the whole subject with the span of every capture slot
    /// (`None` for groups that did not take part). Returns `false` when nothing matches.
    pub(crate) fn captures_in(
        &self,
        subject: &Subject<'_>,
        pos: usize,
        spans: &mut Vec<Option<(usize, usize)>>,
    ) -> bool {
        spans.clear();
        match (&self.engine, subject) {
            (Engine::Linear { re, strict }, Subject::Bytes(input)) => {
                let mut locs = re.capture_locations();
                let Some(m) = re.captures_read_at(&mut locs, input, pos) else {
                    return false;
                };
                if let Some(strict) = strict
                    .as_deref()
                    .filter(|_| final_newline_match(input, m.end()))
                    .and_then(Strict::get)
                {
                    return backtracking_captures(strict, &Latin1::new(input), pos, spans);
                }
                spans.extend((0..locs.len()).map(|i| locs.get(i)));
                true
            }
            (Engine::Backtrack(re), Subject::Latin1(l)) => backtracking_captures(re, l, pos, spans),
            _ => false,
        }
    }
}

/// The highest-priority non-empty match of a pattern that starts exactly at a given offset
/// (PCRE's `PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED` search, used by `@rxGlobal` after an
/// empty match). Runs on the backtracking engine; the pattern sees one byte of context left
/// of the offset, which is all that `^`, `\b` and one-byte look-behinds look at.
pub(crate) struct AnchoredNonEmpty {
    /// For offset 0: `\A(?:P)(?<=[\s\S])`.
    at_start: fancy_regex::Regex,
    /// For offset p > 0, run on `input[p-1..]`: `\A[\s\S]\K(?:P)(?<=[\s\S]{2})`.
    after_one: fancy_regex::Regex,
}

impl fmt::Debug for AnchoredNonEmpty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnchoredNonEmpty").finish_non_exhaustive()
    }
}

impl AnchoredNonEmpty {
    pub(crate) fn new(pattern: &str) -> Result<Self, String> {
        let t = translate(pattern, Target::Backtrack)
            .map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))?;
        Ok(AnchoredNonEmpty {
            at_start: build_backtracking(pattern, &format!("\\A(?:{})(?<=[\\s\\S])", t.pattern))?,
            after_one: build_backtracking(
                pattern,
                &format!("\\A[\\s\\S]\\K(?:{})(?<=[\\s\\S]{{2}})", t.pattern),
            )?,
        })
    }

    /// Group spans of the match at `pos`, as byte offsets of `input`.
    pub(crate) fn captures(
        &self,
        input: &[u8],
        pos: usize,
        spans: &mut Vec<Option<(usize, usize)>>,
    ) -> bool {
        spans.clear();
        let (re, base) = match pos.checked_sub(1) {
            None => (&self.at_start, 0),
            Some(base) => (&self.after_one, base),
        };
        let Some(hay) = input.get(base..) else {
            return false;
        };
        let l = Latin1::new(hay);
        if !backtracking_captures(re, &l, 0, spans) {
            return false;
        }
        for span in spans.iter_mut().flatten() {
            span.0 += base;
            span.1 += base;
        }
        true
    }
}

/// The exact (backtracking) form of a linear pattern, compiled when first needed.
struct Strict {
    translated: String,
    compiled: OnceLock<Option<fancy_regex::Regex>>,
}

impl Strict {
    /// The compiled regex (`None` if it does not compile: the linear answer stands).
    fn get(&self) -> Option<&fancy_regex::Regex> {
        self.compiled
            .get_or_init(|| build_backtracking("", &self.translated).ok())
            .as_ref()
    }
}

/// Whether a linear match ending at `end` may rely on a multi-line `^` after the final
/// newline of `hay` (where PCRE's `^` does not match).
fn final_newline_match(hay: &[u8], end: usize) -> bool {
    end == hay.len() && hay.last() == Some(&b'\n')
}

fn build_backtracking(source: &str, translated: &str) -> Result<fancy_regex::Regex, String> {
    let full = format!("(?sm){translated}");
    fancy_regex::RegexBuilder::new(&full)
        .backtrack_limit(BACKTRACK_LIMIT)
        .delegate_size_limit(SIZE_LIMIT)
        .delegate_dfa_size_limit(DFA_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("invalid regular expression {source:?}: {e}"))
}

fn backtracking_captures(
    re: &fancy_regex::Regex,
    l: &Latin1,
    pos: usize,
    spans: &mut Vec<Option<(usize, usize)>>,
) -> bool {
    let caps = match re.captures_from_pos(&l.text, l.to_text(pos)) {
        Ok(Some(caps)) => caps,
        _ => return false,
    };
    spans.extend((0..caps.len()).map(|i| {
        caps.get(i)
            .map(|m| (l.to_input(m.start()), l.to_input(m.end())))
    }));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(p: &str) -> String {
        match translate_pattern(p) {
            Ok(t) => t.pattern,
            Err(e) => panic!("{p}: {e}"),
        }
    }

    fn m(p: &str, input: &[u8]) -> bool {
        match Pcre::new(p) {
            Ok(re) => re.is_match(input),
            Err(e) => panic!("{p}: {e}"),
        }
    }

    #[test]
    fn brace_hex_escapes_are_bytes() {
        assert_eq!(t(r"\x{c2}\x{b4}"), r"\xC2\xB4");
        assert!(m(r"\x{c2}\x{b4}", b"a\xc2\xb4b"));
        // Not the UTF-8 encoding of U+00C2 U+00B4.
        assert!(!m(r"\x{c2}\x{b4}", b"\xc3\x82\xc2\x80"));
        assert!(translate_pattern(r"\x{100}").is_err());
        assert!(m(r"\x41\x4", b"A\x04"));
        assert!(m(r"a\x", b"a\x00"));
    }

    #[test]
    fn literal_non_ascii_is_bytes() {
        // "é" is two bytes; the quantifier applies to the last one, as in PCRE.
        assert!(m("é+", b"\xc3\xa9\xa9\xa9"));
        assert!(m("[é]", b"\xa9"));
        assert!(!m("(?i)é", "É".as_bytes()));
    }

    #[test]
    fn dotall_and_multiline() {
        assert!(m("a.b", b"a\nb"));
        assert!(m("^b$", b"a\nb\nc"));
        assert!(m("(?-s)a.b", b"a-b"));
        assert!(!m("(?-s)a.b", b"a\nb"));
    }

    #[test]
    fn caret_does_not_match_after_a_final_newline() {
        assert!(!m("^$", b"a\n"));
        assert!(m("^$", b"\n"));
        assert!(m("^$", b""));
        assert!(m("^$", b"a\n\nb"));
        assert!(!m("a\\n^", b"a\n"));
        assert!(m("a\\n^b", b"a\nb"));
        assert!(m("^b", b"a\nb\n"));
        assert!(m("(?-m)^a", b"a\n"));
        assert!(!m("(?-m)^b", b"a\nb"));
        let re = Pcre::new("(^|x)$").unwrap();
        let subj = re.subject(b"ax\n");
        let mut spans = Vec::new();
        assert!(re.captures_in(&subj, 0, &mut spans));
        assert_eq!(spans, vec![Some((1, 2)), Some((1, 2))]);
        assert_eq!(re.find_in(&subj, 0, 2), None);
        // Patterns already on the backtracking engine get the exact `^` too.
        assert!(!m("(?!x)^$", b"a\n"));
        assert!(m("(?!x)^$", b"a\n\n"));
    }

    #[test]
    fn end_before_final_newline() {
        let re = Pcre::new(r"a\Z").unwrap();
        let subj = re.subject(b"xa\n");
        let mut spans = Vec::new();
        assert!(re.captures_in(&subj, 0, &mut spans));
        assert_eq!(spans, vec![Some((1, 2))]);
        assert!(m(r"a\Z", b"a"));
        assert!(!m(r"a\Z", b"a\n\n"));
    }

    #[test]
    fn quantifier_rules_follow_pcre() {
        for p in [
            "$?",
            "^*",
            r"\b+",
            r"\B{2}",
            r"\A?",
            r"\z*",
            r"\Z+",
            "a**",
            "a{2}{3}",
            "a+?+",
            "a???",
            "(?i)*",
            "a|*",
            "*a",
            "x{2,1}",
            "x{65536}",
            r"\Q\E+",
            r"(a)\2",
            r"\g{-1}",
            r"(?<n>a)\k<m>",
        ] {
            assert!(Pcre::new(p).is_err(), "{p} should be rejected, as by PCRE2");
        }
        for p in [
            "a(?#x)*",
            "(?x)a *",
            "a\\Q\\E+",
            "(?:)*",
            "()+",
            "a{0}",
            "a{1,65535}",
            "(?:a\\Z){2}",
        ] {
            assert!(Pcre::new(p).is_ok(), "{p} should be accepted, as by PCRE2");
        }
        // Quantified look-arounds: {0} never runs, {0,n} is optional, {1,n} runs once.
        assert!(m("(?=x)?a", b"a"));
        assert!(m("(?=x)*a", b"a"));
        assert!(m("(?=x){0}a", b"a"));
        assert!(!m("(?=x){1,3}a", b"a"));
        assert!(m("(?=a)+?a", b"a"));
        let re = Pcre::new("(?=(a))?a").unwrap();
        let subj = re.subject(b"a");
        let mut spans = Vec::new();
        assert!(re.captures_in(&subj, 0, &mut spans));
        assert_eq!(spans, vec![Some((0, 1)), Some((0, 1))]);
        // Groups that cannot consume input are repeated like assertions.
        for p in ["(?:\\A)*a", "(?i:)++a", "(?:(?=a))?a", "(?:\\b){2}a"] {
            assert!(m(p, b"a"), "{p}");
        }
        assert!(m(r"\N{2}", b"ab"));
        assert!(Pcre::new(r"\N{,2}").is_err());
        assert!(Pcre::new(r"(?<=\R)a").is_err());
        assert!(Pcre::new(r"(?=\R)a").is_ok());
        assert!(m("(?-m:\\b)?+a", b"a"));
        assert!(!m(r"\N{2}", b"a\nb"));
        // \Z before a final newline, then more pattern.
        assert!(m(r"\Z.", b"a\n"));
        assert!(!m(r"\Z.", b"a"));
    }

    #[test]
    fn inline_options_end_with_their_group() {
        // In a look-ahead (backtracking engine) as elsewhere.
        assert!(!m("(?!,|(?i)-)[a-]", b"A"));
        assert!(m("(?!,|(?i)-)[a-]", b"a"));
        assert!(m("(a(?i)b|c)", b"C"));
        assert!(m("(?=x|y)?(a(?i)b|c)", b"aB"));
        assert!(!m("(?=x|y)?(a(?i)b|c)d", b"aBD"));
        assert!(m("(?=x|y)?(a(?i)b|c)", b"C"));
        assert!(!m("(?=x|y)?(a(?i)b|c)", b"AB"));
    }

    #[test]
    fn repeated_flags_take_the_last_setting() {
        assert!(m("(?s-s).+", b"x"));
        assert!(!m("(?s-s)a.b", b"a\nb"));
        assert!(m("(?i-i:a)(?i)B", b"ab"));
        assert!(!m("(?i-i:a)B", b"Ab"));
    }

    #[test]
    fn anchored_non_empty_retry() {
        let r = AnchoredNonEmpty::new("a*?").unwrap();
        let mut spans = Vec::new();
        assert!(r.captures(b"xaa", 1, &mut spans));
        assert_eq!(spans, vec![Some((1, 2))]);
        assert!(!r.captures(b"xaa", 0, &mut spans));
        let r = AnchoredNonEmpty::new("(|a)").unwrap();
        assert!(r.captures(b"a", 0, &mut spans));
        assert_eq!(spans, vec![Some((0, 1)), Some((0, 1))]);
        let r = AnchoredNonEmpty::new(r"\bb").unwrap();
        assert!(!r.captures(b"ab", 1, &mut spans));
        assert!(r.captures(b"-b", 1, &mut spans));
    }

    #[test]
    fn ascii_classes() {
        assert!(!m(r"\w", b"\xe9"));
        assert!(m(r"\W", b"\xe9"));
        assert!(m(r"\s", b"\x0b"));
        assert!(!m(r"\d", "٣".as_bytes()));
        assert!(m(r"[[:alpha:]]", b"x"));
        assert!(!m(r"[[:alpha:]]", b"\xe9"));
        assert!(m(r"[[:^digit:]]", b"x"));
        assert!(m(r"\h", b"\xa0"));
        assert!(m(r"\bfoo\b", b"a foo."));
        assert!(!m(r"\bfoo\b", b"afoo"));
        assert!(m(r"(?i)K", b"k"));
    }

    #[test]
    fn literal_braces_and_brackets() {
        assert!(m("a{", b"a{"));
        assert!(m("a{,3}", b"a{,3}"));
        assert!(m("x{2}", b"xx"));
        assert!(m("{foo}", b"{foo}"));
        assert!(m("[[]", b"["));
        assert!(m("[]a]", b"]"));
        assert!(m("[^]a]", b"b"));
        assert!(m("[a&&b]", b"&"));
        assert!(m("[+--]", b","));
        assert!(m("[--/]", b"."));
        assert!(Pcre::new("[a--b]").is_err());
        assert!(m("[a~~b]", b"~"));
        assert!(m(r"[\--9]", b"5"));
        assert!(m(r"\<a\>", b"<a>"));
        assert!(!m(r"\<a\>", b"a"));
    }

    #[test]
    fn quoting_comments_and_extended_mode() {
        assert!(m(r"\Qa.b*\E+", b"a.b**"));
        assert!(!m(r"\Qa.b\E", b"axb"));
        assert!(m("a(?#comment)b", b"ab"));
        assert!(m("(?x) a b # comment\n c", b"abc"));
        assert!(m(r"(?x)a\ b", b"a b"));
        assert!(m("(?x)[ ]", b" "));
        assert!(m("(?x:a b)c d", b"abc d"));
    }

    #[test]
    fn octal_and_control_escapes() {
        assert!(m(r"\0", b"\x00"));
        assert!(m(r"\012", b"\n"));
        assert!(m(r"\101", b"A"));
        assert!(m(r"\o{101}", b"A"));
        assert!(m(r"\cA", b"\x01"));
        assert!(m(r"\e", b"\x1b"));
        assert!(m(r"[\b]", b"\x08"));
    }

    #[test]
    fn backtracking_features_use_the_fallback() {
        let re = Pcre::new(r"<\?(?!xml)").unwrap();
        assert!(re.is_backtracking());
        assert!(re.is_match(b"<?php"));
        assert!(!re.is_match(b"<?xml"));
        assert!(m(r"(a)\1", b"aa"));
        assert!(m(r"(a)\1|(?P<m>x)(?P=m)", b"xx"));
        assert!(m(r"(a)(?<n>b)\k<n>\1", b"abba"));
        assert!(Pcre::new(r"(?<n>a)(?<n>b)").is_err());
        let re = Pcre::new(r"(a)(?=b)(b)\1").unwrap();
        assert_eq!(re.captures_len(), 3);
        assert!(!m(r"(a)\1", b"ab"));
        assert!(m(r"(?<=\xe9)x", b"\xe9x"));
        assert!(!m(r"(?<=\xe9)x", b"\xc9x"));
        assert!(!m(r"(?i)(?<=\xe9)x", b"\xc9x"));
        assert!(m(r"a++b", b"aab"));
        assert!(!m(r"a++a", b"aaa"));
        assert!(m(r"(?>a+)b", b"aab"));
        // Word boundaries stay ASCII in the fallback too.
        assert!(m(r"(?=x)\bx", b"\xe9x"));
        assert!(!m(r"(?=x)\Bx", b"\xe9x"));
        assert!(!m(r"(?=x)\bx", b"ax"));
    }

    #[test]
    fn fallback_offsets_are_byte_offsets() {
        let re = Pcre::new(r"(?=b)(b+)").unwrap();
        let input = b"\xe9\xe9abb\xff";
        let subj = re.subject(input);
        let mut spans = Vec::new();
        assert!(re.captures_in(&subj, 0, &mut spans));
        assert_eq!(spans, vec![Some((3, 5)), Some((3, 5))]);
        assert_eq!(re.find_in(&subj, 0, 0), Some((3, 5)));
        assert_eq!(re.find_in(&subj, 4, 4), Some((4, 5)));
    }

    #[test]
    fn unsupported_constructs_are_errors() {
        for p in [
            r"(?|a)",
            r"(?(1)a|b)",
            r"(?R)",
            r"(?1)",
            r"(*UTF)a",
            r"\G",
            r"(a",
            r"a)",
            r"[a",
            r"\y",
            r"[z-a]",
            r"[\d-z]",
        ] {
            assert!(Pcre::new(p).is_err(), "{p} should be rejected");
        }
    }

    #[test]
    fn named_groups_and_no_auto_capture() {
        let re = Pcre::new("(?<year>\\d{4})-(?P<m>\\d\\d)").unwrap();
        assert_eq!(re.captures_len(), 3);
        let re = Pcre::new("(?n)(a)(?<x>b)").unwrap();
        assert_eq!(re.captures_len(), 2);
    }

    #[test]
    fn left_context_is_reported() {
        assert!(translate_pattern("^a").unwrap().uses_left_context);
        assert!(translate_pattern(r"\ba").unwrap().uses_left_context);
        assert!(
            !translate_pattern(r"\d{3}-?\d{2}")
                .unwrap()
                .uses_left_context
        );
        assert!(!translate_pattern(r"a$").unwrap().uses_left_context);
    }
}
