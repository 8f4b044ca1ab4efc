//! Parsers for the text syntax and the OpenPrompt syntax (described in the module docs of
//! [`crate::template`]). Positions are character offsets, so every source is read as a `Vec<char>`.

use std::collections::HashMap;
use std::ops::Range;

use super::{
    Field, PostProcess, STRIP_CHARS, Segment, SoftTokens, Syntax, Template, example, field_name_problem,
    mask_placeholder, template_error as err,
};
use crate::error::{Error, Result};

/// More soft tokens than this in one placeholder is surely a typo: no model has such a context.
const MAX_SOFT_TOKENS: usize = 100_000;

/// The text-syntax options, for messages.
const OPTIONS: &str = "full (never shorten), lower (lower-case), strip (drop trailing punctuation), \
                       period (end with a period), cap (capitalise the first letter), decap (lower-case \
                       the first letter)";

/// The OpenPrompt keys understood here, for messages.
const KNOWN_KEYS: &str = "placeholder, meta, mask, soft, soft_id, duplicate, text, shortenable, \
                          post_processing, add_prefix_space";

/// The `post_processing` lambdas understood here, for messages.
const LAMBDA_FORMS: &str = "lambda x: x.lower(); x.rstrip('.') or x.strip('.') (any punctuation), \
                            x.rstrip(string.punctuation) or x[:-1]; x + '.'; x[0].lower() + x[1:]; \
                            x[0].upper() + x[1:] or x.capitalize(); x";

impl Template {
    /// Parses a template, telling the syntax by its look: a `{` followed by a quote (`{"` or `{'`)
    /// means OpenPrompt syntax, anything else the text syntax.
    pub fn parse(src: &str) -> Result<Template> {
        if looks_like_openprompt(src) { Template::parse_openprompt(src) } else { Template::parse_text(src) }
    }

