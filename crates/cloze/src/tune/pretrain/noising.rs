//! Corrupting text for the encoder–decoders' own objectives, and their loss.
//!
//! - T5's **span corruption** (Raffel et al., 2020, §3.1.4 and Figure 2): 15% of the tokens are
//!   dropped in spans of mean length 3; each span is replaced in the encoder's input by the next
//!   sentinel (`<extra_id_0>`, `<extra_id_1>`, …) and the decoder writes every sentinel followed by
//!   the span it stands for, then the next sentinel, then `</s>`
//!   (`<extra_id_0> for inviting <extra_id_1> last <extra_id_2> </s>`).
//! - BART's **text infilling** (Lewis et al., 2020, §2.2): 30% of the tokens are dropped in spans
//!   whose lengths are drawn from Poisson(λ = 3) (a zero draw is drawn again: this engine does not
//!   insert masks where nothing is missing); each span becomes one `<mask>`, and the decoder writes
//!   the original text.
//!
//! Special tokens are never dropped. A `forced` range (the label word the template's `{mask}`
//! holds, when the row is labelled) is always dropped, so the model also learns the prompt's task:
//! T5 writes it after its sentinel, BART where it stands — as scoring reads it
//! ([`crate::scoring`]). The rest of the spans are placed at random, apart from one another. Every
//! draw comes from the caller's seeded generator: the same seed gives the same corruption.

use std::ops::Range;

use candle_core::Tensor;

use crate::data::SplitMix64;
use crate::error::{Error, Result};
use crate::plm::{Plm, PlmTokenizer};

/// A corrupted row: the encoder's input and the decoder's target sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrupted {
    pub input: Vec<u32>,
    pub labels: Vec<u32>,
}

/// A text to corrupt: its ids, which positions are never dropped (special tokens), and which
/// range always is (the label word).
#[derive(Debug, Clone)]
pub struct Original<'a> {
    pub ids: &'a [u32],
    pub protected: &'a [bool],
    pub forced: Option<Range<usize>>,
}

/// T5's span corruption.
#[derive(Debug, Clone)]
pub struct SpanCorruption {
    /// `<extra_id_0>`, `<extra_id_1>`, … in order.
    pub sentinels: Vec<u32>,
    /// `</s>`, which ends the target.
    pub eos: u32,
    /// The fraction of tokens dropped (0.15).
    pub rate: f64,
    /// The mean span length (3).
    pub mean_span: f64,
}

/// BART's text infilling.
#[derive(Debug, Clone)]
pub struct TextInfilling {
    /// `<mask>`.
    pub mask: u32,
    /// The fraction of tokens dropped (0.3).
    pub rate: f64,
    /// The Poisson mean of the span lengths (3).
    pub lambda: f64,
}

/// The sentinels `<extra_id_0>`, `<extra_id_1>`, … of a T5 tokenizer, in order.
pub fn sentinels(tokenizer: &PlmTokenizer) -> Result<Vec<u32>> {
    let ids: Vec<u32> =
        (0..).map_while(|n| tokenizer.inner().token_to_id(&format!("<extra_id_{n}>"))).collect();
    if ids.len() < 2 {
        return Err(Error::Tokenizer {
            message: format!(
                "{}: span corruption (T5's pretraining objective) needs the sentinel tokens <extra_id_0>, \
                 <extra_id_1>, …, and this tokenizer has {}; use the tokenizer.json that came with the model \
                 (T5 checkpoints have 100 sentinels), or tune with finetune or soft-prompt instead",
                tokenizer.source().display(),
                if ids.is_empty() { "none".to_string() } else { "only <extra_id_0>".to_string() },
            ),
            source: None,
        });
    }
    Ok(ids)
}

