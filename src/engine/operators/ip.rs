//! `@ipMatch`, `@ipMatchFromFile` / `@ipMatchF` (libmodsecurity v3 `ip_match.cc`,
//! `ip_match_from_file.cc`, `utils/msc_tree.cc`).
//!
//! Entries are IPv4 or IPv6 addresses with an optional `/bits` suffix, separated by commas
//! (empty entries are skipped); anything from a `#` to the end of the parameter (or file
//! line) is ignored. Parsing is as strict as v3's: no spaces around entries, the mask is
//! read with `atoi` and must be 1..=32 (IPv4) or 1..=128 (IPv6) -- `/0` is rejected -- and,
//! a v3 quirk kept for compatibility, an explicit `/128` on an IPv6 entry is rejected too.
//! An invalid entry is a load error. Entries are compiled to sorted, merged address
//! ranges searched by binary search.
//!
//! The input is read up to its first NUL byte; it is IPv6 when it contains `:`, IPv4
//! otherwise, and matches nothing when it is not a valid address. IPv4 and IPv6 entries
//! are separate (`::ffff:1.2.3.4` does not match `1.2.3.4`).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{read_data_file, Captures, CompileCtx, Operator, OperatorEnv};

pub(super) fn compile_ip_match(
    param: &str,
    _ctx: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    let mut set = IpSet::default();
    set.add_param(param.as_bytes())?;
    Ok(Box::new(set.finish()))
}

pub(super) fn compile_ip_match_from_file(
    param: &str,
    ctx: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    let data = read_data_file(param, ctx)?;
    let mut set = IpSet::default();
    for (n, line) in data.split(|&b| b == b'\n').enumerate() {
        set.add_param(line)
            .map_err(|e| format!("{param}, line {}: {e}", n + 1))?;
    }
    Ok(Box::new(set.finish()))
}

#[derive(Debug, Default)]
struct IpSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl IpSet {
    /// v3 `add_ip_from_param` on one parameter or file line.
    fn add_param(&mut self, param: &[u8]) -> Result<(), String> {
        let param = match param.iter().position(|&b| b == b'#') {
            Some(hash) => param.get(..hash).unwrap_or_default(),
            None => param,
        };
        for token in param.split(|&b| b == b',').filter(|t| !t.is_empty()) {
            if token.contains(&b':') {
                let range = parse_v6(token).ok_or_else(|| bad_entry(token))?;
                self.v6.push(range);
            } else {
                let range = parse_v4(token).ok_or_else(|| bad_entry(token))?;
                self.v4.push(range);
            }
        }
        Ok(())
    }

    fn finish(self) -> IpMatch {
        IpMatch {
            v4: merge(self.v4),
            v6: merge(self.v6),
        }
    }
}

fn bad_entry(token: &[u8]) -> String {
    format!(
        "invalid IP address or network {:?}",
        String::from_utf8_lossy(token)
    )
}

/// C `atoi`: leading whitespace, sign, digits, the rest ignored; no digits is 0.
fn atoi(text: &[u8]) -> i64 {
    let mut rest = text;
    while let Some((&b, tail)) = rest.split_first() {
        if matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r') {
            rest = tail;
        } else {
            break;
        }
    }
    let negative = rest.first() == Some(&b'-');
    if matches!(rest.first(), Some(b'-') | Some(b'+')) {
        rest = rest.get(1..).unwrap_or_default();
    }
    let mut value: i64 = 0;
    for &d in rest.iter().take_while(|b| b.is_ascii_digit()) {
        value = value.saturating_mul(10).saturating_add(i64::from(d - b'0'));
    }
    // atoi is (int)strtol(...): keep the low 32 bits of the clamped long.
    let value = if negative { -value } else { value };
    i64::from(value as i32)
}

