//! Every construct of the language, with the exact syntax tree expected.

use super::super::super::ast::{
    ActionSpec, DirectiveKind, OperatorSpec, RuleSelectorKind, Selector, VariableSpec,
};
use super::*;

fn var(name: &str) -> VariableSpec {
    VariableSpec {
        negated: false,
        count: false,
        name: name.to_owned(),
        selector: None,
    }
}

fn key(name: &str, k: &str) -> VariableSpec {
    VariableSpec {
        selector: Some(Selector::Key(k.to_owned())),
        ..var(name)
    }
}

fn regex(name: &str, r: &str) -> VariableSpec {
    VariableSpec {
        selector: Some(Selector::Regex(r.to_owned())),
        ..var(name)
    }
}

fn not(v: VariableSpec) -> VariableSpec {
    VariableSpec { negated: true, ..v }
}

fn count(v: VariableSpec) -> VariableSpec {
    VariableSpec { count: true, ..v }
}

fn op(name: &str, param: &str) -> OperatorSpec {
    OperatorSpec {
        negated: false,
        name: name.to_owned(),
        param: param.to_owned(),
    }
}

fn not_op(name: &str, param: &str) -> OperatorSpec {
    OperatorSpec {
        negated: true,
        ..op(name, param)
    }
}

fn act(name: &str, value: Option<&str>) -> ActionSpec {
    ActionSpec {
        name: name.to_owned(),
        value: value.map(str::to_owned),
    }
}

fn a(name: &str) -> ActionSpec {
    act(name, None)
}

fn av(name: &str, value: &str) -> ActionSpec {
    act(name, Some(value))
}

/// The parts of a SecRule.
fn rule(text: &str) -> (Vec<VariableSpec>, OperatorSpec, Vec<ActionSpec>) {
    match one(text) {
        DirectiveKind::SecRule {
            variables,
            operator,
            actions,
        } => (variables, operator, actions),
        other => panic!("not a SecRule: {other:?}"),
    }
}

fn variables(list: &str) -> Vec<VariableSpec> {
    rule(&format!("SecRule {list} \"@rx x\"")).0
}

fn operator(text: &str) -> OperatorSpec {
    rule(&format!("SecRule ARGS {text}")).1
}

fn actions(list: &str) -> Vec<ActionSpec> {
    match one(&format!("SecAction \"{list}\"")) {
        DirectiveKind::SecAction { actions } => actions,
        other => panic!("not a SecAction: {other:?}"),
    }
}

fn config(text: &str) -> Vec<String> {
    match one(text) {
        DirectiveKind::Config { args } => args,
        other => panic!("not a Config: {other:?}"),
    }
}

#[test]
fn full_secrule() {
    let (v, o, acts) = rule(
        "SecRule REQUEST_COOKIES|!REQUEST_COOKIES:/__utm/|ARGS_NAMES|ARGS|XML:/* \
         \"@rx (?i)\\bunion\\b\" \
         \"id:942100,phase:2,block,capture,t:none,t:urlDecodeUni,\
         msg:'SQL Injection Attack Detected via libinjection',\
         logdata:'Matched Data: %{TX.0} found within %{MATCHED_VAR_NAME}: %{MATCHED_VAR}',\
         tag:'attack-sqli',severity:'CRITICAL',setvar:'tx.sql_injection_score=+%{tx.critical_anomaly_score}'\"",
    );
    assert_eq!(
        v,
        vec![
            var("REQUEST_COOKIES"),
            not(regex("REQUEST_COOKIES", "__utm")),
            var("ARGS_NAMES"),
            var("ARGS"),
            key("XML", "/*"),
        ]
    );
    assert_eq!(o, op("rx", "(?i)\\bunion\\b"));
    assert_eq!(
        acts,
        vec![
            av("id", "942100"),
            av("phase", "2"),
            a("block"),
            a("capture"),
            av("t", "none"),
            av("t", "urlDecodeUni"),
            av("msg", "SQL Injection Attack Detected via libinjection"),
            av(
                "logdata",
                "Matched Data: %{TX.0} found within %{MATCHED_VAR_NAME}: %{MATCHED_VAR}"
            ),
            av("tag", "attack-sqli"),
            av("severity", "CRITICAL"),
            av(
                "setvar",
                "tx.sql_injection_score=+%{tx.critical_anomaly_score}"
            ),
        ]
    );
}

