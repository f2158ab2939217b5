//! Transaction data (everything a variable can read) and the resolution of a rule target
//! into (name, value) pairs.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::bodyproc::xml::XmlDoc;
use super::bodyproc::Pair;
use super::collections::{Collection, OpenCollection};
use super::macros::Resolve;
use super::rule::{severity_name, Rule};
use super::vars::{KeySel, Target, Var};

/// An uploaded file (multipart part with a filename).
#[derive(Debug, Clone, Default)]
pub struct FileInfo {
    /// Form field name.
    pub field: Vec<u8>,
    pub filename: Vec<u8>,
    pub size: usize,
    pub content: Vec<u8>,
}

/// MULTIPART_* flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct MultipartFlags {
    pub strict_error: bool,
    /// 0, 1 or 2 (libmodsecurity sets 2 when a later boundary line matched).
    pub unmatched_boundary: u8,
    pub boundary_quoted: bool,
    pub boundary_whitespace: bool,
    pub data_before: bool,
    pub data_after: bool,
    pub header_folding: bool,
    pub lf_line: bool,
    pub crlf_lf_lines: bool,
    pub missing_semicolon: bool,
    pub invalid_quoting: bool,
    pub invalid_part: bool,
    pub invalid_header_folding: bool,
    pub file_limit_exceeded: bool,
}

/// Everything the variables of a transaction read.
#[derive(Debug, Default)]
pub struct Data {
    pub client_addr: Vec<u8>,
    pub client_port: u16,
    pub server_addr: Vec<u8>,
    pub server_port: u16,
    pub server_name: Vec<u8>,
    pub unique_id: String,

    pub method: Vec<u8>,
    /// URI as received.
    pub uri_raw: Vec<u8>,
    /// Percent-decoded URI without scheme://host (REQUEST_URI).
    pub uri: Vec<u8>,
    /// Percent-decoded path (REQUEST_FILENAME / PATH_INFO).
    pub path: Vec<u8>,
    pub basename: Option<Vec<u8>>,
    pub query_string: Option<Vec<u8>>,
    /// `HTTP/1.1`
    pub protocol: Vec<u8>,
    pub request_line: Vec<u8>,

    pub args_get: Vec<Pair>,
    pub args_post: Vec<Pair>,
    /// JSON body arguments: in ARGS and ARGS_NAMES, not ARGS_POST (as libmodsecurity).
    pub args_json: Vec<Pair>,
    pub args_combined_size: usize,
    pub urlencoded_error: bool,

    pub req_headers: Vec<Pair>,
    pub cookies: Vec<Pair>,
    pub auth_type: Option<Vec<u8>>,

    pub req_body: Vec<u8>,
    /// REQUEST_BODY is exposed (body access on and a body was received).
    pub req_body_visible: bool,
    pub full_request: Option<Vec<u8>>,
    pub reqbody_processor: Option<&'static str>,
    pub reqbody_error: Option<bool>,
    pub reqbody_error_msg: Vec<u8>,
    pub inbound_data_error: Option<bool>,
    pub outbound_data_error: Option<bool>,

    pub files: Vec<FileInfo>,
    pub files_combined_size: usize,
    pub multipart: Option<MultipartFlags>,
    pub multipart_part_headers: Vec<Pair>,
    pub multipart_filename: Vec<Pair>,
    pub multipart_name: Vec<Pair>,
    pub xml: Option<XmlDoc>,

    pub resp_status: Option<u16>,
    pub resp_protocol: Vec<u8>,
    pub resp_headers: Vec<Pair>,
    pub resp_content_type: Vec<u8>,
    pub resp_body: Vec<u8>,
    pub resp_body_visible: bool,

    pub tx: Collection,
    pub env: Collection,
    pub geo: Collection,
    pub persistent: HashMap<Var, OpenCollection>,
    pub web_app_id: Vec<u8>,
    pub user_id: Vec<u8>,
    pub session_id: Vec<u8>,

    /// MATCHED_VAR, MATCHED_VAR_NAME, MATCHED_VARS.
    pub matched: Matched,

