//! Batches of token sequences for the model: rows cut into length-sorted batches, padded to the
//! longest row on the side the model pads, with the flat positions each caller reads back.
//!
//! Every path that runs the model on several rows at once — zero-shot classification, tuning,
//! masked-LM pretraining, probe features, label-word search, sentence embeddings — builds its
//! input here, so a model family that pads on the other side (decoders pad left and read the last
//! position) changes one place.

use candle_core::{Device, Tensor};

use crate::error::Result;

/// Which end of a row the padding goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaddingSide {
    /// Tokens first, padding after (encoders; the training attention kernel expects this).
    Right,
    /// Padding first, tokens after (decoders, so the last position is every row's last token).
    Left,
}

/// The attention scores one batch may hold per head, `rows × width²`: 32 rows of 512 tokens (what
/// an encoder's longest batch always took). Longer rows — a decoder reads up to 8192 tokens — go
/// in smaller batches, down to one row, so that a file of long rows does not ask for gigabytes of
/// scores at once.
pub const MAX_SCORE_CELLS: usize = 32 * 512 * 512;

/// Row indices cut into batches of at most `size` rows (fewer for long rows, see
/// [`MAX_SCORE_CELLS`]), longest first, so padding is minimal and a batch too large for memory
/// fails at once. Rows of equal length keep their order.
pub fn longest_first(lengths: &[usize], size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    let mut batches = Vec::new();
    let mut rest = order.as_slice();
    while let Some(&first) = rest.first() {
        let width = lengths[first].max(1);
        let fit = (MAX_SCORE_CELLS / width.saturating_mul(width)).max(1);
        let (batch, tail) = rest.split_at(size.max(1).min(fit).min(rest.len()));
        batches.push(batch.to_vec());
        rest = tail;
    }
    batches
}

/// One padded batch: `[rows, width]` token ids and a 0/1 attention mask.
#[derive(Debug, Clone)]
pub struct Batch {
    ids: Tensor,
    attention: Tensor,
    width: usize,
    /// Where each row's first token sits (0 with right padding).
    starts: Vec<usize>,
}

impl Batch {
    /// Pads `rows` to the longest with `pad_id` on `side`.
    pub fn pad(rows: &[&[u32]], pad_id: u32, side: PaddingSide, device: &Device) -> Result<Self> {
        let b = rows.len();
        let width = rows.iter().map(|r| r.len()).max().unwrap_or(0);
        let mut ids = vec![pad_id; b * width];
        let mut mask = vec![0u32; b * width];
        let mut starts = Vec::with_capacity(b);
        for (i, r) in rows.iter().enumerate() {
            let start = match side {
                PaddingSide::Right => 0,
                PaddingSide::Left => width - r.len(),
            };
            let at = i * width + start;
            ids[at..at + r.len()].copy_from_slice(r);
            mask[at..at + r.len()].fill(1);
            starts.push(start);
        }
        Ok(Self {
            ids: Tensor::from_vec(ids, (b, width), device)?,
            attention: Tensor::from_vec(mask, (b, width), device)?,
            width,
            starts,
        })
    }

    /// `[rows, width]` u32 token ids.
    pub fn ids(&self) -> &Tensor {
        &self.ids
    }

    /// `[rows, width]` u32 attention mask: 1 on tokens, 0 on padding.
    pub fn attention(&self) -> &Tensor {
        &self.attention
    }

    /// The padded length.
    pub fn width(&self) -> usize {
        self.width
    }

    pub fn rows(&self) -> usize {
        self.starts.len()
    }

    /// The index of token `position` of row `row` in the flattened `[rows * width]` batch.
    pub fn flat(&self, row: usize, position: usize) -> usize {
        row * self.width + self.starts[row] + position
    }

    /// The rows of `hidden` (`[rows, width, hidden]`) at the given flat positions: `[n, hidden]`.
    pub fn select(&self, hidden: &Tensor, flat: &[u32]) -> Result<Tensor> {
        Ok(super::network::select_rows(hidden, flat)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (lengths, batch size, the batches expected)
    type BatchCase<'a> = (&'a [usize], usize, &'a [&'a [usize]]);

    #[test]
    fn longest_first_batches() {
        let cases: &[BatchCase] = &[
            (&[3, 5, 1, 5], 2, &[&[1, 3], &[0, 2]]),
            (&[2, 2, 2], 2, &[&[0, 1], &[2]]),
            (&[4], 8, &[&[0]]),
            (&[], 4, &[]),
            (&[1, 2], 0, &[&[1], &[0]]),
            // Long rows: 32 × 512² score cells per batch at most, never fewer than one row.
            (&[8192, 100, 8192, 100], 32, &[&[0], &[2], &[1, 3]]),
            (&[1024; 9], 32, &[&[0, 1, 2, 3, 4, 5, 6, 7], &[8]]),
            (&[513; 33], 64, &[&(0..31).collect::<Vec<_>>(), &[31, 32]]),
        ];
        for (lengths, size, want) in cases {
            let got = longest_first(lengths, *size);
            let want: Vec<Vec<usize>> = want.iter().map(|b| b.to_vec()).collect();
            assert_eq!(got, want, "{lengths:?} by {size}");
        }
    }

    #[test]
    fn padding_on_either_side() {
        let rows: [&[u32]; 2] = [&[5, 6, 7], &[8]];
        let cases = [
            (PaddingSide::Right, vec![5, 6, 7, 8, 0, 0], vec![1, 1, 1, 1, 0, 0], [1, 3]),
            (PaddingSide::Left, vec![5, 6, 7, 0, 0, 8], vec![1, 1, 1, 0, 0, 1], [1, 5]),
        ];
        for (side, ids, mask, flat) in cases {
            let b = Batch::pad(&rows, 0, side, &Device::Cpu).unwrap();
            assert_eq!((b.rows(), b.width()), (2, 3));
            assert_eq!(b.ids().flatten_all().unwrap().to_vec1::<u32>().unwrap(), ids, "{side:?}");
            assert_eq!(b.attention().flatten_all().unwrap().to_vec1::<u32>().unwrap(), mask, "{side:?}");
            // Token 1 of row 0 and token 0 of row 1, wherever the padding put them.
            assert_eq!([b.flat(0, 1), b.flat(1, 0)], flat, "{side:?}");
        }
    }

    #[test]
    fn select_reads_positions() {
        let b = Batch::pad(&[&[1, 2], &[3]], 0, PaddingSide::Right, &Device::Cpu).unwrap();
        // hidden[row][pos] = [10 * row + pos]
        let hidden = Tensor::new(&[[[0f32], [1.]], [[10.], [11.]]], &Device::Cpu).unwrap();
        let flat = [b.flat(1, 0) as u32, b.flat(0, 1) as u32];
        let got = b.select(&hidden, &flat).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(got, vec![10., 1.]);
    }
}
