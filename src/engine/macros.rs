//! `%{VAR.key}` macro strings (msg, logdata, setvar, operator parameters...).

use super::vars::Var;

/// Resolves the value of one variable for macro expansion.
pub trait Resolve {
    /// Appends the (first) value of `var` / `key` to `out`; returns false when it has none.
    /// `key` is lower-case.
    fn resolve(&self, var: Var, key: Option<&[u8]>, out: &mut Vec<u8>) -> bool;
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(Vec<u8>),
    Var { var: Var, key: Option<Vec<u8>> },
}

/// A string with macros, parsed once at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroString {
    parts: Vec<Part>,
    text: String,
}

impl MacroString {
    /// Parses `text`. Unknown variables inside `%{...}` are an error.
    pub fn parse(text: &str) -> Result<MacroString, String> {
        let mut parts = Vec::new();
        let bytes = text.as_bytes();
        let mut lit = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && bytes.get(i + 1) == Some(&b'{') {
                if let Some(end) = bytes[i + 2..].iter().position(|&b| b == b'}') {
                    let inner = &text[i + 2..i + 2 + end];
                    let (name, key) = match inner.find(['.', ':']) {
                        Some(p) => (&inner[..p], Some(&inner[p + 1..])),
                        None => (inner, None),
                    };
                    let var = Var::from_name(name.trim()).ok_or_else(|| {
                        format!("unknown variable `{}` in macro `%{{{}}}`", name, inner)
                    })?;
                    if key.is_some() && !var.is_collection() {
                        return Err(format!("variable {} in macro `%{{{}}}` takes no key", var.name(), inner));
                    }
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Var { var, key: key.map(|k| k.as_bytes().to_ascii_lowercase()) });
                    i += 3 + end;
                    continue;
                }
            }
            lit.push(bytes[i]);
            i += 1;
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(MacroString { parts, text: text.to_string() })
    }

    /// True when the string contains no macro.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Expands into `out` (appending).
    pub fn expand_into(&self, r: &dyn Resolve, out: &mut Vec<u8>) {
        for p in &self.parts {
            match p {
                Part::Lit(l) => out.extend_from_slice(l),
                Part::Var { var, key } => {
                    r.resolve(*var, key.as_deref(), out);
                }
            }
        }
    }

    pub fn expand(&self, r: &dyn Resolve) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len());
        self.expand_into(r, &mut out);
        out
    }

    /// Expands to a (lossy) string.
    pub fn expand_string(&self, r: &dyn Resolve) -> String {
        if self.is_literal() {
            return self.text.clone();
        }
        match String::from_utf8(self.expand(r)) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct R;
    impl Resolve for R {
        fn resolve(&self, var: Var, key: Option<&[u8]>, out: &mut Vec<u8>) -> bool {
            match (var, key) {
                (Var::Tx, Some(b"score")) => out.extend_from_slice(b"5"),
                (Var::MatchedVar, None) => out.extend_from_slice(b"<x>"),
                (Var::Rule, Some(b"id")) => out.extend_from_slice(b"942100"),
                _ => return false,
            }
            true
        }
    }

    #[test]
    fn parses_and_expands() {
        let m = MacroString::parse("Score %{TX.Score} on %{MATCHED_VAR} (%{rule.id})").unwrap();
        assert!(!m.is_literal());
        assert_eq!(m.expand_string(&R), "Score 5 on <x> (942100)");
        let m = MacroString::parse("plain % text {x}").unwrap();
        assert!(m.is_literal());
        assert_eq!(m.expand_string(&R), "plain % text {x}");
        // Unknown values expand to nothing.
        assert_eq!(MacroString::parse("[%{tx.none}]").unwrap().expand_string(&R), "[]");
        // Unterminated macro is literal text.
        assert_eq!(MacroString::parse("a %{tx.x").unwrap().expand_string(&R), "a %{tx.x");
        // TX:key form.
        assert_eq!(MacroString::parse("%{tx:score}").unwrap().expand_string(&R), "5");
    }

    #[test]
    fn unknown_variable_is_an_error() {
        let e = MacroString::parse("%{NOPE.x}").unwrap_err();
        assert!(e.contains("NOPE"), "{e}");
        assert!(MacroString::parse("%{REQUEST_URI.x}").is_err());
    }
}
