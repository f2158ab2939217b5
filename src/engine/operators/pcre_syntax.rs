//! Translation of PCRE2 (10.42) pattern syntax, as libmodsecurity uses it, to the syntax of
//! the `regex` crate (linear engine, bytes, `unicode(false)`) or of `fancy-regex`
//! (backtracking engine, over Latin-1 text): see [`super::pcre`].
//!
//! - `\x{hh}`, `\xhh`, `\ooo`, `\o{...}`, `\cX`, `\e`, `\a` become `\xhh` (one byte);
//!   values above 0xFF are errors, as in PCRE's non-UTF mode. Bytes >= 0x80 written
//!   literally in the pattern are single bytes too.
//! - `\d \s \w \h \v` (and negations) and POSIX classes are the ASCII sets PCRE uses with
//!   its default tables; `\N`, `\R` are expanded; `\b`, `\B`, `^` are given their ASCII /
//!   PCRE meaning in the backtracking engine too.
//! - `\Q...\E` quoting, `(?#...)` comments, `(?x)` extended mode and `(?n)` are handled
//!   here; `(?i)`, `(?m)`, `(?s)`, `(?U)` are passed on (scoped explicitly for
//!   `fancy-regex`, which does not end them with their group).
//! - A `{` that does not start a valid quantifier is a literal, as in PCRE 10.42.
//! - What PCRE2 rejects is rejected: quantifiers after assertions or quantifiers, bad
//!   ranges, unknown escapes, references to missing groups, duplicate group names.
//!   Quantified look-arounds follow PCRE (`{0}` never runs, `{0,n}` is optional).
//! - Recursion, subroutine calls, conditionals, branch reset, callouts, `\G` and
//!   `(*VERB)`s are rejected with an error naming them.

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

