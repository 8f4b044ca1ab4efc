//! Gemma 3's text model (Gemma Team, 2025, "Gemma 3 Technical Report",
//! <https://arxiv.org/abs/2503.19786>): a decoder with embeddings scaled by √hidden, RMSNorms that
//! multiply by `1 + w`, RMSNorm on every query and key head, grouped key/value heads, attention
//! scaled by `query_pre_attn_scalar^-½`, local (sliding-window) and global layers interleaved as
//! `layer_types` says — each kind with its own rotary base —, norms before and after both the
//! attention and the feed-forward, a GeGLU feed-forward (`gelu_pytorch_tanh`), a head tied to the
//! embeddings and optional final logit soft-capping.
//!
//! References:
//! - <https://github.com/huggingface/transformers/blob/main/src/transformers/models/gemma3/modeling_gemma3.py>
//!   (`Gemma3TextScaledWordEmbedding`, `Gemma3RMSNorm`, `Gemma3RotaryEmbedding`, `Gemma3Attention`,
//!   `Gemma3MLP`, `Gemma3DecoderLayer`, `Gemma3TextModel`, `Gemma3ForCausalLM`)
//! - <https://github.com/huggingface/transformers/blob/main/src/transformers/models/gemma3/configuration_gemma3.py>
//!   (`Gemma3TextConfig`: the defaults below, `layer_types` from `sliding_window_pattern`, the legacy
//!   `rope_theta` / `rope_local_base_freq` / `rope_scaling` keys)
//!
//! The √hidden scaling happens in [`Network::forward`], not in [`Network::embed_tokens`]:
//! transformers scales inside the embedding module, so `inputs_embeds` given to it are used as they
//! are, and PEFT's prompt tuning starts its vectors from the (scaled) embedding module's output.
//! Here soft vectors start from the unscaled rows of [`Network::word_embeddings`] and are scaled
//! with the words, which is the same function at every step (a trained vector is PEFT's divided by
//! √hidden).
//!
//! Weight names are the checkpoint's (`model.layers.{i}.self_attn.q_norm.weight`, …). Multimodal
//! checkpoints (`Gemma3ForConditionalGeneration`: a vision tower beside `language_model`) are
//! refused with what to use instead; a `gemma3` config whose weights are the text model's is read
//! through its `text_config`.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};

use super::checks::{self, ConfigKey, ConfigKeys, Rule};
use super::decoder::{Attention, CausalMask, KvCache, RmsNorm, Rope, RopeScaling};
use super::family::{LoadContext, ReadTensors};
use super::layers::{Activation, Dropout, Linear, LmHead, ParamFn};
use super::network::{Dims, Kind, Network};
use super::weights::shaped as get;
use super::{model_cause, model_err};
use crate::error::Result;

/// Whether a layer attends to every earlier token or to the latest `sliding_window` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerType {
    Full,
    Sliding,
}

/// Rotary settings of one layer type (`rope_parameters[layer_type]`).
#[derive(Debug, Clone, PartialEq)]
pub struct RopeSpec {
    pub theta: f64,
    pub scaling: RopeScaling,
}

/// The text config of a Gemma 3 model, as read (missing keys take `Gemma3TextConfig`'s defaults).
#[derive(Debug, Clone)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub query_pre_attn_scalar: f64,
    pub sliding_window: usize,
    pub layer_types: Vec<LayerType>,
    pub rope_full: RopeSpec,
    pub rope_sliding: RopeSpec,
    pub max_position_embeddings: usize,
    pub tie_word_embeddings: bool,
    pub hidden_activation: Activation,
    pub final_logit_softcapping: Option<f64>,
}

