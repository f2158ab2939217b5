pub mod transformations;
pub mod operators;
#[derive(Debug, Default)] pub struct Report { pub passed: usize, pub failed: usize, pub failures: Vec<String>, pub skipped_known: Vec<String> }
