//! Tests for the multipart processor. Expected values follow v3's multipart.cc.

use super::*;

const CT: &[u8] = b"multipart/form-data; boundary=----WebKitFormBoundary";

/// Like go-ftw: every `\n` becomes `\r\n`.
fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

fn no_limit() -> Limits {
    Limits {
        max_files: 0,
        ..Limits::default()
    }
}

fn run(body: &[u8], ct: &[u8]) -> MultipartResult {
    parse(body, ct, &no_limit())
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn args(r: &MultipartResult) -> Vec<(String, String)> {
    r.args.iter().map(|(n, v)| (s(n), s(v))).collect()
}

fn headers(r: &MultipartResult) -> Vec<(String, String)> {
    r.part_headers.iter().map(|(n, v)| (s(n), s(v))).collect()
}

fn p(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

/// The error message right after v3's `process()` (before `multipart_complete`, which
/// replaces it with "Final boundary missing." when the body did not complete).
fn process_error(body: &[u8], ct: &[u8]) -> Option<String> {
    let limits = no_limit();
    let mut parser = Parser::new(body, &limits);
    if parser.init(ct) {
        parser.process();
    }
    parser.error
}

const TWO_FIELDS: &str = "------WebKitFormBoundary
Content-Disposition: form-data; name=\"field1\"
Content-Type: text/plain; charset=utf-8

value1
------WebKitFormBoundary
Content-Disposition: form-data; name=\"field2\"

value2
------WebKitFormBoundary--
";

#[test]
fn well_formed_body() {
    let r = run(&crlf(TWO_FIELDS), CT);
    assert_eq!(r.error, None);
    assert_eq!(r.reqbody_error_msg(), None);
    assert_eq!(args(&r), vec![p("field1", "value1"), p("field2", "value2")]);
    assert!(r.files.is_empty());
    assert_eq!(r.files_combined_size, 0);
    assert_eq!(
        headers(&r),
        vec![
            p("field1", "Content-Disposition: form-data; name=\"field1\""),
            p("field1", "Content-Type: text/plain; charset=utf-8"),
            p("field2", "Content-Disposition: form-data; name=\"field2\""),
        ]
    );
    assert_eq!(r.names, vec![b"field1".to_vec(), b"field2".to_vec()]);
    assert!(r.filenames.is_empty());
    // A second boundary after a first one sets UNMATCHED_BOUNDARY to 2 in v3.
    let expected = MultipartFlags {
        unmatched_boundary: 2,
        ..MultipartFlags::default()
    };
    assert_eq!(r.flags, expected);
    assert!(!r.flags.strict_error);
}

#[test]
fn flag_variables_listing() {
    let r = run(&crlf(TWO_FIELDS), CT);
    let vars = r.flags.variables();
    assert_eq!(vars.len(), 14);
    assert!(vars.contains(&("MULTIPART_UNMATCHED_BOUNDARY", 2)));
    assert!(vars.contains(&("MULTIPART_STRICT_ERROR", 0)));
    assert!(vars.contains(&("MULTIPART_MISSING_SEMICOLON", 0)));
}

#[test]
fn final_boundary_sets_unmatched_two() {
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"a\"\n\nx\n------WebKitFormBoundary--\n");
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert_eq!(
        r.flags.unmatched_boundary, 2,
        "the final boundary also counts as a second boundary"
    );
    assert_eq!(args(&r), vec![p("a", "x")]);
}

#[test]
fn charset_part_and_transfer_encoding_headers_are_recorded() {
    // CRS 922100 counts MULTIPART_PART_HEADERS:_charset_, 922120 matches
    // content-transfer-encoding lines.
    let body = crlf(
        "------WebKitFormBoundary
Content-Disposition: form-data; name=\"_charset_\"

utf-7
------WebKitFormBoundary
Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"
Content-Type: text/plain
Content-Transfer-Encoding: base64

aGVsbG8=
------WebKitFormBoundary--
",
    );
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert_eq!(args(&r), vec![p("_charset_", "utf-7")]);
    let h = headers(&r);
    assert_eq!(h.iter().filter(|(n, _)| n == "_charset_").count(), 1);
    assert!(h.contains(&p("file", "Content-Transfer-Encoding: base64")));
    assert!(h.contains(&p("file", "Content-Type: text/plain")));
    assert_eq!(r.files.len(), 1);
    let f = &r.files[0];
    assert_eq!(s(&f.name), "file");
    assert_eq!(s(&f.filename), "a.txt");
    assert_eq!(f.content_type.as_deref(), Some(&b"text/plain"[..]));
    assert_eq!(f.content(&body), b"aGVsbG8=");
    assert_eq!(f.size, 8);
    assert_eq!(r.files_combined_size, 8);
    assert_eq!(f.headers.len(), 3);
    assert_eq!(r.filenames, vec![b"a.txt".to_vec()]);
}

#[test]
fn header_line_keeps_original_spacing() {
    let body = crlf("------WebKitFormBoundary\nContent-Disposition:   form-data; name=\"a\"\nX-Foo:bar  \n\nv\n------WebKitFormBoundary--\n");
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert_eq!(
        headers(&r),
        vec![
            p("a", "Content-Disposition:   form-data; name=\"a\""),
            p("a", "X-Foo:bar  ")
        ]
    );
}

#[test]
fn file_content_keeps_line_endings_and_size_counts_them() {
    let body = crlf(
        "------WebKitFormBoundary
Content-Disposition: form-data; name=\"up\"; filename=\"x.php\"

line1
line2

------WebKitFormBoundary--
",
    );
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    let f = &r.files[0];
    assert_eq!(f.content(&body), b"line1\r\nline2\r\n");
    assert_eq!(f.size, 14);
    assert!(args(&r).is_empty());
}

#[test]
fn multi_line_form_value_loses_line_terminators_like_v3() {
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"t\"\n\nfirst\nsecond\n------WebKitFormBoundary--\n");
    let r = run(&body, CT);
    assert_eq!(args(&r), vec![p("t", "firstsecond")]);
}

