//! The go-ftw test file schema (coreruleset/ftw-tests-schema `types/types.go`) and its loading
//! rules (coreruleset/go-ftw `test/types.go`, `test/defaults.go`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

/// One YAML test file.
// Mirrors the schema; not every field changes what the runner does.
#[allow(dead_code)]
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TestFile {
    /// File metadata.
    #[serde(default)]
    pub meta: Meta,
    /// The rule the tests target; when absent, the first number in the file name.
    #[serde(default)]
    pub rule_id: Option<u64>,
    /// The test cases.
    #[serde(default)]
    pub tests: Vec<TestCase>,
}

/// `meta` of a test file.
// Mirrors the schema; not every field changes what the runner does.
#[allow(dead_code)]
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Meta {
    #[serde(default, deserialize_with = "opt_scalar")]
    pub author: Option<String>,
    #[serde(default, deserialize_with = "opt_scalar")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "opt_scalar")]
    pub description: Option<String>,
    /// Deprecated and ignored by go-ftw.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// One test case: a list of stages.
// Mirrors the schema; not every field changes what the runner does.
#[allow(dead_code)]
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TestCase {
    /// Explicit test id; when absent, the 1-based position in the file.
    #[serde(default)]
    pub test_id: Option<u64>,
    #[serde(default, deserialize_with = "opt_scalar")]
    pub desc: Option<String>,
    #[serde(default)]
    pub stages: Vec<Stage>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A stage: one request and its expectations. The deprecated form `- stage: {input, output}`
/// is accepted too.
// Mirrors the schema; not every field changes what the runner does.
#[allow(dead_code)]
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Stage {
    #[serde(default, deserialize_with = "opt_scalar")]
    pub description: Option<String>,
    #[serde(default)]
    pub input: Input,
    #[serde(default)]
    pub output: Output,
    /// Deprecated wrapper (`StageData`).
    #[serde(default)]
    pub stage: Option<StageData>,
}

/// Deprecated `stage:` wrapper.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StageData {
    #[serde(default)]
    pub input: Input,
    #[serde(default)]
    pub output: Output,
}

/// A header given as a list entry (`ordered_headers`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct HeaderTuple {
    #[serde(alias = "Name", deserialize_with = "scalar")]
    pub name: String,
    #[serde(alias = "Value", deserialize_with = "scalar")]
    pub value: String,
}

/// The request of a stage.
// Mirrors the schema; not every field changes what the runner does.
#[allow(dead_code)]
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Input {
    #[serde(default, deserialize_with = "opt_scalar")]
    pub dest_addr: Option<String>,
    #[serde(default)]
    pub port: Option<i64>,
    #[serde(default, deserialize_with = "opt_scalar")]
    pub protocol: Option<String>,
    #[serde(default, deserialize_with = "opt_scalar")]
    pub uri: Option<String>,
    #[serde(default)]
    pub uris: Option<Vec<String>>,
    #[serde(default)]
    pub follow_redirect: Option<bool>,
    #[serde(default, deserialize_with = "opt_scalar")]
    pub version: Option<String>,
    #[serde(default, deserialize_with = "opt_scalar")]
    pub method: Option<String>,
    /// Headers as a map; go-ftw sends them sorted by name.
    #[serde(default, deserialize_with = "opt_header_map")]
    pub headers: Option<BTreeMap<String, String>>,
    /// Headers in the order given (may repeat a name).
    #[serde(default)]
    pub ordered_headers: Option<Vec<HeaderTuple>>,
    #[serde(default, deserialize_with = "opt_scalar")]
    pub data: Option<String>,
    #[serde(default, deserialize_with = "opt_scalar")]
    pub encoded_data: Option<String>,
    #[serde(default)]
    pub save_cookie: Option<bool>,
    /// Deprecated inverse of `autocomplete_headers`.
    #[serde(default)]
    pub stop_magic: Option<bool>,
    #[serde(default)]
    pub autocomplete_headers: Option<bool>,
    #[serde(default, deserialize_with = "opt_scalar")]
    pub encoded_request: Option<String>,
    /// Backend response description (schema v3); not supported by this runner.
    #[serde(default)]
    pub response: Option<serde_yaml::Value>,
    #[serde(default)]
    pub virtual_host_mode: Option<bool>,
}

impl Input {
    /// go-ftw's `GetMethod`.
    pub fn method(&self) -> &str {
        self.method.as_deref().unwrap_or("GET")
    }

    /// go-ftw's `GetURI`.
    pub fn uri(&self) -> &str {
        self.uri.as_deref().unwrap_or("/")
    }

    /// go-ftw's `GetVersion`.
    pub fn version(&self) -> &str {
        self.version.as_deref().unwrap_or("HTTP/1.1")
    }

