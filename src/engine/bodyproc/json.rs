//! JSON request bodies, reproducing v3's `request_body_processor/json.cc` on top of YAJL 2
//! (the 3.0.x JSON backend), with an iterative byte-level parser: no recursion, and number
//! text kept exactly as written.
//!
//! Argument names (v3 `JSON::addArgument` / `getCurrentKey`):
//! - a top-level scalar is `json`;
//! - object members are `<path>.<key>`, starting from `json` (`{"a":{"b":1}}` gives
//!   `json.a.b`);
//! - array elements are `<path>.array_<index>` (`{"a":[1,2]}` gives `json.a.array_0`,
//!   `json.a.array_1`; a top-level array gives `json.array_0`; `[{"x":1}]` gives
//!   `json.array_0.x`);
//! - an empty key is `empty-key` (`{"":1}` gives `json.empty-key`);
//! - values: strings decoded (YAJL's `\u` handling included), numbers as written, `true`,
//!   `false`, and `null` as the empty string; empty objects / arrays give nothing.
//!
//! Limits: more than `limits.max_depth` nested containers (SecRequestBodyJsonDepthLimit,
//! default 10000) stops parsing with an error, and so does adding an argument once
//! `limits.max_args` were added (v3's `addArgument` refuses it, which cancels YAJL).
//! Arguments added before an error stay in `out`, as in v3.
//!
//! Note for the engine: v3 adds JSON arguments with origin "JSON", so they go to ARGS and
//! ARGS_NAMES but not to ARGS_POST / ARGS_POST_NAMES.

use super::{Limits, Pair};

/// Prefix of REQBODY_ERROR_MSG for JSON errors.
const ERROR_PREFIX: &str = "JSON parsing error: ";
const CANCELLED: &str = "client cancelled parse via callback return value";
const DEPTH_SUFFIX: &str = ". Parsing depth limit exceeded";

/// Parses a complete JSON body, appending the arguments to `out`.
///
/// On error, returns the REQBODY_ERROR_MSG text v3 sets
/// (`JSON parsing error: <YAJL message>`); REQBODY_ERROR and REQBODY_PROCESSOR_ERROR are
/// then `1`. An empty body is not an error (v3 ignores the parser error when the body is
/// empty); a body of only whitespace is ("premature EOF").
pub fn parse(body: &[u8], limits: &Limits, out: &mut Vec<Pair>) -> Result<(), String> {
    if body.is_empty() {
        return Ok(());
    }
    let mut p = JsonParser {
        lex: Lexer { text: body, pos: 0 },
        limits,
        out,
        added: 0,
        containers: Vec::new(),
        current_key: Vec::new(),
        states: vec![State::Start],
        depth_exceeded: false,
    };
    p.run().map_err(|e| {
        let mut msg = String::with_capacity(ERROR_PREFIX.len() + e.len() + DEPTH_SUFFIX.len());
        msg.push_str(ERROR_PREFIX);
        msg.push_str(&e);
        if p.depth_exceeded {
            msg.push_str(DEPTH_SUFFIX);
        }
        msg
    })
}

/// A token of the YAJL lexer.
enum Tok {
    Eof,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Colon,
    True,
    False,
    Null,
    /// Number text range.
    Number(usize, usize),
    /// String content range (between the quotes) and whether it has escapes.
    Str(usize, usize, bool),
}

/// YAJL lexical errors (`yajl_lex_error_to_string`).
#[derive(Clone, Copy)]
enum LexError {
    InvalidUtf8,
    InvalidEscapedChar,
    InvalidJsonChar,
    InvalidHexChar,
    InvalidChar,
    InvalidString,
    MissingIntegerAfterDecimal,
    MissingIntegerAfterExponent,
    MissingIntegerAfterMinus,
    UnallowedComment,
}

