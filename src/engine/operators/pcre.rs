//! PCRE patterns as libmodsecurity compiles them (PCRE2, `DOTALL|MULTILINE`, no UTF mode:
//! byte-oriented, ASCII-only `\w`/`\d`/`\s`/`\b` and case folding), translated to the
//! `regex` crate's syntax and run on bytes.
//!
//! Patterns are compiled for `regex::bytes` (linear time) whenever possible. Constructs
//! that need backtracking (look-around, back-references, atomic groups, possessive
//! quantifiers, `\K`) are compiled with `fancy-regex` instead, with a backtracking limit as
//! PCRE has one (hitting it means "no match", as in libmodsecurity). `fancy-regex` works on
//! `str`, so for those patterns the subject is mapped byte-for-byte to the code points
//! U+0000..U+00FF (Latin-1) and the pattern is written so that it only ever sees those.
//!
//! Translation rules (PCRE2 10.42 syntax):
//! - `\x{hh}`, `\xhh`, `\ooo`, `\o{...}`, `\cX`, `\e`, `\a` become `\xhh` (one byte);
//!   values above 0xFF are errors, as in PCRE's non-UTF mode. Bytes >= 0x80 written
//!   literally in the pattern are single bytes too.
//! - `\d \s \w \h \v` (and negations) and POSIX classes are the ASCII sets PCRE uses with
//!   its default tables; `\N`, `\R` are expanded.
//! - `\Q...\E` quoting, `(?#...)` comments, `(?x)` extended mode and `(?n)` are handled
//!   here; `(?i)`, `(?m)`, `(?s)`, `(?U)` are passed on.
//! - A `{` that does not start a valid quantifier is a literal, as in PCRE.
//! - Recursion, subroutine calls, conditionals, branch reset, callouts and `(*VERB)`s
//!   are rejected with an error naming them.
//!
//! In multi-line mode PCRE's `^` does not match after a newline that ends the subject; the
//! `regex` crate's does. And `\Z` (end, or before a final newline) has no zero-width
//! equivalent there; the linear engine reads it as `\n?\z`. Both can only make the linear
//! engine's answer wrong when the subject ends with `\n` and its match ends there too, so
//! in that case the search is redone with the backtracking engine, which is given PCRE's
//! exact forms (`(?:\A|(?<=\n)(?!\z))` and `(?=\n?\z)`).
//!
//! Known differences, documented rather than emulated:
//! - A repeated group whose last iteration can be empty: after `(a*)+b` matches `ab`,
//!   PCRE reports group 1 as empty (it runs one more, empty, iteration); the `regex` crate
//!   reports `a`. Only captures differ, never whether there is a match.
//! - With `(?i)`, the backtracking engine folds case of Latin-1 letters inside classes
//!   (e.g. `[\xe0-\xfe]`); PCRE folds ASCII only. Literals outside classes are exact.

use std::fmt;

/// Limit on the size of one compiled linear regex (the `regex` crate's default is 10 MiB).
const SIZE_LIMIT: usize = 64 * 1024 * 1024;
/// Limit on the lazy DFA cache of one regex, per thread.
const DFA_SIZE_LIMIT: usize = 8 * 1024 * 1024;
/// Nesting limit of the pattern parser.
const NEST_LIMIT: u32 = 1000;
/// Backtracking steps before a backtracking match gives up (counts as "no match").
const BACKTRACK_LIMIT: usize = 1_000_000;

/// A pattern translated for one of the two engines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslatedPattern {
    /// The pattern in the `regex` / `fancy-regex` syntax.
    pub pattern: String,
    /// Whether it needs the backtracking engine.
    pub backtracking: bool,
    /// Whether the pattern looks at text left of the match position (`^`, `\A`, `\b`,
    /// `\B`, look-behind): matching it in a suffix of the subject can then differ from
    /// matching it in the whole subject.
    pub uses_left_context: bool,
    /// Whether the linear translation can answer differently from PCRE when the subject
    /// ends with a newline (multi-line `^`, `\Z`; see the module documentation).
    pub final_newline_sensitive: bool,
}

/// Translates a libmodsecurity (PCRE) pattern to the syntax of the engine that will run it.
pub fn translate_pattern(pattern: &str) -> Result<TranslatedPattern, String> {
    translate(pattern, Target::Linear)
}

fn translate(pattern: &str, first: Target) -> Result<TranslatedPattern, String> {
    let quoted = expand_quoting(pattern.as_bytes());
    if first == Target::Backtrack {
        return Translator::new(&quoted, Target::Backtrack).run().map_err(|e| match e {
            TranslateError::NeedsBacktracking => "unsupported backtracking feature".to_owned(),
            TranslateError::Invalid(msg) => msg,
        });
    }
    match Translator::new(&quoted, Target::Linear).run() {
        Ok(t) => Ok(t),
        Err(TranslateError::NeedsBacktracking) => {
            match Translator::new(&quoted, Target::Backtrack).run() {
                Ok(t) => Ok(t),
                Err(TranslateError::NeedsBacktracking) => {
                    Err("pattern needs an unsupported backtracking feature".to_owned())
                }
                Err(TranslateError::Invalid(msg)) => Err(msg),
            }
        }
        Err(TranslateError::Invalid(msg)) => Err(msg),
    }
}

