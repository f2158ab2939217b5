//! `@verifyCC`, `@verifySSN`, `@verifyCPF`, `@verifySVNR` (libmodsecurity v3
//! `verify_cc.cc`, `verify_ssn.cc`, `verify_cpf.cc`, `verify_svnr.cc`): a regex finds
//! candidates, a checksum confirms them. With `capture`, `TX.0` is the confirmed candidate.
//!
//! - `@verifyCC`: candidates are the first match at or after each offset of the input
//!   (Luhn check over the digits of the match).
//! - `@verifySSN` / `@verifyCPF` / `@verifySVNR`: v3 runs a global search on every suffix
//!   `input[i..]` for `i < len - 1` and checks every match; the regex sees each suffix
//!   as a whole subject. An empty parameter never matches.
//!
//! The searches visit each distinct candidate once, which gives v3's answer (and first
//! confirmed candidate) without its quadratic rescans when the pattern does not look left
//! of the match start; patterns that do (`^`, `\b`, look-behind) are searched suffix by
//! suffix exactly as v3 does.
//!
//! This follows the current v3 code, which checks the matches of each suffix in order.
//! libmodsecurity 3.0.9 checked them in reverse order (and the substrings of capture
//! groups too), so when a value holds several valid numbers its `TX.0` may name another
//! one; whether the operator matches is the same.

use super::pcre::{Pcre, Subject};
use super::{Captures, CompileCtx, Operator, OperatorEnv};

pub(super) fn compile_verify_cc(
    param: &str,
    _: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    // v3 compiles the parameter as it is (an empty one matches the empty string).
    let regex = if param.is_empty() {
        Pcre::new("(?:)")?
    } else {
        Pcre::new(param)?
    };
    Ok(Box::new(VerifyCc { regex }))
}

pub(super) fn compile_verify_ssn(
    param: &str,
    _: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    SuffixVerifier::build(param, Kind::Ssn)
}

pub(super) fn compile_verify_cpf(
    param: &str,
    _: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    SuffixVerifier::build(param, Kind::Cpf)
}

pub(super) fn compile_verify_svnr(
    param: &str,
    _: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    SuffixVerifier::build(param, Kind::Svnr)
}

#[derive(Debug)]
struct VerifyCc {
    regex: Pcre,
}

impl Operator for VerifyCc {
    fn evaluate(
        &self,
        input: &[u8],
        _env: &mut dyn OperatorEnv,
        captures: Option<&mut Captures>,
    ) -> bool {
        let subject = self.regex.subject(input);
        let mut offset = 0;
        while offset < input.len() {
            // Every offset up to the match start yields this same match.
            let Some((start, end)) = self.regex.find_in(&subject, 0, offset) else {
                return false;
            };
            let candidate = input.get(start..end).unwrap_or_default();
            if luhn(candidate) {
                if let Some(caps) = captures {
                    caps.clear();
                    caps.set(0, candidate);
                }
                return true;
            }
            offset = start.max(offset) + 1;
        }
        false
    }
}

/// Luhn (mod 10) over the ASCII digits of `text`; no digits is not valid.
fn luhn(text: &[u8]) -> bool {
    const DOUBLED: [u32; 10] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];
    let mut sum = 0u32;
    let mut digits = 0usize;
    for &c in text.iter().rev().filter(|c| c.is_ascii_digit()) {
        let d = u32::from(c - b'0');
        let weighted = if digits % 2 == 1 {
            DOUBLED.get(d as usize).copied().unwrap_or(0)
        } else {
            d
        };
        sum = (sum + weighted) % 10;
        digits += 1;
    }
    digits > 0 && sum == 0
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Ssn,
    Cpf,
    Svnr,
}

impl Kind {
    fn verify(self, candidate: &[u8]) -> bool {
        match self {
            Kind::Ssn => verify_ssn(candidate),
            Kind::Cpf => verify_cpf(candidate),
            Kind::Svnr => verify_svnr(candidate),
        }
    }
}

#[derive(Debug)]
struct SuffixVerifier {
    /// `None` for an empty parameter (never matches).
    regex: Option<Pcre>,
    kind: Kind,
}

impl SuffixVerifier {
    fn build(param: &str, kind: Kind) -> Result<Box<dyn Operator>, String> {
        let regex = if param.is_empty() {
            None
        } else {
            Some(Pcre::new(param)?)
        };
        Ok(Box::new(SuffixVerifier { regex, kind }))
    }

    /// v3's `searchAllMatches` on `input[base..]` from `pos`: the next match and where the
    /// search after it starts.
    fn next(
        re: &Pcre,
        subject: &Subject<'_>,
        base: usize,
        pos: usize,
        len: usize,
    ) -> Option<((usize, usize), usize)> {
        if pos > len {
            return None;
        }
        let (s, e) = re.find_in(subject, base, pos)?;
        let after = if e == s { e + 1 } else { e };
        Some(((s, e), after))
    }
}