impl LexError {
    fn text(self) -> &'static str {
        match self {
            LexError::InvalidUtf8 => "invalid bytes in UTF8 string.",
            LexError::InvalidEscapedChar => {
                "inside a string, '\\' occurs before a character which it may not."
            }
            LexError::InvalidJsonChar => "invalid character inside string.",
            LexError::InvalidHexChar => {
                "invalid (non-hex) character occurs after '\\u' inside string."
            }
            LexError::InvalidChar => "invalid char in json text.",
            LexError::InvalidString => "invalid string in json text.",
            LexError::MissingIntegerAfterDecimal => {
                "malformed number, a digit is required after the decimal point."
            }
            LexError::MissingIntegerAfterExponent => {
                "malformed number, a digit is required after the exponent."
            }
            LexError::MissingIntegerAfterMinus => {
                "malformed number, a digit is required after the minus sign."
            }
            LexError::UnallowedComment => {
                "probable comment found in input text, comments are not enabled."
            }
        }
    }
}

/// YAJL's lexer over the body followed by one space: v3 feeds the whole body, then
/// `yajl_complete_parse` feeds `" "`, which is what ends a trailing number or exposes a
/// truncated literal.
struct Lexer<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    /// Length of the virtual input (body + one space).
    fn len(&self) -> usize {
        self.text.len() + 1
    }

    #[inline]
    fn byte(&self, i: usize) -> u8 {
        self.text.get(i).copied().unwrap_or(b' ')
    }

    /// Next byte, or None at the end of the virtual input.
    #[inline]
    fn next(&mut self) -> Option<u8> {
        if self.pos >= self.len() {
            return None;
        }
        let c = self.byte(self.pos);
        self.pos += 1;
        Some(c)
    }

    fn lex(&mut self) -> Result<Tok, LexError> {
        loop {
            let Some(c) = self.next() else {
                return Ok(Tok::Eof);
            };
            return Ok(match c {
                b'{' => Tok::LBrace,
                b'}' => Tok::RBrace,
                b'[' => Tok::LBracket,
                b']' => Tok::RBracket,
                b',' => Tok::Comma,
                b':' => Tok::Colon,
                b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' => continue,
                b't' => self.literal(b"rue", Tok::True)?,
                b'f' => self.literal(b"alse", Tok::False)?,
                b'n' => self.literal(b"ull", Tok::Null)?,
                b'"' => self.string()?,
                b'-' | b'0'..=b'9' => {
                    self.pos -= 1;
                    self.number()?
                }
                b'/' => {
                    self.pos -= 1;
                    return Err(LexError::UnallowedComment);
                }
                _ => {
                    self.pos -= 1;
                    return Err(LexError::InvalidChar);
                }
            });
        }
    }

    fn literal(&mut self, rest: &[u8], tok: Tok) -> Result<Tok, LexError> {
        for &want in rest {
            match self.next() {
                None => return Ok(Tok::Eof),
                Some(c) if c == want => {}
                Some(_) => {
                    self.pos -= 1;
                    return Err(LexError::InvalidString);
                }
            }
        }
        Ok(tok)
    }

    fn string(&mut self) -> Result<Tok, LexError> {
        let start = self.pos;
        let mut has_escapes = false;
        loop {
            let Some(c) = self.next() else {
                return Ok(Tok::Eof);
            };
            match c {
                b'"' => return Ok(Tok::Str(start, self.pos - 1, has_escapes)),
                b'\\' => {
                    has_escapes = true;
                    let Some(e) = self.next() else {
                        return Ok(Tok::Eof);
                    };
                    if e == b'u' {
                        for _ in 0..4 {
                            let Some(h) = self.next() else {
                                return Ok(Tok::Eof);
                            };
                            if !h.is_ascii_hexdigit() {
                                self.pos -= 1;
                                return Err(LexError::InvalidHexChar);
                            }
                        }
                    } else if !matches!(e, b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') {
                        self.pos -= 1;
                        return Err(LexError::InvalidEscapedChar);
                    }
                }
                0x00..=0x1f => {
                    self.pos -= 1;
                    return Err(LexError::InvalidJsonChar);
                }
                0x80..=0xff => {
                    // YAJL checks the UTF-8 structure only (lead byte + continuations).
                    let continuations = match c {
                        0xc0..=0xdf => 1,
                        0xe0..=0xef => 2,
                        0xf0..=0xf7 => 3,
                        _ => return Err(LexError::InvalidUtf8),
                    };
                    for _ in 0..continuations {
                        let Some(cc) = self.next() else {
                            return Ok(Tok::Eof);
                        };
                        if cc >> 6 != 0b10 {
                            return Err(LexError::InvalidUtf8);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn number(&mut self) -> Result<Tok, LexError> {
        let start = self.pos;
        let digit = |c: u8| c.is_ascii_digit();
        let mut c = match self.next() {
            Some(c) => c,
            None => return Ok(Tok::Eof),
        };
        macro_rules! advance {
            () => {
                match self.next() {
                    Some(n) => n,
                    None => return Ok(Tok::Eof),
                }
            };
        }
        if c == b'-' {
            c = advance!();
        }
        if c == b'0' {
            c = advance!();
        } else if (b'1'..=b'9').contains(&c) {
            loop {
                c = advance!();
                if !digit(c) {
                    break;
                }
            }
        } else {
            self.pos -= 1;
            return Err(LexError::MissingIntegerAfterMinus);
        }
        if c == b'.' {
            let mut read = 0;
            c = advance!();
            while digit(c) {
                read += 1;
                c = advance!();
            }
            if read == 0 {
                self.pos -= 1;
                return Err(LexError::MissingIntegerAfterDecimal);
            }
        }
        if c == b'e' || c == b'E' {
            c = advance!();
            if c == b'+' || c == b'-' {
                c = advance!();
            }
            if digit(c) {
                loop {
                    c = advance!();
                    if !digit(c) {
                        break;
                    }
                }
            } else {
                self.pos -= 1;
                return Err(LexError::MissingIntegerAfterExponent);
            }
        }
        // One byte too far.
        self.pos -= 1;
        Ok(Tok::Number(start, self.pos))
    }
}

/// YAJL parser states (`yajl_state`), one per nesting level.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    ParseComplete,
    MapStart,
    MapNeedKey,
    MapSep,
    MapNeedVal,
    MapGotVal,
    ArrayStart,
    ArrayNeedVal,
    ArrayGotVal,
}

/// v3's `JSONContainer`: a map or an array with its element counter.
struct Container {
    name: Vec<u8>,
    /// `Some(counter)` for arrays.
    array: Option<u64>,
}

struct JsonParser<'a, 'o> {
    lex: Lexer<'a>,
    limits: &'a Limits,
    out: &'o mut Vec<Pair>,
    added: usize,
    containers: Vec<Container>,
    current_key: Vec<u8>,
    states: Vec<State>,
    depth_exceeded: bool,
}

/// Renders a YAJL error like `yajl_get_error(handle, 0, ...)`.
fn lexical(e: LexError) -> String {
    format!("lexical error: {}\n", e.text())
}

fn parse_error(text: &str) -> String {
    format!("parse error: {text}\n")
}

impl JsonParser<'_, '_> {
    fn state(&self) -> State {
        self.states.last().copied().unwrap_or(State::ParseComplete)
    }

    fn set_state(&mut self, s: State) {
        if let Some(top) = self.states.last_mut() {
            *top = s;
        }
    }

    fn run(&mut self) -> Result<(), String> {
        loop {
            let state = self.state();
            let tok = self.lex.lex();
            match state {
                State::ParseComplete => {
                    return match tok {
                        Ok(Tok::Eof) => Ok(()),
                        _ => Err(parse_error("trailing garbage")),
                    };
                }
                State::Start | State::MapNeedVal | State::ArrayNeedVal | State::ArrayStart => {
                    let tok = tok.map_err(lexical)?;
                    let push = match tok {
                        Tok::Eof => return Err(parse_error("premature EOF")),
                        Tok::Str(a, b, esc) => {
                            let v = self.string_value(a, b, esc);
                            self.add_argument(v)?;
                            None
                        }
                        Tok::True => {
                            self.add_argument(b"true".to_vec())?;
                            None
                        }
                        Tok::False => {
                            self.add_argument(b"false".to_vec())?;
                            None
                        }
                        Tok::Null => {
                            self.add_argument(Vec::new())?;
                            None
                        }
                        Tok::Number(a, b) => {
                            let v = self.lex.text.get(a..b).unwrap_or(&[]).to_vec();
                            self.add_argument(v)?;
                            None
                        }
                        Tok::LBrace => {
                            self.start_container(false)?;
                            Some(State::MapStart)
                        }
                        Tok::LBracket => {
                            self.start_container(true)?;
                            Some(State::ArrayStart)
                        }
                        Tok::RBracket if state == State::ArrayStart => {
                            self.end_container();
                            continue;
                        }
                        Tok::RBracket | Tok::RBrace | Tok::Colon | Tok::Comma => {
                            return Err(parse_error("unallowed token at this point in JSON text"));
                        }
                    };
                    // Got a value: the level moves on, then the new container is pushed.
                    self.set_state(match state {
                        State::Start => State::ParseComplete,
                        State::MapNeedVal => State::MapGotVal,
                        _ => State::ArrayGotVal,
                    });
                    if let Some(s) = push {
                        self.states.push(s);
                    }
                }
                State::MapStart | State::MapNeedKey => match tok.map_err(lexical)? {
                    Tok::Eof => return Err(parse_error("premature EOF")),
                    Tok::Str(a, b, esc) => {
                        self.current_key = self.string_value(a, b, esc);
                        self.set_state(State::MapSep);
                    }
                    Tok::RBrace if state == State::MapStart => self.end_container(),
                    _ => return Err(parse_error("invalid object key (must be a string)")),
                },
                State::MapSep => match tok.map_err(lexical)? {
                    Tok::Eof => return Err(parse_error("premature EOF")),
                    Tok::Colon => self.set_state(State::MapNeedVal),
                    _ => {
                        return Err(parse_error(
                            "object key and value must be separated by a colon (':')",
                        ))
                    }
                },
                State::MapGotVal => match tok.map_err(lexical)? {
                    Tok::Eof => return Err(parse_error("premature EOF")),
                    Tok::RBrace => self.end_container(),
                    Tok::Comma => self.set_state(State::MapNeedKey),
                    _ => {
                        return Err(parse_error(
                            "after key and value, inside map, I expect ',' or '}'",
                        ))
                    }
                },
                State::ArrayGotVal => match tok.map_err(lexical)? {
                    Tok::Eof => return Err(parse_error("premature EOF")),
                    Tok::RBracket => self.end_container(),
                    Tok::Comma => self.set_state(State::ArrayNeedVal),
                    _ => return Err(parse_error("after array element, I expect ',' or ']'")),
                },
            }
        }
    }

    fn string_value(&self, a: usize, b: usize, has_escapes: bool) -> Vec<u8> {
        let raw = self.lex.text.get(a..b).unwrap_or(&[]);
        if has_escapes {
            decode_string(raw)
        } else {
            raw.to_vec()
        }
    }

    /// v3 `getCurrentKey`.
    fn take_current_key(&mut self) -> Vec<u8> {
        let Some(last) = self.containers.last() else {
            return b"json".to_vec();
        };
        if self.current_key.is_empty() {
            return if last.array.is_some() {
                Vec::new()
            } else {
                b"empty-key".to_vec()
            };
        }
        std::mem::take(&mut self.current_key)
    }

    /// v3 `yajl_start_map` / `yajl_start_array`.
    fn start_container(&mut self, array: bool) -> Result<(), String> {
        let name = self.take_current_key();
        self.containers.push(Container {
            name,
            array: array.then_some(0),
        });
        if self.containers.len() > self.limits.max_depth {
            self.depth_exceeded = true;
            return Err(parse_error(CANCELLED));
        }
        Ok(())
    }

    /// v3 `yajl_end_map` / `yajl_end_array` plus YAJL's state pop.
    fn end_container(&mut self) {
        self.containers.pop();
        if let Some(Container {
            array: Some(counter),
            ..
        }) = self.containers.last_mut()
        {
            *counter += 1;
        }
        self.states.pop();
    }

    /// v3 `JSON::addArgument`.
    fn add_argument(&mut self, value: Vec<u8>) -> Result<(), String> {
        let mut name = Vec::new();
        for c in &self.containers {
            name.extend_from_slice(&c.name);
            match c.array {
                Some(counter) => {
                    name.extend_from_slice(b".array_");
                    push_decimal(&mut name, counter);
                }
                None => name.push(b'.'),
            }
        }
        match self.containers.last_mut() {
            Some(Container {
                array: Some(counter),
                ..
            }) => *counter += 1,
            _ => {
                let key = self.take_current_key();
                name.extend_from_slice(&key);
            }
        }
        if self.added >= self.limits.max_args {
            return Err(parse_error(CANCELLED));
        }
        self.out.push((name, value));
        self.added += 1;
        Ok(())
    }
}

/// YAJL `yajl_string_decode`, quirks included: a high surrogate followed by any `\u`
/// escape is combined with it; a high surrogate not followed by `\u` becomes `?` and the
/// byte after the escape is dropped; a lone low surrogate is encoded as a 3-byte sequence;
/// `\u0000` gives a NUL byte.
fn decode_string(raw: &[u8]) -> Vec<u8> {
    let len = raw.len();
    // In YAJL the closing quote follows the string.
    let at = |i: usize| raw.get(i).copied().unwrap_or(b'"');
    let hex4 = |i: usize| -> u32 {
        (0..4).fold(0u32, |acc, k| {
            let d = (at(i + k) as char).to_digit(16).unwrap_or(0);
            (acc << 4) | d
        })
    };
    let mut out = Vec::with_capacity(len);
    let mut beg = 0usize;
    let mut end = 0usize;
    while end < len {
        if raw[end] != b'\\' {
            end += 1;
            continue;
        }
        out.extend_from_slice(&raw[beg..end]);
        end += 1;
        match at(end) {
            b'r' => out.push(b'\r'),
            b'n' => out.push(b'\n'),
            b'\\' => out.push(b'\\'),
            b'/' => out.push(b'/'),
            b'"' => out.push(b'"'),
            b'f' => out.push(0x0c),
            b'b' => out.push(0x08),
            b't' => out.push(b'\t'),
            b'u' => {
                end += 1;
                let mut cp = hex4(end);
                end += 3;
                if cp & 0xfc00 == 0xd800 {
                    end += 1;
                    if at(end) == b'\\' && at(end + 1) == b'u' {
                        let surrogate = hex4(end + 2);
                        cp = ((cp & 0x3f) << 10)
                            | ((((cp >> 6) & 0xf) + 1) << 16)
                            | (surrogate & 0x3ff);
                        end += 5;
                    } else {
                        out.push(b'?');
                        end += 1;
                        beg = end;
                        continue;
                    }
                }
                if cp == 0 {
                    out.push(0);
                } else {
                    utf32_to_utf8(cp, &mut out);
                }
            }
            // The lexer only lets the escapes above through.
            _ => out.push(b'?'),
        }
        end += 1;
        beg = end;
    }
    if beg < len {
        out.extend_from_slice(&raw[beg..len.min(end)]);
    }
    out
}

/// Appends the decimal form of `n` without allocating.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// YAJL `Utf32toUtf8`.
fn utf32_to_utf8(cp: u32, out: &mut Vec<u8>) {
    if cp < 0x80 {
        out.push(cp as u8);
    } else if cp < 0x800 {
        out.push(((cp >> 6) | 0xc0) as u8);
        out.push(((cp & 0x3f) | 0x80) as u8);
    } else if cp < 0x10000 {
        out.push(((cp >> 12) | 0xe0) as u8);
        out.push((((cp >> 6) & 0x3f) | 0x80) as u8);
        out.push(((cp & 0x3f) | 0x80) as u8);
    } else if cp < 0x200000 {
        out.push(((cp >> 18) | 0xf0) as u8);
        out.push((((cp >> 12) & 0x3f) | 0x80) as u8);
        out.push((((cp >> 6) & 0x3f) | 0x80) as u8);
        out.push(((cp & 0x3f) | 0x80) as u8);
    } else {
        out.push(b'?');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(body: &str) -> (Vec<(String, String)>, Result<(), String>) {
        run_with(body.as_bytes(), &Limits::default())
    }

    fn run_with(body: &[u8], limits: &Limits) -> (Vec<(String, String)>, Result<(), String>) {
        let mut out = Vec::new();
        let r = parse(body, limits, &mut out);
        let pairs = out
            .into_iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(&n).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect();
        (pairs, r)
    }

    fn p(n: &str, v: &str) -> (String, String) {
        (n.to_string(), v.to_string())
    }

    #[test]
    fn object_members() {
        let (args, r) = run(r#"{"a":"x","b":{"c":1,"d":{"e":true}},"f":null,"g":false}"#);
        assert_eq!(r, Ok(()));
        assert_eq!(
            args,
            vec![
                p("json.a", "x"),
                p("json.b.c", "1"),
                p("json.b.d.e", "true"),
                p("json.f", ""),
                p("json.g", "false")
            ]
        );
    }

    #[test]
    fn arrays() {
        let (args, r) = run(r#"{"a":[1,2,[3,4],{"b":5},6]}"#);
        assert_eq!(r, Ok(()));
        assert_eq!(
            args,
            vec![
                p("json.a.array_0", "1"),
                p("json.a.array_1", "2"),
                p("json.a.array_2.array_0", "3"),
                p("json.a.array_2.array_1", "4"),
                p("json.a.array_3.b", "5"),
                p("json.a.array_4", "6"),
            ]
        );
    }

    #[test]
    fn top_level_values() {
        assert_eq!(run(r#""hello""#).0, vec![p("json", "hello")]);
        assert_eq!(run("42").0, vec![p("json", "42")]);
        assert_eq!(run("true").0, vec![p("json", "true")]);
        assert_eq!(run("null").0, vec![p("json", "")]);
        assert_eq!(
            run("[1,\"x\"]").0,
            vec![p("json.array_0", "1"), p("json.array_1", "x")]
        );
        assert_eq!(
            run(r#"[{"id":1},{"id":2}]"#).0,
            vec![p("json.array_0.id", "1"), p("json.array_1.id", "2")]
        );
        assert_eq!(run("[[1]]").0, vec![p("json.array_0.array_0", "1")]);
    }

    #[test]
    fn empty_containers_and_keys() {
        assert_eq!(run("{}"), (vec![], Ok(())));
        assert_eq!(run("[]"), (vec![], Ok(())));
        assert_eq!(run(r#"{"a":{},"b":[],"c":1}"#).0, vec![p("json.c", "1")]);
        assert_eq!(run(r#"{"":1}"#).0, vec![p("json.empty-key", "1")]);
        assert_eq!(run(r#"{"":{"x":1}}"#).0, vec![p("json.empty-key.x", "1")]);
    }

    #[test]
    fn numbers_are_kept_as_written() {
        let (args, r) = run("[1.50, -0, 1e5, 2E-3, 12345678901234567890123, -1.0e+10]");
        assert_eq!(r, Ok(()));
        let vals: Vec<_> = args.into_iter().map(|(_, v)| v).collect();
        assert_eq!(
            vals,
            vec![
                "1.50",
                "-0",
                "1e5",
                "2E-3",
                "12345678901234567890123",
                "-1.0e+10"
            ]
        );
    }

    #[test]
    fn string_escapes() {
        let (args, _) = run(r#"{"k\"ey":"a\nb\t\\\/\u0041\u00e9\u20ac\ud83d\ude00"}"#);
        assert_eq!(args, vec![p("json.k\"ey", "a\nb\t\\/Aé€😀")]);
        // \u0000 gives a NUL byte.
        let mut out = Vec::new();
        assert_eq!(
            parse(br#"["a\u0000b"]"#, &Limits::default(), &mut out),
            Ok(())
        );
        assert_eq!(out[0].1, b"a\0b");
    }

    #[test]
    fn yajl_surrogate_quirks() {
        // Lone high surrogate followed by a normal char: "?" and that char is dropped.
        let mut out = Vec::new();
        parse(br#"["\ud800xy"]"#, &Limits::default(), &mut out).unwrap();
        assert_eq!(out[0].1, b"?y");
        // At the end of the string.
        let mut out = Vec::new();
        parse(br#"["a\ud800"]"#, &Limits::default(), &mut out).unwrap();
        assert_eq!(out[0].1, b"a?");
        // Followed by another escape: the backslash is dropped.
        let mut out = Vec::new();
        parse(br#"["\ud800\n"]"#, &Limits::default(), &mut out).unwrap();
        assert_eq!(out[0].1, b"?n");
        // Lone low surrogate: 3-byte encoding.
        let mut out = Vec::new();
        parse(br#"["\udc00"]"#, &Limits::default(), &mut out).unwrap();
        assert_eq!(out[0].1, vec![0xed, 0xb0, 0x80]);
    }

    #[test]
    fn raw_utf8_is_checked_structurally() {
        let mut out = Vec::new();
        assert_eq!(
            parse("[\"é\"]".as_bytes(), &Limits::default(), &mut out),
            Ok(())
        );
        assert_eq!(out[0].1, "é".as_bytes());
        // Overlong forms pass YAJL's structural check.
        let mut out = Vec::new();
        assert_eq!(
            parse(b"[\"\xc0\x80\"]", &Limits::default(), &mut out),
            Ok(())
        );
        let (_, r) = run_with(b"[\"\xff\"]", &Limits::default());
        assert_eq!(
            r,
            Err("JSON parsing error: lexical error: invalid bytes in UTF8 string.\n".to_string())
        );
        let (_, r) = run_with(b"[\"\xc3x\"]", &Limits::default());
        assert!(r.unwrap_err().contains("invalid bytes in UTF8 string"));
    }

    #[test]
    fn syntax_errors() {
        let cases = [
            ("{\"a\":1", "parse error: premature EOF\n"),
            ("[1,2", "parse error: premature EOF\n"),
            ("\"abc", "parse error: premature EOF\n"),
            ("   ", "parse error: premature EOF\n"),
            ("{\"a\" 1}", "parse error: object key and value must be separated by a colon (':')\n"),
            ("{1:2}", "parse error: invalid object key (must be a string)\n"),
            ("{\"a\":1,}", "parse error: invalid object key (must be a string)\n"),
            ("{\"a\":1 \"b\"}", "parse error: after key and value, inside map, I expect ',' or '}'\n"),
            ("[1 2]", "parse error: after array element, I expect ',' or ']'\n"),
            ("[1,]", "parse error: unallowed token at this point in JSON text\n"),
            ("{\"a\":1}}", "parse error: trailing garbage\n"),
            ("1 2", "parse error: trailing garbage\n"),
            ("{\"a\":1} x", "parse error: trailing garbage\n"),
            ("[tru]", "lexical error: invalid string in json text.\n"),
            ("tru", "lexical error: invalid string in json text.\n"),
            ("[x]", "lexical error: invalid char in json text.\n"),
            ("[-]", "lexical error: malformed number, a digit is required after the minus sign.\n"),
            ("[1.]", "lexical error: malformed number, a digit is required after the decimal point.\n"),
            ("[1e]", "lexical error: malformed number, a digit is required after the exponent.\n"),
            ("[\"\\x\"]", "lexical error: inside a string, '\\' occurs before a character which it may not.\n"),
            ("[\"\\u12g4\"]", "lexical error: invalid (non-hex) character occurs after '\\u' inside string.\n"),
            ("[\"a\tb\"]", "lexical error: invalid character inside string.\n"),
            ("// c\n1", "lexical error: probable comment found in input text, comments are not enabled.\n"),
            ("'a'", "lexical error: invalid char in json text.\n"),
        ];
        for (body, msg) in cases {
            let (_, r) = run(body);
            assert_eq!(r, Err(format!("JSON parsing error: {msg}")), "{body:?}");
        }
    }

    #[test]
    fn arguments_before_an_error_are_kept() {
        let (args, r) = run(r#"{"a":1,"b":2,"c" 3}"#);
        assert!(r.is_err());
        assert_eq!(args, vec![p("json.a", "1"), p("json.b", "2")]);
    }

    #[test]
    fn empty_body_is_not_an_error() {
        assert_eq!(run(""), (vec![], Ok(())));
    }

    #[test]
    fn whitespace_variants() {
        // YAJL also skips \v and \f.
        assert_eq!(run("\x0b\x0c {\"a\" :\r\n 1 }\t").0, vec![p("json.a", "1")]);
    }

    #[test]
    fn depth_limit() {
        let limits = Limits {
            max_depth: 3,
            ..Limits::default()
        };
        let (args, r) = run_with(br#"{"a":{"b":{"c":1}}}"#, &limits);
        assert_eq!(r, Ok(()));
        assert_eq!(args, vec![p("json.a.b.c", "1")]);
        let (_, r) = run_with(br#"{"a":{"b":{"c":{"d":1}}}}"#, &limits);
        assert_eq!(
            r,
            Err("JSON parsing error: parse error: client cancelled parse via callback return value\n. Parsing depth limit exceeded"
                .to_string())
        );
        let (_, r) = run_with(b"[[[[1]]]]", &limits);
        assert!(r.unwrap_err().ends_with(DEPTH_SUFFIX));
    }

    #[test]
    fn very_deep_input_does_not_recurse() {
        let body = "[".repeat(1_000_000);
        let limits = Limits {
            max_depth: usize::MAX,
            ..Limits::default()
        };
        let (_, r) = run_with(body.as_bytes(), &limits);
        assert_eq!(
            r,
            Err("JSON parsing error: parse error: premature EOF\n".to_string())
        );
        let body = format!("{}1{}", "[".repeat(200_000), "]".repeat(200_000));
        let (args, r) = run_with(body.as_bytes(), &limits);
        assert_eq!(r, Ok(()));
        assert_eq!(args.len(), 1);
        let (_, r) = run_with(body.as_bytes(), &Limits::default());
        assert!(r.unwrap_err().ends_with(DEPTH_SUFFIX));
    }

    #[test]
    fn argument_limit_cancels_parsing() {
        let limits = Limits {
            max_args: 2,
            ..Limits::default()
        };
        let (args, r) = run_with(b"[1,2,3,4]", &limits);
        assert_eq!(args, vec![p("json.array_0", "1"), p("json.array_1", "2")]);
        assert_eq!(
            r,
            Err("JSON parsing error: parse error: client cancelled parse via callback return value\n".to_string())
        );
        let (args, r) = run_with(b"[1,2]", &limits);
        assert_eq!(args.len(), 2);
        assert_eq!(r, Ok(()));
    }

    #[test]
    fn huge_argument_count() {
        let body = format!("[{}1]", "1,".repeat(100_000));
        let limits = Limits {
            max_args: usize::MAX,
            ..Limits::default()
        };
        let (args, r) = run_with(body.as_bytes(), &limits);
        assert_eq!(r, Ok(()));
        assert_eq!(args.len(), 100_001);
        assert_eq!(args[100_000].0, "json.array_100000");
    }
}
