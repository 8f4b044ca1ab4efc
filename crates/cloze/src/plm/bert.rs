//! BERT (Devlin et al., 2019, <https://arxiv.org/abs/1810.04805>) and RoBERTa / XLM-RoBERTa
//! (Liu et al., 2019, <https://arxiv.org/abs/1907.11692>; Conneau et al., 2020), which keep BERT's
//! layout and change only the names of the MLM head and how positions are counted.
//!
//! References:
//! - embeddings, encoder, MLM head: <https://github.com/huggingface/transformers/blob/main/src/transformers/models/bert/modeling_bert.py>
//! - RoBERTa positions (`padding_idx + 1 + i`) and `lm_head`: <https://github.com/huggingface/transformers/blob/main/src/transformers/models/roberta/modeling_roberta.py>
//!
//! The forward pass starts from input embeddings so that soft prompt vectors can be spliced in at
//! any position; [`BertMaskedLm::embed_tokens`] gives the word embeddings of token ids.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;

use super::checks::{self, ConfigKey, ConfigKeys, Rule};
use super::family::{LoadContext, ReadTensors};
use super::layers::{
    Activation, AttentionMask, Dropout, HeadTransform, LayerNorm, Linear, LmHead, ParamFn, PostNormBlock,
    SelfAttention, dropout,
};
use super::network::{Dims, Kind, Network};
use super::weights::{CheckpointNames, EMBEDDING_NORM, EMBEDDING_TABLES, EMBEDDINGS};
use super::{model_cause, model_err};
use crate::error::{Error, Result};

fn default_eps() -> f64 {
    1e-12
}
fn default_type_vocab() -> usize {
    2
}
fn default_act() -> Activation {
    Activation::Gelu
}
fn default_position_type() -> String {
    "absolute".into()
}

/// config.json of a BERT-layout model (`model_type` bert, roberta, xlm-roberta).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: Activation,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    #[serde(default = "default_position_type")]
    pub position_embedding_type: String,
}

/// The rule each config.json number of a BERT-layout model meets, checked by key before the config
/// is read (see [`checks::ConfigKeys`]).
pub const KEYS: ConfigKeys = ConfigKeys(&[
    ConfigKey { key: "vocab_size", rule: Rule::Count { min: 1, max: checks::MAX_VOCAB }, required: true },
    ConfigKey { key: "hidden_size", rule: Rule::Count { min: 1, max: checks::MAX_WIDTH }, required: true },
    ConfigKey {
        key: "num_hidden_layers",
        rule: Rule::Count { min: 1, max: checks::MAX_LAYERS },
        required: true,
    },
    ConfigKey {
        key: "num_attention_heads",
        rule: Rule::Count { min: 1, max: checks::MAX_WIDTH },
        required: true,
    },
    ConfigKey {
        key: "intermediate_size",
        rule: Rule::Count { min: 1, max: 4 * checks::MAX_WIDTH },
        required: true,
    },
    ConfigKey {
        key: "max_position_embeddings",
        rule: Rule::Count { min: 1, max: checks::MAX_POSITIONS },
        required: true,
    },
    ConfigKey {
        key: "type_vocab_size",
        rule: Rule::Count { min: 1, max: checks::MAX_VOCAB },
        required: false,
    },
    ConfigKey { key: "pad_token_id", rule: Rule::Count { min: 0, max: checks::MAX_VOCAB }, required: false },
    ConfigKey { key: "layer_norm_eps", rule: Rule::Epsilon, required: false },
    ConfigKey { key: "hidden_dropout_prob", rule: Rule::Probability, required: false },
    ConfigKey { key: "attention_probs_dropout_prob", rule: Rule::Probability, required: false },
]);

