//! A manual verbalizer bound to one tokenizer: label words as token ids, and the scoring from
//! label-token logits to class probabilities.

use candle_core::{D, Tensor};

use super::{Aggregate, Calibration, MultiToken, Verbalizer, softmax};
use crate::error::{Error, Result};
use crate::plm::PlmTokenizer;

/// A label word as the model sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WordTokens {
    pub word: String,
    pub class: usize,
    /// Token ids, in order.
    pub ids: Vec<u32>,
    /// Each token's index into [`BoundVerbalizer::token_ids`].
    pub columns: Vec<usize>,
}

/// A verbalizer whose words are tokenized for a model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BoundVerbalizer {
    pub verbalizer: Verbalizer,
    /// Every distinct token id any label word uses: the only rows of the MLM decoder computed.
    pub token_ids: Vec<u32>,
    pub words: Vec<WordTokens>,
    /// Things the caller should show the user (multi-token words).
    pub warnings: Vec<String>,
}

impl BoundVerbalizer {
    /// Tokenizes every label word. With a `leading` whitespace (the text before the mask ends in a
    /// space, `" "`, or a line break, `"\n"`, and the tokenizer is space-sensitive) words are
    /// tokenized as `" word"` (`"\nword"`); `""` tokenizes them as they are.
    pub fn bind(verbalizer: &Verbalizer, tokenizer: &PlmTokenizer, leading: &str) -> Result<Self> {
        let mut token_ids: Vec<u32> = Vec::new();
        let mut words = Vec::new();
        let mut warnings = Vec::new();
        let unk = tokenizer.special().unk.as_ref().map(|(_, id)| *id);
        for (ci, class) in verbalizer.classes.iter().enumerate() {
            for word in &class.words {
                let form = if !leading.is_empty() && !word.starts_with(char::is_whitespace) {
                    format!("{leading}{word}")
                } else {
                    word.clone()
                };
                let ids = tokenizer.encode_plain(&form)?;
                if ids.is_empty() {
                    return Err(Error::Verbalizer {
                        message: format!("label word {word:?} of class {:?} gives no tokens", class.name),
                    });
                }
                if unk.is_some_and(|u| ids.contains(&u)) {
                    return Err(Error::Verbalizer {
                        message: format!(
                            "label word {word:?} of class {:?} is not in the model's vocabulary (it tokenizes to \
                             the unknown token); pick another word",
                            class.name
                        ),
                    });
                }
                if ids.len() > 1 {
                    let pieces: Vec<String> = ids.iter().filter_map(|&i| tokenizer.id_to_token(i)).collect();
                    warnings.push(format!(
                        "label word {word:?} is {} tokens ({}); it is scored by {}",
                        ids.len(),
                        pieces.join(" "),
                        match verbalizer.multi_token {
                            MultiToken::Auto | MultiToken::First => "its first token",
                            MultiToken::Mean => "the mean of its tokens' scores",
                            MultiToken::Max => "the best of its tokens' scores",
                            MultiToken::Sum => "the sum of its tokens' scores",
                        },
                    ));
                }
                let columns = ids
                    .iter()
                    .map(|id| match token_ids.iter().position(|t| t == id) {
                        Some(p) => p,
                        None => {
                            token_ids.push(*id);
                            token_ids.len() - 1
                        }
                    })
                    .collect();
                words.push(WordTokens { word: word.clone(), class: ci, ids, columns });
            }
        }
        check_collisions(verbalizer, tokenizer, &words, &mut warnings)?;
        Ok(Self { verbalizer: verbalizer.clone(), token_ids, words, warnings })
    }

    /// How many tokens a rendered row grows by on a model of `kind` when its mask is replaced by
    /// the longest label word (a decoder reading the word as a continuation): the renderer leaves
    /// that room, so the sequence stays within the model's positions.
    pub fn continuation_room(&self, kind: crate::plm::Kind) -> usize {
        if kind == crate::plm::Kind::Decoder && self.verbalizer.multi_token.reads_sequence(kind) {
            self.words.iter().map(|w| w.ids.len()).max().unwrap_or(1).saturating_sub(1)
        } else {
            0
        }
    }

