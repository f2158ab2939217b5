//! The catalogue of SecLang variables and the compiled form of a rule's target list.

use regex::bytes::Regex;

/// Every variable (or collection) the engine knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Var {
    // ---- collections (key -> value) ----
    Args,
    ArgsGet,
    ArgsPost,
    ArgsNames,
    ArgsGetNames,
    ArgsPostNames,
    RequestHeaders,
    RequestHeadersNames,
    RequestCookies,
    RequestCookiesNames,
    ResponseHeaders,
    ResponseHeadersNames,
    Files,
    FilesNames,
    FilesSizes,
    FilesTmpNames,
    FilesTmpContent,
    MultipartPartHeaders,
    MultipartFilename,
    MultipartName,
    MatchedVars,
    MatchedVarsNames,
    Tx,
    Ip,
    Global,
    Session,
    User,
    Resource,
    Env,
    Geo,
    Rule,
    Xml,
    // ---- single values ----
    ArgsCombinedSize,
    AuthType,
    Duration,
    FilesCombinedSize,
    FullRequest,
    FullRequestLength,
    HighestSeverity,
    InboundDataError,
    OutboundDataError,
    MatchedVar,
    MatchedVarName,
    MultipartBoundaryQuoted,
    MultipartBoundaryWhitespace,
    MultipartCrlfLfLines,
    MultipartDataAfter,
    MultipartDataBefore,
    MultipartFileLimitExceeded,
    MultipartHeaderFolding,
    MultipartInvalidHeaderFolding,
    MultipartInvalidPart,
    MultipartInvalidQuoting,
    MultipartLfLine,
    MultipartMissingSemicolon,
    MultipartStrictError,
    MultipartUnmatchedBoundary,
    PathInfo,
    QueryString,
    RemoteAddr,
    RemoteHost,
    RemotePort,
    RemoteUser,
    ReqbodyError,
    ReqbodyErrorMsg,
    ReqbodyProcessor,
    ReqbodyProcessorError,
    ReqbodyProcessorErrorMsg,
    RequestBasename,
    RequestBody,
    RequestBodyLength,
    RequestFilename,
    RequestLine,
    RequestMethod,
    RequestProtocol,
    RequestUri,
    RequestUriRaw,
    ResponseBody,
    ResponseContentLength,
    ResponseContentType,
    ResponseProtocol,
    ResponseStatus,
    ServerAddr,
    ServerName,
    ServerPort,
    SessionId,
    Time,
    TimeDay,
    TimeEpoch,
    TimeHour,
    TimeMin,
    TimeMon,
    TimeSec,
    TimeWday,
    TimeYear,
    UniqueId,
    UrlencodedError,
    UserId,
    WebAppId,
    ModsecBuild,
    MscPcreLimitsExceeded,
}