impl Config {
    /// Reads config.json (`config`, read from `path`), checking every value the model uses: each
    /// key against [`KEYS`], then how they fit together (heads divide the width; RoBERTa's
    /// positions, which start after `pad_token_id`, leave room for a token).
    pub fn from_json(config: &serde_json::Value, path: &Path, variant: Variant) -> Result<Self> {
        KEYS.check(config, path)?;
        let cfg: Config = serde_json::from_value(config.clone()).map_err(|e| Error::Model {
            path: path.to_path_buf(),
            message: "config.json does not describe a BERT-layout model".into(),
            source: Some(e.into()),
        })?;
        if !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads) {
            return Err(checks::config_error(
                path,
                "num_attention_heads",
                format!(
                    "is {}, which does not divide hidden_size {}; every head takes an equal share of the width",
                    cfg.num_attention_heads, cfg.hidden_size
                ),
            ));
        }
        if cfg.position_embedding_type != "absolute" {
            return Err(checks::config_error(
                path,
                "position_embedding_type",
                format!("is {:?}; only \"absolute\" is supported", cfg.position_embedding_type),
            ));
        }
        if variant == Variant::Roberta {
            let offset = cfg.pad_token_id.unwrap_or(1) as usize + 1;
            if cfg.max_position_embeddings <= offset {
                return Err(checks::config_error(
                    path,
                    "max_position_embeddings",
                    format!(
                        "is {}, but RoBERTa positions start at pad_token_id + 1 = {offset}, leaving no room \
                         for a token",
                        cfg.max_position_embeddings
                    ),
                ));
            }
        }
        Ok(cfg)
    }
}

/// Whether positions count from 0 (BERT) or from `pad_token_id + 1` (RoBERTa, XLM-R).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Bert,
    Roberta,
}

impl Variant {
    /// The checkpoint's weight names (they differ in the MLM head only).
    fn names(self) -> &'static CheckpointNames {
        match self {
            Variant::Bert => CheckpointNames::BERT,
            Variant::Roberta => CheckpointNames::ROBERTA,
        }
    }
}

/// Token, position and token-type embeddings followed by layer norm.
/// <https://github.com/huggingface/transformers/blob/main/src/transformers/models/bert/modeling_bert.py> `BertEmbeddings`
#[derive(Debug, Clone)]
pub struct Embeddings {
    pub word_embeddings: Tensor,
    position_embeddings: Tensor,
    token_type_embeddings: Tensor,
    layer_norm: LayerNorm,
    position_offset: usize,
}

impl Embeddings {
    pub(crate) fn load(vb: VarBuilder, cfg: &Config, variant: Variant) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        let [word, position, token_type] = EMBEDDING_TABLES;
        let position_offset = match variant {
            Variant::Bert => 0,
            Variant::Roberta => cfg.pad_token_id.unwrap_or(1) as usize + 1,
        };
        Ok(Self {
            word_embeddings: vb.pp(word).get((cfg.vocab_size, h), "weight")?,
            position_embeddings: vb.pp(position).get((cfg.max_position_embeddings, h), "weight")?,
            token_type_embeddings: vb.pp(token_type).get((cfg.type_vocab_size, h), "weight")?,
            layer_norm: LayerNorm::load(vb.pp(EMBEDDING_NORM), h, cfg.layer_norm_eps)?,
            position_offset,
        })
    }

    pub(crate) fn visit_params(&mut self, f: ParamFn) {
        f("embeddings.word_embeddings".into(), &mut self.word_embeddings);
        f("embeddings.position_embeddings".into(), &mut self.position_embeddings);
        f("embeddings.token_type_embeddings".into(), &mut self.token_type_embeddings);
        self.layer_norm.visit_params("embeddings.norm", f);
    }

    /// Adds position and token-type (0) embeddings to `[batch, seq, hidden]` input embeddings.
    /// With right padding, the real tokens of every row sit at positions `offset + i`, as
    /// transformers computes them from the input ids.
    pub(crate) fn forward(&self, inputs_embeds: &Tensor) -> candle_core::Result<Tensor> {
        let (_, t, _) = inputs_embeds.dims3()?;
        let pos = self.position_embeddings.narrow(0, self.position_offset, t)?;
        let typ = self.token_type_embeddings.get(0)?;
        let emb = inputs_embeds.broadcast_add(&(pos.broadcast_add(&typ))?)?;
        self.layer_norm.forward(&emb)
    }
}

/// A BERT-layout masked language model: embeddings, encoder and (when the checkpoint has one) the
/// MLM head.
#[derive(Debug, Clone)]
pub struct BertMaskedLm {
    pub config: Config,
    pub embeddings: Embeddings,
    pub layers: Vec<PostNormBlock>,
    pub head: Option<LmHead>,
    pub variant: Variant,
    /// `bert.`, `roberta.` or empty (bare encoders), as in the checkpoint.
    pub prefix: String,
}

