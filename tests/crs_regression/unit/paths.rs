//! Unit tests of `paths.rs`.

use crate::paths::*;
use std::path::{Path, PathBuf};

#[test]
fn discovers_runner_files() {
    let p = Paths::discover();
    let runner_dir = p.setup_conf.parent().expect("runner dir");
    assert!(
        runner_dir.join("main.rs").is_file(),
        "{}",
        runner_dir.display()
    );
    assert!(p.setup_conf.is_file());
    assert!(p.overrides_file.is_file());
    assert!(p.floor_file.is_file());
    let repo_root = p
        .base_conf
        .parent()
        .and_then(Path::parent)
        .expect("repo root");
    assert!(repo_root.join("Cargo.toml").is_file());
    assert!(p.crs_dir.join("rules").is_dir(), "{}", p.crs_dir.display());
    assert_eq!(
        normalize(Path::new("/a/b/../c/./d")),
        PathBuf::from("/a/c/d")
    );
}