impl SpanCorruption {
    /// The recipe of the paper with `tokenizer`'s sentinels and end token.
    pub fn new(tokenizer: &PlmTokenizer) -> Result<Self> {
        let sentinels = sentinels(tokenizer)?;
        let eos = tokenizer.special().sep.as_ref().map(|s| s.1).ok_or_else(|| Error::Tokenizer {
            message: format!(
                "{}: span corruption ends each target with </s>, which this tokenizer does not have; use the \
                 tokenizer.json that came with the model",
                tokenizer.source().display()
            ),
            source: None,
        })?;
        Ok(Self { sentinels, eos, rate: 0.15, mean_span: 3.0 })
    }

    /// Corrupts a text, drawing from `rng`.
    pub fn corrupt(&self, text: &Original, rng: &mut SplitMix64) -> Corrupted {
        let Original { ids, protected, forced } = text;
        let rest = random_budget(protected, forced.as_ref(), self.rate);
        // One sentinel is kept for the end of the target, and the forced span may add one run.
        let max_spans = self.sentinels.len().saturating_sub(2).max(1);
        let spans = if rest == 0 {
            Vec::new()
        } else {
            let k = ((rest as f64 / self.mean_span).round() as usize).clamp(1, max_spans.min(rest));
            random_partition(rest, k, rng)
        };
        let noise = noise_mask(protected, forced.clone(), &spans, rng);
        let mut runs = runs(&noise);
        runs.truncate(self.sentinels.len() - 1);
        let mut input = Vec::with_capacity(ids.len());
        let mut labels = Vec::new();
        let mut p = 0;
        let mut j = 0;
        while p < ids.len() {
            if j < runs.len() && runs[j].start == p {
                input.push(self.sentinels[j]);
                labels.push(self.sentinels[j]);
                labels.extend_from_slice(&ids[runs[j].clone()]);
                p = runs[j].end;
                j += 1;
            } else {
                input.push(ids[p]);
                p += 1;
            }
        }
        labels.push(self.sentinels[runs.len()]);
        labels.push(self.eos);
        Corrupted { input, labels }
    }
}

impl TextInfilling {
    /// The recipe of the paper with `tokenizer`'s mask token.
    pub fn new(tokenizer: &PlmTokenizer) -> Self {
        Self { mask: tokenizer.special().mask.1, rate: 0.3, lambda: 3.0 }
    }

    /// Corrupts a text, drawing from `rng`.
    pub fn corrupt(&self, text: &Original, rng: &mut SplitMix64) -> Corrupted {
        let Original { ids, protected, forced } = text;
        let rest = random_budget(protected, forced.as_ref(), self.rate);
        let mut spans = Vec::new();
        let mut sum = 0;
        while sum < rest {
            let l = poisson(self.lambda, rng);
            if l == 0 {
                continue;
            }
            let l = l.min(rest - sum);
            spans.push(l);
            sum += l;
        }
        let noise = noise_mask(protected, forced.clone(), &spans, rng);
        let mut input = Vec::with_capacity(ids.len());
        for (p, &id) in ids.iter().enumerate() {
            if !noise[p] {
                input.push(id);
            } else if p == 0 || !noise[p - 1] {
                input.push(self.mask);
            }
        }
        Corrupted { input, labels: ids.to_vec() }
    }
}

/// How many tokens the random spans drop: `rate` of the unprotected tokens (see [`noise_count`])
/// less those of the forced range.
fn random_budget(protected: &[bool], forced: Option<&Range<usize>>, rate: f64) -> usize {
    let candidates = protected.iter().filter(|p| !**p).count();
    noise_count(candidates, rate).saturating_sub(forced.map_or(0, |r| r.len()))
}

/// How many of `candidates` tokens a rate drops: rounded, and at least one.
fn noise_count(candidates: usize, rate: f64) -> usize {
    ((candidates as f64 * rate).round() as usize).max(1).min(candidates)
}

/// `total` split into `k` positive parts, uniformly among such splits (T5's
/// `random_spans_noise_mask`).
fn random_partition(total: usize, k: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let cuts = choose_sorted(total - 1, k - 1, rng);
    let mut parts = Vec::with_capacity(k);
    let mut last = 0;
    for c in cuts {
        parts.push(c + 1 - last);
        last = c + 1;
    }
    parts.push(total - last);
    parts
}