/// One post-LayerNorm block under `vb`, with the checkpoint's module names `names` (ALBERT's
/// shared layer too).
pub(crate) fn load_layer(
    vb: VarBuilder,
    cfg: &Config,
    names: &CheckpointNames,
) -> candle_core::Result<PostNormBlock> {
    let h = cfg.hidden_size;
    let [q, k, v] = names.qkv.map(|n| Linear::load(vb.pp(n), h, h));
    let out = Linear::load(vb.pp(names.attention_out), h, h)?;
    Ok(PostNormBlock {
        attention: SelfAttention::from_parts(q?, k?, v?, out, cfg.num_attention_heads)?,
        attention_norm: LayerNorm::load(vb.pp(names.attention_norm), h, cfg.layer_norm_eps)?,
        ffn_in: Linear::load(vb.pp(names.ffn_in), h, cfg.intermediate_size)?,
        ffn_out: Linear::load(vb.pp(names.ffn_out), cfg.intermediate_size, h)?,
        ffn_norm: LayerNorm::load(vb.pp(names.ffn_norm), h, cfg.layer_norm_eps)?,
        activation: cfg.hidden_act,
    })
}

impl BertMaskedLm {
    /// Loads from checkpoint tensors. `encoder_prefix` is `"bert."`, `"roberta."` or `""` (bare
    /// encoders). The MLM head is `cls.predictions.*` (BERT) or `lm_head.*` (RoBERTa); a decoder
    /// weight the checkpoint omits is tied to the word embeddings, and a missing decoder bias to
    /// the head's `bias`.
    pub fn load(
        tensors: &HashMap<String, Tensor>,
        cfg: &Config,
        variant: Variant,
        encoder_prefix: &str,
        device: &Device,
    ) -> candle_core::Result<Self> {
        // The weights' dtype (f32 normally; f64 for gradient checks).
        let dtype = tensors.values().next().map_or(DType::F32, |t| t.dtype());
        let vb = VarBuilder::from_tensors(tensors.clone(), dtype, device);
        let enc =
            if encoder_prefix.is_empty() { vb.clone() } else { vb.pp(encoder_prefix.trim_end_matches('.')) };
        let names = variant.names();
        let embeddings = Embeddings::load(enc.pp(EMBEDDINGS), cfg, variant)?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| load_layer(enc.pp(names.layers).pp(i), cfg, names))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let head = Self::load_head(&vb, tensors, cfg, variant, &embeddings.word_embeddings)?;
        Ok(Self {
            config: cfg.clone(),
            embeddings,
            layers,
            head,
            variant,
            prefix: encoder_prefix.to_string(),
        })
    }

    fn load_head(
        vb: &VarBuilder,
        tensors: &HashMap<String, Tensor>,
        cfg: &Config,
        variant: Variant,
        word_embeddings: &Tensor,
    ) -> candle_core::Result<Option<LmHead>> {
        let h = cfg.hidden_size;
        let names = variant.names();
        let (dense, norm, decoder, bias) =
            (names.head_dense, names.head_norm, names.head_decoder, names.head_bias);
        if !tensors.contains_key(&format!("{dense}.weight")) {
            return Ok(None);
        }
        let decoder_weight = if tensors.contains_key(&format!("{decoder}.weight")) {
            vb.get((cfg.vocab_size, h), &format!("{decoder}.weight"))?
        } else {
            word_embeddings.clone()
        };
        let decoder_bias = if tensors.contains_key(bias) {
            vb.get(cfg.vocab_size, bias)?
        } else {
            vb.get(cfg.vocab_size, &format!("{decoder}.bias"))?
        };
        Ok(Some(LmHead {
            transform: Some(HeadTransform {
                dense: Linear::load(vb.pp(dense), h, h)?,
                activation: cfg.hidden_act,
                norm: LayerNorm::load(vb.pp(norm), h, cfg.layer_norm_eps)?,
            }),
            input_scale: None,
            decoder_weight,
            decoder_bias: Some(decoder_bias),
            softcap: None,
            quantised: None,
        }))
    }

    /// Every parameter with its engine name (`embeddings.*`, `layers.{i}.*`, `head.*`).
    pub fn visit_params(&mut self, f: ParamFn) {
        self.embeddings.visit_params(f);
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.visit_params(&format!("layers.{i}"), f);
        }
        if let Some(head) = &mut self.head {
            head.visit_params("head", f);
        }
    }

    /// Word embeddings of `[batch, seq]` token ids: `[batch, seq, hidden]`.
    pub fn embed_tokens(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let flat = self.embeddings.word_embeddings.index_select(&ids.flatten_all()?, 0)?;
        flat.reshape((b, t, self.config.hidden_size))
    }

    /// Encoder output `[batch, seq, hidden]` from input embeddings and a 0/1 attention mask
    /// `[batch, seq]` (right padding).
    /// `drop`: dropout when training (after the embeddings and in every block), `None` otherwise.
    pub fn encode(
        &self,
        inputs_embeds: &Tensor,
        attention_mask: &Tensor,
        drop: Option<&Dropout>,
    ) -> candle_core::Result<Tensor> {
        let mask = AttentionMask::new(attention_mask, inputs_embeds.dtype())?;
        let mut xs = dropout(self.embeddings.forward(inputs_embeds)?, drop)?;
        for layer in &self.layers {
            xs = layer.forward(&xs, &mask, drop)?;
        }
        Ok(xs)
    }

    /// The largest sequence length the position embeddings allow.
    pub fn max_len(&self) -> usize {
        self.config.max_position_embeddings - self.embeddings.position_offset
    }
}

