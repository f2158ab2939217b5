//! `@pm`, `@pmFromFile` / `@pmf` (libmodsecurity v3 `pm.cc`, `pm_from_file.cc`,
//! `utils/acmp.cc`).
//!
//! Phrases match anywhere, ASCII case-insensitively; other bytes must be equal. Matching
//! is v3's ACMP automaton, quirks included (see [`Pm`]): it stops at the first position
//! where it sees a phrase end. With `capture`, `TX.0` is what ACMP reports: the text of
//! the automaton state reached there, spelled as in the first phrase that introduced that
//! prefix -- the matched phrase itself, unless a longer phrase was partly read.
//!
//! `@pm` parameter: optional enclosing double quotes are removed, `|hex|` runs become
//! bytes and `\:`, `\;`, `\\`, `\"` escapes are unescaped (invalid content keeps the raw
//! parameter), then the text is split on whitespace (v3.0.13+ `parse_pm_content`; 3.0.9
//! has a memory bug there that corrupts escaped phrases).
//!
//! `@pmFromFile`: space-separated file names relative to the rule file; every line is a
//! phrase, kept byte for byte (no trimming, like v3), except empty lines and lines whose
//! first non-whitespace character is `#`.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::{read_data_file, Captures, CompileCtx, Operator, OperatorEnv};

