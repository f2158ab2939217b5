//! Runner for the SecRules Language Tests transformation vectors
//! (`secrules-language-tests/transformations/*.json`).
//!
//! Every vector `{name, input, output, ret, type: "tfn"}` is run through
//! `rampart::engine::transformations::lookup(name)` and the output compared byte for byte.
//!
//! How a vector's strings become bytes: exactly as libmodsecurity v3's own unit-test
//! harness does it (`test/unit/unit_test.cc`, `UnitTest::from_yajl_node` + `json2bin`), since
//! the expected outputs were validated against that harness:
//! 1. The JSON string is decoded (yajl): JSON escapes are resolved and every code point is
//!    encoded as UTF-8. So a raw or `\u00e9`-escaped `é` is the two bytes `C3 A9`, which is
//!    what the md5 ("진 마 리"), urlEncode (`%c3%80`...) and utf8toUnicode (`%u00d0%u0080`
//!    for U+00D0 U+0080) vectors expect; code points > 127 are never single bytes.
//! 2. The harness copies the value with `YAJL_GET_STRING` into a `std::string` built from
//!    a C string, so the value ends at its first real NUL (a JSON `\u0000`). This matters:
//!    e.g. the long cssDecode vector only holds for the truncated strings.
//! 3. `json2bin` then replaces, in the remaining text, each literal `\xHH` (backslash, `x`,
//!    two ASCII alphanumerics; the value is `sscanf("%x")` of them, truncated to a byte) and
//!    afterwards each literal `\uHHHH` (four alphanumerics, `sscanf("%4x")`, low byte).
//!    This applies to inputs and outputs alike (so a jsDecode input `\x41` reaches the
//!    transformation as `A`). Like the C++ code it takes the first match, replaces every
//!    occurrence of that exact text, and starts over. When the alphanumerics contain no
//!    leading hex digit, `sscanf` fails and the C variable is left uninitialised; this
//!    runner reuses the previous value of the pass (0 at first), which is what the C++
//!    code does in practice, and both sides of a vector always get the same byte.
//!
//! `ret`: in libmodsecurity v3's harness a `tfn` vector records `obtained = 1` and only the
//! output is compared; `ret` is ModSecurity v2's "value changed" flag (and is not even
//! consistent with that in these files, e.g. `hexDecode("")` has `ret: 1`). It is therefore
//! not checked.
//!
//! Vector names are mapped to SecLang names where they differ (`cmd_line` -> `cmdLine`, the
//! name libmodsecurity's transformation factory uses).
//!
//! Known differences are read from `known-differences.txt` next to this file: lines
//! `transformations <SecLang name> <JSON string of the raw vector input> : <reason>`. A
//! listed vector is reported in `skipped_known`; if it passes, that is a failure (the entry
//! is stale).

use std::path::{Path, PathBuf};

use rampart::engine::transformations::lookup;

use super::Report;

/// SecLang name for a vector's `name`.
fn seclang_name(vector_name: &str) -> &str {
    match vector_name {
        "cmd_line" => "cmdLine",
        "compress_whitespace" => "compressWhitespace",
        other => other,
    }
}

/// `sscanf(s, "%x")` over the escape's alphanumerics: `None` when there is no hex digit.
fn scan_hex(digits: &[u8]) -> Option<u32> {
    let n = digits.iter().take_while(|c| c.is_ascii_hexdigit()).count();
    if n == 0 {
        return None;
    }
    let text = std::str::from_utf8(digits.get(..n)?).ok()?;
    u32::from_str_radix(text, 16).ok()
}

/// Position of the first `\<letter>` followed by `width` ASCII alphanumerics.
fn find_escape(s: &[u8], letter: u8, width: usize) -> Option<usize> {
    (0..s.len()).find(|&p| {
        s.get(p) == Some(&b'\\')
            && s.get(p + 1) == Some(&letter)
            && s.get(p + 2..p + 2 + width)
                .is_some_and(|d| d.iter().all(u8::is_ascii_alphanumeric))
    })
}

fn find_from(s: &[u8], pat: &[u8], from: usize) -> Option<usize> {
    let hay = s.get(from..)?;
    hay.windows(pat.len())
        .position(|w| w == pat)
        .map(|p| p + from)
}