/// The rule each number of a Gemma 3 text config meets.
pub const KEYS: ConfigKeys = ConfigKeys(&[
    ConfigKey { key: "vocab_size", rule: Rule::Count { min: 1, max: checks::MAX_VOCAB }, required: false },
    ConfigKey { key: "hidden_size", rule: Rule::Count { min: 1, max: checks::MAX_WIDTH }, required: false },
    ConfigKey {
        key: "intermediate_size",
        rule: Rule::Count { min: 1, max: 8 * checks::MAX_WIDTH },
        required: false,
    },
    ConfigKey {
        key: "num_hidden_layers",
        rule: Rule::Count { min: 1, max: checks::MAX_LAYERS },
        required: false,
    },
    ConfigKey {
        key: "num_attention_heads",
        rule: Rule::Count { min: 1, max: checks::MAX_WIDTH },
        required: false,
    },
    ConfigKey {
        key: "num_key_value_heads",
        rule: Rule::Count { min: 1, max: checks::MAX_WIDTH },
        required: false,
    },
    ConfigKey { key: "head_dim", rule: Rule::Count { min: 2, max: checks::MAX_WIDTH }, required: false },
    ConfigKey {
        key: "max_position_embeddings",
        rule: Rule::Count { min: 1, max: checks::MAX_POSITIONS },
        required: false,
    },
    ConfigKey {
        key: "sliding_window",
        rule: Rule::Count { min: 1, max: checks::MAX_POSITIONS },
        required: false,
    },
    ConfigKey {
        key: "sliding_window_pattern",
        rule: Rule::Count { min: 1, max: checks::MAX_LAYERS },
        required: false,
    },
    ConfigKey { key: "rms_norm_eps", rule: Rule::Epsilon, required: false },
    ConfigKey { key: "attention_dropout", rule: Rule::Probability, required: false },
]);

/// The longest input the engine gives Gemma 3 (it bounds the rotary tables; configs say 131072).
const MAX_LEN: usize = 8192;

/// A positive, finite number no larger than `max`, or an error naming `key`.
fn positive(c: &serde_json::Value, key: &str, max: f64, path: &Path) -> Result<Option<f64>> {
    match &c[key] {
        serde_json::Value::Null => Ok(None),
        v => match v.as_f64() {
            Some(x) if x.is_finite() && x > 0.0 && x <= max => Ok(Some(x)),
            _ => Err(checks::config_error(
                path,
                key,
                format!("is {v}; it must be a number above 0, at most {max}"),
            )),
        },
    }
}