    /// go-ftw's `postProcessAutocompleteHeaders`: `autocomplete_headers` wins, then the inverse
    /// of `stop_magic`, default true.
    pub fn autocomplete(&self) -> bool {
        match (self.autocomplete_headers, self.stop_magic) {
            (Some(a), _) => a,
            (None, Some(stop)) => !stop,
            (None, None) => true,
        }
    }

    /// Fields of the schema this runner does not implement and that change the request.
    pub fn unsupported_fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.uris.as_ref().is_some_and(|u| !u.is_empty()) {
            out.push("uris");
        }
        if self.follow_redirect == Some(true) {
            out.push("follow_redirect");
        }
        if self.response.as_ref().is_some_and(|r| !r.is_null()) {
            out.push("response");
        }
        out
    }
}

/// Expected status: go-ftw's schema v2 has one integer; older files used a list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    /// The values as a list.
    pub fn to_vec(&self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// Expectations about the log.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct LogExpectations {
    #[serde(default, alias = "expect_id")]
    pub expect_ids: Option<OneOrMany<u64>>,
    #[serde(default, alias = "no_expect_id")]
    pub no_expect_ids: Option<OneOrMany<u64>>,
    #[serde(default, deserialize_with = "opt_scalar")]
    pub match_regex: Option<String>,
    #[serde(default, deserialize_with = "opt_scalar")]
    pub no_match_regex: Option<String>,
}

impl LogExpectations {
    /// Expected ids (empty when absent).
    pub fn expect_ids(&self) -> Vec<u64> {
        self.expect_ids
            .as_ref()
            .map(OneOrMany::to_vec)
            .unwrap_or_default()
    }

    /// Forbidden ids (empty when absent).
    pub fn no_expect_ids(&self) -> Vec<u64> {
        self.no_expect_ids
            .as_ref()
            .map(OneOrMany::to_vec)
            .unwrap_or_default()
    }

    /// Non-empty `match_regex`.
    pub fn match_regex(&self) -> Option<&str> {
        self.match_regex.as_deref().filter(|s| !s.is_empty())
    }

    /// Non-empty `no_match_regex`.
    pub fn no_match_regex(&self) -> Option<&str> {
        self.no_match_regex.as_deref().filter(|s| !s.is_empty())
    }
}

/// The expectations of a stage.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Output {
    #[serde(default)]
    pub status: Option<OneOrMany<i64>>,
    #[serde(default, deserialize_with = "opt_scalar")]
    pub response_contains: Option<String>,
    /// Deprecated: becomes `log.match_regex`.
    #[serde(default, deserialize_with = "opt_scalar")]
    pub log_contains: Option<String>,
    /// Deprecated: becomes `log.no_match_regex`.
    #[serde(default, deserialize_with = "opt_scalar")]
    pub no_log_contains: Option<String>,
    #[serde(default)]
    pub log: LogExpectations,
    /// Legacy placement of `log.expect_ids`.
    #[serde(default)]
    pub expect_ids: Option<OneOrMany<u64>>,
    /// Legacy placement of `log.no_expect_ids`.
    #[serde(default)]
    pub no_expect_ids: Option<OneOrMany<u64>>,
    #[serde(default)]
    pub expect_error: Option<bool>,
    #[serde(default)]
    pub retry_once: Option<bool>,
    #[serde(default)]
    pub isolated: Option<bool>,
}

impl Output {
    /// go-ftw's `postProcessLogContains` plus the legacy id placements.
    pub fn normalize(&mut self) {
        if self.log.expect_ids.is_none() {
            if let Some(ids) = self.expect_ids.take() {
                self.log.expect_ids = Some(ids);
            }
        }
        if self.log.no_expect_ids.is_none() {
            if let Some(ids) = self.no_expect_ids.take() {
                self.log.no_expect_ids = Some(ids);
            }
        }
        if let Some(contains) = self.log_contains.as_deref().filter(|s| !s.is_empty()) {
            if self.log.expect_ids.is_none() && self.log.match_regex().is_none() {
                self.log.match_regex = Some(contains.to_string());
            }
        }
        if let Some(contains) = self.no_log_contains.as_deref().filter(|s| !s.is_empty()) {
            if self.log.no_expect_ids.is_none() && self.log.no_match_regex().is_none() {
                self.log.no_match_regex = Some(contains.to_string());
            }
        }
    }

    /// Expected status codes (empty: no expectation; go-ftw treats 0 as none).
    pub fn statuses(&self) -> Vec<i64> {
        self.status
            .as_ref()
            .map(OneOrMany::to_vec)
            .unwrap_or_default()
            .into_iter()
            .filter(|s| *s != 0)
            .collect()
    }

    /// `expect_error: true`.
    pub fn expects_error(&self) -> bool {
        self.expect_error == Some(true)
    }
}