impl Operator for SuffixVerifier {
    fn evaluate(
        &self,
        input: &[u8],
        _env: &mut dyn OperatorEnv,
        captures: Option<&mut Captures>,
    ) -> bool {
        let Some(re) = &self.regex else {
            return false;
        };
        let len = input.len();
        let subject = re.subject(input);
        let mut found: Option<(usize, usize)> = None;
        if re.uses_left_context() {
            // Exactly v3: every suffix, every match.
            'suffixes: for base in 0..len.saturating_sub(1) {
                let mut pos = base;
                while let Some((span, after)) = Self::next(re, &subject, base, pos, len) {
                    if self
                        .kind
                        .verify(input.get(span.0..span.1).unwrap_or_default())
                    {
                        found = Some(span);
                        break 'suffixes;
                    }
                    pos = after;
                }
            }
        } else {
            // Without left context, a match found at position p is the same whichever
            // suffix the search started in, and so is the chain of matches after it.
            let mut visited = vec![false; len + 1];
            let mut base = 0;
            'outer: while base + 1 < len {
                let Some((first, _)) = Self::next(re, &subject, 0, base, len) else {
                    break;
                };
                let mut next = Some(first);
                let mut pos;
                while let Some(span) = next {
                    match visited.get_mut(span.0) {
                        Some(seen) if !*seen => *seen = true,
                        _ => break,
                    }
                    if self
                        .kind
                        .verify(input.get(span.0..span.1).unwrap_or_default())
                    {
                        found = Some(span);
                        break 'outer;
                    }
                    pos = if span.1 == span.0 { span.1 + 1 } else { span.1 };
                    next = Self::next(re, &subject, 0, pos, len).map(|(s, _)| s);
                }
                base = first.0.max(base) + 1;
            }
        }
        match found {
            Some((s, e)) => {
                if let Some(caps) = captures {
                    caps.clear();
                    caps.set(0, input.get(s..e).unwrap_or_default());
                }
                true
            }
            None => false,
        }
    }
}

/// The first `max` ASCII digits of `text` (v3 stops collecting after that many).
fn digits(text: &[u8], max: usize) -> (Vec<u32>, usize) {
    let all = text
        .iter()
        .take_while(|&&b| b != 0)
        .filter(|b| b.is_ascii_digit());
    let count = all.clone().count();
    (all.take(max).map(|b| u32::from(b - b'0')).collect(), count)
}

/// US social security number: exactly nine digits, not all sequential or repeated, no
/// zero area/group/serial, area below 740 and not 666.
fn verify_ssn(text: &[u8]) -> bool {
    let (num, count) = {
        // v3 counts digits over the whole candidate (NULs included).
        let all: Vec<u32> = text
            .iter()
            .filter(|b| b.is_ascii_digit())
            .map(|b| u32::from(b - b'0'))
            .collect();
        let count = all.len();
        (all, count)
    };
    if count != 9 {
        return false;
    }
    let pairs = num.windows(2);
    let sequential = pairs.clone().filter(|w| w[0] + 1 == w[1]).count();
    let repeated = pairs.filter(|w| w[0] == w[1]).count();
    if sequential == 8 || repeated == 8 {
        return false;
    }
    let value = |r: std::ops::Range<usize>| {
        num.get(r)
            .map(|d| d.iter().fold(0u32, |acc, &x| acc * 10 + x))
            .unwrap_or(0)
    };
    let (area, group, serial) = (value(0..3), value(3..5), value(5..9));
    !(area == 0 || group == 0 || serial == 0 || area >= 740 || area == 666)
}

/// Brazilian CPF: eleven digits (the first eleven are used, reading stops at NUL), not
/// one of v3's blacklisted sequences, two mod-11 check digits.
fn verify_cpf(text: &[u8]) -> bool {
    const BAD: [&[u8; 11]; 11] = [
        b"00000000000",
        b"01234567890",
        b"11111111111",
        b"22222222222",
        b"33333333333",
        b"44444444444",
        b"55555555555",
        b"66666666666",
        b"77777777777",
        b"88888888888",
        b"99999999999",
    ];
    let (cpf, count) = digits(text, 11);
    if count.min(11) != 11 || cpf.len() != 11 {
        return false;
    }
    let as_bytes: Vec<u8> = cpf.iter().map(|&d| b'0' + d as u8).collect();
    if BAD.iter().any(|b| b.as_slice() == as_bytes.as_slice()) {
        return false;
    }
    let check = |n: usize| -> u32 {
        let sum: u32 = cpf
            .iter()
            .take(n)
            .enumerate()
            .map(|(i, &d)| d * (n as u32 + 1 - i as u32))
            .sum();
        let factor = sum % 11;
        if factor < 2 {
            0
        } else {
            11 - factor
        }
    };
    let first = check(9);
    let mut with_first = cpf.clone();
    if let Some(slot) = with_first.get_mut(9) {
        *slot = first;
    }
    let second = {
        let sum: u32 = with_first
            .iter()
            .take(10)
            .enumerate()
            .map(|(i, &d)| d * (11 - i as u32))
            .sum();
        let factor = sum % 11;
        if factor < 2 {
            0
        } else {
            11 - factor
        }
    };
    cpf.get(9) == Some(&first) && cpf.get(10) == Some(&second)
}

