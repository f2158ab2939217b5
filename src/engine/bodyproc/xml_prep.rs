//! Input preparation for the XML processor, before `roxmltree` sees the document:
//!
//! 1. Character encoding: libxml2 honours a BOM and the XML declaration's `encoding`;
//!    `roxmltree` only takes UTF-8 text. UTF-16 (with BOM), ISO-8859-1 / US-ASCII and
//!    windows-1252 are converted; anything else must be UTF-8.
//! 2. Nesting guard: `roxmltree`'s tokenizer recurses once per open element, so a deeply
//!    nested body could overflow the stack. A linear scan bounds the element depth first
//!    (in the document and in each entity value of the internal DTD subset) and rejects the
//!    document above the limit, like libxml2's own depth limit.
//! 3. libxml2 leniency: libxml2 (as v3 runs it: no entity substitution, no DTD loading)
//!    accepts references to external entities, parameter-entity references in the internal
//!    subset, and, when the document has an external subset or parameter-entity
//!    references (and is not `standalone="yes"`), references to undeclared entities; all of
//!    them contribute nothing to the text content. `roxmltree` rejects them, so the text is
//!    rewritten: external general entities become empty internal ones, parameter-entity
//!    references are blanked, and undeclared entities get an empty declaration. Nothing is
//!    ever fetched.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

/// Why a body was rejected before parsing.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum PrepError {
    /// Not decodable in its declared / detected encoding.
    Encoding,
    /// Element nesting deeper than allowed.
    TooDeep,
    /// A DOCTYPE this scanner cannot follow.
    Dtd,
}

/// Decodes the body to UTF-8 text.
pub(super) fn decode(body: &[u8]) -> Result<Cow<'_, str>, PrepError> {
    if let Some(rest) = body.strip_prefix(b"\xef\xbb\xbf") {
        return std::str::from_utf8(rest)
            .map(Cow::Borrowed)
            .map_err(|_| PrepError::Encoding);
    }
    if let Some(rest) = body.strip_prefix(b"\xff\xfe") {
        return decode_utf16(rest, u16::from_le_bytes);
    }
    if let Some(rest) = body.strip_prefix(b"\xfe\xff") {
        return decode_utf16(rest, u16::from_be_bytes);
    }
    match declared_encoding(body).as_deref() {
        Some(
            b"iso-8859-1" | b"iso8859-1" | b"iso_8859-1" | b"latin1" | b"latin-1" | b"l1"
            | b"us-ascii" | b"ascii",
        ) => Ok(Cow::Owned(body.iter().map(|&b| b as char).collect())),
        Some(b"windows-1252" | b"cp1252") => {
            let mut s = String::with_capacity(body.len());
            for &b in body {
                s.push(cp1252(b).ok_or(PrepError::Encoding)?);
            }
            Ok(Cow::Owned(s))
        }
        _ => std::str::from_utf8(body)
            .map(Cow::Borrowed)
            .map_err(|_| PrepError::Encoding),
    }
}