#[test]
fn secrule_without_actions() {
    let (v, o, acts) = rule("SecRule ARGS \"@rx a\"");
    assert_eq!((v, o, acts), (vec![var("ARGS")], op("rx", "a"), vec![]));
}

#[test]
fn variable_forms() {
    assert_eq!(variables("args"), vec![var("ARGS")]);
    assert_eq!(
        variables("\"ARGS|ARGS_NAMES\""),
        vec![var("ARGS"), var("ARGS_NAMES")]
    );
    assert_eq!(
        variables("!ARGS:foo|&TX:bar|&ARGS"),
        vec![
            not(key("ARGS", "foo")),
            count(key("TX", "bar")),
            count(var("ARGS"))
        ]
    );
    assert_eq!(
        variables("REQUEST_HEADERS:User-Agent|request_headers:X.Filename"),
        vec![
            key("REQUEST_HEADERS", "User-Agent"),
            key("REQUEST_HEADERS", "X.Filename")
        ]
    );
    // regex keys: slashes removed, content verbatim
    assert_eq!(
        variables("REQUEST_COOKIES:/\\x22?\\x24Version/|TX:/^a{1,3}$/"),
        vec![
            regex("REQUEST_COOKIES", "\\x22?\\x24Version"),
            regex("TX", "^a{1,3}$")
        ]
    );
    // XPath keys are literal keys
    assert_eq!(
        variables("XML:/*|XML://@*|XML:/a/b"),
        vec![key("XML", "/*"), key("XML", "//@*"), key("XML", "/a/b")]
    );
    // `/` alone or `//` is a key, not a regex (at least one character between slashes)
    assert_eq!(
        variables("ARGS:/|ARGS://"),
        vec![key("ARGS", "/"), key("ARGS", "//")]
    );
    // quoted keys: quotes removed, may hold blanks and `|`; '/.../' is a regex
    assert_eq!(
        variables("\"ARGS:'foo bar'|ARGS:'a|b'|ARGS:'/^x|y$/'|ARGS:'it\\'s'\""),
        vec![
            key("ARGS", "foo bar"),
            key("ARGS", "a|b"),
            regex("ARGS", "^x|y$"),
            key("ARGS", "it's"),
        ]
    );
    // v3 also accepts `,` between variables and `.` after the collection name
    assert_eq!(
        variables("ARGS:a,TX.b"),
        vec![key("ARGS", "a"), key("TX", "b")]
    );
    // blanks and continuations around separators inside quotes
    assert_eq!(
        variables("\"ARGS | \\\n  ARGS_NAMES\""),
        vec![var("ARGS"), var("ARGS_NAMES")]
    );
}

#[test]
fn operator_forms() {
    assert_eq!(operator("\"@rx ^a$\""), op("rx", "^a$"));
    assert_eq!(operator("\"!@rx ^a$\""), not_op("rx", "^a$"));
    assert_eq!(operator("\"@pm a b  c\""), op("pm", "a b  c"));
    assert_eq!(operator("\"@Contains x\""), op("Contains", "x"));
    // no `@`: implicit rx, everything verbatim
    assert_eq!(operator("\"^(?:GET|HEAD)$\""), op("rx", "^(?:GET|HEAD)$"));
    assert_eq!(operator("\"!^a\""), not_op("rx", "^a"));
    // operators without argument
    assert_eq!(operator("\"@detectSQLi\""), op("detectSQLi", ""));
    assert_eq!(
        operator("\"@unconditionalMatch \""),
        op("unconditionalMatch", "")
    );
    // leading blanks of the parameter are removed, trailing ones kept
    assert_eq!(operator("\"@rx   a \""), op("rx", "a "));
    assert_eq!(operator("\"@eq\t0\""), op("eq", "0"));
    // macros are kept for the compiler
    assert_eq!(
        operator("\"@ge %{tx.inbound_anomaly_score_threshold}\""),
        op("ge", "%{tx.inbound_anomaly_score_threshold}")
    );
}