/// `k` distinct values of `0..n`, sorted (a partial Fisher–Yates shuffle).
fn choose_sorted(n: usize, k: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let mut pool: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = i + rng.below(n - i);
        pool.swap(i, j);
    }
    let mut out = pool[..k].to_vec();
    out.sort_unstable();
    out
}

/// A draw from Poisson(λ) (Knuth's method; λ is small).
fn poisson(lambda: f64, rng: &mut SplitMix64) -> usize {
    let limit = (-lambda).exp();
    let mut k = 0;
    let mut p = rng.next_f64();
    while p > limit && k < 64 {
        k += 1;
        p *= rng.next_f64();
    }
    k
}

/// Which positions are dropped: `forced`, and `spans` (lengths, in order) placed among the
/// positions neither protected nor forced with at least one kept position between two of them;
/// when there are too few kept positions for that, the last spans are joined.
fn noise_mask(
    protected: &[bool],
    forced: Option<Range<usize>>,
    spans: &[usize],
    rng: &mut SplitMix64,
) -> Vec<bool> {
    let mut noise = vec![false; protected.len()];
    let forced = forced.unwrap_or(0..0);
    for p in forced.clone() {
        noise[p] = true;
    }
    let free: Vec<usize> = (0..protected.len()).filter(|p| !protected[*p] && !forced.contains(p)).collect();
    let mut spans = spans.to_vec();
    let total: usize = spans.iter().sum();
    if spans.is_empty() || total > free.len() {
        return noise;
    }
    let kept = free.len() - total;
    while spans.len() > kept + 1 {
        let last = spans.pop().unwrap_or(0);
        if let Some(l) = spans.last_mut() {
            *l += last;
        }
    }
    let k = spans.len();
    // Gaps before, between and after the spans: the inner ones at least 1, the rest of the kept
    // positions spread uniformly (stars and bars).
    let extra = kept - (k - 1);
    let bars = choose_sorted(extra + k, k, rng);
    let mut gaps = Vec::with_capacity(k + 1);
    let mut prev = 0;
    for (i, b) in bars.iter().enumerate() {
        let c = b - i;
        gaps.push(c - prev);
        prev = c;
    }
    gaps.push(extra - prev);
    let mut at = gaps[0];
    for (i, &len) in spans.iter().enumerate() {
        for &p in &free[at..at + len] {
            noise[p] = true;
        }
        at += len + gaps[i + 1] + 1;
    }
    noise
}

/// The maximal runs of dropped positions, in order.
pub fn runs(noise: &[bool]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut p = 0;
    while p < noise.len() {
        if noise[p] {
            let start = p;
            while p < noise.len() && noise[p] {
                p += 1;
            }
            out.push(start..p);
        } else {
            p += 1;
        }
    }
    out
}