pub(crate) fn translate(pattern: &str, first: Target) -> Result<TranslatedPattern, String> {
    let quoted = expand_quoting(pattern.as_bytes());
    if first == Target::Backtrack {
        return Translator::new(&quoted, Target::Backtrack)
            .run()
            .map_err(|e| match e {
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

/// Which engine a translation is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
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
    Set {
        body: &'static str,
        negated: bool,
    },
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
    /// A look-around group, or a group that cannot consume input, starting at this output
    /// offset (repeatable, with PCRE's rules for assertions).
    ZeroWidth(usize),
    /// A quantified item (PCRE: a second quantifier is an error).
    Quantified,
}

/// An open group.
#[derive(Clone, Copy)]
struct Group {
    /// Options outside the group, restored at `)`.
    flags: Flags,
    /// Output offset of the group's `(`.
    start: usize,
    /// A look-around group.
    look_around: bool,
    /// A look-behind group.
    look_behind: bool,
    /// Something inside can consume input.
    consumes: bool,
    /// The enclosing level's option wraps, restored at `)`.
    outer_wraps: usize,
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
    /// Backtracking target only: `(?flags:` groups opened for `(?flags)` settings in the
    /// current group (fancy-regex does not scope such settings to their group).
    wraps: Vec<String>,
    /// How many of `wraps` belong to the current group level.
    level_wraps: usize,
    names: Vec<String>,
    /// Name of each capture group so far, by number - 1.
    group_names: Vec<Option<String>>,
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
            wraps: Vec::new(),
            level_wraps: 0,
            names: Vec::new(),
            group_names: Vec::new(),
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
                    self.consumed();
                }
                b'(' => self.group_open()?,
                b')' => {
                    self.pos += 1;
                    self.close_wraps();
                    let keep = self.wraps.len().saturating_sub(self.level_wraps);
                    self.wraps.truncate(keep);
                    match self.stack.pop() {
                        Some(group) => {
                            self.level_wraps = group.outer_wraps;
                            self.flags = group.flags;
                            self.last = if group.look_around || !group.consumes {
                                Last::ZeroWidth(group.start)
                            } else {
                                if let Some(parent) = self.stack.last_mut() {
                                    parent.consumes = true;
                                }
                                Last::Atom
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
                        self.consumed();
                    }
                },
                b'|' => {
                    self.pos += 1;
                    self.close_wraps();
                    self.out.push('|');
                    self.reopen_wraps();
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
                    self.consumed();
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
        self.close_wraps();
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
        self.consumed();
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
            Last::ZeroWidth(start) => {
                // PCRE: {0} never runs the assertion, {0,n} makes it optional, otherwise
                // it runs once.
                let assertion = self.out.split_off(start.min(self.out.len()));
                if max == Some(0) {
                    self.out.push_str(&format!("(?:{assertion}|){{0}}"));
                } else if min == 0 {
                    if suffix == Some(b'+') {
                        self.backtracking()?;
                    }
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
        let rest = self.src.get(self.pos..).unwrap_or_default();
        let digits = |start: usize| {
            rest.get(start..)
                .map(|t| t.iter().take_while(|b| b.is_ascii_digit()).count())
                .unwrap_or(0)
        };
        let value = |start: usize, len: usize| -> Option<u32> {
            std::str::from_utf8(rest.get(start..start + len)?)
                .ok()?
                .parse::<u32>()
                .ok()
                .filter(|&n| n <= 65535)
        };
        let len1 = digits(1);
        if len1 == 0 {
            return Ok(None);
        }
        let mut end = 1 + len1;
        let upper = match rest.get(end) {
            Some(b'}') => None,
            Some(b',') => {
                let len2 = digits(end + 1);
                let start2 = end + 1;
                end = start2 + len2;
                Some((start2, len2))
            }
            _ => return Ok(None),
        };
        if rest.get(end) != Some(&b'}') {
            return Ok(None);
        }
        let Some(min) = value(1, len1) else {
            return invalid("number too big in {} quantifier");
        };
        let max = match upper {
            None => Some(min),
            Some((_, 0)) => None,
            Some((start2, len2)) => match value(start2, len2) {
                Some(m) => Some(m),
                None => return invalid("number too big in {} quantifier"),
            },
        };
        if max.is_some_and(|m| m < min) {
            return invalid("numbers out of order in {} quantifier");
        }
        let text = String::from_utf8_lossy(rest.get(..=end).unwrap_or_default()).into_owned();
        self.pos += end + 1;
        Ok(Some((text, min, max)))
    }

    /// Whether the `{` at the current position starts a valid quantifier.
    fn brace_is_quantifier(&mut self) -> bool {
        let saved = self.pos;
        let ok = matches!(self.brace_quantifier(), Ok(Some(_)));
        self.pos = saved;
        ok
    }

    fn push_group(&mut self, look_around: bool) {
        self.push_group_kind(look_around, false);
    }

    fn push_group_kind(&mut self, look_around: bool, look_behind: bool) {
        self.stack.push(Group {
            flags: self.flags,
            start: self.out.len(),
            look_around,
            look_behind,
            consumes: false,
            outer_wraps: self.level_wraps,
        });
        self.level_wraps = 0;
    }

    /// Closes the option wraps of the current level (before `|` or `)`).
    fn close_wraps(&mut self) {
        for _ in 0..self.level_wraps {
            self.out.push(')');
        }
    }

    /// Reopens the option wraps of the current level (after `|`).
    fn reopen_wraps(&mut self) {
        let from = self.wraps.len().saturating_sub(self.level_wraps);
        let specs: Vec<String> = self.wraps.get(from..).unwrap_or_default().to_vec();
        for spec in specs {
            self.out.push_str("(?");
            self.out.push_str(&spec);
            self.out.push(':');
        }
    }

    /// Records that an item that consumes input was emitted.
    fn consumed(&mut self) {
        self.last = Last::Atom;
        if let Some(group) = self.stack.last_mut() {
            group.consumes = true;
        }
    }

    fn group_open(&mut self) -> TResult<()> {
        self.pos += 1; // '('
        let last = self.last;
        if self.peek() == Some(b'*') {
            return invalid("PCRE verbs such as (*...) are not supported");
        }
        self.last = Last::Nothing;
        if self.peek() != Some(b'?') {
            self.push_group(false);
            if self.flags.no_auto_capture {
                self.out.push_str("(?:");
            } else {
                self.groups += 1;
                self.group_names.push(None);
                if self.target == Target::Backtrack {
                    // fancy-regex refuses numbered back-references once a group has a
                    // name, so every group gets one (numbering is unchanged).
                    self.out
                        .push_str(&format!("(?P<{}>", auto_name(self.groups)));
                } else {
                    self.out.push('(');
                }
            }
            return Ok(());
        }
        self.pos += 1; // '?'
        match self.peek() {
            Some(b':') => {
                self.pos += 1;
                self.push_group(false);
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
                self.push_group(false);
                self.out.push_str("(?>");
            }
            Some(b'=') | Some(b'!') => {
                self.backtracking()?;
                let c = self.peek().unwrap_or(b'=');
                self.pos += 1;
                self.push_group(true);
                self.out.push_str("(?");
                self.out.push(char::from(c));
            }
            Some(b'<') if matches!(self.peek_at(1), Some(b'=') | Some(b'!')) => {
                self.backtracking()?;
                self.uses_left_context = true;
                let c = self.peek_at(1).unwrap_or(b'=');
                self.pos += 2;
                self.push_group_kind(true, true);
                self.out.push_str("(?<");
                self.out.push(char::from(c));
            }
            Some(b'<') => {
                self.pos += 1;
                let name = self.group_name(b'>')?;
                self.named_group(&name)?;
            }
            Some(b'\'') => {
                self.pos += 1;
                let name = self.group_name(b'\'')?;
                self.named_group(&name)?;
            }
            Some(b'P') => match self.peek_at(1) {
                Some(b'<') => {
                    self.pos += 2;
                    let name = self.group_name(b'>')?;
                    self.named_group(&name)?;
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

    fn named_group(&mut self, name: &str) -> TResult<()> {
        if self.names.iter().any(|n| n == name) {
            return invalid("two named subpatterns have the same name");
        }
        self.groups += 1;
        self.names.push(name.to_owned());
        self.group_names.push(Some(name.to_owned()));
        self.push_group(false);
        self.out.push_str("(?P<");
        self.out.push_str(name);
        self.out.push('>');
        Ok(())
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
                    let on: String = rust
                        .iter()
                        .filter(|r| r.1)
                        .map(|r| char::from(r.0))
                        .collect();
                    let off: String = rust
                        .iter()
                        .filter(|r| !r.1)
                        .map(|r| char::from(r.0))
                        .collect();
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
                            if self.target == Target::Backtrack {
                                // Scoped explicitly up to the end of this group.
                                self.out.push(':');
                                self.wraps.push(spec);
                                self.level_wraps += 1;
                            } else {
                                self.out.push(')');
                            }
                        }
                    } else {
                        self.push_group(false);
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
            b'd' => Escape::Set {
                body: DIGIT,
                negated: false,
            },
            b'D' => Escape::Set {
                body: DIGIT,
                negated: true,
            },
            b's' => Escape::Set {
                body: SPACE,
                negated: false,
            },
            b'S' => Escape::Set {
                body: SPACE,
                negated: true,
            },
            b'w' => Escape::Set {
                body: WORD,
                negated: false,
            },
            b'W' => Escape::Set {
                body: WORD,
                negated: true,
            },
            b'h' => Escape::Set {
                body: HSPACE,
                negated: false,
            },
            b'H' => Escape::Set {
                body: HSPACE,
                negated: true,
            },
            b'v' => Escape::Set {
                body: VSPACE,
                negated: false,
            },
            b'V' => Escape::Set {
                body: VSPACE,
                negated: true,
            },
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
                        String::from_utf8_lossy(
                            self.src.get(start..start + len).unwrap_or_default(),
                        )
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
                if self.peek() == Some(b'{') && !self.brace_is_quantifier() {
                    return invalid("\\N{U+dddd} is supported only in UTF mode");
                }
                Escape::Set {
                    body: NEWLINE,
                    negated: true,
                }
            }
            b'R' => {
                if self.stack.iter().any(|g| g.look_behind) {
                    return invalid("lookbehind assertion is not fixed length");
                }
                Escape::Atom("(?:\\r\\n|[\\n\\x0B\\x0C\\r\\x85])".to_owned())
            }
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
            (Target::Backtrack, false) => {
                "(?:(?<=[0-9A-Za-z_])(?![0-9A-Za-z_])|(?<![0-9A-Za-z_])(?=[0-9A-Za-z_]))".to_owned()
            }
            (Target::Backtrack, true) => {
                "(?:(?<=[0-9A-Za-z_])(?=[0-9A-Za-z_])|(?<![0-9A-Za-z_])(?![0-9A-Za-z_]))".to_owned()
            }
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
            let number: usize =
                std::str::from_utf8(self.src.get(start..start + len).unwrap_or_default())
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
            Some(b'<') | Some(b'\'') => {
                return invalid("subroutine calls \\g<...> are not supported")
            }
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
            let n: usize = rel
                .parse()
                .map_err(|_| TranslateError::Invalid("invalid \\g reference".into()))?;
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
                self.consumed();
            }
            Escape::Property(p) => {
                self.out.push_str(&p);
                self.consumed();
            }
            Escape::Atom(a) => {
                self.out.push_str(&a);
                self.consumed();
            }
            Escape::Assertion(a) => {
                self.out.push_str(&a);
                self.last = Last::Assertion;
            }
            Escape::BackRefNumber(n) => {
                self.backtracking()?;
                self.max_backref = self.max_backref.max(n);
                let name = match n.checked_sub(1).and_then(|i| self.group_names.get(i)) {
                    Some(Some(name)) => name.clone(),
                    Some(None) => auto_name(n),
                    None => return invalid("forward back-references are not supported"),
                };
                self.out.push_str(&format!("(?:\\k<{name}>)"));
                self.consumed();
            }
            Escape::BackRefName(name) => {
                self.backtracking()?;
                self.out.push_str(&format!("(?:\\k<{name}>)"));
                self.backref_names.push(name);
                self.consumed();
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
        if rest
            .get(..end)
            .is_some_and(|s| s.contains(&b']') || s.contains(&b'['))
        {
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
        Ok(Some(format!(
            "[:{}{name}:]",
            if negated { "^" } else { "" }
        )))
    }
}

/// Name given to unnamed capture group `n` for the backtracking engine.
fn auto_name(n: usize) -> String {
    format!("__rampart_group{n}")
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
    if b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'_' | b','
                | b':'
                | b';'
                | b'!'
                | b'"'
                | b'\''
                | b'@'
                | b'%'
                | b'='
                | b'/'
                | b'<'
                | b'>'
                | b'`'
        )
    {
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
