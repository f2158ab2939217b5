//! Errors: exact location (file:line:column), directive and message.

use super::*;

/// Asserts that `text` fails at `line:col` with a message containing `needle`, and that
/// the error names `directive`.
#[track_caller]
fn fails_at(text: &str, line: u32, col: u32, directive: Option<&str>, needle: &str) {
    let e = fail(text);
    assert_eq!(
        (e.loc.line, e.loc.column),
        (line, col),
        "location of {text:?}: {e}"
    );
    assert_eq!(
        e.directive.as_deref(),
        directive,
        "directive of {text:?}: {e}"
    );
    assert!(e.message.contains(needle), "message of {text:?}: {e}");
    assert_eq!(&*e.loc.file, "t.conf");
}

#[test]
fn display_format() {
    let e = fail("SecRule ARGS \"@rx a\n");
    assert_eq!(
        e.to_string(),
        "t.conf:1:14: SecRule: unterminated double-quoted string (a closing '\"' is missing on this line)"
    );
}

#[test]
fn unterminated_quotes() {
    fails_at(
        "SecRule ARGS \"@rx a\n",
        1,
        14,
        Some("SecRule"),
        "unterminated double-quoted",
    );
    fails_at(
        "SecRule ARGS \"@rx a\" \"id:1\nSecMarker X\n",
        1,
        22,
        Some("SecRule"),
        "unterminated double-quoted",
    );
    fails_at(
        "SecRuleEngine \"On",
        1,
        15,
        Some("SecRuleEngine"),
        "unterminated",
    );
    fails_at(
        "SecAction \"id:1,msg:'oops,pass\"",
        1,
        21,
        Some("SecAction"),
        "unterminated single-quoted value of action 'msg'",
    );
    // inside a continued directive, the location is on the right line
    fails_at(
        "# x\nSecRule ARGS \"@rx a\" \\\n    \"id:1,\\\n    msg:'oops\"\n",
        4,
        9,
        Some("SecRule"),
        "unterminated single-quoted value",
    );
}

#[test]
fn unknown_directive() {
    fails_at(
        "SecRuleEngine On\n\n  SecFoo bar\n",
        3,
        3,
        Some("SecFoo"),
        "unknown directive 'SecFoo'",
    );
    fails_at("\"id:1\"\n", 1, 1, Some("\"id:1\""), "unknown directive");
    // a name glued to a quote is not SecRule
    fails_at(
        "SecRule\"ARGS\"",
        1,
        1,
        Some("SecRule\"ARGS\""),
        "unknown directive",
    );
}

#[test]
fn missing_arguments() {
    fails_at("SecRule", 1, 8, Some("SecRule"), "missing variables");
    fails_at("SecRule ARGS", 1, 13, Some("SecRule"), "missing operator");
    fails_at(
        "SecRule ARGS # comment",
        1,
        13,
        Some("SecRule"),
        "missing operator",
    );
    fails_at("SecAction", 1, 10, Some("SecAction"), "missing action list");
    fails_at(
        "SecDefaultAction  ",
        1,
        17,
        Some("SecDefaultAction"),
        "missing action list",
    );
    fails_at("SecMarker", 1, 10, Some("SecMarker"), "missing marker name");
    fails_at(
        "SecRuleRemoveById",
        1,
        18,
        Some("SecRuleRemoveById"),
        "missing argument",
    );
    fails_at(
        "SecRuleUpdateTargetById 1",
        1,
        26,
        Some("SecRuleUpdateTargetById"),
        "missing variables",
    );
    fails_at(
        "SecRuleUpdateActionById 1",
        1,
        26,
        Some("SecRuleUpdateActionById"),
        "missing action list",
    );
    fails_at("Include", 1, 8, Some("Include"), "missing file path");
}

#[test]
fn extra_arguments() {
    fails_at(
        "SecMarker a b",
        1,
        13,
        Some("SecMarker"),
        "unexpected argument 'b'",
    );
    fails_at(
        "SecRule ARGS \"@rx a\" \"id:1\" extra",
        1,
        29,
        Some("SecRule"),
        "unexpected argument 'extra'",
    );
    fails_at(
        "SecAction \"id:1\" \"pass\"",
        1,
        18,
        Some("SecAction"),
        "unexpected argument 'pass'",
    );
    fails_at(
        "Include a.conf b.conf",
        1,
        16,
        Some("Include"),
        "unexpected argument 'b.conf'",
    );
    fails_at(
        "SecRule ARGS \"@rx a\"x",
        1,
        21,
        Some("SecRule"),
        "unexpected text after a quoted argument: 'x'",
    );
}

