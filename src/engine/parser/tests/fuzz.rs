//! Random inputs never make the parser panic, and every location it reports is inside
//! the input.

use std::sync::Arc;

use super::super::{parse_bytes, parse_str};

/// xorshift64*: small, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Iteration multiplier: `RAMPART_FUZZ_SCALE=100 cargo test --release fuzz` for a long run.
fn scale() -> usize {
    std::env::var("RAMPART_FUZZ_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Parses `bytes` and checks that every reported line:column exists in the input.
fn check(bytes: &[u8]) {
    let file: Arc<str> = "fuzz.conf".into();
    let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    let in_input = |line: u32, col: u32| {
        line >= 1 && (line as usize) <= lines && col >= 1 && (col as usize) <= bytes.len() + 1
    };
    match parse_bytes(bytes, file.clone()) {
        Ok(ds) => {
            for d in &ds {
                assert!(
                    in_input(d.loc.line, d.loc.column),
                    "{} for {bytes:?}",
                    d.loc
                );
            }
        }
        Err(e) => assert!(in_input(e.loc.line, e.loc.column), "{e} for {bytes:?}"),
    }
    let text = String::from_utf8_lossy(bytes);
    let _ = parse_str(&text, file);
}

#[test]
fn random_bytes() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let alphabet = b"SecRule \"'\\\n\r\t|,:@!&#%{}/ARGSid:1msg\xff\xc3";
    for i in 0..3_000 * scale() {
        let len = rng.below(300);
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                if i % 2 == 0 {
                    (rng.next() & 0xff) as u8
                } else {
                    alphabet[rng.below(alphabet.len())]
                }
            })
            .collect();
        check(&bytes);
    }
}

#[test]
fn random_seclang_fragments() {
    const FRAGMENTS: &[&str] = &[
        "SecRule",
        "SecAction",
        "SecDefaultAction",
        "SecMarker",
        "SecRuleUpdateTargetById",
        "SecRuleUpdateActionById",
        "SecRuleRemoveById",
        "Include",
        "SecRuleEngine",
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "\\\n",
        "\\",
        "\"",
        "'",
        "|",
        ",",
        ":",
        ".",
        "!",
        "&",
        "@rx",
        "@pm",
        "@",
        "ARGS",
        "TX",
        "XML:/*",
        "/x/",
        "id:1",
        "msg:'",
        "msg:",
        "t:none",
        "setvar:",
        "tx.a=+1",
        "%{",
        "}",
        "#",
        "#SecRule",
        "é",
        "\u{FEFF}",
        "=",
        ";",
        "chain",
        "''",
        "\"\"",
    ];
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for _ in 0..8_000 * scale() {
        let n = rng.below(24);
        let text: String = (0..n)
            .map(|_| FRAGMENTS[rng.below(FRAGMENTS.len())])
            .collect();
        check(text.as_bytes());
    }
}

#[test]
fn mutated_rules() {
    let base = "SecRule REQUEST_HEADERS:Content-Type|!ARGS:/^x/|&TX:a \"!@rx ^[\\w/.+*-]+(?:\\s?;)\" \\\n    \"id:920470,\\\n    phase:1,\\\n    block,\\\n    t:none,t:lowercase,\\\n    msg:'Illegal Content-Type header, \\'x\\'',\\\n    logdata:'%{MATCHED_VAR}',\\\n    setvar:'tx.inbound_anomaly_score_pl1=+%{tx.critical_anomaly_score}'\"\n#SecAction \\\n#  \"id:1\"\nSecMarker \"END\"\nInclude x.conf\n";
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    for _ in 0..2_000 * scale() {
        let mut bytes = base.as_bytes().to_vec();
        for _ in 0..1 + rng.below(4) {
            let pos = rng.below(bytes.len() + 1);
            match rng.below(3) {
                0 if pos < bytes.len() => {
                    bytes.remove(pos);
                }
                1 => bytes.insert(pos, b"\"'\\\n,|: @!#"[rng.below(11)]),
                _ => {
                    let from = rng.below(bytes.len());
                    let b = bytes[from];
                    bytes.insert(pos, b);
                }
            }
        }
        check(&bytes);
    }
}