impl Config {
    /// Reads and checks config.json: a `gemma3_text` config, or the `text_config` of a `gemma3`
    /// one (`path` for messages).
    pub fn from_json(config: &serde_json::Value, path: &Path) -> Result<Self> {
        let c = match &config["text_config"] {
            t @ serde_json::Value::Object(_) => t,
            _ => config,
        };
        KEYS.check(c, path)?;
        let n = |k: &str, default: usize| c[k].as_u64().map_or(default, |v| v as usize);
        let (heads, layers, hidden) =
            (n("num_attention_heads", 8), n("num_hidden_layers", 26), n("hidden_size", 2304));
        let kv = n("num_key_value_heads", 4);
        if !heads.is_multiple_of(kv) {
            return Err(checks::config_error(
                path,
                "num_key_value_heads",
                format!("is {kv}, which does not divide num_attention_heads {heads}"),
            ));
        }
        let head_dim = n("head_dim", 256);
        if !head_dim.is_multiple_of(2) {
            return Err(checks::config_error(
                path,
                "head_dim",
                format!("is {head_dim}; rotary embeddings need it even"),
            ));
        }
        if c["use_bidirectional_attention"].as_bool() == Some(true) {
            return Err(checks::config_error(
                path,
                "use_bidirectional_attention",
                "is true (an embedding model such as EmbeddingGemma); the engine runs Gemma 3 as a causal LM",
            ));
        }
        if !c["attn_logit_softcapping"].is_null() {
            return Err(checks::config_error(
                path,
                "attn_logit_softcapping",
                format!(
                    "is {}; Gemma 3 has none (null) and the engine does not cap attention logits",
                    c["attn_logit_softcapping"]
                ),
            ));
        }
        let layer_types = match &c["layer_types"] {
            serde_json::Value::Null => {
                let pattern = n("sliding_window_pattern", 6);
                (0..layers)
                    .map(|i| if (i + 1) % pattern == 0 { LayerType::Full } else { LayerType::Sliding })
                    .collect()
            }
            serde_json::Value::Array(a) if a.len() == layers => a
                .iter()
                .map(|t| match t.as_str() {
                    Some("full_attention") => Ok(LayerType::Full),
                    Some("sliding_attention") => Ok(LayerType::Sliding),
                    _ => Err(checks::config_error(
                        path,
                        "layer_types",
                        format!("has {t}; each entry is \"full_attention\" or \"sliding_attention\""),
                    )),
                })
                .collect::<Result<Vec<_>>>()?,
            v => {
                return Err(checks::config_error(
                    path,
                    "layer_types",
                    format!(
                        "is {v}; it must list one of \"full_attention\" / \"sliding_attention\" per layer \
                         ({layers} layers)"
                    ),
                ));
            }
        };
        let rope = |kind: &str, legacy_theta: &str, default_theta: f64| -> Result<RopeSpec> {
            let p = &c["rope_parameters"][kind];
            let (theta, scaling) = if p.is_object() {
                let theta = p["rope_theta"].as_f64().unwrap_or(default_theta);
                (theta, super::llama::rope_scaling(p, path)?)
            } else {
                let theta = c[legacy_theta].as_f64().unwrap_or(default_theta);
                let scaling = match kind {
                    "full_attention" => super::llama::rope_scaling(&c["rope_scaling"], path)?,
                    _ => RopeScaling::None,
                };
                (theta, scaling)
            };
            if !(theta.is_finite() && theta > 1.0) {
                return Err(checks::config_error(
                    path,
                    "rope_parameters",
                    format!("gives {kind} a rope_theta of {theta}; it must be above 1"),
                ));
            }
            Ok(RopeSpec { theta, scaling })
        };
        let hidden_activation = match c["hidden_activation"].as_str().or(c["hidden_act"].as_str()) {
            None | Some("gelu_pytorch_tanh" | "gelu_new") => Activation::GeluTanh,
            Some("gelu") => Activation::Gelu,
            Some(other) => {
                return Err(checks::config_error(
                    path,
                    "hidden_activation",
                    format!("is {other:?}; supported: gelu_pytorch_tanh, gelu"),
                ));
            }
        };
        Ok(Self {
            vocab_size: n("vocab_size", 262_208),
            hidden_size: hidden,
            intermediate_size: n("intermediate_size", 9216),
            num_hidden_layers: layers,
            num_attention_heads: heads,
            num_key_value_heads: kv,
            head_dim,
            rms_norm_eps: c["rms_norm_eps"].as_f64().unwrap_or(1e-6),
            query_pre_attn_scalar: positive(c, "query_pre_attn_scalar", 1e9, path)?.unwrap_or(256.0),
            sliding_window: n("sliding_window", 4096),
            layer_types,
            rope_full: rope("full_attention", "rope_theta", 1_000_000.0)?,
            rope_sliding: rope("sliding_attention", "rope_local_base_freq", 10_000.0)?,
            max_position_embeddings: n("max_position_embeddings", 131_072).min(MAX_LEN),
            tie_word_embeddings: c["tie_word_embeddings"].as_bool().unwrap_or(true),
            hidden_activation,
            final_logit_softcapping: positive(c, "final_logit_softcapping", 1e9, path)?,
        })
    }
}

/// `Gemma3DecoderLayer`: `x + post_attn(attn(pre(x)))`, then `x + post_ff(mlp(pre_ff(x)))`.
#[derive(Debug, Clone)]
pub struct Layer {
    pub kind: LayerType,
    pub input_layernorm: RmsNorm,
    pub attn: Attention,
    pub post_attention_layernorm: RmsNorm,
    pub pre_feedforward_layernorm: RmsNorm,
    pub gate_proj: Linear,
    pub up_proj: Linear,
    pub down_proj: Linear,
    pub post_feedforward_layernorm: RmsNorm,
}

