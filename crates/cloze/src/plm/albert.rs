//! ALBERT (Lan et al., 2020, "ALBERT: A Lite BERT for Self-supervised Learning of Language
//! Representations", <https://arxiv.org/abs/1909.11942>): BERT's post-LayerNorm blocks with two
//! parameter reductions — factorised embeddings (a narrow `embedding_size` table projected to the
//! hidden width by `embedding_hidden_mapping_in`) and layers that share their parameters
//! (`num_hidden_layers` layers run `num_hidden_groups` distinct layers in turn) — and an MLM head
//! that predicts in embedding space with the word-embedding matrix as its (tied) decoder.
//!
//! Reference: <https://github.com/huggingface/transformers/blob/main/src/transformers/models/albert/modeling_albert.py>
//!
//! The engine supports one layer per group (`inner_group_num` 1, every released ALBERT) and any
//! number of groups that divides the layers; a shared layer is one set of weights, visited once
//! by [`Network::visit_params`], so training keeps it one variable as the paper intends.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;

use super::bert::{self, Embeddings, Variant};
use super::checks::{self, ConfigKey, ConfigKeys, Rule};
use super::family::{LoadContext, ReadTensors};
use super::layers::{
    Activation, AttentionMask, Dropout, HeadTransform, LayerNorm, Linear, LmHead, ParamFn, PostNormBlock,
    dropout,
};
use super::network::{Dims, Kind, Network};
use super::weights::{CheckpointNames, EMBEDDINGS};
use super::{model_cause, model_err};
use crate::error::{Error, Result};

/// config.json of an ALBERT model: BERT's keys plus the embedding width and the sharing.
#[derive(Debug, Clone)]
pub struct Config {
    /// The keys ALBERT shares with BERT (`hidden_size`, `num_hidden_layers`, …).
    pub bert: bert::Config,
    pub embedding_size: usize,
    pub num_hidden_groups: usize,
    /// Whether the MLM decoder is the word-embedding matrix (`tie_word_embeddings`, default true).
    pub tie_word_embeddings: bool,
}

/// The rule each ALBERT-only config.json number meets (BERT's keys are checked by
/// [`bert::KEYS`] first).
pub const KEYS: ConfigKeys = ConfigKeys(&[
    ConfigKey {
        key: "embedding_size",
        rule: Rule::Count { min: 1, max: checks::MAX_WIDTH },
        required: false,
    },
    ConfigKey {
        key: "num_hidden_groups",
        rule: Rule::Count { min: 1, max: checks::MAX_LAYERS },
        required: false,
    },
    ConfigKey {
        key: "inner_group_num",
        rule: Rule::Count { min: 1, max: checks::MAX_LAYERS },
        required: false,
    },
    ConfigKey { key: "classifier_dropout_prob", rule: Rule::Probability, required: false },
]);

impl Config {
    /// Reads and checks config.json (`path` for messages).
    pub fn from_json(c: &serde_json::Value, path: &Path) -> Result<Self> {
        bert::KEYS.check(c, path)?;
        KEYS.check(c, path)?;
        let mut bert: bert::Config = serde_json::from_value(c.clone()).map_err(|e| Error::Model {
            path: path.to_path_buf(),
            message: "config.json does not describe an ALBERT model".into(),
            source: Some(e.into()),
        })?;
        if c["hidden_act"].is_null() {
            // AlbertConfig's default, unlike BERT's "gelu".
            bert.hidden_act = Activation::GeluTanh;
        }
        let (h, heads, layers) = (bert.hidden_size, bert.num_attention_heads, bert.num_hidden_layers);
        if !h.is_multiple_of(heads) {
            return Err(checks::config_error(
                path,
                "num_attention_heads",
                format!("is {heads}, which does not divide hidden_size {h}"),
            ));
        }
        if bert.position_embedding_type != "absolute" {
            return Err(checks::config_error(
                path,
                "position_embedding_type",
                format!("is {:?}; only \"absolute\" is supported", bert.position_embedding_type),
            ));
        }
        let n = |k: &str, default: usize| c[k].as_u64().map_or(default, |v| v as usize);
        let inner = n("inner_group_num", 1);
        if inner != 1 {
            return Err(checks::config_error(
                path,
                "inner_group_num",
                format!(
                    "is {inner}; the engine runs ALBERT with one layer per group (every released \
                     checkpoint has 1)"
                ),
            ));
        }
        let groups = n("num_hidden_groups", 1);
        if !layers.is_multiple_of(groups) {
            return Err(checks::config_error(
                path,
                "num_hidden_groups",
                format!("is {groups}, which does not divide num_hidden_layers {layers}"),
            ));
        }
        Ok(Self {
            bert,
            embedding_size: n("embedding_size", 128),
            num_hidden_groups: groups,
            tie_word_embeddings: c["tie_word_embeddings"].as_bool().unwrap_or(true),
        })
    }

