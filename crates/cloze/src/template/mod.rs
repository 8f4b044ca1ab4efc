//! Templates: how an example is wrapped into the text the model reads.
//!
//! A [`Template`] is a list of [`Segment`]s: fixed [`Segment::Text`], data [`Segment::Field`]s filled
//! from each example, the [`Segment::Mask`] where the model fills in the label word, and trainable
//! [`Segment::Soft`] prompt vectors. Templates are written in one of two syntaxes; [`Template::parse`]
//! tells them apart (a `{` followed by a quote means OpenPrompt syntax).
//!
//! # Text syntax
//!
//! ```text
//! {text_a} It was {mask}.
//! Premise: {text_a|full} Hypothesis: {text_b|decap} Answer: {mask}
//! {soft:5} {text_a} {soft:"In summary, it was"} {mask}.
//! ```
//!
//! Everything outside braces is fixed text, kept verbatim: spaces and newlines matter to the
//! tokenizer, so `{text_a} It was {mask}.` keeps the space after `{text_a}` and before `{mask}`.
//!
//! | placeholder | meaning |
//! | --- | --- |
//! | `{text_a}`, `{text_b}`, `{any_column}` | a data field. Names use letters, digits, `_`, `-` and `.`, and don't start with a digit |
//! | `{text_a\|full}` | never shorten this field (fields are shortened to fit the model by default) |
//! | `{text_a\|lower}` | lower-case the value |
//! | `{text_a\|strip}` | drop trailing punctuation (`.` `!` `?` `,` `;` `:` `…`) |
//! | `{text_a\|period}` | make the value end with a period (unless it already ends in `.`, `!` or `?`) |
//! | `{text_a\|cap}` | upper-case the first letter |
//! | `{text_a\|decap}` | lower-case the first letter (LM-BFF's `sentl`) |
//! | `{text_a\|full\|lower}` | options combine: `full` plus at most one of the others |
//! | `{mask}` | where the model fills in the label word. No options |
//! | `{soft}` | one trainable soft token, randomly initialised |
//! | `{soft:5}` | five soft tokens |
//! | `{soft:"It was"}` | soft tokens initialised from the embeddings of `It was`: one per token of that text, so the count is decided when rendering ([`SoftTokens::count`] is 0). Inside the quotes write `\"` for a quote and `\\` for a backslash |
//! | `{{` and `}}` | a literal `{` and `}` |
//!
//! The keywords `mask` and `soft` are matched case-insensitively (`{MASK}` is the mask); they cannot
//! name data fields. A model's own mask token written as text (`[MASK]`, `<mask>`, `<extra_id_0>`) is
//! an error: the tokenizer would read it as a second mask. Write `{mask}` instead.
//!
//! # OpenPrompt syntax (import)
//!
//! The template text of OpenPrompt's `ManualTemplate`, `MixedTemplate` and `SoftTemplate`: text
//! outside braces is fixed text, and each `{…}` is a Python dict or set literal.
//!
//! ```text
//! {"placeholder":"text_a"} It was {"mask"}.
//! {"meta": "sentence", "shortenable": False} {"soft": "It was"} {"mask"}.
//! {"soft": None, "duplicate": 20} {"placeholder": "text_a", "post_processing": lambda x: x.lower()} {"mask"}
//! ```
//!
//! | dict | becomes |
//! | --- | --- |
//! | `{"placeholder": "text_a"}` | field `text_a`, shortenable unless `"shortenable": False` (or `"False"`) |
//! | `{"meta": "entity"}` | field `entity`; as in OpenPrompt, *not* shortenable unless `"shortenable": True` |
//! | `{"mask"}` | the mask |
//! | `{"soft"}`, `{"soft": None}` | one soft token |
//! | `{"soft": None, "duplicate": 20}` | twenty soft tokens |
//! | `{"soft": "It was"}` | soft tokens initialised from `It was` |
//! | `{"text": "It was"}` | fixed text |
//! | `"post_processing": lambda x: …` | a [`PostProcess`], for the lambdas listed there (quoted lambdas too) |
//! | `"soft_id": n` | accepted where it first names a group of soft tokens (the id is dropped); reusing an id to *share* embeddings is an error, not supported yet |
//! | `{"special": "<eos>"}`, `"same": True`, `"post_processing": "mlp"` | errors: not supported |
//!
//! Whitespace follows OpenPrompt: the spaces before each piece collapse into one "prefix space",
//! and spaces at the end of the template are dropped. Here that space becomes part of the
//! preceding fixed text, so `{"placeholder":"text_a"} It was {"mask"}.` gives exactly the segments of
//! `{text_a} It was {mask}.`. An explicit `"add_prefix_space": ""` (or `" "`) replaces that space.
//!
//! [`Template::to_openprompt`] writes OpenPrompt syntax back and [`Template`]'s `Display` writes the
//! text syntax; both parse back to the same segments.

