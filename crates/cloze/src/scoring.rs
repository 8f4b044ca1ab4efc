//! Label words read as continuations: the exact score of each label word on a decoder — the sum
//! (or mean, max, …, by the verbalizer's [`MultiToken`] rule) of its tokens' log-probabilities by
//! teacher forcing after the text before `{mask}`, plus the log-probability of the template's text
//! after `{mask}` (Brown et al., 2020's scoring of completions; Schick & Schütze, 2021 for the
//! prompt).
//!
//! Each rendered row becomes one sequence per label word: the tokens before the mask, the word's
//! tokens, then the tokens after the mask, with soft-prompt slots moved along. The sequences are
//! run as one right-padded batch (a causal model never sees the padding, so each scores as it would
//! alone), and the log-probability of every continuation token is read at the position before it.
//! Everything is differentiable, so tuning trains through the same scores.
//!
//! Masked LMs and the `First` rule read one position instead: [`crate::template::mask_batch`].

use candle_core::{D, DType, Tensor};

use crate::error::{Error, Result};
use crate::plm::{Batch, Kind, Plm};
use crate::template::Rendered;
use crate::verbalizer::{BoundVerbalizer, MultiToken};

/// Word scores of a group of rows.
#[derive(Debug)]
pub struct SequenceScores {
    /// `[rows, words]`, differentiable: each word's score by the multi-token rule, plus the text
    /// after the mask.
    pub words: Tensor,
    /// Per row, per word: the log-probability of each of the word's tokens (for reports).
    pub tokens: Vec<Vec<Vec<f32>>>,
}

/// One row's sequence for one word: the rendered row with the mask replaced by the word.
fn with_word(row: &Rendered, word: &[u32]) -> Result<(Rendered, usize)> {
    let m = *row.mask_positions.first().ok_or_else(|| Error::invalid("a rendered row has no mask"))?;
    if m == 0 {
        return Err(Error::invalid(
            "{mask} is the first token, but a decoder reads the label word after the text before it; put \
             text before {mask}, e.g. \"{text_a} It was {mask}.\"",
        ));
    }
    let mut ids = Vec::with_capacity(row.ids.len() + word.len());
    ids.extend_from_slice(&row.ids[..m]);
    ids.extend_from_slice(word);
    ids.extend_from_slice(&row.ids[m + 1..]);
    let shift = word.len() as isize - 1;
    let soft_slots = row
        .soft_slots
        .iter()
        .map(|s| {
            let mut s = s.clone();
            if s.position > m {
                s.position = s.position.saturating_add_signed(shift);
            }
            s
        })
        .collect();
    let seq = Rendered { ids, mask_positions: vec![m], soft_slots, ..row.clone() };
    Ok((seq, m))
}

/// Scores every bound word of `bound` as the continuation of each row. `embed` gives the input
/// embeddings of a batch of sequences (the word embeddings, with soft vectors spliced in when
/// tuning). The model must be a decoder.
pub fn continuation_scores(
    plm: &Plm,
    bound: &BoundVerbalizer,
    rows: &[&Rendered],
    embed: &dyn Fn(&[&Rendered], &Batch) -> Result<Tensor>,
) -> Result<SequenceScores> {
    if plm.kind() != Kind::Decoder {
        return Err(Error::internal(format!(
            "continuation scores are for decoders; {} is an {:?} model (a bug)",
            plm.family().name(),
            plm.kind()
        )));
    }
    let multi = bound.verbalizer.multi_token.resolve(plm.kind());
    let n_words = bound.words.len();
    // Every (row, word) sequence, and for each the targets: (position read, token id, is a word
    // token (not the suffix)).
    let mut seqs = Vec::with_capacity(rows.len() * n_words);
    let mut targets: Vec<Vec<(usize, u32, bool)>> = Vec::with_capacity(rows.len() * n_words);
    for row in rows {
        for w in &bound.words {
            let (seq, m) = with_word(row, &w.ids)?;
            let t: Vec<(usize, u32, bool)> =
                (m..seq.ids.len()).map(|p| (p - 1, seq.ids[p], p < m + w.ids.len())).collect();
            targets.push(t);
            seqs.push(seq);
        }
    }
    let refs: Vec<&Rendered> = seqs.iter().collect();
    let ids: Vec<&[u32]> = refs.iter().map(|r| r.ids.as_slice()).collect();
    let batch = plm.batch(&ids)?;
    let hidden = plm.encode(&embed(&refs, &batch)?, batch.attention())?;
    let mut at = Vec::new();
    let mut want = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        for &(p, id, _) in t {
            at.push(batch.flat(i, p) as u32);
            want.push(id);
        }
    }
    let states = batch.select(&hidden, &at)?;
    let head = plm.lm_head()?;
    let logits = head.logits_full(&head.transform(&states)?)?;
    let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let want_t = Tensor::new(want.as_slice(), plm.device())?.unsqueeze(1)?;
    let picked = logp.gather(&want_t, 1)?.squeeze(1)?; // [targets]
    // Each sequence's score as a weighted sum of its targets' log-probabilities (Max by hand).
    let n_targets = want.len();
    let picked_v = picked.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    let mut weights = vec![0f32; seqs.len() * n_targets];
    let mut tokens = vec![Vec::with_capacity(n_words); rows.len()];
    let mut maxes = Vec::new();
    let mut k = 0;
    for (s, t) in targets.iter().enumerate() {
        let word_len = t.iter().filter(|x| x.2).count();
        let mut word_lp = Vec::with_capacity(word_len);
        for (j, &(_, _, is_word)) in t.iter().enumerate() {
            let w = match (is_word, multi) {
                (false, _) => 1.0,
                (true, MultiToken::Auto | MultiToken::Sum) => 1.0,
                (true, MultiToken::Mean) => 1.0 / word_len as f32,
                (true, MultiToken::First) => f32::from(j == 0),
                (true, MultiToken::Max) => 0.0,
            };
            weights[s * n_targets + k + j] = w;
            if is_word {
                word_lp.push(picked_v[k + j]);
            }
        }
        if multi == MultiToken::Max {
            let best = (0..word_len).max_by(|&a, &b| word_lp[a].total_cmp(&word_lp[b])).unwrap_or(0);
            maxes.push((s, k + best));
        }
        k += t.len();
        tokens[s / n_words].push(word_lp);
    }
    for (s, at) in maxes {
        weights[s * n_targets + at] = 1.0;
    }
    let weights =
        Tensor::from_vec(weights, (seqs.len(), n_targets), plm.device())?.to_dtype(picked.dtype())?;
    let words = weights.matmul(&picked.unsqueeze(1)?)?.reshape((rows.len(), n_words))?;
    Ok(SequenceScores { words, tokens })
}
