//! Table-driven tests of template rendering with real tokenizers (the parity fixtures' WordPiece
//! and byte-level BPE): special tokens, mask and soft-token positions, post-processing, truncation
//! of shortenable fields (longest first, never the fixed text or the mask), and every render error.

use std::path::PathBuf;

use cloze::plm::{Family, PlmTokenizer};
use cloze::template::{Renderer, SoftSlot, Template};

fn tokenizer(name: &str, family: Family) -> PlmTokenizer {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity")).join(name);
    PlmTokenizer::load(&dir, family).unwrap()
}

struct Case {
    template: &'static str,
    fields: &'static [(&'static str, &'static str)],
    max_len: usize,
    tokens: &'static str,
    mask: &'static [usize],
    truncated: usize,
}

fn run(tok: &PlmTokenizer, cases: &[Case]) {
    for c in cases {
        let template = Template::parse(c.template).unwrap();
        let r = Renderer::new(tok, c.max_len).render(&template, c.fields).unwrap();
        let tokens: Vec<String> = r.ids.iter().map(|&i| tok.id_to_token(i).unwrap()).collect();
        assert_eq!(tokens.join(" "), c.tokens, "{} with {:?} (max {})", c.template, c.fields, c.max_len);
        assert_eq!(r.mask_positions, c.mask, "{}: mask positions", c.template);
        assert_eq!(r.truncated, c.truncated, "{}: truncated", c.template);
        assert!(r.ids.len() <= c.max_len);
    }
}

#[test]
fn wordpiece_rendering_and_truncation() {
    let tok = tokenizer("bert", Family::Bert);
    const SIX: &[(&str, &str)] = &[("text_a", "a b c d e f"), ("text_b", "a b")];
    run(
        &tok,
        &[
            Case {
                template: "{text_a} It was {mask}.",
                fields: &[("text_a", "the acting was wonderful")],
                max_len: 128,
                tokens: "[CLS] the acting was wonderful it was [MASK] . [SEP]",
                mask: &[7],
                truncated: 0,
            },
            // exactly at the limit: nothing removed
            Case {
                template: "{text_a} It was {mask}.",
                fields: &[("text_a", "the acting was wonderful")],
                max_len: 10,
                tokens: "[CLS] the acting was wonderful it was [MASK] . [SEP]",
                mask: &[7],
                truncated: 0,
            },
            // one field: its tail goes, the fixed text and the mask stay
            Case {
                template: "{text_a} It was {mask}.",
                fields: SIX,
                max_len: 8,
                tokens: "[CLS] a b it was [MASK] . [SEP]",
                mask: &[5],
                truncated: 4,
            },
            // the mask first: truncation still removes only text_a's tail
            Case {
                template: "{mask}: {text_a}",
                fields: SIX,
                max_len: 6,
                tokens: "[CLS] [MASK] : a b [SEP]",
                mask: &[1],
                truncated: 4,
            },
            // two fields: the longest is shortened first, ties go to the earlier field
            Case {
                template: "{text_a} {text_b} It was {mask}.",
                fields: SIX,
                max_len: 10,
                tokens: "[CLS] a b a b it was [MASK] . [SEP]",
                mask: &[7],
                truncated: 4,
            },
            Case {
                template: "{text_a} {text_b} It was {mask}.",
                fields: SIX,
                max_len: 8,
                tokens: "[CLS] a a it was [MASK] . [SEP]",
                mask: &[5],
                truncated: 6,
            },
            // a field marked full is never shortened
            Case {
                template: "{text_a|full} {text_b} It was {mask}.",
                fields: SIX,
                max_len: 12,
                tokens: "[CLS] a b c d e f it was [MASK] . [SEP]",
                mask: &[9],
                truncated: 2,
            },
            // post-processing
            Case {
                template: "{text_a|strip}, it was {mask}.",
                fields: &[("text_a", "great movie!!")],
                max_len: 64,
                tokens: "[CLS] great movie , it was [MASK] . [SEP]",
                mask: &[6],
                truncated: 0,
            },
            // any column by name, and OpenPrompt syntax gives the same ids as the text syntax
            Case {
                template: r#"{"meta": "title"} It was {"mask"}."#,
                fields: &[("title", "great movie")],
                max_len: 64,
                tokens: "[CLS] great movie it was [MASK] . [SEP]",
                mask: &[5],
                truncated: 0,
            },
        ],
    );
}

#[test]
fn byte_level_bpe_keeps_spaces_as_transformers_does() {
    let tok = tokenizer("roberta", Family::Roberta);
    run(
        &tok,
        &[
            Case {
                template: "{text_a} It was {mask}.",
                fields: &[("text_a", "the acting was wonderful")],
                max_len: 128,
                tokens: "<s> t he Ġacting Ġwas Ġwonderful ĠIt Ġwas <mask> . </s>",
                mask: &[8],
                truncated: 0,
            },
            Case {
                template: "{text_a|lower} It was {mask}.",
                fields: &[("text_a", "GREAT Movie")],
                max_len: 128,
                tokens: "<s> g reat Ġmovie ĠIt Ġwas <mask> . </s>",
                mask: &[6],
                truncated: 0,
            },
        ],
    );
}