/// `Gemma3ForCausalLM`.
#[derive(Debug, Clone)]
pub struct Gemma3 {
    pub config: Config,
    pub embed_tokens: Tensor,
    pub layers: Vec<Layer>,
    pub norm: RmsNorm,
    pub head: LmHead,
}

/// The names of a layer's modules, in the order they are visited.
const NORMS: [&str; 4] = [
    "input_layernorm",
    "post_attention_layernorm",
    "pre_feedforward_layernorm",
    "post_feedforward_layernorm",
];

impl Gemma3 {
    pub fn load(t: &HashMap<String, Tensor>, cfg: &Config, device: &Device) -> candle_core::Result<Self> {
        let (h, eps, hd) = (cfg.hidden_size, cfg.rms_norm_eps, cfg.head_dim);
        let dtype = t.values().next().map_or(DType::F32, |x| x.dtype());
        let norm = |name: &str, dim: usize| -> candle_core::Result<RmsNorm> {
            Ok(RmsNorm { weight: get(t, &format!("{name}.weight"), &[dim])?, eps, plus_one: true })
        };
        let linear = |name: &str, i: usize, o: usize| -> candle_core::Result<Linear> {
            Ok(Linear::new(get(t, &format!("{name}.weight"), &[o, i])?, None))
        };
        let rope =
            |r: &RopeSpec| Rope::new(hd, r.theta, &r.scaling, cfg.max_position_embeddings, dtype, device);
        let (rope_full, rope_sliding) = (rope(&cfg.rope_full)?, rope(&cfg.rope_sliding)?);
        let (q_out, kv_out) = (cfg.num_attention_heads * hd, cfg.num_key_value_heads * hd);
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for (i, &kind) in cfg.layer_types.iter().enumerate() {
            let p = |n: &str| format!("model.layers.{i}.{n}");
            let [input, post_attn, pre_ff, post_ff] = NORMS.map(|n| norm(&p(n), h));
            layers.push(Layer {
                kind,
                input_layernorm: input?,
                attn: Attention {
                    q: linear(&p("self_attn.q_proj"), h, q_out)?,
                    k: linear(&p("self_attn.k_proj"), h, kv_out)?,
                    v: linear(&p("self_attn.v_proj"), h, kv_out)?,
                    o: linear(&p("self_attn.o_proj"), q_out, h)?,
                    heads: cfg.num_attention_heads,
                    kv_heads: cfg.num_key_value_heads,
                    head_dim: hd,
                    scale: cfg.query_pre_attn_scalar.powf(-0.5),
                    rope: Some(match kind {
                        LayerType::Full => rope_full.clone(),
                        LayerType::Sliding => rope_sliding.clone(),
                    }),
                    qk_norm: Some((norm(&p("self_attn.q_norm"), hd)?, norm(&p("self_attn.k_norm"), hd)?)),
                },
                post_attention_layernorm: post_attn?,
                pre_feedforward_layernorm: pre_ff?,
                gate_proj: linear(&p("mlp.gate_proj"), h, cfg.intermediate_size)?,
                up_proj: linear(&p("mlp.up_proj"), h, cfg.intermediate_size)?,
                down_proj: linear(&p("mlp.down_proj"), cfg.intermediate_size, h)?,
                post_feedforward_layernorm: post_ff?,
            });
        }
        let embed_tokens = get(t, "model.embed_tokens.weight", &[cfg.vocab_size, h])?;
        let head = if t.contains_key("lm_head.weight") && !cfg.tie_word_embeddings {
            get(t, "lm_head.weight", &[cfg.vocab_size, h])?
        } else {
            embed_tokens.clone()
        };
        let mut head = LmHead::linear(head, None);
        head.softcap = cfg.final_logit_softcapping;
        Ok(Self { config: cfg.clone(), embed_tokens, layers, norm: norm("model.norm", h)?, head })
    }
}