#[test]
fn operator_backslashes_are_kept_verbatim() {
    // `\"` does not close the string and keeps its backslash; `\\`, `\d`, `\x5c` untouched.
    assert_eq!(
        operator(r#""@rx ^[^\"]*\d\\\x5c$""#),
        op("rx", r#"^[^\"]*\d\\\x5c$"#)
    );
    // an even number of backslashes before `"` closes the string
    let (_, o, acts) = rule(r#"SecRule ARGS "@rx a\\" "id:1""#);
    assert_eq!((o, acts), (op("rx", r"a\\"), vec![av("id", "1")]));
    // `'` means nothing inside the operator
    assert_eq!(operator("\"@rx it's\""), op("rx", "it's"));
}

#[test]
fn unquoted_operator() {
    let (_, o, acts) = rule("SecRule ARGS @rx foo \"id:1\"");
    assert_eq!((o, acts), (op("rx", "foo"), vec![av("id", "1")]));
    let (_, o, acts) = rule("SecRule ARGS !@streq foo id:2");
    assert_eq!((o, acts), (not_op("streq", "foo"), vec![av("id", "2")]));
    let (_, o, acts) = rule("SecRule ARGS @detectXSS id:3,deny");
    assert_eq!(
        (o, acts),
        (op("detectXSS", ""), vec![av("id", "3"), a("deny")])
    );
    let (_, o, acts) = rule("SecRule REQUEST_URI ^/admin \"id:4\"");
    assert_eq!((o, acts), (op("rx", "^/admin"), vec![av("id", "4")]));
    // `\ ` keeps a blank inside an unquoted word
    let (_, o, _) = rule("SecRule ARGS a\\ b \"id:5\"");
    assert_eq!(o, op("rx", "a\\ b"));
}

#[test]
fn action_forms() {
    assert_eq!(
        actions("id:'200000',phase:request,t:none,chain,skipAfter:END-X,status:403"),
        vec![
            av("id", "200000"),
            av("phase", "request"),
            av("t", "none"),
            a("chain"),
            av("skipAfter", "END-X"),
            av("status", "403"),
        ]
    );
    assert_eq!(
        actions(
            "setvar:'tx.a=%{tx.b}',setvar:tx.a=+1,setvar:!tx.c,\
             ctl:ruleRemoveTargetById=920300;ARGS:foo,expirevar:'ip.x=60'"
        ),
        vec![
            av("setvar", "tx.a=%{tx.b}"),
            av("setvar", "tx.a=+1"),
            av("setvar", "!tx.c"),
            av("ctl", "ruleRemoveTargetById=920300;ARGS:foo"),
            av("expirevar", "ip.x=60"),
        ]
    );
    // commas, `\'` and `"` inside single quotes; other backslashes kept
    assert_eq!(
        actions(r#"msg:'a, b \'c\' "d" \d\\',tag:''"#),
        vec![av("msg", r#"a, b 'c' "d" \d\\"#), av("tag", "")]
    );
    // unquoted values: up to the next comma, trailing blanks dropped, inner ones kept
    assert_eq!(
        actions("msg:hello world ,logdata: %{MATCHED_VAR}"),
        vec![av("msg", "hello world"), av("logdata", "%{MATCHED_VAR}")]
    );
    // blanks and line continuations around actions (the CRS layout)
    assert_eq!(
        actions("id:1,\\\n    phase:2 , \\\n\tpass ,\\\r\n  nolog"),
        vec![av("id", "1"), av("phase", "2"), a("pass"), a("nolog")]
    );
    assert_eq!(actions(""), vec![]);
    assert_eq!(actions("  "), vec![]);
}

#[test]
fn continuation_inside_quotes_is_kept_verbatim() {
    // As libmodsecurity v3: backslash, newline and the next line's indentation stay.
    let text = "SecAction \\\n    \"id:1,\\\n    msg:'Anomaly Scores: \\\n(Inbound: %{tx.a}) \\\n   end',\\\n    pass\"\n";
    assert_eq!(
        one(text),
        DirectiveKind::SecAction {
            actions: vec![
                av("id", "1"),
                av("msg", "Anomaly Scores: \\\n(Inbound: %{tx.a}) \\\n   end"),
                a("pass"),
            ]
        }
    );
    assert_eq!(operator("\"@rx a\\\n  b\""), op("rx", "a\\\n  b"));
}

#[test]
fn line_continuations_between_arguments() {
    let text =
        "SecRule \\\n  ARGS \\\n  \"@rx a\" \\\n  \\\n  \"id:1\"\nSecRuleEngine \\\r\n On\r\n";
    let ds = parse(text).unwrap();
    assert_eq!(ds.len(), 2);
    assert_eq!(
        ds[0].kind,
        DirectiveKind::SecRule {
            variables: vec![var("ARGS")],
            operator: op("rx", "a"),
            actions: vec![av("id", "1")],
        }
    );
    assert_eq!(
        ds[1].kind,
        DirectiveKind::Config {
            args: vec!["On".into()]
        }
    );
    assert_eq!((ds[1].loc.line, ds[1].loc.column), (6, 1));
}

#[test]
fn secaction_and_default_action() {
    assert_eq!(
        one("SecAction \"id:900000,phase:1,pass,nolog,setvar:tx.blocking_paranoia_level=1\""),
        DirectiveKind::SecAction {
            actions: vec![
                av("id", "900000"),
                av("phase", "1"),
                a("pass"),
                a("nolog"),
                av("setvar", "tx.blocking_paranoia_level=1"),
            ]
        }
    );
    assert_eq!(
        one("secdefaultaction \"phase:2,log,auditlog,pass\""),
        DirectiveKind::SecDefaultAction {
            actions: vec![av("phase", "2"), a("log"), a("auditlog"), a("pass")]
        }
    );
    assert_eq!(
        one("SecAction id:1,msg:'a b',pass"),
        DirectiveKind::SecAction {
            actions: vec![av("id", "1"), av("msg", "a b"), a("pass")]
        }
    );
}

#[test]
fn marker() {
    for text in [
        "SecMarker END-HOST-CHECK",
        "SecMarker \"END-HOST-CHECK\"",
        "SecMarker 'END-HOST-CHECK'",
    ] {
        assert_eq!(
            one(text),
            DirectiveKind::SecMarker {
                name: "END-HOST-CHECK".into()
            },
            "{text}"
        );
    }
}

#[test]
fn update_target() {
    assert_eq!(
        one("SecRuleUpdateTargetById 942100 \"!ARGS:foo\""),
        DirectiveKind::SecRuleUpdateTarget {
            by: RuleSelectorKind::Id,
            selector: "942100".into(),
            variables: vec![not(key("ARGS", "foo"))],
            replace: None,
        }
    );
    assert_eq!(
        one("SecRuleUpdateTargetByTag \"attack-sqli\" !REQUEST_COOKIES:/^_ga/|!ARGS:x"),
        DirectiveKind::SecRuleUpdateTarget {
            by: RuleSelectorKind::Tag,
            selector: "attack-sqli".into(),
            variables: vec![not(regex("REQUEST_COOKIES", "^_ga")), not(key("ARGS", "x"))],
            replace: None,
        }
    );
    assert_eq!(
        one("SecRuleUpdateTargetByMsg 'SQL Injection' ARGS:new ARGS:old"),
        DirectiveKind::SecRuleUpdateTarget {
            by: RuleSelectorKind::Msg,
            selector: "SQL Injection".into(),
            variables: vec![key("ARGS", "new")],
            replace: Some("ARGS:old".into()),
        }
    );
}

#[test]
fn update_action_and_remove() {
    assert_eq!(
        one("SecRuleUpdateActionById 942100:2 \"t:none,pass\""),
        DirectiveKind::SecRuleUpdateActionById {
            selector: "942100:2".into(),
            actions: vec![av("t", "none"), a("pass")],
        }
    );
    assert_eq!(
        one("SecRuleRemoveById 942100 920000-920999 \"949110 949111\""),
        DirectiveKind::SecRuleRemove {
            by: RuleSelectorKind::Id,
            args: vec![
                "942100".into(),
                "920000-920999".into(),
                "949110".into(),
                "949111".into()
            ],
        }
    );
    assert_eq!(
        one("SecRuleRemoveByTag \"attack-sqli\""),
        DirectiveKind::SecRuleRemove {
            by: RuleSelectorKind::Tag,
            args: vec!["attack-sqli".into()],
        }
    );
    assert_eq!(
        one("SecRuleRemoveByMsg \"SQL Injection Attack\""),
        DirectiveKind::SecRuleRemove {
            by: RuleSelectorKind::Msg,
            args: vec!["SQL Injection Attack".into()],
        }
    );
}

#[test]
fn config_directives() {
    assert_eq!(config("SecRuleEngine On"), vec!["On"]);
    assert_eq!(
        config("SecAuditLogRelevantStatus \"^(?:5|4(?!04))\""),
        vec!["^(?:5|4(?!04))"]
    );
    assert_eq!(
        config("SecResponseBodyMimeType text/plain text/html text/xml"),
        vec!["text/plain", "text/html", "text/xml"]
    );
    assert_eq!(
        config("SecComponentSignature \"OWASP_CRS/4.28.0\""),
        vec!["OWASP_CRS/4.28.0"]
    );
    assert_eq!(
        config("SecResponseBodyMimeTypesClear"),
        Vec::<String>::new()
    );
    assert_eq!(
        config("SecUnicodeMapFile unicode.mapping 20127"),
        vec!["unicode.mapping", "20127"]
    );
    assert_eq!(config("Include \"rules/*.conf\""), vec!["rules/*.conf"]);
    assert_eq!(
        config("IncludeOptional plugins/*.conf"),
        vec!["plugins/*.conf"]
    );
}

#[test]
fn names_locations_and_comments() {
    let text = "# comment\n\
                \x20  # indented comment\n\
                \n\
                secruleengine DetectionOnly # trailing comment\n\
                \t SECRULE ARGS \"@rx a\" \"id:1\"   # another\n\
                #SecRule ARGS \"@rx b\" \\\n\
                \x20   \"id:2\"\n\
                # a plain comment ending with a backslash \\\n\
                SecMarker M\n";
    let ds = parse(text).unwrap();
    let summary: Vec<(String, u32, u32)> = ds
        .iter()
        .map(|d| (d.name.clone(), d.loc.line, d.loc.column))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("secruleengine".into(), 4, 1),
            ("SECRULE".into(), 5, 3),
            ("SecMarker".into(), 9, 1),
        ]
    );
    assert_eq!(&*ds[0].loc.file, "t.conf");
    assert_eq!(
        ds[0].kind,
        DirectiveKind::Config {
            args: vec!["DetectionOnly".into()]
        }
    );
}

#[test]
fn commented_rule_comments_out_its_continuation_lines() {
    // v3: `#SecRule ... \` and `#SecAction ... \` continue the comment (blank lines right
    // after the first line included) until a line that does not end with `\`.
    let text = "#SecAction \\\n\n    \"id:1,\\\n    pass\"\nSecMarker A\n";
    let ds = parse(text).unwrap();
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].kind, DirectiveKind::SecMarker { name: "A".into() });
    assert_eq!(ds[0].loc.line, 5);
}

#[test]
fn byte_order_mark_and_no_final_newline() {
    let ds = parse("\u{FEFF}SecRuleEngine On").unwrap();
    assert_eq!(ds.len(), 1);
    assert_eq!((ds[0].loc.line, ds[0].loc.column), (1, 4));
    assert!(parse("").unwrap().is_empty());
    assert!(parse("\n\n  \n# x").unwrap().is_empty());
    // a continuation at the very end of the file continues to nothing
    assert_eq!(
        one("SecRule ARGS \"@rx a\" \"id:1\" \\"),
        DirectiveKind::SecRule {
            variables: vec![var("ARGS")],
            operator: op("rx", "a"),
            actions: vec![av("id", "1")],
        }
    );
}

#[test]
fn known_directives() {
    use super::super::{canonical_directive, is_known_directive, KNOWN_DIRECTIVES};
    assert!(is_known_directive("secrule"));
    assert!(is_known_directive("SECREQUESTBODYJSONDEPTHLIMIT"));
    assert!(is_known_directive("IncludeOptional"));
    assert!(!is_known_directive("SecFooBar"));
    assert_eq!(canonical_directive("secauditlog2"), Some("SecAuditLog2"));
    for name in [
        "SecRequestBodyNoFilesLimit",
        "SecArgumentsLimit",
        "SecCookieFormat",
        "SecCollectionTimeout",
        "SecUploadKeepFiles",
        "SecUploadFileMode",
        "SecTmpSaveUploadedFiles",
        "SecAuditLogStorageDir",
        "SecAuditLogDirMode",
        "SecAuditLogFileMode",
        "SecDebugLogLevel",
        "SecPcreMatchLimitRecursion",
        "SecStatusEngine",
        "SecServerSignature",
        "SecWebAppId",
        "SecHttpBlKey",
        "SecGeoLookupDb",
        "SecRemoteRules",
        "SecRemoteRulesFailAction",
        "SecXmlExternalEntity",
        "SecConnEngine",
        "SecHashEngine",
    ] {
        assert!(KNOWN_DIRECTIVES.contains(&name), "{name}");
    }
}

#[test]
fn invalid_utf8_only_in_comments() {
    use super::super::parse_bytes;
    let file: std::sync::Arc<str> = "b.conf".into();
    let ds = parse_bytes(b"# caf\xe9\nSecRuleEngine On\n", file.clone()).unwrap();
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].loc.line, 2);
    let e = parse_bytes(b"SecRuleEngine On\nSecRule ARGS \"@rx \xff\"\n", file).unwrap_err();
    assert_eq!(e.loc.to_string(), "b.conf:2:19");
    assert!(
        e.message.contains("invalid UTF-8 (byte 0xff)"),
        "{}",
        e.message
    );
}