fn decode_utf16(rest: &[u8], conv: fn([u8; 2]) -> u16) -> Result<Cow<'static, str>, PrepError> {
    if !rest.len().is_multiple_of(2) {
        return Err(PrepError::Encoding);
    }
    let units = rest.chunks_exact(2).map(|c| conv([c[0], c[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map(Cow::Owned)
        .map_err(|_| PrepError::Encoding)
}

/// The lower-cased `encoding` of a leading XML declaration.
fn declared_encoding(body: &[u8]) -> Option<Vec<u8>> {
    if !body.starts_with(b"<?xml") {
        return None;
    }
    let decl_end = memchr::memmem::find(body.get(..body.len().min(512))?, b"?>")?;
    let decl = &body[..decl_end];
    let at = memchr::memmem::find(decl, b"encoding")?;
    let rest = &decl[at + 8..];
    let rest = &rest[rest.iter().position(|&c| c == b'=')? + 1..];
    let rest = trim_start(rest);
    let quote = *rest.first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let value = &rest[1..];
    let end = memchr::memchr(quote, value)?;
    Some(value[..end].to_ascii_lowercase())
}

/// windows-1252 byte to char (`None` for the five undefined bytes).
fn cp1252(b: u8) -> Option<char> {
    const HIGH: [u16; 32] = [
        0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039,
        0x0152, 0, 0x017d, 0, 0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc,
        0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
    ];
    match b {
        0x80..=0x9f => {
            let cp = HIGH[(b - 0x80) as usize];
            if cp == 0 {
                None
            } else {
                char::from_u32(cp as u32)
            }
        }
        _ => Some(b as char),
    }
}

/// Checks the nesting depth and applies the libxml2-compatibility rewrites.
pub(super) fn prepare(text: &str, max_depth: usize) -> Result<Cow<'_, str>, PrepError> {
    let bytes = text.as_bytes();
    let mut scan = Scan {
        bytes,
        max_depth,
        refs: BTreeSet::new(),
        dtd: None,
        values: HashMap::new(),
        entity_depths: HashMap::new(),
    };
    scan.document()?;
    let Some(dtd) = scan.dtd.take() else {
        return Ok(Cow::Borrowed(text));
    };
    let lenient = (dtd.external_subset || dtd.pe_refs) && !standalone_yes(bytes);
    let mut added: Vec<&[u8]> = Vec::new();
    if lenient {
        for name in &scan.refs {
            let n = name.as_slice();
            if !PREDEFINED.contains(&n) && !dtd.declared.contains(n) && is_simple_name(n) {
                added.push(n);
            }
        }
    }
    if dtd.edits.is_empty() && added.is_empty() {
        return Ok(Cow::Borrowed(text));
    }

    let mut out = String::with_capacity(text.len() + 32 * added.len());
    let mut pos = 0usize;
    for edit in &dtd.edits {
        out.push_str(text.get(pos..edit.start).ok_or(PrepError::Dtd)?);
        out.push_str(edit.with);
        pos = edit.end;
    }
    // Declarations for undeclared entities go at the end of the internal subset, or in a
    // new one.
    out.push_str(text.get(pos..dtd.insert_at).ok_or(PrepError::Dtd)?);
    pos = dtd.insert_at;
    if !added.is_empty() {
        if !dtd.has_subset {
            out.push_str(" [");
        }
        for name in &added {
            out.push_str("<!ENTITY ");
            out.push_str(std::str::from_utf8(name).map_err(|_| PrepError::Dtd)?);
            out.push_str(" \"\">");
        }
        if !dtd.has_subset {
            out.push(']');
        }
    }
    out.push_str(text.get(pos..).ok_or(PrepError::Dtd)?);
    Ok(Cow::Owned(out))
}

const PREDEFINED: [&[u8]; 5] = [b"lt", b"gt", b"amp", b"apos", b"quot"];

/// Entity names we are willing to declare: ASCII name characters or non-ASCII bytes.
fn is_simple_name(n: &[u8]) -> bool {
    let Some(&first) = n.first() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == b'_' || first == b':' || first >= 0x80)
        && n.iter().all(|&c| {
            c.is_ascii_alphanumeric() || matches!(c, b'_' | b':' | b'.' | b'-') || c >= 0x80
        })
}

fn standalone_yes(bytes: &[u8]) -> bool {
    if !bytes.starts_with(b"<?xml") {
        return false;
    }
    let Some(end) = memchr::memmem::find(bytes, b"?>") else {
        return false;
    };
    let decl = &bytes[..end];
    memchr::memmem::find(decl, b"standalone").is_some_and(|i| {
        let rest = trim_start(decl[i + 10..].strip_prefix(b"=").unwrap_or(&decl[i + 10..]));
        let rest = trim_start(rest.strip_prefix(b"=").unwrap_or(rest));
        rest.starts_with(b"\"yes\"") || rest.starts_with(b"'yes'")
    })
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &s[n..]
}

/// A replacement of `start..end` by `with`.
struct Edit {
    start: usize,
    end: usize,
    with: &'static str,
}

/// What the DOCTYPE scan found.
struct Dtd {
    external_subset: bool,
    pe_refs: bool,
    has_subset: bool,
    /// Where new entity declarations go (before the subset's `]`, or before the DOCTYPE's
    /// `>` when there is no subset).
    insert_at: usize,
    declared: BTreeSet<Vec<u8>>,
    edits: Vec<Edit>,
}

struct Scan<'a> {
    bytes: &'a [u8],
    max_depth: usize,
    /// Entity names referenced in the document (`&name;`).
    refs: BTreeSet<Vec<u8>>,
    dtd: Option<Dtd>,
    /// Internal general entities: name -> replacement text (first declaration wins).
    values: HashMap<Vec<u8>, Range<usize>>,
    /// Memo: element nesting an entity reference adds once fully expanded.
    entity_depths: HashMap<Vec<u8>, usize>,
}

