//! Property-style robustness test: random and mutated inputs through every parser must
//! never panic (a tiny xorshift generator, no extra crates).

use super::*;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Seeds that exercise each parser's interesting paths, to be mutated.
const SEEDS: &[&[u8]] = &[
    b"------b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n------b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nfile\r\n------b--\r\n",
    b"------b\nContent-Disposition: form-data;\n name='a'; filename*=UTF-8''x%41\n\n--\"----b\"\n------b--",
    br#"{"a":[1,2.5e3,{"b":null,"c":"\ud83d\ude00\u0000"}],"":true}"#,
    br#"[[[["x\"\\\/\b\f\n\r\t"]]]]"#,
    b"<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY e \"v\"><!ENTITY x SYSTEM \"f\">]><r a=\"&e;\"><b>t<![CDATA[c]]></b><!--c--><?p d?></r>",
    b"a=1&b=%41%zz+c&&=&d",
    b"session=abc; $Version=1;  x = \"q\" ;;=z",
];

const ALPHABET: &[u8] = b"-\r\n\"'=;:&%<>/[]{},\\ \t\0abx0123456789\xc3\xa9\xff?!*@";

fn mutate(rng: &mut XorShift, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..=rng.below(8) {
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = ALPHABET[rng.below(ALPHABET.len())];
            }
            1 => {
                let i = rng.below(v.len() + 1);
                v.insert(i, ALPHABET[rng.below(ALPHABET.len())]);
            }
            2 if !v.is_empty() => {
                let i = rng.below(v.len());
                v.remove(i);
            }
            3 if !v.is_empty() => {
                let i = rng.below(v.len());
                v.truncate(i);
            }
            _ => {
                let i = rng.below(v.len() + 1);
                let j = rng.below(v.len() + 1);
                let (a, b) = (i.min(j), i.max(j));
                let chunk = v[a..b].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, chunk);
            }
        }
    }
    v
}

fn random_bytes(rng: &mut XorShift) -> Vec<u8> {
    let len = rng.below(300);
    (0..len)
        .map(|_| {
            if rng.below(2) == 0 {
                ALPHABET[rng.below(ALPHABET.len())]
            } else {
                rng.next() as u8
            }
        })
        .collect()
}

fn exercise(input: &[u8], limits: &Limits) {
    let mut out = Vec::new();
    let _ = urlencoded::parse(input, b'&', limits, &mut out);
    let _ = urlencoded::parse(input, b';', limits, &mut out);
    cookies::parse(input, &mut out);
    out.clear();
    let _ = json::parse(input, limits, &mut out);
    let r = multipart::parse(input, b"multipart/form-data; boundary=----b", limits);
    for f in &r.files {
        let _ = f.content(input);
    }
    let _ = multipart::parse(input, b"multipart/form-data; boundary=\"----b\"", limits);
    let _ = multipart::parse(b"------b--", input, limits);
    if let Ok(doc) = xml::parse(input, limits) {
        let mut vals = Vec::new();
        for e in ["/*", "//@*", "//*", "//text()", "/r/b/..", "//@a/..", "/"] {
            let _ = doc.xpath(e, &mut vals);
        }
    }
    if let Ok(s) = std::str::from_utf8(input) {
        let _ = xml::validate_xpath(s);
    }
    let _ = processor_for_content_type(input);
}

#[test]
fn random_inputs_never_panic() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let limits = Limits {
        max_args: 50,
        max_depth: 20,
        max_files: 2,
    };
    let default_limits = Limits::default();
    for round in 0..6000 {
        let input = if round % 3 == 0 {
            random_bytes(&mut rng)
        } else {
            let seed = SEEDS[rng.below(SEEDS.len())];
            mutate(&mut rng, seed)
        };
        exercise(&input, &limits);
        exercise(&input, &default_limits);
    }
}

#[test]
fn every_prefix_of_the_seeds_never_panics() {
    let limits = Limits::default();
    for seed in SEEDS {
        for end in 0..=seed.len() {
            exercise(&seed[..end], &limits);
        }
    }
}