#[test]
fn soft_tokens_get_slots() {
    let tok = tokenizer("bert", Family::Bert);
    let mask_id = tok.special().mask.1;
    let r = Renderer::new(&tok, 64)
        .render(&Template::parse("{soft:2} {text_a} It was {mask}.").unwrap(), &[("text_a", "great movie")])
        .unwrap();
    assert_eq!(r.mask_positions, vec![7]);
    assert_eq!(
        r.soft_slots,
        vec![
            SoftSlot { position: 1, index: 0, init_id: None },
            SoftSlot { position: 2, index: 1, init_id: None }
        ]
    );
    assert_eq!(&r.ids[1..3], &[mask_id, mask_id], "placeholder ids");

    let r = Renderer::new(&tok, 64)
        .render(
            &Template::parse(r#"{text_a} {soft:"it was"} {mask}."#).unwrap(),
            &[("text_a", "great movie")],
        )
        .unwrap();
    let it = tok.encode_plain("it").unwrap()[0];
    let was = tok.encode_plain("was").unwrap()[0];
    assert_eq!(
        r.soft_slots,
        vec![
            SoftSlot { position: 3, index: 0, init_id: Some(it) },
            SoftSlot { position: 4, index: 1, init_id: Some(was) }
        ]
    );
    assert_eq!(r.mask_positions, vec![5]);
}

#[test]
fn render_errors_say_what_and_where() {
    let tok = tokenizer("bert", Family::Bert);
    type Fields<'a> = &'a [(&'a str, &'a str)];
    let cases: &[(&str, Fields, usize, &str)] = &[
        (
            "It was {mask}. {title}",
            &[("text_a", "x")],
            64,
            "template error at character 15: this row has no value for {title}",
        ),
        (
            "{text_a|full} {text_b} It was {mask}.",
            &[("text_a", "a b c d e f"), ("text_b", "a b")],
            10,
            "fixed parts take 12 tokens but the model takes at most 10",
        ),
        ("A very long fixed text indeed, it was {mask}.", &[], 8, "the model takes at most 8"),
    ];
    for (template, fields, max_len, fragment) in cases {
        let err =
            Renderer::new(&tok, *max_len).render(&Template::parse(template).unwrap(), *fields).unwrap_err();
        assert!(err.to_string().contains(fragment), "{template}: {err}");
        assert_eq!(err.kind(), cloze::error::ErrorKind::InvalidInput);
    }
}

/// The truncation rendering used before it was made linear, applied to an untruncated rendering:
/// for every token removed, the longest shortenable field (ties: the earlier) loses its last token.
fn truncate_as_before(
    full: &cloze::template::Rendered,
    shortenable: &[Option<usize>],
    max_len: usize,
) -> Option<Vec<u32>> {
    let field = |i: usize| full.segments[i].and_then(|k| shortenable[k]);
    let fields = shortenable.iter().flatten().count();
    let mut keep = vec![true; full.ids.len()];
    let mut lengths = vec![0usize; fields];
    (0..full.ids.len()).filter_map(field).for_each(|f| lengths[f] += 1);
    for _ in 0..full.ids.len().saturating_sub(max_len) {
        let (longest, &len) = lengths.iter().enumerate().rev().max_by_key(|(_, l)| **l)?;
        if len == 0 {
            return None;
        }
        let victim = (0..full.ids.len()).rev().find(|&i| keep[i] && field(i) == Some(longest))?;
        keep[victim] = false;
        lengths[longest] -= 1;
    }
    Some(full.ids.iter().zip(&keep).filter(|(_, k)| **k).map(|(id, _)| *id).collect())
}

#[test]
fn truncation_gives_the_same_ids_as_before_on_random_strings() {
    const ALPHABET: &[&str] =
        &["a", "b", "the", " ", " ", "great", "!", ".", "é", "日本", "\n", "  ", "movie", "'s"];
    let mut rng = cloze::data::SplitMix64::new(12);
    for (name, family) in
        [("bert", Family::Bert), ("roberta", Family::Roberta), ("xlm-roberta", Family::XlmRoberta)]
    {
        let tok = tokenizer(name, family);
        for template in
            ["{text_a} It was {mask}.", "{text_a} {text_b} It was {mask}.", "{mask}: {text_b|full} {text_a}"]
        {
            let template = Template::parse(template).unwrap();
            let mut ordinal = 0;
            let shortenable: Vec<Option<usize>> = template
                .segments()
                .iter()
                .map(|s| match s {
                    cloze::template::Segment::Field(f) if f.shortenable => {
                        ordinal += 1;
                        Some(ordinal - 1)
                    }
                    _ => None,
                })
                .collect();
            for case in 0..150 {
                let mut random = || -> String {
                    (0..rng.below(40)).map(|_| ALPHABET[rng.below(ALPHABET.len())]).collect()
                };
                let (a, b) = (random(), random());
                let fields = [("text_a", a.as_str()), ("text_b", b.as_str())];
                let full = Renderer::new(&tok, 1 << 20).render(&template, &fields).unwrap();
                let max_len = 1 + rng.below(full.ids.len() + 2);
                let now = Renderer::new(&tok, max_len).render(&template, &fields).ok().map(|r| r.ids);
                assert_eq!(
                    now,
                    truncate_as_before(&full, &shortenable, max_len),
                    "{name} case {case}: {fields:?} max {max_len}"
                );
            }
        }
    }
}

#[test]
fn a_megabyte_field_renders_in_one_pass() {
    // A 1 MB field is ~900,000 tokens: removing them one rescan at a time took 7 minutes (release);
    // tokenized once and cut from each field's token list, it takes about a second.
    let tok = tokenizer("roberta", Family::Roberta);
    let template = Template::parse("{text_a} It was {mask}.").unwrap();
    let text = "the acting was wonderful, ".repeat(40_000);
    let r = Renderer::new(&tok, 512).render(&template, &[("text_a", text.as_str())]).unwrap();
    assert_eq!(r.ids.len(), 512);
    assert_eq!(r.cuts.len(), 1);
    assert!(r.truncated > 100_000, "{} removed", r.truncated);
    let tokens: Vec<String> = r.ids[r.ids.len() - 5..].iter().map(|&i| tok.id_to_token(i).unwrap()).collect();
    assert_eq!(tokens.join(" "), "ĠIt Ġwas <mask> . </s>");
}
