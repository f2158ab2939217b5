//! Engine semantics that are easy to get subtly wrong, checked against small rule sets
//! written for each case (ModSecurity v3 behaviour).

use std::sync::Arc;

use rampart::engine::{EngineContext, Intervention, Ruleset, Transaction};

struct Req<'a> {
    method: &'a str,
    uri: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: &'a [u8],
}

impl<'a> Req<'a> {
    fn get(uri: &'a str) -> Self {
        Req { method: "GET", uri, headers: vec![("Host", "example.com"), ("User-Agent", "test")], body: b"" }
    }

    fn post(uri: &'a str, ct: &'a str, body: &'a [u8]) -> Self {
        Req {
            method: "POST",
            uri,
            headers: vec![("Host", "example.com"), ("User-Agent", "test"), ("Content-Type", ct)],
            body,
        }
    }
}

fn ruleset(rules: &str) -> Arc<Ruleset> {
    let text = format!("SecRuleEngine On\nSecRequestBodyAccess On\nSecResponseBodyAccess On\n{rules}");
    match Ruleset::from_str(&text, "test.conf") {
        Ok(r) => Arc::new(r),
        Err(e) => panic!("rules failed to load: {e}"),
    }
}

/// Runs the request phases; returns the transaction and the intervention, if any.
fn run_request(rs: &Arc<Ruleset>, req: &Req) -> (Transaction, Option<Intervention>) {
    let mut tx = Transaction::new(rs.clone(), Arc::new(EngineContext::default()), None);
    tx.process_connection("192.0.2.10", 50000, "198.51.100.1", 80);
    tx.process_uri(req.uri.as_bytes(), req.method.as_bytes(), "1.1");
    for (k, v) in &req.headers {
        tx.add_request_header(k.as_bytes(), v.as_bytes());
    }
    if let Some(i) = tx.process_request_headers() {
        return (tx, Some(i));
    }
    tx.append_request_body(req.body);
    let i = tx.process_request_body();
    (tx, i)
}

fn tx_var(tx: &Transaction, name: &str) -> Option<String> {
    tx.tx_var(name).map(|v| String::from_utf8_lossy(v).into_owned())
}

#[test]
fn chain_matches_only_when_every_link_matches() {
    let rs = ruleset(
        r#"
SecRule ARGS:a "@streq x" "id:1,phase:2,deny,status:403,chain"
    SecRule ARGS:b "@streq y" "setvar:tx.chain_done=1"
"#,
    );
    let (tx, i) = run_request(&rs, &Req::get("/?a=x&b=y"));
    assert_eq!(i.map(|i| i.status), Some(403));
    assert_eq!(tx_var(&tx, "chain_done").as_deref(), Some("1"));

    let (tx, i) = run_request(&rs, &Req::get("/?a=x&b=z"));
    assert!(i.is_none(), "second link did not match");
    assert_eq!(tx_var(&tx, "chain_done"), None);
    assert!(tx.matched_rule_ids().is_empty());
}

#[test]
fn skip_after_jumps_to_the_marker_in_phase_two() {
    let rs = ruleset(
        r#"
SecRule REQUEST_URI "@contains skip" "id:10,phase:2,pass,nolog,skipAfter:END-CHECKS"
SecRule ARGS "@contains bad" "id:11,phase:2,deny,status:403"
SecMarker END-CHECKS
SecRule ARGS "@contains bad" "id:12,phase:2,pass,setvar:tx.after_marker=1"
"#,
    );
    let (tx, i) = run_request(&rs, &Req::get("/skip?x=bad"));
    assert!(i.is_none(), "rule 11 must be skipped");
    assert_eq!(tx_var(&tx, "after_marker").as_deref(), Some("1"), "rules after the marker run");
    let (_, i) = run_request(&rs, &Req::get("/plain?x=bad"));
    assert_eq!(i.map(|i| i.rule_id), Some(11));
}

#[test]
fn skip_after_from_phase_one_does_not_skip_phase_two() {
    let rs = ruleset(
        r#"
SecRule REQUEST_URI "@contains skip" "id:20,phase:1,pass,nolog,skipAfter:END-P1"
SecRule ARGS "@contains bad" "id:21,phase:1,deny,status:403"
SecMarker END-P1
SecRule ARGS "@contains bad" "id:22,phase:2,deny,status:406"
"#,
    );
    let (_, i) = run_request(&rs, &Req::get("/skip?x=bad"));
    assert_eq!(i.map(|i| (i.rule_id, i.status)), Some((22, 406)));
}

