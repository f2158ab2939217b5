//! SecLang operators (`@name param`), one file per family, registered by name.
//!
//! Contract (used by the rule engine):
//! - `compile(name, param, ctx)` builds an operator once, at load time. Unknown or
//!   unsupported operators and bad parameters are an `Err` with a clear message.
//! - `Operator::evaluate` runs it against one (transformed) value. Negation (`!@op`) is
//!   applied by the engine, not here.
//! - Parameters containing `%{...}` macros are expanded at run time through `OperatorEnv`.
//!
//! Semantics follow libmodsecurity v3 (3.0.x, `src/operators/*.cc`) and were checked by
//! running libmodsecurity 3.0.9 side by side: every operator of the CRS rules on ~9,000
//! inputs taken from the CRS regression tests (match and `TX.0..` captures identical), plus
//! randomised patterns, phrase lists and inputs. Remaining deviations are listed in the doc
//! comment of the module concerned (`pcre`, `rx`, `verify`, `pm`).
//!
//! [`Pcre`] is public so that the engine can use the same PCRE-compatible regexes for
//! regex variable selectors (`ARGS:/^id_/`) and other places where SecLang takes a regex.

use std::borrow::Cow;
use std::path::Path;

#[cfg(test)]
mod crs_tests;
mod ip;
pub mod literals;
mod byteclauses;
mod libinjection;
mod misc;
mod numeric;
mod pcre;
mod pcre_syntax;
mod pm;
mod rx;
mod strings;
mod validate;
mod verify;

pub use pcre::Pcre;
pub use pcre_syntax::{translate_pattern, TranslatedPattern};

/// What an operator may ask of the running transaction.
pub trait OperatorEnv {
    /// Expands `%{collection.key}` macros in `text` against the transaction.
    fn expand(&self, text: &str) -> String;
    /// The expansion of the operator's own parameter `text`: an environment that evaluates
    /// one rule over many values may expand it once and lend the result to each value
    /// (nothing a macro can read changes while a rule's values are being tested).
    fn expand_param(&self, text: &str) -> Cow<'_, [u8]> {
        Cow::Owned(self.expand(text).into_bytes())
    }
    /// `@geoLookup` hook: looks up `addr` and fills the GEO collection; returns whether
    /// the address was found.
    fn geo_lookup(&mut self, _addr: &[u8]) -> bool {
        false
    }
    /// `@rbl` hook: resolves `host` (an A-record query such as `4.3.2.1.zen.spamhaus.org`)
    /// and returns whether it resolved. The default uses the system resolver, blocking,
    /// as libmodsecurity does; an engine may override it to add caching or timeouts.
    fn dns_resolves(&mut self, host: &str) -> bool {
        use std::net::ToSocketAddrs;
        (host, 0u16)
            .to_socket_addrs()
            .map(|mut addrs| addrs.next().is_some())
            .unwrap_or(false)
    }
    /// `SecHttpBlKey`, needed by `@rbl` against `dnsbl.httpbl.org`.
    fn httpbl_key(&self) -> Option<String> {
        None
    }
}

/// Capture slots `TX.0`, `TX.1`, ... filled by operators when the rule has `capture`.
///
/// libmodsecurity v3 writes only the slots an operator sets (`storeOrUpdateFirst`); it
/// never clears the others. `@rx` sets `TX.0` (whole match) and one slot per capture group
/// that took part in the match, with no upper limit on the number of groups. A group that
/// did not take part in the match leaves its slot untouched: such indexes are listed in
/// `unset` and their `groups` entry is empty.
#[derive(Debug, Default, Clone)]
pub struct Captures {
    /// Value for `TX.<index>`.
    pub groups: Vec<Vec<u8>>,
    /// Indexes below `groups.len()` that the operator did not set (keep the old value).
    pub unset: Vec<usize>,
}

impl Captures {
    /// Removes every slot.
    pub fn clear(&mut self) {
        self.groups.clear();
        self.unset.clear();
    }