pub mod chat;
mod parse;
mod render;

pub use render::{FieldSource, Rendered, Renderer, SoftSlot, mask_batch};

use std::fmt::{self, Write as _};
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which syntax a template was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Syntax {
    /// `{text_a} It was {mask}.`
    #[serde(rename = "text")]
    Text,
    /// `{"placeholder":"text_a"} It was {"mask"}.`
    #[serde(rename = "openprompt")]
    OpenPrompt,
}

/// A parsed template: segments, the character span of each in the source, and the source itself.
///
/// Serialises with its segments and spans (for highlighting in the UI); deserialises from
/// `{"source": …, "syntax": …}` by parsing again, so a stored template is always valid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TemplateSource")]
pub struct Template {
    segments: Vec<Segment>,
    /// Character (not byte) span of each segment in `source`.
    spans: Vec<Range<usize>>,
    source: String,
    syntax: Syntax,
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Segment {
    /// Fixed text, never shortened. Kept verbatim, whitespace included.
    Text(String),
    /// A data column of the example, by name (`text_a`, `text_b`, or any other column).
    Field(Field),
    /// Where the model fills in the label word.
    Mask,
    /// Trainable prompt vectors.
    Soft(SoftTokens),
}

/// A data field in a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// The column name.
    pub name: String,
    /// Whether this field may be shortened to fit the model's maximum length.
    pub shortenable: bool,
    /// What to do to the value before it is inserted.
    pub post: PostProcess,
}

impl Field {
    /// A shortenable field with no post-processing.
    pub fn new(name: impl Into<String>) -> Field {
        Field { name: name.into(), shortenable: true, post: PostProcess::None }
    }
}

/// Post-processing of a field's value before it is inserted into the template.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostProcess {
    /// Insert the value as it is.
    #[default]
    None,
    /// Lower-case the whole value (`{text_a|lower}`; OpenPrompt `lambda x: x.lower()`).
    Lower,
    /// Drop trailing punctuation (`.` `!` `?` `,` `;` `:` `…`) and whitespace (`{text_a|strip}`;
    /// OpenPrompt `x.rstrip('.')`, `x.strip('.')` or any punctuation argument,
    /// `x.rstrip(string.punctuation)`, and `x[:-1]`, which drops the final period in practice).
    StripTrailingPunctuation,
    /// Make the value end with a period: trailing whitespace is dropped and `.` appended unless it
    /// already ends in `.`, `!` or `?` (`{text_a|period}`; OpenPrompt `x + '.'`).
    AddPeriod,
    /// Upper-case the first character, leaving the rest as it is (`{text_a|cap}`; OpenPrompt
    /// `x[0].upper() + x[1:]`, and also `x.capitalize()`, though Python's version lower-cases the rest).
    Capitalize,
    /// Lower-case the first character, as LM-BFF does for a sentence continuing a prompt
    /// (`{text_a|decap}`; OpenPrompt `x[0].lower() + x[1:]`).
    DecapitalizeFirst,
}

/// Characters [`PostProcess::StripTrailingPunctuation`] removes from the end of a value.
const STRIP_CHARS: &[char] = &['.', '!', '?', ',', ';', ':', '…'];

