//! Unit tests of `gateway.rs`.

use crate::gateway::*;
use crate::paths::Paths;
use std::path::PathBuf;
use std::time::Duration;

#[test]
fn includes_in_crs_order() {
    let p = Paths::discover();
    let dir = std::env::temp_dir().join(format!("crs-gw-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let base = dir.join("base.conf");
    std::fs::write(&base, "").expect("write");
    let files = include_list(&base, &p.setup_conf, &p.crs_dir).expect("includes");
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            f.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(names[0], "base.conf");
    assert_eq!(names[1], "crs-regression-setup.conf");
    assert_eq!(names[2], "crs-setup.conf.example");
    let pos = |n: &str| {
        names
            .iter()
            .position(|x| x == n)
            .unwrap_or_else(|| panic!("{n} missing"))
    };
    assert!(pos("empty-config.conf") < pos("empty-before.conf"));
    assert!(pos("empty-before.conf") < pos("REQUEST-901-INITIALIZATION.conf"));
    assert!(pos("REQUEST-901-INITIALIZATION.conf") < pos("REQUEST-949-BLOCKING-EVALUATION.conf"));
    assert!(pos("RESPONSE-980-CORRELATION.conf") < pos("empty-after.conf"));
    assert_eq!(names.last().map(String::as_str), Some("empty-after.conf"));
    let text = main_conf_text(&files);
    assert!(text
        .lines()
        .nth(1)
        .is_some_and(|l| l.starts_with("Include /") && l.ends_with("base.conf")));
    assert!(main_conf_text(&[PathBuf::from("/a b/c.conf")]).contains("Include \"/a b/c.conf\""));
    assert!(include_list(&dir.join("missing.conf"), &p.setup_conf, &p.crs_dir).is_err());
}

#[test]
fn gateway_that_fails_to_start_reports_its_stderr() {
    let dir = std::env::temp_dir().join(format!("crs-gw-fail-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cmd = GatewayCommand {
        binary: PathBuf::from("/bin/sh"),
        listen: free_local_addr().expect("addr"),
        upstream: free_local_addr().expect("addr"),
        rules: dir.join("main.conf"),
        error_log: dir.join("error.log"),
        threads: 2,
    };
    // `/bin/sh run ...` fails: "run" is not a script.
    let mut gw = GatewayProcess::spawn(&cmd, &dir).expect("spawn");
    let err = gw
        .wait_ready(cmd.listen, Duration::from_secs(10))
        .expect_err("must fail");
    assert!(err.contains("exited during startup"), "{err}");
    assert!(err.contains("run"), "{err}");
}
