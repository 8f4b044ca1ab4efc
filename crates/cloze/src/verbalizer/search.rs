//! Automatic label-word search (LM-BFF's automatic verbalizer, Gao et al. 2021; PETAL's likelihood
//! ratio, Schick et al. 2020): render each labelled row through the template, read the model's
//! log-probabilities over the whole vocabulary at the mask, and rank every stand-alone word by how
//! much more likely it is for the rows of one class than for the others':
//! `score(w, c) = mean_{rows of c} log p(w) − mean over the other classes of their mean log p(w)`.

use candle_core::{D, Tensor};

use crate::data::Example;
use crate::error::{Error, Result};
use crate::plm::Plm;
use crate::template::{Rendered, Renderer, Template, mask_batch};

/// A candidate label word and its score (higher separates the class better).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ScoredWord {
    pub word: String,
    pub score: f64,
}

/// A vocabulary token as a stand-alone label word, if it is one (no sub-word continuation, no
/// special token, letters only).
pub fn word_of(token: &str, space_sensitive: bool) -> Option<String> {
    let word = if space_sensitive {
        token.strip_prefix('Ġ').or_else(|| token.strip_prefix('▁'))?
    } else {
        if token.starts_with("##") {
            return None;
        }
        token
    };
    (word.len() > 1 && word.chars().all(|c| c.is_alphabetic())).then(|| word.to_string())
}

/// Mean log-probabilities over the vocabulary at the mask of `rows` (batches of 16).
pub fn mean_mask_log_probs(plm: &Plm, rows: &[Rendered]) -> Result<Vec<f32>> {
    let head = plm.lm_head()?;
    let mut sum: Option<Tensor> = None;
    for chunk in rows.chunks(16) {
        let group: Vec<&Rendered> = chunk.iter().collect();
        let (batch, at_mask) = mask_batch(plm, &group)?;
        let at = batch.select(&plm.encode_batch(&batch)?, &at_mask)?;
        let logp =
            candle_nn::ops::log_softmax(&head.logits_full(&head.transform(&at)?)?, D::Minus1)?.sum(0)?;
        sum = Some(match sum {
            Some(s) => (s + logp)?,
            None => logp,
        });
    }
    let sum = sum.ok_or_else(|| Error::invalid("no rows to read the mask of"))?;
    Ok((sum / rows.len() as f64)?.to_vec1::<f32>()?)
}

/// Ranks words per class from per-class mean log-probabilities (`None` for a class without rows).
pub fn rank(means: &[Option<Vec<f32>>], words: &[Option<String>], per_class: usize) -> Vec<Vec<ScoredWord>> {
    (0..means.len())
        .map(|ci| {
            let Some(mine) = &means[ci] else { return Vec::new() };
            let others: Vec<&Vec<f32>> =
                means.iter().enumerate().filter(|(j, _)| *j != ci).filter_map(|(_, m)| m.as_ref()).collect();
            if others.is_empty() {
                return Vec::new();
            }
            let mut scored: Vec<ScoredWord> = (0..mine.len().min(words.len()))
                .filter_map(|i| {
                    let word = words[i].clone()?;
                    let other = others.iter().map(|o| o[i]).sum::<f32>() / others.len() as f32;
                    Some(ScoredWord { word, score: f64::from(mine[i] - other) })
                })
                .collect();
            scored.sort_by(|a, b| b.score.total_cmp(&a.score));
            scored.truncate(per_class.clamp(1, 50));
            scored
        })
        .collect()
}

/// Searches label words for `classes` from labelled `rows` rendered through `template`.
pub fn search(
    plm: &Plm,
    template: &Template,
    classes: &[String],
    rows: &[Example],
    per_class: usize,
) -> Result<Vec<(String, Vec<ScoredWord>)>> {
    template.check_classification()?;
    let renderer = Renderer::new(plm.tokenizer(), plm.max_len());
    let mut means = Vec::with_capacity(classes.len());
    for class in classes {
        let rendered = rows
            .iter()
            .filter(|r| r.label.as_deref() == Some(class))
            .map(|r| renderer.render(template, r))
            .collect::<Result<Vec<_>>>()?;
        means.push(if rendered.is_empty() { None } else { Some(mean_mask_log_probs(plm, &rendered)?) });
    }
    if means.iter().flatten().count() < 2 {
        return Err(Error::precondition(
            "label words are searched from labelled rows of at least two classes; label a few rows of each class first",
        ));
    }
    let tok = plm.tokenizer();
    let vocab = means.iter().flatten().next().map_or(0, Vec::len);
    let words: Vec<Option<String>> = (0..vocab)
        .map(|i| tok.id_to_token(i as u32).and_then(|t| word_of(&t, tok.space_sensitive())))
        .collect();
    Ok(classes.iter().cloned().zip(rank(&means, &words, per_class)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_of_tokens() {
        let cases = [
            ("Ġgreat", true, Some("great")),
            ("great", true, None),
            ("great", false, Some("great")),
            ("##ly", false, None),
            ("[MASK]", false, None),
            ("Ġ1999", true, None),
            ("a", false, None),
        ];
        for (token, space, expected) in cases {
            assert_eq!(word_of(token, space).as_deref(), expected, "{token}");
        }
    }

    #[test]
    fn ranking_by_likelihood_ratio() {
        let words = vec![Some("good".to_string()), Some("bad".to_string()), None];
        let means = vec![Some(vec![-1.0, -5.0, 0.0]), Some(vec![-4.0, -2.0, 0.0]), None];
        let ranked = rank(&means, &words, 1);
        assert_eq!(ranked[0], vec![ScoredWord { word: "good".into(), score: 3.0 }]);
        assert_eq!(ranked[1], vec![ScoredWord { word: "bad".into(), score: 3.0 }]);
        assert!(ranked[2].is_empty());
    }
}
