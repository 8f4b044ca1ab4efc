//! The text syntax: `{text_a} It was {mask}.`, with `|` options on fields and `{soft…}` placeholders.

use super::super::{
    Field, PostProcess, Segment, SoftTokens, Syntax, Template, field_name_problem, template_error as err,
};
use super::{Builder, MAX_SOFT_TOKENS, check_literal_masks};
use crate::error::{Error, Result};

/// The text-syntax options, for messages.
const OPTIONS: &str = "full (never shorten), lower (lower-case), strip (drop trailing punctuation), \
                       period (end with a period), cap (capitalise the first letter), decap (lower-case \
                       the first letter)";

impl Template {
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

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use crate::template::{PostProcess, Segment, Syntax, Template};

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
}
