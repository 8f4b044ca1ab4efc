//! In-context demonstrations (LM-BFF, Gao et al. 2021, <https://arxiv.org/abs/2012.15723> §6): a
//! `{demo}` in the template is filled, for each row, with k labelled examples per class, each
//! written out through the same template with its label word in place of `{mask}` — e.g.
//! `{text_a} It was {mask}. {demo}` becomes `a gripping film . It was [MASK]. a dull mess . It was
//! terrible. a joy . It was great.` Demonstrations are drawn at random (seeded) or as the most similar
//! rows by sentence embedding, never the row itself. Works zero-shot and during fine-tuning.
//! A row's random draw depends only on the seed and the row's id, so `cloze classify`, the prompt
//! studio's preview, its live probabilities and a labelling run (in batches) give a row the same
//! demonstrations.
//!
//! `{demo}` is a field the engine fills (`Example::meta["demo"]`), so the template parser needs
//! nothing special and truncation shortens demonstrations like any other field.

use serde::{Deserialize, Serialize};

use crate::data::{Example, SplitMix64, fnv1a};
use crate::error::{Error, Result};
use crate::plm::{Kind, Plm};
use crate::template::{Segment, Template};
use crate::verbalizer::Verbalizer;

/// The field name `{demo}` reads.
pub const DEMO_FIELD: &str = "demo";

/// The seed of random demonstrations when none is given (`cloze classify --seed`, the app).
pub const DEFAULT_SEED: u64 = 13;

/// How demonstrations are chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DemoSelection {
    #[default]
    Random,
    /// The most similar rows of each class by mean-pooled sentence embedding (cosine).
    Similar,
}

impl std::str::FromStr for DemoSelection {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "random" => Ok(DemoSelection::Random),
            "similar" => Ok(DemoSelection::Similar),
            _ => Err(Error::invalid(format!("unknown demonstration selection {s:?}; use random or similar"))),
        }
    }
}

/// Demonstration settings, stored in a run's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoConfig {
    pub per_class: u32,
    pub selection: DemoSelection,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self { per_class: 1, selection: DemoSelection::Random }
    }
}

/// Whether the template has a `{demo}`.
pub fn uses_demos(template: &Template) -> bool {
    template.fields().any(|f| f.name == DEMO_FIELD)
}

