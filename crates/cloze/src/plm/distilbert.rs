//! DistilBERT (Sanh et al., 2019, <https://arxiv.org/abs/1910.01108>): BERT's post-LayerNorm blocks
//! with half the layers, no token-type embeddings, and its own weight names.
//!
//! Reference: <https://github.com/huggingface/transformers/blob/main/src/transformers/models/distilbert/modeling_distilbert.py>

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

/// DistilBERT's layer norms use a fixed epsilon (`nn.LayerNorm(dim, eps=1e-12)`).
const LAYER_NORM_EPS: f64 = 1e-12;

fn default_act() -> Activation {
    Activation::Gelu
}

/// config.json of a DistilBERT model.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Config {
    pub vocab_size: usize,
    pub dim: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub hidden_dim: usize,
    #[serde(default = "default_act")]
    pub activation: Activation,
    pub max_position_embeddings: usize,
    #[serde(default)]
    pub pad_token_id: Option<u32>,
}

/// The rule each config.json number of a DistilBERT model meets, checked by key before the
/// config is read (see [`checks::ConfigKeys`]).
pub const KEYS: ConfigKeys = ConfigKeys(&[
    ConfigKey { key: "vocab_size", rule: Rule::Count { min: 1, max: checks::MAX_VOCAB }, required: true },
    ConfigKey { key: "dim", rule: Rule::Count { min: 1, max: checks::MAX_WIDTH }, required: true },
    ConfigKey { key: "n_layers", rule: Rule::Count { min: 1, max: checks::MAX_LAYERS }, required: true },
    ConfigKey { key: "n_heads", rule: Rule::Count { min: 1, max: checks::MAX_WIDTH }, required: true },
    ConfigKey { key: "hidden_dim", rule: Rule::Count { min: 1, max: 4 * checks::MAX_WIDTH }, required: true },
    ConfigKey {
        key: "max_position_embeddings",
        rule: Rule::Count { min: 1, max: checks::MAX_POSITIONS },
        required: true,
    },
    ConfigKey { key: "pad_token_id", rule: Rule::Count { min: 0, max: checks::MAX_VOCAB }, required: false },
    ConfigKey { key: "dropout", rule: Rule::Probability, required: false },
    ConfigKey { key: "attention_dropout", rule: Rule::Probability, required: false },
]);

impl Config {
    /// Reads config.json (`config`, read from `path`), checking every value the model uses: each
    /// key against [`KEYS`], then that the heads divide the width.
    pub fn from_json(config: &serde_json::Value, path: &Path) -> Result<Self> {
        KEYS.check(config, path)?;
        let cfg: Config = serde_json::from_value(config.clone()).map_err(|e| Error::Model {
            path: path.to_path_buf(),
            message: "config.json does not describe a DistilBERT model".into(),
            source: Some(e.into()),
        })?;
        if !cfg.dim.is_multiple_of(cfg.n_heads) {
            return Err(checks::config_error(
                path,
                "n_heads",
                format!(
                    "is {}, which does not divide dim {}; every head takes an equal share of the width",
                    cfg.n_heads, cfg.dim
                ),
            ));
        }
        Ok(cfg)
    }
}

/// <https://github.com/huggingface/transformers/blob/main/src/transformers/models/distilbert/modeling_distilbert.py> `Embeddings`
#[derive(Debug, Clone)]
pub struct Embeddings {
    pub word_embeddings: Tensor,
    position_embeddings: Tensor,
    layer_norm: LayerNorm,
}

/// DistilBertForMaskedLM: `distilbert.*`, then `vocab_transform`, `vocab_layer_norm`,
/// `vocab_projector` (tied to the word embeddings when the checkpoint omits its weight).
#[derive(Debug, Clone)]
pub struct DistilBertMaskedLm {
    pub config: Config,
    pub embeddings: Embeddings,
    pub layers: Vec<PostNormBlock>,
    pub head: Option<LmHead>,
    /// `distilbert.` or empty, as in the checkpoint.
    pub prefix: String,
}

