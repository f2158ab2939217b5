//! Engine-only benchmark: stock OWASP CRS (blocking mode, paranoia 1 and 4) behind the
//! repository's base configuration (`conf/modsecurity.conf` + a setup like
//! `crs/crs-setup.conf`), whole transactions through `rampart::engine::Transaction`
//! (phases 1-5, fed as the gateway feeds them), plus body-size scaling and ruleset load.
//!
//!   cargo bench --bench engine                 # everything (about 3-4 minutes on 2 cores)
//!   cargo bench --bench engine -- pl1/         # only the paranoia-1 transactions
//!   CRS_DIR=/path/to/crs cargo bench --bench engine
//!
//! CRS is found through CRS_DIR (default ../shared/crs next to the repository). The request
//! shapes (browser GET, 1 KB form POST, JSON API call, SQL injection) are read from
//! `scripts/bench/shapes/*.http`, the same files `make bench` sends with wrk; the multipart
//! upload and the scaling bodies are built here.
//!
//! Before measuring, every shape is checked and its outcome printed: at paranoia 1 the benign
//! requests must pass with no rule logged, at both levels the SQL injection must be blocked
//! with 403 by rule 949110 (paranoia 4 flags some ordinary traffic, as CRS does). After criterion
//! finishes, a table of medians is printed and written to `<target>/criterion/engine-medians.txt`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use rampart::engine::{EngineContext, Intervention, Ruleset, Transaction};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn crs_dir() -> PathBuf {
    let d = std::env::var_os("CRS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/crs"));
    if !d.join("rules").is_dir() {
        eprintln!("CRS not found at {} (set CRS_DIR)", d.display());
        std::process::exit(2);
    }
    d
}

/// Writes main.conf (base config, setup at `paranoia`, CRS plugins and rules) into a
/// temporary directory and returns its path.
fn write_main_conf(paranoia: u32) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("rampart-bench-engine-{}-pl{paranoia}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let setup_src = std::fs::read_to_string(repo().join("crs/crs-setup.conf")).expect("crs/crs-setup.conf");
    assert!(
        setup_src.contains("tx.blocking_paranoia_level=1"),
        "crs/crs-setup.conf no longer sets tx.blocking_paranoia_level=1; update the bench"
    );
    let setup = setup_src.replace("tx.blocking_paranoia_level=1", &format!("tx.blocking_paranoia_level={paranoia}"));
    std::fs::write(dir.join("crs-setup.conf"), setup).expect("write setup");
    let crs = crs_dir();
    let main = dir.join("main.conf");
    std::fs::write(
        &main,
        format!(
            "Include {repo}/conf/modsecurity.conf\n\
             Include {dir}/crs-setup.conf\n\
             Include {crs}/plugins/*-config.conf\n\
             Include {crs}/plugins/*-before.conf\n\
             Include {crs}/rules/*.conf\n\
             Include {crs}/plugins/*-after.conf\n",
            repo = repo().display(),
            dir = dir.display(),
            crs = crs.display()
        ),
    )
    .expect("write main.conf");
    (dir, main)
}

fn load(main: &Path) -> Ruleset {
    Ruleset::load(main).unwrap_or_else(|e| {
        eprintln!("CRS failed to load: {e}");
        std::process::exit(2)
    })
}

/// One HTTP request to feed the engine.
#[derive(Clone)]
struct Req {
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Response the backend gives (content type, body) when the request passes.
    resp_type: &'static str,
    resp_body: Arc<Vec<u8>>,
}