impl PostProcess {
    /// Every post-processing, in option order.
    pub const ALL: [PostProcess; 6] = [
        PostProcess::None,
        PostProcess::Lower,
        PostProcess::StripTrailingPunctuation,
        PostProcess::AddPeriod,
        PostProcess::Capitalize,
        PostProcess::DecapitalizeFirst,
    ];

    /// Applies this post-processing to a field's value.
    pub fn apply(self, value: &str) -> String {
        match self {
            PostProcess::None => value.to_string(),
            PostProcess::Lower => value.to_lowercase(),
            PostProcess::StripTrailingPunctuation => {
                value.trim_end_matches(|c: char| c.is_whitespace() || STRIP_CHARS.contains(&c)).to_string()
            }
            PostProcess::AddPeriod => {
                let trimmed = value.trim_end();
                if trimmed.is_empty() || trimmed.ends_with(['.', '!', '?']) {
                    trimmed.to_string()
                } else {
                    format!("{trimmed}.")
                }
            }
            PostProcess::Capitalize => {
                let mut chars = value.chars();
                chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
            }
            PostProcess::DecapitalizeFirst => {
                let mut chars = value.chars();
                chars.next().map(|first| first.to_lowercase().chain(chars).collect()).unwrap_or_default()
            }
        }
    }

    /// The text-syntax option (`lower` in `{text_a|lower}`), or `None` for [`PostProcess::None`].
    pub fn option(self) -> Option<&'static str> {
        match self {
            PostProcess::None => None,
            PostProcess::Lower => Some("lower"),
            PostProcess::StripTrailingPunctuation => Some("strip"),
            PostProcess::AddPeriod => Some("period"),
            PostProcess::Capitalize => Some("cap"),
            PostProcess::DecapitalizeFirst => Some("decap"),
        }
    }

    /// The post-processing a text-syntax option names.
    pub fn from_option(option: &str) -> Option<PostProcess> {
        PostProcess::ALL.into_iter().find(|p| p.option() == Some(option))
    }

    /// The OpenPrompt `post_processing` lambda, or `None` for [`PostProcess::None`].
    pub fn openprompt_lambda(self) -> Option<&'static str> {
        match self {
            PostProcess::None => None,
            PostProcess::Lower => Some("lambda x: x.lower()"),
            PostProcess::StripTrailingPunctuation => Some("lambda x: x.rstrip('.!?,;:')"),
            PostProcess::AddPeriod => Some("lambda x: x + '.'"),
            PostProcess::Capitalize => Some("lambda x: x[:1].upper() + x[1:]"),
            PostProcess::DecapitalizeFirst => Some("lambda x: x[:1].lower() + x[1:]"),
        }
    }
}

/// Trainable prompt vectors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftTokens {
    /// How many soft tokens. 0 exactly when `init` is set: then there is one per token of the init
    /// text, decided when rendering with the model's tokenizer.
    pub count: usize,
    /// Text whose token embeddings initialise the soft tokens; `None` means random initialisation.
    pub init: Option<String>,
}

impl SoftTokens {
    /// `count` randomly initialised soft tokens.
    pub fn random(count: usize) -> SoftTokens {
        SoftTokens { count, init: None }
    }

    /// Soft tokens initialised from the embeddings of `text`, one per token.
    pub fn from_text(text: impl Into<String>) -> SoftTokens {
        SoftTokens { count: 0, init: Some(text.into()) }
    }
}

impl Template {
    /// Builds a template from segments (adjacent texts are joined, empty ones dropped). Its source
    /// is the canonical text syntax, so spans point into that.
    pub fn new(segments: Vec<Segment>) -> Result<Template> {
        let mut normal: Vec<Segment> = Vec::with_capacity(segments.len());
        for segment in segments {
            match segment {
                Segment::Text(text) if text.is_empty() => {}
                Segment::Text(text) => match normal.last_mut() {
                    Some(Segment::Text(prev)) => prev.push_str(&text),
                    _ => normal.push(Segment::Text(text)),
                },
                Segment::Field(field) => {
                    if let Some((_, message)) = field_name_problem(&field.name) {
                        return Err(Error::invalid(format!("field {:?}: {message}", field.name)));
                    }
                    normal.push(Segment::Field(field));
                }
                Segment::Soft(soft) => {
                    if (soft.count == 0) != soft.init.is_some() {
                        return Err(Error::invalid(
                            "soft tokens take either a count from 1 up or an init text (count 0), not both",
                        ));
                    }
                    normal.push(Segment::Soft(soft));
                }
                Segment::Mask => normal.push(Segment::Mask),
            }
        }
        let source: String = normal.iter().map(ToString::to_string).collect();
        let template = Template::parse_text(&source)?;
        if template.segments != normal {
            return Err(Error::invalid(format!(
                "these segments cannot be written as a template (they read back differently from {source:?})"
            )));
        }
        Ok(template)
    }

