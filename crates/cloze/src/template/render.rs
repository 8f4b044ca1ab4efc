//! Rendering a [`Template`] with one example's fields into the model's token ids.
//!
//! The template is rendered to one string — fields filled in, `{mask}` replaced by the model's mask
//! token, each soft token by a mask-token placeholder (or, for `{soft:"init text"}`, by the init
//! text) — and that string is tokenized once, with the model's own special tokens. Tokenizing the
//! whole string gives exactly what transformers gives for the same text (leading-space handling of
//! byte-level BPE and the mask token's `lstrip` included). The tokenizer's byte offsets then tell
//! which segment each token came from, which is what truncation needs: when the sequence is longer
//! than the model allows, tokens are removed from the end of the longest shortenable field, one at
//! a time, so fixed text, special tokens, the mask and soft tokens are never dropped. The string is
//! tokenized once and each field's tokens are listed once, so rendering is linear in the length of
//! the fields however much truncation cuts (`cloze bench render` measures it).

use super::{Segment, Template};
use crate::error::{Error, Result};
use crate::plm::{Batch, Plm, PlmTokenizer};

/// Something a template can take field values from (a data row, or a test's pairs).
pub trait FieldSource {
    fn field(&self, name: &str) -> Option<&str>;
}

impl FieldSource for crate::data::Example {
    fn field(&self, name: &str) -> Option<&str> {
        crate::data::Example::field(self, name)
    }
}

impl FieldSource for [(&str, &str)] {
    fn field(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

impl<const N: usize> FieldSource for [(&str, &str); N] {
    fn field(&self, name: &str) -> Option<&str> {
        self.as_slice().field(name)
    }
}

/// One soft-token slot in a rendered sequence.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SoftSlot {
    /// Position in `ids`.
    pub position: usize,
    /// Index of this soft token among all the template's soft tokens (what is trained).
    pub index: usize,
    /// For `{soft:"init text"}`: the token whose embedding initialises this slot.
    pub init_id: Option<u32>,
}

/// A rendered example.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Rendered {
    /// Token ids, special tokens included; soft slots hold a placeholder id.
    pub ids: Vec<u32>,
    /// Positions of the mask tokens in `ids`, in template order.
    pub mask_positions: Vec<usize>,
    pub soft_slots: Vec<SoftSlot>,
    /// How many tokens truncation removed from shortenable fields.
    pub truncated: usize,
    /// The string that was tokenized (before truncation).
    pub text: String,
    /// For each token of `ids`, the index of the template segment it came from; `None` for the
    /// tokenizer's special tokens (a preview colours tokens by this).
    pub segments: Vec<Option<usize>>,
    /// Positions in `ids` right before which truncation removed tokens (where a field was cut).
    pub cuts: Vec<usize>,
}

/// Rendered rows padded into one batch for `plm`, with the flat position where each row's label
/// word is read — at its (first) mask for encoders, just before it for decoders
/// ([`Plm::read_offset`]) — what every classification path reads.
pub fn mask_batch(plm: &Plm, rows: &[&Rendered]) -> Result<(Batch, Vec<u32>)> {
    let ids: Vec<&[u32]> = rows.iter().map(|r| r.ids.as_slice()).collect();
    let batch = plm.batch(&ids)?;
    let offset = plm.read_offset();
    let at_mask = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let pos =
                *r.mask_positions.first().ok_or_else(|| Error::invalid("a rendered row has no mask"))?;
            let read = pos.checked_add_signed(offset).ok_or_else(|| {
                Error::invalid(format!(
                    "{{mask}} is the first token, but a {} model reads the label word {}; put text before \
                     {{mask}}, e.g. \"{{text_a}} It was {{mask}}.\"",
                    plm.family().name(),
                    plm.kind().reads()
                ))
            })?;
            Ok(batch.flat(i, read) as u32)
        })
        .collect::<Result<_>>()?;
    Ok((batch, at_mask))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Fixed,
    Shortenable(usize),
    Mask,
    Soft { first_index: usize, from_init: bool },
}

/// Renders templates for one model's tokenizer and length limit.
#[derive(Debug, Clone)]
pub struct Renderer<'a> {
    tokenizer: &'a PlmTokenizer,
    max_len: usize,
}

