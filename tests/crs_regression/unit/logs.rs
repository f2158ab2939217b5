//! Unit tests of `logs.rs`.

use crate::logs::*;
use std::fs::File;
use std::io::Write;

fn temp_log(name: &str, content: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("crs-logs-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(name);
    let mut f = File::create(&path).expect("create");
    f.write_all(content).expect("write");
    path
}

const LOG: &str = "old line [id \"111\"]\n\
    [msg \"X-CRS-Test aaaa-s\"] ModSecurity: Warning [id \"999999\"]\n\
    ModSecurity: Warning. Matched [id \"920100\"] [msg \"a\"]\n\
    {\"transaction\":{\"messages\":[{\"details\":{\"id\": \"942100\"}}]}}\n\
    ModSecurity: [id \\\"933100\\\"] escaped quotes\n\
    [msg \"X-CRS-TEST AAAA-e\"] ModSecurity: Warning [id \"999999\"]\n\
    after end [id \"555\"]\n";

#[test]
fn markers_and_window() {
    let path = temp_log("window.log", LOG.as_bytes());
    // The last line mentioning the header is the end marker.
    assert!(find_marker(&path, "X-CRS-Test", "aaaa-s", 500)
        .expect("io")
        .is_none());
    let end = find_marker(&path, "X-CRS-Test", "aaaa-e", 500)
        .expect("io")
        .expect("end");
    assert!(end.starts_with(b"[msg \"x-crs-test aaaa-e\"]"));
    // Too few lines allowed: not found.
    assert!(find_marker(&path, "X-CRS-Test", "aaaa-e", 0)
        .expect("io")
        .is_none());
    let start = b"[msg \"x-crs-test aaaa-s\"] modsecurity: warning [id \"999999\"]".to_vec();
    let lines = window(&path, &start, &end).expect("window");
    assert_eq!(lines.len(), 5, "{lines:?}");
    let ids = rule_ids(&lines);
    assert_eq!(
        ids.into_iter().collect::<Vec<_>>(),
        vec![555, 920100, 933100, 942100]
    );
    // Missing start marker: everything before the end marker counts (go-ftw behaviour).
    let lines = window(&path, b"nothing", &end).expect("window");
    assert!(rule_ids(&lines).contains(&111));
    // Missing file: no marker.
    assert!(
        find_marker(&path.with_extension("missing"), "X-CRS-Test", "x", 10)
            .expect("io")
            .is_none()
    );
}

#[test]
fn backscanner_handles_long_lines_and_chunks() {
    let long = "x".repeat(200_000);
    let content = format!("first\n{long}\nlast");
    let path = temp_log("long.log", content.as_bytes());
    let mut s = BackScanner::open(&path).expect("open");
    assert_eq!(s.prev_line().expect("io"), Some(b"last".to_vec()));
    assert_eq!(s.prev_line().expect("io").map(|l| l.len()), Some(200_000));
    assert_eq!(s.prev_line().expect("io"), Some(b"first".to_vec()));
    assert_eq!(s.prev_line().expect("io"), None);
    let path = temp_log("nl.log", b"a\n");
    let mut s = BackScanner::open(&path).expect("open");
    assert_eq!(s.prev_line().expect("io"), Some(Vec::new()));
    assert_eq!(s.prev_line().expect("io"), Some(b"a".to_vec()));
    assert_eq!(s.prev_line().expect("io"), None);
}
