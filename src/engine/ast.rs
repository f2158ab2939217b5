//! Syntax tree produced by the SecLang parser (`engine::parser`).
//!
//! The parser only recognises the *shape* of each directive; the compiler
//! (`engine::compile`) gives it meaning (looks up operators, transformations,
//! actions and variables, and reports what it does not support).

use std::fmt;
use std::sync::Arc;

/// Where a directive (or a part of it) came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLoc {
    /// Path of the file as it was opened (or a pseudo name such as `<inline>`).
    pub file: Arc<str>,
    /// 1-based line of the first character of the directive.
    pub line: u32,
    /// 1-based column (in bytes).
    pub column: u32,
}

impl SourceLoc {
    pub fn new(file: Arc<str>, line: u32, column: u32) -> Self {
        SourceLoc { file, line, column }
    }
}

impl fmt::Display for SourceLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One directive of a configuration, in file order (after `Include` expansion).
#[derive(Debug, Clone, PartialEq)]
pub struct Directive {
    pub loc: SourceLoc,
    /// The directive name as written in the file (e.g. `SecRule`, `secrule`).
    pub name: String,
    pub kind: DirectiveKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DirectiveKind {
    /// `SecRule VARIABLES "OPERATOR" ["ACTIONS"]`
    SecRule {
        variables: Vec<VariableSpec>,
        operator: OperatorSpec,
        actions: Vec<ActionSpec>,
    },
    /// `SecAction "ACTIONS"`
    SecAction { actions: Vec<ActionSpec> },
    /// `SecDefaultAction "ACTIONS"`
    SecDefaultAction { actions: Vec<ActionSpec> },
    /// `SecMarker NAME`
    SecMarker { name: String },
    /// `SecRuleUpdateTargetById|ByTag|ByMsg SELECTOR VARIABLES [REPLACED_VARIABLE]`
    SecRuleUpdateTarget {
        by: RuleSelectorKind,
        selector: String,
        variables: Vec<VariableSpec>,
        replace: Option<String>,
    },
    /// `SecRuleUpdateActionById ID[:OFFSET] "ACTIONS"`
    SecRuleUpdateActionById { selector: String, actions: Vec<ActionSpec> },
    /// `SecRuleRemoveById|ByTag|ByMsg ARG...`
    SecRuleRemove { by: RuleSelectorKind, args: Vec<String> },
    /// Any other configuration directive (`SecRuleEngine On`, `SecAuditLogParts ABZ`, ...),
    /// with its arguments unquoted. The compiler validates name and arguments.
    Config { args: Vec<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSelectorKind {
    Id,
    Tag,
    Msg,
}

/// One element of a rule's variable list, e.g. `!ARGS:foo`, `&TX:bar`, `ARGS:/^x/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableSpec {
    /// `!` prefix: exclude this selection from the collection named.
    pub negated: bool,
    /// `&` prefix: count of the selected elements instead of their values.
    pub count: bool,
    /// Collection or variable name, upper-cased (`ARGS`, `REQUEST_HEADERS`, `TX`).
    pub name: String,
    /// Optional key selection after `:`.
    pub selector: Option<Selector>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// A literal key (quotes removed), compared case-insensitively. For `XML` this is an
    /// XPath expression such as `/*` or `//@*`.
    Key(String),
    /// `/regex/` key selection (the slashes removed).
    Regex(String),
}

/// The operator argument of a `SecRule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorSpec {
    /// `!` before the operator.
    pub negated: bool,
    /// Operator name without `@` (`rx` when the argument had no `@name`), as written.
    pub name: String,
    /// Parameter text after the name (leading whitespace removed), may contain `%{macros}`.
    pub param: String,
}

/// One action of an action list, e.g. `id:1`, `t:none`, `msg:'text'`, `deny`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionSpec {
    /// Action name as written (compared case-insensitively by the compiler).
    pub name: String,
    /// Value after `:` with surrounding single quotes removed and `\'` unescaped.
    pub value: Option<String>,
}

/// A parse or load error: where, which directive, what.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub loc: SourceLoc,
    /// The directive being read, when known.
    pub directive: Option<String>,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.directive {
            Some(d) => write!(f, "{}: {}: {}", self.loc, d, self.message),
            None => write!(f, "{}: {}", self.loc, self.message),
        }
    }
}

impl std::error::Error for ParseError {}
