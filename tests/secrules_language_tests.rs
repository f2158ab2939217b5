//! Every operator and transformation vector of ModSecurity's secrules-language-tests
//! (../shared/secrules-language-tests, or SLT_DIR) through Rampart's operators and
//! transformations. Prints `secrules-language-tests: N passed, M failed`; vectors we
//! knowingly disagree with are listed, with the reason, in tests/slt/known-differences.txt.

mod slt;

use std::path::PathBuf;

#[test]
fn secrules_language_tests() {
    let dir = std::env::var_os("SLT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/secrules-language-tests"));
    assert!(dir.join("operators").is_dir(), "secrules-language-tests not found at {} (set SLT_DIR)", dir.display());
    let t = slt::transformations::run(&dir.join("transformations"));
    let o = slt::operators::run(&dir.join("operators"));
    for f in t.failures.iter().chain(&o.failures) {
        println!("FAIL {f}");
    }
    for k in t.skipped_known.iter().chain(&o.skipped_known) {
        println!("known difference: {k}");
    }
    println!("transformations: {} passed, {} failed", t.passed, t.failed);
    println!("operators: {} passed, {} failed", o.passed, o.failed);
    println!(
        "secrules-language-tests: {} passed, {} failed ({} known differences listed in tests/slt/known-differences.txt)",
        t.passed + o.passed,
        t.failed + o.failed,
        t.skipped_known.len() + o.skipped_known.len()
    );
    assert!(t.passed > 300 && o.passed > 3000, "too few vectors ran");
    assert_eq!(t.failed + o.failed, 0);
}