/// Austrian social insurance number: ten digits, not one of the first ten entries of
/// v3's blacklist (v3 only checks those), weighted mod-11 check digit in position 4.
fn verify_svnr(text: &[u8]) -> bool {
    const BAD: [&[u8; 10]; 10] = [
        b"0000000000",
        b"0123456789",
        b"1234567890",
        b"1111111111",
        b"2222222222",
        b"3333333333",
        b"4444444444",
        b"5555555555",
        b"6666666666",
        b"7777777777",
    ];
    let (n, _) = digits(text, 10);
    if n.len() != 10 {
        return false;
    }
    let as_bytes: Vec<u8> = n.iter().map(|&d| b'0' + d as u8).collect();
    if BAD.iter().any(|b| b.as_slice() == as_bytes.as_slice()) {
        return false;
    }
    const WEIGHTS: [(usize, u32); 9] = [
        (0, 3),
        (1, 7),
        (2, 9),
        (4, 5),
        (5, 8),
        (6, 4),
        (7, 2),
        (8, 1),
        (9, 6),
    ];
    let mut sum: u32 = WEIGHTS
        .iter()
        .map(|&(i, w)| n.get(i).copied().unwrap_or(0) * w)
        .sum::<u32>()
        % 11;
    if sum == 10 {
        sum = 0;
    }
    n.get(3) == Some(&sum)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{eval, eval_captures};
    use super::*;

    #[test]
    fn luhn_checksum() {
        assert!(luhn(b"4111111111111111"));
        assert!(luhn(b"4111-1111-1111-1111"));
        assert!(!luhn(b"4111111111111112"));
        assert!(!luhn(b""));
        assert!(!luhn(b"abc"));
        assert!(luhn(b"0"));
    }

    #[test]
    fn verify_cc_operator() {
        let p = r"(?:^|[^\d])(\d{4}\-?\d{4}\-?\d{2}\-?\d{2}\-?\d{1,4})(?:[^\d]|$)";
        assert!(eval("verifyCC", p, b"5484-6050-8915-8216"));
        assert!(!eval("verifyCC", p, b"5484 6050 8915 8216"));
        assert!(!eval("verifyCC", p, b"15484605089158216"));
        let (hit, slots) = eval_captures("verifyCC", r"\d{13,16}", b"card 4111111111111111.");
        assert!(hit);
        assert_eq!(slots, vec![Some(b"4111111111111111".to_vec())]);
        // A later offset can find a valid number inside an invalid longer match.
        assert!(eval("verifyCC", r"\d{16}", b"94111111111111111"));
        assert!(!eval("verifyCC", "", b"123"));
    }

    #[test]
    fn ssn() {
        assert!(verify_ssn(b"574-57-8065"));
        assert!(!verify_ssn(b"800-57-8065"));
        assert!(!verify_ssn(b"123-45-6789"));
        assert!(!verify_ssn(b"111-11-1111"));
        assert!(!verify_ssn(b"000-12-3456"));
        assert!(!verify_ssn(b"666-12-3456"));
        assert!(!verify_ssn(b"57457806"));
        let p = r"\d{3}-?\d{2}-?\d{4}";
        assert_eq!(
            eval_captures("verifySSN", p, b"asdf 574-57-8065 asdf"),
            (true, vec![Some(b"574-57-8065".to_vec())])
        );
        assert!(!eval("verifySSN", p, b""));
        assert!(!eval("verifySSN", "", b"574-57-8065"));
        // Anchored patterns see every suffix as a subject of its own.
        assert!(eval("verifySSN", r"^\d{3}-\d{2}-\d{4}", b"x574-57-8065"));
    }

    #[test]
    fn cpf() {
        assert!(verify_cpf(b"010.817.514-60"));
        assert!(!verify_cpf(b"010.817.514-61"));
        assert!(!verify_cpf(b"111.111.111-11"));
        assert!(!verify_cpf(b"010.817.514"));
        assert!(eval(
            "verifyCPF",
            r"([0-9]{3}\.){2}[0-9]{3}-[0-9]{2}",
            b"asdf 010.817.514-60 asdf"
        ));
    }

    #[test]
    fn svnr() {
        assert!(verify_svnr(b"1237010180"));
        assert!(verify_svnr(b"1237 010180"));
        assert!(!verify_svnr(b"1238010180"));
        assert!(!verify_svnr(b"0000000000"));
        // Not in the part of the blacklist v3 checks, and its checksum is valid.
        assert!(verify_svnr(b"8888888888"));
        assert!(!eval(
            "verifySVNR",
            r"([0-9]{4} ?[0-9]{6})",
            b"asdf 0100817 asdf"
        ));
    }

    #[test]
    fn dense_input_is_linear_enough() {
        let input = vec![b'1'; 20_000];
        let start = std::time::Instant::now();
        assert!(!eval("verifySSN", r"\d{3}-?\d{2}-?\d{4}", &input));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }
}
