//! Text generation, for templates whose answer is text: greedy decoding or sampling (temperature,
//! nucleus/top-p — Holtzman et al., 2020 — with a seed), stop strings, a token limit, and every new
//! token handed to the caller as it is produced (which can cancel).
//!
//! A decoder (GPT-2, Llama, Qwen2, Gemma 3, GGUF) runs the prompt once and then each new token
//! alone against its key/value cache ([`crate::plm::decoder::KvCache`]); an encoder–decoder (T5,
//! BART) encodes the prompt once and runs its decoder from the start token over the answer so far.
//! The result is what transformers' `generate` gives with the same settings (greedy:
//! `do_sample=False`).

use candle_core::{DType, Tensor};

use crate::data::SplitMix64;
use crate::error::{Error, Result};
use crate::plm::decoder::KvCache;
use crate::plm::{Kind, Plm};

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Decoding {
    /// The most probable token (ties: the lowest id, as `argmax`).
    Greedy,
    /// A draw from the distribution at `temperature`, restricted to the smallest set of tokens whose
    /// probability reaches `top_p`, with a seeded generator (the same seed gives the same text).
    Sample { temperature: f32, top_p: f32, seed: u64 },
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct GenerateOptions {
    pub decoding: Decoding,
    /// At most this many new tokens.
    pub max_new_tokens: usize,
    /// Generation stops when the text ends with one of these (which is removed from the result),
    /// or at the model's end-of-sequence token.
    pub stop: Vec<String>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self { decoding: Decoding::Greedy, max_new_tokens: 32, stop: Vec::new() }
    }
}

impl GenerateOptions {
    /// Checks the options, saying what to change.
    pub fn check(&self) -> Result<()> {
        if self.max_new_tokens == 0 {
            return Err(Error::invalid("max new tokens must be at least 1"));
        }
        if let Decoding::Sample { temperature, top_p, .. } = self.decoding {
            if !(temperature.is_finite() && temperature > 0.0) {
                return Err(Error::invalid(format!(
                    "temperature {temperature} must be above 0 (use greedy decoding for the most probable text)"
                )));
            }
            if !(top_p > 0.0 && top_p <= 1.0) {
                return Err(Error::invalid(format!("top-p {top_p} must be in (0, 1]")));
            }
        }
        if self.stop.iter().any(String::is_empty) {
            return Err(Error::invalid("a stop string is empty; remove it"));
        }
        Ok(())
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// The model produced its end-of-sequence token.
    EndOfSequence,
    /// The text reached a stop string.
    StopString,
    /// `max_new_tokens` were generated.
    Length,
    /// The prompt and the new tokens fill the model's context.
    Context,
}

/// The result of [`generate`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Generation {
    /// The new text (a stop string that ended it removed).
    pub text: String,
    /// The new token ids (including the end-of-sequence token when that ended it).
    pub ids: Vec<u32>,
    pub stop: StopReason,
    pub prompt_tokens: usize,
}

/// Picks a token id from one row of logits.
fn pick(logits: &[f32], decoding: Decoding, rng: &mut SplitMix64) -> u32 {
    match decoding {
        Decoding::Greedy => {
            let mut best = 0;
            for (i, &x) in logits.iter().enumerate() {
                if x > logits[best] {
                    best = i;
                }
            }
            best as u32
        }
        Decoding::Sample { temperature, top_p, .. } => {
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut probs: Vec<(usize, f64)> = logits
                .iter()
                .enumerate()
                .map(|(i, &x)| (i, (((x - max) / temperature) as f64).exp()))
                .collect();
            let total: f64 = probs.iter().map(|p| p.1).sum();
            probs.iter_mut().for_each(|p| p.1 /= total);
            probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let mut kept = 0.0;
            let mut n = 0;
            for p in &probs {
                kept += p.1;
                n += 1;
                if kept >= top_p as f64 {
                    break;
                }
            }
            let mut u = rng.next_f64() * kept;
            for p in &probs[..n] {
                if u < p.1 {
                    return p.0 as u32;
                }
                u -= p.1;
            }
            probs[n - 1].0 as u32
        }
    }
}

