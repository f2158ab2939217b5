//! Runs a loaded suite: filter, overrides, sequential execution, early stop when the gateway is
//! gone.

use super::model::{LoadError, LoadedTest};
use super::overrides::{self, TestOverride};
use super::report::{Summary, TestResult};
use super::runner::{self, Target};

/// How many consecutive tests may fail without reaching the gateway before the run stops.
const MAX_CONSECUTIVE_UNREACHABLE: usize = 25;

/// What to run.
pub struct SuiteOptions<'a> {
    /// Only tests whose id matches (go-ftw's `--include`, an unanchored search).
    pub filter: Option<&'a regex::Regex>,
    /// Overrides to apply.
    pub overrides: &'a [TestOverride],
}

/// Runs `tests` against `target`. `health` is asked between tests whether the gateway is still
/// alive; `on_result` sees every result as it is produced.
pub fn run_suite(
    target: &Target,
    tests: &[LoadedTest],
    load_errors: &[LoadError],
    opts: &SuiteOptions<'_>,
    mut health: impl FnMut() -> Result<(), String>,
    mut on_result: impl FnMut(&TestResult, usize, usize),
) -> Summary {
    let mut summary = Summary::default();
    for e in load_errors {
        let r = TestResult {
            id: format!("file:{}", e.file.display()),
            reasons: vec![format!("cannot load: {}", e.message)],
            overrides: Vec::new(),
            file: e.file.display().to_string(),
        };
        on_result(&r, 0, 0);
        summary.results.push(r);
    }
    let selected: Vec<&LoadedTest> = tests
        .iter()
        .filter(|t| opts.filter.is_none_or(|re| re.is_match(&t.id())))
        .collect();
    summary.skipped = tests.len() - selected.len();
    let total = selected.len();
    let mut unreachable_streak = 0usize;
    for (index, test) in selected.into_iter().enumerate() {
        let mut test = test.clone();
        let applied = overrides::apply(opts.overrides, &mut test);
        let result = match summary.aborted.as_ref() {
            Some(reason) => TestResult {
                id: test.id(),
                reasons: vec![format!("not run: {reason}")],
                overrides: applied,
                file: file_name(&test),
            },
            None => {
                let outcome = runner::run_test(target, &test);
                let unreachable = outcome
                    .reasons
                    .iter()
                    .any(|r| r.contains("marker request failed") || r.contains("cannot connect"));
                unreachable_streak = if unreachable {
                    unreachable_streak + 1
                } else {
                    0
                };
                TestResult {
                    id: outcome.id,
                    reasons: outcome.reasons,
                    overrides: applied,
                    file: file_name(&test),
                }
            }
        };
        on_result(&result, index + 1, total);
        summary.results.push(result);
        if summary.aborted.is_none() {
            if let Err(e) = health() {
                summary.aborted = Some(e);
            } else if unreachable_streak >= MAX_CONSECUTIVE_UNREACHABLE {
                summary.aborted = Some(format!(
                    "{unreachable_streak} consecutive tests could not reach the gateway"
                ));
            }
        }
    }
    summary
}

/// The test file's path below the tests directory when possible (`REQUEST-920-.../920100.yaml`).
fn file_name(test: &LoadedTest) -> String {
    super::paths::file_label(&test.file)
}