impl<'a> Renderer<'a> {
    /// `max_len` counts every token, special tokens included (the model's position limit).
    pub fn new(tokenizer: &'a PlmTokenizer, max_len: usize) -> Self {
        Self { tokenizer, max_len }
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Renders `template` with the fields of `row`.
    pub fn render<F: FieldSource + ?Sized>(&self, template: &Template, row: &F) -> Result<Rendered> {
        let (mask_str, mask_id) = &self.tokenizer.special().mask;
        let mut text = String::new();
        // (byte range in `text`, origin) per segment that produced text.
        let mut ranges: Vec<(std::ops::Range<usize>, Origin, usize)> = Vec::new();
        let mut soft_index = 0usize;
        let mut shortenable_count = 0usize;
        for (k, (segment, span)) in template.segments().iter().zip(template.spans()).enumerate() {
            let start = text.len();
            let origin = match segment {
                Segment::Text(t) => {
                    text.push_str(t);
                    Origin::Fixed
                }
                Segment::Field(f) => {
                    let value = row.field(&f.name).ok_or_else(|| Error::Template {
                        position: span.start,
                        message: format!(
                            "this row has no value for {{{}}}; map a column to it or remove it from the template",
                            f.name
                        ),
                    })?;
                    text.push_str(&f.post.apply(value));
                    if f.shortenable {
                        shortenable_count += 1;
                        Origin::Shortenable(shortenable_count - 1)
                    } else {
                        Origin::Fixed
                    }
                }
                Segment::Mask => {
                    text.push_str(mask_str);
                    Origin::Mask
                }
                Segment::Soft(soft) => {
                    let first_index = soft_index;
                    if soft.count == 0 {
                        let init = soft.init.as_deref().unwrap_or_default();
                        text.push_str(init);
                        let n = self.tokenizer.encode_plain(init)?.len();
                        soft_index += n;
                        Origin::Soft { first_index, from_init: true }
                    } else {
                        for _ in 0..soft.count {
                            text.push_str(mask_str);
                        }
                        soft_index += soft.count;
                        Origin::Soft { first_index, from_init: false }
                    }
                }
            };
            ranges.push((start..text.len(), origin, k));
        }

        let enc = self.tokenizer.encode_with_specials(&text)?;
        let ids = enc.get_ids();
        let offsets = enc.get_offsets();
        let special = enc.get_special_tokens_mask();
        // (origin, segment) of token i.
        let origin_of = |i: usize| -> (Origin, Option<usize>) {
            if special[i] == 1 && ids[i] != *mask_id {
                return (Origin::Fixed, None);
            }
            // A token's last byte decides: offsets may include a leading space that belongs to the
            // segment before (the mask token's lstrip, Metaspace's "▁").
            let (start, end) = offsets[i];
            let at = if end > start { end - 1 } else { start };
            ranges
                .iter()
                .find(|(r, _, _)| r.contains(&at) || (r.is_empty() && r.start == at))
                .map(|(_, o, k)| (*o, Some(*k)))
                .unwrap_or((Origin::Fixed, None))
        };
        let (origins, token_segments): (Vec<Origin>, Vec<Option<usize>>) =
            (0..ids.len()).map(origin_of).unzip();

        // Truncation: drop tokens from the end of the longest shortenable field until it fits.
        let truncated = ids.len().saturating_sub(self.max_len);
        let (keep, excess) = truncate(&origins, shortenable_count, truncated);
        if excess > 0 {
            let shortenable = origins.iter().filter(|o| matches!(o, Origin::Shortenable(_))).count();
            let fixed = ids.len() - shortenable;
            return Err(Error::Template {
                position: 0,
                message: format!(
                    "the template's fixed parts take {fixed} tokens but the model takes at most {}; shorten \
                     the fixed text or mark a field shortenable",
                    self.max_len
                ),
            });
        }

        let mut out_ids = Vec::with_capacity(ids.len() - truncated);
        let mut mask_positions = Vec::new();
        let mut soft_slots = Vec::new();
        let mut soft_seen: Vec<(usize, usize)> = Vec::new(); // (first_index, count so far) per segment
        let mut segments = Vec::with_capacity(ids.len() - truncated);
        let mut cuts = Vec::new();
        for i in 0..ids.len() {
            if !keep[i] {
                continue;
            }
            let pos = out_ids.len();
            if i > 0 && !keep[i - 1] {
                cuts.push(pos);
            }
            segments.push(token_segments[i]);
            match origins[i] {
                Origin::Mask if ids[i] == *mask_id => mask_positions.push(pos),
                Origin::Soft { first_index, from_init } => {
                    let n = match soft_seen.iter_mut().find(|(f, _)| *f == first_index) {
                        Some((_, n)) => {
                            *n += 1;
                            *n - 1
                        }
                        None => {
                            soft_seen.push((first_index, 1));
                            0
                        }
                    };
                    soft_slots.push(SoftSlot {
                        position: pos,
                        index: first_index + n,
                        init_id: from_init.then_some(ids[i]),
                    });
                }
                _ => {}
            }
            out_ids.push(ids[i]);
        }
        let expected_masks = template.segments().iter().filter(|s| matches!(s, Segment::Mask)).count();
        if mask_positions.len() != expected_masks {
            return Err(Error::Tokenizer {
                message: format!(
                    "the tokenizer did not keep {mask_str:?} as one token ({} found for {expected_masks} \
                     {{mask}}); the tokenizer's special tokens do not match its model",
                    mask_positions.len()
                ),
                source: None,
            });
        }
        Ok(Rendered { ids: out_ids, mask_positions, soft_slots, truncated, text, segments, cuts })
    }
}

/// Which tokens stay when `excess` tokens must go: one at a time, the last remaining token of the
/// longest shortenable field (ties go to the earlier field) is removed, so fixed text, special
/// tokens, the mask and soft tokens are never dropped. Each field's tokens are listed once and
/// removed from the end of its list, so the work is linear in the number of tokens (times the
/// number of shortenable fields), however much is cut. Returns the kept flags and the excess
/// that no shortenable token was left to absorb.
fn truncate(origins: &[Origin], shortenable_count: usize, mut excess: usize) -> (Vec<bool>, usize) {
    let mut keep = vec![true; origins.len()];
    if excess == 0 {
        return (keep, 0);
    }
    let mut tokens: Vec<Vec<usize>> = vec![Vec::new(); shortenable_count];
    for (i, o) in origins.iter().enumerate() {
        if let Origin::Shortenable(k) = o {
            tokens[*k].push(i);
        }
    }
    while excess > 0 {
        // The longest field; `max_by_key` keeps the last maximum, so iterating in reverse gives
        // the earliest field among equals.
        let Some(longest) = tokens.iter_mut().rev().max_by_key(|t| t.len()) else { break };
        let Some(i) = longest.pop() else { break };
        keep[i] = false;
        excess -= 1;
    }
    (keep, excess)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SplitMix64;

    /// The truncation rendering used before it was made linear: for every token removed, the
    /// longest field is found and the token sequence rescanned from the end.
    fn truncate_reference(
        origins: &[Origin],
        shortenable_count: usize,
        mut excess: usize,
    ) -> (Vec<bool>, usize) {
        let mut keep = vec![true; origins.len()];
        let mut lengths = vec![0usize; shortenable_count];
        for o in origins {
            if let Origin::Shortenable(k) = o {
                lengths[*k] += 1;
            }
        }
        while excess > 0 {
            let Some((longest, &len)) = lengths.iter().enumerate().rev().max_by_key(|(_, l)| **l) else {
                break;
            };
            if len == 0 {
                break;
            }
            let victim =
                (0..origins.len()).rev().find(|&i| keep[i] && origins[i] == Origin::Shortenable(longest));
            match victim {
                Some(i) => keep[i] = false,
                None => break,
            }
            lengths[longest] -= 1;
            excess -= 1;
        }
        (keep, excess)
    }

    #[test]
    fn truncation_matches_the_rescanning_reference_on_random_sequences() {
        let mut rng = SplitMix64::new(7);
        for case in 0..2000 {
            let fields = rng.below(4);
            let len = rng.below(60);
            let origins: Vec<Origin> = (0..len)
                .map(|_| match rng.below(fields + 2) {
                    0 => Origin::Fixed,
                    1 => Origin::Mask,
                    k => Origin::Shortenable(k - 2),
                })
                .collect();
            let excess = rng.below(len + 5);
            assert_eq!(
                truncate(&origins, fields, excess),
                truncate_reference(&origins, fields, excess),
                "case {case}: {origins:?}, excess {excess}"
            );
        }
    }

    #[test]
    fn long_field_truncation_is_linear() {
        // 2,000,000 tokens of one field cut to 10: the rescanning version visited ~2·10¹² tokens
        // (hours); each token is now listed once and removed once.
        let n = 2_000_000;
        let mut origins = vec![Origin::Fixed];
        origins.extend(std::iter::repeat_n(Origin::Shortenable(0), n));
        origins.push(Origin::Mask);
        let (keep, left) = truncate(&origins, 1, n - 10);
        assert_eq!(left, 0);
        assert_eq!(keep.iter().filter(|k| **k).count(), 12);
        assert!(keep[..11].iter().all(|k| *k) && keep[n + 1]);
    }

    #[test]
    fn truncation_shortens_the_longest_field_first_and_reports_what_it_could_not_cut() {
        use Origin::{Fixed, Mask, Shortenable as S};
        /// Origins, shortenable fields, tokens to cut; kept flags, excess left.
        type Case<'a> = (&'a [Origin], usize, usize, &'a [bool], usize);
        let cases: &[Case] = &[
            (&[Fixed, S(0), S(0), S(1), Mask], 2, 1, &[true, true, false, true, true], 0),
            // equal lengths: the earlier field goes first
            (&[S(0), S(1), Mask], 2, 1, &[false, true, true], 0),
            (&[S(0), S(0), S(1), S(1), Fixed], 2, 3, &[false, false, true, false, true], 0),
            // more to cut than the fields hold
            (&[Fixed, S(0), Mask], 1, 3, &[true, false, true], 2),
            (&[Fixed, Mask], 0, 1, &[true, true], 1),
        ];
        for (origins, fields, excess, keep, left) in cases {
            assert_eq!(
                truncate(origins, *fields, *excess),
                (keep.to_vec(), *left),
                "{origins:?} minus {excess}"
            );
        }
    }
}