/// The registry's loader for Gemma 3 checkpoints ([`super::family`]).
pub fn load(ctx: &LoadContext, read: ReadTensors) -> Result<Box<dyn Network>> {
    let cfg = Config::from_json(ctx.config, ctx.config_path)?;
    let tensors = read()?;
    if !tensors.contains_key("model.embed_tokens.weight") {
        let multimodal = tensors.keys().any(|k| k.contains("vision_tower") || k.contains("language_model."));
        return Err(model_err(
            ctx.weights_path,
            match multimodal {
                true => {
                    "this is a multimodal Gemma 3 checkpoint (Gemma3ForConditionalGeneration: a vision tower \
                         and `language_model`); the engine runs the text model only — pick a text-only export \
                         (Gemma3ForCausalLM, e.g. google/gemma-3-1b-it or gemma-3-270m)"
                }
                false => "no model.embed_tokens.weight: not a Gemma 3 text checkpoint",
            },
        ));
    }
    let model = Gemma3::load(&tensors, &cfg, ctx.device)
        .map_err(|e| model_cause(ctx.weights_path, "the weights do not match config.json (Gemma 3)", e))?;
    Ok(Box::new(model))
}

impl Network for Gemma3 {
    fn kind(&self) -> Kind {
        Kind::Decoder
    }

    fn dims(&self) -> Dims {
        let c = &self.config;
        let heads = (c.num_attention_heads, c.num_key_value_heads);
        Dims::of(
            c.hidden_size,
            c.num_hidden_layers,
            heads.0,
            heads.1,
            c.vocab_size,
            c.max_position_embeddings,
        )
    }

    fn word_embeddings(&self) -> &Tensor {
        &self.embed_tokens
    }

    /// Unscaled rows; [`Network::forward`] multiplies by √hidden (see the module header).
    fn embed_tokens(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        super::layers::embedding(&self.embed_tokens, ids)
    }

    /// `Gemma3TextModel.forward` from the unscaled embeddings.
    fn forward(
        &self,
        inputs_embeds: &Tensor,
        attention_mask: &Tensor,
        drop: Option<&Dropout>,
    ) -> candle_core::Result<Tensor> {
        let dtype = inputs_embeds.dtype();
        let full = CausalMask::new(attention_mask, dtype)?;
        let sliding = match self.layers.iter().any(|l| l.kind == LayerType::Sliding) {
            true => Some(CausalMask::windowed(attention_mask, dtype, Some(self.config.sliding_window))?),
            false => None,
        };
        // transformers: `embed_scale = hidden_size**0.5`, a float32 tensor cast to the weights' dtype.
        let scale = (self.config.hidden_size as f64).sqrt() as f32;
        let mut xs = (inputs_embeds * f64::from(scale))?;
        for l in &self.layers {
            let mask = match (l.kind, &sliding) {
                (LayerType::Sliding, Some(s)) => s,
                _ => &full,
            };
            let a = l.attn.forward(&l.input_layernorm.forward(&xs)?, mask, drop)?;
            xs = (&xs + l.post_attention_layernorm.forward(&a)?)?;
            let h = l.pre_feedforward_layernorm.forward(&xs)?;
            let gate = l.gate_proj.forward_act(&h, Some(self.config.hidden_activation))?;
            let ff = l.down_proj.forward(&(gate * l.up_proj.forward(&h)?)?)?;
            xs = (&xs + l.post_feedforward_layernorm.forward(&ff)?)?;
        }
        self.norm.forward(&xs)
    }