/// <https://github.com/huggingface/transformers/blob/main/src/transformers/models/distilbert/modeling_distilbert.py> `TransformerBlock`
fn load_layer(vb: VarBuilder, cfg: &Config) -> candle_core::Result<PostNormBlock> {
    let d = cfg.dim;
    let names = names();
    let [q, k, v] = names.qkv.map(|n| Linear::load(vb.pp(n), d, d));
    let out = Linear::load(vb.pp(names.attention_out), d, d)?;
    Ok(PostNormBlock {
        attention: SelfAttention::from_parts(q?, k?, v?, out, cfg.n_heads)?,
        attention_norm: LayerNorm::load(vb.pp(names.attention_norm), d, LAYER_NORM_EPS)?,
        ffn_in: Linear::load(vb.pp(names.ffn_in), d, cfg.hidden_dim)?,
        ffn_out: Linear::load(vb.pp(names.ffn_out), cfg.hidden_dim, d)?,
        ffn_norm: LayerNorm::load(vb.pp(names.ffn_norm), d, LAYER_NORM_EPS)?,
        activation: cfg.activation,
    })
}

/// DistilBERT's checkpoint weight names.
fn names() -> &'static CheckpointNames {
    CheckpointNames::DISTILBERT
}

impl DistilBertMaskedLm {
    /// Loads from checkpoint tensors; `encoder_prefix` is `"distilbert."` or `""`.
    pub fn load(
        tensors: &HashMap<String, Tensor>,
        cfg: &Config,
        encoder_prefix: &str,
        device: &Device,
    ) -> candle_core::Result<Self> {
        // The weights' dtype (f32 normally; f64 for gradient checks).
        let dtype = tensors.values().next().map_or(DType::F32, |t| t.dtype());
        let vb = VarBuilder::from_tensors(tensors.clone(), dtype, device);
        let enc =
            if encoder_prefix.is_empty() { vb.clone() } else { vb.pp(encoder_prefix.trim_end_matches('.')) };
        let d = cfg.dim;
        let names = names();
        let emb = enc.pp(EMBEDDINGS);
        let [word, position, _] = EMBEDDING_TABLES;
        let embeddings = Embeddings {
            word_embeddings: emb.pp(word).get((cfg.vocab_size, d), "weight")?,
            position_embeddings: emb.pp(position).get((cfg.max_position_embeddings, d), "weight")?,
            layer_norm: LayerNorm::load(emb.pp(EMBEDDING_NORM), d, LAYER_NORM_EPS)?,
        };
        let layers = (0..cfg.n_layers)
            .map(|i| load_layer(enc.pp(names.layers).pp(i), cfg))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let head = if tensors.contains_key(&format!("{}.weight", names.head_dense)) {
            let decoder = format!("{}.weight", names.head_decoder);
            let decoder_weight = if tensors.contains_key(&decoder) {
                vb.get((cfg.vocab_size, d), &decoder)?
            } else {
                embeddings.word_embeddings.clone()
            };
            Some(LmHead {
                transform: Some(HeadTransform {
                    dense: Linear::load(vb.pp(names.head_dense), d, d)?,
                    activation: cfg.activation,
                    norm: LayerNorm::load(vb.pp(names.head_norm), d, LAYER_NORM_EPS)?,
                }),
                input_scale: None,
                decoder_weight,
                decoder_bias: Some(vb.get(cfg.vocab_size, names.head_bias)?),
                softcap: None,
                quantised: None,
            })
        } else {
            None
        };
        Ok(Self { config: cfg.clone(), embeddings, layers, head, prefix: encoder_prefix.to_string() })
    }

