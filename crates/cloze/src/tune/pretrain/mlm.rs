//! The encoders' own objective: masked-LM training where 15% of the tokens of each rendered row are
//! chosen, and of those 80% become the mask token, 10% a random token, 10% stay (BERT's recipe,
//! Devlin et al., 2019). Where a row has a label and a verbalizer is given, the template's `{mask}`
//! is a target too, with the class's first label word as the answer, so the model also learns the
//! prompt's task.

use candle_core::Tensor;

use crate::data::SplitMix64;
use crate::error::{Error, Result};
use crate::plm::Plm;
use crate::template::Rendered;

/// One row prepared for masked-LM training.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlmRow {
    /// Input ids after masking.
    pub ids: Vec<u32>,
    /// (position, original token id) of every target.
    pub targets: Vec<(usize, u32)>,
}

/// Chooses and corrupts positions of `ids` as BERT does. `protected` positions (special tokens,
/// soft slots, the template's mask) are never chosen.
pub fn mask_row(
    ids: &[u32],
    protected: &[bool],
    mask_id: u32,
    vocab: usize,
    rng: &mut SplitMix64,
    rate: f64,
) -> MlmRow {
    let candidates: Vec<usize> = (0..ids.len()).filter(|&i| !protected[i]).collect();
    let n = ((candidates.len() as f64 * rate).round() as usize).max(usize::from(!candidates.is_empty()));
    let mut chosen = candidates.clone();
    for i in (1..chosen.len()).rev() {
        let j = rng.below(i + 1);
        chosen.swap(i, j);
    }
    chosen.truncate(n);
    chosen.sort_unstable();
    let mut out = ids.to_vec();
    let mut targets = Vec::with_capacity(n);
    for p in chosen {
        targets.push((p, ids[p]));
        let r = rng.next_f64();
        if r < 0.8 {
            out[p] = mask_id;
        } else if r < 0.9 {
            out[p] = rng.below(vocab) as u32;
        }
    }
    MlmRow { ids: out, targets }
}

/// A rendered row masked for MLM training: special tokens, soft slots and the template's mask are
/// never chosen; the mask is a target too when the row has an `answer` (the label word's first
/// token).
pub fn mask_rendered(plm: &Plm, r: &Rendered, answer: Option<u32>, rng: &mut SplitMix64) -> MlmRow {
    let specials = plm.tokenizer().special().ids();
    let mask_id = plm.tokenizer().special().mask.1;
    let vocab = plm.tokenizer().vocab_size();
    let mut protected: Vec<bool> = r.ids.iter().map(|id| specials.contains(id)).collect();
    for s in &r.soft_slots {
        protected[s.position] = true;
    }
    for &m in &r.mask_positions {
        protected[m] = true;
    }
    let mut row = mask_row(&r.ids, &protected, mask_id, vocab, rng, 0.15);
    if let (Some(&m), Some(word)) = (r.mask_positions.first(), answer) {
        row.targets.push((m, word));
    }
    row
}

/// Masked-LM loss of a batch: cross-entropy over the whole vocabulary at the target positions.
pub fn mlm_loss(plm: &Plm, rows: &[&MlmRow]) -> Result<Tensor> {
    let ids: Vec<&[u32]> = rows.iter().map(|r| r.ids.as_slice()).collect();
    let batch = plm.batch(&ids)?;
    let mut at = Vec::new();
    let mut targets = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        for &(p, id) in &r.targets {
            at.push(batch.flat(i, p) as u32);
            targets.push(id);
        }
    }
    if targets.is_empty() {
        return Err(Error::invalid("a masked-LM batch has no target tokens; the rows are too short"));
    }
    super::token_cross_entropy(plm, &batch.select(&plm.encode_batch(&batch)?, &at)?, &targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_follows_bert() {
        let ids: Vec<u32> = (100..1100).collect();
        let mut protected = vec![false; ids.len()];
        protected[0] = true;
        let mut rng = SplitMix64::new(1);
        let row = mask_row(&ids, &protected, 7, 5000, &mut rng, 0.15);
        assert_eq!(row.targets.len(), 150); // 15% of the 999 candidates, rounded
        assert!(row.targets.iter().all(|&(p, id)| p != 0 && ids[p] == id));
        let masked = row.targets.iter().filter(|&&(p, _)| row.ids[p] == 7).count();
        let kept = row.targets.iter().filter(|&&(p, id)| row.ids[p] == id).count();
        assert!((100..=135).contains(&masked), "{masked} of 150 masked");
        assert!(kept <= 30, "{kept} kept");
        let untouched =
            (0..ids.len()).filter(|p| !row.targets.iter().any(|t| t.0 == *p)).all(|p| row.ids[p] == ids[p]);
        assert!(untouched);
        // A short row still gets one target.
        let one = mask_row(&[5, 6], &[true, false], 7, 10, &mut rng, 0.15);
        assert_eq!(one.targets, vec![(1, 6)]);
    }
}
