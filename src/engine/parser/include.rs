//! Loading a configuration file and expanding `Include` / `IncludeOptional`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::super::ast::{Directive, DirectiveKind, ParseError, SourceLoc};
use super::text::decode;

/// How deep `Include`s may nest (the top file is depth 1).
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// The files being loaded, outermost first, to detect cycles.
struct Chain {
    canonical: Vec<PathBuf>,
    shown: Vec<String>,
}

pub(super) fn load(path: &Path) -> Result<Vec<Directive>, ParseError> {
    let mut chain = Chain {
        canonical: Vec::new(),
        shown: Vec::new(),
    };
    let mut out = Vec::new();
    load_into(path, None, &mut chain, &mut out)?;
    Ok(out)
}

/// Error located at the `Include` that asked for `path`, or at `path` itself (line 0,
/// column 0: no position) for the top file.
fn load_error(path: &Path, from: Option<&Directive>, message: String) -> ParseError {
    match from {
        Some(d) => ParseError {
            loc: d.loc.clone(),
            directive: Some(d.name.clone()),
            message,
        },
        None => ParseError {
            loc: SourceLoc::new(path.to_string_lossy().into(), 0, 0),
            directive: None,
            message,
        },
    }
}

fn load_into(
    path: &Path,
    from: Option<&Directive>,
    chain: &mut Chain,
    out: &mut Vec<Directive>,
) -> Result<(), ParseError> {
    let shown = path.to_string_lossy().into_owned();
    if chain.canonical.len() >= MAX_INCLUDE_DEPTH {
        return Err(load_error(
            path,
            from,
            format!("includes nested deeper than {MAX_INCLUDE_DEPTH} levels (at '{shown}')"),
        ));
    }
    let canonical = std::fs::canonicalize(path)
        .map_err(|e| load_error(path, from, format!("cannot open '{shown}': {e}")))?;
    if chain.canonical.contains(&canonical) {
        let mut cycle = chain.shown.join(" -> ");
        cycle.push_str(" -> ");
        cycle.push_str(&shown);
        return Err(load_error(path, from, format!("include cycle: {cycle}")));
    }
    if canonical.is_dir() {
        return Err(load_error(
            path,
            from,
            format!("'{shown}' is a directory, not a file"),
        ));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| load_error(path, from, format!("cannot read '{shown}': {e}")))?;
    let file: Arc<str> = shown.as_str().into();
    let text = decode(&bytes, &file)?;
    let directives = super::parse_str(&text, file)?;

    chain.canonical.push(canonical);
    chain.shown.push(shown);
    for d in directives {
        let optional = d.name.eq_ignore_ascii_case("IncludeOptional");
        if optional || d.name.eq_ignore_ascii_case("Include") {
            expand(&d, optional, chain, out)?;
        } else {
            out.push(d);
        }
    }
    chain.canonical.pop();
    chain.shown.pop();
    Ok(())
}

/// Expands one `Include`/`IncludeOptional` directive in place.
fn expand(
    d: &Directive,
    optional: bool,
    chain: &mut Chain,
    out: &mut Vec<Directive>,
) -> Result<(), ParseError> {
    let arg = match &d.kind {
        DirectiveKind::Config { args } => args.first().map(String::as_str).unwrap_or(""),
        _ => "",
    };
    let err = |message: String| ParseError {
        loc: d.loc.clone(),
        directive: Some(d.name.clone()),
        message,
    };
    if arg.is_empty() {
        return Err(err("missing file path".to_owned()));
    }
    let base = Path::new(&*d.loc.file)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let target = Path::new(arg);

    if !arg.contains(['*', '?', '[']) {
        let full = if target.is_absolute() {
            target.to_path_buf()
        } else {
            base.join(target)
        };
        if !full.exists() {
            if optional {
                return Ok(());
            }
            return Err(err(format!("file not found: '{}'", full.display())));
        }
        return load_into(&full, Some(d), chain, out);
    }

    // A glob: the including file's directory is literal text, the argument a pattern.
    let pattern = if target.is_absolute() || base.as_os_str().is_empty() {
        arg.to_owned()
    } else {
        let mut dir = glob::Pattern::escape(&base.to_string_lossy());
        if !dir.ends_with('/') {
            dir.push('/');
        }
        dir.push_str(arg);
        dir
    };
    let entries =
        glob::glob(&pattern).map_err(|e| err(format!("invalid file pattern '{pattern}': {e}")))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| err(format!("cannot read '{pattern}': {e}")))?;
        if path.is_file() {
            files.push(path);
        }
    }
    if files.is_empty() {
        if optional {
            return Ok(());
        }
        return Err(err(format!("no file matches '{pattern}'")));
    }
    files.sort();
    for f in &files {
        load_into(f, Some(d), chain, out)?;
    }
    Ok(())
}