    /// Every parameter with its engine name (`embeddings.*`, `layers.{i}.*`, `head.*`).
    pub fn visit_params(&mut self, f: ParamFn) {
        f("embeddings.word_embeddings".into(), &mut self.embeddings.word_embeddings);
        f("embeddings.position_embeddings".into(), &mut self.embeddings.position_embeddings);
        self.embeddings.layer_norm.visit_params("embeddings.norm", f);
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.visit_params(&format!("layers.{i}"), f);
        }
        if let Some(head) = &mut self.head {
            head.visit_params("head", f);
        }
    }

    /// Word embeddings of `[batch, seq]` token ids.
    pub fn embed_tokens(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let flat = self.embeddings.word_embeddings.index_select(&ids.flatten_all()?, 0)?;
        flat.reshape((b, t, self.config.dim))
    }

    /// Encoder output from input embeddings and a 0/1 attention mask (right padding).
    /// `drop`: dropout when training (after the embeddings and in every block), `None` otherwise.
    pub fn encode(
        &self,
        inputs_embeds: &Tensor,
        attention_mask: &Tensor,
        drop: Option<&Dropout>,
    ) -> candle_core::Result<Tensor> {
        let mask = AttentionMask::new(attention_mask, inputs_embeds.dtype())?;
        let mut xs = self.embed(inputs_embeds, drop)?;
        for layer in &self.layers {
            xs = layer.forward(&xs, &mask, drop)?;
        }
        Ok(xs)
    }

    /// Position embeddings added, layer norm, dropout.
    fn embed(&self, inputs_embeds: &Tensor, drop: Option<&Dropout>) -> candle_core::Result<Tensor> {
        let (_, t, _) = inputs_embeds.dims3()?;
        let pos = self.embeddings.position_embeddings.narrow(0, 0, t)?;
        dropout(self.embeddings.layer_norm.forward(&inputs_embeds.broadcast_add(&pos)?)?, drop)
    }

    /// The largest sequence length the position embeddings allow.
    pub fn max_len(&self) -> usize {
        self.config.max_position_embeddings
    }
}

/// The registry's loader for DistilBERT checkpoints ([`super::family`]).
pub fn load(ctx: &LoadContext, read: ReadTensors) -> Result<Box<dyn Network>> {
    let cfg = Config::from_json(ctx.config, ctx.config_path)?;
    let tensors = read()?;
    let prefix =
        super::weights::detect_prefix(&tensors, &["distilbert.", ""], "embeddings.word_embeddings.weight")
            .ok_or_else(|| {
                model_err(ctx.weights_path, "no distilbert.embeddings.word_embeddings.weight found")
            })?;
    let model = DistilBertMaskedLm::load(&tensors, &cfg, &prefix, ctx.device)
        .map_err(|e| model_cause(ctx.weights_path, "the weights do not match config.json (DistilBert)", e))?;
    Ok(Box::new(model))
}

impl Network for DistilBertMaskedLm {
    fn kind(&self) -> Kind {
        Kind::Encoder
    }

    fn dims(&self) -> Dims {
        let c = &self.config;
        Dims {
            hidden_size: c.dim,
            layers: c.n_layers,
            heads: c.n_heads,
            kv_heads: c.n_heads,
            vocab_size: c.vocab_size,
            max_len: self.max_len(),
        }
    }

    fn word_embeddings(&self) -> &Tensor {
        &self.embeddings.word_embeddings
    }

    fn embed_tokens(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        DistilBertMaskedLm::embed_tokens(self, ids)
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
        let xs = self.embed(inputs_embeds, drop)?;
        super::layers::post_norm_stack_at(&self.layers, xs, &mask, drop, at)
    }

    fn head(&self) -> Option<&LmHead> {
        self.head.as_ref()
    }

    fn visit_params(&mut self, f: ParamFn) {
        DistilBertMaskedLm::visit_params(self, f)
    }

    fn checkpoint_tensors(&self) -> candle_core::Result<HashMap<String, Tensor>> {
        let mut copy = self.clone();
        let named = super::weights::unique_params(|f| copy.visit_params(f));
        super::weights::encoder_checkpoint_tensors(
            named,
            names(),
            &self.prefix,
            self.config.dim / self.config.n_heads,
        )
    }

    fn box_clone(&self) -> Box<dyn Network> {
        Box::new(self.clone())
    }
}