/// (SecLang name, variable, is a collection)
const CATALOGUE: &[(&str, Var, bool)] = &[
    ("ARGS", Var::Args, true),
    ("ARGS_GET", Var::ArgsGet, true),
    ("ARGS_POST", Var::ArgsPost, true),
    ("ARGS_NAMES", Var::ArgsNames, true),
    ("ARGS_GET_NAMES", Var::ArgsGetNames, true),
    ("ARGS_POST_NAMES", Var::ArgsPostNames, true),
    ("REQUEST_HEADERS", Var::RequestHeaders, true),
    ("REQUEST_HEADERS_NAMES", Var::RequestHeadersNames, true),
    ("REQUEST_COOKIES", Var::RequestCookies, true),
    ("REQUEST_COOKIES_NAMES", Var::RequestCookiesNames, true),
    ("RESPONSE_HEADERS", Var::ResponseHeaders, true),
    ("RESPONSE_HEADERS_NAMES", Var::ResponseHeadersNames, true),
    ("FILES", Var::Files, true),
    ("FILES_NAMES", Var::FilesNames, true),
    ("FILES_SIZES", Var::FilesSizes, true),
    ("FILES_TMPNAMES", Var::FilesTmpNames, true),
    ("FILES_TMP_CONTENT", Var::FilesTmpContent, true),
    ("MULTIPART_PART_HEADERS", Var::MultipartPartHeaders, true),
    ("MULTIPART_FILENAME", Var::MultipartFilename, true),
    ("MULTIPART_NAME", Var::MultipartName, true),
    ("MATCHED_VARS", Var::MatchedVars, true),
    ("MATCHED_VARS_NAMES", Var::MatchedVarsNames, true),
    ("TX", Var::Tx, true),
    ("IP", Var::Ip, true),
    ("GLOBAL", Var::Global, true),
    ("SESSION", Var::Session, true),
    ("USER", Var::User, true),
    ("RESOURCE", Var::Resource, true),
    ("ENV", Var::Env, true),
    ("GEO", Var::Geo, true),
    ("RULE", Var::Rule, true),
    ("XML", Var::Xml, true),
    ("ARGS_COMBINED_SIZE", Var::ArgsCombinedSize, false),
    ("AUTH_TYPE", Var::AuthType, false),
    ("DURATION", Var::Duration, false),
    ("FILES_COMBINED_SIZE", Var::FilesCombinedSize, false),
    ("FULL_REQUEST", Var::FullRequest, false),
    ("FULL_REQUEST_LENGTH", Var::FullRequestLength, false),
    ("HIGHEST_SEVERITY", Var::HighestSeverity, false),
    ("INBOUND_DATA_ERROR", Var::InboundDataError, false),
    ("OUTBOUND_DATA_ERROR", Var::OutboundDataError, false),
    ("MATCHED_VAR", Var::MatchedVar, false),
    ("MATCHED_VAR_NAME", Var::MatchedVarName, false),
    ("MULTIPART_BOUNDARY_QUOTED", Var::MultipartBoundaryQuoted, false),
    ("MULTIPART_BOUNDARY_WHITESPACE", Var::MultipartBoundaryWhitespace, false),
    ("MULTIPART_CRLF_LF_LINES", Var::MultipartCrlfLfLines, false),
    ("MULTIPART_DATA_AFTER", Var::MultipartDataAfter, false),
    ("MULTIPART_DATA_BEFORE", Var::MultipartDataBefore, false),
    ("MULTIPART_FILE_LIMIT_EXCEEDED", Var::MultipartFileLimitExceeded, false),
    ("MULTIPART_HEADER_FOLDING", Var::MultipartHeaderFolding, false),
    ("MULTIPART_INVALID_HEADER_FOLDING", Var::MultipartInvalidHeaderFolding, false),
    ("MULTIPART_INVALID_PART", Var::MultipartInvalidPart, false),
    ("MULTIPART_INVALID_QUOTING", Var::MultipartInvalidQuoting, false),
    ("MULTIPART_LF_LINE", Var::MultipartLfLine, false),
    ("MULTIPART_MISSING_SEMICOLON", Var::MultipartMissingSemicolon, false),
    ("MULTIPART_SEMICOLON_MISSING", Var::MultipartMissingSemicolon, false),
    ("MULTIPART_STRICT_ERROR", Var::MultipartStrictError, false),
    ("MULTIPART_UNMATCHED_BOUNDARY", Var::MultipartUnmatchedBoundary, false),
    ("PATH_INFO", Var::PathInfo, false),
    ("QUERY_STRING", Var::QueryString, false),
    ("REMOTE_ADDR", Var::RemoteAddr, false),
    ("REMOTE_HOST", Var::RemoteHost, false),
    ("REMOTE_PORT", Var::RemotePort, false),
    ("REMOTE_USER", Var::RemoteUser, false),
    ("REQBODY_ERROR", Var::ReqbodyError, false),
    ("REQBODY_ERROR_MSG", Var::ReqbodyErrorMsg, false),
    ("REQBODY_PROCESSOR", Var::ReqbodyProcessor, false),
    ("REQBODY_PROCESSOR_ERROR", Var::ReqbodyProcessorError, false),
    ("REQBODY_PROCESSOR_ERROR_MSG", Var::ReqbodyProcessorErrorMsg, false),
    ("REQUEST_BASENAME", Var::RequestBasename, false),
    ("REQUEST_BODY", Var::RequestBody, false),
    ("REQUEST_BODY_LENGTH", Var::RequestBodyLength, false),
    ("REQUEST_FILENAME", Var::RequestFilename, false),
    ("REQUEST_LINE", Var::RequestLine, false),
    ("REQUEST_METHOD", Var::RequestMethod, false),
    ("REQUEST_PROTOCOL", Var::RequestProtocol, false),
    ("REQUEST_URI", Var::RequestUri, false),
    ("REQUEST_URI_RAW", Var::RequestUriRaw, false),
    ("RESPONSE_BODY", Var::ResponseBody, false),
    ("RESPONSE_CONTENT_LENGTH", Var::ResponseContentLength, false),
    ("RESPONSE_CONTENT_TYPE", Var::ResponseContentType, false),
    ("RESPONSE_PROTOCOL", Var::ResponseProtocol, false),
    ("RESPONSE_STATUS", Var::ResponseStatus, false),
    ("STATUS", Var::ResponseStatus, false),
    ("SERVER_ADDR", Var::ServerAddr, false),
    ("SERVER_NAME", Var::ServerName, false),
    ("SERVER_PORT", Var::ServerPort, false),
    ("SESSIONID", Var::SessionId, false),
    ("TIME", Var::Time, false),
    ("TIME_DAY", Var::TimeDay, false),
    ("TIME_EPOCH", Var::TimeEpoch, false),
    ("TIME_HOUR", Var::TimeHour, false),
    ("TIME_MIN", Var::TimeMin, false),
    ("TIME_MON", Var::TimeMon, false),
    ("TIME_SEC", Var::TimeSec, false),
    ("TIME_WDAY", Var::TimeWday, false),
    ("TIME_YEAR", Var::TimeYear, false),
    ("UNIQUE_ID", Var::UniqueId, false),
    ("URLENCODED_ERROR", Var::UrlencodedError, false),
    ("USERID", Var::UserId, false),
    ("WEBAPPID", Var::WebAppId, false),
    ("MODSEC_BUILD", Var::ModsecBuild, false),
    ("MSC_PCRE_LIMITS_EXCEEDED", Var::MscPcreLimitsExceeded, false),
];

