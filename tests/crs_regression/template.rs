//! The subset of Go's `text/template` (with sprig functions) that go-ftw evaluates in `data`
//! (coreruleset/go-ftw `test/data.go`). The CRS suite uses `{{ "1" | repeat 64200 }}`.
//!
//! Supported: text, `{{ ... }}` actions with `{{-`/`-}}` whitespace trimming, comments
//! `{{/* */}}`, string literals (`"..."` with Go escapes, `` `raw` ``), integers, pipelines
//! `a | f x`, and the functions `repeat N s`, `upper`, `lower`, `trim`, `print`. Anything else
//! is an error (go-ftw would silently send no body; this runner reports the test instead).

/// Expands the template in `data`. Text without `{{` is returned unchanged.
pub fn expand(data: &str) -> Result<String, String> {
    if !data.contains("{{") {
        return Ok(data.to_string());
    }
    let mut out = String::with_capacity(data.len());
    let mut rest = data;
    while let Some(open) = rest.find("{{") {
        let mut text = rest.get(..open).unwrap_or("");
        let after_open = rest.get(open + 2..).unwrap_or("");
        let (trim_left, after_open) = match after_open.strip_prefix("- ") {
            Some(a) => (true, a),
            None => match after_open
                .strip_prefix("-\t")
                .or_else(|| after_open.strip_prefix("-\n"))
            {
                Some(a) => (true, a),
                None => (false, after_open),
            },
        };
        if trim_left {
            text = text.trim_end();
        }
        out.push_str(text);
        let close = after_open
            .find("}}")
            .ok_or_else(|| "unclosed action in template".to_string())?;
        let mut action = after_open.get(..close).unwrap_or("");
        rest = after_open.get(close + 2..).unwrap_or("");
        let trim_right =
            action.ends_with(" -") || action.ends_with("\t-") || action.ends_with("\n-");
        if trim_right {
            action = action.get(..action.len() - 1).unwrap_or("");
            rest = rest.trim_start();
        }
        let action = action.trim();
        if action.starts_with("/*") && action.ends_with("*/") {
            continue;
        }
        out.push_str(&eval_pipeline(action)?);
    }
    out.push_str(rest);
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Int(i64),
}

impl Value {
    fn render(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Str(String),
    Int(i64),
    Ident(String),
    Pipe,
}

fn tokenize(action: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = action.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                chars.next();
            }
            '|' => {
                chars.next();
                tokens.push(Token::Pipe);
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated string literal".to_string()),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some('r') => s.push('\r'),
                            Some('\\') => s.push('\\'),
                            Some('"') => s.push('"'),
                            Some('\'') => s.push('\''),
                            Some('x') => {
                                let hex: String = chars.by_ref().take(2).collect();
                                let v = u8::from_str_radix(&hex, 16)
                                    .map_err(|_| format!("bad escape \\x{hex}"))?;
                                s.push(char::from(v));
                            }
                            other => return Err(format!("unsupported escape {other:?}")),
                        },
                        Some(other) => s.push(other),
                    }
                }
                tokens.push(Token::Str(s));
            }
            '`' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated raw string".to_string()),
                        Some('`') => break,
                        Some(other) => s.push(other),
                    }
                }
                tokens.push(Token::Str(s));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let mut s = String::new();
                while let Some(&d) = chars.peek() {
                    if d.is_ascii_digit() || (s.is_empty() && d == '-') {
                        s.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                let v = s.parse::<i64>().map_err(|_| format!("bad number {s:?}"))?;
                tokens.push(Token::Int(v));
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut s = String::new();
                while let Some(&d) = chars.peek() {
                    if d.is_alphanumeric() || d == '_' {
                        s.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Ident(s));
            }
            other => {
                return Err(format!(
                    "unsupported character {other:?} in template action"
                ))
            }
        }
    }
    Ok(tokens)
}

fn eval_pipeline(action: &str) -> Result<String, String> {
    let tokens = tokenize(action)?;
    let mut previous: Option<Value> = None;
    for command in tokens.split(|t| *t == Token::Pipe) {
        let (head, args) = command
            .split_first()
            .ok_or_else(|| "empty command in pipeline".to_string())?;
        let mut values: Vec<Value> = args
            .iter()
            .map(|t| match t {
                Token::Str(s) => Ok(Value::Str(s.clone())),
                Token::Int(i) => Ok(Value::Int(*i)),
                other => Err(format!("unsupported argument {other:?}")),
            })
            .collect::<Result<_, _>>()?;
        let result = match head {
            Token::Str(s) if values.is_empty() && previous.is_none() => Value::Str(s.clone()),
            Token::Int(i) if values.is_empty() && previous.is_none() => Value::Int(*i),
            Token::Ident(name) => {
                if let Some(p) = previous.take() {
                    values.push(p);
                }
                call(name, &values)?
            }
            other => return Err(format!("cannot evaluate {other:?}")),
        };
        previous = Some(result);
    }
    previous
        .map(|v| v.render())
        .ok_or_else(|| "empty action".to_string())
}

const MAX_EXPANSION: usize = 64 << 20;

fn call(name: &str, args: &[Value]) -> Result<Value, String> {
    let one_string = || match args {
        [Value::Str(s)] => Ok(s.clone()),
        [Value::Int(i)] => Ok(i.to_string()),
        _ => Err(format!("{name} takes one argument")),
    };
    match name {
        "repeat" => match args {
            [Value::Int(count), v] => {
                let s = v.render();
                let count = usize::try_from(*count).unwrap_or(0);
                if s.len().saturating_mul(count) > MAX_EXPANSION {
                    return Err("repeat result too large".to_string());
                }
                Ok(Value::Str(s.repeat(count)))
            }
            _ => Err("repeat takes a count and a string".to_string()),
        },
        "upper" => Ok(Value::Str(one_string()?.to_uppercase())),
        "lower" => Ok(Value::Str(one_string()?.to_lowercase())),
        "trim" => Ok(Value::Str(one_string()?.trim().to_string())),
        "print" => Ok(Value::Str(args.iter().map(Value::render).collect())),
        other => Err(format!("unsupported template function {other:?}")),
    }
}