/// Reads `scripts/bench/shapes/NAME.http`: request line, headers, a blank line, the body
/// (one trailing newline of the file is not part of it). Content-Length is added here.
fn shape(name: &str, resp_type: &'static str, resp_body: &Arc<Vec<u8>>) -> Req {
    let path = repo().join("scripts/bench/shapes").join(format!("{name}.http"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let body = body.strip_suffix('\n').unwrap_or(body);
    let mut lines = head.lines();
    let rl: Vec<&str> = lines.next().expect("request line").split(' ').collect();
    assert_eq!(rl.len(), 3, "{}: bad request line", path.display());
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap_or_else(|| panic!("{}: bad header {l:?}", path.display()));
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    Req {
        method: rl[0].into(),
        uri: rl[1].into(),
        headers,
        body: body.as_bytes().to_vec(),
        resp_type,
        resp_body: resp_body.clone(),
    }
}

fn html_page() -> Arc<Vec<u8>> {
    let mut s = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Product 1234 - Example Shop</title>\
         <link rel=\"stylesheet\" href=\"/static/site.css\"><script src=\"/static/app.js\" defer></script></head>\n<body>\
         <header><nav><a href=\"/\">Home</a> <a href=\"/products\">Products</a> <a href=\"/account\">Account</a></nav></header>\n<main>\n",
    );
    let mut i = 0;
    while s.len() < 2000 {
        s.push_str(&format!(
            "<section class=\"review\"><h3>Review {i}</h3><p>Great book, arrived quickly and well packed. \
             Would buy from this shop again.</p></section>\n"
        ));
        i += 1;
    }
    s.push_str("</main><footer>&copy; Example Shop</footer></body></html>\n");
    Arc::new(s.into_bytes())
}

fn multipart_upload(resp: &Arc<Vec<u8>>) -> Req {
    let boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW";
    let mut file = String::new();
    let mut n = 0;
    while file.len() < 4000 {
        file.push_str(&format!("{n},2024-05-{:02},Widget {n},blue,{}.{:02}\r\n", n % 28 + 1, n * 3 % 97 + 1, n * 7 % 100));
        n += 1;
    }
    let body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nQuarterly inventory\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\nExport of the warehouse stock, one line per item.\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"inventory.csv\"\r\nContent-Type: text/csv\r\n\r\n{file}\r\n\
         --{b}--\r\n",
        b = boundary
    );
    let mut req = shape("browser_get", "text/html", resp);
    req.method = "POST".into();
    req.uri = "/upload".into();
    req.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("Upgrade-Insecure-Requests") && !k.starts_with("Sec-Fetch"));
    req.headers.push(("Content-Type".into(), format!("multipart/form-data; boundary={boundary}")));
    req.body = body.into_bytes();
    req
}

/// A urlencoded form of exactly `size` bytes: fields of about 200 bytes of ordinary words
/// (so a 128 KB body stays well under SecArgumentsLimit).
fn form_of_size(size: usize, resp: &Arc<Vec<u8>>) -> Req {
    let words = "the quick brown fox jumps over a lazy dog while our team ships small tools for shops \
                 that sell books maps bread and coffee to people who like hiking and reading"
        .split(' ')
        .collect::<Vec<_>>();
    let mut body = String::with_capacity(size);
    let mut f = 0;
    let mut w = 0;
    while body.len() < size {
        if !body.is_empty() {
            body.push('&');
        }
        body.push_str(&format!("field{f}="));
        let start = body.len();
        while body.len() - start < 200 && body.len() < size {
            if body.len() > start {
                body.push('+');
            }
            body.push_str(words[w % words.len()]);
            w += 1;
        }
        f += 1;
    }
    body.truncate(size);
    while body.ends_with('+') || body.ends_with('&') || body.ends_with('=') {
        body.pop();
        body.push('x');
    }
    assert_eq!(body.len(), size);
    let mut req = shape("form_post", "text/html", resp);
    req.body = body.into_bytes();
    req
}

struct Outcome {
    intervention: Option<Intervention>,
    logged: Vec<u64>,
}

