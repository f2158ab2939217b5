//! Numeric comparisons `@eq`, `@ge`, `@gt`, `@le`, `@lt` (libmodsecurity v3 `eq.cc` etc.).
//!
//! The input and the (macro-expanded) parameter are read with optional leading C
//! whitespace, an optional sign and decimal digits; anything after is ignored and text
//! without digits is 0. As in libmodsecurity 3.0.x, `@eq` reads them with `std::stoi`
//! (values outside the 32-bit `int` range count as 0) while `@ge`, `@gt`, `@le`, `@lt` use
//! `atoll` (64 bits, saturating).

use super::{Captures, CompileCtx, MacroParam, Operator, OperatorEnv};

#[derive(Debug, Clone, Copy)]
enum Cmp {
    Eq,
    Ge,
    Gt,
    Le,
    Lt,
}

#[derive(Debug)]
enum Param {
    Number(i64),
    Dynamic(MacroParam),
}

#[derive(Debug)]
struct Numeric {
    cmp: Cmp,
    param: Param,
}

impl Cmp {
    /// How this comparison reads numbers.
    fn parse(self, text: &[u8]) -> i64 {
        match self {
            Cmp::Eq => i64::from(parse_int(text)),
            _ => atoll(text),
        }
    }
}

fn build(cmp: Cmp, param: &str) -> Result<Box<dyn Operator>, String> {
    let param = match MacroParam::new(param) {
        MacroParam::Static(bytes) => Param::Number(cmp.parse(&bytes)),
        dynamic => Param::Dynamic(dynamic),
    };
    Ok(Box::new(Numeric { cmp, param }))
}

pub(super) fn compile_eq(p: &str, _: &CompileCtx<'_>) -> Result<Box<dyn Operator>, String> {
    build(Cmp::Eq, p)
}
pub(super) fn compile_ge(p: &str, _: &CompileCtx<'_>) -> Result<Box<dyn Operator>, String> {
    build(Cmp::Ge, p)
}
pub(super) fn compile_gt(p: &str, _: &CompileCtx<'_>) -> Result<Box<dyn Operator>, String> {
    build(Cmp::Gt, p)
}
pub(super) fn compile_le(p: &str, _: &CompileCtx<'_>) -> Result<Box<dyn Operator>, String> {
    build(Cmp::Le, p)
}
pub(super) fn compile_lt(p: &str, _: &CompileCtx<'_>) -> Result<Box<dyn Operator>, String> {
    build(Cmp::Lt, p)
}

impl Operator for Numeric {
    fn evaluate(
        &self,
        input: &[u8],
        env: &mut dyn OperatorEnv,
        _captures: Option<&mut Captures>,
    ) -> bool {
        let p = match &self.param {
            Param::Number(n) => *n,
            Param::Dynamic(m) => self.cmp.parse(&m.resolve(env)),
        };
        let i = self.cmp.parse(input);
        match self.cmp {
            Cmp::Eq => i == p,
            Cmp::Ge => i >= p,
            Cmp::Gt => i > p,
            Cmp::Le => i <= p,
            Cmp::Lt => i < p,
        }
    }
}

/// C `atoll`: like `strtoll` in base 10, saturating at the `i64` bounds.
pub(super) fn atoll(text: &[u8]) -> i64 {
    let start = text
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r'))
        .unwrap_or(text.len());
    let mut rest = text.get(start..).unwrap_or_default();
    let negative = rest.first() == Some(&b'-');
    if matches!(rest.first(), Some(b'-') | Some(b'+')) {
        rest = rest.get(1..).unwrap_or_default();
    }
    let mut value: i64 = 0;
    for &d in rest.iter().take_while(|b| b.is_ascii_digit()) {
        let digit = i64::from(d - b'0');
        value = if negative {
            value.saturating_mul(10).saturating_sub(digit)
        } else {
            value.saturating_mul(10).saturating_add(digit)
        };
    }
    value
}