impl Scan<'_> {
    /// Scans the whole document: markup, element depth, entity references.
    fn document(&mut self) -> Result<(), PrepError> {
        let bytes = self.bytes;
        let mut depth = 0usize;
        let mut pos = 0usize;
        while let Some(off) = memchr::memchr(b'<', &bytes[pos..]) {
            self.collect_refs(pos, pos + off);
            self.check_text_refs(pos, pos + off, depth)?;
            let lt = pos + off;
            let rest = &bytes[lt..];
            if rest.starts_with(b"<!--") {
                let Some(e) = find(bytes, lt + 4, b"-->") else {
                    return Ok(());
                };
                pos = e + 3;
            } else if rest.starts_with(b"<![CDATA[") {
                let Some(e) = find(bytes, lt + 9, b"]]>") else {
                    return Ok(());
                };
                pos = e + 3;
            } else if rest.starts_with(b"<?") {
                let Some(e) = find(bytes, lt + 2, b"?>") else {
                    return Ok(());
                };
                pos = e + 2;
            } else if rest.starts_with(b"<!DOCTYPE") && self.dtd.is_none() && depth == 0 {
                pos = self.doctype(lt)?;
            } else if rest.starts_with(b"<!") {
                // roxmltree rejects any other markup declaration here: nothing more to scan.
                return Ok(());
            } else if rest.starts_with(b"</") {
                let Some(e) = memchr::memchr(b'>', &bytes[lt..]) else {
                    return Ok(());
                };
                depth = depth.saturating_sub(1);
                pos = lt + e + 1;
            } else {
                let Some((end, self_closing)) = self.start_tag(lt) else {
                    return Ok(());
                };
                if !self_closing {
                    depth += 1;
                    if depth > self.max_depth {
                        return Err(PrepError::TooDeep);
                    }
                }
                pos = end;
            }
        }
        self.collect_refs(pos, bytes.len());
        self.check_text_refs(pos, bytes.len(), depth)
    }

    /// Entity references in character data at element depth `depth`: their expansion must
    /// not nest deeper than allowed either.
    fn check_text_refs(&mut self, from: usize, to: usize, depth: usize) -> Result<(), PrepError> {
        if self.values.is_empty() {
            return Ok(());
        }
        let Some(seg) = self.bytes.get(from..to) else {
            return Ok(());
        };
        for (name_at, name_len) in entity_refs(seg) {
            let name = &seg[name_at..name_at + name_len];
            if depth + self.entity_depth(name, 0)? > self.max_depth {
                return Err(PrepError::TooDeep);
            }
        }
        Ok(())
    }

    /// Element nesting produced by expanding entity `name` (0 when it is not an internal
    /// entity). Expansion chains longer than roxmltree's 10 levels fail there anyway and
    /// are refused here, which also bounds this recursion.
    fn entity_depth(&mut self, name: &[u8], level: usize) -> Result<usize, PrepError> {
        if let Some(&d) = self.entity_depths.get(name) {
            return Ok(d);
        }
        let Some(range) = self.values.get(name).cloned() else {
            return Ok(0);
        };
        if level > 10 {
            return Err(PrepError::TooDeep);
        }
        let bytes = self.bytes;
        let (local_max, refs) = fragment_scan(bytes.get(range).unwrap_or(&[]));
        let mut total = local_max;
        for (at_depth, r) in refs {
            let d = at_depth + self.entity_depth(r, level + 1)?;
            total = total.max(d);
            if total > self.max_depth {
                return Err(PrepError::TooDeep);
            }
        }
        self.entity_depths.insert(name.to_vec(), total);
        Ok(total)
    }

    /// A start tag at `lt`: returns the position after its `>` and whether it is `/>`,
    /// recording the entity references of its attribute values.
    fn start_tag(&mut self, lt: usize) -> Option<(usize, bool)> {
        let end = tag_end(self.bytes, lt)?;
        self.collect_refs(lt, end.0);
        Some(end)
    }

    /// Records `&name;` references in `bytes[from..to]`.
    /// Only needed when undeclared entities are tolerated (the DOCTYPE, which precedes
    /// all content, has an external subset or parameter-entity references).
    fn collect_refs(&mut self, from: usize, to: usize) {
        if !self
            .dtd
            .as_ref()
            .is_some_and(|d| d.external_subset || d.pe_refs)
        {
            return;
        }
        let Some(seg) = self.bytes.get(from..to) else {
            return;
        };
        for amp in memchr::memchr_iter(b'&', seg) {
            let rest = &seg[amp + 1..];
            if rest.first() == Some(&b'#') {
                continue;
            }
            if let Some(semi) = memchr::memchr(b';', rest) {
                let name = &rest[..semi];
                if !name.is_empty() && name.len() <= 256 && self.refs.len() < 10_000 {
                    self.refs.insert(name.to_vec());
                }
            }
        }
    }

    /// Scans `<!DOCTYPE ...>` at `lt`; returns the position after it.
    fn doctype(&mut self, lt: usize) -> Result<usize, PrepError> {
        let bytes = self.bytes;
        let mut i = skip_ws(bytes, lt + 9);
        i = skip_name(bytes, i).ok_or(PrepError::Dtd)?;
        i = skip_ws(bytes, i);
        let mut dtd = Dtd {
            external_subset: false,
            pe_refs: false,
            has_subset: false,
            insert_at: 0,
            declared: BTreeSet::new(),
            edits: Vec::new(),
        };
        if bytes[i..].starts_with(b"SYSTEM") || bytes[i..].starts_with(b"PUBLIC") {
            dtd.external_subset = true;
            i = skip_external_id(bytes, i).ok_or(PrepError::Dtd)?;
            i = skip_ws(bytes, i);
        }
        if bytes.get(i) == Some(&b'[') {
            dtd.has_subset = true;
            i = self.internal_subset(i + 1, &mut dtd)?;
            // At `]`.
            dtd.insert_at = i;
            i = skip_ws(bytes, i + 1);
        } else {
            dtd.insert_at = i;
        }
        if bytes.get(i) != Some(&b'>') {
            return Err(PrepError::Dtd);
        }
        self.dtd = Some(dtd);
        Ok(i + 1)
    }

    /// Scans the internal subset from `i`; returns the position of its closing `]`.
    fn internal_subset(&mut self, mut i: usize, dtd: &mut Dtd) -> Result<usize, PrepError> {
        let bytes = self.bytes;
        loop {
            i = skip_ws(bytes, i);
            let rest = bytes.get(i..).ok_or(PrepError::Dtd)?;
            if rest.is_empty() {
                return Err(PrepError::Dtd);
            }
            if rest[0] == b']' {
                return Ok(i);
            } else if rest.starts_with(b"<!--") {
                i = find(bytes, i + 4, b"-->").ok_or(PrepError::Dtd)? + 3;
            } else if rest.starts_with(b"<?") {
                i = find(bytes, i + 2, b"?>").ok_or(PrepError::Dtd)? + 2;
            } else if rest[0] == b'%' {
                let end = skip_name(bytes, i + 1).ok_or(PrepError::Dtd)?;
                if bytes.get(end) != Some(&b';') {
                    return Err(PrepError::Dtd);
                }
                dtd.pe_refs = true;
                dtd.edits.push(Edit {
                    start: i,
                    end: end + 1,
                    with: " ",
                });
                i = end + 1;
            } else if rest.starts_with(b"<!ENTITY") {
                i = self.entity_decl(i, dtd)?;
            } else if rest.starts_with(b"<!") {
                // ELEMENT, ATTLIST, NOTATION: skip to `>` outside quotes.
                i = skip_decl(bytes, i + 2).ok_or(PrepError::Dtd)?;
            } else {
                return Err(PrepError::Dtd);
            }
        }
    }

    /// `<!ENTITY [%] name (literal | ExternalID [NDATA name]) >` at `lt`.
    fn entity_decl(&mut self, lt: usize, dtd: &mut Dtd) -> Result<usize, PrepError> {
        let bytes = self.bytes;
        let mut i = skip_ws(bytes, lt + 8);
        let parameter = bytes.get(i) == Some(&b'%');
        if parameter {
            i = skip_ws(bytes, i + 1);
        }
        let name_start = i;
        i = skip_name(bytes, i).ok_or(PrepError::Dtd)?;
        let name = &bytes[name_start..i];
        i = skip_ws(bytes, i);
        match bytes.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                let close = i + 1 + memchr::memchr(q, &bytes[i + 1..]).ok_or(PrepError::Dtd)?;
                if !parameter {
                    // Entity values may contain markup: its nesting is checked where the
                    // entity is used.
                    self.values.entry(name.to_vec()).or_insert(i + 1..close);
                    dtd.declared.insert(name.to_vec());
                }
                i = close + 1;
            }
            Some(b'S' | b'P') => {
                let id_start = i;
                i = skip_external_id(bytes, i).ok_or(PrepError::Dtd)?;
                let mut id_end = i;
                let j = skip_ws(bytes, i);
                if bytes[j..].starts_with(b"NDATA") {
                    i = skip_name(bytes, skip_ws(bytes, j + 5)).ok_or(PrepError::Dtd)?;
                    id_end = i;
                }
                if !parameter {
                    // Not fetched: an empty replacement text, as libxml2 leaves it.
                    dtd.declared.insert(name.to_vec());
                    dtd.edits.push(Edit {
                        start: id_start,
                        end: id_end,
                        with: "\"\"",
                    });
                }
            }
            _ => return Err(PrepError::Dtd),
        }
        i = skip_ws(bytes, i);
        if bytes.get(i) != Some(&b'>') {
            return Err(PrepError::Dtd);
        }
        Ok(i + 1)
    }
}