/// [`CATALOGUE`] indexed by variable (its first name for each): name and collection flag
/// are asked for every match recorded, a search of the catalogue each time was measurable.
fn by_var() -> &'static [(&'static str, bool)] {
    static TABLE: std::sync::OnceLock<Vec<(&'static str, bool)>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let len = CATALOGUE.iter().map(|&(_, v, _)| v as usize + 1).max().unwrap_or(0);
        let mut t: Vec<Option<(&'static str, bool)>> = vec![None; len];
        for &(n, v, c) in CATALOGUE {
            let e = t[v as usize].get_or_insert((n, c));
            e.1 |= c;
        }
        t.into_iter().map(|e| e.unwrap_or(("UNKNOWN", false))).collect()
    })
}

impl Var {
    /// Looks a variable up by its SecLang name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Var> {
        CATALOGUE
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, v, _)| v)
    }

    /// The canonical SecLang name.
    pub fn name(self) -> &'static str {
        by_var().get(self as usize).map_or("UNKNOWN", |e| e.0)
    }

    /// Whether the variable is a collection (accepts `:key` selection).
    pub fn is_collection(self) -> bool {
        by_var().get(self as usize).is_some_and(|e| e.1)
    }

    /// Persistent (initcol) collections.
    pub fn is_persistent(self) -> bool {
        matches!(self, Var::Ip | Var::Global | Var::Session | Var::User | Var::Resource)
    }

    /// The phase from which the variable has its final value (used for load-time warnings).
    pub fn available_from_phase(self) -> u8 {
        use Var::*;
        match self {
            ArgsPost | ArgsPostNames | Files | FilesNames | FilesSizes | FilesTmpNames
            | FilesTmpContent | FilesCombinedSize | MultipartPartHeaders | MultipartFilename
            | MultipartName | Xml | RequestBody | ReqbodyError | ReqbodyErrorMsg
            | ReqbodyProcessorError | ReqbodyProcessorErrorMsg | MultipartBoundaryQuoted
            | MultipartBoundaryWhitespace | MultipartCrlfLfLines | MultipartDataAfter
            | MultipartDataBefore | MultipartFileLimitExceeded | MultipartHeaderFolding
            | MultipartInvalidHeaderFolding | MultipartInvalidPart | MultipartInvalidQuoting
            | MultipartLfLine | MultipartMissingSemicolon | MultipartStrictError
            | MultipartUnmatchedBoundary | UrlencodedError => 2,
            ResponseHeaders | ResponseHeadersNames | ResponseStatus | ResponseProtocol
            | ResponseContentType | ResponseContentLength => 3,
            ResponseBody | OutboundDataError => 4,
            _ => 1,
        }
    }

    /// Variables whose values never change (nor are freed) once set during a transaction;
    /// their transformation results can be cached by value identity.
    pub fn is_stable(self) -> bool {
        use Var::*;
        matches!(
            self,
            Args | ArgsGet
                | ArgsPost
                | ArgsNames
                | ArgsGetNames
                | ArgsPostNames
                | RequestHeaders
                | RequestHeadersNames
                | RequestCookies
                | RequestCookiesNames
                | ResponseHeaders
                | ResponseHeadersNames
                | Files
                | FilesNames
                | MultipartPartHeaders
                | MultipartFilename
                | MultipartName
                | QueryString
                | RequestBasename
                | RequestBody
                | RequestFilename
                | RequestLine
                | RequestMethod
                | RequestProtocol
                | RequestUri
                | RequestUriRaw
                | ResponseBody
                | Xml
        )
    }
}

