//! Tests against the OWASP Core Rule Set: every operator of every CRS rule compiles, and
//! the rules written with `\x{hh}` bytes >= 0x80 match the bytes they target.
//!
//! The CRS checkout is `$CRS_DIR`, or `shared/crs` next to the repository.

use std::path::{Path, PathBuf};

use super::test_support::MapEnv;
use super::{compile, Captures, CompileCtx, Operator};

fn crs_rules_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CRS_DIR") {
        return PathBuf::from(dir).join("rules");
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    // `file!()` is relative to the package root, or absolute when compiled from elsewhere
    // (joining then keeps it as it is, which is intended).
    #[allow(clippy::join_absolute_paths)]
    let here = manifest.join(file!());
    let repo = here
        .ancestors()
        .nth(4)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf());
    repo.join("../shared/crs/rules")
}

/// One `SecRule` of a CRS file.
struct CrsRule {
    file: String,
    line: usize,
    id: Option<String>,
    /// The operator argument with `\"` unescaped (e.g. `@rx ^a"b`, `!@pm x y`).
    operator: String,
}

/// Reads `SecRule VARIABLES "OPERATOR" ...` lines (continuations joined).
fn crs_rules() -> Vec<CrsRule> {
    let dir = crs_rules_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("CRS rules not found at {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    let mut rules = Vec::new();
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut logical = String::new();
        let mut start_line = 0;
        for (n, raw) in text.lines().enumerate() {
            if logical.is_empty() {
                start_line = n + 1;
            }
            if let Some(body) = raw.strip_suffix('\\') {
                logical.push_str(body);
                continue;
            }
            logical.push_str(raw);
            let line = std::mem::take(&mut logical);
            if let Some(operator) = parse_operator(line.trim_start()) {
                let id = line.find("id:").map(|i| {
                    line[i + 3..]
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>()
                });
                rules.push(CrsRule {
                    file: name.clone(),
                    line: start_line,
                    id,
                    operator,
                });
            }
        }
    }
    rules
}

/// The operator argument of a `SecRule` line.
fn parse_operator(line: &str) -> Option<String> {
    let rest = line.strip_prefix("SecRule")?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim_start();
    // Variables: a quoted string or a run of non-blanks.
    let rest = if let Some(q) = rest.strip_prefix('"') {
        let end = quoted_end(q)?;
        &q[end + 1..]
    } else {
        let end = rest.find([' ', '\t'])?;
        &rest[end..]
    };
    let rest = rest.trim_start().strip_prefix('"')?;
    let end = quoted_end(rest)?;
    Some(rest[..end].replace("\\\"", "\""))
}