#[test]
fn empty_value_field() {
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"e\"\n\n\n------WebKitFormBoundary--\n");
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert_eq!(args(&r), vec![p("e", "")]);
    assert!(!r.flags.invalid_part);
}

#[test]
fn empty_filename_is_a_form_field() {
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"f\"; filename=\"\"\n\n\n------WebKitFormBoundary--\n");
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert_eq!(args(&r), vec![p("f", "")]);
    assert!(r.files.is_empty());
    assert_eq!(r.filenames, vec![Vec::<u8>::new()]);
}

#[test]
fn lf_only_body_sets_lf_line_and_strict_error() {
    let r = run(TWO_FIELDS.as_bytes(), CT);
    assert_eq!(r.error, None);
    assert_eq!(args(&r), vec![p("field1", "value1"), p("field2", "value2")]);
    assert!(r.flags.lf_line);
    assert!(!r.flags.crlf_lf_lines);
    assert!(r.flags.strict_error);
}

#[test]
fn mixed_line_endings() {
    let mut body =
        crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"a\"\n\nx\n");
    body.extend_from_slice(b"------WebKitFormBoundary--\n");
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert!(r.flags.lf_line);
    assert!(r.flags.crlf_lf_lines);
    assert!(r.flags.strict_error);
}

#[test]
fn bare_lf_before_boundary_sets_lf_line() {
    // The data line ends with a bare LF, the boundary line itself with CRLF.
    let mut body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"a\"\n\n");
    body.extend_from_slice(b"x\n------WebKitFormBoundary--\r\n");
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert!(r.flags.lf_line);
    assert!(r.flags.crlf_lf_lines);
}

#[test]
fn final_boundary_without_line_ending() {
    let mut body =
        crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"a\"\n\nx\n");
    body.extend_from_slice(b"------WebKitFormBoundary--");
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert_eq!(args(&r), vec![p("a", "x")]);
    assert!(!r.flags.strict_error);
    assert!(!r.flags.data_after);
}

#[test]
fn unterminated_final_boundary_after_bare_lf_amends_lf_line() {
    let mut body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"a\"\n\n");
    body.extend_from_slice(b"x\n------WebKitFormBoundary--");
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert!(r.flags.lf_line);
    assert!(r.flags.strict_error);
    assert!(r.flags.crlf_lf_lines);
}

#[test]
fn missing_final_boundary() {
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"a\"\n\nx\n");
    let r = run(&body, CT);
    assert_eq!(
        r.error.as_deref(),
        Some("Multipart: Final boundary missing.")
    );
    assert_eq!(
        r.reqbody_error_msg().as_deref(),
        Some("Multipart parsing error: Multipart: Final boundary missing.")
    );
    assert!(
        r.args.is_empty(),
        "v3 adds no ARGS when the body is incomplete"
    );
    assert!(
        !r.flags.strict_error,
        "a missing final boundary alone does not set STRICT_ERROR"
    );
    assert_eq!(r.names, vec![b"a".to_vec()]);
}