/// A test ready to run: ids resolved, stages flattened and normalized.
#[derive(Debug, Clone)]
pub struct LoadedTest {
    /// File the test comes from.
    pub file: PathBuf,
    pub rule_id: u64,
    pub test_id: u64,
    pub stages: Vec<LoadedStage>,
}

impl LoadedTest {
    /// `<rule id>-<test id>`, the id go-ftw filters and reports by.
    pub fn id(&self) -> String {
        format!("{}-{}", self.rule_id, self.test_id)
    }
}

/// One stage of a loaded test.
#[derive(Debug, Clone)]
pub struct LoadedStage {
    pub input: Input,
    pub output: Output,
}

/// A file that could not be loaded.
#[derive(Debug, Clone)]
pub struct LoadError {
    pub file: PathBuf,
    pub message: String,
}

/// Parses one test file (`file_name` is used for the rule-id fallback).
pub fn parse_test_file(text: &str, file: &Path) -> Result<Vec<LoadedTest>, String> {
    // An empty document (e.g. a file that is all comments) is an empty test file.
    let parsed: Option<TestFile> = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let parsed = parsed.unwrap_or_default();
    let rule_id = match parsed.rule_id.filter(|id| *id > 0) {
        Some(id) => id,
        None => rule_id_from_file_name(file)
            .ok_or_else(|| "rule_id is missing and the file name contains no number".to_string())?,
    };
    let mut tests = Vec::with_capacity(parsed.tests.len());
    for (index, case) in parsed.tests.into_iter().enumerate() {
        let test_id = case
            .test_id
            .filter(|id| *id > 0)
            .unwrap_or(index as u64 + 1);
        let stages = case
            .stages
            .into_iter()
            .map(|stage| {
                let (input, mut output) = match stage.stage {
                    Some(legacy) => (legacy.input, legacy.output),
                    None => (stage.input, stage.output),
                };
                output.normalize();
                LoadedStage { input, output }
            })
            .collect();
        tests.push(LoadedTest {
            file: file.to_path_buf(),
            rule_id,
            test_id,
            stages,
        });
    }
    Ok(tests)
}

/// go-ftw's fallback: the first run of digits in the file name.
fn rule_id_from_file_name(file: &Path) -> Option<u64> {
    let name = file.file_name()?.to_string_lossy().into_owned();
    let start = name.find(|c: char| c.is_ascii_digit())?;
    let digits: String = name
        .get(start..)?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// All `*.yaml`/`*.yml` files under `dir`, recursively, sorted by path.
pub fn find_test_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Loads every test file under `dir`; files that fail to parse are returned separately.
pub fn load_tests(dir: &Path) -> std::io::Result<(Vec<LoadedTest>, Vec<LoadError>)> {
    let mut tests = Vec::new();
    let mut errors = Vec::new();
    for file in find_test_files(dir)? {
        let result = std::fs::read_to_string(&file)
            .map_err(|e| e.to_string())
            .and_then(|text| parse_test_file(&text, &file));
        match result {
            Ok(mut t) => tests.append(&mut t),
            Err(message) => errors.push(LoadError { file, message }),
        }
    }
    Ok((tests, errors))
}

fn scalar_to_string(v: serde_yaml::Value) -> Result<Option<String>, String> {
    match v {
        serde_yaml::Value::Null => Ok(None),
        serde_yaml::Value::String(s) => Ok(Some(s)),
        serde_yaml::Value::Bool(b) => Ok(Some(b.to_string())),
        serde_yaml::Value::Number(n) => Ok(Some(n.to_string())),
        serde_yaml::Value::Tagged(t) => scalar_to_string(t.value),
        other => Err(format!("expected a scalar, found {other:?}")),
    }
}

/// A string field that also accepts numbers and booleans (Go's YAML decoder converts scalars).
fn opt_scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = serde_yaml::Value::deserialize(d)?;
    scalar_to_string(v).map_err(serde::de::Error::custom)
}

fn scalar<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(opt_scalar(d)?.unwrap_or_default())
}

fn opt_header_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    let v = serde_yaml::Value::deserialize(d)?;
    match v {
        serde_yaml::Value::Null => Ok(None),
        serde_yaml::Value::Mapping(m) => {
            let mut out = BTreeMap::new();
            for (k, v) in m {
                let key = scalar_to_string(k)
                    .map_err(serde::de::Error::custom)?
                    .unwrap_or_default();
                let value = scalar_to_string(v)
                    .map_err(serde::de::Error::custom)?
                    .unwrap_or_default();
                out.insert(key, value);
            }
            Ok(Some(out))
        }
        other => Err(serde::de::Error::custom(format!(
            "headers must be a mapping, found {other:?}"
        ))),
    }
}