/// Scans a markup fragment (an entity's replacement text): its maximum element nesting,
/// and the entity references in its character data with the nesting they occur at.
fn fragment_scan(frag: &[u8]) -> (usize, Vec<(usize, &[u8])>) {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut refs = Vec::new();
    let mut pos = 0usize;
    loop {
        let next_lt = memchr::memchr(b'<', &frag[pos..]).map(|off| pos + off);
        let text_end = next_lt.unwrap_or(frag.len());
        for (at, len) in entity_refs(&frag[pos..text_end]) {
            refs.push((depth, &frag[pos + at..pos + at + len]));
        }
        let Some(lt) = next_lt else { break };
        let rest = &frag[lt..];
        let skip_to = |pat: &[u8], from: usize| find(frag, from, pat).map(|e| e + pat.len());
        let next = if rest.starts_with(b"<!--") {
            skip_to(b"-->", lt + 4)
        } else if rest.starts_with(b"<![CDATA[") {
            skip_to(b"]]>", lt + 9)
        } else if rest.starts_with(b"<?") {
            skip_to(b"?>", lt + 2)
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            memchr::memchr(b'>', rest).map(|e| lt + e + 1)
        } else {
            let end = tag_end(frag, lt);
            if !end.is_some_and(|(_, self_closing)| self_closing) {
                depth += 1;
                max = max.max(depth);
            }
            end.map(|(e, _)| e)
        };
        match next {
            Some(n) => pos = n,
            None => break,
        }
    }
    (max, refs)
}