/// Continues `prompt` with `plm` (a decoder, or an encoder–decoder answering it). `on_token` is
/// called with each new piece of text as it is produced; returning `false` cancels with
/// [`Error::Cancelled`].
pub fn generate(
    plm: &Plm,
    prompt: &str,
    options: &GenerateOptions,
    on_token: &mut dyn FnMut(&str) -> bool,
) -> Result<Generation> {
    options.check()?;
    if plm.kind() == Kind::Encoder {
        return Err(Error::invalid(format!(
            "{} is a masked-LM model; generation needs a decoder (e.g. gpt2, SmolLM2, Llama, Qwen2) or an \
             encoder–decoder (T5, Flan-T5, BART)",
            plm.family().name()
        )));
    }
    let ids = plm.tokenizer().encode_with_specials(prompt)?.get_ids().to_vec();
    if ids.is_empty() {
        return Err(Error::invalid("the prompt is empty; type some text to continue"));
    }
    let mut stepper = Stepper::new(plm, &ids)?;
    let seed = match options.decoding {
        Decoding::Sample { seed, .. } => seed,
        Decoding::Greedy => 0,
    };
    let mut rng = SplitMix64::new(seed);
    let tok = plm.tokenizer();
    let eos = tok.special().sep.as_ref().map(|(_, id)| *id);
    let mut new_ids: Vec<u32> = Vec::new();
    let mut text = String::new();
    // Bytes of `text` handed to `on_token`. A byte-level BPE token may hold the first bytes of a
    // character that the next token completes: while the text ends in U+FFFD it is held back, so
    // the pieces always join to the final text.
    let mut sent = 0;
    let mut stop = StopReason::Length;
    for _ in 0..options.max_new_tokens {
        let Some(logits) = stepper.next(plm, new_ids.last().copied())? else {
            stop = StopReason::Context;
            break;
        };
        let next = pick(&logits, options.decoding, &mut rng);
        new_ids.push(next);
        if Some(next) == eos {
            stop = StopReason::EndOfSequence;
            break;
        }
        text = tok.decode(&new_ids)?;
        if let Some(s) = options.stop.iter().find(|s| text.ends_with(s.as_str())) {
            text.truncate(text.len() - s.len());
            stop = StopReason::StopString;
            break;
        }
        if text.ends_with('\u{FFFD}') || !text.is_char_boundary(sent) {
            continue;
        }
        if text.len() > sent {
            if !on_token(&text[sent..]) {
                return Err(Error::Cancelled);
            }
            sent = text.len();
        }
    }
    // What was held back (an incomplete character at the end) goes out last.
    if text.len() > sent && text.is_char_boundary(sent) && !on_token(&text[sent..]) {
        return Err(Error::Cancelled);
    }
    Ok(Generation { text, ids: new_ids, stop, prompt_tokens: ids.len() })
}

/// Greedy token ids after `input_ids` (a decoder's prompt, or an encoder–decoder's encoder input),
/// `max_new_tokens` of them whatever they are (end-of-sequence included): for parity checks
/// against transformers' `generate(do_sample=False)`.
pub fn greedy_ids(plm: &Plm, input_ids: &[u32], max_new_tokens: usize) -> Result<Vec<u32>> {
    let mut stepper = Stepper::new(plm, input_ids)?;
    let mut rng = SplitMix64::new(0);
    let mut out: Vec<u32> = Vec::new();
    while out.len() < max_new_tokens {
        let Some(logits) = stepper.next(plm, out.last().copied())? else { break };
        out.push(pick(&logits, Decoding::Greedy, &mut rng));
    }
    Ok(out)
}

/// One generation's state between tokens.
enum Stepper {
    /// A decoder: the prompt not yet run (then empty) and the keys and values of what was.
    Decoder { pending: Vec<u32>, cache: KvCache },
    /// An encoder–decoder: the encoder's states, and the decoder's input so far.
    Seq2Seq { encoded: Encoded, decoder_ids: Vec<u32> },
}