/// How a key is selected inside a collection.
#[derive(Debug, Clone)]
pub enum KeySel {
    /// Exact key, stored lower-cased; compared case-insensitively.
    Key(Vec<u8>),
    /// Key (or, for TX-like collections, key) matching a regex (case-insensitive).
    Regex(Regex, Option<KeyLiteral>),
}

/// A literal that every key matching a key regex contains (at its start for `^lit...`),
/// compared without running the regex. When the regex is only that literal (`/^_pk_ref/`,
/// `/^header_name_920450_/`, `/rfi_parameter_.*/`) it is the whole answer; otherwise
/// (`/^pbjs-\w+$/`, `/MULTIPART_HEADERS_CONTENT_TYPES_*/`) a key without it is rejected
/// and the regex decides for the others.
#[derive(Debug, Clone)]
pub struct KeyLiteral {
    /// The literal, lower-case.
    lit: Vec<u8>,
    /// `^lit`: at the start of the key; otherwise anywhere in it.
    anchored: bool,
    /// The regex is only the literal.
    whole: bool,
}

impl KeyLiteral {
    /// The literal a key regex requires, when it has one.
    fn of(pattern: &str) -> Option<KeyLiteral> {
        let (anchored, rest) = match pattern.strip_prefix('^') {
            Some(r) => (true, r),
            None => (false, pattern),
        };
        // A top-level alternative would make the leading literal optional.
        if rest.contains('|') {
            return None;
        }
        let plain = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
        let run = rest.bytes().take_while(|&b| plain(b)).count();
        let after = &rest[run..];
        let whole = after.is_empty() || after == ".*";
        // A quantifier after the run may repeat its last byte zero times.
        let run = if !whole && matches!(after.as_bytes()[0], b'*' | b'?' | b'{') { run.saturating_sub(1) } else { run };
        if run == 0 {
            return None;
        }
        Some(KeyLiteral { lit: rest.as_bytes()[..run].to_ascii_lowercase(), anchored, whole })
    }