#[test]
fn truncated_inside_headers() {
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; na");
    let r = run(&body, CT);
    assert_eq!(
        r.error.as_deref(),
        Some("Multipart: Final boundary missing.")
    );
    assert!(r.args.is_empty());
}

#[test]
fn completed_parts_headers_survive_truncation() {
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"a\"\n\nx\n------WebKitFormBoundary\nContent-Disposition: form-data; name=\"b\"\n\ny");
    let r = run(&body, CT);
    assert_eq!(
        r.error.as_deref(),
        Some("Multipart: Final boundary missing.")
    );
    assert_eq!(
        headers(&r),
        vec![p("a", "Content-Disposition: form-data; name=\"a\"")]
    );
    assert!(r.args.is_empty());
}

#[test]
fn no_boundary_in_body() {
    let r = run(b"just some data\r\nmore\r\n", CT);
    assert_eq!(
        r.error.as_deref(),
        Some("Multipart: No boundaries found in payload.")
    );
    assert!(r.flags.data_before);
    assert!(r.flags.strict_error);
}

#[test]
fn empty_body_is_not_an_error() {
    let r = run(b"", CT);
    assert_eq!(r.error, None);
    assert_eq!(r.flags, MultipartFlags::default());
}

#[test]
fn data_before_first_boundary() {
    let mut body = b"preamble\r\n".to_vec();
    body.extend_from_slice(&crlf(TWO_FIELDS));
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert!(r.flags.data_before);
    assert!(r.flags.strict_error);
    assert_eq!(r.args.len(), 2);
}

#[test]
fn data_after_final_boundary() {
    let mut body = crlf(TWO_FIELDS);
    body.extend_from_slice(b"epilogue");
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert!(r.flags.data_after);
    assert!(r.flags.strict_error);
    // Even a lone CRLF after the final boundary line counts.
    let mut body = crlf(TWO_FIELDS);
    body.extend_from_slice(b"\r\n");
    assert!(run(&body, CT).flags.data_after);
}

#[test]
fn quoted_boundary() {
    let r = run(
        &crlf(TWO_FIELDS),
        b"multipart/form-data; boundary=\"----WebKitFormBoundary\"",
    );
    assert_eq!(r.error, None);
    assert!(r.flags.boundary_quoted);
    assert!(r.flags.strict_error);
    assert_eq!(r.args.len(), 2);
}

#[test]
fn quoted_boundary_used_with_quotes_in_body() {
    let body = crlf("--\"abc\"\nContent-Disposition: form-data; name=\"a\"\n\nx\n--abc--\n");
    let r = run(&body, b"multipart/form-data; boundary=\"abc\"");
    assert_eq!(
        r.error.as_deref(),
        Some("Multipart: No boundaries found in payload.")
    );
    assert!(r.flags.strict_error);
}

#[test]
fn boundary_whitespace_and_missing_semicolon() {
    let r = run(
        &crlf(TWO_FIELDS),
        b"multipart/form-data; boundary =----WebKitFormBoundary",
    );
    assert!(r.flags.boundary_whitespace);
    assert!(r.flags.strict_error);
    assert_eq!(r.error, None);

    let r = run(
        &crlf(TWO_FIELDS),
        b"multipart/form-data boundary=----WebKitFormBoundary",
    );
    assert!(r.flags.missing_semicolon);
    assert!(r.flags.strict_error);
    assert_eq!(r.error, None);
    assert_eq!(r.args.len(), 2);
}

#[test]
fn whitespace_before_boundary_value_becomes_part_of_boundary() {
    // v3 keeps the space: the boundary is " abc".
    let body = crlf("-- abc\nContent-Disposition: form-data; name=\"a\"\n\nx\n-- abc--\n");
    let r = run(&body, b"multipart/form-data; boundary= abc");
    assert!(r.flags.boundary_whitespace);
    assert_eq!(r.error, None);
    assert_eq!(args(&r), vec![p("a", "x")]);
}

