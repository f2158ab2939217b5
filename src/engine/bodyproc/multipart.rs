//! `multipart/form-data` request bodies, reproducing v3's
//! `request_body_processor/multipart.cc` (3.0.x, with the 3.0.10+ part-data and
//! `filename*` checks and the 3.0.9+ MULTIPART_PART_HEADERS collection).
//!
//! The v3 parser reads the body line by line through a 4096-byte buffer; the exact
//! buffering matters for what counts as a boundary line, a header line that is too long,
//! and for the strict-validation flags, so it is reproduced here, but over slices of the
//! body: no byte is copied except into the ARGS values and header strings the engine needs.
//!
//! v3 behaviours kept on purpose (they decide what rules see):
//! - Form values lose their line terminators: v3 drops the CRLF/LF it holds back at the end
//!   of each line of a non-file part (`process_part_data` overwrites the reserved bytes), so
//!   `a\r\nb` arrives in ARGS as `ab`. File sizes do include them.
//! - Errors inside part headers (missing or invalid Content-Disposition, header without a
//!   colon, NUL byte, ...) set the error message but do not stop parsing
//!   (`process_part_header` returns `false`, which the caller's `< 0` test ignores); the
//!   part then never leaves the header state, so the body ends with
//!   "Final boundary missing." and no ARGS/FILES.
//! - When the body is incomplete ("Final boundary missing.", "No boundaries found in
//!   payload.") no ARGS / FILES are produced, but MULTIPART_PART_HEADERS, MULTIPART_NAME and
//!   MULTIPART_FILENAME keep what was seen.
//! - "Final boundary missing" alone does not set MULTIPART_STRICT_ERROR.
//! - A `filename=""` part is a form field (ARGS), not a file.
//! - v3 does not apply SecArgumentsLimit to multipart ARGS.
//!
//! SecUploadFileLimit: v3 only counts files (and so only reports
//! MULTIPART_FILE_LIMIT_EXCEEDED) when it writes them to disk, i.e. with
//! `SecUploadKeepFiles On` or `SecTmpSaveUploadedFiles On`. Here `limits.max_files == 0`
//! means "no limit"; the engine should pass 0 unless one of those directives is on.

use std::ops::Range;

use super::{is_c_space, Limits, Pair};

/// Size of v3's line buffer (`MULTIPART_BUF_SIZE`).
pub const MULTIPART_BUF_SIZE: usize = 4096;

/// Characters allowed in the charset of `filename*=` (besides alphanumerics).
const MIME_CHARSET_SPECIAL: &[u8] = b"!#$%&+-^_`{}~";
/// Characters allowed in the value of `filename*=` (besides alphanumerics and `%XX`).
const ATTR_CHAR_SPECIAL: &[u8] = b"!#$&+-.^_`~";

/// The MULTIPART_* strict-validation variables, as v3 sets them in `multipart_complete`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MultipartFlags {
    /// MULTIPART_STRICT_ERROR: any of the flags below except UNMATCHED_BOUNDARY and
    /// CRLF_LF_LINES, or an internal parse error (bad boundary in C-T, invalid boundary
    /// line, header line over 4096 bytes, ...).
    pub strict_error: bool,
    /// MULTIPART_BOUNDARY_QUOTED: the boundary parameter was quoted.
    pub boundary_quoted: bool,
    /// MULTIPART_BOUNDARY_WHITESPACE: whitespace around `=` of the boundary parameter.
    pub boundary_whitespace: bool,
    /// MULTIPART_DATA_BEFORE: data before the first boundary.
    pub data_before: bool,
    /// MULTIPART_DATA_AFTER: data after the final boundary.
    pub data_after: bool,
    /// MULTIPART_HEADER_FOLDING: a part header was folded.
    pub header_folding: bool,
    /// MULTIPART_LF_LINE: some line ended with a bare LF.
    pub lf_line: bool,
    /// MULTIPART_CRLF_LF_LINES: both CRLF and bare LF line endings were seen.
    pub crlf_lf_lines: bool,
    /// MULTIPART_MISSING_SEMICOLON (v2 name MULTIPART_SEMICOLON_MISSING): no `;` before
    /// the boundary parameter in the Content-Type.
    pub missing_semicolon: bool,
    /// MULTIPART_INVALID_QUOTING: single quotes in Content-Disposition.
    pub invalid_quoting: bool,
    /// MULTIPART_INVALID_PART: a part without name, or a boundary where part data should
    /// begin.
    pub invalid_part: bool,
    /// MULTIPART_INVALID_HEADER_FOLDING: folding with whitespace other than SP / HTAB.
    pub invalid_header_folding: bool,
    /// MULTIPART_FILE_LIMIT_EXCEEDED: more file parts than `limits.max_files`.
    pub file_limit_exceeded: bool,
    /// MULTIPART_UNMATCHED_BOUNDARY: 0; 1 when something looking like the boundary did not
    /// match it; 2 when a (later) boundary line matched after a first one.
    pub unmatched_boundary: u8,
}

