//! Parsers for the text syntax ([`text`]) and the OpenPrompt syntax ([`openprompt`]), described in
//! the module docs of [`crate::template`], and what they share: telling the syntax by its look,
//! collecting segments with their spans, refusing a literal mask token. Positions are character
//! offsets, so every source is read as a `Vec<char>`.

mod openprompt;
mod text;

use std::ops::Range;

use super::{Segment, Syntax, Template, example, mask_placeholder, template_error as err};
use crate::error::Result;

/// More soft tokens than this in one placeholder is surely a typo: no model has such a context.
pub(super) const MAX_SOFT_TOKENS: usize = 100_000;

impl Template {
    /// Parses a template, telling the syntax by its look: a `{` followed by a quote (`{"` or `{'`)
    /// means OpenPrompt syntax, anything else the text syntax.
    pub fn parse(src: &str) -> Result<Template> {
        if looks_like_openprompt(src) { Template::parse_openprompt(src) } else { Template::parse_text(src) }
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
pub(super) struct Builder {
    segments: Vec<Segment>,
    spans: Vec<Range<usize>>,
}

impl Builder {
    pub(super) fn text(&mut self, text: &str, span: Range<usize>) {
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

    pub(super) fn push(&mut self, segment: Segment, span: Range<usize>) {
        self.segments.push(segment);
        self.spans.push(span);
    }

    pub(super) fn finish(self, src: &str, syntax: Syntax) -> Result<Template> {
        if self.segments.is_empty() {
            return Err(err(0, format!("template is empty; write one, e.g. {}", example(syntax))));
        }
        Ok(Template { segments: self.segments, spans: self.spans, source: src.to_string(), syntax })
    }
}

/// Rejects a model's own mask token written as fixed text: the tokenizer would read it as a mask.
/// `positions[k]` is the source position of `chars[k]`.
pub(super) fn check_literal_masks(chars: &[char], positions: &[usize], syntax: Syntax) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::template::{Field, PostProcess, SoftTokens};

    pub(super) fn t(s: &str) -> Segment {
        Segment::Text(s.to_string())
    }

    pub(super) fn f(name: &str) -> Segment {
        Segment::Field(Field::new(name))
    }

    pub(super) fn field(name: &str, shortenable: bool, post: PostProcess) -> Segment {
        Segment::Field(Field { name: name.to_string(), shortenable, post })
    }

    pub(super) fn soft(count: usize) -> Segment {
        Segment::Soft(SoftTokens::random(count))
    }

    pub(super) fn soft_text(init: &str) -> Segment {
        Segment::Soft(SoftTokens::from_text(init))
    }

    pub(super) const M: Segment = Segment::Mask;

    /// The error's position and message, with the character at the position for failure messages.
    pub(super) fn error_of(src: &str, result: Result<Template>) -> (usize, String) {
        match result {
            Err(Error::Template { position, message }) => (position, message),
            Err(other) => panic!("{src:?}: expected a template error, got {other:?}"),
            Ok(t) => panic!("{src:?}: expected an error, parsed {:?}", t.segments()),
        }
    }

    pub(super) fn check_errors(cases: &[(&str, usize, &str)], parse: fn(&str) -> Result<Template>) {
        for &(src, want_pos, fragment) in cases {
            let (pos, message) = error_of(src, parse(src));
            let at: String = src.chars().skip(pos).take(12).collect();
            assert_eq!(pos, want_pos, "{src:?}: error at {pos} ({at:?}): {message}");
            assert!(message.contains(fragment), "{src:?}: {message:?} lacks {fragment:?}");
        }
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