#[test]
fn content_type_errors() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "Multipart: Content-Type header not available."),
        (b"text/plain; boundary=abc", "Multipart: Invalid MIME type."),
        (
            b"multipart/form-data",
            "Multipart: Boundary not found in C-T.",
        ),
        (
            b"multipart/form-data; Boundary=abc",
            "Multipart: Invalid boundary in C-T (case sensitivity).",
        ),
        (
            b"multipart/form-data; boundary=a; boundary=b",
            "Multipart: Multiple boundary parameters in C-T.",
        ),
        (
            b"multipart/form-data; x; boundary=abc",
            "Multipart: Invalid boundary in C-T (malformed).",
        ),
        (
            b"multipart/form-data; boundary",
            "Multipart: Invalid boundary in C-T (malformed).",
        ),
        (
            b"multipart/form-data; boundaryx=abc",
            "Multipart: Invalid boundary in C-T (parameter name).",
        ),
        (
            b"multipart/form-data; boundary=\"abc",
            "Multipart: Invalid boundary in C-T (quote).",
        ),
        (
            b"multipart/form-data; boundary=abc\"",
            "Multipart: Invalid boundary in C-T (quote).",
        ),
        (
            b"multipart/form-data; boundary=a{b}",
            "Multipart: Invalid boundary in C-T (characters).",
        ),
        (
            b"multipart/form-data; boundary=abc ",
            "Multipart: Invalid boundary in C-T (characters).",
        ),
        (
            b"multipart/form-data; boundary=;x",
            "Multipart: Invalid boundary in C-T (empty).",
        ),
    ];
    for (ct, msg) in cases {
        let r = run(&crlf(TWO_FIELDS), ct);
        assert_eq!(r.error.as_deref(), Some(*msg), "content type {:?}", s(ct));
        assert!(r.flags.strict_error, "{:?}", s(ct));
        assert!(r.args.is_empty());
    }
    let long = [b"multipart/form-data; boundary=".as_slice(), &[b'a'; 1000]].concat();
    let r = run(b"x", &long);
    assert_eq!(
        r.error.as_deref(),
        Some("Multipart: Invalid boundary in C-T (length).")
    );
}

#[test]
fn empty_boundary_value_stops_silently() {
    // v3 returns false from init without an error message.
    for ct in [
        &b"multipart/form-data; boundary="[..],
        b"multipart/form-data; boundary=\"\"",
    ] {
        let r = run(&crlf(TWO_FIELDS), ct);
        assert_eq!(r.error, None, "{:?}", s(ct));
        assert!(r.args.is_empty());
        assert!(!r.flags.strict_error);
    }
}

#[test]
fn charset_after_boundary_is_tolerated() {
    let body = crlf("--abc123\nContent-Disposition: form-data; name=\"a\"\n\nx\n--abc123--\n");
    let r = run(
        &body,
        b"multipart/form-data; boundary=abc123; charset=utf-8",
    );
    assert_eq!(r.error, None);
    assert_eq!(args(&r), vec![p("a", "x")]);
    assert!(!r.flags.strict_error);
    // But v3 first counts "boundary" followed by some `=` in the whole value: a boundary
    // containing the word "boundary" followed by a parameter counts twice.
    let r = run(
        &crlf(TWO_FIELDS),
        b"multipart/form-data; boundary=----WebKitFormBoundary; charset=utf-8",
    );
    assert_eq!(
        r.error.as_deref(),
        Some("Multipart: Multiple boundary parameters in C-T.")
    );
}

#[test]
fn header_folding() {
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data;\n name=\"a\"\n\nx\n------WebKitFormBoundary--\n");
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert!(r.flags.header_folding);
    assert!(!r.flags.invalid_header_folding);
    assert!(r.flags.strict_error);
    assert_eq!(args(&r), vec![p("a", "x")]);
    assert_eq!(
        headers(&r),
        vec![p("a", "Content-Disposition: form-data; name=\"a\"")]
    );
}

#[test]
fn invalid_header_folding() {
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data;\n\x0bname=\"a\"\n\nx\n------WebKitFormBoundary--\n");
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert!(r.flags.header_folding);
    assert!(r.flags.invalid_header_folding);
    assert_eq!(args(&r), vec![p("a", "x")]);
}

#[test]
fn folding_without_previous_header_is_an_error() {
    let body = crlf("------WebKitFormBoundary\n folded\nContent-Disposition: form-data; name=\"a\"\n\nx\n------WebKitFormBoundary--\n");
    let r = run(&body, CT);
    // The header error does not stop v3; the part then completes normally.
    assert_eq!(
        r.error.as_deref(),
        Some("Multipart: Invalid part header (folding error).")
    );
    assert!(r.flags.header_folding);
    assert_eq!(args(&r), vec![p("a", "x")]);
}