impl MultipartFlags {
    /// `(variable name, value)` for every MULTIPART_* flag variable, values as v3 stores
    /// them (`"0"`, `"1"`, or `"2"` for UNMATCHED_BOUNDARY).
    pub fn variables(&self) -> [(&'static str, u8); 14] {
        [
            ("MULTIPART_STRICT_ERROR", self.strict_error as u8),
            ("MULTIPART_BOUNDARY_QUOTED", self.boundary_quoted as u8),
            (
                "MULTIPART_BOUNDARY_WHITESPACE",
                self.boundary_whitespace as u8,
            ),
            ("MULTIPART_DATA_BEFORE", self.data_before as u8),
            ("MULTIPART_DATA_AFTER", self.data_after as u8),
            ("MULTIPART_HEADER_FOLDING", self.header_folding as u8),
            ("MULTIPART_LF_LINE", self.lf_line as u8),
            ("MULTIPART_CRLF_LF_LINES", self.crlf_lf_lines as u8),
            ("MULTIPART_MISSING_SEMICOLON", self.missing_semicolon as u8),
            ("MULTIPART_INVALID_QUOTING", self.invalid_quoting as u8),
            ("MULTIPART_INVALID_PART", self.invalid_part as u8),
            (
                "MULTIPART_INVALID_HEADER_FOLDING",
                self.invalid_header_folding as u8,
            ),
            (
                "MULTIPART_FILE_LIMIT_EXCEEDED",
                self.file_limit_exceeded as u8,
            ),
            ("MULTIPART_UNMATCHED_BOUNDARY", self.unmatched_boundary),
        ]
    }
}

/// One file part (a part whose Content-Disposition has a non-empty `filename`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilePart {
    /// The form field name (`name=`): the key of FILES, FILES_NAMES, FILES_SIZES.
    pub name: Vec<u8>,
    /// The file name as sent (`filename=`): the value of FILES.
    pub filename: Vec<u8>,
    /// File size in bytes (FILES_SIZES); equals `content.len()`.
    pub size: u64,
    /// The part's `Content-Type` header value, if any.
    pub content_type: Option<Vec<u8>>,
    /// The part's headers `(name, value)` in order (folded lines joined with a space).
    pub headers: Vec<Pair>,
    /// Where the file content is in the body passed to [`parse`] (no copy is made).
    ///
    /// v3's FILES_TMP_CONTENT loses the line terminators of the content, like form values;
    /// this range is the exact content.
    pub content: Range<usize>,
}

impl FilePart {
    /// The file content, given the body that was parsed.
    pub fn content<'a>(&self, body: &'a [u8]) -> &'a [u8] {
        body.get(self.content.clone()).unwrap_or(&[])
    }
}

/// Everything a multipart body produces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MultipartResult {
    /// The processor's error (v3 `error` string), if any. REQBODY_ERROR_MSG and
    /// REQBODY_PROCESSOR_ERROR_MSG are `"Multipart parsing error: "` + this (see
    /// [`MultipartResult::reqbody_error_msg`]); REQBODY_ERROR and REQBODY_PROCESSOR_ERROR
    /// are `1` when it is set.
    pub error: Option<String>,
    /// Non-file parts `(name, value)` in order: ARGS_POST (and ARGS).
    pub args: Vec<Pair>,
    /// File parts in order.
    pub files: Vec<FilePart>,
    /// FILES_COMBINED_SIZE (v3 sets it only when there is at least one file).
    pub files_combined_size: u64,
    /// Every `name=` value seen in a Content-Disposition, in order (MULTIPART_NAME).
    pub names: Vec<Vec<u8>>,
    /// Every `filename=` value seen in a Content-Disposition, in order (MULTIPART_FILENAME).
    pub filenames: Vec<Vec<u8>>,
    /// MULTIPART_PART_HEADERS: `(part name, header line)` for every header line of every
    /// part closed by a boundary; the line is as received without its line ending (a
    /// folded header is `Name: value continuation`). CRS 922100 counts
    /// `MULTIPART_PART_HEADERS:_charset_`; 922110/922120/922130 match the lines.
    pub part_headers: Vec<Pair>,
    /// The MULTIPART_* variables.
    pub flags: MultipartFlags,
    /// Bytes of the body that are not file content (v3 `m_reqbody_no_files_length`): the
    /// engine compares it with SecRequestBodyNoFilesLimit when there is no error.
    pub no_files_length: u64,
}

impl MultipartResult {
    /// The REQBODY_ERROR_MSG text v3 sets, if there was an error.
    pub fn reqbody_error_msg(&self) -> Option<String> {
        self.error
            .as_ref()
            .map(|e| format!("Multipart parsing error: {e}"))
    }
}

/// Parses a complete multipart body. `content_type` is the raw Content-Type header value
/// (v3 uses the first Content-Type header).
pub fn parse(body: &[u8], content_type: &[u8], limits: &Limits) -> MultipartResult {
    let mut p = Parser::new(body, limits);
    if p.init(content_type) {
        p.process();
    }
    p.complete()
}

