//! Loads the whole OWASP CRS through `Include`s and checks it against an independent count.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::super::super::ast::DirectiveKind;
use super::super::{is_known_directive, load_file};
use super::TempDir;

/// The CRS checkout: `$RAMPART_CRS_DIR`, `<crate>/crs`, `<crate>/../shared/crs` or
/// `/work/shared/crs`, the first that holds `rules/`.
fn crs_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("RAMPART_CRS_DIR").map(PathBuf::from),
        Some(manifest.join("crs")),
        Some(manifest.join("../shared/crs")),
        Some(PathBuf::from("/work/shared/crs")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.join("rules").is_dir() && d.join("crs-setup.conf.example").is_file())
        .unwrap_or_else(|| panic!("CRS not found (set RAMPART_CRS_DIR)"))
}

/// Files of `dir` whose name ends with `suffix`, sorted: what the globs must find.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(suffix))
        })
        .collect();
    v.sort();
    v
}

/// Grep-style count: lines whose first word is SecRule / SecAction / SecMarker, and
/// lines whose first word is any directive name (the last element).
fn grep_count(files: &[PathBuf]) -> [usize; 4] {
    let mut counts = [0; 4];
    for f in files {
        let bytes = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let text = String::from_utf8_lossy(&bytes);
        for line in text.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            for (i, word) in ["SecRule", "SecAction", "SecMarker"].iter().enumerate() {
                if first.eq_ignore_ascii_case(word) {
                    counts[i] += 1;
                }
            }
            if is_known_directive(first) {
                counts[3] += 1;
            }
        }
    }
    counts
}

#[test]
fn loads_all_of_crs_with_the_grep_count() {
    let crs = crs_dir();
    let tmp = TempDir::new("crs");
    let main = tmp.write(
        "main.conf",
        &format!(
            "Include {0}/crs-setup.conf.example\n\
             Include {0}/plugins/*-config.conf\n\
             Include {0}/plugins/*-before.conf\n\
             Include {0}/rules/*.conf\n\
             Include {0}/plugins/*-after.conf\n",
            crs.display()
        ),
    );

    let start = Instant::now();
    let directives = load_file(&main).unwrap_or_else(|e| panic!("CRS failed to load: {e}"));
    let elapsed = start.elapsed();
    eprintln!(
        "loaded {} CRS directives in {:.1} ms",
        directives.len(),
        elapsed.as_secs_f64() * 1000.0
    );

    let mut files = vec![crs.join("crs-setup.conf.example")];
    files.extend(files_ending(&crs.join("plugins"), "-config.conf"));
    files.extend(files_ending(&crs.join("plugins"), "-before.conf"));
    files.extend(files_ending(&crs.join("rules"), ".conf"));
    files.extend(files_ending(&crs.join("plugins"), "-after.conf"));
    let expected = grep_count(&files);

    let mut got = [0, 0, 0, directives.len()];
    for d in &directives {
        match d.kind {
            DirectiveKind::SecRule { .. } => got[0] += 1,
            DirectiveKind::SecAction { .. } => got[1] += 1,
            DirectiveKind::SecMarker { .. } => got[2] += 1,
            _ => {}
        }
    }
    assert_eq!(
        got, expected,
        "[SecRule, SecAction, SecMarker, all] parsed vs grep"
    );
    assert!(expected[0] > 500, "suspiciously few SecRules: {expected:?}");

    // Directives come in file order: the first one is from crs-setup, the last SecRule
    // from the last rules file.
    let rules_files = files_ending(&crs.join("rules"), ".conf");
    let last_rules_file = rules_files.last().map(|p| p.display().to_string());
    let last_rule = directives
        .iter()
        .rev()
        .find(|d| matches!(d.kind, DirectiveKind::SecRule { .. }));
    assert_eq!(last_rule.map(|d| d.loc.file.to_string()), last_rules_file);
    assert!(directives[0].loc.file.ends_with("crs-setup.conf.example"));

    // Every rule that is not a chain link has an id, and ids are unique.
    let mut ids = std::collections::HashSet::new();
    let mut chained = false;
    for d in &directives {
        let actions = match &d.kind {
            DirectiveKind::SecRule { actions, .. } | DirectiveKind::SecAction { actions } => {
                actions
            }
            _ => continue,
        };
        let id = actions.iter().find(|a| a.name == "id");
        if !chained {
            let id = id.unwrap_or_else(|| panic!("rule without id at {}", d.loc));
            let value = id.value.clone().unwrap_or_default();
            assert!(
                value.parse::<u64>().is_ok(),
                "bad id {value:?} at {}",
                d.loc
            );
            assert!(
                ids.insert(value.clone()),
                "duplicate id {value} at {}",
                d.loc
            );
        }
        chained = actions.iter().any(|a| a.name == "chain");
    }
    assert!(ids.contains("942100") && ids.contains("949110") && ids.contains("980170"));
}