    /// Whether the key contains the literal (at its start when anchored), in any case.
    fn present(&self, key: &[u8]) -> bool {
        if self.anchored {
            super::bodyproc::starts_with_ignore_ascii_case(key, &self.lit)
        } else {
            key.windows(self.lit.len()).any(|w| w.eq_ignore_ascii_case(&self.lit))
        }
    }
}

impl KeySel {
    pub fn matches(&self, key: &[u8]) -> bool {
        match self {
            KeySel::Key(k) => k.eq_ignore_ascii_case(key),
            KeySel::Regex(r, Some(lit)) => lit.present(key) && (lit.whole || r.is_match(key)),
            KeySel::Regex(r, None) => r.is_match(key),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            KeySel::Key(k) => String::from_utf8_lossy(k).into_owned(),
            KeySel::Regex(r, _) => format!("/{}/", r.as_str()),
        }
    }
}

/// One positive target of a rule, with the exclusions (`!VAR:key`) that apply to it.
#[derive(Debug, Clone)]
pub struct Target {
    pub var: Var,
    /// `&VAR`: count instead of values.
    pub count: bool,
    pub key: Option<KeySel>,
    /// Keys excluded from this collection (from `!VAR:key` in the same list).
    pub exclusions: Vec<KeySel>,
    /// Original text (for logs).
    pub text: String,
}

/// A target pattern used by runtime exclusions (`ctl:ruleRemoveTargetById=ID;ARGS:foo`).
#[derive(Debug, Clone)]
pub struct TargetPattern {
    pub var: Var,
    pub key: Option<KeySel>,
}

impl TargetPattern {
    /// Does this pattern remove the value `key` of collection `var`?
    pub fn covers(&self, var: Var, key: Option<&[u8]>) -> bool {
        if self.var != var {
            return false;
        }
        match (&self.key, key) {
            (None, _) => true,
            (Some(sel), Some(k)) => sel.matches(k),
            (Some(_), None) => false,
        }
    }
}

/// Builds a key selector. `regex_text` is `Some` for `/regex/` keys.
pub fn key_selector(key: Option<&str>, regex_text: Option<&str>) -> Result<Option<KeySel>, String> {
    if let Some(r) = regex_text {
        let re = regex::bytes::RegexBuilder::new(r)
            .unicode(false)
            .case_insensitive(true)
            .build()
            .map_err(|e| format!("invalid key regex /{r}/: {e}"))?;
        return Ok(Some(KeySel::Regex(re, KeyLiteral::of(r))));
    }
    Ok(key.map(|k| KeySel::Key(k.as_bytes().to_ascii_lowercase())))
}

