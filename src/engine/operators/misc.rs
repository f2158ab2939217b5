//! `@unconditionalMatch`, `@noMatch`, `@geoLookup`, `@rbl`, and the operators this engine
//! does not support (`@inspectFile`, `@fuzzyHash`, `@gsbLookup`, `@rsub`), which are
//! load errors naming them.

use super::{Captures, CompileCtx, Operator, OperatorEnv};

pub(super) fn compile_unconditional_match(
    _param: &str,
    _ctx: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    Ok(Box::new(Constant(true)))
}

pub(super) fn compile_no_match(
    _param: &str,
    _ctx: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    Ok(Box::new(Constant(false)))
}

pub(super) fn compile_geo_lookup(
    _param: &str,
    _ctx: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    Ok(Box::new(GeoLookup))
}

pub(super) fn compile_rbl(param: &str, _ctx: &CompileCtx<'_>) -> Result<Box<dyn Operator>, String> {
    if param.is_empty() {
        return Err("missing RBL zone".to_owned());
    }
    Ok(Box::new(Rbl {
        zone: param.to_owned(),
        needs_key: param.contains("httpbl.org"),
    }))
}

pub(super) fn compile_inspect_file(
    _param: &str,
    _ctx: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    Err("unsupported: @inspectFile (running external programs) is not implemented".to_owned())
}

pub(super) fn compile_fuzzy_hash(
    _param: &str,
    _ctx: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    Err("unsupported: @fuzzyHash (ssdeep) is not implemented".to_owned())
}

pub(super) fn compile_gsb_lookup(
    _param: &str,
    _ctx: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    Err("unsupported: @gsbLookup (Google Safe Browsing) is not implemented".to_owned())
}

pub(super) fn compile_rsub(
    _param: &str,
    _ctx: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    Err("unsupported: libmodsecurity v3 does not implement @rsub either".to_owned())
}

/// Always (or never) matches.
#[derive(Debug)]
struct Constant(bool);

impl Operator for Constant {
    fn evaluate(
        &self,
        _input: &[u8],
        _env: &mut dyn OperatorEnv,
        _captures: Option<&mut Captures>,
    ) -> bool {
        self.0
    }
}

/// Looks the input up in the geolocation database through the environment, which fills
/// the GEO collection; matches when the address was found.
#[derive(Debug)]
struct GeoLookup;

impl Operator for GeoLookup {
    fn evaluate(
        &self,
        input: &[u8],
        env: &mut dyn OperatorEnv,
        _captures: Option<&mut Captures>,
    ) -> bool {
        env.geo_lookup(input)
    }
}

/// DNS block list lookup (v3 `rbl.cc`): an IPv4 address `a.b.c.d` is queried as
/// `d.c.b.a.<zone>` (`<key>.d.c.b.a.dnsbl.httpbl.org` for http:BL, which needs
/// `SecHttpBlKey`), anything else as `<input>.<zone>`. Matches when the name resolves;
/// with `capture`, `TX.0` is the input.
#[derive(Debug)]
struct Rbl {
    zone: String,
    needs_key: bool,
}

impl Rbl {
    /// The name to resolve, or `None` when http:BL has no key.
    fn query_name(&self, input: &str, key: Option<&str>) -> Option<String> {
        match scan_ipv4(input) {
            None => Some(format!("{input}.{}", self.zone)),
            Some([a, b, c, d]) => {
                let reversed = format!("{d}.{c}.{b}.{a}.{}", self.zone);
                if self.needs_key {
                    let key = key.filter(|k| !k.is_empty())?;
                    Some(format!("{key}.{reversed}"))
                } else {
                    Some(reversed)
                }
            }
        }
    }
}

impl Operator for Rbl {
    fn evaluate(
        &self,
        input: &[u8],
        env: &mut dyn OperatorEnv,
        captures: Option<&mut Captures>,
    ) -> bool {
        let text = String::from_utf8_lossy(input);
        let key = env.httpbl_key();
        let Some(name) = self.query_name(&text, key.as_deref()) else {
            return false;
        };
        if !env.dns_resolves(&name) {
            return false;
        }
        if let Some(caps) = captures {
            caps.clear();
            caps.set(0, input);
        }
        true
    }
}