/// Runs one whole transaction the way the gateway does: phases 1 and 2; when nothing
/// intervened, the response headers (phase 3) and body (phase 4); then logging (phase 5).
fn transaction(rs: &Arc<Ruleset>, ctx: &Arc<EngineContext>, r: &Req) -> Transaction {
    let mut tx = Transaction::new(rs.clone(), ctx.clone(), None);
    tx.process_connection("192.0.2.10", 50412, "198.51.100.1", 80);
    tx.process_uri(r.uri.as_bytes(), r.method.as_bytes(), "1.1");
    for (k, v) in &r.headers {
        tx.add_request_header(k.as_bytes(), v.as_bytes());
    }
    if !r.body.is_empty() {
        tx.add_request_header(b"Content-Length", r.body.len().to_string().as_bytes());
    }
    let mut blocked = tx.process_request_headers().is_some();
    if !blocked {
        if tx.request_body_needed() && !r.body.is_empty() {
            tx.append_request_body(&r.body);
        }
        blocked = tx.process_request_body().is_some();
    }
    if !blocked {
        tx.add_response_header(b"Content-Type", format!("{}; charset=utf-8", r.resp_type).as_bytes());
        tx.add_response_header(b"Content-Length", r.resp_body.len().to_string().as_bytes());
        tx.add_response_header(b"Cache-Control", b"private, max-age=0");
        blocked = tx.process_response_headers(200, "HTTP/1.1").is_some();
        if !blocked {
            if tx.response_body_needed() {
                tx.append_response_body(&r.resp_body);
            }
            tx.process_response_body();
        }
    }
    black_box(tx.process_logging());
    tx
}

fn outcome(rs: &Arc<Ruleset>, ctx: &Arc<EngineContext>, r: &Req) -> Outcome {
    let tx = transaction(rs, ctx, r);
    Outcome { intervention: tx.intervention().cloned(), logged: tx.logged_rule_ids() }
}

/// The SQL injection is blocked with 403 by 949110 at every paranoia level; at paranoia 1
/// the benign requests pass with no logged rule. (At paranoia 4 CRS flags some ordinary
/// traffic -- that is what PL4 is -- so there the outcome is only printed: a blocked request
/// skips phases 3 and 4, as it does in the gateway.)
fn check(pl: u32, name: &str, rs: &Arc<Ruleset>, ctx: &Arc<EngineContext>, r: &Req, attack: bool) {
    let o = outcome(rs, ctx, r);
    let seen = match &o.intervention {
        Some(i) => format!("{} by {} (logged {:?})", i.status, i.rule_id, o.logged),
        None => format!("passed (logged {:?})", o.logged),
    };
    if attack {
        let ok = o.intervention.as_ref().is_some_and(|i| i.status == 403 && i.rule_id == 949110);
        assert!(ok, "PL{pl} {name}: expected 403 by 949110, got {seen}");
    } else if pl == 1 {
        assert!(o.intervention.is_none() && o.logged.is_empty(), "PL{pl} {name}: benign request flagged: {seen}");
    }
    eprintln!("PL{pl} {name:<18} {seen}");
}

fn configure() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(1000))
        .measurement_time(Duration::from_secs(4))
        .sample_size(40)
        .noise_threshold(0.03)
        .configure_from_args()
}