    pub highest_severity: Option<u8>,
    /// The rule being evaluated, as (phase index, entry index) into `rules`' phases: a
    /// position instead of a shared pointer, whose reference count every rule evaluation
    /// would otherwise update.
    pub cur_rule: Option<(u8, u32)>,
    /// The rule set of the transaction (for `cur_rule`).
    pub rules: Option<Arc<super::compile::Ruleset>>,
    pub start: Option<Instant>,
    pub start_time: Option<chrono::DateTime<chrono::Local>>,
}

/// One value of a resolved target.
#[derive(Debug)]
pub struct Val<'a> {
    pub var: Var,
    /// Key inside the collection (empty for single variables).
    pub key: Cow<'a, [u8]>,
    pub value: Cow<'a, [u8]>,
}

impl Val<'_> {
    /// Appends the full name (`ARGS:foo` / `REQUEST_URI`, as MATCHED_VAR_NAME shows it) to `out`.
    pub fn write_full_name(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.var.name().as_bytes());
        if self.var.is_collection() && !self.key.is_empty() {
            out.push(b':');
            out.extend_from_slice(&self.key);
        }
    }

    /// `ARGS:foo` / `REQUEST_URI`, as MATCHED_VAR_NAME shows it.
    pub fn full_name(&self) -> Vec<u8> {
        let mut n = Vec::new();
        self.write_full_name(&mut n);
        n
    }
}

fn num(n: impl ToString) -> Cow<'static, [u8]> {
    Cow::Owned(n.to_string().into_bytes())
}

/// `num` without an allocation for the small counts most `&VAR` targets give.
fn small_num(n: usize) -> Cow<'static, [u8]> {
    const DIGITS: &[u8; 10] = b"0123456789";
    if n < 10 {
        Cow::Borrowed(&DIGITS[n..n + 1])
    } else {
        num(n)
    }
}

fn flag(b: bool) -> Cow<'static, [u8]> {
    Cow::Borrowed(if b { b"1" } else { b"0" })
}

fn key_ok(t: &Target, key: &[u8]) -> bool {
    if let Some(sel) = &t.key {
        if !sel.matches(key) {
            return false;
        }
    }
    !t.exclusions.iter().any(|e| e.matches(key))
}

/// MATCHED_VARS (the values that matched the current rule) in buffers reused from rule to
/// rule; MATCHED_VAR / MATCHED_VAR_NAME are its last entry (the last value that matched).
/// Apart from the collections, so that a value of one of them can be recorded as it is.
#[derive(Debug, Default)]
pub struct Matched {
    /// The first `len` pairs are MATCHED_VARS (the others are reusable buffers).
    vars: Vec<Pair>,
    len: usize,
}

impl Matched {
    /// Forgets MATCHED_VAR(S) (a rule did not match), keeping the buffers.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Records a match of `value`, whose full name is the concatenation of `name`.
    pub fn push(&mut self, name: &[&[u8]], value: &[u8]) {
        if self.len == self.vars.len() {
            self.vars.push(Default::default());
        }
        let (n, v) = &mut self.vars[self.len];
        n.clear();
        for part in name {
            n.extend_from_slice(part);
        }
        v.clear();
        v.extend_from_slice(value);
        self.len += 1;
    }

    /// Small enough to keep for another transaction.
    pub fn reusable(&self) -> bool {
        self.vars.len() <= 256 && self.vars.iter().map(|(n, v)| n.capacity() + v.capacity()).sum::<usize>() <= 256 * 1024
    }

    /// MATCHED_VAR, when a value matched.
    pub fn var(&self) -> Option<&[u8]> {
        self.vars().last().map(|(_, v)| v.as_slice())
    }

    /// MATCHED_VAR_NAME, when a value matched.
    pub fn name(&self) -> Option<&[u8]> {
        self.vars().last().map(|(n, _)| n.as_slice())
    }

    /// MATCHED_VARS as (name, value) pairs.
    pub fn vars(&self) -> &[Pair] {
        &self.vars[..self.len]
    }
}