/// v3 `TreeAddIP` for an IPv4 entry: the inclusive address range.
fn parse_v4(token: &[u8]) -> Option<(u32, u32)> {
    let token = token.get(..token.len().min(31))?;
    let (addr, bits) = match token.iter().position(|&b| b == b'/') {
        Some(slash) => {
            let mask = token.get(slash + 1..)?;
            if mask.contains(&b'.') {
                return None;
            }
            let cidr = atoi(mask);
            if !(1..=32).contains(&cidr) {
                return None;
            }
            (token.get(..slash)?, cidr as u32)
        }
        None => (token, 32),
    };
    let addr: Ipv4Addr = std::str::from_utf8(addr).ok()?.parse().ok()?;
    let addr = u32::from(addr);
    let mask = if bits == 32 {
        u32::MAX
    } else {
        !(u32::MAX >> bits)
    };
    Some((addr & mask, (addr & mask) | !mask))
}

/// v3 `TreeAddIP` for an IPv6 entry: the inclusive address range.
fn parse_v6(token: &[u8]) -> Option<(u128, u128)> {
    let token = token.get(..token.len().min(127))?;
    let (addr, bits) = match token.iter().position(|&b| b == b'/') {
        Some(slash) => {
            let mask = token.get(slash + 1..)?;
            if mask.contains(&b':') {
                return None;
            }
            let cidr = atoi(mask);
            if !(1..=128).contains(&cidr) {
                return None;
            }
            // v3 only cuts the "/bits" off when bits != 128, so "x/128" fails to parse.
            let addr = if cidr == 128 {
                token
            } else {
                token.get(..slash)?
            };
            (addr, cidr as u32)
        }
        None => (token, 128),
    };
    let addr: Ipv6Addr = std::str::from_utf8(addr).ok()?.parse().ok()?;
    let addr = u128::from(addr);
    let mask = if bits == 128 {
        u128::MAX
    } else {
        !(u128::MAX >> bits)
    };
    Some((addr & mask, (addr & mask) | !mask))
}

/// Sorts and merges overlapping or adjacent ranges.
fn merge<T: Copy + Ord + Step>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match out.last_mut() {
            Some(last) if start <= last.1.next_or_max() => {
                if end > last.1 {
                    last.1 = end;
                }
            }
            _ => out.push((start, end)),
        }
    }
    out.shrink_to_fit();
    out
}

/// `x + 1`, saturating.
trait Step {
    fn next_or_max(self) -> Self;
}

impl Step for u32 {
    fn next_or_max(self) -> Self {
        self.saturating_add(1)
    }
}

impl Step for u128 {
    fn next_or_max(self) -> Self {
        self.saturating_add(1)
    }
}

fn contains<T: Copy + Ord>(ranges: &[(T, T)], x: T) -> bool {
    let idx = ranges.partition_point(|r| r.0 <= x);
    idx > 0 && ranges.get(idx - 1).is_some_and(|r| x <= r.1)
}