    fn forward_cached(&self, inputs_embeds: &Tensor, cache: &mut KvCache) -> candle_core::Result<Tensor> {
        let (past, t) = (cache.len(), inputs_embeds.dim(1)?);
        let (dtype, device) = (inputs_embeds.dtype(), inputs_embeds.device());
        let full = CausalMask::step(past, t, None, dtype, device)?;
        let sliding = CausalMask::step(past, t, Some(self.config.sliding_window), dtype, device)?;
        let scale = (self.config.hidden_size as f64).sqrt() as f32;
        let mut xs = (inputs_embeds * f64::from(scale))?;
        for (i, l) in self.layers.iter().enumerate() {
            let mask = if l.kind == LayerType::Sliding { &sliding } else { &full };
            let a = l.attn.forward_cached(&l.input_layernorm.forward(&xs)?, mask, cache.layer(i)?, past)?;
            xs = (&xs + l.post_attention_layernorm.forward(&a)?)?;
            let h = l.pre_feedforward_layernorm.forward(&xs)?;
            let gate = l.gate_proj.forward_act(&h, Some(self.config.hidden_activation))?;
            let ff = l.down_proj.forward(&(gate * l.up_proj.forward(&h)?)?)?;
            xs = (&xs + l.post_feedforward_layernorm.forward(&ff)?)?;
        }
        cache.advance(t);
        self.norm.forward(&xs)
    }

    fn head(&self) -> Option<&LmHead> {
        Some(&self.head)
    }

    fn visit_params(&mut self, f: ParamFn) {
        f("model.embed_tokens.weight".into(), &mut self.embed_tokens);
        for (i, l) in self.layers.iter_mut().enumerate() {
            let p = |n: &str| format!("model.layers.{i}.{n}");
            let norms = [
                &mut l.input_layernorm,
                &mut l.post_attention_layernorm,
                &mut l.pre_feedforward_layernorm,
                &mut l.post_feedforward_layernorm,
            ];
            for (name, norm) in NORMS.iter().zip(norms) {
                norm.visit_params(&p(name), f);
            }
            l.attn.q.visit_params(&p("self_attn.q_proj"), f);
            l.attn.k.visit_params(&p("self_attn.k_proj"), f);
            l.attn.v.visit_params(&p("self_attn.v_proj"), f);
            l.attn.o.visit_params(&p("self_attn.o_proj"), f);
            if let Some((q, k)) = &mut l.attn.qk_norm {
                q.visit_params(&p("self_attn.q_norm"), f);
                k.visit_params(&p("self_attn.k_norm"), f);
            }
            l.gate_proj.visit_params(&p("mlp.gate_proj"), f);
            l.up_proj.visit_params(&p("mlp.up_proj"), f);
            l.down_proj.visit_params(&p("mlp.down_proj"), f);
        }
        self.norm.visit_params("model.norm", f);
        f("lm_head.weight".into(), &mut self.head.decoder_weight);
    }

    fn checkpoint_tensors(&self) -> candle_core::Result<HashMap<String, Tensor>> {
        Ok(super::weights::by_engine_names(self))
    }