/// `std::stoi(text)` with libmodsecurity's `catch (...) { value = 0; }`.
pub(super) fn parse_int(text: &[u8]) -> i32 {
    stoi(text).unwrap_or(0)
}

/// `std::stoi(text)`: `None` where it throws (no digits, or outside the `int` range).
pub(super) fn stoi(text: &[u8]) -> Option<i32> {
    let start = text
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r'))?;
    let mut rest = text.get(start..)?;
    let negative = match rest.first() {
        Some(b'-') => true,
        Some(b'+') => false,
        _ => {
            return digits_value(rest, false);
        }
    };
    rest = rest.get(1..)?;
    digits_value(rest, negative)
}

fn digits_value(rest: &[u8], negative: bool) -> Option<i32> {
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let mut value: i64 = 0;
    for &d in rest.iter().take(digits) {
        value = value * 10 + i64::from(d - b'0');
        if value > i64::from(i32::MAX) + 1 {
            return None;
        }
    }
    i32::try_from(if negative { -value } else { value }).ok()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{eval, op, MapEnv};
    use super::*;

    #[test]
    fn stoi_semantics() {
        assert_eq!(parse_int(b"42"), 42);
        assert_eq!(parse_int(b"  \t\n5x"), 5);
        assert_eq!(parse_int(b"+5"), 5);
        assert_eq!(parse_int(b"-5"), -5);
        assert_eq!(parse_int(b"- 5"), 0);
        assert_eq!(parse_int(b"0x5"), 0);
        assert_eq!(parse_int(b"1e3"), 1);
        assert_eq!(parse_int(b"xxx"), 0);
        assert_eq!(parse_int(b""), 0);
        assert_eq!(parse_int(b"2147483647"), i32::MAX);
        assert_eq!(parse_int(b"-2147483648"), i32::MIN);
        assert_eq!(parse_int(b"2147483648"), 0);
        assert_eq!(parse_int(b"99999999999999999999999"), 0);
        assert_eq!(parse_int(b"0000000000000000000012"), 12);
        assert_eq!(stoi(b"x"), None);
        assert_eq!(stoi(b"0"), Some(0));
        assert_eq!(stoi(b"99999999999"), None);
        assert_eq!(stoi(b" 7z"), Some(7));
        assert_eq!(stoi(b"   "), None);
        assert_eq!(atoll(b" +4294967296x"), 4_294_967_296);
        assert_eq!(atoll(b"99999999999999999999999"), i64::MAX);
        assert_eq!(atoll(b"-99999999999999999999999"), i64::MIN);
        assert_eq!(atoll(b"-9223372036854775808"), i64::MIN);
        assert_eq!(atoll(b"abc"), 0);
    }

    #[test]
    fn comparisons() {
        assert!(eval("eq", "5", b"5"));
        assert!(eval("eq", "0", b"99999999999"));
        assert!(eval("gt", "5", b"10"));
        assert!(!eval("gt", "5", b"5"));
        assert!(eval("ge", "5", b"5"));
        assert!(eval("le", "5", b"-1"));
        assert!(eval("lt", "10", b"9.9"));
        assert!(eval("eq", "xxx", b"0"));
        // @eq reads 32-bit ints (overflow is 0), the others 64-bit saturating longs.
        assert!(eval("eq", "5111222333", b"0"));
        assert!(eval("gt", "100", b"05111222333"));
        assert!(!eval("lt", "1", b"05111222333"));
        assert!(eval(
            "ge",
            "9223372036854775807",
            b"99999999999999999999999"
        ));
        assert!(!eval(
            "gt",
            "9223372036854775807",
            b"99999999999999999999999"
        ));
    }

    #[test]
    fn macro_parameter() {
        let o = op("gt", "%{tx.limit}");
        let mut env = MapEnv::default();
        env.vars.insert("tx.limit".into(), "7".into());
        assert!(o.evaluate(b"8", &mut env, None));
        assert!(!o.evaluate(b"7", &mut env, None));
    }
}