/// A part being built.
#[derive(Default)]
struct Part {
    is_file: bool,
    name: Vec<u8>,
    filename: Vec<u8>,
    /// Form value (non-file parts).
    value: Vec<u8>,
    /// File content range and size (file parts).
    content: Option<Range<usize>>,
    size: u64,
    /// Counted against the file limit (v3 created its temporary file).
    counted: bool,
    headers: Vec<Pair>,
    /// Index in `headers` of the header that folded lines continue.
    last_header: Option<usize>,
    /// The current header line, recorded when the next header (or the blank line) starts.
    last_header_line: Vec<u8>,
    header_lines: Vec<Vec<u8>>,
}

impl Part {
    fn header(&self, name: &[u8]) -> Option<&Vec<u8>> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum ChunkEnd {
    /// The chunk ends with `\n`.
    Line,
    /// The buffer filled up.
    Full,
    /// The next byte is a `\r` that would have been the last byte of the buffer.
    BeforeCr,
}

struct Parser<'a> {
    body: &'a [u8],
    limits: &'a Limits,
    boundary: Vec<u8>,
    /// `--` + boundary.
    dash_boundary: Vec<u8>,
    error: Option<String>,

    flag_error: bool,
    data_before: bool,
    data_after: bool,
    header_folding: bool,
    boundary_quoted: bool,
    lf_line: bool,
    crlf_line: bool,
    unmatched_boundary: u8,
    boundary_whitespace: bool,
    missing_semicolon: bool,
    invalid_quoting: bool,
    invalid_part: bool,
    invalid_header_folding: bool,
    file_limit_exceeded: bool,

    seen_data: bool,
    is_complete: bool,
    boundary_count: usize,
    nfiles: usize,
    no_files_length: u64,

    mpp: Option<Part>,
    /// `m_mpp_state == 1`: collecting part data (else reading part headers).
    in_data: bool,
    /// `m_mpp_substate_part_data_read`.
    data_read: bool,
    /// Line terminator bytes held back from the previous data line (0, 1 or 2).
    reserve: usize,

    /// The previous chunk ended with `\n`.
    buf_contains_line: bool,
    /// The previous chunk ended with a bare `\n` (v3 `m_crlf_state_buf_end == 2`).
    prev_bare_lf: bool,
    /// Bytes left in v3's buffer when parsing stopped.
    pending: Range<usize>,

    parts: Vec<Part>,
    names: Vec<Vec<u8>>,
    filenames: Vec<Vec<u8>>,
    part_headers: Vec<Pair>,
}

impl<'a> Parser<'a> {
    fn new(body: &'a [u8], limits: &'a Limits) -> Self {
        Parser {
            body,
            limits,
            boundary: Vec::new(),
            dash_boundary: Vec::new(),
            error: None,
            flag_error: false,
            data_before: false,
            data_after: false,
            header_folding: false,
            boundary_quoted: false,
            lf_line: false,
            crlf_line: false,
            unmatched_boundary: 0,
            boundary_whitespace: false,
            missing_semicolon: false,
            invalid_quoting: false,
            invalid_part: false,
            invalid_header_folding: false,
            file_limit_exceeded: false,
            seen_data: false,
            is_complete: false,
            boundary_count: 0,
            nfiles: 0,
            no_files_length: 0,
            mpp: None,
            in_data: false,
            data_read: false,
            reserve: 0,
            buf_contains_line: true,
            prev_bare_lf: false,
            pending: 0..0,
            parts: Vec::new(),
            names: Vec::new(),
            filenames: Vec::new(),
            part_headers: Vec::new(),
        }
    }

    fn fail(&mut self, msg: impl Into<String>) {
        self.error = Some(msg.into());
    }

    fn fail_strict(&mut self, msg: impl Into<String>) {
        self.flag_error = true;
        self.error = Some(msg.into());
    }

