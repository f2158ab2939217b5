//! The XPath 1.0 subset the XML collection needs (`XML:/*`, `XML://@*`, and simple
//! location paths), compiled once and evaluated over an [`XmlDoc`](super::xml::XmlDoc).
//!
//! Supported: absolute (`/…`, `//…`) and relative location paths; `/` alone; steps `.`,
//! `..`, `@name`, `@*`, `@p:name`, `name`, `*`, `p:name`, `p:*`; node tests `text()`,
//! `node()`, `comment()`, `processing-instruction()`; axes `child::`, `descendant::`,
//! `descendant-or-self::`, `attribute::`, `self::`, `parent::`. Anything else (predicates,
//! unions, functions, operators, other axes) is rejected when compiling.
//!
//! As in XPath 1.0 (and libxml2), an unprefixed name matches only nodes in no namespace;
//! a prefix must be registered (v3: the rule's `xmlns` action).

/// A compiled XPath expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XPath {
    pub(super) absolute: bool,
    pub(super) steps: Vec<Step>,
    /// The expression as written, for messages.
    pub(super) source: String,
}

impl XPath {
    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True for `/*` (the document element), which the engine can serve from
    /// [`XmlDoc::root_text`](super::xml::XmlDoc::root_text).
    pub fn is_root_element(&self) -> bool {
        self.absolute
            && self.steps.len() == 1
            && self.steps[0]
                == Step {
                    axis: Axis::Child,
                    test: NodeTest::Any(None),
                }
    }

