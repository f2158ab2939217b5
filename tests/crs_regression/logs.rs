//! Reading the gateway's error log the way go-ftw does (coreruleset/go-ftw `waflog/read.go`):
//!
//! * a marker is the last line (searching backwards, at most `max_lines` lines) that contains the
//!   marker header name, compared case-insensitively; it counts only if it also contains the
//!   stage's marker id; the marker is that line lower-cased;
//! * the log of a stage is read backwards from the end of the file: lines after the end marker
//!   (go-ftw keeps them too), then the lines up to the start marker, markers excluded;
//! * rule ids are the numbers matched by `\[id \\?"(\d+)\\?"\]|"id":\s*"?(\d+)"?` in those lines.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::OnceLock;

const CHUNK: u64 = 64 * 1024;

/// Reads a file's lines from the end towards the beginning (like icza/backscanner): the first
/// line returned is the text after the last newline (empty when the file ends with one).
pub struct BackScanner {
    file: File,
    pos: u64,
    buf: Vec<u8>,
    done: bool,
}

impl BackScanner {
    /// Scans `path` backwards from its current end.
    pub fn open(path: &Path) -> io::Result<BackScanner> {
        let file = File::open(path)?;
        let pos = file.metadata()?.len();
        Ok(BackScanner {
            file,
            pos,
            buf: Vec::new(),
            done: false,
        })
    }

    /// The previous line, or None at the beginning of the file.
    pub fn prev_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(i) = self.buf.iter().rposition(|&b| b == b'\n') {
                let line = self.buf.split_off(i + 1);
                self.buf.truncate(i);
                return Ok(Some(line));
            }
            if self.pos == 0 {
                if self.done {
                    return Ok(None);
                }
                self.done = true;
                return Ok(Some(std::mem::take(&mut self.buf)));
            }
            let size = CHUNK.min(self.pos);
            self.pos -= size;
            self.file.seek(SeekFrom::Start(self.pos))?;
            let mut chunk = vec![0u8; size as usize];
            self.file.read_exact(&mut chunk)?;
            chunk.extend_from_slice(&self.buf);
            self.buf = chunk;
        }
    }
}

/// go-ftw's `CheckLogForMarker`: the marker line (lower-cased) when the last line mentioning
/// `header_name` within `max_lines` lines from the end contains `marker_id`.
pub fn find_marker(
    path: &Path,
    header_name: &str,
    marker_id: &str,
    max_lines: usize,
) -> io::Result<Option<Vec<u8>>> {
    let mut scanner = match BackScanner::open(path) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let header = header_name.to_ascii_lowercase().into_bytes();
    let id = marker_id.to_ascii_lowercase().into_bytes();
    let mut counter = 0usize;
    loop {
        if counter > max_lines {
            return Ok(None);
        }
        counter += 1;
        let Some(line) = scanner.prev_line()? else {
            return Ok(None);
        };
        let lower = line.to_ascii_lowercase();
        if contains(&lower, &header) {
            return Ok(if contains(&lower, &id) {
                Some(lower)
            } else {
                None
            });
        }
    }
}

/// go-ftw's `getMarkedLines`: the stage's log lines, in file order.
pub fn window(path: &Path, start_marker: &[u8], end_marker: &[u8]) -> io::Result<Vec<Vec<u8>>> {
    let mut scanner = BackScanner::open(path)?;
    let mut lines = Vec::new();
    let mut end_found = false;
    while let Some(line) = scanner.prev_line()? {
        let lower = line.to_ascii_lowercase();
        if !end_found && lower == end_marker {
            end_found = true;
            continue;
        }
        if end_found && lower == start_marker {
            break;
        }
        lines.push(line);
    }
    lines.reverse();
    Ok(lines)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

fn id_regex() -> &'static regex::bytes::Regex {
    static RE: OnceLock<regex::bytes::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        regex::bytes::Regex::new(r#"\[id \\?"(\d+)\\?"\]|"id":\s*"?(\d+)"?"#)
            .unwrap_or_else(|e| panic!("rule id regex: {e}"))
    })
}

/// Rule ids mentioned in `lines` (go-ftw's `TriggeredRules`).
pub fn rule_ids(lines: &[Vec<u8>]) -> BTreeSet<u64> {
    let mut ids = BTreeSet::new();
    for line in lines {
        for caps in id_regex().captures_iter(line) {
            for group in [1, 2] {
                if let Some(m) = caps.get(group) {
                    if let Some(id) = std::str::from_utf8(m.as_bytes())
                        .ok()
                        .and_then(|s| s.parse().ok())
                    {
                        ids.insert(id);
                    }
                }
            }
        }
    }
    ids
}