/// A compiled PCRE-compatible regular expression over bytes.
#[derive(Clone)]
pub struct Pcre {
    engine: Engine,
    source: String,
    uses_left_context: bool,
}

#[derive(Clone)]
enum Engine {
    /// `strict`: the same pattern for the backtracking engine, used when a multi-line `^`
    /// may have matched after a final newline.
    Linear {
        re: regex::bytes::Regex,
        strict: Option<Box<fancy_regex::Regex>>,
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
            self.offsets
                .get(i)
                .copied()
                .unwrap_or(self.text.len())
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
                Some(Box::new(build_backtracking(pattern, &exact.pattern)?))
            } else {
                None
            };
            Engine::Linear { re, strict }
        };
        Ok(Pcre {
            engine,
            source: pattern.to_owned(),
            uses_left_context: translated.uses_left_context,
        })
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
        match &self.engine {
            Engine::Linear { re, strict: None } => re.is_match(input),
            Engine::Linear { re, strict: Some(strict) } => match re.find(input) {
                None => false,
                Some(m) if m.end() < input.len() || input.last() != Some(&b'\n') => true,
                Some(_) => strict.is_match(&Latin1::new(input).text).unwrap_or(false),
            },
            Engine::Backtrack(re) => re
                .is_match(&Latin1::new(input).text)
                .unwrap_or(false),
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
                if let Some(strict) = strict.as_deref().filter(|_| final_newline_match(hay, m.end())) {
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
                if let Some(strict) = strict.as_deref().filter(|_| final_newline_match(input, m.end())) {
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
    spans.extend(
        (0..caps.len()).map(|i| caps.get(i).map(|m| (l.to_input(m.start()), l.to_input(m.end())))),
    );
    true
}

/// Which engine a translation is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    /// `regex::bytes` with `unicode(false)`: `\xhh` is a byte.
    Linear,
    /// `fancy-regex` over Latin-1 text: `\xhh` is U+00hh.
    Backtrack,
}

enum TranslateError {
    /// The pattern uses a construct only the backtracking engine has.
    NeedsBacktracking,
    /// The pattern is invalid or uses an unsupported construct.
    Invalid(String),
}

type TResult<T> = Result<T, TranslateError>;

fn invalid<T>(msg: impl Into<String>) -> TResult<T> {
    Err(TranslateError::Invalid(msg.into()))
}

/// Replaces `\Q...\E` quoted runs by escaped bytes (`\xhh`), so that the translator never
/// has to know about quoting (inside classes too).
fn expand_quoting(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len());
    let mut i = 0;
    while let Some(&b) = src.get(i) {
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        match src.get(i + 1) {
            Some(b'Q') => {
                i += 2;
                while let Some(&q) = src.get(i) {
                    if q == b'\\' && src.get(i + 1) == Some(&b'E') {
                        i += 2;
                        break;
                    }
                    out.extend_from_slice(format!("\\x{q:02x}").as_bytes());
                    i += 1;
                }
            }
            Some(&next) => {
                out.push(b'\\');
                out.push(next);
                i += 2;
            }
            None => {
                out.push(b'\\');
                i += 1;
            }
        }
    }
    out
}

/// Inline options that change how the rest of the pattern is read.
#[derive(Clone, Copy, Default)]
struct Flags {
    /// `(?x)`: whitespace and `#` comments are ignored outside classes.
    extended: bool,
    /// `(?n)`: plain `(` does not capture.
    no_auto_capture: bool,
    /// `(?m)` (on by default, as libmodsecurity compiles with `PCRE2_MULTILINE`).
    single_line: bool,
}

/// One element of a character class.
enum ClassItem {
    Byte(u8),
    /// A Rust class fragment (already valid inside `[...]`).
    Fragment(String),
}

/// What an escape sequence stands for.
enum Escape {
    Byte(u8),
    /// A set of bytes, as a class body (without brackets), possibly negated.
    Set { body: &'static str, negated: bool },
    /// `\p{..}` / `\P{..}`, as written.
    Property(String),
    /// A complete atom, ready to emit.
    Atom(String),
    /// A zero-width assertion (`\b`, `\A`, ...): PCRE does not allow a quantifier after it.
    Assertion(String),
    /// Numbered back-reference.
    BackRefNumber(usize),
    /// Named back-reference.
    BackRefName(String),
    /// Nothing (a stray `\E`).
    Nothing,
}

const DIGIT: &str = "0-9";
const SPACE: &str = "\\t\\n\\x0B\\x0C\\r\\x20";
const WORD: &str = "0-9A-Za-z_";
const HSPACE: &str = "\\t\\x20\\xA0";
const VSPACE: &str = "\\n\\x0B\\x0C\\r\\x85";
const NEWLINE: &str = "\\n";

/// What the output ends with, for quantifier checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    /// Start of the pattern or of a group, or after `|` or an option setting.
    Nothing,
    Atom,
    /// `^`, `$`, `\b`, ... (PCRE: not repeatable).
    Assertion,
    /// A look-around group starting at this output offset (repeatable, with PCRE's rules).
    LookAround(usize),
    /// A quantified item (PCRE: a second quantifier is an error).
    Quantified,
}

