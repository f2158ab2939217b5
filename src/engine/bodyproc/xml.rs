//! XML request bodies: v3's `request_body_processor/xml.cc` (libxml2 push parser, default
//! options: no entity substitution, no DTD loading, no network) and the `XML:<xpath>`
//! collection of `variables/xml.cc`, which returns `xmlNodeGetContent` of every node the
//! expression selects.
//!
//! Parsing uses `roxmltree` (DTDs allowed so internal entities work like in libxml2;
//! nothing external is ever resolved), after [`xml_prep`](super::xml_prep) has bounded the
//! nesting depth, fixed the encoding, and neutralised external entities the way libxml2
//! leaves them (empty). The document is then copied into a compact arena so [`XmlDoc`] owns
//! its data; every element's text content is a contiguous slice of one buffer, so `XML:/*`
//! costs nothing to produce.
//!
//! `xmlNodeGetContent` semantics: an element (or the document) gives the concatenation of
//! all its descendant text and CDATA (entity references expanded, comments and processing
//! instructions excluded), an attribute its value, a text / comment / PI node its content.
//!
//! Known differences from libxml2: an element or attribute with an undeclared namespace
//! prefix makes the document fail (libxml2 only warns); internal parameter entities used
//! to declare general entities are not expanded; adjacent text and CDATA are one node for
//! `text()`; v3 may keep a partial tree after a parse error, here an error gives no tree.

use std::ops::Range;

use super::xml_prep::{self, PrepError};
use super::xpath::{self, Axis, NodeTest, Step};
use super::Limits;

pub use super::xpath::XPath;

/// REQBODY_ERROR_MSG for any XML parse failure (v3 reports no detail).
pub const PARSE_ERROR_MSG: &str = "XML parsing error: XML: Failed parsing document.";

/// libxml2 without `XML_PARSE_HUGE` rejects an element with more than 256 ancestors.
pub const LIBXML2_MAX_DEPTH: usize = 257;

/// Parses a complete XML body.
///
/// On error returns the REQBODY_ERROR_MSG text v3 sets ([`PARSE_ERROR_MSG`]; REQBODY_ERROR
/// and REQBODY_PROCESSOR_ERROR are then `1`). An empty body is an error, as in v3.
/// Elements nested deeper than `min(limits.max_depth, LIBXML2_MAX_DEPTH)` make the document
/// fail, as in libxml2.
pub fn parse(body: &[u8], limits: &Limits) -> Result<XmlDoc, String> {
    parse_detailed(body, limits).map_err(|_| PARSE_ERROR_MSG.to_string())
}

/// Like [`parse`], but the error says what went wrong (for debug logs).
pub fn parse_detailed(body: &[u8], limits: &Limits) -> Result<XmlDoc, String> {
    let max_depth = limits.max_depth.min(LIBXML2_MAX_DEPTH);
    let text = xml_prep::decode(body).map_err(prep_message)?;
    let text = xml_prep::prepare(&text, max_depth).map_err(prep_message)?;
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(&text, options).map_err(|e| e.to_string())?;
    XmlDoc::build(&doc, max_depth)
}

fn prep_message(e: PrepError) -> String {
    match e {
        PrepError::Encoding => "input is not valid in its encoding".to_string(),
        PrepError::TooDeep => "excessive depth in document".to_string(),
        PrepError::Dtd => "malformed DOCTYPE".to_string(),
    }
}

/// Checks an XPath expression at rule load time (`XML:<expr>`); the error names the
/// expression.
pub fn validate_xpath(expr: &str) -> Result<(), String> {
    xpath::compile(expr).map(|_| ())
}

/// Compiles an XPath expression once, for [`XmlDoc::select`].
pub fn compile_xpath(expr: &str) -> Result<XPath, String> {
    xpath::compile(expr)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Document,
    Element,
    Text,
    Comment,
    Pi,
}

#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    /// Parent node index (none for the document).
    parent: Option<usize>,
    /// One past the last descendant (preorder indices).
    end: usize,
    /// Text content in `XmlDoc::texts` (the node's own text for text nodes, all descendant
    /// text for elements and the document).
    text: Range<usize>,
    /// Element local name / PI target, in `strings`.
    name: Range<usize>,
    /// Element namespace URI, in `strings` (empty: no namespace).
    ns: Range<usize>,
    /// Comment / PI content, in `strings`.
    value: Range<usize>,
    /// Attributes in `XmlDoc::attrs`.
    attrs: Range<usize>,
}

