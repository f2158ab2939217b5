//! Builds the bytes of a request exactly as go-ftw does (coreruleset/go-ftw
//! `ftwhttp/request.go`, `ftwhttp/header.go`, `runner/run.go`).
//!
//! * Headers given as a map are written sorted by name (Go's byte order), each as
//!   `Name: Value\r\n`; header names are compared canonically (`content-type` is
//!   `Content-Type`), and `Add` always appends.
//! * With autocomplete (default) and a non-empty body: `Content-Type` defaults to
//!   `application/x-www-form-urlencoded`; when a `Content-Type` equals that (case-insensitively)
//!   and the data contains neither `%` nor `+` (i.e. URL-unescaping it changes nothing), every
//!   `&`-separated `key=value` is query-escaped (space becomes `+`).
//! * A `Content-Type` containing `multipart/form-data;` gets every `\n` of the body replaced by
//!   `\r\n`, with or without autocomplete.
//! * Autocomplete then adds `Connection: close` when absent and, when absent, `Content-Length`
//!   if the body is non-empty or the method matches `^POST|PUT|PATCH|DELETE$` (sic).
//! * `encoded_request` is base64 of the raw bytes, sent unchanged.

use base64::Engine as _;

use super::model::Input;
use super::template;

/// go-ftw's `Header`: an ordered list of (name, value) with canonical-name lookups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderList {
    entries: Vec<(String, String)>,
}

impl HeaderList {
    /// An empty list.
    pub fn new() -> HeaderList {
        HeaderList::default()
    }

    /// `NewHeaderFromMap`: entries sorted by name.
    pub fn from_sorted<'a>(
        pairs: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> HeaderList {
        let mut entries: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        HeaderList { entries }
    }

    /// Appends a header (duplicates allowed).
    pub fn add(&mut self, name: &str, value: &str) {
        self.entries.push((name.to_string(), value.to_string()));
    }

    /// Whether a header with this canonical name exists.
    pub fn has_any(&self, name: &str) -> bool {
        let key = canonical_key(name);
        self.entries.iter().any(|(n, _)| canonical_key(n) == key)
    }

    /// Whether a header with this canonical name has a value equal (case-folded) to `value`.
    pub fn has_any_value(&self, name: &str, value: &str) -> bool {
        let key = canonical_key(name);
        self.entries
            .iter()
            .any(|(n, v)| canonical_key(n) == key && equal_fold(v, value))
    }

    /// Whether a header with this canonical name has a value containing `needle`, both
    /// lower-cased.
    pub fn has_any_value_containing(&self, name: &str, needle: &str) -> bool {
        let key = canonical_key(name);
        let needle = needle.to_lowercase();
        self.entries
            .iter()
            .any(|(n, v)| canonical_key(n) == key && v.to_lowercase().contains(&needle))
    }

    /// Values of all headers with this canonical name.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        let key = canonical_key(name);
        self.entries
            .iter()
            .filter(|(n, _)| canonical_key(n) == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn write(&self, out: &mut Vec<u8>) {
        for (name, value) in &self.entries {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: names with bytes outside the token set are
/// returned unchanged.
pub fn canonical_key(name: &str) -> String {
    let valid = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid {
        return name.to_string();
    }
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// Go's `strings.EqualFold` (simple Unicode case folding, approximated by lower-casing).
fn equal_fold(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// Go's `url.QueryEscape`: everything but `A-Za-z0-9-_.~` is percent-encoded, space is `+`.
pub fn query_escape(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len() * 3);
    for &b in input {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
                out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 0x0f)]));
            }
        }
    }
    out
}

/// go-ftw's `encodeDataParameters`.
fn encode_data_parameters(headers: &HeaderList, data: Vec<u8>) -> Vec<u8> {
    if data.is_empty()
        || !headers.has_any_value("Content-Type", "application/x-www-form-urlencoded")
    {
        return data;
    }
    // `url.QueryUnescape(data) == data` holds exactly when there is no `%` (which either fails
    // to unescape or changes the text) and no `+` (which becomes a space).
    if data.iter().any(|&b| b == b'%' || b == b'+') {
        return data;
    }
    let mut escaped = String::with_capacity(data.len() * 2);
    let mut remaining: &[u8] = &data;
    while !remaining.is_empty() {
        let (token, rest) = match remaining.iter().position(|&b| b == b'&') {
            Some(i) => (
                remaining.get(..i).unwrap_or(&[]),
                remaining.get(i + 1..).unwrap_or(&[]),
            ),
            None => (remaining, &[][..]),
        };
        remaining = rest;
        match token.iter().position(|&b| b == b'=') {
            None => escaped.push_str(&query_escape(token)),
            Some(eq) => {
                escaped.push_str(&query_escape(token.get(..eq).unwrap_or(&[])));
                escaped.push('=');
                escaped.push_str(&query_escape(token.get(eq + 1..).unwrap_or(&[])));
            }
        }
        escaped.push('&');
    }
    escaped.pop();
    escaped.into_bytes()
}

