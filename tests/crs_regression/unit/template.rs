//! Unit tests of `template.rs`.

use crate::template::*;

#[test]
fn plain_text_is_unchanged() {
    assert_eq!(expand("a=b&c={d}").as_deref(), Ok("a=b&c={d}"));
}

#[test]
fn repeat_like_the_suite() {
    let data = "--b\nX\n{{ \"1\" | repeat 5 }}\n--b--\n";
    assert_eq!(expand(data).as_deref(), Ok("--b\nX\n11111\n--b--\n"));
    assert_eq!(expand("{{ repeat 3 \"ab\" }}").as_deref(), Ok("ababab"));
    assert_eq!(expand("{{ `x` | repeat 2 | upper }}").as_deref(), Ok("XX"));
    let big = expand("{{ \"1\" | repeat 64200 }}").expect("expand");
    assert_eq!(big.len(), 64200);
}

#[test]
fn trimming_and_comments() {
    assert_eq!(expand("a  {{- \"b\" -}}  c").as_deref(), Ok("abc"));
    assert_eq!(expand("a{{/* note */}}b").as_deref(), Ok("ab"));
}

#[test]
fn unsupported_is_an_error() {
    assert!(expand("{{constructor.constructor('alert(1)')()}}").is_err());
    assert!(expand("{{ \"1\" | repeat 99999999999 }}").is_err());
    assert!(expand("{{ unclosed").is_err());
    assert!(expand("{{ env \"HOME\" }}").is_err());
}