    /// v3 `Multipart::init`: validates the Content-Type and extracts the boundary.
    /// Returns false when the body must not be processed (possibly without an error, as v3
    /// does for an empty boundary value).
    fn init(&mut self, content_type: &[u8]) -> bool {
        if content_type.is_empty() {
            self.fail_strict("Multipart: Content-Type header not available.");
            return false;
        }
        if content_type.len() > 1024 {
            self.fail_strict("Multipart: Invalid boundary in C-T (length).");
            return false;
        }
        // v3 works on the C string from here on.
        let ct = c_str(content_type);
        if !super::starts_with_ignore_ascii_case(ct, b"multipart/form-data") {
            self.fail_strict("Multipart: Invalid MIME type.");
            return false;
        }
        if count_boundary_params(ct) > 1 {
            self.fail_strict("Multipart: Multiple boundary parameters in C-T.");
            return false;
        }
        let Some(bpos) = memchr::memmem::find(ct, b"boundary") else {
            self.flag_error = true;
            if count_boundary_params(ct) > 0 {
                self.fail("Multipart: Invalid boundary in C-T (case sensitivity).");
            } else {
                self.fail("Multipart: Boundary not found in C-T.");
            }
            return false;
        };

        // Only whitespace and one semicolon may come between the MIME type and "boundary".
        let mut seen_semicolon = false;
        for &c in ct.get(19..bpos).unwrap_or(&[]) {
            if !is_c_space(c) {
                if !seen_semicolon && c == b';' {
                    seen_semicolon = true;
                } else {
                    self.fail_strict("Multipart: Invalid boundary in C-T (malformed).");
                    return false;
                }
            }
        }
        if !seen_semicolon {
            self.missing_semicolon = true;
        }

        let after_name = bpos + 8;
        let Some(eq) = ct.get(after_name..).and_then(|s| memchr::memchr(b'=', s)) else {
            self.fail_strict("Multipart: Invalid boundary in C-T (malformed).");
            return false;
        };
        let eq = after_name + eq;
        for &c in &ct[after_name..eq] {
            if is_c_space(c) {
                self.boundary_whitespace = true;
            } else {
                self.fail_strict("Multipart: Invalid boundary in C-T (parameter name).");
                return false;
            }
        }
        let b = &ct[eq + 1..];
        if b.first().is_some_and(|&c| is_c_space(c)) {
            self.boundary_whitespace = true;
        }
        let len = b.len();
        let boundary: &[u8] = if len >= 2 && b[0] == b'"' && b[len - 1] == b'"' {
            let inner = &b[1..len - 1];
            if inner.is_empty() {
                return false;
            }
            self.boundary_quoted = true;
            inner
        } else {
            if b.first() == Some(&b'"') || (len >= 2 && b[len - 1] == b'"') {
                self.fail_strict("Multipart: Invalid boundary in C-T (quote).");
                return false;
            }
            if b.is_empty() {
                return false;
            }
            b
        };
        if count_boundary_params(boundary) != 0 {
            self.fail_strict("Multipart: Invalid boundary in C-T (content).");
            return false;
        }
        let mut boundary = boundary;
        if !boundary_characters_valid(boundary) {
            // Some frameworks add `; charset=...` after the boundary; v3 tolerates it.
            if let Some(semi) = memchr::memchr(b';', boundary) {
                boundary = &boundary[..semi];
            }
        }
        if !boundary_characters_valid(boundary) {
            self.fail_strict("Multipart: Invalid boundary in C-T (characters).");
            return false;
        }
        if boundary.is_empty() {
            self.fail_strict("Multipart: Invalid boundary in C-T (empty).");
            return false;
        }
        self.boundary = boundary.to_vec();
        self.dash_boundary = Vec::with_capacity(boundary.len() + 2);
        self.dash_boundary.extend_from_slice(b"--");
        self.dash_boundary.extend_from_slice(boundary);
        true
    }

    /// v3 `Multipart::process` over the whole body, one buffer ("chunk") at a time.
    fn process(&mut self) {
        let body = self.body;
        let n = body.len();
        if n == 0 {
            return;
        }
        self.seen_data = true;
        let finder = memchr::memmem::Finder::new(&self.dash_boundary).into_owned();
        let mut start = 0usize;
        while start < n {
            let window_end = n.min(start + MULTIPART_BUF_SIZE);
            let (end, kind) = match memchr::memchr(b'\n', &body[start..window_end]) {
                Some(k) => (start + k + 1, ChunkEnd::Line),
                None if window_end - start < MULTIPART_BUF_SIZE => break,
                None if body[start + MULTIPART_BUF_SIZE - 1] == b'\r' => {
                    (start + MULTIPART_BUF_SIZE - 1, ChunkEnd::BeforeCr)
                }
                None => (start + MULTIPART_BUF_SIZE, ChunkEnd::Full),
            };
            let full = end - start == MULTIPART_BUF_SIZE;
            if !self.handle_chunk(start..end, full, kind == ChunkEnd::BeforeCr, &finder) {
                // v3 returns with the offending line still in its buffer.
                self.pending = start..end;
                return;
            }
            self.buf_contains_line = kind == ChunkEnd::Line;
            self.prev_bare_lf = kind == ChunkEnd::Line && !(end >= 2 && body[end - 2] == b'\r');
            start = end;
            if self.is_complete && start < n {
                self.data_after = true;
                self.pending = start..start;
                return;
            }
        }
        self.pending = start..n;
    }