#[test]
fn block_takes_the_default_action_of_its_phase() {
    let rs = ruleset(
        r#"
SecDefaultAction "phase:2,log,auditlog,deny,status:418"
SecRule ARGS "@contains evil" "id:30,phase:2,block"
SecRule ARGS "@contains other" "id:31,phase:2,log"
"#,
    );
    let (_, i) = run_request(&rs, &Req::get("/?q=evil"));
    assert_eq!(i.map(|i| (i.rule_id, i.status)), Some((30, 418)));
    // A rule without `block` does not inherit the default disruptive action.
    let (tx, i) = run_request(&rs, &Req::get("/?q=other"));
    assert!(i.is_none());
    assert_eq!(tx.matched_rule_ids(), &[31]);
}

#[test]
fn default_transformations_apply_unless_t_none() {
    let rs = ruleset(
        r#"
SecDefaultAction "phase:2,log,pass,t:lowercase"
SecRule ARGS:a "@streq abc" "id:40,phase:2,pass,setvar:tx.inherited=1"
SecRule ARGS:a "@streq abc" "id:41,phase:2,pass,t:none,setvar:tx.cleared=1"
"#,
    );
    let (tx, _) = run_request(&rs, &Req::get("/?a=ABC"));
    assert_eq!(tx_var(&tx, "inherited").as_deref(), Some("1"));
    assert_eq!(tx_var(&tx, "cleared"), None);
}

#[test]
fn second_default_action_for_a_phase_is_an_error() {
    let e = Ruleset::from_str(
        "SecDefaultAction \"phase:2,log,pass\"\nSecDefaultAction \"phase:2,log,deny\"\n",
        "dup.conf",
    )
    .unwrap_err();
    assert_eq!(e.loc.line, 2, "{e}");
    assert!(e.to_string().contains("dup.conf:2"), "{e}");
}

#[test]
fn ctl_rule_remove_by_id_at_runtime() {
    let rs = ruleset(
        r#"
SecRule REQUEST_URI "@beginsWith /api" "id:50,phase:1,pass,nolog,ctl:ruleRemoveById=52"
SecRule ARGS "@contains bad" "id:52,phase:2,deny,status:403"
"#,
    );
    let (_, i) = run_request(&rs, &Req::get("/api?x=bad"));
    assert!(i.is_none());
    let (_, i) = run_request(&rs, &Req::get("/web?x=bad"));
    assert_eq!(i.map(|i| i.rule_id), Some(52));
}

#[test]
fn ctl_rule_remove_by_tag_and_target_at_runtime() {
    let rs = ruleset(
        r#"
SecRule REQUEST_URI "@beginsWith /a" "id:60,phase:1,pass,nolog,ctl:ruleRemoveByTag=attack-x"
SecRule REQUEST_URI "@beginsWith /b" "id:61,phase:1,pass,nolog,ctl:ruleRemoveTargetById=63;ARGS:safe"
SecRule ARGS "@contains bad" "id:63,phase:2,deny,status:403,tag:'attack-x'"
"#,
    );
    let (_, i) = run_request(&rs, &Req::get("/a?x=bad"));
    assert!(i.is_none(), "removed by tag");
    let (_, i) = run_request(&rs, &Req::get("/b?safe=bad"));
    assert!(i.is_none(), "target ARGS:safe removed");
    let (_, i) = run_request(&rs, &Req::get("/b?SAFE=bad"));
    assert!(i.is_none(), "argument names compare case-insensitively");
    let (_, i) = run_request(&rs, &Req::get("/b?other=bad"));
    assert_eq!(i.map(|i| i.rule_id), Some(63), "other targets still inspected");
}

