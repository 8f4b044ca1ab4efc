//! OpenPrompt's template syntax: `{"placeholder":"text_a"} It was {"mask"}.`, read with a tiny
//! reader for the Python dict and set literals inside `{…}`.

use std::collections::HashMap;

use super::super::{
    Field, PostProcess, STRIP_CHARS, Segment, SoftTokens, Syntax, Template, field_name_problem,
    template_error as err,
};
use super::{Builder, MAX_SOFT_TOKENS, check_literal_masks};
use crate::error::{Error, Result};

/// The OpenPrompt keys understood here, for messages.
const KNOWN_KEYS: &str = "placeholder, meta, mask, soft, soft_id, duplicate, text, shortenable, \
                          post_processing, add_prefix_space";

/// The `post_processing` lambdas understood here, for messages.
const LAMBDA_FORMS: &str = "lambda x: x.lower(); x.rstrip('.') or x.strip('.') (any punctuation), \
                            x.rstrip(string.punctuation) or x[:-1]; x + '.'; x[0].lower() + x[1:]; \
                            x[0].upper() + x[1:] or x.capitalize(); x";

impl Template {
    /// Parses OpenPrompt's template text: `{"placeholder":"text_a"} It was {"mask"}.`
    pub fn parse_openprompt(src: &str) -> Result<Template> {
        let c: Vec<char> = src.chars().collect();
        let n = c.len();
        let mut builder = Builder::default();
        let mut soft_ids: HashMap<i64, usize> = HashMap::new();
        let mut i = 0;
        // As OpenPrompt's `Template.parse_text`: each piece (text up to the next `{`, or one `{…}`)
        // gets one prefix space if any spaces precede it; text pieces lose their trailing spaces,
        // which become the next piece's prefix; spaces at the very end are dropped.
        while i < n {
            let ws_start = i;
            while i < n && c[i] == ' ' {
                i += 1;
            }
            if i == n {
                break;
            }
            let natural_prefix = if i > ws_start { " " } else { "" };
            if c[i] == '{' {
                let (entries, end) = parse_dict(&c, i)?;
                let piece = interpret(&entries, i, &mut soft_ids)?;
                let (prefix, prefix_span) = match &piece.prefix {
                    Some(explicit) => (explicit.as_str(), i..end),
                    None => (natural_prefix, ws_start..i),
                };
                match piece.segment {
                    Some(Segment::Text(text)) => builder.text(&format!("{prefix}{text}"), ws_start..end),
                    Some(segment) => {
                        builder.text(prefix, prefix_span);
                        builder.push(segment, i..end);
                    }
                    None => builder.text(prefix, prefix_span),
                }
                i = end;
            } else {
                let mut j = i;
                while j < n && c[j] != '{' {
                    j += 1;
                }
                while j > i && c[j - 1] == ' ' {
                    j -= 1;
                }
                let positions: Vec<usize> = (i..j).collect();
                check_literal_masks(&c[i..j], &positions, Syntax::OpenPrompt)?;
                let text: String = c[i..j].iter().collect();
                builder.text(&format!("{natural_prefix}{text}"), ws_start..j);
                i = j;
            }
        }
        builder.finish(src, Syntax::OpenPrompt)
    }
}

/// A Python value in an OpenPrompt `{…}`.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// The string and the source position of each of its characters.
    Str(String, Vec<usize>),
    /// The source text of a `lambda …` expression.
    Lambda(String),
}

/// One `key: value` (or set item, whose value is `None`).
#[derive(Debug)]
struct Entry {
    key: String,
    key_pos: usize,
    value: Value,
    value_pos: usize,
}

fn unmatched_open_openprompt(at: usize) -> Error {
    err(at, "unmatched `{`; close it with `}`")
}

fn skip_ws(c: &[char], mut i: usize) -> usize {
    while i < c.len() && c[i].is_whitespace() {
        i += 1;
    }
    i
}

fn is_ident_start(ch: char) -> bool {
    ch.is_alphabetic() || ch == '_'
}

fn ident_end(c: &[char], mut i: usize) -> usize {
    while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
        i += 1;
    }
    i
}