    pub fn num_classes(&self) -> usize {
        self.verbalizer.classes.len()
    }

    /// Word logits from one row of label-token logits at one position (one per entry of
    /// `token_ids`), by the multi-token rule.
    pub fn word_logits(&self, token_logits: &[f32]) -> Vec<f32> {
        self.words
            .iter()
            .map(|w| {
                aggregate_tokens(self.verbalizer.multi_token, w.columns.iter().map(|&c| token_logits[c]))
            })
            .collect()
    }

    /// Probabilities over the label words (softmax over all words of all classes).
    pub fn word_probs(&self, token_logits: &[f32]) -> Vec<f32> {
        softmax(&self.word_logits(token_logits))
    }

    /// Class probabilities from one row of label-token logits, optionally calibrated by the word
    /// probabilities of content-free inputs.
    pub fn class_probs(&self, token_logits: &[f32], calibration: Option<&Calibration>) -> Vec<f32> {
        self.class_probs_from_words(&self.word_logits(token_logits), calibration)
    }

    /// Class probabilities from one row of word scores (one per bound word, e.g. each word's
    /// log-probability as a decoder's continuation), optionally calibrated.
    pub fn class_probs_from_words(&self, word_scores: &[f32], calibration: Option<&Calibration>) -> Vec<f32> {
        let mut p = softmax(word_scores);
        if let Some(cf) = calibration {
            cf.apply(&mut p);
        }
        let c = self.num_classes();
        let mut per_class: Vec<Vec<f32>> = vec![Vec::new(); c];
        for (w, pw) in self.words.iter().zip(&p) {
            per_class[w.class].push(*pw);
        }
        let logits: Vec<f32> = per_class
            .iter()
            .map(|ps| match self.verbalizer.aggregate {
                Aggregate::MeanProb => (ps.iter().sum::<f32>() / ps.len() as f32 + 1e-15).ln(),
                Aggregate::MeanLogProb => ps.iter().map(|x| (x + 1e-15).ln()).sum::<f32>() / ps.len() as f32,
                Aggregate::Max => (ps.iter().copied().fold(0.0, f32::max) + 1e-15).ln(),
            })
            .collect();
        softmax(&logits)
    }

    /// [`Self::class_probs`]'s scoring (without calibration) in differentiable ops: class scores
    /// `[batch, classes]` from label-token logits `[batch, token_ids]` — log-probabilities up to a
    /// constant per row, so a softmax over them gives the class probabilities.
    pub fn class_scores(&self, token_logits: &Tensor) -> Result<Tensor> {
        self.class_scores_from_words(&self.word_scores(token_logits)?)
    }

    /// Each label's own score `[batch, classes]` from label-token logits, with no softmax across
    /// the label words: the word logits aggregated per class (mean, log-mean-exp or max, as the
    /// verbalizer's aggregation says). Multi-label tuning reads one independent sigmoid per label
    /// from these.
    pub fn label_logits(&self, token_logits: &Tensor) -> Result<Tensor> {
        self.aggregate_classes(&self.word_scores(token_logits)?)
    }

    /// One score per bound word `[batch, words]` from label-token logits.
    fn word_scores(&self, token_logits: &Tensor) -> Result<Tensor> {
        let device = token_logits.device();
        let mut words = Vec::with_capacity(self.words.len());
        for w in &self.words {
            let cols: Vec<u32> = w.columns.iter().map(|&c| c as u32).collect();
            let x = token_logits.index_select(&Tensor::new(cols.as_slice(), device)?, 1)?;
            words.push(match self.verbalizer.multi_token {
                MultiToken::Auto | MultiToken::First => x.narrow(1, 0, 1)?,
                MultiToken::Mean => x.mean_keepdim(1)?,
                MultiToken::Max => x.max_keepdim(1)?,
                MultiToken::Sum => x.sum_keepdim(1)?,
            });
        }
        Ok(Tensor::cat(&words, 1)?)
    }