#[test]
fn static_exclusions_and_update_target() {
    let rs = ruleset(
        r#"
SecRule ARGS|!ARGS:token "@contains bad" "id:70,phase:2,deny,status:403"
SecRule ARGS "@contains evil" "id:71,phase:2,deny,status:403"
SecRuleUpdateTargetById 71 "!ARGS:/^utm_/"
"#,
    );
    assert!(run_request(&rs, &Req::get("/?token=bad")).1.is_none());
    assert!(run_request(&rs, &Req::get("/?x=bad")).1.is_some());
    assert!(run_request(&rs, &Req::get("/?utm_source=evil")).1.is_none());
    assert!(run_request(&rs, &Req::get("/?q=evil")).1.is_some());
}

#[test]
fn rule_removal_directives_apply_to_rules_defined_later() {
    let rs = ruleset(
        r#"
SecRuleRemoveById 81
SecRuleRemoveByTag drop-me
SecRule ARGS "@contains a" "id:81,phase:2,deny"
SecRule ARGS "@contains a" "id:82,phase:2,deny,tag:'drop-me'"
SecRule ARGS "@contains a" "id:83,phase:2,deny,status:409"
"#,
    );
    assert!(rs.find_rule(81).is_none());
    assert!(rs.find_rule(82).is_none());
    let (_, i) = run_request(&rs, &Req::get("/?x=a"));
    assert_eq!(i.map(|i| (i.rule_id, i.status)), Some((83, 409)));
}

#[test]
fn setvar_expands_macros_and_does_arithmetic() {
    let rs = ruleset(
        r#"
SecAction "id:90,phase:1,pass,nolog,setvar:tx.base=5,setvar:'tx.label=uri %{REQUEST_URI} from %{REMOTE_ADDR}'"
SecRule ARGS "@rx ." "id:91,phase:2,pass,nolog,setvar:tx.score=+%{tx.base},setvar:tx.%{MATCHED_VAR}_seen=1"
SecAction "id:92,phase:2,pass,nolog,setvar:tx.score=-1,setvar:!tx.base"
"#,
    );
    let (tx, _) = run_request(&rs, &Req::get("/p?a=one&b=two"));
    assert_eq!(tx_var(&tx, "label").as_deref(), Some("uri /p?a=one&b=two from 192.0.2.10"));
    // one increment per matching value (libmodsecurity runs setvar per match): 5 + 5 - 1
    assert_eq!(tx_var(&tx, "score").as_deref(), Some("9"));
    assert_eq!(tx_var(&tx, "one_seen").as_deref(), Some("1"));
    assert_eq!(tx_var(&tx, "two_seen").as_deref(), Some("1"));
    assert_eq!(tx_var(&tx, "base"), None, "deleted");
}

#[test]
fn tx_keys_are_case_insensitive() {
    let rs = ruleset(
        r#"
SecAction "id:100,phase:1,pass,nolog,setvar:tx.MixedCase=7"
SecRule TX:mixedcase "@eq 7" "id:101,phase:1,pass,nolog,setvar:tx.seen_lower=1"
SecRule TX:MIXEDCASE "@eq 7" "id:102,phase:1,pass,nolog,setvar:tx.seen_upper=%{tx.mixedCASE}"
SecRule &TX:mixedcase "@eq 1" "id:103,phase:1,pass,nolog,setvar:tx.count_ok=1"
"#,
    );
    let (tx, _) = run_request(&rs, &Req::get("/"));
    assert_eq!(tx_var(&tx, "seen_lower").as_deref(), Some("1"));
    assert_eq!(tx_var(&tx, "seen_upper").as_deref(), Some("7"));
    assert_eq!(tx_var(&tx, "count_ok").as_deref(), Some("1"));
}

#[test]
fn multi_match_tests_every_transformation_step() {
    let rs = ruleset(
        r#"
SecRule ARGS:x "@streq %41" "id:110,phase:2,pass,nolog,t:none,t:urlDecode,setvar:tx.plain=1"
SecRule ARGS:x "@streq %41" "id:111,phase:2,pass,nolog,t:none,t:urlDecode,multiMatch,setvar:tx.multi=1"
"#,
    );
    // The query decoding turns %2541 into %41; urlDecode then gives A.
    let (tx, _) = run_request(&rs, &Req::get("/?x=%2541"));
    assert_eq!(tx_var(&tx, "plain"), None, "without multiMatch only the final value is tested");
    assert_eq!(tx_var(&tx, "multi").as_deref(), Some("1"), "multiMatch tests the value before transformation");
}