impl Stepper {
    fn new(plm: &Plm, ids: &[u32]) -> Result<Self> {
        plm.lm_head()?;
        match plm.kind() {
            Kind::Decoder => Ok(Stepper::Decoder { pending: ids.to_vec(), cache: plm.kv_cache() }),
            Kind::EncoderDecoder => {
                let encoded = Encoded::new(plm, &[ids.to_vec()])?;
                Ok(Stepper::Seq2Seq { decoder_ids: vec![encoded.start], encoded })
            }
            Kind::Encoder => Err(Error::invalid("a masked LM does not generate text")),
        }
    }

    /// The next token's logits after `last` (the token chosen at the previous step; `None` at the
    /// first), or `None` when the model's context is full.
    fn next(&mut self, plm: &Plm, last: Option<u32>) -> Result<Option<Vec<f32>>> {
        let head = plm.lm_head()?;
        let hidden = match self {
            Stepper::Decoder { pending, cache } => {
                pending.extend(last);
                if cache.len() + pending.len() > plm.max_len() || pending.is_empty() {
                    return Ok(None);
                }
                let h = plm.forward_cached(pending, cache)?;
                pending.clear();
                h
            }
            Stepper::Seq2Seq { encoded, decoder_ids } => {
                decoder_ids.extend(last);
                if decoder_ids.len() > plm.max_len() {
                    return Ok(None);
                }
                let batch = plm.batch(&[decoder_ids.as_slice()])?;
                plm.decode(
                    &encoded.states,
                    &encoded.mask,
                    &plm.embed_tokens(batch.ids())?,
                    batch.attention(),
                )?
            }
        };
        let t = hidden.dim(1)?;
        let last = hidden.get(0)?.get(t - 1)?.unsqueeze(0)?;
        // A single new token went through the layers block by block (a GGUF model held
        // quantised); its head goes the same way.
        let transformed = head.transform(&last)?;
        let logits = match t {
            1 => head.logits_step(&transformed)?,
            _ => head.logits_full(&transformed)?,
        }
        .get(0)?;
        Ok(Some(logits.to_dtype(DType::F32)?.to_vec1::<f32>()?))
    }
}

/// An encoder–decoder's encoder states for several inputs, computed once and read by every decoder
/// pass over them: a decoding shared by many inputs (LM-BFF's template generation) runs the decoder
/// over each prefix against every input without encoding them again.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// `[inputs, width, hidden]`, right-padded.
    states: Tensor,
    /// `[inputs, width]` 0/1.
    mask: Tensor,
    inputs: usize,
    /// The decoder's start token.
    pub start: u32,
}

impl Encoded {
    /// Encodes `inputs` (token ids, the model's special tokens included) with `plm`, an
    /// encoder–decoder; each must fit the model's context.
    pub fn new(plm: &Plm, inputs: &[Vec<u32>]) -> Result<Self> {
        if plm.kind() != Kind::EncoderDecoder {
            return Err(Error::invalid(format!(
                "{} is not an encoder–decoder; only T5 and BART encode an input for a decoder",
                plm.family().name()
            )));
        }
        if inputs.is_empty() || inputs.iter().any(Vec::is_empty) {
            return Err(Error::invalid("an encoder input is empty; give it some text"));
        }
        if let Some((i, long)) = inputs.iter().enumerate().find(|(_, ids)| ids.len() > plm.max_len()) {
            return Err(Error::invalid(format!(
                "{}the prompt is {} tokens; {} reads at most {}: shorten it",
                if inputs.len() > 1 { format!("input {}: ", i + 1) } else { String::new() },
                long.len(),
                plm.family().name(),
                plm.max_len()
            )));
        }
        let start = plm.decoder_start_id().ok_or_else(|| {
            Error::invalid(format!("{}: config.json names no decoder_start_token_id", plm.family().name()))
        })?;
        plm.lm_head()?;
        let rows: Vec<&[u32]> = inputs.iter().map(Vec::as_slice).collect();
        let batch = plm.batch(&rows)?;
        let states = plm.encode_batch(&batch)?;
        Ok(Self { states, mask: batch.attention().clone(), inputs: inputs.len(), start })
    }

    /// How many inputs were encoded.
    pub fn len(&self) -> usize {
        self.inputs
    }

    pub fn is_empty(&self) -> bool {
        self.inputs == 0
    }