    /// Parses the text syntax: `{text_a} It was {mask}.`
    pub fn parse_text(src: &str) -> Result<Template> {
        let c: Vec<char> = src.chars().collect();
        let mut builder = Builder::default();
        let mut run = TextRun::default();
        let mut i = 0;
        while i < c.len() {
            match c[i] {
                '{' if c.get(i + 1) == Some(&'{') => {
                    run.push('{', i, 2);
                    i += 2;
                }
                '}' if c.get(i + 1) == Some(&'}') => {
                    run.push('}', i, 2);
                    i += 2;
                }
                '}' => {
                    return Err(err(
                        i,
                        "unmatched `}`; write `}}` for a literal brace, or add the `{` it should close",
                    ));
                }
                '{' => {
                    run.flush(&mut builder, Syntax::Text)?;
                    let close = find_close(&c, i)?;
                    let segment = placeholder(&c, i, close)?;
                    builder.push(segment, i..close + 1);
                    i = close + 1;
                }
                ch => {
                    run.push(ch, i, 1);
                    i += 1;
                }
            }
        }
        run.flush(&mut builder, Syntax::Text)?;
        builder.finish(src, Syntax::Text)
    }

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

/// Whether `src` is OpenPrompt syntax: some `{` (not a `{{` escape, nor inside the quoted text of
/// a text-syntax placeholder such as `{soft:"{\"x\"}"}`) is followed by a quote.
fn looks_like_openprompt(src: &str) -> bool {
    let c: Vec<char> = src.chars().collect();
    let mut i = 0;
    while i < c.len() {
        if c[i] != '{' {
            i += 1;
            continue;
        }
        if c.get(i + 1) == Some(&'{') {
            i += 2;
            continue;
        }
        let next = c[i + 1..].iter().find(|ch| !ch.is_whitespace());
        if matches!(next, Some('"' | '\'')) {
            return true;
        }
        // A text-syntax placeholder: skip it, quoted text included.
        i += 1;
        let mut quoted = false;
        while i < c.len() {
            match (quoted, c[i]) {
                (true, '\\') => i += 1,
                (_, '"') => quoted = !quoted,
                (false, '}') => break,
                (false, '{') => {
                    i -= 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        i += 1;
    }
    false
}

/// Collects segments and their spans, joining adjacent texts.
#[derive(Default)]
struct Builder {
    segments: Vec<Segment>,
    spans: Vec<Range<usize>>,
}

impl Builder {
    fn text(&mut self, text: &str, span: Range<usize>) {
        if text.is_empty() {
            return;
        }
        if let (Some(Segment::Text(prev)), Some(prev_span)) =
            (self.segments.last_mut(), self.spans.last_mut())
        {
            prev.push_str(text);
            prev_span.start = prev_span.start.min(span.start);
            prev_span.end = prev_span.end.max(span.end);
        } else {
            self.segments.push(Segment::Text(text.to_string()));
            self.spans.push(span);
        }
    }

    fn push(&mut self, segment: Segment, span: Range<usize>) {
        self.segments.push(segment);
        self.spans.push(span);
    }

    fn finish(self, src: &str, syntax: Syntax) -> Result<Template> {
        if self.segments.is_empty() {
            return Err(err(0, format!("template is empty; write one, e.g. {}", example(syntax))));
        }
        Ok(Template { segments: self.segments, spans: self.spans, source: src.to_string(), syntax })
    }
}

/// Fixed text of the text syntax being collected, with the source position of each character.
#[derive(Default)]
struct TextRun {
    chars: Vec<char>,
    positions: Vec<usize>,
    end: usize,
}

impl TextRun {
    /// Adds `ch`, read from `len` source characters at `at` (2 for a `{{` escape).
    fn push(&mut self, ch: char, at: usize, len: usize) {
        self.chars.push(ch);
        self.positions.push(at);
        self.end = at + len;
    }

    fn flush(&mut self, builder: &mut Builder, syntax: Syntax) -> Result<()> {
        if let Some(&start) = self.positions.first() {
            check_literal_masks(&self.chars, &self.positions, syntax)?;
            builder.text(&self.chars.iter().collect::<String>(), start..self.end);
            self.chars.clear();
            self.positions.clear();
        }
        Ok(())
    }
}

/// Rejects a model's own mask token written as fixed text: the tokenizer would read it as a mask.
/// `positions[k]` is the source position of `chars[k]`.
fn check_literal_masks(chars: &[char], positions: &[usize], syntax: Syntax) -> Result<()> {
    for k in 0..chars.len() {
        if let Some(len) = literal_mask_len(&chars[k..]) {
            let literal: String = chars[k..k + len].iter().collect();
            return Err(err(
                positions[k],
                format!(
                    "`{literal}` in fixed text is the model's mask token, which would become a second mask; \
                     write {} where the model should fill in the label word, and leave `{literal}` out",
                    mask_placeholder(syntax)
                ),
            ));
        }
    }
    Ok(())
}

/// The length of the mask token `chars` starts with: `[MASK]`, `<mask>` or `<extra_id_N>`.
fn literal_mask_len(chars: &[char]) -> Option<usize> {
    let starts = |s: &str| chars.len() >= s.chars().count() && s.chars().zip(chars).all(|(a, &b)| a == b);
    for literal in ["[MASK]", "<mask>"] {
        if starts(literal) {
            return Some(literal.len());
        }
    }
    let prefix = "<extra_id_".len();
    if starts("<extra_id_") {
        let digits = chars[prefix..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 && chars.get(prefix + digits) == Some(&'>') {
            return Some(prefix + digits + 1);
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Text syntax
// ---------------------------------------------------------------------------------------------

fn unmatched_open(at: usize) -> Error {
    err(at, "unmatched `{`; close the placeholder with `}`, or write `{{` for a literal brace")
}

/// The `}` closing the placeholder opened at `open`, skipping quoted text (`{soft:"a}b"}`).
fn find_close(c: &[char], open: usize) -> Result<usize> {
    let mut quote: Option<usize> = None;
    let mut j = open + 1;
    while j < c.len() {
        match (quote, c[j]) {
            (Some(_), '\\') => j += 1,
            (Some(_), '"') => quote = None,
            (Some(_), _) => {}
            (None, '"') => quote = Some(j),
            (None, '}') => return Ok(j),
            (None, '{') => return Err(unmatched_open(open)),
            (None, _) => {}
        }
        j += 1;
    }
    match quote {
        Some(q) => Err(err(q, "unterminated quoted text; close it with `\"`")),
        None => Err(unmatched_open(open)),
    }
}

/// `(start, end)` of `c[start..end]` without surrounding whitespace.
fn trim(c: &[char], mut start: usize, mut end: usize) -> (usize, usize) {
    while start < end && c[start].is_whitespace() {
        start += 1;
    }
    while end > start && c[end - 1].is_whitespace() {
        end -= 1;
    }
    (start, end)
}

/// The segment for the placeholder `c[open..=close]`.
fn placeholder(c: &[char], open: usize, close: usize) -> Result<Segment> {
    let (a, z) = trim(c, open + 1, close);
    if a == z {
        return Err(err(
            open,
            "empty placeholder `{}`; name a data field such as `{text_a}`, or write `{mask}` or `{soft}` \
             (for literal braces write `{{}}`)",
        ));
    }
    let head_end = (a..z).find(|&k| c[k] == '|' || c[k] == ':').unwrap_or(z);
    let (_, name_end) = trim(c, a, head_end);
    let name: String = c[a..name_end].iter().collect();
    if name.is_empty() {
        return Err(err(
            head_end,
            format!("missing field name before `{}`; write e.g. `{{text_a|lower}}`", c[head_end]),
        ));
    }
    match name.to_lowercase().as_str() {
        "mask" if head_end < z => Err(err(head_end, "`{mask}` takes no options; write just `{mask}`")),
        "mask" => Ok(Segment::Mask),
        "soft" => soft_placeholder(c, head_end, z).map(Segment::Soft),
        _ => field_placeholder(c, a, &name, head_end, z).map(Segment::Field),
    }
}

/// `{soft}`, `{soft:5}` or `{soft:"It was"}`; `c[head_end..z]` is what follows `soft`.
fn soft_placeholder(c: &[char], head_end: usize, z: usize) -> Result<SoftTokens> {
    if head_end == z {
        return Ok(SoftTokens::random(1));
    }
    if c[head_end] == '|' {
        return Err(err(
            head_end,
            "soft tokens take `:count` or `:\"init text\"`, not `|` options; e.g. `{soft:5}` or \
             `{soft:\"It was\"}`",
        ));
    }
    let (a, z) = trim(c, head_end + 1, z);
    if a == z {
        return Err(err(
            head_end,
            "missing value after `{soft:`; write a number of tokens like `{soft:5}` or init text like \
             `{soft:\"It was\"}`",
        ));
    }
    if c[a] == '"' {
        let (text, end) = quoted_text(c, a)?;
        let (rest, _) = trim(c, end, z);
        if rest < z {
            return Err(err(
                rest,
                "unexpected text after the quoted init text; write e.g. `{soft:\"It was\"}`",
            ));
        }
        if text.is_empty() {
            return Err(err(
                a,
                "empty init text; write the words to initialise the soft tokens from, e.g. \
                 `{soft:\"It was\"}`, or a count like `{soft:5}`",
            ));
        }
        return Ok(SoftTokens::from_text(text));
    }
    let arg: String = c[a..z].iter().collect();
    if !arg.chars().all(|ch| ch.is_ascii_digit()) {
        return Err(err(
            a,
            format!(
                "`{arg}` is not a number of soft tokens; write a count like `{{soft:5}}` or init text in \
                 quotes like `{{soft:\"It was\"}}`"
            ),
        ));
    }
    match arg.parse::<usize>() {
        Ok(0) => Err(err(a, "`{soft:0}` has no soft tokens; use at least 1, e.g. `{soft:5}`, or remove it")),
        Ok(count) if count <= MAX_SOFT_TOKENS => Ok(SoftTokens::random(count)),
        _ => Err(err(
            a,
            format!("{arg} soft tokens is more than any model can read; use at most a few hundred"),
        )),
    }
}

/// The quoted text starting at `c[q] == '"'`, with `\"` and `\\` escapes, and the index after it.
fn quoted_text(c: &[char], q: usize) -> Result<(String, usize)> {
    let mut text = String::new();
    let mut j = q + 1;
    while j < c.len() {
        match c[j] {
            '"' => return Ok((text, j + 1)),
            '\\' if matches!(c.get(j + 1), Some('"' | '\\')) => {
                text.push(c[j + 1]);
                j += 2;
            }
            ch => {
                text.push(ch);
                j += 1;
            }
        }
    }
    Err(err(q, "unterminated quoted text; close it with `\"`"))
}

/// A field: `name` starts at `c[a]`; options follow from `c[head_end]` up to `z`.
fn field_placeholder(c: &[char], a: usize, name: &str, head_end: usize, z: usize) -> Result<Field> {
    if let Some((offset, message)) = field_name_problem(name) {
        return Err(err(a + offset, message));
    }
    if head_end < z && c[head_end] == ':' {
        return Err(err(
            head_end,
            format!("fields take options after `|`, not `:`; e.g. `{{{name}|lower}}`"),
        ));
    }
    let mut field = Field::new(name);
    let mut post_option: Option<String> = None;
    let mut bar = head_end;
    while bar < z {
        let end = (bar + 1..z).find(|&k| c[k] == '|').unwrap_or(z);
        let (oa, oz) = trim(c, bar + 1, end);
        let option: String = c[oa..oz].iter().collect();
        if option.is_empty() {
            return Err(err(bar, format!("empty option after `|`; options are: {OPTIONS}")));
        }
        if option == "full" {
            field.shortenable = false;
        } else if let Some(post) = PostProcess::from_option(&option) {
            match &post_option {
                Some(prev) if *prev != option => {
                    return Err(err(
                        oa,
                        format!(
                            "a field takes one post-processing option, but `{{{name}}}` has `{prev}` and \
                             `{option}`; keep one"
                        ),
                    ));
                }
                _ => {
                    field.post = post;
                    post_option = Some(option);
                }
            }
        } else {
            return Err(err(
                oa,
                format!("unknown option `{option}` for `{{{name}}}`; options are: {OPTIONS}"),
            ));
        }
        bar = end;
    }
    Ok(field)
}

// ---------------------------------------------------------------------------------------------
// OpenPrompt syntax: a tiny reader for the Python dict and set literals inside `{…}`
// ---------------------------------------------------------------------------------------------

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
    use super::*;

    fn t(s: &str) -> Segment {
        Segment::Text(s.to_string())
    }

    fn f(name: &str) -> Segment {
        Segment::Field(Field::new(name))
    }

    fn field(name: &str, shortenable: bool, post: PostProcess) -> Segment {
        Segment::Field(Field { name: name.to_string(), shortenable, post })
    }

    fn soft(count: usize) -> Segment {
        Segment::Soft(SoftTokens::random(count))
    }

    fn soft_text(init: &str) -> Segment {
        Segment::Soft(SoftTokens::from_text(init))
    }

    const M: Segment = Segment::Mask;

    /// The error's position and message, with the character at the position for failure messages.
    fn error_of(src: &str, result: Result<Template>) -> (usize, String) {
        match result {
            Err(Error::Template { position, message }) => (position, message),
            Err(other) => panic!("{src:?}: expected a template error, got {other:?}"),
            Ok(t) => panic!("{src:?}: expected an error, parsed {:?}", t.segments()),
        }
    }

    fn check_errors(cases: &[(&str, usize, &str)], parse: fn(&str) -> Result<Template>) {
        for &(src, want_pos, fragment) in cases {
            let (pos, message) = error_of(src, parse(src));
            let at: String = src.chars().skip(pos).take(12).collect();
            assert_eq!(pos, want_pos, "{src:?}: error at {pos} ({at:?}): {message}");
            assert!(message.contains(fragment), "{src:?}: {message:?} lacks {fragment:?}");
        }
    }

    #[test]
    fn text_syntax() {
        use PostProcess::*;
        let cases: Vec<(&str, Vec<Segment>)> = vec![
            ("{text_a} It was {mask}.", vec![f("text_a"), t(" It was "), M, t(".")]),
            ("It was {mask}", vec![t("It was "), M]),
            ("{mask}", vec![M]),
            ("{MASK} and {Mask}", vec![M, t(" and "), M]),
            ("{text_a} {text_b}", vec![f("text_a"), t(" "), f("text_b")]),
            ("{my-col.name_2}{évaluation}", vec![f("my-col.name_2"), f("évaluation")]),
            ("{text_a|lower}", vec![field("text_a", true, Lower)]),
            ("{text_a|full}", vec![field("text_a", false, None)]),
            ("{text_a|strip}", vec![field("text_a", true, StripTrailingPunctuation)]),
            ("{text_a|period}", vec![field("text_a", true, AddPeriod)]),
            ("{text_a|cap}", vec![field("text_a", true, Capitalize)]),
            ("{text_a|decap}", vec![field("text_a", true, DecapitalizeFirst)]),
            ("{text_a|full|lower}", vec![field("text_a", false, Lower)]),
            ("{text_a|lower|full|lower}", vec![field("text_a", false, Lower)]),
            ("{ text_a | full | decap }", vec![field("text_a", false, DecapitalizeFirst)]),
            ("{soft}", vec![soft(1)]),
            ("{SOFT:5}", vec![soft(5)]),
            ("{soft : 3 }", vec![soft(3)]),
            (r#"{soft:"It was"}"#, vec![soft_text("It was")]),
            (r#"{soft:"say \"hi\" {x} \\ \n"}"#, vec![soft_text(r#"say "hi" {x} \ \n"#)]),
            ("{{literal}} {mask}", vec![t("{literal} "), M]),
            ("{{{text_a}}}", vec![t("{"), f("text_a"), t("}")]),
            ("  spaced  {mask}  ", vec![t("  spaced  "), M, t("  ")]),
            ("Line one\n\tLine two: {mask}", vec![t("Line one\n\tLine two: "), M]),
            ("Très bien 😀 {mask}", vec![t("Très bien 😀 "), M]),
            ("[mask] <MASK> [SEP] {mask}", vec![t("[mask] <MASK> [SEP] "), M]),
            ("he said \"x\": {mask}", vec![t("he said \"x\": "), M]),
        ];
        for (src, want) in cases {
            let template = Template::parse_text(src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
            assert_eq!(template.segments(), want.as_slice(), "{src:?}");
            assert_eq!(template.syntax(), Syntax::Text);
            assert_eq!(Template::parse(src).unwrap().segments(), want.as_slice(), "auto-detect {src:?}");
        }
    }

    #[test]
    fn text_syntax_spans() {
        let template = Template::parse_text("é {{x}} {text_a|lower}{mask}😀").unwrap();
        assert_eq!(template.spans(), &[0..8, 8..22, 22..28, 28..29]);
    }

    #[test]
    fn text_syntax_errors() {
        // (source, expected character position, fragment of the message)
        let cases: &[(&str, usize, &str)] = &[
            ("{text_a It was {mask}.", 0, "unmatched `{`"),
            ("{text_a} It was {mask", 16, "unmatched `{`"),
            ("It was {mask}.}", 14, "unmatched `}`"),
            ("It was {mask}}.", 13, "write `}}` for a literal brace"),
            ("{} {mask}", 0, "empty placeholder `{}`; name a data field such as `{text_a}`"),
            ("{  } {mask}", 0, "empty placeholder"),
            ("{text_a|loud} {mask}", 8, "unknown option `loud` for `{text_a}`; options are: full"),
            ("{text_a|full|Lower} {mask}", 13, "unknown option `Lower`"),
            ("{text_a|} {mask}", 7, "empty option after `|`"),
            ("{text_a|lower|cap}", 14, "one post-processing option"),
            ("{text_a:lower}", 7, "options after `|`, not `:`"),
            ("{|lower}", 1, "missing field name"),
            ("{mask:1}", 5, "`{mask}` takes no options"),
            ("{mask|lower}", 5, "takes no options"),
            ("{soft:0}", 6, "`{soft:0}` has no soft tokens"),
            ("{soft:x}", 6, "`x` is not a number of soft tokens"),
            ("{soft:-2}", 6, "not a number"),
            ("{soft:}", 5, "missing value after `{soft:`"),
            (r#"{soft:""}"#, 6, "empty init text"),
            (r#"{soft:"abc} {mask}"#, 6, "unterminated quoted text"),
            (r#"{soft:"a" b}"#, 10, "unexpected text after the quoted init text"),
            ("{soft|lower}", 5, "not `|` options"),
            ("{soft:999999999}", 6, "more than any model can read"),
            ("{text a}", 5, "' ' cannot appear in a field name"),
            ("{1st} {mask}", 1, "starts with a digit"),
            ("[MASK] {text_a} {mask}", 0, "`[MASK]` in fixed text is the model's mask token"),
            ("{text_a} is <mask>. {mask}", 12, "write {mask} where the model should fill in"),
            ("{text_a} <extra_id_0> {mask}", 9, "`<extra_id_0>`"),
            ("{{[MASK]}}", 2, "`[MASK]`"),
            ("", 0, "template is empty"),
            // Positions are characters, not bytes.
            ("Très bien 😀 {text_a", 12, "unmatched `{`"),
            ("Très 😀 {mask} }", 14, "unmatched `}`"),
            ("😀😀 {text_a|shout}", 11, "unknown option `shout`"),
            ("é😀 <mask> {mask}", 3, "`<mask>`"),
        ];
        check_errors(cases, Template::parse_text);
    }

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

    #[test]
    fn detects_syntax() {
        let cases = [
            ("{text_a} It was {mask}.", false),
            (r#"{"placeholder":"text_a"} {"mask"}"#, true),
            (r#"{ 'mask' }"#, true),
            (r#"{soft:"It was"} {mask}"#, false),
            (r#"He said {{"hi"}} {mask}"#, false),
            ("no braces at all", false),
            (r#"{soft:"{\"x\"}"} {mask}"#, false),
            (r#"{soft:"{'x'}"} {"mask"}"#, true),
            (r#"{text_a {"mask"}"#, true),
        ];
        for (src, openprompt) in cases {
            assert_eq!(looks_like_openprompt(src), openprompt, "{src:?}");
        }
    }

    /// Sources in either syntax: Display → parse_text and to_openprompt → parse_openprompt give back
    /// the same segments.
    #[test]
    fn round_trips() {
        let sources = [
            "{text_a} It was {mask}.",
            "{text_a|full|lower} {text_b|strip} {c|period}{d|cap}{e|decap} {mask}",
            "{soft}{soft:7}{soft:\"It \\\"was\\\" \\\\ {x}\"} {mask}",
            "  two leading, two trailing  ",
            "{{braces}} and }} {mask}  ",
            "{text_a}  {text_b}   {mask}",
            "{text_a} {text_b} {mask} ",
            "Très bien 😀\n\t{text_a}\n{mask}。",
            "{meta.col} {x-y} {mask}",
            r#"{"placeholder":"text_a"} It was {"mask"}."#,
            r#"{"meta": "sentence", "shortenable": True, "post_processing": lambda x: x.lower()} {"soft": "It was"} {"mask"}"#,
            r#"{"soft": None, "duplicate": 20} {"placeholder": "text_a", "shortenable": False} {"mask"}"#,
            r#"{"text": "  padded  ", "add_prefix_space": ""}{"mask"}{"text": " "}"#,
            r#"{"text": "{\"quoted\"}\n"} {"mask"}"#,
        ];
        for src in sources {
            let template = Template::parse(src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
            let text = template.to_string();
            let back = Template::parse_text(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(back.segments(), template.segments(), "text syntax {text:?}");
            assert_eq!(Template::parse(&text).unwrap().segments(), template.segments(), "auto {text:?}");
            let openprompt = template.to_openprompt();
            let back =
                Template::parse_openprompt(&openprompt).unwrap_or_else(|e| panic!("{openprompt:?}: {e}"));
            assert_eq!(back.segments(), template.segments(), "OpenPrompt {openprompt:?}");
        }
    }

    /// Random segment lists, built with `Template::new`, survive both round trips.
    #[test]
    fn round_trips_random() {
        let texts = [
            " ", "  ", "a", " It was ", "It was", " .", "{", "}", "{\"x\"}", "\n", " \t ", "é😀", "'q'", "\\",
        ];
        let names = ["text_a", "text_b", "label", "meta.col", "é-x"];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..2000 {
            let len = 1 + next(6);
            let segments: Vec<Segment> = (0..len)
                .map(|_| match next(5) {
                    0 | 1 => t(texts[next(texts.len())]),
                    2 => field(names[next(names.len())], next(2) == 0, PostProcess::ALL[next(6)]),
                    3 => M,
                    _ => match next(3) {
                        0 => soft(1 + next(30)),
                        1 => soft_text(texts[next(texts.len())]),
                        _ => soft(1),
                    },
                })
                .collect();
            let template = Template::new(segments.clone()).unwrap_or_else(|e| panic!("{segments:?}: {e}"));
            let openprompt = template.to_openprompt();
            let back =
                Template::parse_openprompt(&openprompt).unwrap_or_else(|e| panic!("{openprompt:?}: {e}"));
            assert_eq!(back.segments(), template.segments(), "{openprompt:?}");
            assert_eq!(Template::parse_text(&template.to_string()).unwrap(), template);
            assert_eq!(Template::parse(&template.to_string()).unwrap(), template);
        }
    }
}
