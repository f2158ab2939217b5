//! Runner for the SecRules Language Tests operator vectors
//! (`secrules-language-tests/operators/*.json`).
//!
//! Every vector `{name, param, input, ret[, re_groups]}` is compiled with
//! `rampart::engine::operators::compile(name, param, base_dir = the operators directory)`,
//! evaluated once with `capture` on, and `ret` compared with the match result. When the
//! vector has `re_groups`, the capture slots `TX.0..` must equal that list (every slot set).
//!
//! How a vector's strings become bytes: exactly as libmodsecurity v3's unit-test harness
//! does it (`test/unit/unit_test.cc`, `UnitTest::from_yajl_node` + `json2bin`):
//! 1. The JSON string is decoded (yajl): JSON escapes are resolved and every code point is
//!    encoded as UTF-8, so `\u00d0` is the two bytes `C3 90`; code points > 127 are never
//!    single bytes. (The validateUtf8Encoding vectors made of `\u00XX` escapes are
//!    therefore valid UTF-8 whichever way they were meant, and `ret` is 0 for all of them.)
//! 2. The value is copied from a C string, so it ends at its first real NUL: the
//!    validateByteRange vector with input `\u0000` runs on the empty input (hence ret 0).
//! 3. `json2bin` replaces, in the input only, each literal `\xHH` (backslash, `x`, two ASCII
//!    alphanumerics, value `sscanf("%x")`) and then each literal `\uHHHH` (`sscanf("%4x")`,
//!    low byte) by one byte: the first match is found, every occurrence of that exact text
//!    is replaced, and the search starts over. A literal `\0` is left alone (two bytes), so
//!    the validateUtf8Encoding input `\\0\\xe4` is `5C 30 E4`. Parameters and `re_groups`
//!    only go through steps 1 and 2 (`re_groups` is not read by v3's harness at all).
//!
//! Other harness conventions reproduced here:
//! - pmFromFile parameters name `test-cases/secrules-language-tests/operators/op/...`,
//!   relative to ModSecurity's source tree; that prefix is removed so the file is found
//!   relative to the operators directory.
//! - v3's harness ignores the result of `Operator::init` and evaluates anyway; an operator
//!   whose initialisation failed then matches nothing. So a compile error counts as
//!   `ret: 0` (e.g. `@ipMatch 10.0.0.0/100`, which libmodsecurity also refuses to load).
//! - The test environment expands no macros (vectors have none) and has no geolocation
//!   database and no DNS: `@geoLookup` finds nothing, as in the ModSecurity build the
//!   geoLookup vectors (all `ret: 0`) were written for.
//!
//! Known differences are read from `known-differences.txt` next to this file: lines
//! `operators <name> <JSON string of the param> <JSON string of the input> : <reason>`,
//! the strings as written in the vector file. A listed vector is reported in
//! `skipped_known`; if it passes, that is a failure (the entry is stale).

use std::path::{Path, PathBuf};

use rampart::engine::operators::{compile, Captures, CompileCtx, OperatorEnv};

use super::Report;

/// Prefix of pmFromFile parameters in the vectors (ModSecurity's source-tree layout).
const HARNESS_PREFIX: &str = "test-cases/secrules-language-tests/operators/";

/// Environment of the vectors: no macros, no geolocation database, no DNS.
struct VectorEnv;

impl OperatorEnv for VectorEnv {
    fn expand(&self, text: &str) -> String {
        text.to_owned()
    }
    fn geo_lookup(&mut self, _addr: &[u8]) -> bool {
        false
    }
    fn dns_resolves(&mut self, _host: &str) -> bool {
        false
    }
}

/// Steps 1 and 2: UTF-8 bytes of the decoded JSON string, up to the first NUL.
fn c_string(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    match bytes.iter().position(|&b| b == 0) {
        Some(nul) => bytes.get(..nul).unwrap_or_default().to_vec(),
        None => bytes.to_vec(),
    }
}

/// `sscanf(s, "%x")` over the escape's alphanumerics: `None` when there is no hex digit.
fn scan_hex(digits: &[u8]) -> Option<u32> {
    let n = digits.iter().take_while(|c| c.is_ascii_hexdigit()).count();
    if n == 0 {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(digits.get(..n)?).ok()?, 16).ok()
}

/// One `json2bin` loop for `\<letter>` + `width` alphanumerics.
fn replace_escapes(s: &mut Vec<u8>, letter: u8, width: usize) {
    let mut last = 0u32;
    loop {
        let found = (0..s.len()).find(|&p| {
            s.get(p) == Some(&b'\\')
                && s.get(p + 1) == Some(&letter)
                && s.get(p + 2..p + 2 + width)
                    .is_some_and(|d| d.iter().all(u8::is_ascii_alphanumeric))
        });
        let Some(at) = found else { break };
        let token: Vec<u8> = s.get(at..at + 2 + width).unwrap_or_default().to_vec();
        // When sscanf fails the C variable keeps its previous value.
        let value = scan_hex(token.get(2..).unwrap_or_default()).unwrap_or(last);
        last = value;
        let byte = (value & 0xFF) as u8;
        // replaceAll: every occurrence of the token, left to right, from the start.
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            if s.get(i..i + token.len()) == Some(token.as_slice()) {
                out.push(byte);
                i += token.len();
            } else {
                out.push(s.get(i).copied().unwrap_or_default());
                i += 1;
            }
        }
        *s = out;
    }
}