#[test]
fn variable_errors() {
    fails_at(
        "SecRule \"ARGS||ARGS_NAMES\" \"@rx a\"",
        1,
        15,
        Some("SecRule"),
        "empty variable before '|'",
    );
    fails_at(
        "SecRule ARGS| \"@rx a\"",
        1,
        14,
        Some("SecRule"),
        "variable list ends with '|'",
    );
    fails_at(
        "SecRule |ARGS \"@rx a\"",
        1,
        9,
        Some("SecRule"),
        "empty variable before '|'",
    );
    fails_at(
        "SecRule ARGS: \"@rx a\"",
        1,
        13,
        Some("SecRule"),
        "empty key after ':' in variable 'ARGS'",
    );
    fails_at(
        "SecRule ARGS:''|TX \"@rx a\"",
        1,
        13,
        Some("SecRule"),
        "empty key after ':'",
    );
    fails_at(
        "SecRule AR@GS \"@rx a\"",
        1,
        11,
        Some("SecRule"),
        "unexpected character '@' in variable list",
    );
    fails_at(
        "SecRule !|ARGS \"@rx a\"",
        1,
        10,
        Some("SecRule"),
        "expected a variable name after '!'",
    );
    fails_at(
        "SecRule \"ARGS ARGS_NAMES\" \"@rx a\"",
        1,
        15,
        Some("SecRule"),
        "separated by '|'",
    );
    fails_at(
        "SecRule \"\" \"@rx a\"",
        1,
        10,
        Some("SecRule"),
        "empty variable list",
    );
    fails_at(
        "SecRuleUpdateTargetById 1 \"!ARGS:\"",
        1,
        33,
        Some("SecRuleUpdateTargetById"),
        "empty key",
    );
}

#[test]
fn operator_errors() {
    fails_at(
        "SecRule ARGS \"@ foo\"",
        1,
        16,
        Some("SecRule"),
        "missing operator name after '@'",
    );
    fails_at(
        "SecRule ARGS \"!@\"",
        1,
        17,
        Some("SecRule"),
        "missing operator name after '@'",
    );
    fails_at(
        "SecRule ARGS \"@rx/a/\"",
        1,
        18,
        Some("SecRule"),
        "unexpected '/' after operator name '@rx'",
    );
    fails_at(
        "SecRule ARGS \"\"",
        1,
        15,
        Some("SecRule"),
        "empty operator",
    );
    fails_at(
        "SecRule ARGS \"!\"",
        1,
        15,
        Some("SecRule"),
        "empty operator",
    );
}

#[test]
fn action_errors() {
    fails_at(
        "SecAction \"id:1,,pass\"",
        1,
        17,
        Some("SecAction"),
        "empty action between two commas",
    );
    fails_at(
        "SecAction \"id:1,\"",
        1,
        17,
        Some("SecAction"),
        "action list ends with ','",
    );
    fails_at(
        "SecAction \",id:1\"",
        1,
        12,
        Some("SecAction"),
        "action list starts with ','",
    );
    fails_at(
        "SecAction \"deny pass\"",
        1,
        17,
        Some("SecAction"),
        "missing ',' between actions",
    );
    fails_at(
        "SecAction \"msg:'a'b\"",
        1,
        19,
        Some("SecAction"),
        "expected ',' after a quoted value, found 'b'",
    );
    fails_at(
        "SecAction \"msg:,pass\"",
        1,
        16,
        Some("SecAction"),
        "missing value after 'msg:'",
    );
    fails_at(
        "SecAction \"id:1,t:\"",
        1,
        19,
        Some("SecAction"),
        "missing value after 't:'",
    );
    fails_at(
        "SecAction \"id:1,a=b\"",
        1,
        18,
        Some("SecAction"),
        "unexpected character '='",
    );
    fails_at(
        "SecAction \"id:1,\\\n    t:none\\\n    pass\"",
        2,
        7,
        Some("SecAction"),
        "continues on the next line (missing ','",
    );
    fails_at(
        "SecRuleUpdateActionById 1 \"t:none,,pass\"",
        1,
        35,
        Some("SecRuleUpdateActionById"),
        "empty action",
    );
}

#[test]
fn raw_newline_inside_quotes_is_an_unterminated_string() {
    // libmodsecurity v3 would read a raw line break inside quotes; we require `\`.
    fails_at(
        "SecAction \"id:1,\n    pass\"\n",
        1,
        11,
        Some("SecAction"),
        "unterminated",
    );
    fails_at(
        "SecAction \"id:1,msg:'a\nb',pass\"\n",
        1,
        11,
        Some("SecAction"),
        "unterminated",
    );
}