/// Cross-entropy of the decoder's targets by teacher forcing (the decoder reads the start token and
/// the targets shifted right), averaged over every target token of the batch; padding is never a
/// target.
pub fn seq2seq_loss(plm: &Plm, rows: &[&Corrupted]) -> Result<Tensor> {
    let start = plm.decoder_start_id().ok_or_else(|| {
        Error::invalid(format!(
            "{}: config.json names no decoder_start_token_id; add it (BART: 2) to pretrain this model",
            plm.dir().display()
        ))
    })?;
    let inputs: Vec<&[u32]> = rows.iter().map(|r| r.input.as_slice()).collect();
    let enc_batch = plm.batch(&inputs)?;
    let enc = plm.encode_batch(&enc_batch)?;
    let dec_rows: Vec<Vec<u32>> = rows
        .iter()
        .map(|r| std::iter::once(start).chain(r.labels[..r.labels.len() - 1].iter().copied()).collect())
        .collect();
    let dec_refs: Vec<&[u32]> = dec_rows.iter().map(Vec::as_slice).collect();
    let dec_batch = plm.batch(&dec_refs)?;
    let states =
        plm.decode(&enc, enc_batch.attention(), &plm.embed_tokens(dec_batch.ids())?, dec_batch.attention())?;
    let mut at = Vec::new();
    let mut want = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        for (k, &id) in r.labels.iter().enumerate() {
            at.push(dec_batch.flat(i, k) as u32);
            want.push(id);
        }
    }
    super::token_cross_entropy(plm, &dec_batch.select(&states, &at)?, &want)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Length, protected positions, forced range, sentinels available.
    type T5Case = (usize, &'static [usize], Option<Range<usize>>, usize);
    /// Length, protected positions, forced range.
    type BartCase = (usize, &'static [usize], Option<Range<usize>>);

    fn t5(sentinels: usize) -> SpanCorruption {
        SpanCorruption {
            sentinels: (0..sentinels as u32).map(|n| 5000 - n).collect(),
            eos: 1,
            rate: 0.15,
            mean_span: 3.0,
        }
    }

    /// The original text back from a T5 input and target: each sentinel of the input replaced by
    /// what follows the same sentinel in the target.
    fn t5_restore(c: &Corrupted, sentinels: &[u32]) -> Vec<u32> {
        let mut spans: Vec<Vec<u32>> = Vec::new();
        for &id in &c.labels {
            if sentinels.contains(&id) {
                spans.push(Vec::new());
            } else if let Some(s) = spans.last_mut() {
                s.push(id);
            }
        }
        let mut out = Vec::new();
        for &id in &c.input {
            match sentinels.iter().position(|&s| s == id) {
                Some(j) => out.extend_from_slice(&spans[j]),
                None => out.push(id),
            }
        }
        out
    }

    #[test]
    fn span_corruption_follows_t5() {
        // (length, protected positions, forced range, sentinels available)
        let cases: [T5Case; 6] = [
            (1000, &[999], None, 100),
            (200, &[0, 199], Some(50..52), 100),
            (20, &[19], None, 100),
            (20, &[19], Some(3..4), 100),
            (1, &[], None, 100),
            (400, &[399], None, 4),
        ];
        for (len, protected_at, forced, n_sentinels) in cases {
            let ids: Vec<u32> = (10..10 + len as u32).collect();
            let mut protected = vec![false; len];
            for &p in protected_at {
                protected[p] = true;
            }
            let sc = t5(n_sentinels);
            let text = Original { ids: &ids, protected: &protected, forced: forced.clone() };
            let c = sc.corrupt(&text, &mut SplitMix64::new(3));
            let case = format!("{len} tokens, forced {forced:?}, {n_sentinels} sentinels");
            // Seeded: the same seed gives the same corruption, another seed another one.
            assert_eq!(c, sc.corrupt(&text, &mut SplitMix64::new(3)), "{case}");
            // Sentinels in order, in the input and in the target; the target ends with the next
            // sentinel and </s>.
            let used: Vec<u32> = c.input.iter().copied().filter(|id| sc.sentinels.contains(id)).collect();
            assert!(!used.is_empty(), "{case}: at least one span");
            assert_eq!(used, sc.sentinels[..used.len()], "{case}");
            let in_labels: Vec<u32> =
                c.labels.iter().copied().filter(|id| sc.sentinels.contains(id)).collect();
            assert_eq!(in_labels, sc.sentinels[..=used.len()], "{case}");
            assert_eq!(c.labels[0], sc.sentinels[0], "{case}: the target starts with <extra_id_0>");
            assert_eq!(c.labels[c.labels.len() - 2..], [sc.sentinels[used.len()], sc.eos], "{case}");
            // Nothing lost: the spans put back give the text.
            assert_eq!(t5_restore(&c, &sc.sentinels), ids, "{case}");
            // Protected tokens stay in the input; the forced range is dropped.
            for &p in protected_at {
                assert!(c.input.contains(&ids[p]), "{case}: protected token {p} kept");
            }
            if let Some(f) = &forced {
                assert!(f.clone().all(|p| !c.input.contains(&ids[p])), "{case}: the label word is dropped");
            }
            // 15% of the candidates (rounded, at least one) are dropped.
            let dropped = c.labels.len() - in_labels.len() - 1;
            let candidates = len - protected_at.len();
            let want =
                ((candidates as f64 * 0.15).round() as usize).max(1).max(forced.map_or(0, |f| f.len()));
            assert_eq!(dropped, want, "{case}");
            if len == 1000 {
                let mean = dropped as f64 / used.len() as f64;
                assert!((2.5..=3.5).contains(&mean), "{case}: mean span length {mean}");
                let other = sc.corrupt(&text, &mut SplitMix64::new(4));
                assert_ne!(c, other, "another seed, another corruption");
            }
            assert!(used.len() < n_sentinels, "{case}: a sentinel is left for the end");
        }
    }

    #[test]
    fn text_infilling_follows_bart() {
        let ti = TextInfilling { mask: 7, rate: 0.3, lambda: 3.0 };
        let cases: [BartCase; 4] =
            [(2000, &[0, 1999], None), (100, &[0, 99], Some(40..43)), (6, &[0, 5], None), (3, &[0, 2], None)];
        for (len, protected_at, forced) in cases {
            let ids: Vec<u32> = (100..100 + len as u32).collect();
            let mut protected = vec![false; len];
            for &p in protected_at {
                protected[p] = true;
            }
            let case = format!("{len} tokens, forced {forced:?}");
            let text = Original { ids: &ids, protected: &protected, forced: forced.clone() };
            let c = ti.corrupt(&text, &mut SplitMix64::new(11));
            assert_eq!(c, ti.corrupt(&text, &mut SplitMix64::new(11)), "{case}");
            assert_eq!(c.labels, ids, "{case}: the decoder writes the original");
            for &p in protected_at {
                assert!(c.input.contains(&ids[p]), "{case}: protected token kept");
            }
            // Each span became one <mask>: the kept tokens are in order, and never two masks in a row.
            let kept: Vec<u32> = c.input.iter().copied().filter(|&id| id != 7).collect();
            let masks = c.input.len() - kept.len();
            assert!(c.input.windows(2).all(|w| w != [7, 7]), "{case}");
            let dropped = len - kept.len();
            let candidates = len - protected_at.len();
            let want = ((candidates as f64 * 0.3).round() as usize)
                .max(1)
                .max(forced.clone().map_or(0, |f| f.len()));
            assert_eq!(dropped, want, "{case}: 30% dropped");
            assert!(kept.windows(2).all(|w| w[0] < w[1]), "{case}: kept tokens stay in order");
            if let Some(f) = &forced {
                assert!(f.clone().all(|p| !kept.contains(&ids[p])), "{case}: the label word is dropped");
            }
            if len == 2000 {
                // Poisson(3) without zeros has mean 3 / (1 - e^-3) ≈ 3.16; the last span is cut.
                let mean = dropped as f64 / masks as f64;
                assert!((2.7..=3.6).contains(&mean), "{case}: mean span length {mean}");
            }
        }
    }

    #[test]
    fn poisson_draws_have_the_asked_mean() {
        let mut rng = SplitMix64::new(5);
        let n = 20_000;
        let mean = (0..n).map(|_| poisson(3.0, &mut rng)).sum::<usize>() as f64 / n as f64;
        assert!((mean - 3.0).abs() < 0.06, "{mean}");
    }

    #[test]
    fn partitions_are_positive_and_complete() {
        let mut rng = SplitMix64::new(9);
        for (total, k) in [(1, 1), (10, 1), (10, 10), (150, 50), (7, 3)] {
            let parts = random_partition(total, k, &mut rng);
            assert_eq!(parts.len(), k);
            assert_eq!(parts.iter().sum::<usize>(), total);
            assert!(parts.iter().all(|&p| p >= 1), "{parts:?}");
        }
    }
}