#[derive(Debug, Clone)]
struct Attr {
    owner: usize,
    name: Range<usize>,
    ns: Range<usize>,
    value: Range<usize>,
}

/// A parsed XML body, owning its data.
#[derive(Debug, Clone)]
pub struct XmlDoc {
    /// Node 0 is the document; nodes are in document order.
    nodes: Vec<Node>,
    attrs: Vec<Attr>,
    /// All text node contents, in document order.
    texts: String,
    /// Names, namespaces, attribute values, comments, PIs.
    strings: String,
}

/// A selected node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Node(usize),
    Attr(usize),
}

impl XmlDoc {
    fn build(doc: &roxmltree::Document<'_>, max_depth: usize) -> Result<XmlDoc, String> {
        let mut d = XmlDoc {
            nodes: Vec::new(),
            attrs: Vec::new(),
            texts: String::new(),
            strings: String::new(),
        };
        // Open nodes: (roxmltree id, our index, is element).
        let mut stack: Vec<(roxmltree::NodeId, usize, bool)> = Vec::new();
        let mut element_depth = 0usize;
        for n in doc.root().descendants() {
            // Close the nodes that are not ancestors of `n` (preorder traversal).
            let parent = n.parent().map(|p| p.id());
            while let Some(&(id, _, _)) = stack.last() {
                if Some(id) == parent {
                    break;
                }
                d.close(&mut stack, &mut element_depth);
            }
            let idx = d.nodes.len();
            let text_start = d.texts.len();
            let mut node = Node {
                kind: Kind::Document,
                parent: stack.last().map(|&(_, i, _)| i),
                end: idx + 1,
                text: text_start..text_start,
                name: 0..0,
                ns: 0..0,
                value: 0..0,
                attrs: 0..0,
            };
            match n.node_type() {
                roxmltree::NodeType::Root => {}
                roxmltree::NodeType::Element => {
                    element_depth += 1;
                    if element_depth > max_depth {
                        return Err("excessive depth in document".to_string());
                    }
                    node.kind = Kind::Element;
                    let tag = n.tag_name();
                    node.name = d.push_str(tag.name());
                    node.ns = d.push_str(tag.namespace().unwrap_or(""));
                    let first = d.attrs.len();
                    for a in n.attributes() {
                        let name = d.push_str(a.name());
                        let ns = d.push_str(a.namespace().unwrap_or(""));
                        let value = d.push_str(a.value());
                        d.attrs.push(Attr {
                            owner: idx,
                            name,
                            ns,
                            value,
                        });
                    }
                    node.attrs = first..d.attrs.len();
                }
                roxmltree::NodeType::Text => {
                    node.kind = Kind::Text;
                    d.texts.push_str(n.text().unwrap_or(""));
                    node.text = text_start..d.texts.len();
                }
                roxmltree::NodeType::Comment => {
                    node.kind = Kind::Comment;
                    node.value = d.push_str(n.text().unwrap_or(""));
                }
                roxmltree::NodeType::PI => {
                    node.kind = Kind::Pi;
                    if let Some(pi) = n.pi() {
                        node.name = d.push_str(pi.target);
                        node.value = d.push_str(pi.value.unwrap_or(""));
                    }
                }
            }
            let is_element = node.kind == Kind::Element;
            d.nodes.push(node);
            stack.push((n.id(), idx, is_element));
        }
        while !stack.is_empty() {
            d.close(&mut stack, &mut element_depth);
        }
        if d.nodes.is_empty() {
            return Err("empty document".to_string());
        }
        Ok(d)
    }

    /// Closes the innermost open node: its subtree and text content end here.
    fn close(
        &mut self,
        stack: &mut Vec<(roxmltree::NodeId, usize, bool)>,
        element_depth: &mut usize,
    ) {
        if let Some((_, idx, is_element)) = stack.pop() {
            let end = self.nodes.len();
            let texts_end = self.texts.len();
            if let Some(node) = self.nodes.get_mut(idx) {
                node.end = end;
                node.text.end = texts_end;
            }
            if is_element {
                *element_depth = element_depth.saturating_sub(1);
            }
        }
    }

    fn push_str(&mut self, s: &str) -> Range<usize> {
        let start = self.strings.len();
        self.strings.push_str(s);
        start..self.strings.len()
    }