/// An open group.
#[derive(Clone, Copy)]
struct Group {
    /// Options outside the group, restored at `)`.
    flags: Flags,
    /// Output offset of a look-around group's `(`.
    look_start: Option<usize>,
}

struct Translator<'a> {
    src: &'a [u8],
    pos: usize,
    out: String,
    target: Target,
    flags: Flags,
    stack: Vec<Group>,
    last: Last,
    max_backref: usize,
    names: Vec<String>,
    backref_names: Vec<String>,
    groups: usize,
    uses_left_context: bool,
    final_newline_sensitive: bool,
}

impl<'a> Translator<'a> {
    fn new(src: &'a [u8], target: Target) -> Self {
        Translator {
            src,
            pos: 0,
            out: String::with_capacity(src.len() + src.len() / 2),
            target,
            flags: Flags::default(),
            stack: Vec::new(),
            last: Last::Nothing,
            max_backref: 0,
            names: Vec::new(),
            backref_names: Vec::new(),
            groups: 0,
            uses_left_context: false,
            final_newline_sensitive: false,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.src.get(self.pos + offset).copied()
    }

    fn backtracking(&mut self) -> TResult<()> {
        match self.target {
            Target::Linear => Err(TranslateError::NeedsBacktracking),
            Target::Backtrack => Ok(()),
        }
    }

    fn run(mut self) -> TResult<TranslatedPattern> {
        while let Some(c) = self.peek() {
            if self.flags.extended {
                if is_pcre_space(c) {
                    self.pos += 1;
                    continue;
                }
                if c == b'#' {
                    while let Some(c) = self.peek() {
                        self.pos += 1;
                        if c == b'\n' {
                            break;
                        }
                    }
                    continue;
                }
            }
            match c {
                b'\\' => {
                    let esc = self.escape(false)?;
                    self.emit_escape(esc)?;
                }
                b'[' => {
                    self.class()?;
                    self.last = Last::Atom;
                }
                b'(' => self.group_open()?,
                b')' => {
                    self.pos += 1;
                    match self.stack.pop() {
                        Some(group) => {
                            self.flags = group.flags;
                            self.last = match group.look_start {
                                Some(start) => Last::LookAround(start),
                                None => Last::Atom,
                            };
                        }
                        None => return invalid("unmatched closing parenthesis"),
                    }
                    self.out.push(')');
                }
                b'*' | b'+' | b'?' => {
                    self.pos += 1;
                    let (min, max) = match c {
                        b'*' => (0, None),
                        b'+' => (1, None),
                        _ => (0, Some(1)),
                    };
                    self.quantifier(&char::from(c).to_string(), min, max)?;
                }
                b'{' => match self.brace_quantifier()? {
                    Some((text, min, max)) => self.quantifier(&text, min, max)?,
                    None => {
                        self.pos += 1;
                        self.out.push_str("\\{");
                        self.last = Last::Atom;
                    }
                },
                b'|' => {
                    self.pos += 1;
                    self.out.push('|');
                    self.last = Last::Nothing;
                }
                b'$' => {
                    self.pos += 1;
                    self.out.push('$');
                    self.last = Last::Assertion;
                }
                b'^' => {
                    self.pos += 1;
                    self.last = Last::Assertion;
                    self.uses_left_context = true;
                    if self.flags.single_line {
                        self.out.push('^');
                    } else if self.target == Target::Linear {
                        self.final_newline_sensitive = true;
                        self.out.push('^');
                    } else {
                        // PCRE: not after a newline that ends the subject.
                        self.out.push_str("(?:\\A|(?<=\\n)(?!\\z))");
                    }
                }
                b'.' => {
                    self.pos += 1;
                    self.out.push('.');
                    self.last = Last::Atom;
                }
                _ => {
                    self.pos += 1;
                    self.emit_literal(c);
                }
            }
        }
        if !self.stack.is_empty() {
            return invalid("missing closing parenthesis");
        }
        if self.max_backref > self.groups
            || self.backref_names.iter().any(|n| !self.names.contains(n))
        {
            return invalid("reference to non-existent subpattern");
        }
        Ok(TranslatedPattern {
            pattern: self.out,
            backtracking: self.target == Target::Backtrack,
            uses_left_context: self.uses_left_context,
            final_newline_sensitive: self.final_newline_sensitive,
        })
    }

    /// Emits one literal byte outside a class.
    fn emit_literal(&mut self, b: u8) {
        self.last = Last::Atom;
        if b >= 0x80 && self.target == Target::Backtrack {
            // Exact byte even under (?i): PCRE folds ASCII only.
            self.out.push_str(&format!("(?-i:\\x{b:02X})"));
        } else {
            push_byte(&mut self.out, b);
        }
    }

    /// Emits a quantifier (`text`, already consumed, meaning `{min,max}`) and its lazy `?`
    /// or possessive `+` suffix, with PCRE's rules on what may be quantified.
    fn quantifier(&mut self, text: &str, min: u32, max: Option<u32>) -> TResult<()> {
        let suffix = match self.peek() {
            Some(c @ (b'?' | b'+')) => {
                self.pos += 1;
                Some(c)
            }
            _ => None,
        };
        match self.last {
            Last::Nothing | Last::Assertion | Last::Quantified => {
                return invalid("quantifier does not follow a repeatable item")
            }
            Last::Atom => {
                self.out.push_str(text);
                match suffix {
                    Some(b'?') => self.out.push('?'),
                    Some(_) => {
                        self.backtracking()?;
                        self.out.push('+');
                    }
                    None => {}
                }
            }
            Last::LookAround(start) => {
                // PCRE: {0} never runs the assertion, {0,n} makes it optional, otherwise
                // it runs once.
                let assertion = self.out.split_off(start.min(self.out.len()));
                if max == Some(0) {
                    self.out.push_str(&format!("(?:{assertion}|){{0}}"));
                } else if min == 0 {
                    self.out.push_str(&match suffix {
                        Some(b'?') => format!("(?:|{assertion})"),
                        Some(_) => format!("(?>{assertion}|)"),
                        None => format!("(?:{assertion}|)"),
                    });
                } else {
                    self.out.push_str(&assertion);
                }
            }
        }
        self.last = Last::Quantified;
        Ok(())
    }

    /// `{n}`, `{n,}`, `{n,m}` at the current position (consumed), or `None` when the brace
    /// is a literal (PCRE2 10.42 treats anything else, `{,m}` included, as literal text).
    fn brace_quantifier(&mut self) -> TResult<Option<(String, u32, Option<u32>)>> {
        let Some(rest) = self.src.get(self.pos..) else {
            return Ok(None);
        };
        let number = |start: usize| -> (usize, Option<u32>) {
            let len = rest
                .get(start..)
                .map(|t| t.iter().take_while(|b| b.is_ascii_digit()).count())
                .unwrap_or(0);
            let value = std::str::from_utf8(rest.get(start..start + len).unwrap_or_default())
                .ok()
                .and_then(|t| t.parse::<u32>().ok());
            (len, value)
        };
        let (len1, min) = number(1);
        if len1 == 0 {
            return Ok(None);
        }
        let mut i = 1 + len1;
        let max = match rest.get(i) {
            Some(b'}') => min,
            Some(b',') => {
                let (len2, max) = number(i + 1);
                i += 1 + len2;
                if rest.get(i) != Some(&b'}') {
                    return Ok(None);
                }
                if len2 == 0 {
                    None
                } else {
                    max
                }
            }
            _ => return Ok(None),
        };
        if rest.get(i) != Some(&b'}') && max.is_some() && rest.get(i) != Some(&b'}') {
            return Ok(None);
        }
        let Some(min) = min.filter(|&n| n <= 65535) else {
            return invalid("number too big in {} quantifier");
        };
        if max.is_some_and(|m| m > 65535) || (len1 > 0 && rest.get(1 + len1) == Some(&b',') && max.is_none() && rest.get(i.saturating_sub(1)) != Some(&b',')) {
            return invalid("number too big in {} quantifier");
        }
        if max.is_some_and(|m| m < min) {
            return invalid("numbers out of order in {} quantifier");
        }
        let text = String::from_utf8_lossy(rest.get(..=i).unwrap_or_default()).into_owned();
        self.pos += i + 1;
        Ok(Some((text, min, max)))
    }

    fn push_group(&mut self, look_start: Option<usize>) {
        self.stack.push(Group { flags: self.flags, look_start });
    }

    fn group_open(&mut self) -> TResult<()> {
        self.pos += 1; // '('
        let last = self.last;
        if self.peek() == Some(b'*') {
            return invalid("PCRE verbs such as (*...) are not supported");
        }
        self.last = Last::Nothing;
        if self.peek() != Some(b'?') {
            self.push_group(None);
            if self.flags.no_auto_capture {
                self.out.push_str("(?:");
            } else {
                self.groups += 1;
                self.out.push('(');
            }
            return Ok(());
        }
        self.pos += 1; // '?'
        match self.peek() {
            Some(b':') => {
                self.pos += 1;
                self.push_group(None);
                self.out.push_str("(?:");
            }
            Some(b'#') => {
                // Comment: up to the next ')', no escapes.
                while let Some(c) = self.peek() {
                    self.pos += 1;
                    if c == b')' {
                        self.last = last;
                        return Ok(());
                    }
                }
                return invalid("missing ) after (?# comment");
            }
            Some(b'>') => {
                self.backtracking()?;
                self.pos += 1;
                self.push_group(None);
                self.out.push_str("(?>");
            }
            Some(b'=') | Some(b'!') => {
                self.backtracking()?;
                let c = self.peek().unwrap_or(b'=');
                self.pos += 1;
                self.push_group(Some(self.out.len()));
                self.out.push_str("(?");
                self.out.push(char::from(c));
            }
            Some(b'<') if matches!(self.peek_at(1), Some(b'=') | Some(b'!')) => {
                self.backtracking()?;
                self.uses_left_context = true;
                let c = self.peek_at(1).unwrap_or(b'=');
                self.pos += 2;
                self.push_group(Some(self.out.len()));
                self.out.push_str("(?<");
                self.out.push(char::from(c));
            }
            Some(b'<') => {
                self.pos += 1;
                let name = self.group_name(b'>')?;
                self.named_group(&name);
            }
            Some(b'\'') => {
                self.pos += 1;
                let name = self.group_name(b'\'')?;
                self.named_group(&name);
            }
            Some(b'P') => match self.peek_at(1) {
                Some(b'<') => {
                    self.pos += 2;
                    let name = self.group_name(b'>')?;
                    self.named_group(&name);
                }
                Some(b'=') => {
                    self.pos += 2;
                    let name = self.group_name(b')')?;
                    self.emit_escape(Escape::BackRefName(name))?;
                }
                Some(b'>') => return invalid("subroutine calls (?P>name) are not supported"),
                _ => return invalid("unrecognized character after (?P"),
            },
            Some(b'|') => return invalid("branch reset groups (?|...) are not supported"),
            Some(b'(') => return invalid("conditional groups (?(...)...) are not supported"),
            Some(b'C') => return invalid("callouts (?C...) are not supported"),
            Some(b'R') | Some(b'&') | Some(b'+') | Some(b'0'..=b'9') => {
                return invalid("recursion and subroutine calls are not supported")
            }
            Some(b'-') if self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) => {
                return invalid("recursion and subroutine calls are not supported")
            }
            _ => self.option_group()?,
        }
        Ok(())
    }

