//! The one seam between the engine and a model family: [`Network`].
//!
//! Prompt learning names three kinds of pretrained model (Liu et al., 2023, "Pre-train, Prompt, and
//! Predict", §3): masked LMs that fill a `{mask}` anywhere (BERT-style, [`Kind::Encoder`]), left-to-right
//! LMs that read the label word as the next token (GPT-style, [`Kind::Decoder`]), and
//! encoder–decoders that generate the mask's span (T5-style, [`Kind::EncoderDecoder`]). Every caller
//! — classification, label-word search, the soft verbalizer, tuning, probes, saving — goes through
//! this trait and [`super::Plm`]; no caller matches on a family. Which families exist, which
//! `model_type`s and architectures name them and how each is loaded is the registry in
//! [`super::family`].

use std::collections::HashMap;

use candle_core::Tensor;

use super::decoder::KvCache;
use super::layers::{Dropout, Linear, LmHead, ParamFn};

/// The three kinds of pretrained language model, by how they read a `{mask}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A masked LM: the label word is read at the mask token, with context on both sides.
    Encoder,
    /// A causal LM: the label word is read as the continuation of the text before the mask.
    Decoder,
    /// An encoder–decoder: the mask is a sentinel in the encoder's input, and the label word is the
    /// decoder's continuation after it.
    EncoderDecoder,
}

impl Kind {
    /// Where the model reads the label word, for the prompt studio and error messages.
    pub fn reads(self) -> &'static str {
        match self {
            Kind::Encoder => "at the {mask} token, from the text on both sides",
            Kind::Decoder => {
                "as the next word after the text before {mask}; text after {mask} is scored as its continuation"
            }
            Kind::EncoderDecoder => {
                "as the decoder's answer for the {mask} span, from the text on both sides"
            }
        }
    }
}

/// Shapes of a network, for `cloze inspect`, the Model screen and memory estimates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    pub hidden_size: usize,
    pub layers: usize,
    pub heads: usize,
    /// Key/value heads (fewer than `heads` with grouped-query attention).
    pub kv_heads: usize,
    pub vocab_size: usize,
    /// The longest input in tokens, special tokens included.
    pub max_len: usize,
}

impl Dims {
    /// Width, layers, query and key/value heads, vocabulary and longest input, in that order.
    pub fn of(
        hidden_size: usize,
        layers: usize,
        heads: usize,
        kv_heads: usize,
        vocab_size: usize,
        max_len: usize,
    ) -> Self {
        Self { hidden_size, layers, heads, kv_heads, vocab_size, max_len }
    }
}

/// A family's network: embeddings, the transformer stack, and the language-model head.
///
/// Implementations keep their weights as plain tensors so that [`super::Plm::trainable`] can turn
/// any of them into variables through [`Network::visit_params`], and run differentiable ops as
/// soon as an input or a weight is tracked (see [`super::layers`]).
pub trait Network: std::fmt::Debug + Send + Sync {
    fn kind(&self) -> Kind;

    fn dims(&self) -> Dims;

    /// Word embeddings of `[batch, seq]` u32 token ids: `[batch, seq, hidden]` (unscaled; a family
    /// that scales its embeddings does it in [`Network::forward`], so spliced soft vectors are
    /// treated as the model treats words).
    fn embed_tokens(&self, ids: &Tensor) -> candle_core::Result<Tensor>;

    /// The token-embedding matrix `[vocab, hidden]` (soft prompts start from its rows).
    fn word_embeddings(&self) -> &Tensor;

    /// Last hidden states `[batch, seq, hidden]` from input embeddings and a 0/1 `[batch, seq]`
    /// attention mask (right padding): the encoder's output for encoders and encoder–decoders, the
    /// final (normed) states of the causal stack for decoders.
    fn forward(
        &self,
        inputs_embeds: &Tensor,
        attention_mask: &Tensor,
        drop: Option<&Dropout>,
    ) -> candle_core::Result<Tensor>;

    /// Decoder states `[batch, dec_seq, hidden]` of an encoder–decoder, given the encoder's states
    /// and mask and the decoder's input embeddings and mask. Other kinds have no decoder.
    fn decode(
        &self,
        _encoder_states: &Tensor,
        _encoder_mask: &Tensor,
        _decoder_embeds: &Tensor,
        _decoder_mask: &Tensor,
        _drop: Option<&Dropout>,
    ) -> candle_core::Result<Tensor> {
        candle_core::bail!("this model has no decoder (it is not an encoder–decoder)")
    }

    /// Last hidden states at the given flat positions only (`row * seq + position`, as
    /// [`super::batch::Batch::select`] takes them): `[n, hidden]`, equal to selecting them from
    /// [`Network::forward`]. A family may skip the work no selected position needs (the encoders'
    /// last block computes its queries, feed-forward and norms at those positions only).
    fn forward_at(
        &self,
        inputs_embeds: &Tensor,
        attention_mask: &Tensor,
        drop: Option<&Dropout>,
        at: &[u32],
    ) -> candle_core::Result<Tensor> {
        select_rows(&self.forward(inputs_embeds, attention_mask, drop)?, at)
    }

    /// Incremental decoding (decoders): the final states `[1, new, hidden]` of `new` token
    /// embeddings (unscaled, as [`Network::forward`] takes them) that follow the `cache.len()`
    /// tokens already in `cache`, which gains their keys and values. Equal to the last `new`
    /// positions of [`Network::forward`] over the whole row.
    fn forward_cached(&self, _inputs_embeds: &Tensor, _cache: &mut KvCache) -> candle_core::Result<Tensor> {
        candle_core::bail!("this model has no causal stack to decode incrementally (it is not a decoder)")
    }

    /// The language-model head, when the checkpoint has one (bare encoders do not).
    fn head(&self) -> Option<&LmHead>;

    /// Every parameter with its engine name; tied weights are visited under each name and
    /// deduplicated by the caller.
    fn visit_params(&mut self, f: ParamFn);

    /// The weights under their checkpoint names, as `save_pretrained` writes them (the inverse of
    /// the family's loader: split fused projections, undo transposes and pre-scaling).
    fn checkpoint_tensors(&self) -> candle_core::Result<HashMap<String, Tensor>>;

    /// The linear layers whose weights a loader may have kept quantised (a GGUF file's decoder
    /// blocks), for [`super::Plm::dequantise`] and memory figures. Families never read from GGUF
    /// have none.
    fn quantisable(&self) -> Vec<&Linear> {
        Vec::new()
    }

    /// [`Network::quantisable`], to dequantise them.
    fn quantisable_mut(&mut self) -> Vec<&mut Linear> {
        Vec::new()
    }

    /// Replaces every weight held quantised by its f32 values, dropping quantised copies held
    /// beside f32 ones (an LM head's), as training and saving need.
    fn dequantise(&mut self) -> candle_core::Result<()> {
        self.quantisable_mut().into_iter().try_for_each(|l| l.dequantise())
    }

    /// A boxed copy (weights are reference-counted tensors: cheap).
    fn box_clone(&self) -> Box<dyn Network>;
}

impl Clone for Box<dyn Network> {
    fn clone(&self) -> Self {
        self.box_clone()
    }
}

/// The rows of `hidden` (`[batch, seq, hidden]`) at flat positions `at`: `[n, hidden]`.
pub fn select_rows(hidden: &Tensor, at: &[u32]) -> candle_core::Result<Tensor> {
    let (b, t, h) = hidden.dims3()?;
    let index = Tensor::new(at, hidden.device())?;
    hidden.reshape((b * t, h))?.index_select(&index, 0)
}