#[test]
fn invalid_quoting() {
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name='a'\n\nx\n------WebKitFormBoundary--\n");
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert!(r.flags.invalid_quoting);
    assert!(r.flags.strict_error);
    assert_eq!(args(&r), vec![p("a", "x")]);

    // A single quote inside an unquoted value is flagged too; inside double quotes it is not.
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=a'b\n\nx\n------WebKitFormBoundary--\n");
    assert!(run(&body, CT).flags.invalid_quoting);
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"a'b\"\n\nx\n------WebKitFormBoundary--\n");
    assert!(!run(&body, CT).flags.invalid_quoting);
}

#[test]
fn escaped_quotes_in_disposition() {
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"a\\\"b\\\\c\\d\"\n\nx\n------WebKitFormBoundary--\n");
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert_eq!(args(&r), vec![p("a\"b\\c\\d", "x")]);
}

#[test]
fn content_disposition_errors_leave_the_part_stuck() {
    let cases: &[(&str, &str)] = &[
        ("attachment; name=\"a\"", "Multipart: Invalid Content-Disposition header (-1): attachment; name=\"a\""),
        ("form-data name=\"a\"", "Multipart: Invalid Content-Disposition header (-2): form-data name=\"a\""),
        ("form-data; name=\"a\"; foo=\"b\"", "Multipart: Invalid Content-Disposition header (-11): form-data; name=\"a\"; foo=\"b\""),
        ("form-data; name=\"a\" x", "Multipart: Invalid Content-Disposition header (-12): form-data; name=\"a\" x"),
        ("form-data; name \"a\"", "Multipart: Invalid Content-Disposition header (-13): form-data; name \"a\""),
        ("form-data; name=\"a\"; name=\"b\"", "Multipart: Invalid Content-Disposition header (-14): form-data; name=\"a\"; name=\"b\""),
        ("form-data", "Multipart: Content-Disposition header missing name field."),
    ];
    for (cd, first_error) in cases {
        let body = crlf(&format!(
            "------WebKitFormBoundary\nContent-Disposition: {cd}\n\nx\n------WebKitFormBoundary--\n"
        ));
        // Only up to the end of the headers, to see the first error.
        let head_end = body
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(0, |i| i + 4);
        assert_eq!(
            process_error(&body[..head_end], CT).as_deref(),
            Some(*first_error),
            "{cd}"
        );
        // The whole body: the part never leaves the header state.
        let r = run(&body, CT);
        assert_eq!(
            r.error.as_deref(),
            Some("Multipart: Final boundary missing."),
            "{cd}"
        );
        assert!(r.args.is_empty());
        assert!(r.flags.invalid_part, "{cd}");
    }
}

#[test]
fn missing_content_disposition() {
    let body = crlf("------WebKitFormBoundary\nContent-Type: text/plain\n\nx\n");
    let r = run(&body, CT);
    // "x" is then parsed as a header line.
    assert_eq!(
        r.error.as_deref(),
        Some("Multipart: Final boundary missing.")
    );
    let body = crlf("------WebKitFormBoundary\nContent-Type: text/plain\n\n");
    assert_eq!(
        process_error(&body, CT).as_deref(),
        Some("Multipart: Part missing Content-Disposition header.")
    );
}

#[test]
fn filename_star() {
    // filename* alone is rejected (-21).
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"f\"; filename*=UTF-8''na%C3%AFve.txt\n\n");
    assert!(process_error(&body, CT)
        .unwrap_or_default()
        .contains("(-21)"));

    // With filename= it is accepted and FILES uses filename=.
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"f\"; filename=\"plain.txt\"; filename*=UTF-8''na%C3%AFve.txt\n\ndata\n------WebKitFormBoundary--\n");
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert_eq!(r.files.len(), 1);
    assert_eq!(s(&r.files[0].filename), "plain.txt");

    // Malformed filename* values.
    for (v, rc) in [
        ("'en'x", "-16"),
        ("UTF-8'en", "-17"),
        ("UTF-8''a%zz", "-18"),
        ("UTF-8''a b", "-19"),
    ] {
        let body = crlf(&format!(
            "------WebKitFormBoundary\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"; filename*={v}\n\n"
        ));
        let err = process_error(&body, CT).unwrap_or_default();
        assert!(err.contains(&format!("({rc})")), "{v}: {err}");
    }
}