/// Checks that `{demo}` is where a model of `kind` reads it: a decoder reads only the text before
/// `{mask}` (what follows is scored as the label word's continuation), so its demonstrations must
/// come first.
pub fn check_placement(kind: Kind, template: &Template) -> Result<()> {
    if kind != Kind::Decoder {
        return Ok(());
    }
    let mut seen_mask = false;
    for seg in template.segments() {
        match seg {
            Segment::Mask => seen_mask = true,
            Segment::Field(f) if f.name == DEMO_FIELD && seen_mask => {
                return Err(Error::invalid(
                    "{demo} comes after {mask}, but a decoder reads the label word from the text before {mask} \
                     only; put the demonstrations first, e.g. \"{demo} {text_a} It was {mask}.\"",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A row written out through the template with `word` at the mask (no soft tokens, no `{demo}`):
/// whitespace collapsed within each line, the template's line breaks kept, so a prompt laid out
/// in lines (`Review: {text_a}\nSentiment: {mask}`, a decoder's usual shape) shows each
/// demonstration in the shape of the query.
pub fn demo_text(template: &Template, row: &Example, word: &str) -> String {
    let mut out = String::new();
    for seg in template.segments() {
        match seg {
            Segment::Text(t) => out.push_str(t),
            Segment::Field(f) if f.name == DEMO_FIELD => {}
            Segment::Field(f) => out.push_str(&f.post.apply(row.field(&f.name).unwrap_or_default())),
            Segment::Mask => out.push_str(word),
            Segment::Soft(_) => {}
        }
    }
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("\n")
}

/// The demonstrations of a row as `{demo}` holds them: one-line demonstrations side by side
/// (LM-BFF's), multi-line ones separated by a blank line.
fn join_demos(parts: &[String]) -> String {
    parts.join(if parts.iter().any(|p| p.contains('\n')) { "\n\n" } else { " " })
}

/// What the demonstrations take of a model's input, for the prompt's author: shown by `cloze
/// classify` (truncation shortens `{demo}` first when a row does not fit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DemoBudget {
    /// Demonstrations per row.
    pub per_row: usize,
    /// Their mean length in tokens.
    pub tokens_each: f64,
    /// The model's longest input.
    pub max_len: usize,
}

impl DemoBudget {
    /// The tokens the demonstrations take per row.
    pub fn tokens(&self) -> f64 {
        self.per_row as f64 * self.tokens_each
    }

    /// E.g. `demos: 4 × ≈38 tokens = 152 of 2048 tokens per row`.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "demos: {} × ≈{:.0} tokens = {:.0} of {} tokens per row",
            self.per_row,
            self.tokens_each,
            self.tokens(),
            self.max_len
        );
        if self.tokens() > 0.5 * self.max_len as f64 {
            s.push_str(
                "; over half the input: long rows will see shortened demonstrations (use fewer per class)",
            );
        }
        s
    }

    /// How many of a row's demonstrations fit in `room` tokens (what the rest of the row leaves of
    /// the input), at their mean length: at most [`per_row`](Self::per_row), 0 when none fits.
    pub fn fitting(&self, room: usize) -> usize {
        if self.tokens_each <= 0.0 {
            return self.per_row;
        }
        ((room as f64 / self.tokens_each).floor() as usize).min(self.per_row)
    }
}

/// The labelled pool demonstrations come from.
pub struct Demonstrations {
    pool: Vec<Example>,
    texts: Vec<String>,
    by_class: Vec<Vec<usize>>,
    embeddings: Option<Vec<Vec<f32>>>,
    config: DemoConfig,
    seed: u64,
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Demonstrations {
    /// `pool`: labelled rows (labels must be the verbalizer's classes; others are ignored).
    pub fn new(
        plm: &Plm,
        template: &Template,
        verbalizer: &Verbalizer,
        pool: &[Example],
        config: DemoConfig,
        seed: u64,
    ) -> Result<Self> {
        check_placement(plm.kind(), template)?;
        let mut by_class = vec![Vec::new(); verbalizer.classes.len()];
        let mut kept = Vec::new();
        let mut texts = Vec::new();
        for ex in pool {
            let Some(ci) =
                verbalizer.classes.iter().position(|c| Some(c.name.as_str()) == ex.label.as_deref())
            else {
                continue;
            };
            let word = verbalizer.classes[ci].words.first().cloned().unwrap_or_default();
            by_class[ci].push(kept.len());
            texts.push(demo_text(template, ex, &word));
            kept.push(ex.clone());
        }
        if by_class.iter().any(Vec::is_empty) {
            return Err(Error::precondition(
                "{demo} needs labelled rows of every class to draw demonstrations from; label some rows of each \
                 class or remove {demo}",
            ));
        }
        let embeddings = match config.selection {
            DemoSelection::Random => None,
            DemoSelection::Similar => {
                let refs: Vec<&str> = kept.iter().map(|e| e.text_a.as_str()).collect();
                Some(plm.detached().sentence_embeddings(&refs)?)
            }
        };
        Ok(Self { pool: kept, texts, by_class, embeddings, config, seed })
    }

    /// What the demonstrations take of `plm`'s input (the mean over the pool's written-out rows).
    pub fn budget(&self, plm: &Plm) -> Result<DemoBudget> {
        let mut total = 0usize;
        for t in &self.texts {
            total += plm.tokenizer().encode_plain(t)?.len();
        }
        let per_row: usize = self.by_class.iter().map(|m| m.len().min(self.config.per_class as usize)).sum();
        Ok(DemoBudget {
            per_row,
            tokens_each: total as f64 / self.texts.len().max(1) as f64,
            max_len: plm.max_len(),
        })
    }

    /// Sets `{demo}` for each row: `per_class` demonstrations of every class, in class order,
    /// never the row itself (matched by id and text). A row's random draw is seeded by the seed and
    /// the row's id, so it does not depend on the other rows filled with it.
    pub fn fill(&self, plm: &Plm, rows: &mut [Example]) -> Result<()> {
        self.fill_counted(plm, rows).map(|_| ())
    }

    /// [`fill`](Self::fill), returning how many demonstrations each row got (fewer than
    /// [`DemoBudget::per_row`] when the row itself is one of the few labelled rows of its class).
    pub fn fill_counted(&self, plm: &Plm, rows: &mut [Example]) -> Result<Vec<usize>> {
        let queries = match &self.embeddings {
            Some(_) => {
                let refs: Vec<&str> = rows.iter().map(|e| e.text_a.as_str()).collect();
                Some(plm.detached().sentence_embeddings(&refs)?)
            }
            None => None,
        };
        let mut counts = Vec::with_capacity(rows.len());
        for (r, row) in rows.iter_mut().enumerate() {
            let mut rng = SplitMix64::new(self.seed ^ fnv1a(&row.id).wrapping_mul(0xA24B_AED4_963E_E407));
            let mut parts = Vec::new();
            for members in &self.by_class {
                let candidates: Vec<usize> = members
                    .iter()
                    .copied()
                    .filter(|&i| !(self.pool[i].id == row.id && self.pool[i].text_a == row.text_a))
                    .collect();
                let k = (self.config.per_class as usize).min(candidates.len());
                let chosen: Vec<usize> = match (&self.embeddings, &queries) {
                    (Some(pool), Some(q)) => {
                        let mut scored: Vec<(f32, usize)> =
                            candidates.iter().map(|&i| (cosine(&pool[i], &q[r]), i)).collect();
                        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                        scored.into_iter().take(k).map(|(_, i)| i).collect()
                    }
                    _ => {
                        let mut c = candidates.clone();
                        for i in 0..k {
                            let j = i + rng.below(c.len() - i);
                            c.swap(i, j);
                        }
                        c.truncate(k);
                        c
                    }
                };
                parts.extend(chosen.into_iter().map(|i| self.texts[i].clone()));
            }
            counts.push(parts.len());
            row.meta.insert(DEMO_FIELD.to_string(), join_demos(&parts));
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demonstrations_are_written_through_the_template() {
        let t = Template::parse("{soft:2} {text_a|lower} It was {mask}. {demo}").unwrap();
        let mut ex = Example::new("1", "A Fine Film");
        ex.label = Some("pos".into());
        assert_eq!(demo_text(&t, &ex, "great"), "a fine film It was great.");
        // A prompt in lines keeps them; demonstrations in lines are set apart by a blank line.
        let lines = Template::parse("{demo}\n\nReview:  {text_a}\nSentiment: {mask}").unwrap();
        assert_eq!(demo_text(&lines, &ex, "positive"), "Review: A Fine Film\nSentiment: positive");
        let two = ["a\nb".to_string(), "c\nd".to_string()];
        assert_eq!(join_demos(&two), "a\nb\n\nc\nd");
        assert_eq!(join_demos(&["x y".to_string(), "z".to_string()]), "x y z");
        assert!(uses_demos(&t));
        assert!(!uses_demos(&Template::parse("{text_a} It was {mask}.").unwrap()));
        assert_eq!("similar".parse::<DemoSelection>().unwrap(), DemoSelection::Similar);
        assert!("best".parse::<DemoSelection>().unwrap_err().to_string().contains("random or similar"));
    }

    #[test]
    fn a_decoder_needs_its_demonstrations_before_the_mask() {
        let cases = [
            (Kind::Decoder, "{demo} {text_a} It was {mask}.", true),
            (Kind::Decoder, "{text_a} It was {mask}. {demo}", false),
            (Kind::Decoder, "{text_a} It was {mask}.", true),
            (Kind::Encoder, "{text_a} It was {mask}. {demo}", true),
            (Kind::EncoderDecoder, "{text_a} It was {mask}. {demo}", true),
        ];
        for (kind, source, ok) in cases {
            let got = check_placement(kind, &Template::parse(source).unwrap());
            assert_eq!(got.is_ok(), ok, "{kind:?} {source}");
            if let Err(e) = got {
                assert!(e.to_string().contains("put the demonstrations first"), "{e}");
            }
        }
    }

    #[test]
    fn the_budget_says_what_the_demonstrations_take() {
        let b = DemoBudget { per_row: 4, tokens_each: 38.2, max_len: 2048 };
        assert_eq!(b.summary(), "demos: 4 × ≈38 tokens = 153 of 2048 tokens per row");
        let long = DemoBudget { per_row: 8, tokens_each: 40.0, max_len: 512 };
        assert!(long.summary().contains("over half the input"), "{}", long.summary());
    }

    #[test]
    fn the_budget_says_how_many_demonstrations_fit() {
        let b = DemoBudget { per_row: 4, tokens_each: 10.0, max_len: 128 };
        for (room, fit) in [(0, 0), (9, 0), (10, 1), (35, 3), (40, 4), (500, 4)] {
            assert_eq!(b.fitting(room), fit, "room {room}");
        }
        let empty = DemoBudget { per_row: 2, tokens_each: 0.0, max_len: 128 };
        assert_eq!(empty.fitting(0), 2);
    }
}