/// Index of the closing quote in `s` (which starts after the opening one).
fn quoted_end(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Splits `[!]@name param` (a bare argument is `@rx`).
fn split_operator(op: &str) -> (String, String) {
    let op = op.strip_prefix('!').unwrap_or(op);
    match op.strip_prefix('@') {
        Some(rest) => match rest.split_once(' ') {
            Some((name, param)) => (name.to_owned(), param.to_owned()),
            None => (rest.to_owned(), String::new()),
        },
        None => ("rx".to_owned(), op.to_owned()),
    }
}

fn describe(r: &CrsRule) -> String {
    format!(
        "{}:{} (id {})",
        r.file,
        r.line,
        r.id.as_deref().unwrap_or("?")
    )
}

#[test]
fn every_crs_rx_pattern_compiles() {
    let rules = crs_rules();
    let mut count = 0;
    let mut failures = Vec::new();
    for r in &rules {
        let (name, param) = split_operator(&r.operator);
        if !name.eq_ignore_ascii_case("rx") {
            continue;
        }
        count += 1;
        let ctx = CompileCtx {
            base_dir: Path::new("/"),
        };
        if let Err(e) = compile(&name, &param, &ctx) {
            failures.push(format!("{}: {e}", describe(r)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} patterns fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        count >= 300,
        "only {count} @rx patterns found; the extractor is broken"
    );
}

#[test]
fn every_crs_operator_compiles() {
    let rules = crs_rules();
    let dir = crs_rules_dir();
    let ctx = CompileCtx { base_dir: &dir };
    let mut names = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for r in &rules {
        let (name, param) = split_operator(&r.operator);
        names.insert(name.clone());
        if let Err(e) = compile(&name, &param, &ctx) {
            failures.push(format!("{}: {e}", describe(r)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for expected in [
        "rx",
        "pm",
        "pmFromFile",
        "within",
        "validateByteRange",
        "detectSQLi",
        "ipMatch",
    ] {
        assert!(
            names.contains(expected),
            "no @{expected} found in CRS: {names:?}"
        );
    }
}

/// The operator of rule `id` (the first one when the rule is a chain).
fn rule_operator(rules: &[CrsRule], id: &str) -> Box<dyn Operator> {
    let r = rules
        .iter()
        .find(|r| r.id.as_deref() == Some(id))
        .unwrap_or_else(|| panic!("rule {id} not found"));
    let (name, param) = split_operator(&r.operator);
    compile(
        &name,
        &param,
        &CompileCtx {
            base_dir: &crs_rules_dir(),
        },
    )
    .unwrap_or_else(|e| panic!("{id}: {e}"))
}

fn matches(op: &dyn Operator, input: &[u8]) -> bool {
    op.evaluate(input, &mut MapEnv::default(), None)
}

#[test]
fn crs_brace_byte_rules_match_their_bytes() {
    let rules = crs_rules();

    // 942432 and friends count SQL special characters, including the UTF-8 encodings of
    // U+00B4 (C2 B4) and U+2018/U+2019 (E2 80 98/99).
    let r942432 = rule_operator(&rules, "942432");
    assert!(matches(&*r942432, b"a\xc2\xb4b\xc2\xb4c"));
    assert!(matches(&*r942432, b"a\xe2\x80\x98b\xe2\x80\x99c"));
    assert!(!matches(&*r942432, b"a\xc2b\xb4c"));
    assert!(!matches(&*r942432, b"plain text"));
    let mut caps = Captures::default();
    assert!(r942432.evaluate(
        b"x\xc2\xb4y\xc2\xb4z",
        &mut MapEnv::default(),
        Some(&mut caps)
    ));
    assert_eq!(
        caps.groups.first().map(Vec::as_slice),
        Some(&b"\xc2\xb4y\xc2\xb4"[..])
    );
    let r942430 = rule_operator(&rules, "942430");
    let twelve = "\u{b4}".repeat(12);
    assert!(matches(&*r942430, twelve.as_bytes()));
    assert!(!matches(&*r942430, "\u{b4}".repeat(11).as_bytes()));

    // 941310: US-ASCII-encoded XSS, "<" and ">" with the high bit set (BC ... BE).
    let r941310 = rule_operator(&rules, "941310");
    assert!(matches(&*r941310, b"\xbcscript\xbealert(1)"));
    assert!(matches(&*r941310, b"<script\xbe"));
    assert!(!matches(&*r941310, b"<script>"));

    // 933180: PHP variable names may use the bytes 0x7F-0xFF.
    let r933180 = rule_operator(&rules, "933180");
    assert!(matches(&*r933180, b"$\xe9t\xe9()"));
    assert!(!matches(&*r933180, b"$ ()"));

    // 934120: SSRF host written with circled digits (U+2460 = E2 91 A0).
    let r934120 = rule_operator(&rules, "934120");
    assert!(matches(
        &*r934120,
        b"http://\xe2\x91\xa0\xe2\x91\xa1\xe3\x80\x82\xe2\x91\xa2"
    ));
    assert!(!matches(&*r934120, b"http://example.com/"));
}

#[test]
fn extractor_handles_quotes() {
    assert_eq!(
        parse_operator(r#"SecRule ARGS "@rx a\"b" "id:1""#).as_deref(),
        Some("@rx a\"b")
    );
    assert_eq!(
        parse_operator(r#"SecRule "ARGS|XML:/*" "!@pm x y" "id:1""#).as_deref(),
        Some("!@pm x y")
    );
    assert_eq!(parse_operator("SecRuleEngine On"), None);
    assert_eq!(split_operator("!@rx a b"), ("rx".into(), "a b".into()));
    assert_eq!(split_operator("^abc"), ("rx".into(), "^abc".into()));
    assert_eq!(
        split_operator("@detectSQLi"),
        ("detectSQLi".into(), String::new())
    );
}

/// Every string of a go-ftw YAML document (inputs, and the titles and descriptions, which
/// often quote payloads).
fn yaml_strings(v: &serde_yaml::Value, out: &mut Vec<String>) {
    match v {
        serde_yaml::Value::String(s) => out.push(s.clone()),
        serde_yaml::Value::Sequence(items) => items.iter().for_each(|i| yaml_strings(i, out)),
        serde_yaml::Value::Mapping(m) => m.iter().for_each(|(k, v)| {
            yaml_strings(k, out);
            yaml_strings(v, out);
        }),
        serde_yaml::Value::Tagged(t) => yaml_strings(&t.value, out),
        _ => {}
    }
}

/// The byte clauses checked before a regex search never reject a text the regex matches:
/// every CRS `@rx` pattern with clauses against the payloads of its category's regression
/// tests (as written, `t:urlDecode`d once and twice, lower-cased).
#[test]
fn crs_byte_clauses_never_reject_a_match() {
    use super::pcre::Pcre;
    let rules = crs_rules();
    let tests_dir = crs_rules_dir().join("../tests/regression/tests");
    let url_decode = crate::engine::transformations::lookup("urlDecode").expect("t:urlDecode").func;
    let mut corpora: std::collections::HashMap<String, Vec<Vec<u8>>> = std::collections::HashMap::new();
    let (mut checked, mut matched) = (0usize, 0usize);
    for r in &rules {
        let (name, param) = split_operator(&r.operator);
        if !name.eq_ignore_ascii_case("rx") || param.contains("%{") {
            continue;
        }
        let Ok(re) = Pcre::new(&param) else { continue };
        if re.byte_clauses().describe().is_empty() {
            continue;
        }
        let category = r.file.trim_end_matches(".conf").to_string();
        let corpus = corpora.entry(category.clone()).or_insert_with(|| {
            let mut texts: Vec<Vec<u8>> = Vec::new();
            let Ok(entries) = std::fs::read_dir(tests_dir.join(&category)) else { return texts };
            for e in entries.flatten() {
                let Ok(text) = std::fs::read_to_string(e.path()) else { continue };
                let Ok(doc) = serde_yaml::from_str::<serde_yaml::Value>(&text) else { continue };
                let mut strings = Vec::new();
                yaml_strings(&doc, &mut strings);
                for s in strings {
                    let once = url_decode(s.as_bytes()).into_owned();
                    let twice = url_decode(&once).into_owned();
                    texts.push(twice.to_ascii_lowercase());
                    texts.push(twice);
                    texts.push(once);
                    texts.push(s.into_bytes());
                }
            }
            texts.sort();
            texts.dedup();
            texts
        });
        checked += 1;
        for t in corpus.iter() {
            if re.search_match(t) {
                matched += 1;
                assert!(
                    !re.byte_clauses().rule_out(t),
                    "{}: clauses {:?} reject {:?}, which the pattern matches",
                    describe(r),
                    re.byte_clauses().describe().iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>(),
                    String::from_utf8_lossy(t)
                );
            }
        }
    }
    assert!(checked >= 100, "only {checked} CRS patterns have byte clauses");
    assert!(matched >= 2000, "only {matched} matching payloads checked");
    println!("byte clauses: {checked} CRS patterns, {matched} matching payloads, none rejected");
}