#[test]
fn unmatched_boundary_inside_data() {
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"a\"\n\nsee ------WebKitFormBoundary here\n------WebKitFormBoundary--\n");
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert_eq!(
        r.flags.unmatched_boundary, 2,
        "the final boundary sets it to 2 afterwards"
    );
    // A line starting with "--" that is not the boundary.
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"a\"\n\n-- comment\n------WebKitFormBoundary--\n");
    let r = run(&body, CT);
    assert_eq!(r.flags.unmatched_boundary, 2);
    // With nothing after it, the value 1 stays.
    let body = crlf(
        "------WebKitFormBoundary\nContent-Disposition: form-data; name=\"a\"\n\n-- comment\n",
    );
    assert_eq!(run(&body, CT).flags.unmatched_boundary, 1);
}

#[test]
fn invalid_boundary_line() {
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"a\"\n\nx\n------WebKitFormBoundaryX\n");
    assert_eq!(
        process_error(&body, CT).as_deref(),
        Some("Multipart: Invalid boundary: ------WebKitFormBoundaryX\r\n")
    );
    let r = run(&body, CT);
    assert_eq!(
        r.error.as_deref(),
        Some("Multipart: Final boundary missing.")
    );
    assert!(r.flags.strict_error);
}

#[test]
fn whitespace_before_boundary_line() {
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"a\"\n\nx\n--  ----WebKitFormBoundary--\n");
    assert_eq!(
        process_error(&body, CT).as_deref(),
        Some("Multipart: Invalid boundary (whitespace).")
    );
}

#[test]
fn boundary_where_data_should_begin_is_an_invalid_part() {
    // Two CRLFs between the headers and the next boundary (terjanq's bypass): v3 flags
    // the part and swallows the following lines as its data.
    let body = crlf(
        "------WebKitFormBoundary
Content-Disposition: form-data; name=\"a\"

------WebKitFormBoundary
Content-Disposition: form-data; name=\"b\"

payload
------WebKitFormBoundary--
",
    );
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert!(r.flags.invalid_part);
    assert!(r.flags.strict_error);
    assert_eq!(
        args(&r),
        vec![p(
            "a",
            "------WebKitFormBoundaryContent-Disposition: form-data; name=\"b\"payload"
        )]
    );
}

#[test]
fn header_line_too_long() {
    let long = "X-Long: ".to_string() + &"a".repeat(5000);
    let body = crlf(&format!(
        "------WebKitFormBoundary\nContent-Disposition: form-data; name=\"a\"\n{long}\n\nx\n------WebKitFormBoundary--\n"
    ));
    let r = run(&body, CT);
    assert_eq!(
        r.error.as_deref(),
        Some("Multipart: Final boundary missing.")
    );
    assert!(r.flags.strict_error);
    assert_eq!(
        process_error(&body, CT).as_deref(),
        Some("Multipart: Part header line over 4096 bytes long")
    );
}

#[test]
fn nul_byte_in_headers() {
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"a\"\nX: a\0b\n\nx\n------WebKitFormBoundary--\n");
    // The NUL line is skipped; the part still completes, with the error kept.
    let r = run(&body, CT);
    assert_eq!(
        r.error.as_deref(),
        Some("Multipart: Nul byte in part headers.")
    );
    assert_eq!(args(&r), vec![p("a", "x")]);
}

#[test]
fn invalid_character_in_header_name() {
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"a\"\nX\u{7f}Y: z\n\nx\n------WebKitFormBoundary--\n");
    let r = run(&body, CT);
    assert_eq!(
        r.error.as_deref(),
        Some("Multipart: Invalid part header (contains invalid character).")
    );
    assert_eq!(args(&r), vec![p("a", "x")]);
}

#[test]
fn duplicate_part_header_is_dropped_silently() {
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"a\"\nContent-Type: text/plain\ncontent-type: text/html\n\nx\n------WebKitFormBoundary--\n");
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert_eq!(args(&r), vec![p("a", "x")]);
    assert_eq!(
        headers(&r),
        vec![
            p("a", "Content-Disposition: form-data; name=\"a\""),
            p("a", "Content-Type: text/plain")
        ]
    );
}

#[test]
fn header_value_made_of_line_ending_is_kept_by_chomp() {
    assert_eq!(chomp(b"abc\r\n"), b"abc");
    assert_eq!(chomp(b"\r\n"), b"\r\n");
    assert_eq!(chomp(b""), b"");
}

