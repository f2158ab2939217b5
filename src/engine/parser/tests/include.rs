//! `load_file`: Include / IncludeOptional, globs, relative paths, cycles, depth.

use super::super::super::ast::{Directive, DirectiveKind};
use super::super::{load_file, MAX_INCLUDE_DEPTH};
use super::TempDir;

/// Marker names of the SecMarker directives, in order.
fn markers(ds: &[Directive]) -> Vec<String> {
    ds.iter()
        .filter_map(|d| match &d.kind {
            DirectiveKind::SecMarker { name } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn glob_in_sorted_order_relative_to_the_including_file() {
    let t = TempDir::new("glob");
    t.write("rules/b.conf", "SecMarker B\n");
    t.write("rules/a.conf", "SecMarker A\n");
    t.write("rules/c.conf", "SecMarker C\n");
    t.write("rules/c.conf.example", "SecMarker NOT\n");
    t.write("rules/sub.conf/x.conf", "SecMarker DIR\n"); // a directory matching the glob
    let main = t.write(
        "main.conf",
        "SecMarker START\nInclude rules/*.conf\ninclude \"rules/[ab].conf\"\nSecMarker END\n",
    );
    let ds = load_file(&main).unwrap();
    assert_eq!(markers(&ds), ["START", "A", "B", "C", "A", "B", "END"]);
    // locations name the included file
    assert!(ds[1].loc.file.ends_with("rules/a.conf"), "{}", ds[1].loc);
    assert_eq!((ds[1].loc.line, ds[1].loc.column), (1, 1));
    assert!(ds[6].loc.file.ends_with("main.conf"));
    assert_eq!(ds[6].loc.line, 4);
}

#[test]
fn nested_relative_paths_use_the_including_files_directory() {
    let t = TempDir::new("nested");
    t.write("a/b/inner.conf", "SecMarker INNER\n");
    t.write("a/mid.conf", "Include b/inner.conf\nSecMarker MID\n");
    let main = t.write("main.conf", "Include a/mid.conf\n");
    assert_eq!(markers(&load_file(&main).unwrap()), ["INNER", "MID"]);
    // absolute paths work too
    let abs = t.path.join("a/b/inner.conf");
    let main2 = t.write("main2.conf", &format!("Include {}\n", abs.display()));
    assert_eq!(markers(&load_file(&main2).unwrap()), ["INNER"]);
}

#[test]
fn missing_files() {
    let t = TempDir::new("missing");
    let main = t.write("main.conf", "SecMarker A\n\n  Include nope.conf\n");
    let e = load_file(&main).unwrap_err();
    assert!(e.loc.file.ends_with("main.conf"));
    assert_eq!((e.loc.line, e.loc.column), (3, 3));
    assert_eq!(e.directive.as_deref(), Some("Include"));
    assert!(
        e.message.contains("file not found") && e.message.contains("nope.conf"),
        "{e}"
    );

    let main = t.write("glob.conf", "Include none/*.conf\n");
    let e = load_file(&main).unwrap_err();
    assert!(
        e.message.contains("no file matches") && e.message.contains("none/*.conf"),
        "{e}"
    );

    // IncludeOptional tolerates both
    let main = t.write(
        "opt.conf",
        "IncludeOptional nope.conf\nIncludeOptional none/*.conf\nSecMarker OK\n",
    );
    assert_eq!(markers(&load_file(&main).unwrap()), ["OK"]);

    // the top file itself: no position
    let e = load_file(&t.path.join("absent.conf")).unwrap_err();
    assert_eq!((e.loc.line, e.loc.column), (0, 0));
    assert!(e.message.contains("absent.conf"), "{e}");

    // a directory
    std::fs::create_dir_all(t.path.join("d")).unwrap();
    let main = t.write("dir.conf", "Include d\n");
    let e = load_file(&main).unwrap_err();
    assert!(e.message.contains("is a directory"), "{e}");
}

#[test]
fn errors_in_included_files_are_located_there() {
    let t = TempDir::new("inner-error");
    t.write(
        "inc.conf",
        "SecMarker A\nSecRule ARGS \"@rx a\" \"id:1,,deny\"\n",
    );
    let main = t.write("main.conf", "Include inc.conf\n");
    let e = load_file(&main).unwrap_err();
    assert!(e.loc.file.ends_with("inc.conf"), "{e}");
    assert_eq!((e.loc.line, e.loc.column), (2, 28));
    // invalid UTF-8 in an included file
    t.write_bytes("bin.conf", b"SecRule ARGS \"@rx \xc3\x28\" \"id:2\"\n");
    let main = t.write("main2.conf", "Include bin.conf\n");
    let e = load_file(&main).unwrap_err();
    assert!(e.loc.file.ends_with("bin.conf"), "{e}");
    assert_eq!((e.loc.line, e.loc.column), (1, 19));
}

#[test]
fn include_cycles() {
    let t = TempDir::new("cycle");
    t.write("a.conf", "SecMarker A\nInclude b.conf\n");
    t.write("b.conf", "Include ./a.conf\n");
    let main = t.write("main.conf", "Include a.conf\n");
    let e = load_file(&main).unwrap_err();
    assert!(e.message.starts_with("include cycle: "), "{e}");
    assert!(
        e.message.contains("main.conf -> ")
            && e.message.contains("a.conf -> ")
            && e.message.contains("b.conf -> ")
            && e.message.ends_with("./a.conf"),
        "{e}"
    );
    assert!(e.loc.file.ends_with("b.conf"), "{e}");
    // a file including itself through a glob
    let selfish = t.write("self/x.conf", "Include *.conf\n");
    let e = load_file(&selfish).unwrap_err();
    assert!(e.message.starts_with("include cycle"), "{e}");
}

#[test]
fn depth_limit() {
    let t = TempDir::new("depth");
    let n = MAX_INCLUDE_DEPTH + 3;
    for i in 0..n {
        t.write(&format!("f{i}.conf"), &format!("Include f{}.conf\n", i + 1));
    }
    t.write(&format!("f{n}.conf"), "SecMarker BOTTOM\n");
    let e = load_file(&t.path.join("f0.conf")).unwrap_err();
    assert!(e.message.contains("nested deeper than"), "{e}");
    // exactly at the limit is fine
    let u = TempDir::new("depth-ok");
    for i in 0..MAX_INCLUDE_DEPTH - 1 {
        u.write(&format!("f{i}.conf"), &format!("Include f{}.conf\n", i + 1));
    }
    u.write(
        &format!("f{}.conf", MAX_INCLUDE_DEPTH - 1),
        "SecMarker BOTTOM\n",
    );
    assert_eq!(
        markers(&load_file(&u.path.join("f0.conf")).unwrap()),
        ["BOTTOM"]
    );
}

#[test]
fn glob_metacharacters_in_the_directory_are_literal() {
    let t = TempDir::new("meta");
    t.write("we[ird]/r1.conf", "SecMarker R1\n");
    let main = t.write("we[ird]/main.conf", "Include r*.conf\n");
    // main.conf does not match r*.conf; r1.conf does
    assert_eq!(markers(&load_file(&main).unwrap()), ["R1"]);
}
