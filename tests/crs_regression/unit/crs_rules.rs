//! Unit tests of `crs_rules.rs`.

use crate::crs_rules::*;
use crate::paths::Paths;

const SAMPLE: &str = r#"
# A comment with "quotes" and id:999 that is not a rule.
SecRule TX:DETECTION_PARANOIA_LEVEL "@lt 1" "id:942011,phase:1,pass,nolog,tag:'OWASP_CRS',skipAfter:END-REQUEST-942-APPLICATION-ATTACK-SQLI"

SecRule ARGS "@rx a\"b,c" \
    "id:942100,\
    phase:2,\
    block,\
    msg:'Looking for the \"magic\" thing, with commas',\
    tag:'attack-sqli',\
    tag:'paranoia-level/1',\
    severity:'CRITICAL',\
    setvar:'tx.sql_injection_score=+%{tx.critical_anomaly_score}',\
    setvar:'tx.inbound_anomaly_score_pl1=+%{tx.critical_anomaly_score}'"

SecRule REQUEST_URI "@rx x" \
    "id:942200,phase:2,block,tag:'paranoia-level/1',severity:'WARNING',\
    setvar:'tx.inbound_anomaly_score_pl1=+%{tx.warning_anomaly_score}'"

SecRule ARGS "@rx y" \
    "id:942300,\
    phase:2,\
    block,\
    tag:'paranoia-level/1',\
    severity:2,\
    chain"
    SecRule MATCHED_VARS "@rx z" \
        "setvar:'tx.inbound_anomaly_score_pl1=+%{tx.critical_anomaly_score}'"

SecRule ARGS "@rx q" \
    "id:942400,phase:2,block,tag:'paranoia-level/2',severity:'CRITICAL',\
    setvar:'tx.inbound_anomaly_score_pl2=+%{tx.critical_anomaly_score}'"

SecRule ARGS "@rx r" \
    "id:942500,phase:2,block,tag:'paranoia-level/1',severity:'CRITICAL',chain"
    SecRule ARGS "@rx s" "t:none"

SecMarker "END-REQUEST-942-APPLICATION-ATTACK-SQLI"
SecAction "id:942600,phase:1,pass,nolog,tag:'paranoia-level/1',severity:'CRITICAL',setvar:'tx.inbound_anomaly_score_pl1=+%{tx.critical_anomaly_score}'"
"#;

#[test]
fn parses_ids_tags_severity_and_scores() {
    let rules = parse_rules(SAMPLE);
    let ids: Vec<u64> = rules.iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        [942011, 942100, 942200, 942300, 942400, 942500, 942600]
    );
    let r100 = &rules[1];
    assert_eq!(r100.paranoia_tags, [1]);
    assert_eq!(r100.severity.as_deref(), Some("CRITICAL"));
    assert_eq!(r100.critical_score_levels, [1]);
    // Numeric severity, score added in the chained link.
    let r300 = &rules[3];
    assert_eq!(r300.severity.as_deref(), Some("CRITICAL"));
    assert_eq!(r300.critical_score_levels, [1]);
}

#[test]
fn selects_pl1_rules_that_add_the_critical_score() {
    let ids: Vec<u64> = pl1_critical_ids(SAMPLE).into_iter().collect();
    // Not 942200 (warning score), 942400 (level 2), 942500 (adds no score), 942011 (no tags).
    assert_eq!(ids, [942100, 942300, 942600]);
}

#[test]
fn empty_and_garbage_input() {
    assert!(parse_rules("").is_empty());
    assert!(parse_rules("SecRule\nSecRule ARGS\n\"unterminated\\\n").is_empty());
    assert!(parse_rules("SecAction \"phase:1,pass\"").is_empty());
}

/// Against the real CRS: the well-known level-1 critical rules of the four attack files are
/// found, and level-2 rules or non-critical ones are not.
#[test]
fn real_crs_files() {
    let p = Paths::discover();
    let read = |stem: &str| {
        std::fs::read_to_string(p.crs_dir.join("rules").join(format!("{stem}.conf"))).ok()
    };
    let Some(sqli) = read("REQUEST-942-APPLICATION-ATTACK-SQLI") else {
        eprintln!("CRS not found under {}; skipping", p.crs_dir.display());
        return;
    };
    let ids = pl1_critical_ids(&sqli);
    assert!(ids.contains(&942100), "{ids:?}");
    assert!(ids.contains(&942220), "msg with escaped quotes: {ids:?}");
    assert!(!ids.contains(&942120), "942120 is paranoia level 2");
    let lfi = read("REQUEST-930-APPLICATION-ATTACK-LFI").expect("930 file");
    let ids = pl1_critical_ids(&lfi);
    assert!(ids.contains(&930100) && ids.contains(&930120), "{ids:?}");
    let xss = read("REQUEST-941-APPLICATION-ATTACK-XSS").expect("941 file");
    assert!(pl1_critical_ids(&xss).contains(&941100));
    let rce = read("REQUEST-932-APPLICATION-ATTACK-RCE").expect("932 file");
    assert!(pl1_critical_ids(&rce).contains(&932160));
    // Every rule tagged paranoia-level/1 or /2 in the file has exactly one level tag.
    for r in parse_rules(&sqli) {
        assert!(r.paranoia_tags.len() <= 1, "{r:?}");
    }
}