/// go-ftw's `methodsWithBodyRegex` `^POST|PUT|PATCH|DELETE$`, which parses as
/// `(^POST)|(PUT)|(PATCH)|(DELETE$)`.
fn method_matches_body_regex(method: &str) -> bool {
    method.starts_with("POST")
        || method.contains("PUT")
        || method.contains("PATCH")
        || method.ends_with("DELETE")
}

/// A request described field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    pub method: String,
    pub uri: String,
    pub version: String,
    pub headers: HeaderList,
    pub data: Vec<u8>,
    pub autocomplete: bool,
}

/// go-ftw's `BuildRequest`.
pub fn build(spec: &RequestSpec) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + spec.data.len());
    out.extend_from_slice(spec.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(spec.uri.as_bytes());
    out.push(b' ');
    out.extend_from_slice(spec.version.as_bytes());
    out.extend_from_slice(b"\r\n");

    let mut headers = spec.headers.clone();
    let mut data = spec.data.clone();
    if !data.is_empty() && spec.autocomplete {
        if !headers.has_any("Content-Type") {
            headers.add("Content-Type", "application/x-www-form-urlencoded");
        }
        data = encode_data_parameters(&headers, data);
    }
    if headers.has_any_value_containing("Content-Type", "multipart/form-data;") {
        let mut converted = Vec::with_capacity(data.len() + data.len() / 16);
        for &b in &data {
            if b == b'\n' {
                converted.extend_from_slice(b"\r\n");
            } else {
                converted.push(b);
            }
        }
        data = converted;
    }
    if spec.autocomplete {
        if !headers.has_any("Connection") {
            headers.add("Connection", "close");
        }
        if !headers.has_any("Content-Length")
            && (!data.is_empty() || method_matches_body_regex(&spec.method))
        {
            headers.add("Content-Length", &data.len().to_string());
        }
    }
    headers.write(&mut out);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&data);
    out
}

/// The request body of a stage: `data` (after template expansion) or `encoded_data`.
pub fn stage_data(input: &Input) -> Result<Vec<u8>, String> {
    if let Some(data) = &input.data {
        return template::expand(data)
            .map(String::into_bytes)
            .map_err(|e| format!("cannot expand the template in data: {e}"));
    }
    if let Some(encoded) = &input.encoded_data {
        return decode_base64(encoded).map_err(|e| format!("invalid encoded_data: {e}"));
    }
    Ok(Vec::new())
}

fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let cleaned: String = text.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .map_err(|e| e.to_string())
}

/// The headers of a stage (`ordered_headers` when given, else the sorted map).
pub fn stage_headers(input: &Input) -> HeaderList {
    if let Some(ordered) = input.ordered_headers.as_ref().filter(|h| !h.is_empty()) {
        let mut list = HeaderList::new();
        for h in ordered {
            list.add(&h.name, &h.value);
        }
        return list;
    }
    match &input.headers {
        Some(map) => HeaderList::from_sorted(map.iter()),
        None => HeaderList::new(),
    }
}

/// The bytes go-ftw sends for a stage (go-ftw's `getRequestFromTest` + `BuildRequest`).
pub fn stage_request(input: &Input) -> Result<Vec<u8>, String> {
    if let Some(encoded) = input.encoded_request.as_deref().filter(|e| !e.is_empty()) {
        return decode_base64(encoded).map_err(|e| format!("invalid encoded_request: {e}"));
    }
    let spec = RequestSpec {
        method: input.method().to_string(),
        uri: input.uri().to_string(),
        version: input.version().to_string(),
        headers: stage_headers(input),
        data: stage_data(input)?,
        autocomplete: input.autocomplete(),
    };
    Ok(build(&spec))
}

/// go-ftw's marker request (`buildMarkerRequest`): `GET /status/200` with the marker header.
pub fn marker_request(header_name: &str, marker: &str, host: &str) -> Vec<u8> {
    let mut headers = HeaderList::new();
    headers.add("Accept", "*/*");
    headers.add("User-Agent", "go-ftw test agent");
    headers.add("Host", host);
    headers.add(header_name, marker);
    build(&RequestSpec {
        method: "GET".to_string(),
        uri: "/status/200".to_string(),
        version: "HTTP/1.1".to_string(),
        headers,
        data: Vec::new(),
        autocomplete: true,
    })
}

/// The `Host` of marker requests: `localhost`, or the test's own `Host` in virtual host mode.
pub fn marker_host(input: &Input) -> String {
    if input.virtual_host_mode == Some(true) {
        let headers = stage_headers(input);
        if let [only] = headers.get_all("Host").as_slice() {
            return (*only).to_string();
        }
    }
    "localhost".to_string()
}
