//! Engine-wide settings from configuration directives (`SecRuleEngine`, body limits, audit
//! log...). Defaults follow the ModSecurity reference manual; where libmodsecurity leaves a
//! setting unset the behaviour it then has is used (e.g. an unset `SecRuleEngine` is
//! DetectionOnly).

use std::path::PathBuf;
use std::sync::Arc;

use super::transformations::UnicodeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineMode {
    On,
    Off,
    DetectionOnly,
}

impl EngineMode {
    pub fn parse(s: &str) -> Option<EngineMode> {
        match s.to_ascii_lowercase().as_str() {
            "on" => Some(EngineMode::On),
            "off" => Some(EngineMode::Off),
            "detectiononly" => Some(EngineMode::DetectionOnly),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EngineMode::On => "On",
            EngineMode::Off => "Off",
            EngineMode::DetectionOnly => "DetectionOnly",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLimitAction {
    Reject,
    ProcessPartial,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditEngine {
    On,
    Off,
    RelevantOnly,
}

impl AuditEngine {
    pub fn parse(s: &str) -> Option<AuditEngine> {
        match s.to_ascii_lowercase().as_str() {
            "on" => Some(AuditEngine::On),
            "off" => Some(AuditEngine::Off),
            "relevantonly" => Some(AuditEngine::RelevantOnly),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditFormat {
    Json,
    Native,
}

/// A `SecAuditLogRelevantStatus` pattern. The ModSecurity recommended configuration uses a
/// look-ahead (`^(?:5|4(?!04))`), so this one pattern is compiled with a backtracking engine;
/// it only ever sees a three-digit status code.
#[derive(Debug, Clone)]
pub struct StatusPattern(pub fancy_regex::Regex);

impl StatusPattern {
    pub fn is_match(&self, status: u16) -> bool {
        self.0.is_match(&status.to_string()).unwrap_or(false)
    }
}

#[derive(Debug, Clone)]
pub struct AuditConfig {
    pub engine: AuditEngine,
    pub log: Option<PathBuf>,
    pub log2: Option<PathBuf>,
    pub parts: String,
    pub format: AuditFormat,
    /// `Serial` or `Concurrent` (Concurrent writes one file per transaction under storage_dir).
    pub concurrent: bool,
    pub storage_dir: Option<PathBuf>,
    pub relevant_status: Option<StatusPattern>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            engine: AuditEngine::Off,
            log: None,
            log2: None,
            parts: "ABCFHZ".to_string(),
            format: AuditFormat::Native,
            concurrent: false,
            storage_dir: None,
            relevant_status: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub rule_engine: EngineMode,
    pub request_body_access: bool,
    pub request_body_limit: usize,
    pub request_body_no_files_limit: usize,
    pub request_body_in_memory_limit: usize,
    pub request_body_limit_action: BodyLimitAction,
    pub request_body_json_depth_limit: usize,
    pub response_body_access: bool,
    pub response_body_limit: usize,
    pub response_body_limit_action: BodyLimitAction,
    pub response_body_mime_types: Vec<String>,
    pub argument_separator: u8,
    pub arguments_limit: usize,
    pub cookie_format: u8,
    pub upload_file_limit: usize,
    pub component_signatures: Vec<String>,
    pub collection_timeout: u64,
    pub audit: AuditConfig,
    pub debug_log: Option<PathBuf>,
    pub debug_log_level: u8,
    pub web_app_id: String,
    pub server_signature: Option<String>,
    pub unicode_map: Option<Arc<UnicodeMap>>,
    pub pcre_match_limit: u64,
    /// SecHttpBlKey: the Project Honey Pot access key `@rbl` uses for dnsbl.httpbl.org.
    pub httpbl_key: Option<String>,
    pub pcre_match_limit_recursion: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            rule_engine: EngineMode::DetectionOnly,
            request_body_access: false,
            request_body_limit: 134_217_728,
            request_body_no_files_limit: 1_048_576,
            request_body_in_memory_limit: 131_072,
            request_body_limit_action: BodyLimitAction::Reject,
            request_body_json_depth_limit: 512,
            response_body_access: false,
            response_body_limit: 524_288,
            response_body_limit_action: BodyLimitAction::Reject,
            response_body_mime_types: vec!["text/plain".into(), "text/html".into()],
            argument_separator: b'&',
            arguments_limit: 1000,
            cookie_format: 0,
            upload_file_limit: 100,
            component_signatures: Vec::new(),
            collection_timeout: 3600,
            audit: AuditConfig::default(),
            debug_log: None,
            debug_log_level: 0,
            web_app_id: "default".to_string(),
            server_signature: None,
            unicode_map: None,
            pcre_match_limit: 0,
            httpbl_key: None,
            pcre_match_limit_recursion: 0,
        }
    }
}

/// What became of a configuration directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Fully supported.
    Ok,
    /// Accepted, but it has no effect in Rampart (with the reason); not an error.
    NoEffect(String),
    /// Not supported (with the reason): reported by `rules check`.
    Unsupported(String),
}

fn one<'a>(args: &'a [String], name: &str) -> Result<&'a str, String> {
    match args {
        [a] => Ok(a.as_str()),
        _ => Err(format!("{name} takes exactly one argument, got {}", args.len())),
    }
}

fn on_off(args: &[String], name: &str) -> Result<bool, String> {
    let a = one(args, name)?;
    match a.to_ascii_lowercase().as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{name} expects On or Off, got `{a}`")),
    }
}

fn size(args: &[String], name: &str) -> Result<usize, String> {
    let a = one(args, name)?;
    a.trim()
        .parse::<usize>()
        .map_err(|_| format!("{name} expects a number of bytes, got `{a}`"))
}

fn limit_action(args: &[String], name: &str) -> Result<BodyLimitAction, String> {
    let a = one(args, name)?;
    match a.to_ascii_lowercase().as_str() {
        "reject" => Ok(BodyLimitAction::Reject),
        "processpartial" => Ok(BodyLimitAction::ProcessPartial),
        _ => Err(format!("{name} expects Reject or ProcessPartial, got `{a}`")),
    }
}

impl EngineConfig {
    /// Applies one configuration directive (anything that is not a rule, marker, default
    /// action or rule update/removal). `base_dir` resolves relative file names.
    /// Unknown directives are an error.
    pub fn apply(&mut self, name: &str, args: &[String], base_dir: &std::path::Path) -> Result<Applied, String> {
        let lname = name.to_ascii_lowercase();
        let path = |p: &str| -> PathBuf {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                base_dir.join(p)
            }
        };
        match lname.as_str() {
            "secruleengine" => {
                let a = one(args, name)?;
                self.rule_engine = EngineMode::parse(a)
                    .ok_or_else(|| format!("SecRuleEngine expects On, Off or DetectionOnly, got `{a}`"))?;
            }
            "secrequestbodyaccess" => self.request_body_access = on_off(args, name)?,
            "secresponsebodyaccess" => self.response_body_access = on_off(args, name)?,
            "secrequestbodylimit" => self.request_body_limit = size(args, name)?,
            "secrequestbodynofileslimit" => self.request_body_no_files_limit = size(args, name)?,
            "secrequestbodyinmemorylimit" => {
                self.request_body_in_memory_limit = size(args, name)?;
                return Ok(Applied::NoEffect(
                    "request bodies are always buffered in memory, up to SecRequestBodyLimit".into(),
                ));
            }
            "secrequestbodylimitaction" => self.request_body_limit_action = limit_action(args, name)?,
            "secresponsebodylimit" => self.response_body_limit = size(args, name)?,
            "secresponsebodylimitaction" => self.response_body_limit_action = limit_action(args, name)?,
            "secrequestbodyjsondepthlimit" => self.request_body_json_depth_limit = size(args, name)?,
            "secresponsebodymimetype" => {
                if args.is_empty() {
                    return Err("SecResponseBodyMimeType needs at least one MIME type".into());
                }
                for a in args {
                    for t in a.split_whitespace() {
                        let t = t.to_ascii_lowercase();
                        if !self.response_body_mime_types.contains(&t) {
                            self.response_body_mime_types.push(t);
                        }
                    }
                }
            }
            "secresponsebodymimetypesclear" => self.response_body_mime_types.clear(),
            "secargumentseparator" => {
                let a = one(args, name)?;
                if a.len() != 1 {
                    return Err(format!("SecArgumentSeparator expects one character, got `{a}`"));
                }
                self.argument_separator = a.as_bytes()[0];
            }
            "secargumentslimit" => self.arguments_limit = size(args, name)?,
            "seccookieformat" => {
                let a = one(args, name)?;
                self.cookie_format = match a {
                    "0" => 0,
                    "1" => 1,
                    _ => return Err(format!("SecCookieFormat expects 0 or 1, got `{a}`")),
                };
                if self.cookie_format == 1 {
                    return Ok(Applied::Unsupported("SecCookieFormat 1 (version 1 cookies) is not supported; cookies are parsed as version 0".into()));
                }
            }
            "secuploadfilelimit" => self.upload_file_limit = size(args, name)?,
            "seccomponentsignature" => self.component_signatures.push(one(args, name)?.to_string()),
            "seccollectiontimeout" => self.collection_timeout = size(args, name)? as u64,
            "secwebappid" => self.web_app_id = one(args, name)?.to_string(),
            "secserversignature" => self.server_signature = Some(one(args, name)?.to_string()),
            "secpcrematchlimit" => {
                self.pcre_match_limit = size(args, name)? as u64;
                return Ok(Applied::NoEffect("regular expressions run on a linear-time engine; no backtracking limit is needed".into()));
            }
            "secpcrematchlimitrecursion" => {
                self.pcre_match_limit_recursion = size(args, name)? as u64;
                return Ok(Applied::NoEffect("regular expressions run on a linear-time engine; no recursion limit is needed".into()));
            }
            "secauditengine" => {
                let a = one(args, name)?;
                self.audit.engine = AuditEngine::parse(a)
                    .ok_or_else(|| format!("SecAuditEngine expects On, Off or RelevantOnly, got `{a}`"))?;
            }
            "secauditlog" => self.audit.log = Some(path(one(args, name)?)),
            "secauditlog2" => self.audit.log2 = Some(path(one(args, name)?)),
            "secauditlogparts" => {
                let a = one(args, name)?;
                if let Some(bad) = a.chars().find(|c| !"ABCDEFGHIJKZ".contains(*c)) {
                    return Err(format!("SecAuditLogParts: invalid part `{bad}` in `{a}`"));
                }
                self.audit.parts = a.to_string();
            }
            "secauditlogformat" => {
                let a = one(args, name)?;
                self.audit.format = match a.to_ascii_lowercase().as_str() {
                    "json" => AuditFormat::Json,
                    "native" => AuditFormat::Native,
                    _ => return Err(format!("SecAuditLogFormat expects JSON or Native, got `{a}`")),
                };
            }
            "secauditlogtype" => {
                let a = one(args, name)?;
                self.audit.concurrent = match a.to_ascii_lowercase().as_str() {
                    "serial" => false,
                    "concurrent" => true,
                    "https" => {
                        return Ok(Applied::Unsupported(
                            "SecAuditLogType HTTPS is not supported; use Serial or Concurrent and ship the file".into(),
                        ))
                    }
                    _ => return Err(format!("SecAuditLogType expects Serial, Concurrent or HTTPS, got `{a}`")),
                };
            }
            "secauditlogstoragedir" => self.audit.storage_dir = Some(path(one(args, name)?)),
            "secauditlogrelevantstatus" => {
                let a = one(args, name)?;
                let re = fancy_regex::Regex::new(a)
                    .map_err(|e| format!("SecAuditLogRelevantStatus: invalid regex `{a}`: {e}"))?;
                self.audit.relevant_status = Some(StatusPattern(re));
            }
            "secauditlogdirmode" | "secauditlogfilemode" | "secuploadfilemode" => {
                one(args, name)?;
                return Ok(Applied::NoEffect("file modes follow the process umask".into()));
            }
            "secdebuglog" => {
                self.debug_log = Some(path(one(args, name)?));
                return Ok(Applied::NoEffect(
                    "no debug log is written; the gateway's own log (RUST_LOG) and the error log show rule processing".into(),
                ));
            }
            "secdebugloglevel" => {
                let a = one(args, name)?;
                self.debug_log_level = a
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= 9)
                    .ok_or_else(|| format!("SecDebugLogLevel expects 0..9, got `{a}`"))?;
            }
            "sectmpdir" | "secdatadir" | "secuploaddir" => {
                one(args, name)?;
                return Ok(Applied::NoEffect(
                    "Rampart keeps request bodies, uploads and persistent collections in memory".into(),
                ));
            }
            "secuploadkeepfiles" | "sectmpsaveuploadedfiles" => {
                if on_off(args, name)? {
                    return Ok(Applied::Unsupported(format!(
                        "{name} On: uploaded files are inspected in memory and never written to disk"
                    )));
                }
            }
            "secunicodemapfile" => {
                let (file, cp) = match args {
                    [f, cp] => (f, cp),
                    _ => return Err("SecUnicodeMapFile takes a file and a code page".into()),
                };
                let cp: u32 = cp
                    .parse()
                    .map_err(|_| format!("SecUnicodeMapFile: invalid code page `{cp}`"))?;
                let map = UnicodeMap::load(&path(file), cp)?;
                self.unicode_map = Some(Arc::new(map));
            }
            "secstatusengine" => {
                on_off(args, name)?;
                return Ok(Applied::NoEffect("Rampart never sends status reports".into()));
            }
            "secxmlexternalentity" => {
                if on_off(args, name)? {
                    return Ok(Applied::Unsupported(
                        "SecXmlExternalEntity On: external entities are never loaded (XXE protection)".into(),
                    ));
                }
            }
            "secconnengine" => {
                on_off(args, name).or_else(|_| {
                    let a = one(args, name)?;
                    if a.eq_ignore_ascii_case("detectiononly") {
                        Ok(false)
                    } else {
                        Err(format!("{name} expects On, Off or DetectionOnly"))
                    }
                })?;
                return Ok(Applied::Unsupported("SecConnEngine (connection rules) is not implemented".into()));
            }
            "sechttpblkey" => self.httpbl_key = Some(one(args, name)?.to_string()),
            "secgeolookupdb" | "secremoterules" | "secremoterulesfailaction"
            | "secguardianlog" | "secstreaminbodyinspection" | "secstreamoutbodyinspection"
            | "secruleperftime" | "secruleinheritance" | "seccontentinjection"
            | "sechashengine" | "sechashkey" | "sechashparam" | "sechashmethodrx"
            | "sechashmethodpm" | "secreadstatelimit" | "secwritestatelimit" | "secsensorid"
            | "secdisablebackendcompression" | "secchrootdir" | "seccachetransformations"
            | "secgsblookupdb" | "secinterceptonerror" | "secmarkerid" => {
                return Ok(Applied::Unsupported(format!("{name} is not supported by Rampart")));
            }
            _ => return Err(format!("unknown directive {name}")),
        }
        Ok(Applied::Ok)
    }

    /// Whether a response with this Content-Type has its body inspected.
    pub fn inspects_response_type(&self, content_type: &[u8]) -> bool {
        let ct = content_type.split(|&b| b == b';').next().unwrap_or(b"");
        let ct = String::from_utf8_lossy(ct).trim().to_ascii_lowercase();
        self.response_body_mime_types.iter().any(|t| *t == ct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn applies_common_directives() {
        let mut c = EngineConfig::default();
        assert_eq!(c.rule_engine, EngineMode::DetectionOnly);
        let d = Path::new("/etc/x");
        c.apply("SecRuleEngine", &s(&["On"]), d).unwrap();
        assert_eq!(c.rule_engine, EngineMode::On);
        c.apply("secrequestbodylimit", &s(&["1000"]), d).unwrap();
        assert_eq!(c.request_body_limit, 1000);
        c.apply("SecResponseBodyMimeType", &s(&["text/plain", "text/xml"]), d).unwrap();
        assert!(c.inspects_response_type(b"text/xml; charset=utf-8"));
        assert!(!c.inspects_response_type(b"image/png"));
        c.apply("SecAuditLog", &s(&["audit.log"]), d).unwrap();
        assert_eq!(c.audit.log.as_deref(), Some(Path::new("/etc/x/audit.log")));
        c.apply("SecAuditLogRelevantStatus", &s(&["^(?:5|4(?!04))"]), d).unwrap();
        let p = c.audit.relevant_status.as_ref().unwrap();
        assert!(p.is_match(500));
        assert!(p.is_match(403));
        assert!(!p.is_match(404));
        assert!(!p.is_match(200));
        assert!(matches!(c.apply("SecTmpDir", &s(&["/tmp"]), d).unwrap(), Applied::NoEffect(_)));
    }

    #[test]
    fn rejects_bad_values() {
        let mut c = EngineConfig::default();
        let d = Path::new("/");
        assert!(c.apply("SecRuleEngine", &s(&["Maybe"]), d).is_err());
        assert!(c.apply("SecRequestBodyLimit", &s(&["ten"]), d).is_err());
        assert!(c.apply("SecRequestBodyLimit", &s(&[]), d).is_err());
        assert!(c.apply("SecAuditLogParts", &s(&["ABQ"]), d).is_err());
        assert!(c.apply("SecFooBar", &s(&["x"]), d).is_err());
    }
}