    /// Processes one buffer. Returns false when v3 stops parsing with an error.
    fn handle_chunk(
        &mut self,
        range: Range<usize>,
        full: bool,
        before_cr: bool,
        finder: &memchr::memmem::Finder<'_>,
    ) -> bool {
        let chunk = &self.body[range.clone()];
        let cs = c_str(chunk);
        let blen = self.boundary.len();
        let mut processed_as_boundary = false;

        if self.buf_contains_line && cs.len() > 3 && cs[0] == b'-' && cs[1] == b'-' {
            if cs.len() >= blen + 2 && cs[2..2 + blen] == self.boundary[..] {
                if self.prev_bare_lf {
                    self.lf_line = true;
                }
                if !self.data_read && self.boundary_count > 0 {
                    // The boundary sits where part data should begin.
                    self.invalid_part = true;
                } else {
                    if self.boundary_count > 0 {
                        self.unmatched_boundary = 2;
                    }
                    // Bytes of v3's NUL-terminated buffer.
                    let at = |k: usize| chunk.get(k).copied().unwrap_or(0);
                    let mut be = 2 + blen;
                    let mut is_final = false;
                    if at(be) == b'-' && at(be + 1) == b'-' {
                        is_final = true;
                        be += 2;
                        if self.is_complete {
                            self.fail_strict("Multipart: Invalid boundary (final duplicate).");
                            return false;
                        }
                    }
                    let crlf = at(be) == b'\r' && at(be + 1) == b'\n' && at(be + 2) == 0;
                    let lf = at(be) == b'\n' && at(be + 1) == 0;
                    if crlf || lf {
                        if lf {
                            self.lf_line = true;
                        } else {
                            self.crlf_line = true;
                        }
                        self.process_boundary(is_final);
                        if is_final {
                            self.is_complete = true;
                        }
                        processed_as_boundary = true;
                        self.boundary_count += 1;
                    } else {
                        let msg = format!(
                            "Multipart: Invalid boundary: {}",
                            String::from_utf8_lossy(cs)
                        );
                        self.fail_strict(msg);
                        return false;
                    }
                }
            } else {
                // Looks like a boundary but does not match it.
                if self.boundary_quoted
                    && cs.len() >= blen + 3
                    && cs[2] == b'"'
                    && cs[3..3 + blen] == self.boundary[..]
                {
                    self.fail_strict("Multipart: Invalid boundary (quotes).");
                    return false;
                }
                let p = 2 + cs[2..].iter().take_while(|&&c| is_c_space(c)).count();
                if p != 2 && cs[p..].starts_with(&self.boundary) {
                    self.fail_strict("Multipart: Invalid boundary (whitespace).");
                    return false;
                }
                self.unmatched_boundary = 1;
            }
        } else if self.buf_contains_line && finder.find(chunk).is_some() {
            // Something resembling the boundary inside a line.
            self.unmatched_boundary = 1;
        }

        if !processed_as_boundary {
            if self.mpp.is_none() {
                self.data_before = true;
            } else if !self.in_data {
                if full || before_cr {
                    self.fail_strict(format!(
                        "Multipart: Part header line over {MULTIPART_BUF_SIZE} bytes long"
                    ));
                    return false;
                }
                // Header errors set the message but do not stop v3's parser.
                self.process_part_header(range);
            } else {
                self.process_part_data(range);
            }
        }
        true
    }