    /// The log-probability of every vocabulary token after each `(input, decoder ids)` pair (the
    /// decoder ids start with [`Encoded::start`]): `[pairs][vocab]`, in one decoder pass.
    pub fn next_log_probs(&self, plm: &Plm, pairs: &[(usize, &[u32])]) -> Result<Vec<Vec<f32>>> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        if let Some((i, _)) = pairs.iter().find(|(i, ids)| *i >= self.inputs || ids.is_empty()) {
            return Err(Error::internal(format!(
                "decoder row for input {i} of {} (or an empty decoder row)",
                self.inputs
            )));
        }
        let device = plm.device();
        let index = Tensor::new(pairs.iter().map(|(i, _)| *i as u32).collect::<Vec<_>>(), device)?;
        let states = self.states.index_select(&index, 0)?;
        let mask = self.mask.index_select(&index, 0)?;
        let rows: Vec<&[u32]> = pairs.iter().map(|(_, ids)| *ids).collect();
        let batch = plm.batch(&rows)?;
        let hidden = plm.decode(&states, &mask, &plm.embed_tokens(batch.ids())?, batch.attention())?;
        let last: Vec<u32> =
            rows.iter().enumerate().map(|(r, ids)| batch.flat(r, ids.len() - 1) as u32).collect();
        let head = plm.lm_head()?;
        let logits = head.logits_full(&head.transform(&batch.select(&hidden, &last)?)?)?;
        let logits = logits.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        Ok(logits.into_iter().map(log_softmax).collect())
    }
}

/// `x - logsumexp(x)`.
fn log_softmax(mut x: Vec<f32>) -> Vec<f32> {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = x.iter().map(|&v| f64::from(v - max).exp()).sum();
    let log_z = max as f64 + sum.ln();
    x.iter_mut().for_each(|v| *v = (f64::from(*v) - log_z) as f32);
    x
}

/// The logits of the position after `ids` (one forward pass of a decoder over the whole row, no
/// cache), for checks.
pub fn next_token_logits(plm: &Plm, ids: &[u32]) -> Result<Tensor> {
    let batch = plm.batch(&[ids])?;
    let hidden = plm.encode_batch(&batch)?;
    let last = hidden.get(0)?.get(ids.len() - 1)?.unsqueeze(0)?;
    let head = plm.lm_head()?;
    Ok(head.logits_full(&head.transform(&last)?)?.get(0)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_first_maximum_and_sampling_is_seeded_and_nucleus_bound() {
        let mut rng = SplitMix64::new(1);
        assert_eq!(pick(&[0.0, 2.0, 2.0, 1.0], Decoding::Greedy, &mut rng), 1);
        let nucleus = Decoding::Sample { temperature: 1.0, top_p: 0.5, seed: 7 };
        // One token holds nearly all the mass: top-p 0.5 keeps only it.
        for _ in 0..50 {
            assert_eq!(pick(&[10.0, 0.0, 0.0], nucleus, &mut rng), 0);
        }
        let wide = Decoding::Sample { temperature: 1.0, top_p: 1.0, seed: 7 };
        let draw = |seed| {
            let mut r = SplitMix64::new(seed);
            (0..20).map(|_| pick(&[1.0, 1.0, 1.0], wide, &mut r)).collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert!(draw(3).iter().any(|&x| x != draw(3)[0]), "uniform draws vary");
    }

    #[test]
    fn options_are_checked() {
        let cases = [
            (GenerateOptions { max_new_tokens: 0, ..Default::default() }, "at least 1"),
            (
                GenerateOptions {
                    decoding: Decoding::Sample { temperature: 0.0, top_p: 0.9, seed: 1 },
                    ..Default::default()
                },
                "above 0",
            ),
            (
                GenerateOptions {
                    decoding: Decoding::Sample { temperature: 1.0, top_p: 1.5, seed: 1 },
                    ..Default::default()
                },
                "(0, 1]",
            ),
            (GenerateOptions { stop: vec![String::new()], ..Default::default() }, "empty"),
        ];
        for (o, want) in cases {
            assert!(o.check().unwrap_err().to_string().contains(want), "{o:?}");
        }
    }
}
