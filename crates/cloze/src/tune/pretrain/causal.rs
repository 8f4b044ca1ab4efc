//! The decoders' own objective: causal language modelling (Radford et al., 2019) — every token of
//! a rendered row after the first is predicted from the ones before it, by cross-entropy over the
//! vocabulary. Rows are right-padded into one batch: causal attention never lets a real token see
//! the padding after it, and padding positions are never targets.

use candle_core::Tensor;

use crate::error::{Error, Result};
use crate::plm::Plm;

/// The least tokens a row needs: one to read, one to predict.
pub const MIN_TOKENS: usize = 2;

/// Mean next-token cross-entropy over every target of a batch of token rows.
pub fn causal_loss(plm: &Plm, rows: &[&[u32]]) -> Result<Tensor> {
    if let Some(short) = rows.iter().find(|r| r.len() < MIN_TOKENS) {
        return Err(Error::internal(format!(
            "a causal-LM row of {} token(s) reached the loss; rows are checked when prepared (a bug)",
            short.len()
        )));
    }
    let batch = plm.batch(rows)?;
    let hidden = plm.encode_batch(&batch)?;
    let mut at = Vec::new();
    let mut want = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        for p in 0..r.len() - 1 {
            at.push(batch.flat(i, p) as u32);
            want.push(r[p + 1]);
        }
    }
    super::token_cross_entropy(plm, &batch.select(&hidden, &at)?, &want)
}