    /// v3 `process_part_header` for one line (ending with `\n`).
    fn process_part_header(&mut self, range: Range<usize>) {
        let line = &self.body[range];
        if memchr::memchr(0, line).is_some() {
            self.fail("Multipart: Nul byte in part headers.");
            return;
        }
        let len = line.len();
        self.no_files_length += len as u64;
        let mut len_without_termination = len.saturating_sub(1);
        if len > 1 {
            if line[len - 2] == b'\r' {
                self.crlf_line = true;
                len_without_termination -= 1;
            } else {
                self.lf_line = true;
            }
        } else {
            self.lf_line = true;
        }
        let Some(mpp) = self.mpp.as_mut() else {
            return;
        };

        if line == b"\r\n" || line == b"\n" {
            // End of the part headers.
            if !mpp.last_header_line.is_empty() {
                let l = std::mem::take(&mut mpp.last_header_line);
                mpp.header_lines.push(l);
            }
            let Some(cd) = mpp.header(b"Content-Disposition").cloned() else {
                self.fail("Multipart: Part missing Content-Disposition header.");
                return;
            };
            let rc = self.parse_content_disposition(&cd);
            if rc < 0 {
                let msg = format!(
                    "Multipart: Invalid Content-Disposition header ({rc}): {}",
                    String::from_utf8_lossy(&cd)
                );
                self.fail(msg);
                return;
            }
            let Some(mpp) = self.mpp.as_mut() else {
                return;
            };
            if mpp.name.is_empty() {
                self.fail("Multipart: Content-Disposition header missing name field.");
                return;
            }
            if !mpp.filename.is_empty() {
                // A crude parser would not have seen the file name: reject.
                if memchr::memmem::find(&cd, b"filename=").is_none() {
                    self.fail("Multipart: Invalid Content-Disposition header (filename).");
                    return;
                }
                mpp.is_file = true;
            } else {
                mpp.is_file = false;
            }
            self.in_data = true;
            self.data_read = false;
            if let Some(mpp) = self.mpp.as_mut() {
                mpp.last_header = None;
            }
        } else if is_c_space(line[0]) {
            // Header folding.
            self.header_folding = true;
            if line[0] != b'\t' && line[0] != b' ' {
                self.invalid_header_folding = true;
            }
            let Some(idx) = mpp.last_header else {
                self.fail("Multipart: Invalid part header (folding error).");
                return;
            };
            let skip = line.iter().take_while(|&&c| is_c_space(c)).count();
            if line[..skip].iter().any(|&c| c != b'\t' && c != b' ') {
                self.invalid_header_folding = true;
            }
            let continuation = chomp(&line[skip..]);
            let Some((name, value)) = mpp.headers.get_mut(idx) else {
                return;
            };
            value.push(b' ');
            value.extend_from_slice(continuation);
            if value.len() > MULTIPART_BUF_SIZE {
                self.fail("Multipart: Part header too long.");
                return;
            }
            let mut l = Vec::with_capacity(name.len() + 2 + value.len());
            l.extend_from_slice(name);
            l.extend_from_slice(b": ");
            l.extend_from_slice(value);
            mpp.last_header_line = l;
        } else {
            // A new header.
            if !mpp.last_header_line.is_empty() {
                let l = std::mem::take(&mut mpp.last_header_line);
                mpp.header_lines.push(l);
            }
            let Some(colon) = memchr::memchr(b':', line) else {
                let msg = format!(
                    "Multipart: Invalid part header (colon missing): {}",
                    String::from_utf8_lossy(line)
                );
                self.fail(msg);
                return;
            };
            if colon == 0 {
                self.fail("Multipart: Invalid part header (header name missing).");
                return;
            }
            let name = &line[..colon];
            if name.iter().any(|&c| !(33..=126).contains(&c)) {
                self.fail("Multipart: Invalid part header (contains invalid character).");
                return;
            }
            let rest = &line[colon + 1..];
            let skip = rest
                .iter()
                .take_while(|&&c| c == b' ' || c == b'\t')
                .count();
            let value = chomp(&rest[skip..]);
            if mpp.header(name).is_some() {
                // v3 ("Duplicate part header") returns without an error message.
                return;
            }
            mpp.headers.push((name.to_vec(), value.to_vec()));
            mpp.last_header = Some(mpp.headers.len() - 1);
            mpp.last_header_line = line[..len_without_termination].to_vec();
        }
    }

    /// v3 `parse_content_disposition`; returns 1 or a negative error code.
    fn parse_content_disposition(&mut self, v: &[u8]) -> i32 {
        let at = |k: usize| v.get(k).copied().unwrap_or(0);
        let is_ws = |c: u8| c == b'\t' || c == b' ';
        if !v.starts_with(b"form-data") {
            return -1;
        }
        let mut p = 9usize;
        while is_ws(at(p)) {
            p += 1;
        }
        if at(p) == 0 {
            return 1;
        }
        if at(p) != b';' {
            return -2;
        }
        p += 1;
        let mut filename_star: Vec<u8> = Vec::new();

        while at(p) != 0 {
            while is_ws(at(p)) {
                p += 1;
            }
            if at(p) == 0 {
                return -3;
            }
            let start = p;
            while at(p) != 0 && at(p) != b'=' && !is_ws(at(p)) {
                p += 1;
            }
            if at(p) == 0 {
                return -4;
            }
            let name = &v[start..p];
            while is_ws(at(p)) {
                p += 1;
            }
            if at(p) == 0 {
                return -5;
            }
            if at(p) != b'=' {
                return -13;
            }
            p += 1;
            while is_ws(at(p)) {
                p += 1;
            }
            if at(p) == 0 {
                return -6;
            }

            let mut quote = 0u8;
            let value: Vec<u8>;
            if name == b"filename*" {
                // filename*=charset'[language]'filename
                let charset_start = p;
                while at(p) != 0
                    && (at(p).is_ascii_alphanumeric() || MIME_CHARSET_SPECIAL.contains(&at(p)))
                {
                    p += 1;
                }
                if at(p) != b'\'' || p == charset_start {
                    return -16;
                }
                p += 1;
                while at(p) != 0 && at(p) != b'\'' {
                    p += 1;
                }
                if at(p) != b'\'' {
                    return -17;
                }
                p += 1;
                let fstart = p;
                while at(p) != 0 && at(p) != b';' {
                    if at(p) == b'%' {
                        if at(p + 1) == 0
                            || !at(p + 1).is_ascii_hexdigit()
                            || !at(p + 2).is_ascii_hexdigit()
                        {
                            return -18;
                        }
                        p += 3;
                    } else if at(p).is_ascii_alphanumeric() || ATTR_CHAR_SPECIAL.contains(&at(p)) {
                        p += 1;
                    } else {
                        return -19;
                    }
                }
                value = v[fstart..p.min(v.len())].to_vec();
            } else if at(p) == b'"' || at(p) == b'\'' {
                // Both quotes are accepted; the single quote is flagged.
                quote = at(p);
                if quote == b'\'' {
                    self.invalid_quoting = true;
                }
                p += 1;
                if at(p) == 0 {
                    return -7;
                }
                let mut val = Vec::new();
                while at(p) != 0 {
                    if at(p) == b'\\' {
                        if at(p + 1) == 0 {
                            return -8;
                        }
                        // Only the quote and the backslash can be escaped; any other
                        // backslash is kept (v3 tolerates what IE sends).
                        if at(p + 1) == quote || at(p + 1) == b'\\' {
                            p += 1;
                        }
                    } else if at(p) == quote {
                        break;
                    }
                    val.push(at(p));
                    p += 1;
                }
                // Over the closing quote (past the end when it is missing).
                p += 1;
                value = val;
            } else {
                let start = p;
                while at(p) != 0 && is_token_char(at(p)) {
                    p += 1;
                }
                value = v[start..p].to_vec();
            }

            if name == b"name" {
                self.validate_quotes(&value, quote);
                self.names.push(value.clone());
                let Some(mpp) = self.mpp.as_mut() else {
                    return -14;
                };
                if !mpp.name.is_empty() {
                    return -14;
                }
                mpp.name = value;
            } else if name == b"filename" {
                self.validate_quotes(&value, quote);
                self.filenames.push(value.clone());
                let Some(mpp) = self.mpp.as_mut() else {
                    return -15;
                };
                if !mpp.filename.is_empty() {
                    return -15;
                }
                mpp.filename = value;
            } else if name == b"filename*" {
                if !filename_star.is_empty() {
                    return -20;
                }
                filename_star = value;
            } else {
                return -11;
            }

            if at(p) != 0 {
                while is_ws(at(p)) {
                    p += 1;
                }
                if at(p) != 0 {
                    if at(p) != b';' {
                        if p > 0 && matches!(at(p - 1), b'\'' | b'"') {
                            self.invalid_quoting = true;
                        }
                        return -12;
                    }
                    p += 1;
                }
            }
        }

        let filename_missing = self.mpp.as_ref().is_none_or(|m| m.filename.is_empty());
        if !filename_star.is_empty() && filename_missing {
            return -21;
        }
        1
    }