pub(super) fn compile_pm(param: &str, _ctx: &CompileCtx<'_>) -> Result<Box<dyn Operator>, String> {
    let content = parse_pm_content(param.as_bytes());
    let phrases: Vec<Vec<u8>> = content
        .split(|b| is_cpp_space(*b))
        .filter(|p| !p.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    Ok(Box::new(Pm::new(phrases)?))
}

pub(super) fn compile_pm_from_file(
    param: &str,
    ctx: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    let mut phrases = Vec::new();
    let mut files = 0;
    for name in param.split(' ').filter(|n| !n.is_empty()) {
        files += 1;
        let data = read_data_file(name, ctx)?;
        for line in data.split(|&b| b == b'\n') {
            if !is_comment(line) {
                phrases.push(line.to_vec());
            }
        }
    }
    if files == 0 {
        return Err("no file name given".to_owned());
    }
    Ok(Box::new(Pm::new(phrases)?))
}

/// v3 `PmFromFile::isComment`: empty, or `#` preceded by whitespace only.
fn is_comment(line: &[u8]) -> bool {
    if line.is_empty() {
        return true;
    }
    match line.iter().position(|&b| b == b'#') {
        Some(pos) => line
            .get(..pos)
            .is_some_and(|p| p.iter().all(|b| is_cpp_space(*b))),
        None => false,
    }
}

/// `isspace` in the C locale (what `std::istream_iterator<std::string>` splits on).
fn is_cpp_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

/// v3 `parse_pm_content` (3.0.13+): quotes, `|hex|` and `\` escapes.
fn parse_pm_content(param: &[u8]) -> Vec<u8> {
    let Some(offset) = param.iter().position(|&b| b != b' ' && b != b'\t') else {
        return param.to_vec();
    };
    let mut body = param.get(offset..).unwrap_or_default();
    if body.len() >= 2 && body.first() == Some(&b'"') && body.last() == Some(&b'"') {
        body = body.get(1..body.len() - 1).unwrap_or_default();
    }
    if body.is_empty() {
        return param.to_vec();
    }
    let mut out = Vec::with_capacity(body.len());
    let mut bin = false;
    let mut esc = false;
    let mut hex_pending: Option<u8> = None;
    for &c in body {
        if c == b'|' {
            bin = !bin;
        } else if !esc && c == b'\\' {
            esc = true;
        } else if bin {
            let Some(v) = char::from(c).to_digit(16) else {
                return param.to_vec();
            };
            let v = v as u8;
            match hex_pending.take() {
                Some(high) => out.push(high << 4 | v),
                None => hex_pending = Some(v),
            }
        } else if esc {
            if matches!(c, b':' | b';' | b'\\' | b'"') {
                out.push(c);
            } else {
                return param.to_vec();
            }
            esc = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Phrase matcher with v3 ACMP's results.
///
/// v3's ACMP builds its failure links in one step (`fail(n) = child(fail(parent(n)),
/// letter)`, else the root) instead of following the parent's failure chain, so it misses
/// some occurrences a textbook Aho-Corasick finds: with the phrases `.env` and
/// `secrets.json`, `secrets.env` does not match. This is reproduced exactly. A standard
/// automaton (the `aho-corasick` crate) runs first as a filter: ACMP only reports real
/// occurrences, so when there is none the answer is "no match" without walking the trie.
#[derive(Debug)]
struct Pm {
    /// `None` when there are no phrases (never matches).
    filter: Option<AhoCorasick>,
    acmp: Acmp,
}

impl Pm {
    fn new(phrases: Vec<Vec<u8>>) -> Result<Self, String> {
        let phrases: Vec<Vec<u8>> = phrases.into_iter().filter(|p| !p.is_empty()).collect();
        let filter = if phrases.is_empty() {
            None
        } else {
            Some(
                // A contiguous NFA, not a DFA: the rule's literals are already in the
                // engine's prefilter, so this filter only runs on values that contain one,
                // and a DFA per phrase file would cost megabytes.
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .kind(Some(aho_corasick::AhoCorasickKind::ContiguousNFA))
                    .match_kind(MatchKind::Standard)
                    .build(&phrases)
                    .map_err(|e| format!("cannot build the phrase matcher: {e}"))?,
            )
        };
        Ok(Pm {
            filter,
            acmp: Acmp::build(phrases),
        })
    }
}

impl Operator for Pm {
    fn required_literals(&self) -> Option<Vec<Vec<u8>>> {
        let phrases: Vec<Vec<u8>> = self.acmp.phrases.iter().map(|p| p.to_ascii_lowercase()).collect();
        (!phrases.is_empty()).then_some(phrases)
    }

    fn evaluate(
        &self,
        input: &[u8],
        _env: &mut dyn OperatorEnv,
        captures: Option<&mut Captures>,
    ) -> bool {
        let Some(filter) = &self.filter else {
            return false;
        };
        if !filter.is_match(input) {
            return false;
        }
        let Some(node) = self.acmp.find(input) else {
            return false;
        };
        if let Some(caps) = captures {
            caps.clear();
            caps.set(0, self.acmp.text(node));
        }
        true
    }
}

const ROOT: u32 = 0;

/// libmodsecurity's ACMP automaton (`utils/acmp.cc`), ASCII case-insensitive.
#[derive(Debug, Default)]
struct Acmp {
    nodes: Vec<AcmpNode>,
    phrases: Vec<Vec<u8>>,
}

#[derive(Debug, Default)]
struct AcmpNode {
    /// Children by lower-cased byte, sorted.
    children: Vec<(u8, u32)>,
    fail: u32,
    /// A phrase ends here.
    is_last: bool,
    /// A phrase ends at some node of the failure chain (`o_match` in v3).
    other_match: bool,
    /// The phrase that created this node; its first `depth` bytes are the node's text.
    phrase: u32,
    depth: u32,
}

impl Acmp {
    fn build(phrases: Vec<Vec<u8>>) -> Self {
        let mut acmp = Acmp {
            nodes: vec![AcmpNode::default()],
            phrases,
        };
        for pi in 0..acmp.phrases.len() {
            let len = acmp.phrases.get(pi).map_or(0, Vec::len);
            let mut node = ROOT;
            for depth in 0..len {
                let byte = acmp
                    .phrases
                    .get(pi)
                    .and_then(|p| p.get(depth))
                    .copied()
                    .unwrap_or(0);
                let letter = byte.to_ascii_lowercase();
                node = match acmp.child(node, letter) {
                    Some(child) => child,
                    None => {
                        let id = acmp.nodes.len() as u32;
                        acmp.nodes.push(AcmpNode {
                            phrase: pi as u32,
                            depth: depth as u32 + 1,
                            ..AcmpNode::default()
                        });
                        if let Some(parent) = acmp.nodes.get_mut(node as usize) {
                            let at = parent
                                .children
                                .binary_search_by_key(&letter, |c| c.0)
                                .unwrap_or_else(|i| i);
                            parent.children.insert(at, (letter, id));
                        }
                        id
                    }
                };
            }
            if let Some(n) = acmp.nodes.get_mut(node as usize).filter(|_| node != ROOT) {
                n.is_last = true;
            }
        }
        // Failure links, level by level, with v3's one-step rule.
        let mut level: Vec<(u32, u32, u8)> = acmp.children_of(ROOT);
        while !level.is_empty() {
            let mut next = Vec::new();
            for &(node, parent, letter) in &level {
                let fail = if parent == ROOT {
                    ROOT
                } else {
                    let parent_fail = acmp.nodes.get(parent as usize).map_or(ROOT, |p| p.fail);
                    acmp.child(parent_fail, letter).unwrap_or(ROOT)
                };
                if let Some(n) = acmp.nodes.get_mut(node as usize) {
                    n.fail = fail;
                }
                next.extend(acmp.children_of(node));
            }
            level = next;
        }
        // Other matches along each failure chain.
        for id in 1..acmp.nodes.len() {
            let mut om = acmp.nodes.get(id).map_or(ROOT, |n| n.fail);
            let mut steps = 0;
            let mut found = false;
            while om != ROOT && steps <= acmp.nodes.len() {
                let Some(n) = acmp.nodes.get(om as usize) else {
                    break;
                };
                if n.is_last {
                    found = true;
                    break;
                }
                om = n.fail;
                steps += 1;
            }
            if let Some(n) = acmp.nodes.get_mut(id) {
                n.other_match = found;
            }
        }
        // Large phrase files (pmFromFile) make tens of thousands of nodes: no spare capacity.
        for n in &mut acmp.nodes {
            n.children.shrink_to_fit();
        }
        acmp.nodes.shrink_to_fit();
        acmp
    }

    fn child(&self, node: u32, letter: u8) -> Option<u32> {
        let n = self.nodes.get(node as usize)?;
        let i = n.children.binary_search_by_key(&letter, |c| c.0).ok()?;
        n.children.get(i).map(|c| c.1)
    }

    /// `(child, parent, letter)` for every child of `node`.
    fn children_of(&self, node: u32) -> Vec<(u32, u32, u8)> {
        self.nodes
            .get(node as usize)
            .map(|n| n.children.iter().map(|&(l, c)| (c, node, l)).collect())
            .unwrap_or_default()
    }

    /// v3 `acmp_process_quick`: the node whose text is reported, at the first match.
    fn find(&self, input: &[u8]) -> Option<u32> {
        let mut node = ROOT;
        for &byte in input {
            let letter = byte.to_ascii_lowercase();
            let mut next = None;
            loop {
                if let Some(child) = self.child(node, letter) {
                    if self.nodes.get(child as usize).is_some_and(|n| n.is_last) {
                        return Some(child);
                    }
                    next = Some(child);
                    break;
                }
                if node == ROOT {
                    break;
                }
                node = self.nodes.get(node as usize).map_or(ROOT, |n| n.fail);
            }
            if let Some(child) = next {
                node = child;
            }
            if self.nodes.get(node as usize).is_some_and(|n| n.other_match) {
                return Some(node);
            }
        }
        None
    }

    /// A node's text: the prefix of the phrase that created it.
    fn text(&self, node: u32) -> &[u8] {
        self.nodes
            .get(node as usize)
            .and_then(|n| {
                self.phrases
                    .get(n.phrase as usize)
                    .and_then(|p| p.get(..n.depth as usize))
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{eval, eval_captures};
    use super::*;
    use std::io::Write;

    fn tx0(param: &str, input: &[u8]) -> Option<Vec<u8>> {
        let (hit, slots) = eval_captures("pm", param, input);
        if hit {
            slots.into_iter().next().flatten()
        } else {
            None
        }
    }

    #[test]
    fn matches_case_insensitively_and_reports_like_acmp() {
        assert!(eval("pm", "abc def", b"xxDEFyy"));
        assert!(!eval("pm", "abc def", b"xxdeyy"));
        // TX.0 is spelled as in the parameter.
        assert_eq!(tx0("ABC", b"xxabcxx"), Some(b"ABC".to_vec()));
        assert_eq!(tx0("ABC abc", b"xabc"), Some(b"ABC".to_vec()));
        assert_eq!(tx0("abc ABD", b"xABD"), Some(b"ABD".to_vec()));
        // The earliest ending phrase wins.
        assert_eq!(tx0("bcd abc", b"abcd"), Some(b"abc".to_vec()));
        assert_eq!(tx0("abcx bcd", b"xabcd"), Some(b"bcd".to_vec()));
        // v3 reports the state text, not the phrase, when a longer phrase was partly read.
        assert_eq!(tx0("abcd bc", b"abcd"), Some(b"abc".to_vec()));
        assert_eq!(tx0("a", b"a"), Some(b"a".to_vec()));
    }

    #[test]
    fn one_step_failure_links_as_in_v3() {
        // v3's ACMP misses `.env` here (checked with libmodsecurity 3.0.9).
        assert!(!eval("pm", ".env secrets.json", b"/x/secrets.env"));
        assert!(eval("pm", ".env secrets.json", b"/x/.env"));
        assert!(eval("pm", ".env", b"/x/secrets.env"));
    }

    #[test]
    fn non_ascii_bytes_are_exact() {
        assert!(eval("pm", "é", "xéy".as_bytes()));
        assert!(!eval("pm", "é", "xÉy".as_bytes()));
    }

    #[test]
    fn parameter_parsing() {
        assert_eq!(parse_pm_content(b"\"abc def\""), b"abc def".to_vec());
        assert_eq!(parse_pm_content(b"a|41 42|b"), b"a|41 42|b".to_vec());
        assert_eq!(parse_pm_content(b"a|4142|b"), b"aABb".to_vec());
        assert_eq!(parse_pm_content(b"a\\:b"), b"a:b".to_vec());
        assert_eq!(parse_pm_content(b"a\\xb"), b"a\\xb".to_vec());
        assert!(eval("pm", "a|3a|b", b"a:b"));
        assert!(!eval("pm", "", b"anything"));
        assert!(!eval("pm", "   ", b"   "));
    }

    #[test]
    fn from_file_skips_comments_and_keeps_lines_verbatim() {
        let dir = std::env::temp_dir().join(format!("rampart-pm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("list.data");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(b"# comment\n  # indented comment\n\n  def\nAbC\nx#y\n\xc3\xa9t\xc3\xa9\n")
            .unwrap();
        let ctx = CompileCtx { base_dir: &dir };
        let op = compile_pm_from_file("list.data", &ctx).unwrap();
        let mut env = super::super::test_support::MapEnv::default();
        assert!(op.evaluate(b"xxabcxx", &mut env, None));
        assert!(!op.evaluate(b"def", &mut env, None));
        assert!(op.evaluate(b"  def", &mut env, None));
        assert!(op.evaluate(b"x#y", &mut env, None));
        assert!(!op.evaluate(b"comment", &mut env, None));
        assert!(op.evaluate("un été".as_bytes(), &mut env, None));
        // Several files.
        std::fs::write(dir.join("two.data"), b"zzz\n").unwrap();
        let op = compile_pm_from_file("list.data two.data", &ctx).unwrap();
        assert!(op.evaluate(b"zzz", &mut env, None));
        assert!(compile_pm_from_file("missing.data", &ctx).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn comment_rule() {
        assert!(is_comment(b""));
        assert!(is_comment(b"#x"));
        assert!(is_comment(b" \t#x"));
        assert!(!is_comment(b"a#x"));
        assert!(!is_comment(b"   "));
    }
}