    /// The group whose shared layer runs as layer `i` (`AlbertTransformer.forward`).
    pub fn group_of(&self, i: usize) -> usize {
        i / (self.bert.num_hidden_layers / self.num_hidden_groups)
    }
}

/// AlbertForMaskedLM: `albert.embeddings.*` (width `embedding_size`),
/// `albert.encoder.embedding_hidden_mapping_in`, one shared layer per group under
/// `albert.encoder.albert_layer_groups.{g}.albert_layers.0`, and `predictions.*`.
#[derive(Debug, Clone)]
pub struct AlbertMaskedLm {
    pub config: Config,
    /// <https://github.com/huggingface/transformers/blob/main/src/transformers/models/albert/modeling_albert.py> `AlbertEmbeddings` (BERT's, narrower)
    pub embeddings: Embeddings,
    /// `AlbertTransformer.embedding_hidden_mapping_in`: `embedding_size` → `hidden_size`.
    pub projection: Linear,
    /// `AlbertLayer` of each group (`AlbertAttention` + `ffn`, `ffn_output`,
    /// `full_layer_layer_norm`: BERT's post-LayerNorm block).
    pub groups: Vec<PostNormBlock>,
    /// `AlbertMLMHead`: dense to `embedding_size`, activation, LayerNorm, decoder.
    pub head: Option<LmHead>,
    /// `albert.` or empty, as in the checkpoint.
    pub prefix: String,
}

fn names() -> &'static CheckpointNames {
    CheckpointNames::ALBERT
}

impl AlbertMaskedLm {
    pub fn load(
        tensors: &HashMap<String, Tensor>,
        cfg: &Config,
        prefix: &str,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let dtype = tensors.values().next().map_or(DType::F32, |t| t.dtype());
        let vb = VarBuilder::from_tensors(tensors.clone(), dtype, device);
        let enc = if prefix.is_empty() { vb.clone() } else { vb.pp(prefix.trim_end_matches('.')) };
        let (e, h, eps) = (cfg.embedding_size, cfg.bert.hidden_size, cfg.bert.layer_norm_eps);
        let narrow = bert::Config { hidden_size: e, ..cfg.bert.clone() };
        let embeddings = Embeddings::load(enc.pp(EMBEDDINGS), &narrow, Variant::Bert)?;
        let projection =
            Linear::load(enc.pp(names().embedding_projection.expect("ALBERT's names have it")), e, h)?;
        let groups = (0..cfg.num_hidden_groups)
            .map(|g| bert::load_layer(enc.pp(names().layers).pp(g), &cfg.bert, names()))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let head = if tensors.contains_key(&format!("{}.weight", names().head_dense)) {
            let decoder = format!("{}.weight", names().head_decoder);
            let decoder_weight = if cfg.tie_word_embeddings || !tensors.contains_key(&decoder) {
                embeddings.word_embeddings.clone()
            } else {
                vb.get((cfg.bert.vocab_size, e), &decoder)?
            };
            let bias = match tensors.contains_key(names().head_bias) {
                true => names().head_bias.to_string(),
                false => format!("{}.bias", names().head_decoder),
            };
            Some(LmHead {
                transform: Some(HeadTransform {
                    dense: Linear::load(vb.pp(names().head_dense), h, e)?,
                    activation: cfg.bert.hidden_act,
                    norm: LayerNorm::load(vb.pp(names().head_norm), e, eps)?,
                }),
                input_scale: None,
                decoder_weight,
                decoder_bias: Some(vb.get(cfg.bert.vocab_size, &bias)?),
                softcap: None,
                quantised: None,
            })
        } else {
            None
        };
        Ok(Self { config: cfg.clone(), embeddings, projection, groups, head, prefix: prefix.to_string() })
    }
}

/// The registry's loader for ALBERT checkpoints ([`super::family`]).
pub fn load(ctx: &LoadContext, read: ReadTensors) -> Result<Box<dyn Network>> {
    let cfg = Config::from_json(ctx.config, ctx.config_path)?;
    let tensors = read()?;
    let probe = "embeddings.word_embeddings.weight";
    let prefix = super::weights::detect_prefix(&tensors, &["albert.", ""], probe).ok_or_else(|| {
        model_err(ctx.weights_path, format!("no albert.{probe} found: not an ALBERT checkpoint"))
    })?;
    let model = AlbertMaskedLm::load(&tensors, &cfg, &prefix, ctx.device)
        .map_err(|e| model_cause(ctx.weights_path, "the weights do not match config.json (ALBERT)", e))?;
    Ok(Box::new(model))
}

impl Network for AlbertMaskedLm {
    fn kind(&self) -> Kind {
        Kind::Encoder
    }

    fn dims(&self) -> Dims {
        let c = &self.config.bert;
        let heads = c.num_attention_heads;
        Dims::of(c.hidden_size, c.num_hidden_layers, heads, heads, c.vocab_size, c.max_position_embeddings)
    }

    /// `[vocab, embedding_size]`: soft prompts live in embedding space, before the projection.
    fn word_embeddings(&self) -> &Tensor {
        &self.embeddings.word_embeddings
    }