    /// v3 `validate_quotes`: a single quote inside a value not enclosed in double quotes.
    fn validate_quotes(&mut self, value: &[u8], quote: u8) {
        if quote != b'"' && value.contains(&b'\'') {
            self.invalid_quoting = true;
        }
    }

    /// v3 `process_part_data` for one buffer of part data.
    fn process_part_data(&mut self, range: Range<usize>) {
        self.data_read = true;
        let chunk = &self.body[range.clone()];
        let len = chunk.len();
        // Hold back the line terminator: it belongs to the next boundary if one follows.
        let reserved = if chunk.last() == Some(&b'\n') {
            if len >= 2 && chunk[len - 2] == b'\r' {
                2
            } else {
                1
            }
        } else {
            0
        };
        let data_len = len - reserved;
        let max_files = self.limits.max_files;
        let Some(mpp) = self.mpp.as_mut() else {
            return;
        };
        if mpp.is_file {
            let mut extract = max_files > 0;
            // v3 checks the count before every buffer, also for the file it last counted.
            if extract && self.nfiles >= max_files {
                if !self.file_limit_exceeded {
                    self.error = Some(format!(
                        "Multipart: Upload file limit exceeded {max_files}. Use SecUploadFileLimit to change the limit."
                    ));
                    self.file_limit_exceeded = true;
                }
                extract = false;
            }
            if extract && !mpp.counted {
                mpp.counted = true;
                self.nfiles += 1;
            }
            mpp.size += (data_len + self.reserve) as u64;
            let content = mpp.content.get_or_insert(range.start..range.start);
            content.end = range.start + data_len;
        } else {
            self.no_files_length += (data_len + self.reserve) as u64;
            // v3 drops the held-back terminator of the previous line here.
            mpp.value.extend_from_slice(&chunk[..data_len]);
        }
        self.reserve = reserved;
    }

    /// v3 `process_boundary`: closes the current part and, unless this was the final
    /// boundary, starts a new one.
    fn process_boundary(&mut self, last_part: bool) {
        if let Some(mut mpp) = self.mpp.take() {
            for line in std::mem::take(&mut mpp.header_lines) {
                self.part_headers.push((mpp.name.clone(), line));
            }
            if !mpp.name.is_empty() {
                self.parts.push(mpp);
            } else {
                self.invalid_part = true;
            }
        }
        if !last_part {
            self.mpp = Some(Part::default());
            self.in_data = false;
            self.data_read = false;
            self.reserve = 0;
        }
    }