    /// The segments, in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The character (not byte) span in [`Template::source`] of each segment.
    pub fn spans(&self) -> &[Range<usize>] {
        &self.spans
    }

    /// The text the template was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The syntax of [`Template::source`].
    pub fn syntax(&self) -> Syntax {
        self.syntax
    }

    /// How many masks the template has.
    pub fn mask_count(&self) -> usize {
        self.segments.iter().filter(|s| matches!(s, Segment::Mask)).count()
    }

    /// The data fields, in order (a field used twice appears twice).
    pub fn fields(&self) -> impl Iterator<Item = &Field> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Field(field) => Some(field),
            _ => None,
        })
    }

    /// The number of soft tokens known before tokenization: soft tokens initialised from text
    /// (count 0) are counted only when rendering.
    pub fn soft_token_count(&self) -> usize {
        self.soft_tokens().map(|s| s.count).sum()
    }

    /// The soft-token groups, in order.
    pub fn soft_tokens(&self) -> impl Iterator<Item = &SoftTokens> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Soft(soft) => Some(soft),
            _ => None,
        })
    }

    /// Checks the template fits classification: exactly one mask.
    pub fn check_classification(&self) -> Result<()> {
        let mask = mask_placeholder(self.syntax);
        let mut masks = self.segments.iter().zip(&self.spans).filter(|(s, _)| matches!(s, Segment::Mask));
        let Some((_, first)) = masks.next() else {
            return Err(template_error(
                self.source.chars().count(),
                format!(
                    "template has no {mask}; add one where the model should fill in the label word, e.g. {}",
                    example(self.syntax)
                ),
            ));
        };
        if let Some((_, second)) = masks.next() {
            return Err(template_error(
                second.start,
                format!(
                    "only one {mask} is expected here (classification fills in one label word), but the \
                     first {mask} is at character {}; remove one of them",
                    first.start
                ),
            ));
        }
        Ok(())
    }

    /// Checks every field names one of `available` (`text_a`, `text_b` and the data's columns).
    pub fn check_fields(&self, available: &[&str]) -> Result<()> {
        for (segment, span) in self.segments.iter().zip(&self.spans) {
            let Segment::Field(field) = segment else { continue };
            if available.contains(&field.name.as_str()) {
                continue;
            }
            let shown = |name: &str| match self.syntax {
                Syntax::Text => format!("{{{name}}}"),
                Syntax::OpenPrompt => format!("{name:?}"),
            };
            let mut message =
                format!("unknown field {}: the data has no column of that name", shown(&field.name));
            let candidates = available.iter().copied().chain(std::iter::once("mask"));
            if let Some(close) = closest(&field.name, candidates) {
                if close == "mask" {
                    let _ = write!(message, "; did you mean {}, the mask?", mask_placeholder(self.syntax));
                } else {
                    let _ = write!(message, "; did you mean {}?", shown(close));
                }
            }
            if available.is_empty() {
                message.push_str(" No fields are available.");
            } else {
                let _ = write!(message, " Available fields: {}.", available.join(", "));
            }
            return Err(template_error(span.start, message));
        }
        Ok(())
    }

    /// The template in OpenPrompt syntax, for export; [`Template::parse_openprompt`] reads it back to
    /// the same segments. `text_a`/`text_b` become `placeholder`s and other fields `meta`s, with
    /// `"shortenable"` written where it differs from OpenPrompt's default for each.
    ///
    /// Fixed text OpenPrompt's whitespace rules would change (a `{`, two or more spaces at either
    /// end, or spaces at the very end) is written as `{"text": …, "add_prefix_space": ""}`. OpenPrompt
    /// itself cannot load a `{` or `}` inside such a string; that text has no OpenPrompt equivalent.
    pub fn to_openprompt(&self) -> String {
        let mut out = String::new();
        let last = self.segments.len().saturating_sub(1);
        for (k, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Text(text) if openprompt_plain_text_ok(text, k == last) => out.push_str(text),
                Segment::Text(text) => {
                    let _ = write!(out, r#"{{"text": {}, "add_prefix_space": ""}}"#, py_quote(text));
                }
                Segment::Field(field) => {
                    let (key, default_shortenable) = match field.name.as_str() {
                        "text_a" | "text_b" => ("placeholder", true),
                        _ => ("meta", false),
                    };
                    let _ = write!(out, r#"{{"{key}": {}"#, py_quote(&field.name));
                    if field.shortenable != default_shortenable {
                        let value = if field.shortenable { "True" } else { "False" };
                        let _ = write!(out, r#", "shortenable": {value}"#);
                    }
                    if let Some(lambda) = field.post.openprompt_lambda() {
                        let _ = write!(out, r#", "post_processing": {lambda}"#);
                    }
                    out.push('}');
                }
                Segment::Mask => out.push_str(r#"{"mask"}"#),
                Segment::Soft(SoftTokens { init: Some(init), .. }) => {
                    let _ = write!(out, r#"{{"soft": {}}}"#, py_quote(init));
                }
                Segment::Soft(SoftTokens { count: 1, init: None }) => out.push_str(r#"{"soft"}"#),
                Segment::Soft(SoftTokens { count, init: None }) => {
                    let _ = write!(out, r#"{{"soft": None, "duplicate": {count}}}"#);
                }
            }
        }
        out
    }
}

/// The canonical text syntax of one segment.
impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Text(text) => {
                for c in text.chars() {
                    match c {
                        '{' => f.write_str("{{")?,
                        '}' => f.write_str("}}")?,
                        c => f.write_char(c)?,
                    }
                }
                Ok(())
            }
            Segment::Field(field) => {
                write!(f, "{{{}", field.name)?;
                if !field.shortenable {
                    f.write_str("|full")?;
                }
                if let Some(option) = field.post.option() {
                    write!(f, "|{option}")?;
                }
                f.write_char('}')
            }
            Segment::Mask => f.write_str("{mask}"),
            Segment::Soft(SoftTokens { init: Some(init), .. }) => {
                f.write_str("{soft:\"")?;
                for c in init.chars() {
                    if c == '"' || c == '\\' {
                        f.write_char('\\')?;
                    }
                    f.write_char(c)?;
                }
                f.write_str("\"}")
            }
            Segment::Soft(SoftTokens { count: 1, init: None }) => f.write_str("{soft}"),
            Segment::Soft(SoftTokens { count, init: None }) => write!(f, "{{soft:{count}}}"),
        }
    }
}

/// The canonical text syntax; [`Template::parse_text`] reads it back to the same segments.
impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.segments.iter().try_for_each(|segment| write!(f, "{segment}"))
    }
}

/// What a serialised template is read back from.
#[derive(Deserialize)]
struct TemplateSource {
    source: String,
    #[serde(default)]
    syntax: Option<Syntax>,
}

impl TryFrom<TemplateSource> for Template {
    type Error = Error;

    fn try_from(value: TemplateSource) -> Result<Template> {
        match value.syntax {
            Some(Syntax::Text) => Template::parse_text(&value.source),
            Some(Syntax::OpenPrompt) => Template::parse_openprompt(&value.source),
            None => Template::parse(&value.source),
        }
    }
}

/// A template error at a character position.
pub(crate) fn template_error(position: usize, message: impl Into<String>) -> Error {
    Error::Template { position, message: message.into() }
}

/// An example template in `syntax`, for hints.
fn example(syntax: Syntax) -> &'static str {
    match syntax {
        Syntax::Text => r#""{text_a} It was {mask}.""#,
        Syntax::OpenPrompt => r#"'{"placeholder": "text_a"} It was {"mask"}.'"#,
    }
}