    fn named_group(&mut self, name: &str) {
        self.groups += 1;
        self.names.push(name.to_owned());
        self.push_group(None);
        self.out.push_str("(?P<");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// Reads a group name up to `end` (consumed).
    fn group_name(&mut self, end: u8) -> TResult<String> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == end {
                let name = self.src.get(start..self.pos).unwrap_or_default();
                self.pos += 1;
                let valid = name
                    .first()
                    .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
                    && name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
                if !valid {
                    return invalid("invalid group name");
                }
                return Ok(String::from_utf8_lossy(name).into_owned());
            }
            self.pos += 1;
        }
        invalid("unterminated group name")
    }

    /// `(?imnsxUJ-imnsxUJ)` or `(?imnsx...:`; the position is after `(?`.
    fn option_group(&mut self) -> TResult<()> {
        let mut flags = self.flags;
        // Rust rejects a flag given twice, PCRE takes the last setting: keep the last one.
        let mut rust: Vec<(u8, bool)> = Vec::new();
        let mut set = |flag: u8, on: bool| {
            rust.retain(|(f, _)| *f != flag);
            rust.push((flag, on));
        };
        let mut negate = false;
        let mut any = false;
        loop {
            let Some(c) = self.peek() else {
                return invalid("missing ) after (? options");
            };
            self.pos += 1;
            match c {
                b'-' if !negate => negate = true,
                b'^' if !negate && !any => {
                    flags.extended = false;
                    flags.no_auto_capture = false;
                    flags.single_line = true;
                    for f in [b'i', b'm', b's'] {
                        set(f, false);
                    }
                }
                b'i' | b'm' | b's' | b'U' => {
                    if c == b'm' {
                        flags.single_line = negate;
                    }
                    set(c, !negate);
                }
                b'x' => {
                    if !negate && self.peek() == Some(b'x') {
                        return invalid("the (?xx) option is not supported");
                    }
                    flags.extended = !negate;
                }
                b'n' => flags.no_auto_capture = !negate,
                b'J' => {}
                b')' | b':' => {
                    let on: String = rust.iter().filter(|r| r.1).map(|r| char::from(r.0)).collect();
                    let off: String = rust.iter().filter(|r| !r.1).map(|r| char::from(r.0)).collect();
                    let mut spec = on;
                    if !off.is_empty() {
                        spec.push('-');
                        spec.push_str(&off);
                    }
                    if c == b')' {
                        self.flags = flags;
                        self.last = Last::Nothing;
                        if !spec.is_empty() {
                            self.out.push_str("(?");
                            self.out.push_str(&spec);
                            self.out.push(')');
                        }
                    } else {
                        self.push_group(None);
                        self.flags = flags;
                        self.out.push_str("(?");
                        self.out.push_str(&spec);
                        self.out.push(':');
                    }
                    return Ok(());
                }
                other => {
                    return invalid(format!(
                        "unrecognized character {:?} after (? or (?-",
                        char::from(other)
                    ))
                }
            }
            any = true;
        }
    }

    /// Parses the escape at the current position (a backslash).
    fn escape(&mut self, in_class: bool) -> TResult<Escape> {
        self.pos += 1; // '\\'
        let Some(c) = self.peek() else {
            return invalid("\\ at end of pattern");
        };
        self.pos += 1;
        let esc = match c {
            b'a' => Escape::Byte(0x07),
            b'e' => Escape::Byte(0x1B),
            b'f' => Escape::Byte(0x0C),
            b'n' => Escape::Byte(b'\n'),
            b'r' => Escape::Byte(b'\r'),
            b't' => Escape::Byte(b'\t'),
            b'0' => {
                let mut value = 0u32;
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                Escape::Byte(byte_value(value)?)
            }
            b'1'..=b'9' => self.digit_escape(c, in_class)?,
            b'o' => {
                if self.peek() != Some(b'{') {
                    return invalid("missing opening brace after \\o");
                }
                self.pos += 1;
                let value = self.braced_number(8)?;
                Escape::Byte(byte_value(value)?)
            }
            b'x' => {
                if self.peek() == Some(b'{') {
                    self.pos += 1;
                    let value = self.braced_number(16)?;
                    Escape::Byte(byte_value(value)?)
                } else {
                    let mut value = 0u32;
                    for _ in 0..2 {
                        match self.peek().and_then(|d| char::from(d).to_digit(16)) {
                            Some(v) => {
                                value = value * 16 + v;
                                self.pos += 1;
                            }
                            None => break,
                        }
                    }
                    Escape::Byte(byte_value(value)?)
                }
            }
            b'c' => match self.peek() {
                Some(x) if (0x20..0x7F).contains(&x) => {
                    self.pos += 1;
                    Escape::Byte(x.to_ascii_uppercase() ^ 0x40)
                }
                _ => return invalid("\\c must be followed by a printable ASCII character"),
            },
            b'd' => Escape::Set { body: DIGIT, negated: false },
            b'D' => Escape::Set { body: DIGIT, negated: true },
            b's' => Escape::Set { body: SPACE, negated: false },
            b'S' => Escape::Set { body: SPACE, negated: true },
            b'w' => Escape::Set { body: WORD, negated: false },
            b'W' => Escape::Set { body: WORD, negated: true },
            b'h' => Escape::Set { body: HSPACE, negated: false },
            b'H' => Escape::Set { body: HSPACE, negated: true },
            b'v' => Escape::Set { body: VSPACE, negated: false },
            b'V' => Escape::Set { body: VSPACE, negated: true },
            b'p' | b'P' => {
                let negated = c == b'P';
                let name = match self.peek() {
                    Some(b'{') => {
                        let start = self.pos + 1;
                        let Some(len) = self
                            .src
                            .get(start..)
                            .and_then(|s| s.iter().position(|&b| b == b'}'))
                        else {
                            return invalid("malformed \\p or \\P sequence");
                        };
                        self.pos = start + len + 1;
                        String::from_utf8_lossy(self.src.get(start..start + len).unwrap_or_default())
                            .into_owned()
                    }
                    Some(l) if l.is_ascii_alphabetic() => {
                        self.pos += 1;
                        char::from(l).to_string()
                    }
                    _ => return invalid("malformed \\p or \\P sequence"),
                };
                self.backtracking()?;
                Escape::Property(format!("\\{}{{{}}}", if negated { 'P' } else { 'p' }, name))
            }
            b'b' if in_class => Escape::Byte(0x08),
            b'N' | b'R' | b'B' | b'A' | b'z' | b'Z' | b'G' | b'K' | b'X' | b'g' | b'k' | b'b'
                if in_class =>
            {
                return invalid(format!(
                    "escape sequence \\{} is invalid in a character class",
                    char::from(c)
                ))
            }
            b'N' => {
                if self.peek() == Some(b'{') {
                    return invalid("\\N{...} is not supported");
                }
                Escape::Set { body: NEWLINE, negated: true }
            }
            b'R' => Escape::Atom("(?:\\r\\n|[\\n\\x0B\\x0C\\r\\x85])".to_owned()),
            b'b' | b'B' => {
                self.uses_left_context = true;
                Escape::Assertion(self.word_boundary(c == b'B'))
            }
            b'A' => {
                self.uses_left_context = true;
                Escape::Assertion("\\A".to_owned())
            }
            b'z' => Escape::Assertion("\\z".to_owned()),
            b'Z' => {
                // No linear equivalent (end, or before a final newline, zero-width).
                self.backtracking()?;
                Escape::Assertion("(?=\\n?\\z)".to_owned())
            }
            b'G' => return invalid("\\G is not supported"),
            b'K' => {
                self.backtracking()?;
                Escape::Assertion("\\K".to_owned())
            }
            b'X' => return invalid("\\X is not supported"),
            b'g' => self.g_escape()?,
            b'k' => {
                let end = match self.peek() {
                    Some(b'<') => b'>',
                    Some(b'\'') => b'\'',
                    Some(b'{') => b'}',
                    _ => return invalid("\\k is not followed by a name in <>, '' or {}"),
                };
                self.pos += 1;
                Escape::BackRefName(self.group_name(end)?)
            }
            b'E' => Escape::Nothing,
            b'Q' => Escape::Nothing,
            b'u' | b'U' | b'l' | b'L' | b'F' => {
                return invalid("PCRE2 does not support \\F, \\L, \\l, \\U, or \\u")
            }
            c if c.is_ascii_alphanumeric() => {
                return invalid(format!("unrecognized escape sequence \\{}", char::from(c)))
            }
            c => Escape::Byte(c),
        };
        Ok(esc)
    }

    fn word_boundary(&self, negated: bool) -> String {
        match (self.target, negated) {
            (Target::Linear, false) => "\\b".to_owned(),
            (Target::Linear, true) => "\\B".to_owned(),
            (Target::Backtrack, false) => "(?:(?<=[0-9A-Za-z_])(?![0-9A-Za-z_])|(?<![0-9A-Za-z_])(?=[0-9A-Za-z_]))".to_owned(),
            (Target::Backtrack, true) => "(?:(?<=[0-9A-Za-z_])(?=[0-9A-Za-z_])|(?<![0-9A-Za-z_])(?![0-9A-Za-z_]))".to_owned(),
        }
    }

    /// `\1`..`\9...`: back-reference or octal (PCRE2 rules).
    fn digit_escape(&mut self, first: u8, in_class: bool) -> TResult<Escape> {
        let start = self.pos - 1;
        if !in_class {
            let len = self
                .src
                .get(start..)
                .map(|s| s.iter().take_while(|b| b.is_ascii_digit()).count())
                .unwrap_or(1);
            let number: usize = std::str::from_utf8(self.src.get(start..start + len).unwrap_or_default())
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(usize::MAX);
            if number < 10 || first == b'8' || first == b'9' || number <= self.groups {
                self.pos = start + len;
                return Ok(Escape::BackRefNumber(number));
            }
        }
        if first == b'8' || first == b'9' {
            return invalid("\\8 and \\9 are not octal escapes");
        }
        // Octal: up to three octal digits.
        self.pos = start;
        let mut value = 0u32;
        for _ in 0..3 {
            match self.peek() {
                Some(d @ b'0'..=b'7') => {
                    value = value * 8 + u32::from(d - b'0');
                    self.pos += 1;
                }
                _ => break,
            }
        }
        Ok(Escape::Byte(byte_value(value)?))
    }

    /// `\g{n}`, `\g{-n}`, `\gn`, `\g-n`, `\g{name}`; `\g<..>` subroutines are rejected.
    fn g_escape(&mut self) -> TResult<Escape> {
        let text: Vec<u8> = match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                let start = self.pos;
                while self.peek().is_some_and(|c| c != b'}') {
                    self.pos += 1;
                }
                if self.peek() != Some(b'}') {
                    return invalid("missing } after \\g{");
                }
                let t = self.src.get(start..self.pos).unwrap_or_default().to_vec();
                self.pos += 1;
                t
            }
            Some(b'<') | Some(b'\'') => return invalid("subroutine calls \\g<...> are not supported"),
            _ => {
                let start = self.pos;
                if self.peek() == Some(b'-') || self.peek() == Some(b'+') {
                    self.pos += 1;
                }
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                self.src.get(start..self.pos).unwrap_or_default().to_vec()
            }
        };
        let text = String::from_utf8_lossy(&text).into_owned();
        if let Some(rel) = text.strip_prefix('-') {
            let n: usize = rel.parse().map_err(|_| TranslateError::Invalid("invalid \\g reference".into()))?;
            if n == 0 || n > self.groups {
                return invalid("invalid relative back-reference");
            }
            return Ok(Escape::BackRefNumber(self.groups + 1 - n));
        }
        if text.starts_with('+') {
            return invalid("forward relative back-references are not supported");
        }
        if let Ok(n) = text.parse::<usize>() {
            return Ok(Escape::BackRefNumber(n));
        }
        if text.is_empty() {
            return invalid("\\g is not followed by a number or name");
        }
        Ok(Escape::BackRefName(text))
    }

    /// Digits in the given radix up to `}` (consumed), as a number.
    fn braced_number(&mut self, radix: u32) -> TResult<u32> {
        let mut value: u32 = 0;
        let mut any = false;
        loop {
            match self.peek() {
                Some(b'}') if any => {
                    self.pos += 1;
                    return Ok(value);
                }
                Some(d) => match char::from(d).to_digit(radix) {
                    Some(v) => {
                        value = value.saturating_mul(radix).saturating_add(v);
                        any = true;
                        self.pos += 1;
                    }
                    None => return invalid("invalid digit in braced escape"),
                },
                None => return invalid("missing } in braced escape"),
            }
        }
    }

    fn emit_escape(&mut self, esc: Escape) -> TResult<()> {
        match esc {
            Escape::Byte(b) => self.emit_literal(b),
            Escape::Set { body, negated } => {
                self.out.push_str(if negated { "[^" } else { "[" });
                self.out.push_str(body);
                self.out.push(']');
                self.last = Last::Atom;
            }
            Escape::Property(p) => {
                self.out.push_str(&p);
                self.last = Last::Atom;
            }
            Escape::Atom(a) => {
                self.out.push_str(&a);
                self.last = Last::Atom;
            }
            Escape::Assertion(a) => {
                self.out.push_str(&a);
                self.last = Last::Assertion;
            }
            Escape::BackRefNumber(n) => {
                self.backtracking()?;
                self.max_backref = self.max_backref.max(n);
                self.out.push_str(&format!("(?:\\{n})"));
                self.last = Last::Atom;
            }
            Escape::BackRefName(name) => {
                self.backtracking()?;
                self.out.push_str(&format!("(?:\\k<{name}>)"));
                self.backref_names.push(name);
                self.last = Last::Atom;
            }
            Escape::Nothing => {}
        }
        Ok(())
    }

    /// A character class; the position is at `[`.
    fn class(&mut self) -> TResult<()> {
        self.pos += 1;
        let negated = self.peek() == Some(b'^');
        if negated {
            self.pos += 1;
        }
        let mut items: Vec<ClassItem> = Vec::new();
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                return invalid("missing terminating ] for character class");
            };
            if c == b']' && !first {
                self.pos += 1;
                break;
            }
            first = false;
            let item = self.class_atom()?;
            // A range?
            if self.peek() == Some(b'-') && self.peek_at(1).is_some_and(|n| n != b']') {
                if let ClassItem::Byte(lo) = item {
                    self.pos += 1; // '-'
                    match self.class_atom()? {
                        ClassItem::Byte(hi) => {
                            if hi < lo {
                                return invalid("range out of order in character class");
                            }
                            let mut frag = String::new();
                            push_class_byte(&mut frag, lo);
                            frag.push('-');
                            push_class_byte(&mut frag, hi);
                            items.push(ClassItem::Fragment(frag));
                        }
                        ClassItem::Fragment(_) => {
                            return invalid("invalid range in character class")
                        }
                    }
                    continue;
                } else {
                    return invalid("invalid range in character class");
                }
            }
            items.push(item);
        }
        self.out.push_str(if negated { "[^" } else { "[" });
        for item in &items {
            match item {
                ClassItem::Byte(b) => push_class_byte(&mut self.out, *b),
                ClassItem::Fragment(f) => self.out.push_str(f),
            }
        }
        self.out.push(']');
        Ok(())
    }

    /// One element of a class: a byte, an escape, a POSIX class.
    fn class_atom(&mut self) -> TResult<ClassItem> {
        let Some(c) = self.peek() else {
            return invalid("missing terminating ] for character class");
        };
        if c == b'[' {
            if let Some(posix) = self.posix_class()? {
                return Ok(ClassItem::Fragment(posix));
            }
            self.pos += 1;
            return Ok(ClassItem::Byte(b'['));
        }
        if c == b'\\' {
            return match self.escape(true)? {
                Escape::Byte(b) => Ok(ClassItem::Byte(b)),
                Escape::Set { body, negated } => Ok(ClassItem::Fragment(if negated {
                    format!("[^{body}]")
                } else {
                    body.to_owned()
                })),
                Escape::Property(p) => Ok(ClassItem::Fragment(p)),
                Escape::Nothing => {
                    // A stray \E inside a class: read the next atom instead.
                    if self.peek() == Some(b']') {
                        // `[\E]` would make `]` the first item in PCRE; treat as literal.
                        self.pos += 1;
                        return Ok(ClassItem::Byte(b']'));
                    }
                    self.class_atom()
                }
                Escape::Atom(_)
                | Escape::Assertion(_)
                | Escape::BackRefNumber(_)
                | Escape::BackRefName(_) => {
                    invalid("escape sequence is invalid in a character class")
                }
            };
        }
        self.pos += 1;
        Ok(ClassItem::Byte(c))
    }

    /// `[:name:]` / `[:^name:]` at the current position (`[`), if there is one.
    fn posix_class(&mut self) -> TResult<Option<String>> {
        let kind = match self.peek_at(1) {
            Some(k @ (b':' | b'.' | b'=')) => k,
            _ => return Ok(None),
        };
        let rest = self.src.get(self.pos + 2..).unwrap_or_default();
        // PCRE looks for the terminating "k]" before any ']' that would end the class.
        let Some(end) = rest.windows(2).position(|w| w[0] == kind && w[1] == b']') else {
            return Ok(None);
        };
        if rest.get(..end).is_some_and(|s| s.contains(&b']') || s.contains(&b'[')) {
            return Ok(None);
        }
        if kind != b':' {
            return invalid("POSIX collating elements are not supported");
        }
        let body = rest.get(..end).unwrap_or_default();
        let (negated, name) = match body.strip_prefix(b"^") {
            Some(n) => (true, n),
            None => (false, body),
        };
        const NAMES: &[&str] = &[
            "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print",
            "punct", "space", "upper", "word", "xdigit",
        ];
        let name = std::str::from_utf8(name).unwrap_or("");
        if !NAMES.contains(&name) {
            return invalid(format!("unknown POSIX class name {name:?}"));
        }
        self.pos += 2 + end + 2;
        // PCRE's [:space:] is the same set as \s (VT included), like Rust's.
        Ok(Some(format!("[:{}{name}:]", if negated { "^" } else { "" })))
    }
}