/// `&name;` general entity references in character data: (offset, length) of each name.
fn entity_refs(seg: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    memchr::memchr_iter(b'&', seg).filter_map(move |amp| {
        let rest = &seg[amp + 1..];
        if rest.first() == Some(&b'#') {
            return None;
        }
        let semi = memchr::memchr(b';', rest)?;
        (semi > 0).then_some((amp + 1, semi))
    })
}

/// The end of the start tag at `lt` (position after `>`) and whether it is `/>`; `>`
/// inside a quoted attribute value does not end the tag.
fn tag_end(bytes: &[u8], lt: usize) -> Option<(usize, bool)> {
    let mut i = lt + 1;
    loop {
        match *bytes.get(i)? {
            b'>' => return Some((i + 1, i > lt + 1 && bytes.get(i - 1) == Some(&b'/'))),
            q @ (b'"' | b'\'') => i = i + 1 + memchr::memchr(q, bytes.get(i + 1..)?)? + 1,
            _ => i += 1,
        }
    }
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay.get(from..)?, needle).map(|i| from + i)
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while bytes
        .get(i)
        .is_some_and(|&c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
    {
        i += 1;
    }
    i
}

/// Skips an XML name (ASCII name characters and any non-ASCII byte).
fn skip_name(bytes: &[u8], i: usize) -> Option<usize> {
    let n = bytes
        .get(i..)?
        .iter()
        .take_while(|&&c| {
            c.is_ascii_alphanumeric() || matches!(c, b'_' | b':' | b'.' | b'-') || c >= 0x80
        })
        .count();
    if n == 0 {
        None
    } else {
        Some(i + n)
    }
}