/// How the mask is written in `syntax`, for hints.
fn mask_placeholder(syntax: Syntax) -> &'static str {
    match syntax {
        Syntax::Text => "{mask}",
        Syntax::OpenPrompt => r#"{"mask"}"#,
    }
}

/// What is wrong with a field name, if anything: the character offset in the name and a message.
pub(crate) fn field_name_problem(name: &str) -> Option<(usize, String)> {
    let lower = name.to_lowercase();
    if lower == "mask" || lower == "soft" {
        return Some((
            0,
            format!("`{name}` is reserved for {{{lower}}} and cannot name a data field; rename the column"),
        ));
    }
    let first = name.chars().next()?;
    if first.is_numeric() {
        return Some((
            0,
            format!("field name `{name}` starts with a digit; rename the column, e.g. `col_{name}`"),
        ));
    }
    let (k, bad) = name.chars().enumerate().find(|&(_, c)| !(c.is_alphanumeric() || "_-.".contains(c)))?;
    Some((
        k,
        format!(
            "{bad:?} cannot appear in a field name (`{name}`); field names use letters, digits, `_`, `-` and `.`"
        ),
    ))
}

/// Whether fixed text can be written as plain OpenPrompt text and read back unchanged. OpenPrompt
/// collapses the spaces before a piece into one and drops spaces at the end of the template.
fn openprompt_plain_text_ok(text: &str, is_last: bool) -> bool {
    if text.contains('{') {
        return false;
    }
    let len = text.chars().count();
    let leading = text.chars().take_while(|&c| c == ' ').count();
    let trailing = text.chars().rev().take_while(|&c| c == ' ').count();
    if leading == len {
        return len == 1 && !is_last;
    }
    leading <= 1 && trailing <= usize::from(!is_last)
}