/// Reads the dict or set literal opened at `c[open] == '{'`; returns its entries and the index
/// after its `}`.
fn parse_dict(c: &[char], open: usize) -> Result<(Vec<Entry>, usize)> {
    let mut i = skip_ws(c, open + 1);
    if c.get(i) == Some(&'}') {
        return Err(err(
            open,
            r#"empty `{}`; write e.g. {"placeholder": "text_a"} or {"mask"} (text outside braces is fixed text)"#,
        ));
    }
    let mut entries: Vec<Entry> = Vec::new();
    let mut is_dict: Option<bool> = None;
    loop {
        let key_pos = i;
        let key = match c.get(i) {
            None => return Err(unmatched_open_openprompt(open)),
            Some('"' | '\'') => {
                let (key, _, end) = py_string(c, i)?;
                i = end;
                key
            }
            Some(&ch) if is_ident_start(ch) => {
                let word: String = c[i..ident_end(c, i)].iter().collect();
                let hint = match word.to_lowercase().as_str() {
                    "mask" | "soft" => format!("{{\"{}\"}}", word.to_lowercase()),
                    _ => format!(r#"{{"placeholder": "{word}"}} or {{"meta": "{word}"}}"#),
                };
                return Err(err(i, format!("keys are quoted in OpenPrompt syntax; write {hint}")));
            }
            Some(_) => {
                return Err(err(
                    i,
                    r#"expected a quoted key such as "placeholder", "meta", "mask", "soft" or "text""#,
                ));
            }
        };
        i = skip_ws(c, i);
        let pair = c.get(i) == Some(&':');
        if is_dict.is_some_and(|d| d != pair) {
            return Err(err(
                key_pos,
                r#"this {…} mixes set items like {"mask"} with key: value pairs like {"placeholder": "text_a"}; use one form"#,
            ));
        }
        is_dict = Some(pair);
        let (value, value_pos) = if pair {
            i = skip_ws(c, i + 1);
            let value_pos = i;
            let (value, end) = py_value(c, i, open)?;
            i = end;
            (value, value_pos)
        } else {
            (Value::None, key_pos)
        };
        if entries.iter().any(|e| e.key == key) {
            return Err(err(key_pos, format!("key {key:?} is given twice; keep one")));
        }
        entries.push(Entry { key, key_pos, value, value_pos });
        i = skip_ws(c, i);
        match c.get(i) {
            Some(',') => {
                i = skip_ws(c, i + 1);
                if c.get(i) == Some(&'}') {
                    return Ok((entries, i + 1));
                }
            }
            Some('}') => return Ok((entries, i + 1)),
            None => return Err(unmatched_open_openprompt(open)),
            Some(_) => return Err(err(i, "expected `,` or `}` here")),
        }
    }
}

/// A Python string literal at `c[q]` (`'…'` or `"…"`, with escapes): the string, the source
/// position of each of its characters, and the index after the closing quote.
fn py_string(c: &[char], q: usize) -> Result<(String, Vec<usize>, usize)> {
    let quote = c[q];
    let unterminated = || err(q, format!("unterminated string; close it with {quote}"));
    let mut text = String::new();
    let mut positions = Vec::new();
    let mut j = q + 1;
    while j < c.len() {
        let ch = c[j];
        if ch == quote {
            return Ok((text, positions, j + 1));
        }
        if ch == '\n' {
            return Err(unterminated());
        }
        if ch != '\\' {
            text.push(ch);
            positions.push(j);
            j += 1;
            continue;
        }
        let Some(&escape) = c.get(j + 1) else {
            return Err(unterminated());
        };
        let simple = match escape {
            '\\' => Some('\\'),
            '\'' => Some('\''),
            '"' => Some('"'),
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            '0' => Some('\0'),
            'a' => Some('\u{07}'),
            'b' => Some('\u{08}'),
            'f' => Some('\u{0c}'),
            'v' => Some('\u{0b}'),
            _ => None,
        };
        if let Some(decoded) = simple {
            text.push(decoded);
            positions.push(j);
            j += 2;
            continue;
        }
        let digits = match escape {
            'x' => 2,
            'u' => 4,
            'U' => 8,
            '\n' => {
                j += 2; // a line continuation
                continue;
            }
            _ => {
                // Python keeps unknown escapes as they are.
                text.push('\\');
                positions.push(j);
                j += 1;
                continue;
            }
        };
        let hex: String = c.iter().skip(j + 2).take(digits).collect();
        let decoded = (hex.chars().count() == digits && hex.chars().all(|h| h.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32))
            .flatten();
        let Some(decoded) = decoded else {
            return Err(err(
                j,
                format!("invalid escape `\\{escape}{hex}`; write `\\{escape}` and {digits} hex digits"),
            ));
        };
        text.push(decoded);
        positions.push(j);
        j += 2 + digits;
    }
    Err(unterminated())
}

/// A Python value at `c[i]` inside the `{…}` opened at `open`, and the index after it.
fn py_value(c: &[char], i: usize, open: usize) -> Result<(Value, usize)> {
    let expected = "expected a value: a quoted string, a number, True, False, None or a lambda";
    match c.get(i) {
        None => Err(unmatched_open_openprompt(open)),
        Some('"' | '\'') => {
            let (text, positions, end) = py_string(c, i)?;
            Ok((Value::Str(text, positions), end))
        }
        Some(&ch) if ch.is_ascii_digit() || (ch == '-' && c.get(i + 1).is_some_and(char::is_ascii_digit)) => {
            let mut end = i + 1;
            while end < c.len() && c[end].is_ascii_digit() {
                end += 1;
            }
            let digits: String = c[i..end].iter().collect();
            let value = digits.parse::<i64>().map_err(|_| err(i, format!("number {digits} is too large")))?;
            Ok((Value::Int(value), end))
        }
        Some(&ch) if is_ident_start(ch) => {
            let end = ident_end(c, i);
            let word: String = c[i..end].iter().collect();
            match word.as_str() {
                "True" => Ok((Value::Bool(true), end)),
                "False" => Ok((Value::Bool(false), end)),
                "None" => Ok((Value::None, end)),
                "lambda" => {
                    let end = lambda_end(c, i)?;
                    let text: String = c[i..end].iter().collect();
                    Ok((Value::Lambda(text.trim_end().to_string()), end))
                }
                _ if ["true", "false", "none"].contains(&word.to_lowercase().as_str()) => {
                    let python = format!("{}{}", word[..1].to_uppercase(), word[1..].to_lowercase());
                    Err(err(i, format!("Python spells it `{python}`, not `{word}`")))
                }
                _ => Err(err(i, format!("unsupported value `{word}`; {expected}"))),
            }
        }
        Some(_) => Err(err(i, expected)),
    }
}

/// Where the lambda starting at `c[start]` ends: at the next `,` (after its parameters) or closing
/// bracket outside brackets and strings.
fn lambda_end(c: &[char], start: usize) -> Result<usize> {
    let mut depth = 0usize;
    let mut in_body = false;
    let mut j = start;
    while j < c.len() {
        match c[j] {
            '"' | '\'' => {
                j = py_string(c, j)?.2;
                continue;
            }
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth == 0 => return Ok(j),
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 && in_body => return Ok(j),
            ':' if depth == 0 => in_body = true,
            _ => {}
        }
        j += 1;
    }
    Ok(j)
}

/// The [`PostProcess`] a `lambda` (source text at position `pos`) stands for.
fn lambda_post(lambda: &str, pos: usize) -> Result<PostProcess> {
    let unsupported = || {
        err(pos, format!("unsupported post_processing `{lambda}`; the supported forms are {LAMBDA_FORMS}"))
    };
    let Some((params, body)) = lambda.strip_prefix("lambda").and_then(|rest| rest.split_once(':')) else {
        return Err(unsupported());
    };
    let param = params.trim();
    let param_ok = param.chars().next().is_some_and(is_ident_start)
        && param.chars().all(|ch| ch.is_alphanumeric() || ch == '_');
    if !param_ok {
        return Err(unsupported());
    }
    let normal = normalise_lambda_body(body, param).ok_or_else(unsupported)?;
    const FORMS: [(&str, PostProcess); 11] = [
        ("x", PostProcess::None),
        ("x.lower()", PostProcess::Lower),
        ("x.rstrip(string.punctuation)", PostProcess::StripTrailingPunctuation),
        ("x.strip(string.punctuation)", PostProcess::StripTrailingPunctuation),
        ("x[:-1]", PostProcess::StripTrailingPunctuation),
        ("x+'.'", PostProcess::AddPeriod),
        ("x[0].lower()+x[1:]", PostProcess::DecapitalizeFirst),
        ("x[:1].lower()+x[1:]", PostProcess::DecapitalizeFirst),
        ("x[0].upper()+x[1:]", PostProcess::Capitalize),
        ("x[:1].upper()+x[1:]", PostProcess::Capitalize),
        ("x.capitalize()", PostProcess::Capitalize),
    ];
    if let Some(&(_, post)) = FORMS.iter().find(|(form, _)| *form == normal) {
        return Ok(post);
    }
    // x.strip('.'), x.rstrip('.!?') …: any all-punctuation argument.
    let strip_arg = normal
        .strip_prefix("x.strip(")
        .or_else(|| normal.strip_prefix("x.rstrip("))
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|arg| arg.strip_prefix('\''))
        .and_then(|arg| arg.strip_suffix('\''));
    if strip_arg.is_some_and(|arg| {
        !arg.is_empty() && arg.chars().all(|ch| ch.is_ascii_punctuation() || STRIP_CHARS.contains(&ch))
    }) {
        return Ok(PostProcess::StripTrailingPunctuation);
    }
    Err(unsupported())
}