    /// Sets `TX.<index>` to `value` (later calls for the same index overwrite it).
    pub fn set(&mut self, index: usize, value: &[u8]) {
        if self.groups.len() <= index {
            for i in self.groups.len()..index {
                self.unset.push(i);
            }
            self.groups.resize(index + 1, Vec::new());
        } else if !self.unset.is_empty() {
            self.unset.retain(|&i| i != index);
        }
        if let Some(slot) = self.groups.get_mut(index) {
            slot.clear();
            slot.extend_from_slice(value);
        }
    }

    /// Whether slot `index` was set by the operator.
    pub fn is_set(&self, index: usize) -> bool {
        index < self.groups.len() && !self.unset.contains(&index)
    }

    /// The slots the operator set, as `(index, value)`, in index order.
    pub fn iter_set(&self) -> impl Iterator<Item = (usize, &[u8])> + '_ {
        self.groups
            .iter()
            .enumerate()
            .filter(move |(i, _)| !self.unset.contains(i))
            .map(|(i, v)| (i, v.as_slice()))
    }
}

/// Load-time context.
pub struct CompileCtx<'a> {
    /// Directory of the file the rule came from: relative paths of `@pmFromFile`,
    /// `@ipMatchFromFile` are resolved against it.
    pub base_dir: &'a Path,
}

/// A compiled operator, shared by all threads running the ruleset.
pub trait Operator: Send + Sync + std::fmt::Debug {
    /// Literals (ASCII lower-case) one of which every input this operator matches contains,
    /// compared ASCII case-insensitively; `None` when unknown. Used to skip rules whose
    /// operator cannot match any value of a transaction.
    fn required_literals(&self) -> Option<Vec<Vec<u8>>> {
        None
    }

    /// Returns whether the operator matches `input`. When `captures` is given
    /// (the rule has `capture`), fills it as ModSecurity fills TX.0..TX.n.
    fn evaluate(
        &self,
        input: &[u8],
        env: &mut dyn OperatorEnv,
        captures: Option<&mut Captures>,
    ) -> bool;
}