fn main() {
    let mut c = configure();
    let ctx = Arc::new(EngineContext::default());
    let html = html_page();
    let json_resp = Arc::new(br#"{"order_id":98765,"status":"accepted","total":64.9,"currency":"EUR"}"#.to_vec());
    let shapes: Vec<(&str, Req, bool)> = vec![
        ("browser_get", shape("browser_get", "text/html", &html), false),
        ("form_post_1k", shape("form_post", "text/html", &html), false),
        ("json_api", shape("json_post", "application/json", &json_resp), false),
        ("multipart_upload", multipart_upload(&html), false),
        ("sqli", shape("sqli", "text/html", &html), true),
    ];
    assert_eq!(shapes[1].1.body.len(), 1024, "form_post.http body must be 1 KB");

    let mut tmp_dirs = Vec::new();
    let mut sets: Vec<(u32, PathBuf, Arc<Ruleset>)> = Vec::new();
    for pl in [1, 4] {
        let (dir, main) = write_main_conf(pl);
        let (t, rss0) = (std::time::Instant::now(), rss_kb());
        let rs = Arc::new(load(&main));
        eprintln!(
            "PL{pl}: CRS loaded in {:.0} ms ({} rules); resident memory {:+.1} MB",
            t.elapsed().as_secs_f64() * 1e3,
            rs.rules().count(),
            (rss_kb() as f64 - rss0 as f64) / 1024.0
        );
        for (name, r, attack) in &shapes {
            check(pl, name, &rs, &ctx, r, *attack);
        }
        tmp_dirs.push(dir);
        sets.push((pl, main, rs));
    }

    for (pl, _, rs) in &sets {
        let mut g = c.benchmark_group(format!("pl{pl}"));
        for (name, r, _) in &shapes {
            g.bench_function(*name, |b| b.iter(|| black_box(transaction(rs, &ctx, black_box(r)))));
        }
        g.finish();
    }

    // Body-size scaling at PL1: 1 KB .. SecRequestBodyNoFilesLimit (131072 in the base config).
    let (_, _, pl1) = &sets[0];
    let no_files_limit = 131072usize;
    let mut g = c.benchmark_group("pl1_form_body");
    g.sample_size(20).sampling_mode(SamplingMode::Flat);
    for size in [1024usize, 8 * 1024, 64 * 1024, no_files_limit] {
        let r = form_of_size(size, &html);
        check(1, &format!("form body {size}"), pl1, &ctx, &r, false);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::from_parameter(size), &r, |b, r| {
            b.iter(|| black_box(transaction(pl1, &ctx, black_box(r))))
        });
    }
    g.finish();

    // Ruleset load (parse + compile every CRS file).
    let mut g = c.benchmark_group("load");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(8));
    for (pl, main, _) in &sets {
        g.bench_function(format!("crs_pl{pl}"), |b| b.iter(|| black_box(load(main))));
    }
    g.finish();

    c.final_summary();
    for d in tmp_dirs {
        let _ = std::fs::remove_dir_all(d);
    }
    print_medians();
}

/// Where criterion writes its results: $CRITERION_HOME, else `<cargo target dir>/criterion`
/// (the bench executable lives in `<target>/release/deps/`).
fn criterion_home() -> PathBuf {
    if let Some(h) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(h);
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(t).join("criterion");
    }
    std::env::current_exe()
        .ok()
        .and_then(|e| e.ancestors().nth(3).map(|t| t.join("criterion")))
        .unwrap_or_else(|| repo().join("target/criterion"))
}

/// Reads criterion's estimates (`<target>/criterion/<group>/<bench>/new/estimates.json`) and
/// prints the medians as one table, also written to `<target>/criterion/engine-medians.txt`.
fn print_medians() {
    let root = criterion_home();
    let mut rows = Vec::new();
    for group in ["pl1", "pl4", "pl1_form_body", "load"] {
        let Ok(entries) = std::fs::read_dir(root.join(group)) else { continue };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("new/estimates.json").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort_by_key(|n| (n.parse::<u64>().unwrap_or(u64::MAX), n.clone()));
        for n in names {
            let Ok(text) = std::fs::read_to_string(root.join(group).join(&n).join("new/estimates.json")) else { continue };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
            if let Some(ns) = v.pointer("/median/point_estimate").and_then(|x| x.as_f64()) {
                rows.push((format!("{group}/{n}"), ns));
            }
        }
    }
    if rows.is_empty() {
        return;
    }
    let mut out = String::from("\nengine medians (criterion, per whole transaction; load = parse + compile)\n");
    // For the body sizes: the marginal cost per byte between consecutive sizes (constant
    // when time grows linearly with the body).
    let mut prev: Option<(f64, f64)> = None;
    for (name, ns) in &rows {
        let extra = match name.strip_prefix("pl1_form_body/").and_then(|s| s.parse::<f64>().ok()) {
            Some(bytes) => {
                let e = match prev {
                    Some((b0, t0)) => format!("  (+{:.0} ns per added byte since {b0} B)", (ns - t0) / (bytes - b0)),
                    None => String::new(),
                };
                prev = Some((bytes, *ns));
                format!("  {:>6.2} MB/s{e}", bytes / ns * 1e3)
            }
            None => String::new(),
        };
        out.push_str(&format!("  {name:<28} {:>10}{extra}\n", fmt_ns(*ns)));
    }
    print!("{out}");
    let _ = std::fs::write(root.join("engine-medians.txt"), out);
}

/// VmRSS of this process in KB (0 where /proc is not available).
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}