impl Data {
    /// The rule being evaluated (the head of its chain), if any.
    pub fn current_rule(&self) -> Option<&Rule> {
        let (phase, index) = self.cur_rule?;
        match self.rules.as_ref()?.phases.get(usize::from(phase))?.get(index as usize)? {
            super::rule::Entry::Rule(r) => Some(r),
            super::rule::Entry::Marker(_) => None,
        }
    }

    fn pairs<'a>(&'a self, var: Var, t: &Target, src: &'a [Pair], names: bool, out: &mut Vec<Val<'a>>) {
        for (k, v) in src {
            if key_ok(t, k) {
                out.push(Val {
                    var,
                    key: Cow::Borrowed(k),
                    value: Cow::Borrowed(if names { k } else { v }),
                });
            }
        }
    }

    fn collection<'a>(&'a self, var: Var, t: &Target, c: &'a Collection, out: &mut Vec<Val<'a>>) {
        // Fast path: exact key without exclusions.
        if let (Some(KeySel::Key(k)), true) = (&t.key, t.exclusions.is_empty()) {
            if let Some((name, v)) = c.get_item_lc(k) {
                out.push(Val { var, key: Cow::Borrowed(name), value: Cow::Borrowed(v) });
            }
            return;
        }
        for (k, v) in c.iter() {
            if key_ok(t, k) {
                out.push(Val { var, key: Cow::Borrowed(k), value: Cow::Borrowed(v) });
            }
        }
    }

    fn scalar<'a>(&self, var: Var, v: Cow<'a, [u8]>, out: &mut Vec<Val<'a>>) {
        out.push(Val { var, key: Cow::Borrowed(b""), value: v });
    }

    /// Appends the values of target `t` to `out` (or their count for `&`).
    pub fn resolve<'a>(&'a self, t: &Target, out: &mut Vec<Val<'a>>) {
        if t.count {
            let before = out.len();
            self.resolve_values(t, out);
            let n = out.len() - before;
            out.truncate(before);
            out.push(Val { var: t.var, key: Cow::Borrowed(b""), value: small_num(n) });
            return;
        }
        self.resolve_values(t, out);
    }

    fn resolve_values<'a>(&'a self, t: &Target, out: &mut Vec<Val<'a>>) {
        use Var::*;
        let var = t.var;
        match var {
            Args => {
                self.pairs(var, t, &self.args_get, false, out);
                self.pairs(var, t, &self.args_post, false, out);
                self.pairs(var, t, &self.args_json, false, out);
            }
            ArgsGet => self.pairs(var, t, &self.args_get, false, out),
            ArgsPost => self.pairs(var, t, &self.args_post, false, out),
            ArgsNames => {
                self.pairs(var, t, &self.args_get, true, out);
                self.pairs(var, t, &self.args_post, true, out);
                self.pairs(var, t, &self.args_json, true, out);
            }
            ArgsGetNames => self.pairs(var, t, &self.args_get, true, out),
            ArgsPostNames => self.pairs(var, t, &self.args_post, true, out),
            RequestHeaders => self.pairs(var, t, &self.req_headers, false, out),
            RequestHeadersNames => self.pairs(var, t, &self.req_headers, true, out),
            RequestCookies => self.pairs(var, t, &self.cookies, false, out),
            RequestCookiesNames => self.pairs(var, t, &self.cookies, true, out),
            ResponseHeaders => self.pairs(var, t, &self.resp_headers, false, out),
            ResponseHeadersNames => self.pairs(var, t, &self.resp_headers, true, out),
            Files => {
                for f in &self.files {
                    if key_ok(t, &f.field) {
                        out.push(Val { var, key: Cow::Borrowed(&f.field), value: Cow::Borrowed(&f.filename) });
                    }
                }
            }
            FilesNames => {
                for f in &self.files {
                    if key_ok(t, &f.field) {
                        out.push(Val { var, key: Cow::Borrowed(&f.field), value: Cow::Borrowed(&f.field) });
                    }
                }
            }
            FilesSizes => {
                for f in &self.files {
                    if key_ok(t, &f.field) {
                        out.push(Val { var, key: Cow::Borrowed(&f.field), value: num(f.size) });
                    }
                }
            }
            FilesTmpContent => {
                for f in &self.files {
                    if key_ok(t, &f.field) {
                        out.push(Val { var, key: Cow::Borrowed(&f.field), value: Cow::Borrowed(&f.content) });
                    }
                }
            }
            FilesTmpNames => {}
            MultipartPartHeaders => self.pairs(var, t, &self.multipart_part_headers, false, out),
            MultipartFilename => self.pairs(var, t, &self.multipart_filename, false, out),
            MultipartName => self.pairs(var, t, &self.multipart_name, false, out),
            MatchedVars => self.pairs(var, t, self.matched.vars(), false, out),
            MatchedVarsNames => self.pairs(var, t, self.matched.vars(), true, out),
            Tx => self.collection(var, t, &self.tx, out),
            Ip | Global | Session | User | Resource => {
                if let Some(c) = self.persistent.get(&var) {
                    self.collection(var, t, &c.data, out);
                }
            }
            Env => {
                if let Some(KeySel::Key(k)) = &t.key {
                    if let Some((name, v)) = self.env.get_item_lc(k) {
                        out.push(Val { var, key: Cow::Borrowed(name), value: Cow::Borrowed(v) });
                    } else {
                        let name = String::from_utf8_lossy(k).into_owned();
                        let found = std::env::vars().find(|(n, _)| n.eq_ignore_ascii_case(&name));
                        if let Some((n, v)) = found {
                            out.push(Val { var, key: Cow::Owned(n.into_bytes()), value: Cow::Owned(v.into_bytes()) });
                        }
                    }
                } else {
                    self.collection(var, t, &self.env, out);
                }
            }
            Geo => self.collection(var, t, &self.geo, out),
            Rule => {
                let Some(r) = self.current_rule() else { return };
                let items: [(&[u8], Cow<'a, [u8]>); 8] = [
                    (b"id", num(r.id)),
                    (b"phase", num(r.phase)),
                    (b"severity", r.severity.map(num).unwrap_or(Cow::Borrowed(b""))),
                    (b"msg", Cow::Owned(r.msg.as_ref().map(|m| m.as_str().as_bytes().to_vec()).unwrap_or_default())),
                    (b"logdata", Cow::Owned(r.logdata.as_ref().map(|m| m.as_str().as_bytes().to_vec()).unwrap_or_default())),
                    (b"rev", Cow::Owned(r.rev.as_bytes().to_vec())),
                    (b"ver", Cow::Owned(r.ver.as_bytes().to_vec())),
                    (b"maturity", num(r.maturity)),
                ];
                for (k, v) in items {
                    if key_ok(t, k) {
                        out.push(Val { var, key: Cow::Borrowed(k), value: v });
                    }
                }
            }
            Xml => {
                let Some(doc) = &self.xml else { return };
                let Some(KeySel::Key(xpath)) = &t.key else { return };
                let mut vals = Vec::new();
                let xp = String::from_utf8_lossy(xpath);
                if doc.xpath(&xp, &mut vals).is_ok() {
                    for v in vals {
                        out.push(Val { var, key: Cow::Owned(xpath.clone()), value: Cow::Owned(v) });
                    }
                }
            }
            ArgsCombinedSize => self.scalar(var, num(self.args_combined_size), out),
            AuthType => {
                if let Some(a) = &self.auth_type {
                    self.scalar(var, Cow::Borrowed(a), out)
                }
            }
            Duration => {
                let ms = self.start.map(|s| s.elapsed().as_millis()).unwrap_or(0);
                self.scalar(var, num(ms), out)
            }
            FilesCombinedSize => {
                if !self.files.is_empty() {
                    self.scalar(var, num(self.files_combined_size), out)
                }
            }
            FullRequest => {
                if let Some(f) = &self.full_request {
                    self.scalar(var, Cow::Borrowed(f), out)
                }
            }
            FullRequestLength => {
                if let Some(f) = &self.full_request {
                    self.scalar(var, num(f.len()), out)
                }
            }
            HighestSeverity => self.scalar(var, num(self.highest_severity.unwrap_or(255)), out),
            InboundDataError => {
                if let Some(b) = self.inbound_data_error {
                    self.scalar(var, flag(b), out)
                }
            }
            OutboundDataError => {
                if let Some(b) = self.outbound_data_error {
                    self.scalar(var, flag(b), out)
                }
            }
            MatchedVar => {
                if let Some(v) = self.matched.var() {
                    self.scalar(var, Cow::Borrowed(v), out)
                }
            }
            MatchedVarName => {
                if let Some(n) = self.matched.name() {
                    self.scalar(var, Cow::Borrowed(n), out)
                }
            }
            MultipartBoundaryQuoted | MultipartBoundaryWhitespace | MultipartCrlfLfLines | MultipartDataAfter
            | MultipartDataBefore | MultipartFileLimitExceeded | MultipartHeaderFolding
            | MultipartInvalidHeaderFolding | MultipartInvalidPart | MultipartInvalidQuoting | MultipartLfLine
            | MultipartMissingSemicolon | MultipartStrictError | MultipartUnmatchedBoundary => {
                let Some(m) = &self.multipart else { return };
                if var == MultipartUnmatchedBoundary {
                    return self.scalar(var, num(m.unmatched_boundary), out);
                }
                let b = match var {
                    MultipartBoundaryQuoted => m.boundary_quoted,
                    MultipartBoundaryWhitespace => m.boundary_whitespace,
                    MultipartCrlfLfLines => m.crlf_lf_lines,
                    MultipartDataAfter => m.data_after,
                    MultipartDataBefore => m.data_before,
                    MultipartFileLimitExceeded => m.file_limit_exceeded,
                    MultipartHeaderFolding => m.header_folding,
                    MultipartInvalidHeaderFolding => m.invalid_header_folding,
                    MultipartInvalidPart => m.invalid_part,
                    MultipartInvalidQuoting => m.invalid_quoting,
                    MultipartLfLine => m.lf_line,
                    MultipartMissingSemicolon => m.missing_semicolon,
                    _ => m.strict_error,
                };
                self.scalar(var, flag(b), out)
            }
            PathInfo | RequestFilename => {
                if !self.path.is_empty() || !self.uri_raw.is_empty() {
                    self.scalar(var, Cow::Borrowed(&self.path), out)
                }
            }
            QueryString => {
                if let Some(q) = &self.query_string {
                    self.scalar(var, Cow::Borrowed(q), out)
                }
            }
            RemoteAddr | RemoteHost => self.scalar(var, Cow::Borrowed(&self.client_addr), out),
            RemotePort => self.scalar(var, num(self.client_port), out),
            RemoteUser => {}
            ReqbodyError | ReqbodyProcessorError => {
                if let Some(b) = self.reqbody_error {
                    self.scalar(var, flag(b), out)
                }
            }
            ReqbodyErrorMsg | ReqbodyProcessorErrorMsg => {
                if self.reqbody_error.is_some() {
                    self.scalar(var, Cow::Borrowed(&self.reqbody_error_msg), out)
                }
            }
            ReqbodyProcessor => {
                if let Some(p) = self.reqbody_processor {
                    self.scalar(var, Cow::Borrowed(p.as_bytes()), out)
                }
            }
            RequestBasename => {
                if let Some(b) = &self.basename {
                    self.scalar(var, Cow::Borrowed(b), out)
                }
            }
            RequestBody => {
                if self.req_body_visible {
                    self.scalar(var, Cow::Borrowed(&self.req_body), out)
                }
            }
            RequestBodyLength => {
                if self.req_body_visible {
                    self.scalar(var, num(self.req_body.len()), out)
                }
            }
            RequestLine => self.scalar(var, Cow::Borrowed(&self.request_line), out),
            RequestMethod => self.scalar(var, Cow::Borrowed(&self.method), out),
            RequestProtocol => self.scalar(var, Cow::Borrowed(&self.protocol), out),
            RequestUri => self.scalar(var, Cow::Borrowed(&self.uri), out),
            RequestUriRaw => self.scalar(var, Cow::Borrowed(&self.uri_raw), out),
            ResponseBody => {
                if self.resp_body_visible {
                    self.scalar(var, Cow::Borrowed(&self.resp_body), out)
                }
            }
            ResponseContentLength => {
                if self.resp_body_visible {
                    self.scalar(var, num(self.resp_body.len()), out)
                }
            }
            ResponseContentType => {
                if !self.resp_content_type.is_empty() {
                    self.scalar(var, Cow::Borrowed(&self.resp_content_type), out)
                }
            }
            ResponseProtocol => {
                if !self.resp_protocol.is_empty() {
                    self.scalar(var, Cow::Borrowed(&self.resp_protocol), out)
                }
            }
            ResponseStatus => {
                if let Some(s) = self.resp_status {
                    self.scalar(var, num(s), out)
                }
            }
            ServerAddr => self.scalar(var, Cow::Borrowed(&self.server_addr), out),
            ServerName => self.scalar(var, Cow::Borrowed(&self.server_name), out),
            ServerPort => self.scalar(var, num(self.server_port), out),
            SessionId => self.scalar(var, Cow::Borrowed(&self.session_id), out),
            UserId => self.scalar(var, Cow::Borrowed(&self.user_id), out),
            WebAppId => self.scalar(var, Cow::Borrowed(&self.web_app_id), out),
            UniqueId => self.scalar(var, Cow::Borrowed(self.unique_id.as_bytes()), out),
            UrlencodedError => self.scalar(var, flag(self.urlencoded_error), out),
            ModsecBuild => self.scalar(var, Cow::Borrowed(b"030009100"), out),
            MscPcreLimitsExceeded => self.scalar(var, flag(false), out),
            Time | TimeDay | TimeEpoch | TimeHour | TimeMin | TimeMon | TimeSec | TimeWday | TimeYear => {
                use chrono::{Datelike, Timelike};
                let t = self.start_time.unwrap_or_else(chrono::Local::now);
                let v = match var {
                    Time => t.format("%H:%M:%S").to_string(),
                    TimeDay => t.day().to_string(),
                    TimeEpoch => t.timestamp().to_string(),
                    TimeHour => t.hour().to_string(),
                    TimeMin => t.minute().to_string(),
                    TimeMon => t.month0().to_string(),
                    TimeSec => t.second().to_string(),
                    TimeWday => t.weekday().num_days_from_sunday().to_string(),
                    _ => t.year().to_string(),
                };
                self.scalar(var, Cow::Owned(v.into_bytes()), out)
            }
        }
    }

    /// First value of a variable (used by macros and messages).
    pub fn first(&self, var: Var, key: Option<&[u8]>, out: &mut Vec<u8>) -> bool {
        // Fast path (what `collection` does for an exact key): TX.key, the usual macro.
        if let (Var::Tx, Some(k)) = (var, key) {
            return match self.tx.get_lc(k) {
                Some(v) => {
                    out.extend_from_slice(v);
                    true
                }
                None => false,
            };
        }
        let t = Target {
            var,
            count: false,
            key: key.map(|k| KeySel::Key(k.to_vec())),
            exclusions: Vec::new(),
            text: String::new(),
        };
        let mut vals = Vec::new();
        self.resolve(&t, &mut vals);
        match vals.into_iter().next() {
            Some(v) => {
                out.extend_from_slice(&v.value);
                true
            }
            None => false,
        }
    }
}

impl Resolve for Data {
    fn resolve(&self, var: Var, key: Option<&[u8]>, out: &mut Vec<u8>) -> bool {
        if var == Var::Rule {
            if let (Some(r), Some(b"severity")) = (self.current_rule(), key) {
                if let Some(s) = r.severity {
                    out.extend_from_slice(severity_name(s).as_bytes());
                    return true;
                }
            }
        }
        self.first(var, key, out)
    }
}
