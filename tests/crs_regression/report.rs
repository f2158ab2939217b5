//! Results: failure lines, the closing summary, the JSON results file and the pass-count floor.

use std::path::Path;

/// The result of one test, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    /// `<rule>-<test>`, or `file:<path>` for a file that could not be loaded.
    pub id: String,
    /// Why it failed (empty: passed).
    pub reasons: Vec<String>,
    /// Reasons of the overrides applied to the test.
    pub overrides: Vec<String>,
    /// The test file.
    pub file: String,
}

impl TestResult {
    /// Whether the test passed.
    pub fn passed(&self) -> bool {
        self.reasons.is_empty()
    }

    /// `FAIL <id>: reason; reason`.
    pub fn failure_line(&self) -> String {
        format!("FAIL {}: {}", self.id, self.reasons.join("; "))
    }
}

/// The results of a run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// One entry per test run (and per unloadable file).
    pub results: Vec<TestResult>,
    /// Tests left out by the filter.
    pub skipped: usize,
    /// Set when the run was stopped early (the remaining tests are reported as failed).
    pub aborted: Option<String>,
}

impl Summary {
    /// Number of passed tests.
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed()).count()
    }

    /// Number of failed tests.
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    /// Number of tests with at least one override applied.
    pub fn overridden(&self) -> usize {
        self.results
            .iter()
            .filter(|r| !r.overrides.is_empty())
            .count()
    }

    /// The closing line: `N passed, N failed`.
    pub fn closing_line(&self) -> String {
        format!("{} passed, {} failed", self.passed(), self.failed())
    }

    /// The machine-readable results.
    pub fn to_json(&self, context: &[(&str, serde_json::Value)]) -> serde_json::Value {
        let mut tests = serde_json::Map::new();
        for r in &self.results {
            let mut entry = serde_json::Map::new();
            entry.insert(
                "result".to_string(),
                serde_json::Value::from(if r.passed() { "pass" } else { "fail" }),
            );
            if !r.passed() {
                entry.insert(
                    "reason".to_string(),
                    serde_json::Value::from(r.reasons.join("; ")),
                );
            }
            if !r.file.is_empty() {
                entry.insert("file".to_string(), serde_json::Value::from(r.file.clone()));
            }
            if !r.overrides.is_empty() {
                entry.insert(
                    "override".to_string(),
                    serde_json::Value::from(r.overrides.join("; ")),
                );
            }
            tests.insert(r.id.clone(), serde_json::Value::Object(entry));
        }
        let mut summary = serde_json::Map::new();
        summary.insert("passed".to_string(), self.passed().into());
        summary.insert("failed".to_string(), self.failed().into());
        summary.insert("skipped".to_string(), self.skipped.into());
        summary.insert("overridden".to_string(), self.overridden().into());
        if let Some(reason) = &self.aborted {
            summary.insert("aborted".to_string(), reason.clone().into());
        }
        for (k, v) in context {
            summary.insert((*k).to_string(), v.clone());
        }
        let mut root = serde_json::Map::new();
        root.insert("summary".to_string(), serde_json::Value::Object(summary));
        root.insert("tests".to_string(), serde_json::Value::Object(tests));
        serde_json::Value::Object(root)
    }
}

/// Writes `value` to `path` (creating the directory).
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    std::fs::write(path, text + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Parses the floor file: `#` comment lines and blank lines, then one number.
pub fn parse_floor(text: &str) -> Result<usize, String> {
    let mut numbers = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let first = numbers
        .next()
        .ok_or_else(|| "no number in the floor file".to_string())?;
    if numbers.next().is_some() {
        return Err("more than one number in the floor file".to_string());
    }
    first
        .parse()
        .map_err(|_| format!("invalid floor {first:?}"))
}