/// A lambda body without whitespace, with its parameter renamed `x` and every string literal
/// written `'…'` (unescaped), so `s.rstrip( "." )` and `x.rstrip('.')` read the same.
fn normalise_lambda_body(body: &str, param: &str) -> Option<String> {
    let c: Vec<char> = body.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '"' || ch == '\'' {
            let (text, _, end) = py_string(&c, i).ok()?;
            out.push('\'');
            out.push_str(&text);
            out.push('\'');
            i = end;
        } else if is_ident_start(ch) {
            let end = ident_end(&c, i);
            let word: String = c[i..end].iter().collect();
            out.push_str(if word == param { "x" } else { &word });
            i = end;
        } else {
            out.push(ch);
            i += 1;
        }
    }
    Some(out)
}

/// What one OpenPrompt `{…}` contributes: a segment (or nothing, for `{"text": ""}`) and an
/// explicit `add_prefix_space`.
struct Piece {
    segment: Option<Segment>,
    prefix: Option<String>,
}

/// Turns the entries of the `{…}` at `open` into a piece. `soft_ids` maps each `soft_id` seen so
/// far to the position of its `{…}`.
fn interpret(entries: &[Entry], open: usize, soft_ids: &mut HashMap<i64, usize>) -> Result<Piece> {
    const KINDS: [&str; 6] = ["placeholder", "meta", "mask", "soft", "text", "special"];
    const MODIFIERS: [&str; 6] =
        ["soft_id", "duplicate", "same", "shortenable", "post_processing", "add_prefix_space"];
    for e in entries {
        if !KINDS.contains(&e.key.as_str()) && !MODIFIERS.contains(&e.key.as_str()) {
            return Err(err(
                e.key_pos,
                format!("unknown key {:?} in OpenPrompt template; known keys: {KNOWN_KEYS}", e.key),
            ));
        }
    }
    let get = |key: &str| entries.iter().find(|e| e.key == key);
    let has_soft = get("soft").is_some();
    let kinds: Vec<&Entry> = entries
        .iter()
        .filter(|e| KINDS.contains(&e.key.as_str()) || (e.key == "soft_id" && !has_soft))
        .collect();
    let kind = match kinds.as_slice() {
        [] => {
            return Err(err(
                open,
                r#"this {…} does not say what it is: give it one of "placeholder", "meta", "mask", "soft" or "text", e.g. {"placeholder": "text_a"}"#,
            ));
        }
        [kind] => *kind,
        [first, second, ..] => {
            return Err(err(
                second.key_pos,
                format!("one {{…}} cannot be both {:?} and {:?}; split it into two", first.key, second.key),
            ));
        }
    };
    let kind_name = if kind.key == "soft_id" { "soft" } else { kind.key.as_str() };
    if kind_name == "special" {
        return Err(err(
            kind.key_pos,
            r#"{"special": …} is not supported: the model's own special tokens ([CLS], [SEP], <eos> …) are added when rendering; remove it"#,
        ));
    }
    let allowed: &[&str] = match kind_name {
        "placeholder" | "meta" => &["shortenable", "post_processing", "add_prefix_space"],
        "soft" => &["soft_id", "duplicate", "same", "add_prefix_space"],
        _ => &["add_prefix_space"],
    };
    for e in entries {
        if e.key != kind.key && !allowed.contains(&e.key.as_str()) {
            let applies_to = match e.key.as_str() {
                "shortenable" | "post_processing" => r#""placeholder" and "meta""#,
                _ => r#""soft""#,
            };
            return Err(err(
                e.key_pos,
                format!("{:?} does not apply to {kind_name:?}; it is for {applies_to} only", e.key),
            ));
        }
    }
    let prefix = match get("add_prefix_space") {
        None => None,
        Some(Entry { value: Value::Str(text, _), .. }) => Some(text.clone()),
        Some(e) => {
            return Err(err(
                e.value_pos,
                r#""add_prefix_space" takes a string: "" (no space before this piece) or " " (one space)"#,
            ));
        }
    };
    let segment = match kind_name {
        "placeholder" | "meta" => Some(Segment::Field(field_piece(kind, kind_name, get)?)),
        "mask" => match kind.value {
            Value::None => Some(Segment::Mask),
            _ => return Err(err(kind.value_pos, r#""mask" takes no value; write {"mask"}"#)),
        },
        "text" => match &kind.value {
            Value::Str(text, positions) => {
                let chars: Vec<char> = text.chars().collect();
                check_literal_masks(&chars, positions, Syntax::OpenPrompt)?;
                (!text.is_empty()).then(|| Segment::Text(text.clone()))
            }
            _ => {
                return Err(err(kind.value_pos, r#""text" takes a quoted string, e.g. {"text": "It was"}"#));
            }
        },
        _ => Some(Segment::Soft(soft_piece(open, get, soft_ids)?)),
    };
    Ok(Piece { segment, prefix })
}

/// The field of a `placeholder` or `meta` entry.
fn field_piece<'a>(kind: &Entry, kind_name: &str, get: impl Fn(&str) -> Option<&'a Entry>) -> Result<Field> {
    let Value::Str(name, positions) = &kind.value else {
        return Err(err(
            kind.value_pos,
            format!(r#"{kind_name:?} takes a column name in quotes, e.g. {{"{kind_name}": "text_a"}}"#),
        ));
    };
    if let Some((offset, message)) = field_name_problem(name) {
        return Err(err(positions.get(offset).copied().unwrap_or(kind.value_pos), message));
    }
    // OpenPrompt's default: placeholders are shortenable, meta fields are not.
    let mut field =
        Field { name: name.clone(), shortenable: kind_name == "placeholder", post: PostProcess::None };
    if let Some(e) = get("shortenable") {
        field.shortenable = match &e.value {
            Value::Bool(b) => *b,
            Value::Str(s, _) if s.eq_ignore_ascii_case("true") => true,
            Value::Str(s, _) if s.eq_ignore_ascii_case("false") => false,
            _ => return Err(err(e.value_pos, r#""shortenable" takes True or False"#)),
        };
    }
    if let Some(e) = get("post_processing") {
        field.post = match &e.value {
            Value::None => PostProcess::None,
            Value::Lambda(lambda) => lambda_post(lambda, e.value_pos)?,
            Value::Str(text, positions) if text.trim_start().starts_with("lambda") => {
                let lead = text.chars().take_while(|ch| ch.is_whitespace()).count();
                lambda_post(text.trim(), positions.get(lead).copied().unwrap_or(e.value_pos))?
            }
            Value::Str(text, _) if text == "mlp" => {
                return Err(err(
                    e.value_pos,
                    r#""post_processing": "mlp" is not supported; remove it (soft tokens are trained directly)"#,
                ));
            }
            _ => {
                return Err(err(
                    e.value_pos,
                    format!(r#""post_processing" takes a lambda; the supported forms are {LAMBDA_FORMS}"#),
                ));
            }
        };
    }
    Ok(field)
}

/// The soft tokens of a `soft` (or `soft_id`) entry in the `{…}` at `open`.
fn soft_piece<'a>(
    open: usize,
    get: impl Fn(&str) -> Option<&'a Entry>,
    soft_ids: &mut HashMap<i64, usize>,
) -> Result<SoftTokens> {
    if let Some(e) = get("soft_id") {
        let id = match e.value {
            Value::Int(id) if id >= 1 => id,
            _ => {
                return Err(err(
                    e.value_pos,
                    r#""soft_id" takes a whole number from 1 up, e.g. {"soft": None, "soft_id": 1}"#,
                ));
            }
        };
        if let Some(&first) = soft_ids.get(&id) {
            return Err(err(
                e.key_pos,
                format!(
                    r#"shared soft tokens are not supported yet: soft_id {id} is first defined at character {first}; give this {{…}} its own {{"soft"}} (trained separately) or remove it"#
                ),
            ));
        }
        soft_ids.insert(id, open);
    }
    if let Some(e) = get("same") {
        match e.value {
            Value::Bool(false) => {}
            Value::Bool(true) => {
                return Err(err(
                    e.key_pos,
                    r#""same": True (one embedding repeated) is not supported; remove it to train separate soft tokens"#,
                ));
            }
            _ => return Err(err(e.value_pos, r#""same" takes True or False"#)),
        }
    }
    let duplicate = match get("duplicate") {
        None => None,
        Some(Entry { value: Value::Int(n), .. }) if (1..=MAX_SOFT_TOKENS as i64).contains(n) => {
            Some(*n as usize)
        }
        Some(e) => {
            return Err(err(
                e.value_pos,
                r#""duplicate" takes a number of soft tokens from 1 up, e.g. {"soft": None, "duplicate": 20}"#,
            ));
        }
    };
    match get("soft").map(|e| (&e.value, e.value_pos)) {
        None | Some((Value::None, _)) => Ok(SoftTokens::random(duplicate.unwrap_or(1))),
        Some((Value::Str(text, _), pos)) => {
            if let Some(e) = get("duplicate") {
                return Err(err(
                    e.key_pos,
                    r#""duplicate" only applies to {"soft": None, …}; soft tokens initialised from text get one token per token of the text"#,
                ));
            }
            if text.is_empty() {
                return Err(err(
                    pos,
                    r#"empty init text; write the words to initialise from, e.g. {"soft": "It was"}, or {"soft"} for one random soft token"#,
                ));
            }
            Ok(SoftTokens::from_text(text.clone()))
        }
        Some((_, pos)) => {
            Err(err(pos, r#""soft" takes None or init text in quotes, e.g. {"soft": "It was"}"#))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use crate::template::{PostProcess, Segment, Syntax, Template};

    #[test]
    fn openprompt_syntax() {
        use PostProcess::*;
        let cases: Vec<(&str, Vec<Segment>)> = vec![
            (r#"{"placeholder":"text_a"} It was {"mask"}."#, vec![f("text_a"), t(" It was "), M, t(".")]),
            (r#"{'placeholder': 'text_b'} {'mask'}"#, vec![f("text_b"), t(" "), M]),
            (
                r#"{"placeholder": "text_a", "shortenable": "False"} {"mask"}"#,
                vec![field("text_a", false, None), t(" "), M],
            ),
            (
                r#"{"placeholder": "text_a", "shortenable": False}{"mask"}"#,
                vec![field("text_a", false, None), M],
            ),
            (r#"{"placeholder": "text_a", "shortenable": True}{"mask"}"#, vec![f("text_a"), M]),
            (r#"{"meta": "entity"} is a {"mask"}"#, vec![field("entity", false, None), t(" is a "), M]),
            (r#"{"meta": "entity", "shortenable": "true"}{"mask"}"#, vec![f("entity"), M]),
            (r#"{"mask"}"#, vec![M]),
            (r#"{ "mask" , }"#, vec![M]),
            (r#"{"mask": None}"#, vec![M]),
            (r#"{"soft"} {"mask"}"#, vec![soft(1), t(" "), M]),
            (r#"{"soft": None}{"mask"}"#, vec![soft(1), M]),
            (r#"{"soft": "It was"} {"mask"}"#, vec![soft_text("It was"), t(" "), M]),
            (r#"{"soft": None, "duplicate": 20} {"mask"}"#, vec![soft(20), t(" "), M]),
            (r#"{"soft": None, "duplicate": 3, "same": False}"#, vec![soft(3)]),
            (
                r#"{"soft": None, "soft_id": 1} {"soft_id": 2} {"mask"}"#,
                vec![soft(1), t(" "), soft(1), t(" "), M],
            ),
            (r#"{"soft": "the", "soft_id": 1}{"mask"}"#, vec![soft_text("the"), M]),
            (r#"{"text": "It was"} {"mask"}"#, vec![t("It was "), M]),
            (r#"{"mask"}{"text": ""}."#, vec![M, t(".")]),
            (r#"{"text": "say \"hi\"\n\x41\u00e9"}"#, vec![t("say \"hi\"\nAé")]),
            (
                r#"{"placeholder": "text_a", "post_processing": lambda x:x.strip('.')} {"mask"}"#,
                vec![field("text_a", true, StripTrailingPunctuation), t(" "), M],
            ),
            (
                r#"{"placeholder": "text_a", "post_processing": "lambda x:x.strip('.')"}"#,
                vec![field("text_a", true, StripTrailingPunctuation)],
            ),
            (
                r#"{"meta": "context", "post_processing": lambda s: s.rstrip(string.punctuation)}. {"soft": "It was"} {"mask"}"#,
                vec![
                    field("context", false, StripTrailingPunctuation),
                    t(". "),
                    soft_text("It was"),
                    t(" "),
                    M,
                ],
            ),
            (
                r#"{"placeholder":"text_a","post_processing": lambda x: x.lower()}"#,
                vec![field("text_a", true, Lower)],
            ),
            (
                r#"{"placeholder":"text_a","post_processing": lambda x: x.rstrip(".!?")}"#,
                vec![field("text_a", true, StripTrailingPunctuation)],
            ),
            (
                r#"{"placeholder":"text_a","post_processing": lambda x: x[:-1]}"#,
                vec![field("text_a", true, StripTrailingPunctuation)],
            ),
            (
                r#"{"placeholder":"text_b","post_processing": lambda x:x+"."}"#,
                vec![field("text_b", true, AddPeriod)],
            ),
            (
                r#"{"placeholder":"text_a","post_processing": lambda x: x[0].lower() + x[1:]}"#,
                vec![field("text_a", true, DecapitalizeFirst)],
            ),
            (
                r#"{"placeholder":"text_a","post_processing": lambda t: t[:1].upper()+t[1:]}"#,
                vec![field("text_a", true, Capitalize)],
            ),
            (
                r#"{"placeholder":"text_a","post_processing": lambda x: x.capitalize()}"#,
                vec![field("text_a", true, Capitalize)],
            ),
            (r#"{"placeholder":"text_a","post_processing": lambda x: x}"#, vec![f("text_a")]),
            (r#"{"placeholder":"text_a","post_processing": None}"#, vec![f("text_a")]),
            (
                r#"{"text": "It was"} {"placeholder": "text_a", "add_prefix_space": ""}"#,
                vec![t("It was"), f("text_a")],
            ),
            (r#"{"text": "x", "add_prefix_space": " "}{"mask"}"#, vec![t(" x"), M]),
            (r#"{"mask", }"#, vec![M]),
            (
                r#"A {"mask"} news: {"meta": "title", "shortenable": False} {"meta": "description"}"#,
                vec![
                    t("A "),
                    M,
                    t(" news: "),
                    field("title", false, None),
                    t(" "),
                    field("description", false, None),
                ],
            ),
            (
                r#"{"placeholder":"text_a"}   It was   {"mask"}  .  "#,
                vec![f("text_a"), t(" It was "), M, t(" .")],
            ),
            (" {\"mask\"}", vec![t(" "), M]),
            (
                r#"{"meta": "context", "shortenable": True} 上文中，{"meta": "entity"} 是一个{"mask"}。"#,
                vec![f("context"), t(" 上文中，"), field("entity", false, None), t(" 是一个"), M, t("。")],
            ),
            (r#"a } b {"mask"}"#, vec![t("a } b "), M]),
            (r#"{"text": "{curly}", "add_prefix_space": ""}"#, vec![t("{curly}")]),
            (
                "hypothesis: {\"placeholder\":\"text_b\",\"post_processing\": lambda x:x+\".\"} premise: {\"placeholder\":\"text_a\"} {\"mask\"}",
                vec![
                    t("hypothesis: "),
                    field("text_b", true, AddPeriod),
                    t(" premise: "),
                    f("text_a"),
                    t(" "),
                    M,
                ],
            ),
        ];
        for (src, want) in cases {
            let template = Template::parse_openprompt(src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
            assert_eq!(template.segments(), want.as_slice(), "{src:?}");
            assert_eq!(template.syntax(), Syntax::OpenPrompt);
            if src.contains("{\"") || src.contains("{'") {
                assert_eq!(Template::parse(src).unwrap().segments(), want.as_slice(), "auto-detect {src:?}");
            }
        }
    }

    #[test]
    fn openprompt_spans() {
        let template = Template::parse_openprompt(r#"é {"placeholder":"text_a"}  It {"mask"}"#).unwrap();
        assert_eq!(template.segments(), &[t("é "), f("text_a"), t(" It "), M]);
        assert_eq!(template.spans(), &[0..2, 2..26, 26..31, 31..39]);
    }

    #[test]
    fn openprompt_errors() {
        // (source, expected character position, fragment of the message)
        let cases: &[(&str, usize, &str)] = &[
            (r#"{"placeholder": "text_a"} It was {"mask""#, 33, "unmatched `{`"),
            (r#"{"placeholder": "text_a" It was {"mask"}"#, 25, "expected `,` or `}` here"),
            (r#"{"mask"} {}"#, 9, r#"empty `{}`; write e.g. {"placeholder": "text_a"}"#),
            (
                r#"{"placeholder": "text_a"} {mask}"#,
                27,
                r#"keys are quoted in OpenPrompt syntax; write {"mask"}"#,
            ),
            (r#"{"mask"} {text_b}"#, 10, r#"{"placeholder": "text_b"}"#),
            (r#"{"mask"} {1: 2}"#, 10, "expected a quoted key"),
            (r#"{"placeholder": text_a}"#, 16, "unsupported value `text_a`"),
            (r#"{"placeholder": "text_a", "shortenable": false}"#, 41, "Python spells it `False`"),
            (r#"{"placeholder": "text_a", "shortenable": "maybe"}"#, 41, "takes True or False"),
            (r#"{"placeholder": 1}"#, 16, "takes a column name in quotes"),
            (
                r#"{"placeholder": "text_a", "post_processing": lambda x: x.upper()}"#,
                45,
                "unsupported post_processing `lambda x: x.upper()`; the supported forms are lambda x: x.lower()",
            ),
            (
                r#"{"placeholder": "text_a", "post_processing": lambda x, y: x}"#,
                45,
                "unsupported post_processing `lambda x, y: x`",
            ),
            (r#"{"placeholder": "text_a", "post_processing": "lambda x: x.title()"}"#, 46, "x.title()"),
            (r#"{"placeholder": "text_a", "post_processing": "mlp"}"#, 45, r#""mlp" is not supported"#),
            (r#"{"placeholder": "text_a", "post_processing": 3}"#, 45, "takes a lambda"),
            (
                r#"{"placeholder": "text_a", "color": "red"}"#,
                26,
                r#"unknown key "color" in OpenPrompt template"#,
            ),
            (r#"{"mask"} {"special": "<eos>"}"#, 10, r#"{"special": …} is not supported"#),
            (
                r#"{"soft": None, "soft_id": 1} {"soft_id": 1} {"mask"}"#,
                30,
                "shared soft tokens are not supported yet: soft_id 1 is first defined at character 0",
            ),
            (r#"{"soft_id": 0}"#, 12, "from 1 up"),
            (
                r#"{"soft": None, "duplicate": 0}"#,
                28,
                r#""duplicate" takes a number of soft tokens from 1 up"#,
            ),
            (r#"{"soft": "It was", "duplicate": 3}"#, 19, r#""duplicate" only applies to {"soft": None, …}"#),
            (
                r#"{"soft": None, "duplicate": 3, "same": True}"#,
                31,
                r#""same": True (one embedding repeated) is not supported"#,
            ),
            (r#"{"soft": ""}"#, 9, "empty init text"),
            (r#"{"soft": 3}"#, 9, r#""soft" takes None or init text"#),
            (r#"{"placeholder": "text_a", "mask"}"#, 26, "mixes set items"),
            (
                r#"{"placeholder": "text_a", "placeholder": "text_b"}"#,
                26,
                r#"key "placeholder" is given twice"#,
            ),
            (r#"{"placeholder": "text_a", "mask": None}"#, 26, r#"cannot be both "placeholder" and "mask""#),
            (r#"{"mask", "soft"}"#, 9, r#"cannot be both "mask" and "soft""#),
            (r#"{"mask"} {"shortenable": False}"#, 9, "does not say what it is"),
            (r#"{"mask": "x"}"#, 9, r#""mask" takes no value"#),
            (r#"{"text": "x", "shortenable": True}"#, 14, r#""shortenable" does not apply to "text""#),
            (r#"{"mask", "duplicate": 2}"#, 9, "mixes set items"),
            (
                r#"{"mask": None, "duplicate": 2}"#,
                15,
                r#""duplicate" does not apply to "mask"; it is for "soft" only"#,
            ),
            (r#"{"text": "x", "add_prefix_space": 1}"#, 34, r#""add_prefix_space" takes a string"#),
            (r#"{"meta": "mask"} {"mask"}"#, 10, "`mask` is reserved for {mask}"),
            (r#"{"meta": "a b"} {"mask"}"#, 11, "' ' cannot appear in a field name"),
            (r#"{"text": "It is [MASK]"} {"mask"}"#, 16, r#"write {"mask"} where the model"#),
            (r#"Il était <mask> {"mask"}"#, 9, "`<mask>` in fixed text"),
            (r#"{"text": "unterminated}"#, 9, "unterminated string"),
            (r#"{"text": "bad \x4"}"#, 14, "invalid escape"),
            (
                r#"{"mask"} {"placeholder": "text_a", "post_processing": lambda x: x.lower()"#,
                9,
                "unmatched `{`",
            ),
            (r#"{"mask"} x {"text": "a" "b"}"#, 24, "expected `,` or `}`"),
            (r#"{"mask"} {"placeholder" "text_a"}"#, 24, "expected `,` or `}`"),
            ("   ", 0, "template is empty"),
            // Positions are characters, not bytes.
            (r#"Très 😀 {"text": "[MASK]"} {"mask"}"#, 17, "`[MASK]`"),
            (r#"😀é {"meta": "x", "colour": 1}"#, 17, r#"unknown key "colour""#),
        ];
        check_errors(cases, Template::parse_openprompt);
    }
}