    fn str_at(&self, r: &Range<usize>) -> &str {
        self.strings.get(r.clone()).unwrap_or("")
    }

    /// `XML:/*` — the text content of the document element (all text of the document,
    /// concatenated), without copying.
    pub fn root_text(&self) -> &[u8] {
        self.texts.as_bytes()
    }

    /// `XML://@*` — every attribute value in document order (namespace declarations are
    /// not attributes in XPath).
    pub fn attribute_values(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.attrs
            .iter()
            .map(move |a| self.str_at(&a.value).as_bytes())
    }

    /// Every text node (text and CDATA) in document order.
    pub fn text_nodes(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.nodes
            .iter()
            .filter(|n| n.kind == Kind::Text)
            .map(move |n| self.texts.as_bytes().get(n.text.clone()).unwrap_or(&[]))
    }

    /// Evaluates `expr` (compiled on the fly), appending the content of every selected
    /// node to `out`, as v3 does for `XML:<expr>`. Unsupported expressions are an error
    /// naming the expression; prefer [`compile_xpath`] + [`XmlDoc::select`] in hot paths.
    pub fn xpath(&self, expr: &str, out: &mut Vec<Vec<u8>>) -> Result<(), String> {
        let xp = xpath::compile(expr)?;
        self.select(&xp, &[], out);
        Ok(())
    }

    /// Evaluates a compiled expression. `namespaces` maps prefixes to URIs (v3's `xmlns`
    /// action); a step with an unregistered prefix selects nothing (libxml2 fails the
    /// evaluation, so v3 yields no value).
    pub fn select(&self, xp: &XPath, namespaces: &[(&str, &str)], out: &mut Vec<Vec<u8>>) {
        if xp.is_root_element() {
            if self.nodes.iter().any(|n| n.kind == Kind::Element) {
                out.push(self.root_text().to_vec());
            }
            return;
        }
        if xp.is_all_attributes() {
            out.extend(self.attribute_values().map(<[u8]>::to_vec));
            return;
        }
        let mut current = vec![Item::Node(0)];
        let mut next = Vec::new();
        for step in &xp.steps {
            let Some(test) = ResolvedTest::new(&step.test, namespaces) else {
                return;
            };
            next.clear();
            self.apply(step, &test, &current, &mut next);
            next.sort_by_key(|item| self.order_key(*item));
            next.dedup();
            std::mem::swap(&mut current, &mut next);
            if current.is_empty() {
                return;
            }
        }
        for item in current {
            out.push(self.content(item).to_vec());
        }
    }

    /// Document-order sort key: an element, then its attributes, then its children.
    fn order_key(&self, item: Item) -> (usize, u8, usize) {
        match item {
            Item::Node(i) => (i, 0, 0),
            Item::Attr(a) => (self.attrs.get(a).map_or(0, |at| at.owner), 1, a),
        }
    }

    /// `xmlNodeGetContent` of a selected node.
    fn content(&self, item: Item) -> &[u8] {
        match item {
            Item::Attr(a) => self
                .attrs
                .get(a)
                .map_or(&[][..], |at| self.str_at(&at.value).as_bytes()),
            Item::Node(i) => match self.nodes.get(i) {
                Some(n) => match n.kind {
                    Kind::Document | Kind::Element | Kind::Text => {
                        self.texts.as_bytes().get(n.text.clone()).unwrap_or(&[])
                    }
                    Kind::Comment | Kind::Pi => self.str_at(&n.value).as_bytes(),
                },
                None => &[],
            },
        }
    }

    /// The children of node `i`.
    fn children(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let end = self.nodes.get(i).map_or(0, |n| n.end);
        let mut j = i + 1;
        std::iter::from_fn(move || {
            if j >= end {
                return None;
            }
            let c = j;
            j = self.nodes.get(j).map_or(end, |n| n.end);
            Some(c)
        })
    }