    /// [`Self::class_scores`] from word scores `[batch, words]` (one per bound word).
    pub fn class_scores_from_words(&self, word_scores: &Tensor) -> Result<Tensor> {
        self.aggregate_classes(&candle_nn::ops::log_softmax(word_scores, D::Minus1)?)
    }

    /// Word scores `[batch, words]` aggregated into class scores `[batch, classes]`.
    pub fn aggregate_classes(&self, word_logp: &Tensor) -> Result<Tensor> {
        let device = word_logp.device();
        let mut classes = Vec::with_capacity(self.num_classes());
        for c in 0..self.num_classes() {
            let idx: Vec<u32> =
                self.words.iter().enumerate().filter(|(_, w)| w.class == c).map(|(i, _)| i as u32).collect();
            let lp = word_logp.index_select(&Tensor::new(idx.as_slice(), device)?, 1)?;
            classes.push(match self.verbalizer.aggregate {
                Aggregate::MeanProb => (log_sum_exp(&lp)? - (idx.len() as f64).ln())?,
                Aggregate::MeanLogProb => lp.mean_keepdim(1)?,
                Aggregate::Max => lp.max_keepdim(1)?,
            });
        }
        Ok(Tensor::cat(&classes, 1)?)
    }
}

/// One word's score from its tokens' scores under `multi` (`Auto` is `First`: the rule of a masked
/// LM; decoders resolve it before binding, see [`MultiToken::resolve`]).
pub fn aggregate_tokens(multi: MultiToken, xs: impl Iterator<Item = f32>) -> f32 {
    let xs: Vec<f32> = xs.collect();
    match multi {
        MultiToken::Auto | MultiToken::First => xs.first().copied().unwrap_or(f32::NEG_INFINITY),
        MultiToken::Mean => xs.iter().sum::<f32>() / xs.len().max(1) as f32,
        MultiToken::Max => xs.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        MultiToken::Sum => xs.iter().sum(),
    }
}

/// What a word is scored from under `multi`: two words with the same key get the same logit on
/// every input.
fn scoring_key(ids: &[u32], multi: MultiToken) -> Vec<u32> {
    match multi {
        MultiToken::Auto | MultiToken::First => ids[..1].to_vec(),
        MultiToken::Sum => ids.to_vec(),
        MultiToken::Mean => {
            let mut k = ids.to_vec();
            k.sort_unstable();
            k
        }
        MultiToken::Max => {
            let mut k = ids.to_vec();
            k.sort_unstable();
            k.dedup();
            k
        }
    }
}

