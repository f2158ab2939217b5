//! go-ftw platform overrides (coreruleset/ftw-tests-schema `types/overrides/types.go`,
//! go-ftw `test/types.go` `ApplyPlatformOverrides`): an entry names a rule, optionally test ids
//! and stage ids (0-based), a reason, and an `output` that replaces the stage's expectations.
//! An entry without `test_ids` applies to every test of the rule (as the schema documents),
//! without `stage_ids` to every stage.

use serde::Deserialize;

use super::model::{LoadedTest, Output};

/// An overrides file.
// Mirrors the schema; only `test_overrides` matters to the runner.
#[allow(dead_code)]
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OverridesFile {
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub meta: Option<serde_yaml::Value>,
    #[serde(default)]
    pub test_overrides: Option<Vec<TestOverride>>,
}

/// One entry of `test_overrides`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TestOverride {
    pub rule_id: u64,
    #[serde(default)]
    pub test_ids: Option<Vec<u64>>,
    #[serde(default)]
    pub stage_ids: Option<Vec<u64>>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub retry_once: Option<bool>,
    #[serde(default)]
    pub output: Output,
}

impl TestOverride {
    fn applies_to(&self, rule_id: u64, test_id: u64) -> bool {
        self.rule_id == rule_id
            && self
                .test_ids
                .as_ref()
                .is_none_or(|ids| ids.is_empty() || ids.contains(&test_id))
    }
}

/// Parses an overrides file (entries without a reason are accepted here; see
/// [`require_reasons`]).
pub fn parse_overrides(text: &str) -> Result<Vec<TestOverride>, String> {
    let parsed: Option<OverridesFile> = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let mut entries = parsed.and_then(|f| f.test_overrides).unwrap_or_default();
    for entry in &mut entries {
        entry.output.normalize();
    }
    Ok(entries)
}

/// Rejects entries without a non-empty reason (Rampart's rule: every override is justified).
pub fn require_reasons(entries: &[TestOverride]) -> Result<(), String> {
    let missing: Vec<String> = entries
        .iter()
        .filter(|e| e.reason.as_deref().is_none_or(|r| r.trim().is_empty()))
        .map(|e| match &e.test_ids {
            Some(ids) => format!("{} {:?}", e.rule_id, ids),
            None => e.rule_id.to_string(),
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "overrides without a reason: {}",
            missing.join(", ")
        ))
    }
}

/// Applies every matching entry to `test` (later entries win); returns the reasons of the
/// entries applied.
pub fn apply(entries: &[TestOverride], test: &mut LoadedTest) -> Vec<String> {
    let mut applied = Vec::new();
    let (rule_id, test_id) = (test.rule_id, test.test_id);
    for entry in entries.iter().filter(|e| e.applies_to(rule_id, test_id)) {
        for (index, stage) in test.stages.iter_mut().enumerate() {
            let selected = entry
                .stage_ids
                .as_ref()
                .is_none_or(|ids| ids.is_empty() || ids.contains(&(index as u64)));
            if selected {
                stage.output = entry.output.clone();
                if entry.retry_once.is_some() {
                    stage.output.retry_once = entry.retry_once;
                }
            }
        }
        applied.push(
            entry
                .reason
                .as_deref()
                .map(str::trim)
                .unwrap_or("")
                .to_string(),
        );
    }
    applied
}
