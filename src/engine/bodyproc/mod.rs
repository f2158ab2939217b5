//! Request body processors: URLENCODED, MULTIPART, JSON, XML.
//!
//! Each parser is a pure function over the complete (buffered) body. None panics on any
//! input; failures are reported as an error message the engine stores in REQBODY_ERROR_MSG.

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
        Limits { max_args: 1000, max_depth: 10000, max_files: 100 }
    }
}