#[test]
fn multi_match_tests_each_distinct_intermediate_value_once() {
    let rs = ruleset(
        r#"
SecRule ARGS:y "@rx a" "id:112,phase:2,pass,nolog,t:none,t:lowercase,t:urlDecode,t:removeWhitespace,t:trim,multiMatch,setvar:tx.count=+1"
SecRule ARGS:z "@rx a" "id:113,phase:2,pass,nolog,t:none,t:lowercase,t:urlDecode,t:removeWhitespace,t:trim,multiMatch,setvar:tx.zcount=+1"
"#,
    );
    // y is "%61 B": lower-cased "%61 b" has no `a`, url-decoded "a b" and without
    // whitespace "ab" match, trim changes nothing more (no third match).
    let (tx, _) = run_request(&rs, &Req::get("/?y=%2561%20B&z=xyz"));
    assert_eq!(tx_var(&tx, "count").as_deref(), Some("2"));
    assert_eq!(tx_var(&tx, "zcount"), None);
}

#[test]
fn capture_fills_tx_0_to_9() {
    let rs = ruleset(
        r#"
SecRule ARGS:v "@rx ^(\w+)-(\d+)$" "id:120,phase:2,pass,nolog,capture,setvar:tx.word=%{TX.1},setvar:tx.num=%{tx.2},setvar:tx.all=%{tx.0}"
"#,
    );
    let (tx, _) = run_request(&rs, &Req::get("/?v=abc-42"));
    assert_eq!(tx_var(&tx, "word").as_deref(), Some("abc"));
    assert_eq!(tx_var(&tx, "num").as_deref(), Some("42"));
    assert_eq!(tx_var(&tx, "all").as_deref(), Some("abc-42"));
}

#[test]
fn request_line_plus_decoding_and_args_without_equals() {
    let rs = ruleset(
        r#"
SecRule REQUEST_LINE "@streq GET /x?a=b+c&flag HTTP/1.1" "id:130,phase:1,pass,nolog,setvar:tx.line=1"
SecRule ARGS:a "@streq b c" "id:131,phase:1,pass,nolog,setvar:tx.plus=1"
SecRule ARGS_NAMES "@streq flag" "id:132,phase:1,pass,nolog,setvar:tx.flag=1"
SecRule &ARGS "@eq 2" "id:133,phase:1,pass,nolog,setvar:tx.two=1"
"#,
    );
    let (tx, _) = run_request(&rs, &Req::get("/x?a=b+c&flag"));
    for v in ["line", "plus", "flag", "two"] {
        assert_eq!(tx_var(&tx, v).as_deref(), Some("1"), "{v}");
    }
}

