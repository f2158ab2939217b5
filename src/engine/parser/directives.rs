//! The directive names libmodsecurity v3 accepts (its scanner, `seclang-scanner.ll`), plus
//! `IncludeOptional` (Apache's spelling, expanded by the loader).
//!
//! The parser rejects any other name. Being listed here does not mean Rampart supports a
//! directive: the compiler decides that (v3 itself refuses several of these, e.g.
//! `SecHashEngine On` or `SecRequestBodyInMemoryLimit`).

/// Every accepted directive name, in its canonical spelling (names are matched
/// case-insensitively).
pub const KNOWN_DIRECTIVES: &[&str] = &[
    // rules
    "SecRule",
    "SecAction",
    "SecMarker",
    "SecDefaultAction",
    "SecRuleScript",
    // rule exclusions / updates
    "SecRuleRemoveById",
    "SecRuleRemoveByMsg",
    "SecRuleRemoveByTag",
    "SecRuleUpdateActionById",
    "SecRuleUpdateTargetById",
    "SecRuleUpdateTargetByMsg",
    "SecRuleUpdateTargetByTag",
    // engine and bodies
    "SecRuleEngine",
    "SecRequestBodyAccess",
    "SecRequestBodyLimit",
    "SecRequestBodyNoFilesLimit",
    "SecRequestBodyInMemoryLimit",
    "SecRequestBodyLimitAction",
    "SecRequestBodyJsonDepthLimit",
    "SecResponseBodyAccess",
    "SecResponseBodyLimit",
    "SecResponseBodyLimitAction",
    "SecResponseBodyMimeType",
    "SecResponseBodyMimeTypesClear",
    "SecArgumentSeparator",
    "SecArgumentsLimit",
    "SecCookieFormat",
    "SecCookieV0Separator",
    "SecPcreMatchLimit",
    "SecPcreMatchLimitRecursion",
    "SecUnicodeMapFile",
    "SecXmlExternalEntity",
    "SecWebAppId",
    "SecComponentSignature",
    "SecServerSignature",
    "SecCollectionTimeout",
    "SecHttpBlKey",
    "SecGeoLookupDb",
    "SecGsbLookupDb",
    "SecRemoteRules",
    "SecRemoteRulesFailAction",
    "SecStatusEngine",
    "SecConnEngine",
    "SecContentInjection",
    "SecDisableBackendCompression",
    "SecCacheTransformations",
    "SecChrootDir",
    "SecHashEngine",
    "SecHashKey",
    "SecHashParam",
    "SecHashMethodRx",
    "SecHashMethodPm",
    "SecGuardianLog",
    "SecInterceptOnError",
    "SecConnReadStateLimit",
    "SecConnWriteStateLimit",
    "SecSensorId",
    "SecRuleInheritance",
    "SecRulePerfTime",
    "SecStreamInBodyInspection",
    "SecStreamOutBodyInspection",
    // files and directories
    "SecTmpDir",
    "SecDataDir",
    "SecUploadDir",
    "SecUploadKeepFiles",
    "SecUploadFileLimit",
    "SecUploadFileMode",
    "SecTmpSaveUploadedFiles",
    // audit and debug logs
    "SecAuditEngine",
    "SecAuditLog",
    "SecAuditLog2",
    "SecAuditLogParts",
    "SecAuditLogFormat",
    "SecAuditLogType",
    "SecAuditLogStorageDir",
    "SecAuditLogDirMode",
    "SecAuditLogFileMode",
    "SecAuditLogRelevantStatus",
    "SecDebugLog",
    "SecDebugLogLevel",
    // configuration files
    "Include",
    "IncludeOptional",
];

/// The canonical spelling of a directive name, compared case-insensitively, or `None` for
/// a name libmodsecurity v3 does not know.
pub fn canonical_directive(name: &str) -> Option<&'static str> {
    KNOWN_DIRECTIVES
        .iter()
        .copied()
        .find(|known| known.eq_ignore_ascii_case(name))
}

/// Whether `name` (any case) is a directive libmodsecurity v3 accepts.
pub fn is_known_directive(name: &str) -> bool {
    canonical_directive(name).is_some()
}