/// A byte value from an escape, or the PCRE error for values above 0xFF.
fn byte_value(value: u32) -> TResult<u8> {
    u8::try_from(value).or_else(|_| {
        invalid("character code point value in \\x{} or \\o{} is too large (non-UTF mode)")
    })
}

/// Characters PCRE's extended mode skips.
fn is_pcre_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

/// Appends byte `b` as a literal outside a class.
fn push_byte(out: &mut String, b: u8) {
    if b.is_ascii_alphanumeric() || matches!(b, b'_' | b',' | b':' | b';' | b'!' | b'"' | b'\'' | b'@' | b'%' | b'=' | b'/' | b'<' | b'>' | b'`') {
        out.push(char::from(b));
    } else {
        out.push_str(&format!("\\x{b:02X}"));
    }
}

/// Appends byte `b` as a literal inside a class.
fn push_class_byte(out: &mut String, b: u8) {
    if b.is_ascii_alphanumeric() || b == b'_' {
        out.push(char::from(b));
    } else {
        out.push_str(&format!("\\x{b:02X}"));
    }
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
        for p in [r"(?|a)", r"(?(1)a|b)", r"(?R)", r"(?1)", r"(*UTF)a", r"\G", r"(a", r"a)", r"[a", r"\y", r"[z-a]", r"[\d-z]"] {
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
        assert!(!translate_pattern(r"\d{3}-?\d{2}").unwrap().uses_left_context);
        assert!(!translate_pattern(r"a$").unwrap().uses_left_context);
    }
}