#[derive(Debug)]
struct IpMatch {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl Operator for IpMatch {
    fn evaluate(
        &self,
        input: &[u8],
        _env: &mut dyn OperatorEnv,
        _captures: Option<&mut Captures>,
    ) -> bool {
        let input = match memchr::memchr(0, input) {
            Some(nul) => input.get(..nul).unwrap_or_default(),
            None => input,
        };
        let Ok(text) = std::str::from_utf8(input) else {
            return false;
        };
        if text.contains(':') {
            text.parse::<Ipv6Addr>()
                .is_ok_and(|a| contains(&self.v6, u128::from(a)))
        } else {
            text.parse::<Ipv4Addr>()
                .is_ok_and(|a| contains(&self.v4, u32::from(a)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::eval;
    use super::super::{compile, CompileCtx};
    use super::*;

    fn compiles(param: &str) -> bool {
        compile(
            "ipMatch",
            param,
            &CompileCtx {
                base_dir: std::path::Path::new("/"),
            },
        )
        .is_ok()
    }

    #[test]
    fn v3_parsing_rules() {
        assert!(compiles("1.2.3.4,,5.6.7.8"));
        assert!(compiles("1.2.3.4/24abc"));
        assert!(compiles("1.2.3.4/+8"));
        assert!(compiles("1.2.3.4/ 8"));
        assert!(compiles("1.2.3.4/32"));
        assert!(compiles("2001:db8::/64"));
        assert!(!compiles("10.0.0.0/0"));
        assert!(!compiles("::/0"));
        assert!(!compiles("::1/128"));
        assert!(!compiles("10.0.0.0/100"));
        assert!(!compiles("2001:db8::/129"));
        assert!(!compiles("1.2.3.4, 5.6.7.8"));
        assert!(!compiles("1.2.3.4 "));
        assert!(!compiles("1.2.3.4/"));
        assert!(!compiles("1.2.3"));
        assert!(!compiles("1.2.3.4/-1"));
        assert!(!compiles("1.2.3.4/8.0"));
        assert!(!compiles("fe80::1%eth0"));
        // Everything after '#' is ignored.
        assert!(eval("ipMatch", "5.6.7.8,1.2.3.4#x,9.9.9.9", b"1.2.3.4"));
        assert!(!eval("ipMatch", "5.6.7.8,1.2.3.4#x,9.9.9.9", b"9.9.9.9"));
    }

    #[test]
    fn matching() {
        assert!(eval("ipMatch", "10.10.10.0/21", b"10.10.8.1"));
        assert!(!eval("ipMatch", "10.10.10.0/21", b"10.10.16.1"));
        assert!(eval("ipMatch", "156.149.249.1/8", b"156.149.152.152"));
        assert!(eval("ipMatch", "0.0.0.0/1", b"127.255.255.255"));
        assert!(!eval("ipMatch", "0.0.0.0/1", b"128.0.0.0"));
        assert!(eval("ipMatch", "255.255.255.255/1", b"128.0.0.1"));
        assert!(eval(
            "ipMatch",
            "2001:db8::/32",
            b"2001:0db8:ffff:ffff:ffff:ffff:ff00:00ff"
        ));
        assert!(eval("ipMatch", "2001:db8::/64", b"2001:DB8::1"));
        assert!(eval("ipMatch", "::ffff:1.2.3.0/120", b"::ffff:1.2.3.4"));
        assert!(!eval("ipMatch", "::ffff:1.2.3.4", b"1.2.3.4"));
        assert!(!eval("ipMatch", "1.2.3.4", b" 1.2.3.4"));
        assert!(!eval("ipMatch", "1.2.3.4", b"01.2.3.4"));
        assert!(!eval("ipMatch", "1.2.3.4", b""));
        assert!(eval("ipMatch", "1.2.3.4", b"1.2.3.4\0junk"));
        assert!(eval("ipMatch", "10.0.0.0/8,10.1.0.0/16", b"10.2.3.4"));
    }

    #[test]
    fn merged_ranges() {
        let m = merge(vec![(5u32, 9), (1, 3), (4, 4), (20, 30), (25, 26)]);
        assert_eq!(m, vec![(1, 9), (20, 30)]);
        assert!(contains(&m, 1) && contains(&m, 9) && contains(&m, 25));
        assert!(!contains(&m, 0) && !contains(&m, 10) && !contains(&m, 31));
        let m = merge(vec![(u32::MAX - 1, u32::MAX), (0, 0)]);
        assert!(contains(&m, u32::MAX));
    }

    #[test]
    fn from_file() {
        let dir = std::env::temp_dir().join(format!("rampart-ip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("ok.txt"),
            b"# list\n1.2.3.4\n\n5.6.7.0/24,9.9.9.9\n#5.5.5.5\n",
        )
        .unwrap();
        std::fs::write(dir.join("crlf.txt"), b"1.2.3.4\r\n").unwrap();
        let ctx = CompileCtx { base_dir: &dir };
        let op = compile("ipMatchFromFile", "ok.txt", &ctx).unwrap();
        let mut env = super::super::test_support::MapEnv::default();
        assert!(op.evaluate(b"5.6.7.200", &mut env, None));
        assert!(op.evaluate(b"9.9.9.9", &mut env, None));
        assert!(!op.evaluate(b"5.5.5.5", &mut env, None));
        assert!(compile("ipMatchF", "ok.txt", &ctx).is_ok());
        let err = compile("ipMatchFromFile", "crlf.txt", &ctx).unwrap_err();
        assert!(err.contains("line 1"), "{err}");
        assert!(compile("ipMatchFromFile", "missing.txt", &ctx).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