/// A Python string literal for `s`.
fn py_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The candidate closest to `name` by edit distance (case-insensitive), if it is close enough to
/// be a likely typo.
fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent swaps), ignoring case.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position_and_message(err: Error) -> (usize, String) {
        match err {
            Error::Template { position, message } => (position, message),
            other => panic!("expected a template error, got {other:?}"),
        }
    }

    #[test]
    fn check_classification_errors() {
        // (source, expected position, fragments of the message)
        let cases: &[(&str, usize, &[&str])] = &[
            ("{text_a} It was good.", 21, &["template has no {mask}", r#""{text_a} It was {mask}.""#]),
            ("Très 😀 {text_a}", 15, &["has no {mask}"]),
            (r#"{"placeholder": "text_a"} It was"#, 32, &[r#"has no {"mask"}"#, r#"{"mask"}.'"#]),
            (
                "{mask} and {mask}",
                11,
                &["only one {mask} is expected here", "first {mask} is at character 0"],
            ),
            ("Très 😀 {mask} {mask}.", 14, &["only one", "character 7"]),
            (r#"{"mask"} {"mask"}"#, 9, &[r#"only one {"mask"}"#, "character 0"]),
        ];
        for &(src, want_pos, fragments) in cases {
            let template = Template::parse(src).unwrap();
            let (pos, message) = position_and_message(template.check_classification().unwrap_err());
            assert_eq!(pos, want_pos, "position for {src:?}: {message}");
            for fragment in fragments {
                assert!(message.contains(fragment), "{src:?}: {message:?} lacks {fragment:?}");
            }
        }
        for src in ["{text_a} It was {mask}.", "{mask}", r#"{"meta": "x"} {"mask"}"#] {
            Template::parse(src).unwrap().check_classification().unwrap();
        }
    }

    #[test]
    fn check_fields_errors() {
        let ab: &[&str] = &["text_a", "text_b"];
        // (source, available, expected position, fragments of the message)
        let cases: &[(&str, &[&str], usize, &[&str])] = &[
            ("{maks} was it", ab, 0, &["unknown field {maks}", "did you mean {mask}, the mask?"]),
            ("{text_a} It was {MAKS}.", ab, 16, &["did you mean {mask}"]),
            (
                "{txt_a} It was {mask}.",
                ab,
                0,
                &["did you mean {text_a}?", "Available fields: text_a, text_b."],
            ),
            ("{Text_A} {mask}", ab, 0, &["did you mean {text_a}?"]),
            (
                "{text_a} {review} {mask}",
                &["text_a", "review_text"],
                9,
                &["unknown field {review}: the data has no column of that name"],
            ),
            ("Très 😀 {txt_a} {mask}", ab, 7, &["did you mean {text_a}?"]),
            ("{text_a} {mask}", &[], 0, &["No fields are available."]),
            (
                r#"{"meta": "titel"} {"mask"}"#,
                &["title"],
                0,
                &[r#"unknown field "titel""#, r#"did you mean "title"?"#],
            ),
            (r#"{"mask"} {"placeholder": "text_c"}"#, ab, 9, &[r#"did you mean "text_a"?"#]),
        ];
        for &(src, available, want_pos, fragments) in cases {
            let template = Template::parse(src).unwrap();
            let (pos, message) = position_and_message(template.check_fields(available).unwrap_err());
            assert_eq!(pos, want_pos, "position for {src:?}: {message}");
            for fragment in fragments {
                assert!(message.contains(fragment), "{src:?}: {message:?} lacks {fragment:?}");
            }
            if src.contains("review") {
                assert!(!message.contains("did you mean"), "{message}");
            }
        }
        Template::parse("{text_a} {label} {mask}").unwrap().check_fields(&["text_a", "label"]).unwrap();
    }

    #[test]
    fn post_process_apply() {
        use PostProcess::*;
        let cases = [
            (None, "Hello World.", "Hello World."),
            (Lower, "Hello WORLD É", "hello world é"),
            (StripTrailingPunctuation, "Great movie!!", "Great movie"),
            (StripTrailingPunctuation, "Really? . ", "Really"),
            (StripTrailingPunctuation, "Wait…", "Wait"),
            (StripTrailingPunctuation, "(fine)", "(fine)"),
            (AddPeriod, "Great movie", "Great movie."),
            (AddPeriod, "Great movie.  ", "Great movie."),
            (AddPeriod, "Great movie?", "Great movie?"),
            (AddPeriod, "", ""),
            (Capitalize, "élan vital", "Élan vital"),
            (Capitalize, "iPhone is NICE", "IPhone is NICE"),
            (DecapitalizeFirst, "The Movie", "the Movie"),
            (DecapitalizeFirst, "", ""),
        ];
        for (post, input, want) in cases {
            assert_eq!(post.apply(input), want, "{post:?} on {input:?}");
        }
        for post in PostProcess::ALL {
            match post.option() {
                Some(option) => assert_eq!(PostProcess::from_option(option), Some(post)),
                Option::None => assert_eq!(post, None),
            }
        }
    }

    #[test]
    fn edit_distance_and_closest() {
        assert_eq!(edit_distance("maks", "mask"), 1);
        assert_eq!(edit_distance("txt_a", "text_a"), 1);
        assert_eq!(edit_distance("Text_A", "text_a"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(closest("text_c", ["text_a", "text_b"]), Some("text_a"));
        assert_eq!(closest("review", ["review_text"]), None);
        assert_eq!(closest("lable", ["text_a", "label"]), Some("label"));
    }

    #[test]
    fn accessors() {
        let t =
            Template::parse(r#"{soft:3} {text_a} {soft:"It was"} {mask} {text_b|full} {text_a}"#).unwrap();
        assert_eq!(t.mask_count(), 1);
        assert_eq!(t.soft_token_count(), 3);
        assert_eq!(t.soft_tokens().count(), 2);
        let names: Vec<&str> = t.fields().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["text_a", "text_b", "text_a"]);
        assert_eq!(t.syntax(), Syntax::Text);
        assert_eq!(t.segments().len(), t.spans().len());
        let chars: Vec<char> = t.source().chars().collect();
        for (segment, span) in t.segments().iter().zip(t.spans()) {
            let text: String = chars[span.clone()].iter().collect();
            if !matches!(segment, Segment::Text(_)) {
                assert!(text.starts_with('{') && text.ends_with('}'), "{text:?}");
            }
        }
    }

    #[test]
    fn new_builds_and_validates() {
        let t = Template::new(vec![
            Segment::Field(Field { name: "text_a".into(), shortenable: false, post: PostProcess::Lower }),
            Segment::Text(" It ".into()),
            Segment::Text(String::new()),
            Segment::Text("was {".into()),
            Segment::Mask,
            Segment::Soft(SoftTokens::from_text("a \"q\" \\")),
        ])
        .unwrap();
        assert_eq!(t.source(), r#"{text_a|full|lower} It was {{{mask}{soft:"a \"q\" \\"}"#);
        assert_eq!(t.segments()[1], Segment::Text(" It was {".into()));
        assert_eq!(t.spans()[1], 19..29);

        let bad = [
            vec![Segment::Field(Field::new("mask"))],
            vec![Segment::Field(Field::new("two words"))],
            vec![Segment::Soft(SoftTokens { count: 2, init: Some("x".into()) })],
            vec![Segment::Soft(SoftTokens::random(0))],
            vec![Segment::Text("[MASK]".into())],
            vec![],
        ];
        for segments in bad {
            assert!(Template::new(segments.clone()).is_err(), "{segments:?}");
        }
    }

    #[test]
    fn display_and_openprompt_output() {
        let cases = [
            ("{text_a} It was {mask}.", r#"{"placeholder": "text_a"} It was {"mask"}."#),
            (
                "{text_a|full|lower} {entity|strip}: {mask}",
                r#"{"placeholder": "text_a", "shortenable": False, "post_processing": lambda x: x.lower()} {"meta": "entity", "shortenable": True, "post_processing": lambda x: x.rstrip('.!?,;:')}: {"mask"}"#,
            ),
            (
                "{soft}{soft:4}{soft:\"It was\"} {mask}",
                r#"{"soft"}{"soft": None, "duplicate": 4}{"soft": "It was"} {"mask"}"#,
            ),
            (
                "{{x}}  {mask} ",
                r#"{"text": "{x}  ", "add_prefix_space": ""}{"mask"}{"text": " ", "add_prefix_space": ""}"#,
            ),
        ];
        for (text, openprompt) in cases {
            let t = Template::parse_text(text).unwrap();
            assert_eq!(t.to_string(), text);
            assert_eq!(t.to_openprompt(), openprompt);
            let back = Template::parse_openprompt(openprompt).unwrap();
            assert_eq!(back.segments(), t.segments(), "{openprompt}");
        }
    }

    #[test]
    fn serde_round_trip() {
        for src in ["{text_a|lower} It was {mask}.", r#"{"meta": "title", "shortenable": True} {"mask"}"#] {
            let t = Template::parse(src).unwrap();
            let json = serde_json::to_value(&t).unwrap();
            assert_eq!(json["source"], src);
            let back: Template = serde_json::from_value(json).unwrap();
            assert_eq!(back, t);
        }
        let json = serde_json::to_value(Template::parse("{text_a} {mask}").unwrap()).unwrap();
        assert_eq!(
            json["segments"][0],
            serde_json::json!({"kind": "field", "value": {"name": "text_a", "shortenable": true, "post": "none"}})
        );
        assert_eq!(json["segments"][2], serde_json::json!({"kind": "mask"}));
        assert_eq!(json["spans"][2], serde_json::json!({"start": 9, "end": 15}));
        assert_eq!(json["syntax"], "text");
        let bad: std::result::Result<Template, _> =
            serde_json::from_value(serde_json::json!({"source": "{x"}));
        assert!(bad.unwrap_err().to_string().contains("unmatched"));
        let plain: Template =
            serde_json::from_value(serde_json::json!({"source": "a }} b", "syntax": "openprompt"})).unwrap();
        assert_eq!(plain.segments(), &[Segment::Text("a }} b".into())]);
    }
}
