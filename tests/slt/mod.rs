//! Runners for the secrules-language-tests vectors (operators and transformations).

pub mod operators;
pub mod transformations;

/// Outcome of one runner.
#[derive(Debug, Default)]
pub struct Report {
    pub passed: usize,
    pub failed: usize,
    pub failures: Vec<String>,
    /// Vectors listed in tests/slt/known-differences.txt (with the reason there).
    pub skipped_known: Vec<String>,
}