/// The registry's loader for BERT checkpoints ([`super::family`]).
pub fn load_bert(ctx: &LoadContext, read: ReadTensors) -> Result<Box<dyn Network>> {
    load_variant(ctx, read, Variant::Bert)
}

/// The registry's loader for RoBERTa and XLM-RoBERTa checkpoints.
pub fn load_roberta(ctx: &LoadContext, read: ReadTensors) -> Result<Box<dyn Network>> {
    load_variant(ctx, read, Variant::Roberta)
}

fn load_variant(ctx: &LoadContext, read: ReadTensors, variant: Variant) -> Result<Box<dyn Network>> {
    let cfg = Config::from_json(ctx.config, ctx.config_path, variant)?;
    let tensors = read()?;
    let prefixes: &[&str] = match variant {
        Variant::Bert => &["bert.", ""],
        Variant::Roberta => &["roberta.", "xlm-roberta.", ""],
    };
    let probe = "embeddings.word_embeddings.weight";
    let prefix = super::weights::detect_prefix(&tensors, prefixes, probe).ok_or_else(|| {
        model_err(ctx.weights_path, format!("no word embeddings found (looked for {prefixes:?} + {probe})"))
    })?;
    let model = BertMaskedLm::load(&tensors, &cfg, variant, &prefix, ctx.device).map_err(|e| {
        model_cause(ctx.weights_path, format!("the weights do not match config.json ({variant:?})"), e)
    })?;
    Ok(Box::new(model))
}

impl Network for BertMaskedLm {
    fn kind(&self) -> Kind {
        Kind::Encoder
    }

    fn dims(&self) -> Dims {
        let c = &self.config;
        Dims {
            hidden_size: c.hidden_size,
            layers: c.num_hidden_layers,
            heads: c.num_attention_heads,
            kv_heads: c.num_attention_heads,
            vocab_size: c.vocab_size,
            max_len: self.max_len(),
        }
    }

    fn word_embeddings(&self) -> &Tensor {
        &self.embeddings.word_embeddings
    }

    fn embed_tokens(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        BertMaskedLm::embed_tokens(self, ids)
    }

    fn forward(
        &self,
        inputs_embeds: &Tensor,
        attention_mask: &Tensor,
        drop: Option<&Dropout>,
    ) -> candle_core::Result<Tensor> {
        self.encode(inputs_embeds, attention_mask, drop)
    }

    fn forward_at(
        &self,
        inputs_embeds: &Tensor,
        attention_mask: &Tensor,
        drop: Option<&Dropout>,
        at: &[u32],
    ) -> candle_core::Result<Tensor> {
        let mask = AttentionMask::new(attention_mask, inputs_embeds.dtype())?;
        let xs = dropout(self.embeddings.forward(inputs_embeds)?, drop)?;
        super::layers::post_norm_stack_at(&self.layers, xs, &mask, drop, at)
    }

    fn head(&self) -> Option<&LmHead> {
        self.head.as_ref()
    }

    fn visit_params(&mut self, f: ParamFn) {
        BertMaskedLm::visit_params(self, f)
    }

    fn checkpoint_tensors(&self) -> candle_core::Result<HashMap<String, Tensor>> {
        let mut copy = self.clone();
        let named = super::weights::unique_params(|f| copy.visit_params(f));
        let head_dim = self.config.hidden_size / self.config.num_attention_heads;
        super::weights::encoder_checkpoint_tensors(named, self.variant.names(), &self.prefix, head_dim)
    }

    fn box_clone(&self) -> Box<dyn Network> {
        Box::new(self.clone())
    }
}