type CompileFn = fn(&str, &CompileCtx<'_>) -> Result<Box<dyn Operator>, String>;

/// Every operator name libmodsecurity v3 knows, lower-cased, with its constructor.
const OPERATORS: &[(&str, CompileFn)] = &[
    ("beginswith", strings::compile_begins_with),
    ("contains", strings::compile_contains),
    ("containsword", strings::compile_contains_word),
    ("detectsqli", libinjection::compile_detect_sqli),
    ("detectxss", libinjection::compile_detect_xss),
    ("endswith", strings::compile_ends_with),
    ("eq", numeric::compile_eq),
    ("fuzzyhash", misc::compile_fuzzy_hash),
    ("ge", numeric::compile_ge),
    ("geolookup", misc::compile_geo_lookup),
    ("gsblookup", misc::compile_gsb_lookup),
    ("gt", numeric::compile_gt),
    ("inspectfile", misc::compile_inspect_file),
    ("ipmatch", ip::compile_ip_match),
    ("ipmatchf", ip::compile_ip_match_from_file),
    ("ipmatchfromfile", ip::compile_ip_match_from_file),
    ("le", numeric::compile_le),
    ("lt", numeric::compile_lt),
    ("nomatch", misc::compile_no_match),
    ("pm", pm::compile_pm),
    ("pmf", pm::compile_pm_from_file),
    ("pmfromfile", pm::compile_pm_from_file),
    ("rbl", misc::compile_rbl),
    ("rsub", misc::compile_rsub),
    ("rx", rx::compile_rx),
    ("rxglobal", rx::compile_rx_global),
    ("streq", strings::compile_streq),
    ("strmatch", strings::compile_strmatch),
    ("unconditionalmatch", misc::compile_unconditional_match),
    ("validatebyterange", validate::compile_validate_byte_range),
    ("validatedtd", validate::compile_validate_dtd),
    ("validatehash", validate::compile_validate_hash),
    ("validateschema", validate::compile_validate_schema),
    (
        "validateurlencoding",
        validate::compile_validate_url_encoding,
    ),
    (
        "validateutf8encoding",
        validate::compile_validate_utf8_encoding,
    ),
    ("verifycc", verify::compile_verify_cc),
    ("verifycpf", verify::compile_verify_cpf),
    ("verifyssn", verify::compile_verify_ssn),
    ("verifysvnr", verify::compile_verify_svnr),
    ("within", strings::compile_within),
];

/// Whether `name` (without `@`, any case) is an operator this engine knows.
pub fn is_known(name: &str) -> bool {
    OPERATORS.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// Builds operator `@name` with parameter `param` (names are case-insensitive).
pub fn compile(name: &str, param: &str, ctx: &CompileCtx<'_>) -> Result<Box<dyn Operator>, String> {
    match OPERATORS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
        Some((_, build)) => build(param, ctx).map_err(|e| format!("@{name}: {e}")),
        None => Err(format!("unknown operator @{name}")),
    }
}

/// An operator parameter that may contain `%{...}` macros, expanded per evaluation.
#[derive(Debug, Clone)]
pub(crate) enum MacroParam {
    /// No macro: the bytes are used as they are.
    Static(Vec<u8>),
    /// Contains `%{`: expanded through `OperatorEnv::expand` each time.
    Dynamic(String),
}

impl MacroParam {
    /// Classifies `param` the way libmodsecurity's `RunTimeString` does.
    pub(crate) fn new(param: &str) -> Self {
        if has_macro(param) {
            MacroParam::Dynamic(param.to_owned())
        } else {
            MacroParam::Static(param.as_bytes().to_vec())
        }
    }

    /// The parameter's value for this evaluation.
    pub(crate) fn resolve<'a>(&'a self, env: &'a dyn OperatorEnv) -> Cow<'a, [u8]> {
        match self {
            MacroParam::Static(bytes) => Cow::Borrowed(bytes.as_slice()),
            MacroParam::Dynamic(text) => env.expand_param(text),
        }
    }
}

/// Whether `param` contains a `%{` macro reference.
pub(crate) fn has_macro(param: &str) -> bool {
    param.contains("%{")
}

/// Reads a data file named by an operator parameter, relative to the rule file's directory.
pub(crate) fn read_data_file(name: &str, ctx: &CompileCtx<'_>) -> Result<Vec<u8>, String> {
    if starts_with_ignore_case(name, "https://") || starts_with_ignore_case(name, "http://") {
        return Err(format!(
            "loading data from a URL ({name}) is not supported; download the file and \
             reference its path instead"
        ));
    }
    let path = Path::new(name);
    let full = if path.is_absolute() {
        path.to_path_buf()
    } else {
        ctx.base_dir.join(path)
    };
    std::fs::read(&full).map_err(|e| format!("failed to open file {}: {e}", full.display()))
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text
            .as_bytes()
            .iter()
            .zip(prefix.as_bytes())
            .all(|(a, b)| a.eq_ignore_ascii_case(b))
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Helpers shared by the operator unit tests.
    use super::{compile, Captures, CompileCtx, Operator, OperatorEnv};
    use std::collections::HashMap;
    use std::path::Path;

    /// An environment whose macros come from a map (`%{tx.a}` -> `vars["tx.a"]`).
    #[derive(Default)]
    pub(crate) struct MapEnv {
        pub(crate) vars: HashMap<String, String>,
        pub(crate) resolvable: Vec<String>,
        pub(crate) geo_calls: Vec<Vec<u8>>,
    }

    impl OperatorEnv for MapEnv {
        fn expand(&self, text: &str) -> String {
            let mut out = String::new();
            let mut rest = text;
            while let Some(start) = rest.find("%{") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 2..];
                match after.find('}') {
                    Some(end) => {
                        let key = after[..end].to_ascii_lowercase();
                        out.push_str(self.vars.get(&key).map(String::as_str).unwrap_or(""));
                        rest = &after[end + 1..];
                    }
                    None => {
                        out.push_str(&rest[start..]);
                        rest = "";
                    }
                }
            }
            out.push_str(rest);
            out
        }
        fn geo_lookup(&mut self, addr: &[u8]) -> bool {
            self.geo_calls.push(addr.to_vec());
            addr == b"1.2.3.4"
        }
        fn dns_resolves(&mut self, host: &str) -> bool {
            self.resolvable.iter().any(|h| h == host)
        }
    }

    pub(crate) fn op(name: &str, param: &str) -> Box<dyn Operator> {
        match compile(
            name,
            param,
            &CompileCtx {
                base_dir: Path::new("/"),
            },
        ) {
            Ok(op) => op,
            Err(e) => panic!("compile @{name} {param:?}: {e}"),
        }
    }

    pub(crate) fn eval(name: &str, param: &str, input: &[u8]) -> bool {
        op(name, param).evaluate(input, &mut MapEnv::default(), None)
    }

    /// Evaluates with `capture` and returns the set slots (`None` for unset ones).
    pub(crate) fn eval_captures(
        name: &str,
        param: &str,
        input: &[u8],
    ) -> (bool, Vec<Option<Vec<u8>>>) {
        let mut caps = Captures::default();
        let hit = op(name, param).evaluate(input, &mut MapEnv::default(), Some(&mut caps));
        (hit, set_slots(&caps))
    }

    /// The slots of `caps` (`None` for unset ones).
    pub(crate) fn set_slots(caps: &Captures) -> Vec<Option<Vec<u8>>> {
        (0..caps.groups.len())
            .map(|i| caps.is_set(i).then(|| caps.groups[i].clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::MapEnv;
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_unknown_is_an_error() {
        let ctx = CompileCtx {
            base_dir: Path::new("/"),
        };
        assert!(compile("RX", "a", &ctx).is_ok());
        assert!(compile("beginsWith", "a", &ctx).is_ok());
        let err = compile("nosuchop", "", &ctx).unwrap_err();
        assert!(err.contains("unknown operator @nosuchop"), "{err}");
        assert!(is_known("ValidateUtf8Encoding"));
        assert!(!is_known("foo"));
    }

    #[test]
    fn captures_set_tracks_unset_slots() {
        let mut c = Captures::default();
        c.set(0, b"whole");
        c.set(3, b"three");
        assert_eq!(c.groups.len(), 4);
        assert_eq!(c.unset, vec![1, 2]);
        c.set(1, b"one");
        assert_eq!(c.unset, vec![2]);
        let set: Vec<_> = c.iter_set().map(|(i, v)| (i, v.to_vec())).collect();
        assert_eq!(
            set,
            vec![
                (0, b"whole".to_vec()),
                (1, b"one".to_vec()),
                (3, b"three".to_vec())
            ]
        );
        c.clear();
        assert!(c.groups.is_empty() && c.unset.is_empty());
    }

    #[test]
    fn macro_param_expands_at_run_time() {
        let mut env = MapEnv::default();
        env.vars.insert("tx.a".into(), "xyz".into());
        let p = MacroParam::new("a%{tx.a}b");
        assert_eq!(&*p.resolve(&env), b"axyzb");
        let s = MacroParam::new("plain");
        assert_eq!(&*s.resolve(&env), b"plain");
    }

    #[test]
    fn operators_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + ?Sized>() {}
        assert_send_sync::<dyn Operator>();
        assert_send_sync::<Box<dyn Operator>>();
    }

    #[test]
    fn url_data_sources_are_rejected() {
        let ctx = CompileCtx {
            base_dir: Path::new("/"),
        };
        let err = compile("pmFromFile", "https://example.com/x.data", &ctx).unwrap_err();
        assert!(err.contains("not supported"), "{err}");
        let err = compile("pmFromFile", "no-such-file.data", &ctx).unwrap_err();
        assert!(err.contains("no-such-file.data"), "{err}");
    }
}