/// `sscanf(s, "%d.%d.%d.%d")` succeeding with four values.
fn scan_ipv4(s: &str) -> Option<[i64; 4]> {
    let mut rest = s;
    let mut out = [0i64; 4];
    for (i, slot) in out.iter_mut().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix('.')?;
        }
        let trimmed = rest.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
        let (sign, body) = match trimmed.as_bytes().first() {
            Some(b'-') => (-1, trimmed.get(1..)?),
            Some(b'+') => (1, trimmed.get(1..)?),
            _ => (1, trimmed),
        };
        let digits = body.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let value: i64 = body.get(..digits)?.bytes().fold(0i64, |acc, d| {
            acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
        *slot = i64::from((sign * value) as i32);
        rest = body.get(digits..)?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{eval, op, MapEnv};
    use super::super::{compile, Captures, CompileCtx};
    use super::*;

    #[test]
    fn constants() {
        assert!(eval("unconditionalMatch", "", b""));
        assert!(eval("unconditionalMatch", "TestCase", b"x"));
        assert!(!eval("noMatch", "", b"x"));
    }

    #[test]
    fn geo_lookup_goes_through_the_environment() {
        let o = op("geoLookup", "");
        let mut env = MapEnv::default();
        assert!(o.evaluate(b"1.2.3.4", &mut env, None));
        assert!(!o.evaluate(b"127.0.0.1", &mut env, None));
        assert_eq!(
            env.geo_calls,
            vec![b"1.2.3.4".to_vec(), b"127.0.0.1".to_vec()]
        );
    }

    #[test]
    fn rbl_query_names() {
        let r = Rbl {
            zone: "zen.spamhaus.org".into(),
            needs_key: false,
        };
        assert_eq!(
            r.query_name("1.2.3.4", None).as_deref(),
            Some("4.3.2.1.zen.spamhaus.org")
        );
        assert_eq!(
            r.query_name("example.com", None).as_deref(),
            Some("example.com.zen.spamhaus.org")
        );
        let h = Rbl {
            zone: "dnsbl.httpbl.org".into(),
            needs_key: true,
        };
        assert_eq!(h.query_name("1.2.3.4", None), None);
        assert_eq!(
            h.query_name("1.2.3.4", Some("abc")).as_deref(),
            Some("abc.4.3.2.1.dnsbl.httpbl.org")
        );
        assert_eq!(scan_ipv4("1.2.3.4x"), Some([1, 2, 3, 4]));
        assert_eq!(scan_ipv4(" 01.2.3.4"), Some([1, 2, 3, 4]));
        assert_eq!(scan_ipv4("1.2.3"), None);
    }

    #[test]
    fn rbl_uses_the_resolver_hook() {
        let o = op("rbl", "bl.example");
        let mut env = MapEnv::default();
        env.resolvable.push("4.3.2.1.bl.example".into());
        let mut caps = Captures::default();
        assert!(o.evaluate(b"1.2.3.4", &mut env, Some(&mut caps)));
        assert_eq!(caps.groups, vec![b"1.2.3.4".to_vec()]);
        assert!(!o.evaluate(b"5.6.7.8", &mut env, None));
    }

    #[test]
    fn unsupported_operators_name_themselves() {
        let ctx = CompileCtx {
            base_dir: std::path::Path::new("/"),
        };
        for (name, word) in [
            ("inspectFile", "@inspectFile"),
            ("fuzzyHash", "@fuzzyHash"),
            ("gsbLookup", "@gsbLookup"),
            ("rsub", "@rsub"),
        ] {
            let err = compile(name, "x", &ctx).unwrap_err();
            assert!(err.contains(word) && err.contains("unsupported"), "{err}");
        }
    }
}
