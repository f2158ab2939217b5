//! Ordinary traffic for the blocking-mode check: what browsers, web forms, API clients and
//! upload forms send to a site, written as the exact bytes a client puts on the wire. Stock
//! CRS at paranoia level 1 must let every one of these through.
//!
//! The requests stay inside CRS's default HTTP policy (methods GET, HEAD, POST, OPTIONS;
//! content types form, multipart, JSON, XML), because a request outside it (e.g. `PUT`) is
//! blocked by design at paranoia level 1 (rule 911100), not by mistake.

/// One request of the benign set.
#[derive(Debug, Clone)]
pub struct BenignRequest {
    /// Short description (`browser: product listing`).
    pub name: String,
    /// Request method.
    pub method: String,
    /// Request target (path and query) as sent.
    pub target: String,
    /// Header fields in order.
    pub headers: Vec<(String, String)>,
    /// The body (empty: none).
    pub body: Vec<u8>,
}

impl BenignRequest {
    fn new(name: &str, method: &str, target: &str) -> BenignRequest {
        BenignRequest {
            name: name.to_string(),
            method: method.to_string(),
            target: target.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn header(mut self, name: &str, value: &str) -> BenignRequest {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn headers(mut self, list: &[(&str, &str)]) -> BenignRequest {
        for (n, v) in list {
            self.headers.push(((*n).to_string(), (*v).to_string()));
        }
        self
    }

    /// Sets the body with its `Content-Type`; `Content-Length` is added when the request is
    /// written.
    fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> BenignRequest {
        self.headers
            .push(("Content-Type".to_string(), content_type.to_string()));
        self.body = body.into();
        self
    }

    /// The bytes sent: request line, headers, `Content-Length` for a body, blank line, body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.body.len());
        out.extend_from_slice(format!("{} {} HTTP/1.1\r\n", self.method, self.target).as_bytes());
        for (name, value) in &self.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        if !self.body.is_empty() || self.method == "POST" {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

const HOST: &str = "shop.example.com";
const CHROME_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const FIREFOX_UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0";
const SAFARI_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) \
AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1";
const COOKIES: &str = "_ga=GA1.2.1234567890.1714550000; \
session_id=3f9a1c2e7b8d4f60a1b2c3d4e5f60718; theme=dark; lang=en-US; \
cart=%7B%22items%22%3A2%2C%22total%22%3A%2194.49%22%7D; \
consent=analytics%3Dtrue%2Cmarketing%3Dfalse";
const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFsaWNlIFNtaXRoIiwiaWF0IjoxNzE0NTUwMDAwfQ.\
SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

/// The headers Chrome sends for a top-level navigation.
fn chrome_navigation(referer: Option<&str>) -> Vec<(String, String)> {
    let mut h = vec![
        ("Host", HOST),
        ("Connection", "keep-alive"),
        (
            "sec-ch-ua",
            "\"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"",
        ),
        ("sec-ch-ua-mobile", "?0"),
        ("sec-ch-ua-platform", "\"Windows\""),
        ("Upgrade-Insecure-Requests", "1"),
        ("User-Agent", CHROME_UA),
        (
            "Accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,\
image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
        ),
        (
            "Sec-Fetch-Site",
            if referer.is_some() {
                "same-origin"
            } else {
                "none"
            },
        ),
        ("Sec-Fetch-Mode", "navigate"),
        ("Sec-Fetch-User", "?1"),
        ("Sec-Fetch-Dest", "document"),
    ];
    if let Some(r) = referer {
        h.push(("Referer", r));
    }
    h.push(("Accept-Encoding", "gzip, deflate, br, zstd"));
    h.push(("Accept-Language", "en-US,en;q=0.9,de;q=0.8"));
    h.push(("Cookie", COOKIES));
    h.into_iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn page(name: &str, target: &str, referer: Option<&str>) -> BenignRequest {
    let mut r = BenignRequest::new(name, "GET", target);
    r.headers = chrome_navigation(referer);
    r
}

/// A sub-resource fetched by the page (`dest` is `style`, `script`, `image`, `font`, ...).
fn asset(name: &str, target: &str, accept: &str, dest: &str) -> BenignRequest {
    BenignRequest::new(name, "GET", target).headers(&[
        ("Host", HOST),
        ("Connection", "keep-alive"),
        ("User-Agent", FIREFOX_UA),
        ("Accept", accept),
        ("Accept-Language", "en-US,en;q=0.5"),
        ("Accept-Encoding", "gzip, deflate, br"),
        ("Referer", "https://shop.example.com/products/running-shoes"),
        ("Sec-Fetch-Dest", dest),
        ("Sec-Fetch-Mode", "no-cors"),
        ("Sec-Fetch-Site", "same-origin"),
        ("Cookie", COOKIES),
    ])
}

/// A script (fetch/XHR) call of the site's front end.
fn api(name: &str, method: &str, target: &str) -> BenignRequest {
    BenignRequest::new(name, method, target).headers(&[
        ("Host", HOST),
        ("Connection", "keep-alive"),
        ("User-Agent", CHROME_UA),
        ("Accept", "application/json, text/plain, */*"),
        ("Accept-Language", "en-US,en;q=0.9"),
        ("Accept-Encoding", "gzip, deflate, br"),
        ("Origin", "https://shop.example.com"),
        ("Referer", "https://shop.example.com/account"),
        ("Sec-Fetch-Dest", "empty"),
        ("Sec-Fetch-Mode", "cors"),
        ("Sec-Fetch-Site", "same-origin"),
        ("X-Requested-With", "XMLHttpRequest"),
        ("Cookie", COOKIES),
    ])
}

/// A form submission from a page of the site (`Content-Type` comes with the body).
fn form_post(name: &str, target: &str, referer: &str) -> BenignRequest {
    BenignRequest::new(name, "POST", target).headers(&[
        ("Host", HOST),
        ("Connection", "keep-alive"),
        ("Cache-Control", "max-age=0"),
        ("Upgrade-Insecure-Requests", "1"),
        ("Origin", "https://shop.example.com"),
        ("User-Agent", SAFARI_UA),
        (
            "Accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        ("Sec-Fetch-Site", "same-origin"),
        ("Sec-Fetch-Mode", "navigate"),
        ("Sec-Fetch-Dest", "document"),
        ("Referer", referer),
        ("Accept-Encoding", "gzip, deflate, br"),
        ("Accept-Language", "en-GB,en;q=0.9"),
        ("Cookie", COOKIES),
    ])
}

/// `application/x-www-form-urlencoded` of `fields` as browsers encode it (space as `+`,
/// everything but `A-Za-z0-9*-._` percent-encoded as UTF-8).
pub fn form_encode(fields: &[(&str, &str)]) -> String {
    fn enc(s: &str, out: &mut String) {
        for &b in s.as_bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                    out.push(char::from(b))
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        enc(name, &mut out);
        out.push('=');
        enc(value, &mut out);
    }
    out
}

/// One part of a multipart body.
struct Part<'a> {
    name: &'a str,
    file: Option<(&'a str, &'a str)>,
    data: &'a [u8],
}

fn field<'a>(name: &'a str, value: &'a str) -> Part<'a> {
    Part {
        name,
        file: None,
        data: value.as_bytes(),
    }
}

fn file<'a>(name: &'a str, filename: &'a str, content_type: &'a str, data: &'a [u8]) -> Part<'a> {
    Part {
        name,
        file: Some((filename, content_type)),
        data,
    }
}

/// A `multipart/form-data` body as browsers write it; returns (content type, body).
fn multipart(boundary: &str, parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match part.file {
            Some((filename, ct)) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{}\"; filename=\"{filename}\"\r\n\
                     Content-Type: {ct}\r\n\r\n",
                    part.name
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{}\"\r\n\r\n",
                    part.name
                )
                .as_bytes(),
            ),
        }
        body.extend_from_slice(part.data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A small PNG-like image: the PNG signature and chunks with binary data (NUL bytes, bytes
/// >= 0x80, CR and LF), as an uploaded image has.
fn png_bytes() -> Vec<u8> {
    let mut v: Vec<u8> = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    // IHDR: 16x16, 8-bit RGBA.
    v.extend_from_slice(&[0, 0, 0, 13]);
    v.extend_from_slice(b"IHDR");
    v.extend_from_slice(&[0, 0, 0, 16, 0, 0, 0, 16, 8, 6, 0, 0, 0]);
    v.extend_from_slice(&[0x1f, 0xf3, 0xff, 0x61]);
    // IDAT with pseudo-random compressed-looking bytes.
    let mut idat = Vec::with_capacity(300);
    let mut x: u32 = 0x1234_5678;
    for _ in 0..300 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        idat.push(x.to_le_bytes()[0]);
    }
    v.extend_from_slice(&(idat.len() as u32).to_be_bytes());
    v.extend_from_slice(b"IDAT");
    v.extend_from_slice(&idat);
    v.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    v.extend_from_slice(&[0, 0, 0, 0]);
    v.extend_from_slice(b"IEND");
    v.extend_from_slice(&[0xae, 0x42, 0x60, 0x82]);
    v
}

/// The benign set.
pub fn requests() -> Vec<BenignRequest> {
    // --- Browser navigation ---
    let mut out = vec![page("browser: home page", "/", None)];
    out.push(page(
        "browser: product listing with filters",
        "/products/running-shoes?color=blue&size=42&sort=price_asc&page=2",
        Some("https://shop.example.com/"),
    ));
    out.push(page(
        "browser: blog article from a search engine",
        "/blog/2024/05/how-to-choose-running-shoes",
        Some("https://www.google.com/"),
    ));
    out.push(page(
        "browser: search form (GET)",
        "/search?q=trail+running+shoes+for+women&category=footwear",
        Some("https://shop.example.com/"),
    ));
    out.push(page(
        "browser: search with accented UTF-8",
        "/search?q=caf%C3%A9+cr%C3%A8me+br%C3%BBl%C3%A9e",
        Some("https://shop.example.com/"),
    ));
    out.push(page(
        "browser: search for a book title with apostrophe, ampersand and quotes",
        "/search?q=O%27Reilly+%26+Sons+%E2%80%93+%22Learning+Rust%22",
        Some("https://shop.example.com/search"),
    ));
    out.push(page(
        "browser: order page",
        "/account/orders/10045?tab=shipping",
        Some("https://shop.example.com/account/orders"),
    ));
    out.push(page(
        "browser: campaign landing with utm parameters",
        "/?utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale_2024&utm_content=hero_banner",
        None,
    ));
    out.push(page(
        "browser: login page with return path",
        "/login?next=%2Faccount%2Fsettings%3Ftab%3Dsecurity",
        Some("https://shop.example.com/account/settings"),
    ));
    out.push(page(
        "browser: store locator map",
        "/stores/map?ll=52.520008,13.404954&z=12&layer=transit",
        Some("https://shop.example.com/stores"),
    ));
    out.push(page(
        "browser: calendar with time zone",
        "/events/calendar?date=2024-05-01&view=week&tz=Europe%2FBerlin",
        Some("https://shop.example.com/events"),
    ));
    out.push(page(
        "browser: product comparison with array parameters",
        "/products/compare?ids[]=101&ids[]=205&ids[]=309",
        Some("https://shop.example.com/products/running-shoes"),
    ));
    out.push(page(
        "browser: help page",
        "/en-US/help/faq?section=returns&lang=en-US",
        Some("https://shop.example.com/"),
    ));
    out.push(
        page(
            "browser: revalidation of a cached page",
            "/docs/getting-started.html",
            Some("https://shop.example.com/docs/"),
        )
        .headers(&[
            ("If-None-Match", "W/\"5e1-18f2b7c3a40\""),
            ("If-Modified-Since", "Wed, 01 May 2024 08:30:00 GMT"),
            ("Cache-Control", "max-age=0"),
        ]),
    );
    out.push(page(
        "browser: PDF download",
        "/download/report-2024-Q1.pdf",
        Some("https://shop.example.com/investors"),
    ));

    // --- Static assets ---
    out.push(asset(
        "asset: stylesheet with version query",
        "/static/css/main.3f2a1b9c.css?v=20240501",
        "text/css,*/*;q=0.1",
        "style",
    ));
    out.push(asset(
        "asset: script bundle with version query",
        "/static/js/app.bundle.min.js?v=1.4.2",
        "*/*",
        "script",
    ));
    out.push(asset(
        "asset: resized product image",
        "/images/products/shoe-blue@2x.png?w=640&h=480&fit=crop",
        "image/avif,image/webp,*/*",
        "image",
    ));
    out.push(
        asset(
            "asset: web font",
            "/fonts/inter-var.woff2",
            "application/font-woff2;q=1.0,application/font-woff;q=0.9,*/*;q=0.8",
            "font",
        )
        .header("Origin", "https://shop.example.com"),
    );
    out.push(asset(
        "asset: favicon",
        "/favicon.ico",
        "image/avif,image/webp,*/*",
        "image",
    ));
    out.push(asset("asset: robots.txt", "/robots.txt", "*/*", "empty"));
    out.push(asset(
        "asset: sitemap",
        "/sitemap.xml",
        "application/xml,text/xml;q=0.9,*/*;q=0.8",
        "empty",
    ));

    // --- HEAD / OPTIONS ---
    out.push(
        BenignRequest::new("HEAD: home page", "HEAD", "/").headers(&[
            ("Host", HOST),
            (
                "User-Agent",
                "Mozilla/5.0 (compatible; uptime-monitor/2.3; +https://status.example.net)",
            ),
            ("Accept", "*/*"),
        ]),
    );
    out.push(asset(
        "HEAD: stylesheet",
        "/static/css/main.3f2a1b9c.css",
        "text/css,*/*;q=0.1",
        "style",
    ));
    if let Some(last) = out.last_mut() {
        last.method = "HEAD".to_string();
    }
    out.push(
        BenignRequest::new("OPTIONS: CORS preflight", "OPTIONS", "/api/v1/orders").headers(&[
            ("Host", HOST),
            ("Connection", "keep-alive"),
            ("Accept", "*/*"),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "authorization,content-type",
            ),
            ("Origin", "https://app.example.com"),
            ("User-Agent", CHROME_UA),
            ("Sec-Fetch-Mode", "cors"),
            ("Sec-Fetch-Site", "same-site"),
            ("Sec-Fetch-Dest", "empty"),
            ("Referer", "https://app.example.com/"),
            ("Accept-Encoding", "gzip, deflate, br"),
            ("Accept-Language", "en-US,en;q=0.9"),
        ]),
    );

    // --- API GETs ---
    out.push(api(
        "api: product list with paging and field selection",
        "GET",
        "/api/v1/products?limit=20&offset=40&fields=name,price,rating&filter[brand]=acme",
    ));
    out.push(
        api("api: current user with bearer token", "GET", "/api/v1/me")
            .header("Authorization", &format!("Bearer {JWT}")),
    );

    // --- URL-encoded forms ---
    out.push(
        form_post("form: login", "/login", "https://shop.example.com/login").body(
            "application/x-www-form-urlencoded",
            form_encode(&[
                ("csrf_token", "k9J2mX4pQ7rT1vW8yZ3bN6cF0hL5sD"),
                ("username", "alice.smith@example.com"),
                ("password", "c0rrect-h0rse!Battery#42"),
                ("remember", "on"),
            ]),
        ),
    );
    out.push(
        form_post(
            "form: blog comment with punctuation",
            "/blog/2024/05/how-to-choose-running-shoes/comments",
            "https://shop.example.com/blog/2024/05/how-to-choose-running-shoes",
        )
        .body(
            "application/x-www-form-urlencoded",
            form_encode(&[
                ("name", "Bob O'Brien"),
                ("email", "bob.obrien@example.net"),
                (
                    "comment",
                    "Great article! I've followed steps 1-3 and it works (finally). \
One question: does it also apply to v2.x? Thanks :-)",
                ),
                ("notify", "1"),
            ]),
        ),
    );
    out.push(
        form_post(
            "form: shipping address",
            "/checkout/address",
            "https://shop.example.com/checkout",
        )
        .body(
            "application/x-www-form-urlencoded",
            form_encode(&[
                ("full_name", "Dr. Anna-Lena Müller"),
                ("company", "Müller & Söhne GmbH"),
                ("street", "Hauptstraße 12, 3. OG"),
                ("zip", "50667"),
                ("city", "Köln"),
                ("country", "DE"),
                ("phone", "+49 221 1234567"),
                ("delivery_notes", "Please ring twice; the bell is broken."),
            ]),
        ),
    );
    out.push(
        form_post(
            "form: US address with apartment number",
            "/checkout/address",
            "https://shop.example.com/checkout",
        )
        .body(
            "application/x-www-form-urlencoded",
            form_encode(&[
                ("full_name", "Jane Q. Public"),
                ("street", "1600 Pennsylvania Ave NW, Apt #4B"),
                ("city", "Washington"),
                ("state", "DC"),
                ("zip", "20500-0003"),
                ("country", "US"),
                ("phone", "(202) 456-1111"),
            ]),
        ),
    );
    out.push(
        form_post(
            "form: newsletter sign-up",
            "/newsletter/subscribe",
            "https://shop.example.com/",
        )
        .body(
            "application/x-www-form-urlencoded",
            form_encode(&[("email", "jane.doe+news@example.org"), ("consent", "yes")]),
        ),
    );
    out.push(
        form_post(
            "form: contact message with line breaks",
            "/contact",
            "https://shop.example.com/contact",
        )
        .body(
            "application/x-www-form-urlencoded",
            form_encode(&[
                ("subject", "Order #10045 - wrong size"),
                (
                    "message",
                    "Hello,\r\n\r\nI received size 41 instead of 42. Can I exchange it?\r\n\
The box is unopened.\r\n\r\nBest regards,\r\nJane",
                ),
                ("order", "10045"),
            ]),
        ),
    );
    out.push(
        form_post(
            "form: search (POST)",
            "/search",
            "https://shop.example.com/",
        )
        .body(
            "application/x-www-form-urlencoded",
            form_encode(&[("q", "50% off summer sale"), ("sort", "relevance")]),
        ),
    );
    out.push(
        form_post(
            "form: profile settings with repeated fields and emoji",
            "/account/settings",
            "https://shop.example.com/account/settings",
        )
        .body(
            "application/x-www-form-urlencoded; charset=UTF-8",
            form_encode(&[
                ("display_name", "Zoë"),
                ("bio", "Runner, coffee lover & amateur photographer 📷"),
                ("timezone", "America/New_York"),
                ("notifications", "email"),
                ("notifications", "sms"),
                ("website", "https://zoe.example.com/blog"),
            ]),
        ),
    );

    // --- JSON APIs ---
    out.push(
        api("json: create order (nested objects, arrays, numbers, null)", "POST", "/api/v1/orders")
            .body(
                "application/json",
                r#"{"customer":{"id":42,"name":"José Álvarez","email":"jose@example.com"},"items":[{"sku":"SHOE-42-BLU","qty":2,"price":89.99},{"sku":"SOCK-M","qty":3,"price":4.5}],"shipping":{"method":"express","address":{"street":"Calle Mayor 1","city":"Madrid","zip":"28013"}},"notes":"Leave at the door, please.","gift":false,"coupon":null}"#,
            ),
    );
    out.push(
        api("json: chat message with unicode and emoji", "POST", "/api/v1/messages").body(
            "application/json; charset=utf-8",
            r#"{"conversation":"c_8f2a","text":"こんにちは 👋 — see you at 10:30? Ça va, Müller?","lang":"ja","tags":["greeting","chat"],"mentions":[]}"#,
        ),
    );
    out.push(
        api("json: search with filters and sort", "POST", "/api/v1/search").body(
            "application/json",
            r#"{"query":"running shoes","filters":{"price":{"min":10,"max":100},"brands":["Acme","Globex"],"inStock":true},"sort":[{"field":"rating","order":"desc"}],"page":1,"pageSize":24}"#,
        ),
    );
    out.push(
        api("json: GraphQL query with variables", "POST", "/graphql").body(
            "application/json",
            r#"{"operationName":"GetProduct","query":"query GetProduct($id: ID!) { product(id: $id) { name price reviews(first: 5) { rating text } } }","variables":{"id":"UHJvZHVjdDo0Mg=="}}"#,
        ),
    );
    out.push(
        api("json: analytics batch (top-level array)", "POST", "/api/v1/events").body(
            "application/json",
            r#"[{"event":"page_view","path":"/products/running-shoes","ts":1714550000123},{"event":"click","target":"add-to-cart","props":{"sku":"SHOE-42-BLU","position":3}},{"event":"scroll","depth":0.75}]"#,
        ),
    );
    out.push(
        api("json: profile update with accents and apostrophe", "POST", "/api/v1/profile")
            .header("Authorization", &format!("Bearer {JWT}"))
            .body(
                "application/json",
                r#"{"name":"Zoë Ångström","address":{"street":"Rue de l'Église 5","city":"Genève","country":"CH"},"languages":["fr","de","en"],"matrix":[[1,2],[3,4]],"newsletter":true}"#,
            ),
    );

    // --- XML ---
    out.push(
        api("xml: product feed import", "POST", "/api/v1/feeds/import").body(
            "application/xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feed><product id=\"101\"><name>Trail Runner 2</name>\
<price currency=\"EUR\">89.99</price><description>Lightweight &amp; breathable.</description></product></feed>\n",
        ),
    );

    // --- Multipart uploads ---
    let boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW";
    let (ct, body) = multipart(
        boundary,
        &[
            field("title", "Meeting notes, 1 May"),
            field("description", "Notes from the planning meeting (Q2)."),
            field("tags", "planning, q2, team"),
            file(
                "attachment",
                "notes.txt",
                "text/plain",
                b"Meeting notes\nAgenda: budget, hiring, launch date\n- Budget approved (+5%)\n- Next meeting: 2024-05-08 10:00\n",
            ),
        ],
    );
    out.push(
        form_post(
            "upload: text file with fields",
            "/documents/upload",
            "https://shop.example.com/documents",
        )
        .body(&ct, body),
    );
    let png = png_bytes();
    let (ct, body) = multipart(
        "----WebKitFormBoundaryQ2vJd3kLx8aT1pZe",
        &[
            field("user_id", "42"),
            file("avatar", "profile-photo.png", "image/png", &png),
            field("crop", "0,0,16,16"),
        ],
    );
    out.push(
        form_post(
            "upload: PNG avatar (binary)",
            "/account/avatar",
            "https://shop.example.com/account",
        )
        .body(&ct, body),
    );
    let (ct, body) = multipart(
        "---------------------------26531781291838736481437906243",
        &[
            field("category", "invoices"),
            file(
                "files[]",
                "expenses-2024-04.csv",
                "text/csv",
                b"date,description,amount\n2024-04-02,\"Taxi, airport\",42.50\n2024-04-03,Hotel (2 nights),310.00\n",
            ),
            file(
                "files[]",
                "receipt.pdf",
                "application/pdf",
                b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n",
            ),
            field("comment", "April expenses; receipts attached."),
        ],
    );
    out.push(
        form_post(
            "upload: two files (CSV, PDF) and fields, Firefox boundary",
            "/expenses/upload",
            "https://shop.example.com/expenses",
        )
        .body(&ct, body),
    );
    let (ct, body) = multipart(
        "----WebKitFormBoundaryx9Lm2Wq0Pz7Rt4Yb",
        &[
            field("subject", "Cannot change my e-mail address"),
            field(
                "message",
                "Hi,\r\nwhen I try to save the new address I get \"Something went wrong\".\r\nThanks!",
            ),
            field("priority", "normal"),
            file("screenshot", "", "application/octet-stream", b""),
        ],
    );
    out.push(
        form_post(
            "upload: support form with an empty file input",
            "/support/tickets",
            "https://shop.example.com/support",
        )
        .body(&ct, body),
    );
    out
}