    fn apply(&self, step: &Step, test: &ResolvedTest<'_>, current: &[Item], out: &mut Vec<Item>) {
        // For the descendant axes, a node inside an already visited subtree adds nothing.
        let mut covered_until = 0usize;
        for &item in current {
            match item {
                Item::Node(i) => {
                    let Some(node) = self.nodes.get(i) else {
                        continue;
                    };
                    match step.axis {
                        Axis::Child => {
                            out.extend(
                                self.children(i)
                                    .filter(|&c| self.node_matches(c, test))
                                    .map(Item::Node),
                            );
                        }
                        Axis::Descendant | Axis::DescendantOrSelf => {
                            if i < covered_until {
                                continue;
                            }
                            covered_until = node.end;
                            let from = if step.axis == Axis::Descendant {
                                i + 1
                            } else {
                                i
                            };
                            out.extend(
                                (from..node.end)
                                    .filter(|&c| self.node_matches(c, test))
                                    .map(Item::Node),
                            );
                        }
                        Axis::Attribute => {
                            if node.kind == Kind::Element {
                                out.extend(
                                    node.attrs
                                        .clone()
                                        .filter(|&a| self.attr_matches(a, test))
                                        .map(Item::Attr),
                                );
                            }
                        }
                        Axis::SelfOnly => {
                            if self.node_matches(i, test) {
                                out.push(item);
                            }
                        }
                        Axis::Parent => {
                            if let Some(p) = node.parent.filter(|&p| self.node_matches(p, test)) {
                                out.push(Item::Node(p));
                            }
                        }
                    }
                }
                Item::Attr(a) => match step.axis {
                    Axis::SelfOnly | Axis::DescendantOrSelf
                        if matches!(test, ResolvedTest::Node) =>
                    {
                        out.push(item)
                    }
                    Axis::Parent => {
                        if let Some(owner) = self.attrs.get(a).map(|at| at.owner) {
                            if self.node_matches(owner, test) {
                                out.push(Item::Node(owner));
                            }
                        }
                    }
                    _ => {}
                },
            }
        }
    }

    fn node_matches(&self, i: usize, test: &ResolvedTest<'_>) -> bool {
        let Some(n) = self.nodes.get(i) else {
            return false;
        };
        match test {
            ResolvedTest::Node => true,
            ResolvedTest::Text => n.kind == Kind::Text,
            ResolvedTest::Comment => n.kind == Kind::Comment,
            ResolvedTest::Pi => n.kind == Kind::Pi,
            ResolvedTest::Any(ns) => {
                n.kind == Kind::Element && ns.is_none_or(|uri| self.str_at(&n.ns) == uri)
            }
            ResolvedTest::Name(ns, local) => {
                n.kind == Kind::Element
                    && self.str_at(&n.name) == *local
                    && self.str_at(&n.ns) == *ns
            }
        }
    }

    fn attr_matches(&self, a: usize, test: &ResolvedTest<'_>) -> bool {
        let Some(at) = self.attrs.get(a) else {
            return false;
        };
        match test {
            ResolvedTest::Node => true,
            ResolvedTest::Any(ns) => ns.is_none_or(|uri| self.str_at(&at.ns) == uri),
            ResolvedTest::Name(ns, local) => {
                self.str_at(&at.name) == *local && self.str_at(&at.ns) == *ns
            }
            ResolvedTest::Text | ResolvedTest::Comment | ResolvedTest::Pi => false,
        }
    }
}

/// A node test with its prefix resolved to a namespace URI.
enum ResolvedTest<'a> {
    /// Namespace URI ("" for none) and local name.
    Name(&'a str, &'a str),
    /// Any element / attribute, optionally in one namespace.
    Any(Option<&'a str>),
    Text,
    Node,
    Comment,
    Pi,
}

impl<'a> ResolvedTest<'a> {
    /// None when a prefix is not registered.
    fn new(test: &'a NodeTest, namespaces: &[(&'a str, &'a str)]) -> Option<Self> {
        let resolve = |p: &str| {
            namespaces
                .iter()
                .find(|(prefix, _)| *prefix == p)
                .map(|(_, uri)| *uri)
        };
        Some(match test {
            NodeTest::Name(None, local) => ResolvedTest::Name("", local),
            NodeTest::Name(Some(p), local) => ResolvedTest::Name(resolve(p)?, local),
            NodeTest::Any(None) => ResolvedTest::Any(None),
            NodeTest::Any(Some(p)) => ResolvedTest::Any(Some(resolve(p)?)),
            NodeTest::Text => ResolvedTest::Text,
            NodeTest::Node => ResolvedTest::Node,
            NodeTest::Comment => ResolvedTest::Comment,
            NodeTest::Pi => ResolvedTest::Pi,
        })
    }
}

#[cfg(test)]
#[path = "xml_tests.rs"]
mod tests;