#[test]
fn urlencoded_body_args_are_inspected() {
    let rs = ruleset(r#"SecRule ARGS_POST:q "@contains select" "id:140,phase:2,deny,status:403""#);
    let (_, i) = run_request(&rs, &Req::post("/f", "application/x-www-form-urlencoded", b"q=1+select+2&x=y"));
    assert_eq!(i.map(|i| i.rule_id), Some(140));
}

#[test]
fn cmdline_transformation_in_a_rule() {
    let rs = ruleset(r#"SecRule ARGS "@contains cat/etc/passwd" "id:150,phase:2,deny,status:403,t:none,t:cmdLine""#);
    let (_, i) = run_request(&rs, &Req::get("/?c=c%5Ea%5Et%20/etc/pa%5Csswd"));
    assert_eq!(i.map(|i| i.rule_id), Some(150));
}

#[test]
fn detection_only_never_disrupts_but_logs() {
    let text = "SecRuleEngine DetectionOnly\nSecRule ARGS \"@contains bad\" \"id:160,phase:2,deny,status:403,log,msg:'bad arg'\"\n";
    let rs = Arc::new(Ruleset::from_str(text, "d.conf").unwrap());
    let (mut tx, i) = run_request(&rs, &Req::get("/?x=bad"));
    assert!(i.is_none());
    assert_eq!(tx.logged_rule_ids(), vec![160]);
    let lines = tx.take_log_lines();
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains("ModSecurity: Warning."), "{}", lines[0]);
    assert!(lines[0].contains("[id \"160\"]"), "{}", lines[0]);
    assert!(lines[0].contains("[msg \"bad arg\"]"), "{}", lines[0]);
}

#[test]
fn deny_produces_an_access_denied_line() {
    let rs = ruleset(r#"SecRule ARGS "@contains bad" "id:170,phase:2,deny,status:403,log,msg:'bad arg'""#);
    let (mut tx, i) = run_request(&rs, &Req::get("/?x=bad"));
    let i = i.expect("intervention");
    assert!(i.log.contains("ModSecurity: Access denied with code 403 (phase 2)."), "{}", i.log);
    assert!(i.log.contains("[id \"170\"]"));
    let lines = tx.take_log_lines();
    assert!(lines.iter().any(|l| l.contains("Access denied with code 403") && l.contains("[id \"170\"]")));
}

#[test]
fn allow_skips_the_remaining_request_rules() {
    let rs = ruleset(
        r#"
SecRule REMOTE_ADDR "@ipMatch 192.0.2.0/24" "id:180,phase:1,allow,nolog"
SecRule ARGS "@contains bad" "id:181,phase:2,deny,status:403"
"#,
    );
    assert!(run_request(&rs, &Req::get("/?x=bad")).1.is_none());
}

#[test]
fn redirect_and_drop() {
    let rs = ruleset(
        r#"
SecRule ARGS:go "@streq away" "id:190,phase:1,redirect:'https://example.org/%{ARGS.go}'"
SecRule ARGS:go "@streq drop" "id:191,phase:1,drop"
"#,
    );
    let i = run_request(&rs, &Req::get("/?go=away")).1.unwrap();
    assert_eq!((i.status, i.redirect.as_deref()), (302, Some("https://example.org/away")));
    let i = run_request(&rs, &Req::get("/?go=drop")).1.unwrap();
    assert!(i.drop);
}

#[test]
fn request_body_limit_rejects_with_413() {
    let rs = ruleset("SecRequestBodyLimit 100\nSecRequestBodyNoFilesLimit 50\nSecRequestBodyLimitAction Reject\n");
    let body = vec![b'a'; 60];
    let (_, i) = run_request(&rs, &Req::post("/u", "application/x-www-form-urlencoded", &body));
    assert_eq!(i.map(|i| i.status), Some(413));
    let body = vec![b'a'; 40];
    assert!(run_request(&rs, &Req::post("/u", "application/x-www-form-urlencoded", &body)).1.is_none());
}

#[test]
fn response_phases_see_status_headers_and_body() {
    let rs = ruleset(
        r#"
SecRule RESPONSE_STATUS "@eq 500" "id:200,phase:3,pass,nolog,setvar:tx.status_seen=1"
SecRule RESPONSE_BODY "@contains SQL syntax" "id:201,phase:4,deny,status:502"
"#,
    );
    let (mut tx, i) = run_request(&rs, &Req::get("/"));
    assert!(i.is_none());
    tx.add_response_header(b"Content-Type", b"text/html; charset=utf-8");
    assert!(tx.process_response_headers(500, "HTTP/1.1").is_none());
    assert_eq!(tx_var(&tx, "status_seen").as_deref(), Some("1"));
    assert!(tx.response_body_needed());
    tx.append_response_body(b"You have an error in your SQL syntax near");
    let i = tx.process_response_body().unwrap();
    assert_eq!((i.rule_id, i.status, i.phase), (201, 502, 4));
}

#[test]
fn load_errors_name_file_line_and_rule() {
    let e = Ruleset::from_str("SecRule ARGS \"@rx (\" \"id:5,phase:2,pass\"\n", "bad.conf").unwrap_err();
    let s = e.to_string();
    assert!(s.contains("bad.conf:1"), "{s}");
    assert!(s.contains("rule 5"), "{s}");
    let e = Ruleset::from_str("\n\nSecRule ARGS \"@rx a\" \"id:6,phase:2,frobnicate\"\n", "bad.conf").unwrap_err();
    assert!(e.to_string().contains("bad.conf:3"), "{e}");
    assert!(e.to_string().contains("frobnicate"), "{e}");
    let e = Ruleset::from_str("SecRule ARGS \"@rx a\" \"id:7\"\nSecRule ARGS \"@rx a\" \"id:7\"\n", "dup.conf").unwrap_err();
    assert!(e.to_string().contains("already used"), "{e}");
    let e = Ruleset::from_str("SecRule ARGS \"@rx a\" \"id:8,chain\"\n", "c.conf").unwrap_err();
    assert!(e.to_string().contains("chain"), "{e}");
    let e = Ruleset::from_str("SecRule ARGS \"@rx a\" \"id:9,skipAfter:NOWHERE\"\n", "m.conf").unwrap_err();
    assert!(e.to_string().contains("NOWHERE"), "{e}");
}

#[test]
fn json_body_arguments_are_named_like_modsecurity() {
    let rs = ruleset(
        r#"
SecRule REQUEST_HEADERS:Content-Type "@rx ^application/json" "id:210,phase:1,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule ARGS:json.user.name "@streq admin" "id:211,phase:2,deny,status:403"
"#,
    );
    let (tx, i) = run_request(&rs, &Req::post("/api", "application/json", br#"{"user":{"name":"admin"}}"#));
    assert_eq!(i.map(|i| i.rule_id), Some(211), "{:?}", tx.matched_rule_ids());
}

#[test]
fn broken_json_sets_reqbody_error() {
    let rs = ruleset(
        r#"
SecRule REQUEST_HEADERS:Content-Type "@rx ^application/json" "id:220,phase:1,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_ERROR "!@eq 0" "id:221,phase:2,deny,status:400,msg:'%{REQBODY_ERROR_MSG}'"
"#,
    );
    let (_, i) = run_request(&rs, &Req::post("/api", "application/json", br#"{"a":"#));
    assert_eq!(i.map(|i| (i.rule_id, i.status)), Some((221, 400)));
    let (_, i) = run_request(&rs, &Req::post("/api", "application/json", br#"{"a":1}"#));
    assert!(i.is_none());
}

#[test]
fn rule_variables_name_the_rule_being_evaluated() {
    let rs = ruleset(
        r#"
SecRule ARGS:a "@streq x" "id:140,phase:1,pass,nolog,severity:CRITICAL,setvar:tx.rid=%{rule.id},setvar:tx.sev=%{rule.severity},setvar:tx.ph=%{RULE.phase}"
SecRule RULE:id "@eq 141" "id:141,phase:2,pass,nolog,setvar:tx.selfid=%{RULE.id}"
SecAction "id:142,phase:2,pass,nolog,setvar:tx.later=%{rule.id}"
"#,
    );
    let (tx, _) = run_request(&rs, &Req::get("/?a=x"));
    assert_eq!(tx_var(&tx, "rid").as_deref(), Some("140"));
    assert_eq!(tx_var(&tx, "sev").as_deref(), Some("CRITICAL"));
    assert_eq!(tx_var(&tx, "ph").as_deref(), Some("1"));
    assert_eq!(tx_var(&tx, "selfid").as_deref(), Some("141"));
    assert_eq!(tx_var(&tx, "later").as_deref(), Some("142"));
}

#[test]
fn single_tx_variable_rules_count_negate_and_name_their_match() {
    let rs = ruleset(
        r#"
SecAction "id:150,phase:1,pass,nolog,setvar:tx.a=5"
SecRule &TX:a "@eq 1" "id:151,phase:1,pass,nolog,setvar:tx.c1=1"
SecRule &TX:missing "@eq 0" "id:152,phase:1,pass,nolog,setvar:tx.c0=1"
SecRule TX:missing "!@eq 1" "id:153,phase:1,pass,nolog,setvar:tx.neg_missing=1"
SecRule TX:a "!@eq 1" "id:154,phase:1,pass,nolog,setvar:tx.neg=1"
SecRule TX:A "@gt 4" "id:155,phase:1,pass,nolog,setvar:tx.mv=%{MATCHED_VAR_NAME},setvar:tx.mval=%{MATCHED_VAR}"
SecRule TX:a "@lt %{tx.a}" "id:156,phase:1,pass,nolog,setvar:tx.lt_self=1"
"#,
    );
    let (tx, _) = run_request(&rs, &Req::get("/"));
    assert_eq!(tx_var(&tx, "c1").as_deref(), Some("1"));
    assert_eq!(tx_var(&tx, "c0").as_deref(), Some("1"));
    assert_eq!(tx_var(&tx, "neg_missing"), None, "a missing variable is not tested, negated or not");
    assert_eq!(tx_var(&tx, "neg").as_deref(), Some("1"));
    assert_eq!(tx_var(&tx, "mv").as_deref(), Some("TX:a"));
    assert_eq!(tx_var(&tx, "mval").as_deref(), Some("5"));
    assert_eq!(tx_var(&tx, "lt_self"), None);
}

/// The literal prefilter also skips single values of a rule it lets run: values that lack
/// every literal of the rule after the rule's transformations. Values whose literal only
/// appears after a transformation, negated operators (which match the values without the
/// literal) and multiMatch steps must come out as without the prefilter.
#[test]
fn prefilter_skips_values_without_literals_only() {
    let rs = ruleset(
        "SecRule ARGS \"@rx adm[i]n\" \"id:10,phase:2,pass,t:none,t:urlDecode,setvar:tx.hits=+1,setvar:'tx.names=%{tx.names} %{MATCHED_VAR_NAME}'\"\n\
         SecRule ARGS \"!@rx adm[i]n\" \"id:11,phase:2,pass,t:none,setvar:tx.misses=+1,setvar:'tx.other=%{tx.other} %{MATCHED_VAR_NAME}'\"\n\
         SecRule ARGS \"@rx adm[i]n\" \"id:12,phase:2,pass,t:none,multiMatch,t:urlDecode,t:lowercase,setvar:tx.steps=+1\"\n",
    );
    let req = Req::get("/?a=hello&b=ADMIN&c=%2561dmin&d=x+admin+y");
    let (tx, _) = run_request(&rs, &req);
    assert_eq!(tx_var(&tx, "hits").as_deref(), Some("2"));
    assert_eq!(tx_var(&tx, "names").as_deref(), Some(" ARGS:c ARGS:d"));
    assert_eq!(tx_var(&tx, "misses").as_deref(), Some("3"));
    assert_eq!(tx_var(&tx, "other").as_deref(), Some(" ARGS:a ARGS:b ARGS:c"));
    let mut plain = Transaction::new(rs.clone(), Arc::new(EngineContext::default()), None);
    plain.disable_prefilter();
    plain.process_connection("192.0.2.10", 50000, "198.51.100.1", 80);
    plain.process_uri(req.uri.as_bytes(), b"GET", "1.1");
    for (k, v) in &req.headers {
        plain.add_request_header(k.as_bytes(), v.as_bytes());
    }
    plain.process_request_headers();
    plain.process_request_body();
    for v in ["hits", "names", "misses", "other", "steps"] {
        assert_eq!(tx_var(&tx, v), tx_var(&plain, v), "tx.{v}");
    }
    assert!(tx_var(&tx, "steps").is_some_and(|s| s.parse::<u32>().unwrap() >= 3), "{:?}", tx_var(&tx, "steps"));
}

/// A transformation step is reused across chains only when both chains' prefixes gave the
/// same text: `t:urlDecodeUni,t:lowercase` and `t:lowercase` share the result on a value
/// urlDecodeUni leaves alone, not on one it changes (values long enough for the reuse).
#[test]
fn shared_transformation_steps_see_their_own_prefix() {
    let rs = ruleset(
        r#"SecRule ARGS:a "@rx ^x+abc$" "id:1,phase:2,pass,t:none,t:lowercase,setvar:tx.plain_a=1"
SecRule ARGS:a "@rx ^x+abc$" "id:2,phase:2,pass,t:none,t:urlDecodeUni,t:lowercase,setvar:tx.decoded_a=1"
SecRule ARGS:b "@rx ^x+%41bc$" "id:3,phase:2,pass,t:none,t:lowercase,setvar:tx.plain_b=1"
SecRule ARGS:b "@rx ^x+abc$" "id:4,phase:2,pass,t:none,t:urlDecodeUni,t:lowercase,setvar:tx.decoded_b=1"
SecRule ARGS:b "@rx ^x+%41BC$" "id:5,phase:2,pass,t:none,t:urlDecodeUni,setvar:tx.wrong_b=1""#,
    );
    let xs = "X".repeat(80);
    let body = format!("a={xs}ABC&b={xs}%2541BC");
    let (tx, i) = run_request(&rs, &Req::post("/", "application/x-www-form-urlencoded", body.as_bytes()));
    assert!(i.is_none());
    // a: urlDecodeUni changes nothing, both chains give the lowercase text.
    assert_eq!(tx_var(&tx, "plain_a").as_deref(), Some("1"));
    assert_eq!(tx_var(&tx, "decoded_a").as_deref(), Some("1"));
    // b is `XX..X%41BC` after the body's own decoding: lowercase alone keeps `%41`,
    // urlDecodeUni then lowercase gives `xx..xabc`.
    assert_eq!(tx_var(&tx, "plain_b").as_deref(), Some("1"));
    assert_eq!(tx_var(&tx, "decoded_b").as_deref(), Some("1"));
    assert_eq!(tx_var(&tx, "wrong_b"), None);
}

/// Rules testing one TX variable (CRS's gates and initialisation checks, evaluated without
/// the generic match buffers) leave MATCHED_VAR, MATCHED_VAR_NAME and MATCHED_VARS as any
/// other match does: named `TX:key` as first written (`TX` for a count), cleared by a rule
/// that does not match; a missing variable matches nothing, negated or not; a runtime
/// exclusion of the variable still applies.
#[test]
fn single_tx_variable_rules_set_matched_var() {
    let rs = ruleset(
        r#"SecAction "id:1,phase:1,pass,nolog,setvar:tx.Paranoia=2"
SecRule TX:paranoia "@ge 2" "id:2,phase:1,pass,nolog"
SecRule MATCHED_VAR_NAME "@streq TX:Paranoia" "id:3,phase:1,pass,nolog,setvar:tx.name_ok=1"
SecRule TX:paranoia "@ge 2" "id:20,phase:1,pass,nolog"
SecRule MATCHED_VAR "@eq 2" "id:21,phase:1,pass,nolog,setvar:tx.value_ok=1"
SecRule TX:paranoia "@ge 2" "id:4,phase:1,pass,nolog"
SecRule MATCHED_VARS_NAMES "@streq TX:Paranoia" "id:5,phase:1,pass,nolog,setvar:tx.vars_ok=1"
SecRule &TX:paranoia "@eq 1" "id:6,phase:1,pass,nolog"
SecRule MATCHED_VAR_NAME "@streq TX" "id:7,phase:1,pass,nolog,setvar:tx.count_name_ok=1"
SecRule TX:paranoia "@lt 2" "id:8,phase:1,pass,nolog"
SecRule &MATCHED_VAR "@eq 0" "id:9,phase:1,pass,nolog,setvar:tx.cleared_ok=1"
SecRule TX:missing "!@eq 1" "id:10,phase:1,pass,nolog,setvar:tx.missing_matched=1"
SecRule TX:paranoia "@eq 2" "id:11,phase:1,pass,nolog,ctl:ruleRemoveTargetById=12;TX:paranoia"
SecRule TX:paranoia "@eq 2" "id:12,phase:1,pass,nolog,setvar:tx.excluded_matched=1"
SecRule TX:paranoia "@eq 2" "id:13,phase:1,pass,nolog,skipAfter:END"
SecAction "id:14,phase:1,pass,nolog,setvar:tx.not_skipped=1"
SecMarker END"#,
    );
    let (tx, i) = run_request(&rs, &Req::get("/"));
    assert!(i.is_none());
    assert_eq!(tx_var(&tx, "name_ok").as_deref(), Some("1"));
    assert_eq!(tx_var(&tx, "value_ok").as_deref(), Some("1"));
    assert_eq!(tx_var(&tx, "vars_ok").as_deref(), Some("1"));
    assert_eq!(tx_var(&tx, "count_name_ok").as_deref(), Some("1"));
    assert_eq!(tx_var(&tx, "cleared_ok").as_deref(), Some("1"));
    assert_eq!(tx_var(&tx, "missing_matched"), None);
    assert_eq!(tx_var(&tx, "excluded_matched"), None);
    assert_eq!(tx_var(&tx, "not_skipped"), None);
    let ids = tx.matched_rule_ids();
    for id in [2, 4, 6, 11, 13] {
        assert!(ids.contains(&id), "rule {id} matched: {ids:?}");
    }
    for id in [8, 10, 12] {
        assert!(!ids.contains(&id), "rule {id} did not match: {ids:?}");
    }
}