    fn embed_tokens(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        super::layers::embedding(&self.embeddings.word_embeddings, ids)
    }

    /// `AlbertModel.forward`: embeddings, the projection, then layer `i` runs its group's layer.
    fn forward(
        &self,
        inputs_embeds: &Tensor,
        attention_mask: &Tensor,
        drop: Option<&Dropout>,
    ) -> candle_core::Result<Tensor> {
        let mask = AttentionMask::new(attention_mask, inputs_embeds.dtype())?;
        let emb = dropout(self.embeddings.forward(inputs_embeds)?, drop)?;
        let mut xs = self.projection.forward(&emb)?;
        for i in 0..self.config.bert.num_hidden_layers {
            xs = self.groups[self.config.group_of(i)].forward(&xs, &mask, drop)?;
        }
        Ok(xs)
    }

    fn head(&self) -> Option<&LmHead> {
        self.head.as_ref()
    }

    /// Engine names as BERT's (`embeddings.*`, `layers.{g}.*` once per group, `head.*`) plus
    /// `embeddings.projection`.
    fn visit_params(&mut self, f: ParamFn) {
        self.embeddings.visit_params(f);
        self.projection.visit_params("embeddings.projection", f);
        for (g, layer) in self.groups.iter_mut().enumerate() {
            layer.visit_params(&format!("layers.{g}"), f);
        }
        if let Some(head) = &mut self.head {
            head.visit_params("head", f);
        }
    }

    fn checkpoint_tensors(&self) -> candle_core::Result<HashMap<String, Tensor>> {
        let mut copy = self.clone();
        let named = super::weights::unique_params(|f| copy.visit_params(f));
        let c = &self.config.bert;
        super::weights::encoder_checkpoint_tensors(
            named,
            names(),
            &self.prefix,
            c.hidden_size / c.num_attention_heads,
        )
    }

    fn box_clone(&self) -> Box<dyn Network> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two layers sharing one group: the shared layer's weights are one variable each when
    /// training, the decoder is the word-embedding variable, and the projection is trainable.
    #[test]
    fn the_shared_layer_is_one_set_of_variables() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/parity/albert");
        let mut plm = super::super::Plm::load(&dir, &Device::Cpu).unwrap();
        let names: Vec<String> = plm.trainable().unwrap().into_iter().map(|(n, _)| n).collect();
        let layers: Vec<&String> = names.iter().filter(|n| n.starts_with("layers.")).collect();
        assert!(layers.iter().all(|n| n.starts_with("layers.0.")), "{layers:?}");
        assert_eq!(layers.len(), 12, "qkv, out, attention norm, ffn in/out, ffn norm: weight and bias");
        assert!(names.contains(&"embeddings.projection.weight".to_string()), "{names:?}");
        assert!(!names.contains(&"head.decoder.weight".to_string()), "tied to the word embeddings");
        let net = plm.network();
        assert_eq!(net.head().unwrap().decoder_weight.id(), net.word_embeddings().id());
    }

    #[test]
    fn configs_are_checked_before_use() {
        let base = r#""vocab_size":30,"hidden_size":8,"num_attention_heads":2,"intermediate_size":16,"max_position_embeddings":32"#;
        let cases = [
            (format!(r#"{{{base},"num_hidden_layers":4,"num_hidden_groups":2}}"#), None),
            (
                format!(r#"{{{base},"num_hidden_layers":4,"num_hidden_groups":3}}"#),
                Some("`num_hidden_groups` is 3, which does not divide num_hidden_layers 4"),
            ),
            (
                format!(r#"{{{base},"num_hidden_layers":2,"inner_group_num":2}}"#),
                Some("`inner_group_num` is 2; the engine runs ALBERT with one layer per group"),
            ),
            (
                format!(r#"{{{base},"num_hidden_layers":2,"embedding_size":0}}"#),
                Some("`embedding_size` is 0; it must be a whole number from 1 to 65536"),
            ),
            (
                format!(r#"{{{base},"num_hidden_layers":2,"num_hidden_groups":-1}}"#),
                Some("`num_hidden_groups` is -1; it must be a whole number from 1 to 1024"),
            ),
            (format!(r#"{{{base},"num_hidden_layers":0}}"#), Some("`num_hidden_layers` is 0")),
            (
                format!(r#"{{{base},"num_hidden_layers":2,"hidden_act":"swiglu"}}"#),
                Some("does not describe an ALBERT model"),
            ),
            (
                format!(r#"{{{base},"num_hidden_layers":2,"layer_norm_eps":2.0}}"#),
                Some("`layer_norm_eps` is 2.0; it must be a number above 0 and below 1"),
            ),
        ];
        checks::assert_config_cases(&cases, Config::from_json, |_, c| {
            assert_eq!(c.bert.hidden_act, Activation::GeluTanh, "ALBERT's default activation");
            assert_eq!((c.group_of(0), c.group_of(1), c.group_of(2), c.group_of(3)), (0, 0, 1, 1));
        });
    }
}