/// Parses a target pattern written as `VAR` or `VAR:key` or `VAR:/regex/`.
pub fn parse_target_pattern(text: &str) -> Result<TargetPattern, String> {
    let text = text.trim();
    let (name, key) = match text.split_once(':') {
        Some((n, k)) => (n, Some(k)),
        None => (text, None),
    };
    let var = Var::from_name(name.trim()).ok_or_else(|| format!("unknown variable {name}"))?;
    let key = match key {
        None => None,
        Some(k) => {
            let k = k.trim().trim_matches('\'');
            if k.len() >= 2 && k.starts_with('/') && k.ends_with('/') {
                key_selector(None, Some(&k[1..k.len() - 1]))?
            } else {
                key_selector(Some(k), None)?
            }
        }
    };
    Ok(TargetPattern { var, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Literal key regexes are compared without the regex, with the regex's answers.
    #[test]
    fn literal_key_regexes_agree_with_the_regex() {
        let keys = ["", "_pk_ref", "_PK_REF.1.abc", "x_pk_ref", "_pk_re", "header_name_920450_host", "HEADER_NAME_920450_", "header_name_920451_x", "a_rfi_parameter_b", "rfi_parameter_", "rfi-parameter_", "pbjs-abc", "PBJS-", "xpbjs-a", "__utmz", "_ga", "_GA_x1", "_gax", "_ga_", "multipart_headers_content_types", "MULTIPART_HEADERS_CONTENT_TYPES__x", "multipart_headers_content_type", "ab", "abc", "ac"];
        let (mut literal, mut whole) = (0, 0);
        for pattern in ["^_pk_ref", "^header_name_920450_", "rfi_parameter_.*", "rfi_parameter_", "^pbjs-\\w+$", "^_ga(?:_\\w+)?$", "MULTIPART_HEADERS_CONTENT_TYPES_*", "^__utm", "^.*", "^ab|ac", "abc?", "ab{0,1}c", "(?i)ab"] {
            let Ok(Some(sel)) = key_selector(None, Some(pattern)) else { panic!("{pattern}") };
            let KeySel::Regex(re, lit) = &sel else { panic!("{pattern}") };
            literal += usize::from(lit.is_some());
            whole += usize::from(lit.as_ref().is_some_and(|l| l.whole));
            for key in keys {
                assert_eq!(sel.matches(key.as_bytes()), re.is_match(key.as_bytes()), "/{pattern}/ on {key:?}");
            }
        }
        // Only-a-literal: the first four and ^__utm; a required literal also: pbjs-, _ga,
        // multipart_headers_content_types, ab (abc?), a (ab{0,1}c).
        assert_eq!((literal, whole), (10, 5));
    }

    #[test]
    fn name_and_collection_flag_come_from_the_catalogue() {
        for &(n, v, _) in CATALOGUE {
            let first = CATALOGUE.iter().find(|e| e.1 == v).map(|e| e.0);
            assert_eq!(Some(v.name()), first, "{n}");
            assert_eq!(v.is_collection(), CATALOGUE.iter().any(|e| e.1 == v && e.2), "{n}");
            assert_eq!(Var::from_name(v.name()), Some(v));
        }
        assert_eq!(Var::RequestHeaders.name(), "REQUEST_HEADERS");
        assert!(Var::Tx.is_collection() && !Var::RequestUri.is_collection());
    }

    #[test]
    fn names_round_trip_and_are_case_insensitive() {
        for &(n, v, _) in CATALOGUE {
            assert_eq!(Var::from_name(n), Some(v));
            assert_eq!(Var::from_name(&n.to_ascii_lowercase()), Some(v));
        }
        assert_eq!(Var::from_name("NOPE"), None);
        assert!(Var::Args.is_collection());
        assert!(!Var::RequestUri.is_collection());
        assert_eq!(Var::ResponseStatus.name(), "RESPONSE_STATUS");
    }

    #[test]
    fn target_patterns() {
        let p = parse_target_pattern("ARGS:Foo").unwrap();
        assert!(p.covers(Var::Args, Some(b"foo")));
        assert!(p.covers(Var::Args, Some(b"FOO")));
        assert!(!p.covers(Var::Args, Some(b"bar")));
        assert!(!p.covers(Var::ArgsNames, Some(b"foo")));
        let p = parse_target_pattern("REQUEST_COOKIES:/^__utm/").unwrap();
        assert!(p.covers(Var::RequestCookies, Some(b"__utmz")));
        assert!(!p.covers(Var::RequestCookies, Some(b"sid")));
        let p = parse_target_pattern("ARGS").unwrap();
        assert!(p.covers(Var::Args, Some(b"anything")));
        assert!(parse_target_pattern("NOPE:x").is_err());
    }
}