/// Skips `SYSTEM "lit"` or `PUBLIC "lit" "lit"`.
fn skip_external_id(bytes: &[u8], i: usize) -> Option<usize> {
    let literals = if bytes.get(i..)?.starts_with(b"SYSTEM") {
        1
    } else if bytes.get(i..)?.starts_with(b"PUBLIC") {
        2
    } else {
        return None;
    };
    let mut i = i + 6;
    for _ in 0..literals {
        i = skip_ws(bytes, i);
        let q = *bytes.get(i)?;
        if q != b'"' && q != b'\'' {
            return None;
        }
        i = i + 1 + memchr::memchr(q, bytes.get(i + 1..)?)? + 1;
    }
    Some(i)
}

/// Skips a markup declaration body up to and including its `>`, honouring quotes.
fn skip_decl(bytes: &[u8], mut i: usize) -> Option<usize> {
    loop {
        match *bytes.get(i)? {
            b'>' => return Some(i + 1),
            q @ (b'"' | b'\'') => i = i + 1 + memchr::memchr(q, bytes.get(i + 1..)?)? + 1,
            _ => i += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(decode(b"<a>x</a>").unwrap(), "<a>x</a>");
        assert_eq!(decode(b"\xef\xbb\xbf<a/>").unwrap(), "<a/>");
        assert_eq!(decode(b"\xff\xfe<\0a\0/\0>\0").unwrap(), "<a/>");
        assert_eq!(decode(b"\xfe\xff\0<\0a\0/\0>").unwrap(), "<a/>");
        assert_eq!(decode(b"\xff\xfe<\0a").unwrap_err(), PrepError::Encoding);
        assert_eq!(
            decode(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>\xe9</a>").unwrap(),
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>é</a>"
        );
        assert!(
            decode(b"<?xml version='1.0' encoding='windows-1252'?><a>\x80</a>")
                .unwrap()
                .ends_with("<a>€</a>")
        );
        assert_eq!(
            decode(b"<?xml version='1.0' encoding='windows-1252'?><a>\x81</a>").unwrap_err(),
            PrepError::Encoding
        );
        assert_eq!(decode(b"<a>\xe9</a>").unwrap_err(), PrepError::Encoding);
    }

    #[test]
    fn depth_guard() {
        let ok = "<a>".repeat(10) + &"</a>".repeat(10);
        assert!(prepare(&ok, 10).is_ok());
        assert_eq!(prepare(&ok, 9).unwrap_err(), PrepError::TooDeep);
        // Self-closing tags, quotes and comments do not nest.
        let flat =
            "<r>".to_string() + &"<b x='>'/>".repeat(100) + "<!-- <c> -->" + "<![CDATA[<d>]]></r>";
        assert!(prepare(&flat, 2).is_ok());
        // Entity expansion counts where the entity is used, through reference chains.
        let ent = format!(
            "<!DOCTYPE r [<!ENTITY e \"{}\">]><r>&e;</r>",
            "<a>".repeat(5) + &"</a>".repeat(5)
        );
        assert!(prepare(&ent, 6).is_ok());
        assert_eq!(prepare(&ent, 5).unwrap_err(), PrepError::TooDeep);
        let chain = "<!DOCTYPE r [<!ENTITY e2 \"<b><c/></b>\"><!ENTITY e1 \"<a>&e2;</a>\">]><r>&e1;&e1;</r>";
        // r > a > b (c is empty).
        assert!(prepare(chain, 3).is_ok());
        assert_eq!(prepare(chain, 2).unwrap_err(), PrepError::TooDeep);
        // Unused deep entities do not matter.
        let unused = format!("<!DOCTYPE r [<!ENTITY e \"{}\">]><r/>", "<a>".repeat(50));
        assert!(prepare(&unused, 2).is_ok());
        // Self-referencing entities are bounded (roxmltree rejects them).
        let lp = "<!DOCTYPE r [<!ENTITY a \"<x>&a;</x>\">]><r>&a;</r>";
        assert_eq!(prepare(lp, 100).unwrap_err(), PrepError::TooDeep);
        // A quote in a DTD comment does not hide the elements after it.
        let tricky = "<!DOCTYPE r [<!-- it's -->]>".to_string() + &"<a>".repeat(20);
        assert_eq!(prepare(&tricky, 10).unwrap_err(), PrepError::TooDeep);
    }

    #[test]
    fn external_entities_become_empty() {
        let doc = r#"<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>"#;
        assert_eq!(
            prepare(doc, 100).unwrap(),
            r#"<!DOCTYPE foo [<!ENTITY xxe "">]><foo>&xxe;</foo>"#
        );
        let doc = r#"<!DOCTYPE foo [<!ENTITY % p SYSTEM "http://x/evil.dtd"> %p;]><foo>&u;</foo>"#;
        assert_eq!(
            prepare(doc, 100).unwrap(),
            r#"<!DOCTYPE foo [<!ENTITY % p SYSTEM "http://x/evil.dtd">  <!ENTITY u "">]><foo>&u;</foo>"#
        );
        let doc = r#"<!DOCTYPE foo SYSTEM "x.dtd"><foo a="&v;">&u;&amp;&#65;</foo>"#;
        assert_eq!(
            prepare(doc, 100).unwrap(),
            r#"<!DOCTYPE foo SYSTEM "x.dtd" [<!ENTITY u ""><!ENTITY v "">]><foo a="&v;">&u;&amp;&#65;</foo>"#
        );
        // Without an external subset or PE references, undeclared entities stay errors.
        let doc = "<!DOCTYPE foo [<!ENTITY a \"b\">]><foo>&u;</foo>";
        assert_eq!(prepare(doc, 100).unwrap(), doc);
        // standalone="yes" makes them errors too.
        let doc =
            "<?xml version=\"1.0\" standalone=\"yes\"?><!DOCTYPE foo SYSTEM \"x\"><foo>&u;</foo>";
        assert_eq!(prepare(doc, 100).unwrap(), doc);
    }

    #[test]
    fn malformed_dtd_is_rejected() {
        assert_eq!(
            prepare("<!DOCTYPE foo [<!ENTITY a \"b\"><a>", 100).unwrap_err(),
            PrepError::Dtd
        );
        assert_eq!(prepare("<!DOCTYPE foo [", 100).unwrap_err(), PrepError::Dtd);
        assert_eq!(prepare("<!DOCTYPE", 100).unwrap_err(), PrepError::Dtd);
    }
}