    fn flags(&self) -> MultipartFlags {
        MultipartFlags {
            strict_error: self.flag_error
                || self.boundary_quoted
                || self.boundary_whitespace
                || self.data_before
                || self.data_after
                || self.header_folding
                || self.lf_line
                || self.missing_semicolon
                || self.invalid_quoting
                || self.invalid_part
                || self.invalid_header_folding
                || self.file_limit_exceeded,
            boundary_quoted: self.boundary_quoted,
            boundary_whitespace: self.boundary_whitespace,
            data_before: self.data_before,
            data_after: self.data_after,
            header_folding: self.header_folding,
            lf_line: self.lf_line,
            crlf_lf_lines: self.crlf_line && self.lf_line,
            missing_semicolon: self.missing_semicolon,
            invalid_quoting: self.invalid_quoting,
            invalid_part: self.invalid_part,
            invalid_header_folding: self.invalid_header_folding,
            file_limit_exceeded: self.file_limit_exceeded,
            unmatched_boundary: self.unmatched_boundary,
        }
    }

    /// v3 `multipart_complete`.
    fn complete(mut self) -> MultipartResult {
        // v3 publishes the flag variables first, then may still amend some of them.
        let mut flags = self.flags();
        let mut incomplete = false;
        if self.seen_data && !self.is_complete {
            if self.boundary_count > 0 {
                // The final boundary may be the last, unterminated, line.
                let pend = self.body.get(self.pending.clone()).unwrap_or(&[]);
                let blen = self.boundary.len();
                if self.buf_contains_line
                    && pend.len() == 4 + blen
                    && pend.starts_with(&self.dash_boundary)
                    && pend.ends_with(b"--")
                {
                    if self.prev_bare_lf && !self.lf_line {
                        self.lf_line = true;
                        flags.lf_line = true;
                        flags.crlf_lf_lines = self.crlf_line;
                        flags.strict_error = true;
                    }
                    if !self.data_read && !self.invalid_part {
                        // It is where part data should begin.
                        self.invalid_part = true;
                        flags.invalid_part = true;
                        flags.strict_error = true;
                    }
                    self.process_boundary(true);
                    self.is_complete = true;
                }
                if !self.is_complete {
                    self.error = Some("Multipart: Final boundary missing.".to_string());
                    incomplete = true;
                }
            } else {
                self.error = Some("Multipart: No boundaries found in payload.".to_string());
                incomplete = true;
            }
        }

        let mut result = MultipartResult {
            error: self.error,
            args: Vec::new(),
            files: Vec::new(),
            files_combined_size: 0,
            names: self.names,
            filenames: self.filenames,
            part_headers: self.part_headers,
            flags,
            no_files_length: self.no_files_length,
        };
        if incomplete {
            return result;
        }
        for part in self.parts {
            if part.is_file {
                result.files_combined_size += part.size;
                let content_type = part.header(b"Content-Type").cloned();
                result.files.push(FilePart {
                    name: part.name,
                    filename: part.filename,
                    size: part.size,
                    content_type,
                    headers: part.headers,
                    content: part.content.unwrap_or(0..0),
                });
            } else {
                result.args.push((part.name, part.value));
            }
        }
        result
    }
}

/// The bytes before the first NUL (what a C string function sees).
fn c_str(s: &[u8]) -> &[u8] {
    match memchr::memchr(0, s) {
        Some(i) => &s[..i],
        None => s,
    }
}

/// v3 `utils::string::chomp`: strips trailing `\r` / `\n`, unless the value is made only
/// of them (then it is left unchanged).
fn chomp(s: &[u8]) -> &[u8] {
    match s.iter().rposition(|&c| c != b'\r' && c != b'\n') {
        Some(i) => &s[..=i],
        None => s,
    }
}

/// v3 `count_boundary_params`: occurrences of "boundary" (any case) followed somewhere by
/// a `=`.
fn count_boundary_params(s: &[u8]) -> usize {
    let lower = c_str(s).to_ascii_lowercase();
    let mut count = 0;
    let mut pos = 0;
    while let Some(i) = lower
        .get(pos..)
        .and_then(|rest| memchr::memmem::find(rest, b"boundary"))
    {
        pos += i + 8;
        if lower
            .get(pos..)
            .is_some_and(|rest| memchr::memchr(b'=', rest).is_some())
        {
            count += 1;
        }
    }
    count
}

/// RFC 2046 boundary characters (v3 `boundary_characters_valid`); a space is allowed but
/// not as the last character.
fn boundary_characters_valid(b: &[u8]) -> bool {
    b.iter().enumerate().all(|(i, &c)| {
        c.is_ascii_alphanumeric()
            || (c == b' ' && i + 1 < b.len())
            || matches!(
                c,
                b'\'' | b'(' | b')' | b'+' | b'_' | b',' | b'-' | b'.' | b'/' | b':' | b'=' | b'?'
            )
    })
}

/// RFC 2045 token characters (v3 `is_token_char`).
fn is_token_char(c: u8) -> bool {
    c > 32
        && c < 127
        && !matches!(
            c,
            b'(' | b')'
                | b'<'
                | b'>'
                | b'@'
                | b','
                | b';'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'='
        )
}

#[cfg(test)]
#[path = "multipart_tests.rs"]
mod tests;
