//! Where the runner finds its inputs and writes its outputs.

use std::path::{Path, PathBuf};

/// Resolved locations (environment variables override the defaults).
#[derive(Debug, Clone)]
pub struct Paths {
    /// The CRS checkout: `CRS_DIR`, default `<repo>/../shared/crs`.
    pub crs_dir: PathBuf,
    /// The go-ftw test files: `CRS_TESTS_DIR`, default `<CRS_DIR>/tests/regression/tests`
    /// (or the shared checkout's when `CRS_DIR` has no tests).
    pub tests_dir: PathBuf,
    /// Rampart's base configuration, included first.
    pub base_conf: PathBuf,
    /// The suite's setup (rule 900005, marker rule 999999).
    pub setup_conf: PathBuf,
    /// Rampart's go-ftw overrides file.
    pub overrides_file: PathBuf,
    /// The recorded minimum pass count.
    pub floor_file: PathBuf,
    /// Cargo's target directory (`CARGO_TARGET_DIR`, default `<manifest>/target`).
    pub target_dir: PathBuf,
}

impl Paths {
    /// Resolves all paths from the source location and the environment.
    pub fn discover() -> Paths {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        // `file!()` is relative to the package root when the file is inside it and absolute
        // otherwise; joining handles both (replacing `manifest` is intended in the second case).
        #[allow(clippy::join_absolute_paths)]
        let this_file = manifest.join(file!());
        let runner_dir = this_file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| manifest.join("tests").join("crs_regression"));
        let repo_root = runner_dir
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| manifest.to_path_buf());
        let crs_dir =
            env_path("CRS_DIR").unwrap_or_else(|| normalize(&repo_root.join("../shared/crs")));
        // A CRS installation without its tests (e.g. a distribution package) falls back to
        // the shared checkout's tests.
        let tests_dir = env_path("CRS_TESTS_DIR").unwrap_or_else(|| {
            let own = crs_dir.join("tests/regression/tests");
            let shared = normalize(&repo_root.join("../shared/crs/tests/regression/tests"));
            if !own.is_dir() && shared.is_dir() {
                shared
            } else {
                own
            }
        });
        let target_dir = env_path("CARGO_TARGET_DIR").unwrap_or_else(|| manifest.join("target"));
        Paths {
            base_conf: repo_root.join("conf/modsecurity.conf"),
            setup_conf: runner_dir.join("crs-regression-setup.conf"),
            overrides_file: runner_dir.join("rampart-overrides.yaml"),
            floor_file: runner_dir.join("floor.txt"),
            crs_dir,
            tests_dir,
            target_dir,
        }
    }

    /// The machine-readable results file.
    pub fn results_file(&self) -> PathBuf {
        self.target_dir.join("crs-regression-results.json")
    }

    /// Scratch directory of a run (generated configuration, error log, gateway output).
    pub fn work_dir(&self) -> PathBuf {
        self.target_dir.join("crs-regression")
    }
}

/// A test file's last two path components (`REQUEST-942-.../942100.yaml`), as reports name it.
pub fn file_label(path: &Path) -> String {
    let parts: Vec<String> = path
        .components()
        .rev()
        .take(2)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.into_iter().rev().collect::<Vec<_>>().join("/")
}

/// A non-blank environment variable.
pub fn env_string(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A numeric environment variable, `default` when unset; an error names it when it is not
/// a number.
pub fn env_number(name: &str, default: u64) -> Result<u64, String> {
    match env_string(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("{name} must be a number, got {v:?}")),
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Removes `.` and `..` components lexically (no symlink resolution).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}