    /// True for `//@*` (every attribute), which the engine can serve from
    /// [`XmlDoc::attribute_values`](super::xml::XmlDoc::attribute_values).
    pub fn is_all_attributes(&self) -> bool {
        self.absolute
            && self.steps.len() == 2
            && self.steps[0]
                == Step {
                    axis: Axis::DescendantOrSelf,
                    test: NodeTest::Node,
                }
            && self.steps[1]
                == Step {
                    axis: Axis::Attribute,
                    test: NodeTest::Any(None),
                }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Axis {
    Child,
    Descendant,
    DescendantOrSelf,
    Attribute,
    SelfOnly,
    Parent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum NodeTest {
    /// `name` or `prefix:name`.
    Name(Option<String>, String),
    /// `*` or `prefix:*`.
    Any(Option<String>),
    Text,
    Node,
    Comment,
    Pi,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Step {
    pub(super) axis: Axis,
    pub(super) test: NodeTest,
}

/// Compiles an expression, or explains why it is not supported.
pub fn compile(expr: &str) -> Result<XPath, String> {
    let err = |why: &str| format!("unsupported XPath expression '{expr}': {why}");
    let s = expr.trim().as_bytes();
    if s.is_empty() {
        return Err(err("empty expression"));
    }
    let mut steps = Vec::new();
    let mut i = 0usize;
    let absolute = s[0] == b'/';
    if s.starts_with(b"//") {
        steps.push(Step {
            axis: Axis::DescendantOrSelf,
            test: NodeTest::Node,
        });
        i = 2;
    } else if absolute {
        i = 1;
        if skip_ws(s, i) == s.len() {
            return Ok(XPath {
                absolute,
                steps,
                source: expr.to_string(),
            });
        }
    }
    loop {
        i = skip_ws(s, i);
        let (step, next) = parse_step(s, i).map_err(|why| err(&why))?;
        steps.push(step);
        i = skip_ws(s, next);
        if i >= s.len() {
            break;
        }
        if s[i..].starts_with(b"//") {
            steps.push(Step {
                axis: Axis::DescendantOrSelf,
                test: NodeTest::Node,
            });
            i += 2;
        } else if s[i] == b'/' {
            i += 1;
        } else {
            let what = match s[i] {
                b'[' => "predicates are not supported".to_string(),
                b'|' => "unions are not supported".to_string(),
                c => format!("unexpected '{}' at offset {i}", c as char),
            };
            return Err(err(&what));
        }
        if skip_ws(s, i) >= s.len() {
            return Err(err("a step is missing after '/'"));
        }
    }
    Ok(XPath {
        absolute,
        steps,
        source: expr.to_string(),
    })
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while s.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_name_char(c: u8) -> bool {
    is_name_start(c) || c.is_ascii_digit() || c == b'-' || c == b'.'
}

/// An NCName at `i`.
fn ncname(s: &[u8], i: usize) -> Option<(String, usize)> {
    if !s.get(i).is_some_and(|&c| is_name_start(c)) {
        return None;
    }
    let n = s[i..].iter().take_while(|&&c| is_name_char(c)).count();
    let name = std::str::from_utf8(&s[i..i + n]).ok()?.to_string();
    Some((name, i + n))
}

fn parse_step(s: &[u8], mut i: usize) -> Result<(Step, usize), String> {
    if s[i..].starts_with(b"..") {
        return Ok((
            Step {
                axis: Axis::Parent,
                test: NodeTest::Node,
            },
            i + 2,
        ));
    }
    if s.get(i) == Some(&b'.') {
        return Ok((
            Step {
                axis: Axis::SelfOnly,
                test: NodeTest::Node,
            },
            i + 1,
        ));
    }
    let mut axis = Axis::Child;
    if s.get(i) == Some(&b'@') {
        axis = Axis::Attribute;
        i = skip_ws(s, i + 1);
    } else if let Some((name, after)) = ncname(s, i) {
        let j = skip_ws(s, after);
        if s[j..].starts_with(b"::") {
            axis = match name.as_str() {
                "child" => Axis::Child,
                "descendant" => Axis::Descendant,
                "descendant-or-self" => Axis::DescendantOrSelf,
                "attribute" => Axis::Attribute,
                "self" => Axis::SelfOnly,
                "parent" => Axis::Parent,
                other => return Err(format!("the {other} axis is not supported")),
            };
            i = skip_ws(s, j + 2);
        }
    }
    let test_start = i;
    if s.get(i) == Some(&b'*') {
        return Ok((
            Step {
                axis,
                test: NodeTest::Any(None),
            },
            i + 1,
        ));
    }
    let Some((name, after)) = ncname(s, i) else {
        return Err(format!("a node test is expected at offset {test_start}"));
    };
    let j = skip_ws(s, after);
    if s.get(j) == Some(&b'(') {
        let k = skip_ws(s, j + 1);
        if s.get(k) != Some(&b')') {
            return Err(format!("'{name}(' with arguments is not supported"));
        }
        let test = match name.as_str() {
            "text" => NodeTest::Text,
            "node" => NodeTest::Node,
            "comment" => NodeTest::Comment,
            "processing-instruction" => NodeTest::Pi,
            other => return Err(format!("function {other}() is not supported")),
        };
        return Ok((Step { axis, test }, k + 1));
    }
    if s.get(after) == Some(&b':') && s.get(after + 1) != Some(&b':') {
        if s.get(after + 1) == Some(&b'*') {
            return Ok((
                Step {
                    axis,
                    test: NodeTest::Any(Some(name)),
                },
                after + 2,
            ));
        }
        let Some((local, end)) = ncname(s, after + 1) else {
            return Err(format!("a local name is expected after '{name}:'"));
        };
        return Ok((
            Step {
                axis,
                test: NodeTest::Name(Some(name), local),
            },
            end,
        ));
    }
    Ok((
        Step {
            axis,
            test: NodeTest::Name(None, name),
        },
        after,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_supported_forms() {
        for e in [
            "/*",
            "//@*",
            "/",
            "/a/b",
            "//name",
            "//name/@attr",
            "//*",
            "/a/@x",
            "/a/text()",
            "//text()",
            "a/b",
            ".",
            "..",
            "/a/..",
            "//soap:Body/*",
            "//p:*",
            "/child::a/descendant::b/attribute::c",
            "//comment()",
            "//processing-instruction()",
            " /a / b ",
        ] {
            assert!(compile(e).is_ok(), "{e}: {:?}", compile(e));
        }
    }

    #[test]
    fn fast_path_recognition() {
        assert!(compile("/*").unwrap().is_root_element());
        assert!(!compile("//*").unwrap().is_root_element());
        assert!(compile("//@*").unwrap().is_all_attributes());
        assert!(!compile("//@x").unwrap().is_all_attributes());
        assert_eq!(compile("/a").unwrap().as_str(), "/a");
    }

    #[test]
    fn rejects_unsupported_forms() {
        for (e, why) in [
            ("", "empty"),
            ("/a[1]", "predicates"),
            ("//a | //b", "unions"),
            ("count(//a)", "count"),
            ("/a/", "missing"),
            ("//", "node test"),
            ("/ancestor::a", "ancestor axis"),
            ("/a + 1", "unexpected"),
            ("@", "node test"),
            ("/p:", "local name"),
            ("$x", "node test"),
            ("text(1)", "arguments"),
        ] {
            let r = compile(e);
            let msg = r.expect_err(e);
            assert!(msg.contains(why), "{e}: {msg}");
            assert!(msg.contains(&format!("'{e}'")), "{e}: {msg}");
        }
    }
}