/// One `json2bin` pass (`\x` with 2 alphanumerics, or `\u` with 4).
fn replace_escapes(s: &mut Vec<u8>, letter: u8, width: usize) {
    let mut last = 0u32;
    while let Some(pos) = find_escape(s, letter, width) {
        let Some(pattern) = s.get(pos..pos + 2 + width).map(<[u8]>::to_vec) else {
            break;
        };
        if let Some(v) = pattern.get(2..).and_then(scan_hex) {
            last = v;
        }
        let byte = last as u8;
        let mut from = 0;
        while let Some(p) = find_from(s, &pattern, from) {
            s.splice(p..p + pattern.len(), [byte]);
            from = p;
        }
    }
}

/// A vector string as the libmodsecurity harness hands it to the transformation.
fn vector_bytes(s: &str) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    if let Some(nul) = b.iter().position(|&c| c == 0) {
        b.truncate(nul);
    }
    replace_escapes(&mut b, b'x', 2);
    replace_escapes(&mut b, b'u', 4);
    b
}

/// Printable form of bytes for failure messages.
fn show(b: &[u8]) -> String {
    let mut out = String::from("\"");
    for &c in b {
        match c {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(c as char),
            _ => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push('"');
    out
}

/// Parsed `known-differences.txt` entries for this suite: (SecLang name, raw input).
fn known_differences(path: &Path) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut entries = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("transformations ") else {
            continue;
        };
        let Some((name, rest)) = rest.trim_start().split_once(' ') else {
            continue;
        };
        let mut stream =
            serde_json::Deserializer::from_str(rest.trim_start()).into_iter::<String>();
        if let Some(Ok(input)) = stream.next() {
            entries.push((name.to_string(), input));
        }
    }
    entries
}

/// `known-differences.txt` next to this source file (`file!()` is relative to the package
/// root when this module is compiled as part of the crate's tests).
fn known_differences_path() -> PathBuf {
    let here = Path::new(file!());
    let here = if here.is_absolute() {
        here.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(here)
    };
    here.with_file_name("known-differences.txt")
}

/// Runs every vector file in `dir` and reports the results.
pub fn run(dir: &Path) -> Report {
    let mut report = Report::default();
    let known = known_differences(&known_differences_path());

    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
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
    if files.is_empty() {
        report.failed += 1;
        report
            .failures
            .push(format!("no vector files in {}", dir.display()));
    }

    for file in files {
        let fname = file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let vectors = match std::fs::read_to_string(&file)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).map_err(|e| e.to_string()))
        {
            Ok(serde_json::Value::Array(v)) => v,
            Ok(_) => {
                report.failed += 1;
                report.failures.push(format!("{fname}: not a JSON array"));
                continue;
            }
            Err(e) => {
                report.failed += 1;
                report.failures.push(format!("{fname}: {e}"));
                continue;
            }
        };
        for (idx, v) in vectors.iter().enumerate() {
            let field = |k: &str| v.get(k).and_then(serde_json::Value::as_str);
            let (Some(vname), Some(input), Some(output)) =
                (field("name"), field("input"), field("output"))
            else {
                report.failed += 1;
                report
                    .failures
                    .push(format!("{fname}[{idx}]: missing name/input/output"));
                continue;
            };
            if field("type") != Some("tfn") {
                report.failed += 1;
                report
                    .failures
                    .push(format!("{fname}[{idx}]: type is not \"tfn\""));
                continue;
            }
            let name = seclang_name(vname);
            let in_bytes = vector_bytes(input);
            let expected = vector_bytes(output);
            let got = lookup(name).map(|t| (t.func)(&in_bytes).into_owned());
            let ok = got.as_deref() == Some(expected.as_slice());
            let label = format!("{fname}[{idx}] t:{name} input={}", show(&in_bytes));
            let listed = known.iter().any(|(n, i)| n == name && i == input);
            if listed {
                if ok {
                    report.failed += 1;
                    report.failures.push(format!(
                        "{label}: listed in known-differences.txt but passes"
                    ));
                } else {
                    report.skipped_known.push(label);
                }
                continue;
            }
            if ok {
                report.passed += 1;
            } else {
                report.failed += 1;
                let got = match got {
                    Some(g) => show(&g),
                    None => "<unknown transformation>".to_string(),
                };
                report
                    .failures
                    .push(format!("{label} expected={} got={got}", show(&expected)));
            }
        }
    }
    report
}