/// Bytes of a vector input (steps 1 to 3).
fn input_bytes(s: &str) -> Vec<u8> {
    let mut b = c_string(s);
    replace_escapes(&mut b, b'x', 2);
    replace_escapes(&mut b, b'u', 4);
    b
}

fn show(b: &[u8]) -> String {
    let mut out = String::new();
    for &c in b {
        if (0x20..0x7F).contains(&c) && c != b'\\' && c != b'"' {
            out.push(char::from(c));
        } else {
            out.push_str(&format!("\\x{c:02x}"));
        }
    }
    format!("\"{out}\"")
}

/// `known-differences.txt` next to this source file.
fn known_differences_path() -> PathBuf {
    let here = Path::new(file!());
    let here = if here.is_absolute() {
        here.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(here)
    };
    here.with_file_name("known-differences.txt")
}

/// Entries for this suite: (name, raw param, raw input).
fn known_differences(path: &Path) -> Vec<(String, String, String)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut entries = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("operators ") else {
            continue;
        };
        let Some((name, rest)) = rest.split_once(' ') else {
            continue;
        };
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<String>();
        let (Some(Ok(param)), Some(Ok(input))) = (stream.next(), stream.next()) else {
            continue;
        };
        entries.push((name.to_owned(), param, input));
    }
    entries
}

/// Outcome of one vector.
enum Outcome {
    Pass,
    Fail(String),
}

fn run_vector(
    dir: &Path,
    name: &str,
    param: &str,
    input: &str,
    ret: i64,
    groups: Option<&[String]>,
) -> Outcome {
    let mut param_text = String::from_utf8_lossy(&c_string(param)).into_owned();
    if let Some(stripped) = param_text.strip_prefix(HARNESS_PREFIX) {
        param_text = stripped.to_owned();
    }
    let input = input_bytes(input);
    let ctx = CompileCtx { base_dir: dir };
    let op = match compile(name, &param_text, &ctx) {
        Ok(op) => op,
        Err(e) => {
            return if ret == 0 {
                Outcome::Pass
            } else {
                Outcome::Fail(format!("compile error: {e}"))
            };
        }
    };
    let mut caps = Captures::default();
    let got = op.evaluate(&input, &mut VectorEnv, Some(&mut caps));
    if i64::from(got) != ret {
        return Outcome::Fail(format!("expected ret {ret}, got {}", i64::from(got)));
    }
    if let Some(expected) = groups {
        let expected: Vec<Vec<u8>> = expected.iter().map(|g| c_string(g)).collect();
        let all_set = caps.unset.is_empty();
        if !all_set || caps.groups != expected {
            let got: Vec<String> = (0..caps.groups.len())
                .map(|i| {
                    if caps.is_set(i) {
                        show(caps.groups.get(i).map(Vec::as_slice).unwrap_or_default())
                    } else {
                        "<unset>".to_owned()
                    }
                })
                .collect();
            let want: Vec<String> = expected.iter().map(|g| show(g)).collect();
            return Outcome::Fail(format!(
                "captures: expected [{}], got [{}]",
                want.join(", "),
                got.join(", ")
            ));
        }
    }
    Outcome::Pass
}

/// Runs every vector file in `dir` and reports the results.
pub fn run(dir: &Path) -> Report {
    let mut report = Report::default();
    let known = known_differences(&known_differences_path());
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect(),
        Err(e) => {
            report.failed += 1;
            report
                .failures
                .push(format!("cannot read {}: {e}", dir.display()));
            return report;
        }
    };
    files.sort();
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                report.failed += 1;
                report
                    .failures
                    .push(format!("cannot read {}: {e}", file.display()));
                continue;
            }
        };
        let vectors: Vec<serde_json::Value> = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                report.failed += 1;
                report
                    .failures
                    .push(format!("cannot parse {}: {e}", file.display()));
                continue;
            }
        };
        for v in &vectors {
            let name = v.get("name").and_then(|x| x.as_str()).unwrap_or_default();
            let param = v.get("param").and_then(|x| x.as_str()).unwrap_or_default();
            let input = v.get("input").and_then(|x| x.as_str()).unwrap_or_default();
            let ret = v.get("ret").and_then(|x| x.as_i64()).unwrap_or(-1);
            let groups: Option<Vec<String>> = v.get("re_groups").and_then(|g| {
                g.as_array().map(|a| {
                    a.iter()
                        .map(|x| x.as_str().unwrap_or_default().to_owned())
                        .collect()
                })
            });
            let label = format!(
                "{name} param={} input={}",
                serde_json::to_string(param).unwrap_or_default(),
                serde_json::to_string(input).unwrap_or_default()
            );
            let listed = known
                .iter()
                .any(|(n, p, i)| n == name && p == param && i == input);
            let outcome = run_vector(dir, name, param, input, ret, groups.as_deref());
            match (outcome, listed) {
                (Outcome::Pass, false) => report.passed += 1,
                (Outcome::Pass, true) => {
                    report.failed += 1;
                    report.failures.push(format!(
                        "{label}: listed in known-differences.txt but passes"
                    ));
                }
                (Outcome::Fail(_), true) => report.skipped_known.push(label),
                (Outcome::Fail(why), false) => {
                    report.failed += 1;
                    report.failures.push(format!("{label}: {why}"));
                }
            }
        }
    }
    report
}