/// Label words that the model cannot tell apart. Two words of different classes scored from the
/// same tokens (`good` / `GOOD` on an uncased model, `great` / ` great` on RoBERTa, multi-token
/// words sharing their first token when only the first is scored) give both classes the same
/// score on every row — an error naming the words, classes and token. The same within one class
/// counts one token twice (a warning), and words of different classes sharing only some of their
/// tokens are told apart by the others (a warning).
fn check_collisions(
    verbalizer: &Verbalizer,
    tokenizer: &PlmTokenizer,
    words: &[WordTokens],
    warnings: &mut Vec<String>,
) -> Result<()> {
    let multi = verbalizer.multi_token;
    let class = |w: &WordTokens| verbalizer.classes[w.class].name.as_str();
    let pieces = |ids: &[u32]| -> String {
        ids.iter()
            .map(|&i| tokenizer.id_to_token(i).unwrap_or_else(|| format!("#{i}")))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut collisions = Vec::new();
    for (i, a) in words.iter().enumerate() {
        for b in &words[i + 1..] {
            let (ka, kb) = (scoring_key(&a.ids, multi), scoring_key(&b.ids, multi));
            let how = if a.ids == b.ids {
                format!(
                    "are the same token{} `{}` for this model",
                    if a.ids.len() > 1 { "s" } else { "" },
                    pieces(&a.ids)
                )
            } else {
                format!(
                    "are scored by the same token `{}` (a word of several tokens is scored by its {} token)",
                    pieces(&ka),
                    match multi {
                        MultiToken::Auto | MultiToken::First => "first",
                        MultiToken::Mean => "mean",
                        MultiToken::Max => "best",
                        MultiToken::Sum => "summed",
                    }
                )
            };
            if ka == kb && a.class != b.class {
                collisions.push(format!("{:?} ({}) and {:?} ({}) {how}", a.word, class(a), b.word, class(b)));
                continue;
            }
            if ka == kb {
                warnings.push(format!(
                    "{:?} and {:?} of class {:?} {how}; the token counts twice for the class — drop one",
                    a.word,
                    b.word,
                    class(a)
                ));
            } else if a.class != b.class && ka.iter().any(|t| kb.contains(t)) {
                let shared: Vec<u32> = ka.iter().copied().filter(|t| kb.contains(t)).collect();
                warnings.push(format!(
                    "{:?} ({}) and {:?} ({}) share the token `{}`; only their other tokens tell the classes apart",
                    a.word,
                    class(a),
                    b.word,
                    class(b),
                    pieces(&shared)
                ));
            }
        }
    }
    // Two classes whose words are scored from the same tokens score alike on every row: an error.
    // Words shared by classes that also have other words are told apart by those (a warning).
    let mut keys: Vec<Vec<Vec<u32>>> = vec![Vec::new(); verbalizer.classes.len()];
    for w in words {
        if let Some(k) = keys.get_mut(w.class) {
            k.push(scoring_key(&w.ids, multi));
        }
    }
    for k in keys.iter_mut() {
        k.sort();
        k.dedup();
    }
    for (a, ka) in keys.iter().enumerate() {
        if let Some(b) =
            keys.iter().enumerate().skip(a + 1).find(|(_, kb)| !ka.is_empty() && *kb == ka).map(|(b, _)| b)
        {
            let (na, nb) = (verbalizer.classes[a].name.as_str(), verbalizer.classes[b].name.as_str());
            let detail: Vec<&String> = collisions
                .iter()
                .filter(|c| c.contains(&format!("({na})")) && c.contains(&format!("({nb})")))
                .collect();
            return Err(Error::Verbalizer {
                message: format!(
                    "{}, so the two classes would always score alike; choose different words{}",
                    detail.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("; "),
                    if multi == MultiToken::First { ", or score several tokens by their mean" } else { "" }
                ),
            });
        }
    }
    for c in collisions {
        warnings.push(format!("{c}; the classes' other words tell them apart"));
    }
    Ok(())
}

/// The index of the largest score, the first on a tie (as transformers' and NumPy's `argmax`), so
/// a tie goes to the earliest class in the label set's order rather than depending on sorting.
pub fn argmax(scores: &[f32]) -> usize {
    let mut best = 0;
    for (i, s) in scores.iter().enumerate() {
        if *s > scores[best] {
            best = i;
        }
    }
    best
}

/// `log Σ exp` over dim 1, keeping it, from differentiable ops (max-shifted for stability).
fn log_sum_exp(x: &Tensor) -> Result<Tensor> {
    let m = x.max_keepdim(1)?.detach();
    Ok((x.broadcast_sub(&m)?.exp()?.sum_keepdim(1)?.log()? + m)?)
}

#[cfg(test)]
mod tests {
    use super::super::Class;
    use super::*;

    fn bound(words: &[(&str, &[&[usize]])], multi: MultiToken, agg: Aggregate) -> BoundVerbalizer {
        // Builds a bound verbalizer by hand: each word's token columns are given directly.
        let classes: Vec<Class> = words
            .iter()
            .enumerate()
            .map(|(i, (name, ws))| Class {
                name: name.to_string(),
                words: (0..ws.len()).map(|j| format!("w{i}{j}")).collect(),
            })
            .collect();
        let mut v = Verbalizer::new(classes).unwrap();
        v.multi_token = multi;
        v.aggregate = agg;
        let mut out = Vec::new();
        let mut n = 0;
        for (ci, (_, ws)) in words.iter().enumerate() {
            for (j, cols) in ws.iter().enumerate() {
                n = n.max(cols.iter().max().unwrap() + 1);
                out.push(WordTokens {
                    word: format!("w{ci}{j}"),
                    class: ci,
                    ids: cols.iter().map(|&c| c as u32).collect(),
                    columns: cols.to_vec(),
                });
            }
        }
        BoundVerbalizer { verbalizer: v, token_ids: (0..n as u32).collect(), words: out, warnings: vec![] }
    }

    #[test]
    fn scoring_table() {
        let ln = |x: f32| x.ln();
        // (classes → word columns, strategy, aggregate, token logits, expected class probs)
        type Case<'a> = (&'a [(&'a str, &'a [&'a [usize]])], MultiToken, Aggregate, Vec<f32>, Vec<f32>);
        let cases: Vec<Case> = vec![
            // one word per class: plain softmax of the two logits
            (
                &[("neg", &[&[0]]), ("pos", &[&[1]])],
                MultiToken::First,
                Aggregate::MeanProb,
                vec![0.0, ln(3.0)],
                vec![0.25, 0.75],
            ),
            // multi-token word, first: token 2 ignored
            (
                &[("neg", &[&[0]]), ("pos", &[&[1, 2]])],
                MultiToken::First,
                Aggregate::MeanProb,
                vec![0.0, 0.0, 9.0],
                vec![0.5, 0.5],
            ),
            // mean of logits: (0 + 2ln3)/2 = ln3
            (
                &[("neg", &[&[0]]), ("pos", &[&[1, 2]])],
                MultiToken::Mean,
                Aggregate::MeanProb,
                vec![0.0, 0.0, 2.0 * ln(3.0)],
                vec![0.25, 0.75],
            ),
            // max of logits
            (
                &[("neg", &[&[0]]), ("pos", &[&[1, 2]])],
                MultiToken::Max,
                Aggregate::MeanProb,
                vec![0.0, ln(3.0), -5.0],
                vec![0.25, 0.75],
            ),
            // two words for pos, probs over 3 words (1/5, 1/5, 3/5): mean prob pos = 2/5 vs 1/5
            (
                &[("neg", &[&[0]]), ("pos", &[&[1], &[2]])],
                MultiToken::First,
                Aggregate::MeanProb,
                vec![0.0, 0.0, ln(3.0)],
                vec![1.0 / 3.0, 2.0 / 3.0],
            ),
            // max aggregate: 1/5 vs 3/5
            (
                &[("neg", &[&[0]]), ("pos", &[&[1], &[2]])],
                MultiToken::First,
                Aggregate::Max,
                vec![0.0, 0.0, ln(3.0)],
                vec![0.25, 0.75],
            ),
            // mean log prob: geometric mean sqrt(1/5*3/5) vs 1/5 → sqrt(3) : 1
            (
                &[("neg", &[&[0]]), ("pos", &[&[1], &[2]])],
                MultiToken::First,
                Aggregate::MeanLogProb,
                vec![0.0, 0.0, ln(3.0)],
                vec![1.0 / (1.0 + 3f32.sqrt()), 3f32.sqrt() / (1.0 + 3f32.sqrt())],
            ),
        ];
        for (i, (words, multi, agg, logits, expected)) in cases.into_iter().enumerate() {
            let b = bound(words, multi, agg);
            let got = b.class_probs(&logits, None);
            for (g, e) in got.iter().zip(&expected) {
                assert!((g - e).abs() < 1e-5, "case {i}: got {got:?}, expected {expected:?}");
            }
        }
    }

    #[test]
    fn calibration_divides_by_content_free_probs() {
        let b = bound(&[("neg", &[&[0]]), ("pos", &[&[1]])], MultiToken::First, Aggregate::MeanProb);
        // Without calibration 0.25 / 0.75; the content-free input already prefers pos 3:1, so
        // calibrated the classes are even.
        let cf = Calibration::from_token_logits(&b, &[vec![0.0, 3f32.ln()]]);
        let got = b.class_probs(&[0.0, 3f32.ln()], Some(&cf));
        assert!((got[0] - 0.5).abs() < 1e-5 && (got[1] - 0.5).abs() < 1e-5, "{got:?}");
    }
}