    fn box_clone(&self) -> Box<dyn Network> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_are_checked_before_use() {
        let base = r#""vocab_size":10,"hidden_size":8,"intermediate_size":16,"num_attention_heads":2,"num_key_value_heads":1,"head_dim":4"#;
        let cases = [
            (format!(r#"{{{base},"num_hidden_layers":6}}"#), None),
            (format!(r#"{{"model_type":"gemma3","text_config":{{{base},"num_hidden_layers":6}}}}"#), None),
            (
                format!(r#"{{{base},"num_hidden_layers":2,"layer_types":["sliding_attention"]}}"#),
                Some("`layer_types` is [\"sliding_attention\"]; it must list one"),
            ),
            (
                format!(r#"{{{base},"num_hidden_layers":1,"layer_types":["chunked_attention"]}}"#),
                Some("`layer_types` has \"chunked_attention\""),
            ),
            (
                format!(
                    r#"{{{base},"num_hidden_layers":1,"num_key_value_heads":3,"num_attention_heads":4}}"#
                ),
                Some("`num_key_value_heads` is 3, which does not divide"),
            ),
            (format!(r#"{{{base},"num_hidden_layers":1,"head_dim":5}}"#), Some("`head_dim` is 5")),
            (
                format!(r#"{{{base},"num_hidden_layers":1,"sliding_window":0}}"#),
                Some("`sliding_window` is 0; it must be a whole number from 1"),
            ),
            (
                format!(r#"{{{base},"num_hidden_layers":1,"query_pre_attn_scalar":-4}}"#),
                Some("`query_pre_attn_scalar` is -4; it must be a number above 0"),
            ),
            (
                format!(r#"{{{base},"num_hidden_layers":1,"final_logit_softcapping":"big"}}"#),
                Some("`final_logit_softcapping` is \"big\""),
            ),
            (
                format!(r#"{{{base},"num_hidden_layers":1,"attn_logit_softcapping":50.0}}"#),
                Some("`attn_logit_softcapping` is 50.0"),
            ),
            (
                format!(r#"{{{base},"num_hidden_layers":1,"use_bidirectional_attention":true}}"#),
                Some("runs Gemma 3 as a causal LM"),
            ),
            (
                format!(
                    r#"{{{base},"num_hidden_layers":1,"rope_parameters":{{"sliding_attention":{{"rope_type":"default","rope_theta":0.5}}}}}}"#
                ),
                Some("gives sliding_attention a rope_theta of 0.5"),
            ),
            (
                format!(
                    r#"{{{base},"num_hidden_layers":1,"rope_parameters":{{"full_attention":{{"rope_type":"yarn","factor":8.0}}}}}}"#
                ),
                Some("supported: default, linear, llama3"),
            ),
            (
                format!(r#"{{{base},"num_hidden_layers":1,"hidden_activation":"relu"}}"#),
                Some("`hidden_activation` is \"relu\""),
            ),
            (format!(r#"{{{base},"num_hidden_layers":100000}}"#), Some("`num_hidden_layers` is 100000")),
        ];
        checks::assert_config_cases(&cases, Config::from_json, |json, c| {
            // Without layer_types: five local layers, then a global one.
            let full: Vec<bool> = c.layer_types.iter().map(|&t| t == LayerType::Full).collect();
            assert_eq!(full, [false, false, false, false, false, true], "{json}");
            assert_eq!((c.rope_full.theta, c.rope_sliding.theta), (1e6, 1e4));
        });
    }

    #[test]
    fn legacy_rope_keys_are_read_per_layer_type() {
        let v = serde_json::json!({
            "num_hidden_layers": 2, "rope_theta": 500000.0, "rope_local_base_freq": 20000.0,
            "rope_scaling": {"rope_type": "linear", "factor": 8.0},
        });
        let c = Config::from_json(&v, Path::new("config.json")).unwrap();
        assert_eq!(c.rope_full, RopeSpec { theta: 5e5, scaling: RopeScaling::Linear { factor: 8.0 } });
        assert_eq!(c.rope_sliding, RopeSpec { theta: 2e4, scaling: RopeScaling::None });
    }
}

#[cfg(test)]
mod head_tests {
    use super::*;

    /// `final_logit_softcapping`: `cap · tanh(logits / cap)` on the full and the label-word logits.
    #[test]
    fn final_logits_are_soft_capped() {
        let w = Tensor::new(&[[1f32, 0.0], [0.0, 1.0], [1.0, 1.0]], &Device::Cpu).unwrap();
        let h = Tensor::new(&[[30f32, -0.5]], &Device::Cpu).unwrap();
        let cases = [(None, vec![30.0f32, -0.5, 29.5]), (Some(10.0), vec![9.950547, -0.4995837, 9.945361])];
        for (cap, want) in cases {
            let mut head = LmHead::linear(w.clone(), None);
            head.softcap = cap;
            let full = head.logits_full(&h).unwrap().to_vec2::<f32>().unwrap().remove(0);
            let ids = Tensor::new(&[2u32, 0], &Device::Cpu).unwrap();
            let some = head.logits_for(&h, &ids).unwrap().to_vec2::<f32>().unwrap().remove(0);
            for (got, want) in full.iter().chain(&some).zip(want.iter().chain(&[want[2], want[0]])) {
                assert!((got - want).abs() < 1e-5, "cap {cap:?}: {got} vs {want}");
            }
        }
    }
}