#[test]
fn file_limit() {
    let body = crlf(
        "------WebKitFormBoundary
Content-Disposition: form-data; name=\"f1\"; filename=\"a\"

A
------WebKitFormBoundary
Content-Disposition: form-data; name=\"f2\"; filename=\"b\"

B
------WebKitFormBoundary--
",
    );
    let r = parse(
        &body,
        CT,
        &Limits {
            max_files: 1,
            ..Limits::default()
        },
    );
    assert!(r.flags.file_limit_exceeded);
    assert!(r.flags.strict_error);
    assert_eq!(
        r.error.as_deref(),
        Some(
            "Multipart: Upload file limit exceeded 1. Use SecUploadFileLimit to change the limit."
        )
    );
    assert_eq!(r.files.len(), 2, "files over the limit are still listed");
    assert_eq!(r.files_combined_size, 2);

    let r = parse(
        &body,
        CT,
        &Limits {
            max_files: 2,
            ..Limits::default()
        },
    );
    assert!(!r.flags.file_limit_exceeded);
    assert_eq!(r.error, None);
    let r = parse(&body, CT, &no_limit());
    assert!(!r.flags.file_limit_exceeded);
}

#[test]
fn long_lines_and_cr_at_buffer_end() {
    // A file line longer than the buffer, with a '\r' falling on the buffer's last byte.
    let mut content = vec![b'a'; MULTIPART_BUF_SIZE - 1];
    content.push(b'\r');
    content.extend_from_slice(&[b'b'; 10000]);
    content.extend_from_slice(b"\r\nend");
    let mut body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"f\"; filename=\"big\"\n\n");
    let start = body.len();
    body.extend_from_slice(&content);
    body.extend_from_slice(b"\r\n------WebKitFormBoundary--\r\n");
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    let f = &r.files[0];
    assert_eq!(f.content, start..start + content.len());
    assert_eq!(f.content(&body), &content[..]);
    assert_eq!(f.size, content.len() as u64);
    // A boundary-looking text that does not start a buffer line is just data.
    let mut body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"v\"\n\n");
    body.extend_from_slice(&vec![b'x'; MULTIPART_BUF_SIZE]);
    body.extend_from_slice(b"------WebKitFormBoundary--\r\n------WebKitFormBoundary--\r\n");
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert_eq!(r.args.len(), 1);
    assert_eq!(
        r.args[0].1.len(),
        MULTIPART_BUF_SIZE + "------WebKitFormBoundary--".len()
    );
}

#[test]
fn no_files_length_counts_headers_and_values() {
    let body = crlf("------WebKitFormBoundary\nContent-Disposition: form-data; name=\"a\"\n\nxyz\n------WebKitFormBoundary--\n");
    let r = run(&body, CT);
    let header_line = "Content-Disposition: form-data; name=\"a\"\r\n".len() as u64;
    assert_eq!(r.no_files_length, header_line + 2 + 3);
}

#[test]
fn many_parts() {
    let mut body = String::new();
    for i in 0..5000 {
        body.push_str(&format!(
            "------WebKitFormBoundary\nContent-Disposition: form-data; name=\"p{i}\"\n\nv{i}\n"
        ));
    }
    body.push_str("------WebKitFormBoundary--\n");
    let r = run(&crlf(&body), CT);
    assert_eq!(r.error, None);
    assert_eq!(
        r.args.len(),
        5000,
        "v3 does not apply SecArgumentsLimit to multipart"
    );
    assert_eq!(r.part_headers.len(), 5000);
}

#[test]
fn duplicate_final_boundary_is_data_after() {
    let mut body = crlf(TWO_FIELDS);
    body.extend_from_slice(b"------WebKitFormBoundary--\r\n");
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert!(r.flags.data_after);
}

#[test]
fn crs_920_style_bodies() {
    // Parts of go-ftw style requests used by CRS 920 tests: file upload with a quote in
    // the filename (920120), and a body whose part name carries a single quote.
    let body = crlf(
        "------WebKitFormBoundary
Content-Disposition: form-data; name=\"file\"; filename=\"a;b.txt\"
Content-Type: text/plain

hi
------WebKitFormBoundary--
",
    );
    let r = run(&body, CT);
    assert_eq!(r.error, None);
    assert_eq!(s(&r.files[0].filename), "a;b.txt");
    assert_eq!(r.filenames, vec![b"a;b.txt".to_vec()]);
}
