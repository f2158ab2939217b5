//! String comparison operators: `@streq`, `@contains`, `@containsWord`, `@beginsWith`,
//! `@endsWith`, `@within`, `@strmatch` (libmodsecurity v3 `str_eq.cc`, `contains.cc`,
//! `contains_word.cc`, `begins_with.cc`, `ends_with.cc`, `within.cc`, `str_match.cc`).
//!
//! All are case-sensitive byte comparisons with macro-expanded parameters, and none
//! of them sets capture slots (as in v3).

use memchr::memmem;

use super::{Captures, CompileCtx, MacroParam, Operator, OperatorEnv};

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Input equals the parameter.
    StrEq,
    /// Parameter occurs in the input (empty parameter: always).
    Contains,
    /// Parameter occurs in the input on ASCII-letter boundaries.
    ContainsWord,
    BeginsWith,
    EndsWith,
    /// Input occurs in the parameter; an empty input always matches.
    Within,
    /// Same as `Contains` (v3 uses a Boyer-Moore-Horspool search).
    StrMatch,
}

#[derive(Debug)]
struct StringOp {
    kind: Kind,
    param: MacroParam,
}

fn build(kind: Kind, param: &str) -> Result<Box<dyn Operator>, String> {
    Ok(Box::new(StringOp {
        kind,
        param: MacroParam::new(param),
    }))
}

pub(super) fn compile_streq(p: &str, _: &CompileCtx<'_>) -> Result<Box<dyn Operator>, String> {
    build(Kind::StrEq, p)
}
pub(super) fn compile_contains(p: &str, _: &CompileCtx<'_>) -> Result<Box<dyn Operator>, String> {
    build(Kind::Contains, p)
}
pub(super) fn compile_contains_word(
    p: &str,
    _: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    build(Kind::ContainsWord, p)
}
pub(super) fn compile_begins_with(
    p: &str,
    _: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    build(Kind::BeginsWith, p)
}
pub(super) fn compile_ends_with(p: &str, _: &CompileCtx<'_>) -> Result<Box<dyn Operator>, String> {
    build(Kind::EndsWith, p)
}
pub(super) fn compile_within(p: &str, _: &CompileCtx<'_>) -> Result<Box<dyn Operator>, String> {
    build(Kind::Within, p)
}
pub(super) fn compile_strmatch(p: &str, _: &CompileCtx<'_>) -> Result<Box<dyn Operator>, String> {
    build(Kind::StrMatch, p)
}

impl Operator for StringOp {
    fn evaluate(
        &self,
        input: &[u8],
        env: &mut dyn OperatorEnv,
        _captures: Option<&mut Captures>,
    ) -> bool {
        let param = self.param.resolve(env);
        let param: &[u8] = &param;
        match self.kind {
            Kind::StrEq => input == param,
            Kind::Contains | Kind::StrMatch => memmem::find(input, param).is_some(),
            Kind::ContainsWord => contains_word(input, param),
            Kind::BeginsWith => input.starts_with(param),
            Kind::EndsWith => input.ends_with(param),
            Kind::Within => input.is_empty() || memmem::find(param, input).is_some(),
        }
    }
}

/// v3 `ContainsWord::evaluate`: the phrase must be delimited by non-letters (only ASCII
/// letters count as word characters), and by the start or end of the input.
fn contains_word(input: &[u8], word: &[u8]) -> bool {
    if word.is_empty() {
        return true;
    }
    if input.is_empty() {
        return false;
    }
    if input == word {
        return true;
    }
    // v3's acceptableChar: true when the byte exists and is not an ASCII letter.
    let boundary = |pos: Option<usize>| -> bool {
        pos.and_then(|p| input.get(p))
            .is_some_and(|b| !b.is_ascii_alphabetic())
    };
    let finder = memmem::Finder::new(word);
    let mut from = 0;
    // Overlapping search, as v3 restarts at `pos + 1`.
    while let Some(found) = input.get(from..).and_then(|hay| finder.find(hay)) {
        let pos = from + found;
        from = pos + 1;
        let after = pos + word.len();
        let before = pos.checked_sub(1);
        if pos == 0 && boundary(Some(after)) {
            return true;
        }
        if after == input.len() && boundary(before) {
            return true;
        }
        if boundary(before) && boundary(Some(after)) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{eval, op, MapEnv};

    #[test]
    fn basic_comparisons() {
        assert!(eval("streq", "abc", b"abc"));
        assert!(!eval("streq", "abc", b"ABC"));
        assert!(eval("contains", "bc", b"abcd"));
        assert!(eval("strmatch", "bc", b"abcd"));
        assert!(!eval("strmatch", "bd", b"abcd"));
        assert!(eval("beginsWith", "ab", b"abcd"));
        assert!(!eval("beginsWith", "abcde", b"abcd"));
        assert!(eval("endsWith", "cd", b"abcd"));
        assert!(eval("within", "abcdef", b"bcd"));
        assert!(!eval("within", "abcdef", b"bce"));
    }

    #[test]
    fn within_edge_cases() {
        assert!(eval("within", "abc", b""));
        // NUL bytes are compared like any other byte.
        assert!(!eval("within", "abc", b"ab\0"));
        assert!(!eval("within", "abc", b"\0"));
        assert!(eval("within", "GET POST", b"GET"));
        assert!(eval("within", "GET POST", b"T P"));
    }

    #[test]
    fn contains_word_boundaries() {
        assert!(eval("containsWord", "abc", b"abc def"));
        assert!(eval("containsWord", "def", b"abc def ghi"));
        assert!(!eval("containsWord", "def", b"abcdefghi"));
        assert!(eval("containsWord", "def", b"1def_"));
        assert!(eval("containsWord", "def", b"\xe9def\xe9"));
        assert!(eval(
            "containsWord",
            "hiding",
            b"hidingX<-not on word boundary, but is later on->hiding"
        ));
        assert!(!eval("containsWord", "abc", b""));
        assert!(eval("containsWord", "", b""));
    }

    #[test]
    fn parameters_are_macro_expanded() {
        let o = op("streq", "%{tx.a}");
        let mut env = MapEnv::default();
        env.vars.insert("tx.a".into(), "v".into());
        assert!(o.evaluate(b"v", &mut env, None));
        assert!(!o.evaluate(b"%{tx.a}", &mut env, None));
        let o = op("beginsWith", "%{tx.none}");
        assert!(o.evaluate(b"anything", &mut env, None));
    }
}
