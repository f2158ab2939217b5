//! Request body processors: URLENCODED, MULTIPART, JSON, XML, plus the query-string and
//! cookie parsing the engine also needs.
//!
//! Each parser is a pure function over the complete (buffered) input, mirroring
//! libmodsecurity v3 (3.0.x). None panics on any input; failures are reported as an error
//! message the engine stores in REQBODY_ERROR_MSG.
//!
//! | v3 source                                   | here                  |
//! |---------------------------------------------|-----------------------|
//! | `Transaction::extractArguments`             | [`urlencoded::parse`] |
//! | `Transaction::addRequestHeader` (Cookie)    | [`cookies::parse`]    |
//! | `request_body_processor/multipart.cc`       | [`multipart::parse`]  |
//! | `request_body_processor/json.cc` (YAJL)     | [`json::parse`]       |
//! | `request_body_processor/xml.cc` + `variables/xml.cc` (libxml2) | [`xml::parse`], [`xml::XmlDoc::xpath`] |

pub mod cookies;
pub mod json;
pub mod multipart;
pub mod urlencoded;
pub mod xml;
mod xml_prep;
mod xpath;

#[cfg(test)]
mod fuzz_tests;

/// A (name, value) pair; both are raw bytes (after decoding).
pub type Pair = (Vec<u8>, Vec<u8>);

/// Limits the engine passes to the parsers (from SecArgumentsLimit and friends).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Maximum number of arguments a body may produce (SecArgumentsLimit).
    pub max_args: usize,
    /// Maximum nesting depth of JSON / XML documents.
    pub max_depth: usize,
    /// Maximum number of file parts in a multipart body (SecUploadFileLimit).
    pub max_files: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_args: 1000,
            max_depth: 10000,
            max_files: 100,
        }
    }
}

/// The body processor v3 selects from a request's `Content-Type` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processor {
    /// `application/x-www-form-urlencoded` (REQBODY_PROCESSOR `URLENCODED`).
    Urlencoded,
    /// `multipart/form-data` (REQBODY_PROCESSOR `MULTIPART`).
    Multipart,
    /// Selected only by `ctl:requestBodyProcessor=JSON`.
    Json,
    /// Selected only by `ctl:requestBodyProcessor=XML`.
    Xml,
}

impl Processor {
    /// The REQBODY_PROCESSOR value for this processor.
    pub fn name(self) -> &'static str {
        match self {
            Processor::Urlencoded => "URLENCODED",
            Processor::Multipart => "MULTIPART",
            Processor::Json => "JSON",
            Processor::Xml => "XML",
        }
    }
}

/// The processor v3 picks for one `Content-Type` header value: an ASCII case-insensitive
/// prefix match on `multipart/form-data` or `application/x-www-form-urlencoded`
/// (`Transaction::addRequestHeader`). JSON and XML are never chosen from the header; rules
/// select them with `ctl:requestBodyProcessor`. When a request carries several Content-Type
/// headers, v3 applies them in order and the last match wins.
pub fn processor_for_content_type(value: &[u8]) -> Option<Processor> {
    if starts_with_ignore_ascii_case(value, b"multipart/form-data") {
        Some(Processor::Multipart)
    } else if starts_with_ignore_ascii_case(value, b"application/x-www-form-urlencoded") {
        Some(Processor::Urlencoded)
    } else {
        None
    }
}

/// ASCII case-insensitive prefix test.
pub(crate) fn starts_with_ignore_ascii_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// C `isspace` in the "C" locale: space, `\t`, `\n`, `\v`, `\f`, `\r`.
#[inline]
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_selection() {
        assert_eq!(
            processor_for_content_type(b"multipart/form-data; boundary=x"),
            Some(Processor::Multipart)
        );
        assert_eq!(
            processor_for_content_type(b"Application/X-WWW-Form-Urlencoded;charset=utf-8"),
            Some(Processor::Urlencoded)
        );
        assert_eq!(processor_for_content_type(b"application/json"), None);
        assert_eq!(processor_for_content_type(b"multipart/mixed"), None);
        assert_eq!(processor_for_content_type(b""), None);
        assert_eq!(Processor::Multipart.name(), "MULTIPART");
    }

    #[test]
    fn c_space() {
        for b in [b' ', b'\t', b'\n', 0x0b, 0x0c, b'\r'] {
            assert!(is_c_space(b));
        }
        assert!(!is_c_space(0));
        assert!(!is_c_space(0xa0));
    }
}