#[test]
fn recommended_configuration_style() {
    // The forms used by ModSecurity's modsecurity.conf-recommended.
    let text = "SecRuleEngine DetectionOnly\n\
        SecRule REQUEST_HEADERS:Content-Type \"text/xml\" \\\n\
        \x20    \"id:'200000',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML\"\n\
        SecRule REQBODY_ERROR \"!@eq 0\" \\\n\
        \"id:'200001', phase:2,t:none,deny,status:400,msg:'Failed to parse request body.',\
        logdata:'%{reqbody_error_msg}',severity:2\"\n\
        SecRule TX:/^MSC_/ \"!@streq 0\" \"id:'200004',phase:2,msg:'Body \\\nfailed: \\\nPE %{REQBODY_PROCESSOR_ERROR}'\"\n\
        SecAuditLogRelevantStatus \"^(?:5|4(?!04))\"\n\
        SecArgumentSeparator &\n\
        SecTmpDir /tmp/\n";
    let ds = parse(text).unwrap();
    let names: Vec<&str> = ds.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "SecRuleEngine",
            "SecRule",
            "SecRule",
            "SecRule",
            "SecAuditLogRelevantStatus",
            "SecArgumentSeparator",
            "SecTmpDir"
        ]
    );
    assert_eq!(
        ds[1].kind,
        DirectiveKind::SecRule {
            variables: vec![key("REQUEST_HEADERS", "Content-Type")],
            operator: op("rx", "text/xml"),
            actions: vec![
                av("id", "200000"),
                av("phase", "1"),
                av("t", "none"),
                av("t", "lowercase"),
                a("pass"),
                a("nolog"),
                av("ctl", "requestBodyProcessor=XML"),
            ],
        }
    );
    assert_eq!(
        ds[2].kind,
        DirectiveKind::SecRule {
            variables: vec![var("REQBODY_ERROR")],
            operator: not_op("eq", "0"),
            actions: vec![
                av("id", "200001"),
                av("phase", "2"),
                av("t", "none"),
                a("deny"),
                av("status", "400"),
                av("msg", "Failed to parse request body."),
                av("logdata", "%{reqbody_error_msg}"),
                av("severity", "2"),
            ],
        }
    );
    match &ds[3].kind {
        DirectiveKind::SecRule {
            variables, actions, ..
        } => {
            assert_eq!(variables, &vec![regex("TX", "^MSC_")]);
            assert_eq!(
                actions[2],
                av("msg", "Body \\\nfailed: \\\nPE %{REQBODY_PROCESSOR_ERROR}")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!((ds[4].loc.line, ds[6].loc.line), (9, 11));
}
