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
    match plm.kind() {
        Kind::Decoder => {}
        Kind::EncoderDecoder => return answer_scores(plm, bound, rows, embed),
        Kind::Encoder => {
            return Err(Error::internal(format!(
                "continuation scores are for decoders and encoder–decoders; {} is a masked LM (a bug)",
                plm.family().name()
            )));
        }
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
    let (states, want) = read_targets(&batch, &hidden, &targets)?;
    aggregate(plm, multi, &states, &want, &targets, rows.len(), n_words)
}

/// The states at every target's read position (`[targets, hidden]`) and the token ids they must
/// predict, in order: sequence by sequence, target by target.
fn read_targets(
    batch: &Batch,
    hidden: &Tensor,
    targets: &[Vec<(usize, u32, bool)>],
) -> Result<(Tensor, Vec<u32>)> {
    let mut at = Vec::new();
    let mut want = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        for &(p, id, _) in t {
            at.push(batch.flat(i, p) as u32);
            want.push(id);
        }
    }
    Ok((batch.select(hidden, &at)?, want))
}

/// The scores of `targets` (per sequence: position read, token id, whether a word token) from the
/// states read at them, aggregated per (row, word) by `multi`: `[rows, words]` and the word tokens'
/// log-probabilities.
fn aggregate(
    plm: &Plm,
    multi: MultiToken,
    states: &Tensor,
    want: &[u32],
    targets: &[Vec<(usize, u32, bool)>],
    n_rows: usize,
    n_words: usize,
) -> Result<SequenceScores> {
    let n_seqs = targets.len();
    let head = plm.lm_head()?;
    let logits = head.logits_full(&head.transform(states)?)?;
    let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let want_t = Tensor::new(want, plm.device())?.unsqueeze(1)?;
    let picked = logp.gather(&want_t, 1)?.squeeze(1)?; // [targets]
    // Each sequence's score as a weighted sum of its targets' log-probabilities (Max by hand).
    let n_targets = want.len();
    let picked_v = picked.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    let mut weights = vec![0f32; n_seqs * n_targets];
    let mut tokens = vec![Vec::with_capacity(n_words); n_rows];
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
    let weights = Tensor::from_vec(weights, (n_seqs, n_targets), plm.device())?.to_dtype(picked.dtype())?;
    let words = weights.matmul(&picked.unsqueeze(1)?)?.reshape((n_rows, n_words))?;
    Ok(SequenceScores { words, tokens })
}

/// An encoder–decoder's answer for the `{mask}` span, by teacher forcing: T5 reads the word after
/// the sentinel (`<extra_id_0>` word…, Raffel et al., 2020); BART reconstructs the whole input with
/// the word in place of `<mask>` and reads the word's tokens where they stand (Lewis et al., 2020).
/// The encoder runs once per row; every (row, word) decoder sequence attends to its row's states.
fn answer_scores(
    plm: &Plm,
    bound: &BoundVerbalizer,
    rows: &[&Rendered],
    embed: &dyn Fn(&[&Rendered], &Batch) -> Result<Tensor>,
) -> Result<SequenceScores> {
    let multi = bound.verbalizer.multi_token.resolve(plm.kind());
    let n_words = bound.words.len();
    let start = plm.decoder_start_id().ok_or_else(|| {
        Error::invalid(format!("{}: config.json names no decoder_start_token_id", plm.family().name()))
    })?;
    let sentinel = plm.tokenizer().special().mask.1;
    let t5_style = plm.family() == crate::plm::Family::T5;
    let ids: Vec<&[u32]> = rows.iter().map(|r| r.ids.as_slice()).collect();
    let enc_batch = plm.batch(&ids)?;
    let enc = plm.encode(&embed(rows, &enc_batch)?, enc_batch.attention())?;
    // Decoder inputs and targets per (row, word).
    let mut dec_rows: Vec<Vec<u32>> = Vec::with_capacity(rows.len() * n_words);
    let mut targets: Vec<Vec<(usize, u32, bool)>> = Vec::with_capacity(rows.len() * n_words);
    for row in rows {
        let m = *row.mask_positions.first().ok_or_else(|| Error::invalid("a rendered row has no mask"))?;
        for w in &bound.words {
            if t5_style {
                // [start, <extra_id_0>, w1 … w(n-1)]: position k reads w(k).
                let mut input = vec![start, sentinel];
                input.extend_from_slice(&w.ids[..w.ids.len() - 1]);
                targets.push(w.ids.iter().enumerate().map(|(k, &id)| (k + 1, id, true)).collect());
                dec_rows.push(input);
            } else {
                let mut labels = row.ids[..m].to_vec();
                labels.extend_from_slice(&w.ids);
                labels.extend_from_slice(&row.ids[m + 1..]);
                let mut input = vec![start];
                input.extend_from_slice(&labels[..labels.len() - 1]);
                targets.push(w.ids.iter().enumerate().map(|(k, &id)| (m + k, id, true)).collect());
                dec_rows.push(input);
            }
        }
    }
    let dec_refs: Vec<&[u32]> = dec_rows.iter().map(Vec::as_slice).collect();
    let dec_batch = plm.batch(&dec_refs)?;
    let repeat: Vec<u32> = (0..rows.len() as u32).flat_map(|r| std::iter::repeat_n(r, n_words)).collect();
    let repeat = Tensor::new(repeat.as_slice(), plm.device())?;
    let enc_rep = enc.index_select(&repeat, 0)?;
    let enc_mask_rep = enc_batch.attention().index_select(&repeat, 0)?;
    let states =
        plm.decode(&enc_rep, &enc_mask_rep, &plm.embed_tokens(dec_batch.ids())?, dec_batch.attention())?;
    let (states, want) = read_targets(&dec_batch, &states, &targets)?;
    aggregate(plm, multi, &states, &want, &targets, rows.len(), n_words)
}
