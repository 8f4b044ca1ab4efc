//! The Llama architecture (Touvron et al., 2023, <https://arxiv.org/abs/2302.13971>) and the
//! families that keep it: Llama 2 / 3, SmolLM / SmolLM2, Mistral, Qwen2 / Qwen2.5 (biases on the
//! query, key and value projections). Pre-RMSNorm blocks, rotary positions (with the config's
//! scaling), grouped key/value heads, a SwiGLU feed-forward, tied or untied embeddings.
//!
//! References:
//! - <https://github.com/huggingface/transformers/blob/main/src/transformers/models/llama/modeling_llama.py>
//!   (`LlamaAttention`, `LlamaMLP`, `LlamaDecoderLayer`, `LlamaModel`, `LlamaForCausalLM`)
//! - <https://github.com/huggingface/transformers/blob/main/src/transformers/models/qwen2/modeling_qwen2.py>
//!   (the same, with `bias=True` on q/k/v)
//!
//! Weight names are the checkpoint's (`model.layers.{i}.self_attn.q_proj.weight`, …); a bias is
//! read wherever the checkpoint has one.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};

use super::checks::{self, ConfigKey, ConfigKeys, Rule};
use super::decoder::{Attention, CausalMask, KvCache, RmsNorm, Rope, RopeScaling};
use super::family::{LoadContext, ReadTensors};
use super::layers::{Activation, Dropout, Linear, LmHead, ParamFn};
use super::network::{Dims, Kind, Network};
use super::weights::{Checkpoint, shaped as get};
use super::{model_cause, model_err};
use crate::error::Result;

/// config.json of a Llama-architecture model, as read (both the `rope_theta` / `rope_scaling`
/// spelling and transformers 5's `rope_parameters`).
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
    pub rope_theta: f64,
    pub rope_scaling: RopeScaling,
    pub max_position_embeddings: usize,
    pub tie_word_embeddings: bool,
    pub hidden_act: Activation,
}

/// The rule each config.json number of a Llama-architecture model meets.
pub const KEYS: ConfigKeys = ConfigKeys(&[
    ConfigKey { key: "vocab_size", rule: Rule::Count { min: 1, max: checks::MAX_VOCAB }, required: true },
    ConfigKey { key: "hidden_size", rule: Rule::Count { min: 1, max: checks::MAX_WIDTH }, required: true },
    ConfigKey {
        key: "intermediate_size",
        rule: Rule::Count { min: 1, max: 8 * checks::MAX_WIDTH },
        required: true,
    },
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
        key: "num_key_value_heads",
        rule: Rule::Count { min: 1, max: checks::MAX_WIDTH },
        required: false,
    },
    ConfigKey { key: "head_dim", rule: Rule::Count { min: 2, max: checks::MAX_WIDTH }, required: false },
    ConfigKey { key: "max_position_embeddings", rule: Rule::Count { min: 1, max: 1 << 20 }, required: false },
    ConfigKey { key: "rms_norm_eps", rule: Rule::Epsilon, required: false },
    ConfigKey { key: "attention_dropout", rule: Rule::Probability, required: false },
]);

/// The longest input the engine gives a Llama-architecture model: far beyond any prompt, and it
/// bounds the rotary tables (`max_position_embeddings` can be 128k).
const MAX_LEN: usize = 8192;

impl Config {
    /// Reads and checks config.json (`path` for messages).
    pub fn from_json(c: &serde_json::Value, path: &Path) -> Result<Self> {
        KEYS.check(c, path)?;
        let n = |k: &str| c[k].as_u64().map(|v| v as usize);
        let f = |k: &str| c[k].as_f64();
        let need = |k: &str| {
            n(k).ok_or_else(|| {
                checks::config_error(path, k, "is missing; a Llama-architecture config names it")
            })
        };
        let heads = need("num_attention_heads")?;
        let hidden = need("hidden_size")?;
        let kv = n("num_key_value_heads").unwrap_or(heads);
        if !heads.is_multiple_of(kv) {
            return Err(checks::config_error(
                path,
                "num_key_value_heads",
                format!("is {kv}, which does not divide num_attention_heads {heads}"),
            ));
        }
        let head_dim = match n("head_dim") {
            Some(d) => d,
            None if hidden.is_multiple_of(heads) => hidden / heads,
            None => {
                return Err(checks::config_error(
                    path,
                    "num_attention_heads",
                    format!(
                        "is {heads}, which does not divide hidden_size {hidden}, and no head_dim is given"
                    ),
                ));
            }
        };
        if !head_dim.is_multiple_of(2) {
            return Err(checks::config_error(
                path,
                "head_dim",
                format!("is {head_dim}; rotary embeddings need it even"),
            ));
        }
        let rope = if c["rope_parameters"].is_object() { &c["rope_parameters"] } else { &c["rope_scaling"] };
        let rope_theta = f("rope_theta").or_else(|| rope["rope_theta"].as_f64()).unwrap_or(10000.0);
        if !(rope_theta.is_finite() && rope_theta > 1.0) {
            return Err(checks::config_error(
                path,
                "rope_theta",
                format!("is {rope_theta}; it must be above 1"),
            ));
        }
        let rope_scaling = rope_scaling(rope, path)?;
        let hidden_act = match c["hidden_act"].as_str().unwrap_or("silu") {
            "silu" | "swish" => Activation::Silu,
            "gelu_pytorch_tanh" | "gelu_new" => Activation::GeluTanh,
            "gelu" => Activation::Gelu,
            other => {
                return Err(checks::config_error(
                    path,
                    "hidden_act",
                    format!("is {other:?}; supported: silu, gelu, gelu_pytorch_tanh"),
                ));
            }
        };
        let mut max_len = n("max_position_embeddings").unwrap_or(2048).min(MAX_LEN);
        if c["use_sliding_window"].as_bool().unwrap_or(c["model_type"] == "mistral")
            && let Some(w) = n("sliding_window")
        {
            // Inside the window, sliding-window attention is full causal attention.
            max_len = max_len.min(w.max(1));
        }
        Ok(Self {
            vocab_size: need("vocab_size")?,
            hidden_size: hidden,
            intermediate_size: need("intermediate_size")?,
            num_hidden_layers: need("num_hidden_layers")?,
            num_attention_heads: heads,
            num_key_value_heads: kv,
            head_dim,
            rms_norm_eps: f("rms_norm_eps").unwrap_or(1e-6),
            rope_theta,
            rope_scaling,
            max_position_embeddings: max_len,
            tie_word_embeddings: c["tie_word_embeddings"].as_bool().unwrap_or(false),
            hidden_act,
        })
    }
}

/// `rope_scaling` / `rope_parameters`: none, "default", "linear" or "llama3".
pub(crate) fn rope_scaling(r: &serde_json::Value, path: &Path) -> Result<RopeScaling> {
    if !r.is_object() {
        return Ok(RopeScaling::None);
    }
    let kind = r["rope_type"].as_str().or_else(|| r["type"].as_str()).unwrap_or("default");
    let num = |k: &str| -> Result<f64> {
        r[k].as_f64().filter(|x| x.is_finite() && *x > 0.0).ok_or_else(|| {
            checks::config_error(path, "rope_scaling", format!("({kind}) has no positive number `{k}`"))
        })
    };
    match kind {
        "default" => Ok(RopeScaling::None),
        "linear" => Ok(RopeScaling::Linear { factor: num("factor")? }),
        "llama3" => {
            let (low, high) = (num("low_freq_factor")?, num("high_freq_factor")?);
            if high <= low {
                return Err(checks::config_error(
                    path,
                    "rope_scaling",
                    "has high_freq_factor ≤ low_freq_factor",
                ));
            }
            Ok(RopeScaling::Llama3 {
                factor: num("factor")?,
                low_freq_factor: low,
                high_freq_factor: high,
                original_max_position_embeddings: num("original_max_position_embeddings")?,
            })
        }
        other => Err(checks::config_error(
            path,
            "rope_scaling",
            format!("has rope_type {other:?}; supported: default, linear, llama3"),
        )),
    }
}

/// One decoder layer: `x + attn(norm(x))`, then `x + mlp(norm(x))` with a SwiGLU MLP.
#[derive(Debug, Clone)]
pub struct Layer {
    pub input_layernorm: RmsNorm,
    pub attn: Attention,
    pub post_attention_layernorm: RmsNorm,
    pub gate_proj: Linear,
    pub up_proj: Linear,
    pub down_proj: Linear,
}

/// A Llama-architecture causal LM.
#[derive(Debug, Clone)]
pub struct Llama {
    pub config: Config,
    pub embed_tokens: Tensor,
    pub layers: Vec<Layer>,
    pub norm: RmsNorm,
    pub head: LmHead,
}

/// `{name}.weight` `[out, in]` (kept quantised when the checkpoint holds it so), and `{name}.bias`
/// when the checkpoint has one.
fn linear(t: &Checkpoint, name: &str, in_dim: usize, out_dim: usize) -> candle_core::Result<Linear> {
    let b = match t.contains_key(&format!("{name}.bias")) {
        true => Some(get(t, &format!("{name}.bias"), &[out_dim])?),
        false => None,
    };
    let weight = format!("{name}.weight");
    if let Some(q) = t.quantised.get(&weight) {
        if q.shape().dims() != [out_dim, in_dim] {
            candle_core::bail!("{weight} has shape {:?}, expected [{out_dim}, {in_dim}]", q.shape().dims());
        }
        return Ok(Linear::quantised(q.clone(), b));
    }
    Ok(Linear::new(get(t, &weight, &[out_dim, in_dim])?, b))
}

impl Llama {
    pub fn load(t: &Checkpoint, cfg: &Config, device: &Device) -> candle_core::Result<Self> {
        let (h, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
        let dtype = t.values().next().map_or(DType::F32, |x| x.dtype());
        let norm = |name: &str| -> candle_core::Result<RmsNorm> {
            Ok(RmsNorm { weight: get(t, &format!("{name}.weight"), &[h])?, eps, plus_one: false })
        };
        let rope = Rope::new(
            cfg.head_dim,
            cfg.rope_theta,
            &cfg.rope_scaling,
            cfg.max_position_embeddings,
            dtype,
            device,
        )?;
        let (q_out, kv_out) =
            (cfg.num_attention_heads * cfg.head_dim, cfg.num_key_value_heads * cfg.head_dim);
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = |n: &str| format!("model.layers.{i}.{n}");
            layers.push(Layer {
                input_layernorm: norm(&p("input_layernorm"))?,
                attn: Attention {
                    q: linear(t, &p("self_attn.q_proj"), h, q_out)?,
                    k: linear(t, &p("self_attn.k_proj"), h, kv_out)?,
                    v: linear(t, &p("self_attn.v_proj"), h, kv_out)?,
                    o: linear(t, &p("self_attn.o_proj"), q_out, h)?,
                    heads: cfg.num_attention_heads,
                    kv_heads: cfg.num_key_value_heads,
                    head_dim: cfg.head_dim,
                    scale: 1.0 / (cfg.head_dim as f64).sqrt(),
                    rope: Some(rope.clone()),
                    qk_norm: None,
                },
                post_attention_layernorm: norm(&p("post_attention_layernorm"))?,
                gate_proj: linear(t, &p("mlp.gate_proj"), h, cfg.intermediate_size)?,
                up_proj: linear(t, &p("mlp.up_proj"), h, cfg.intermediate_size)?,
                down_proj: linear(t, &p("mlp.down_proj"), cfg.intermediate_size, h)?,
            });
        }
        let embed_tokens = get(t, "model.embed_tokens.weight", &[cfg.vocab_size, h])?;
        let head = if t.contains_key("lm_head.weight") && !cfg.tie_word_embeddings {
            get(t, "lm_head.weight", &[cfg.vocab_size, h])?
        } else {
            embed_tokens.clone()
        };
        let mut head = LmHead::linear(head, None);
        // A GGUF file's head (its own, or the tied embeddings) as stored, for generation steps.
        let stored_head = match cfg.tie_word_embeddings || !t.contains_key("lm_head.weight") {
            true => t.quantised.get("model.embed_tokens.weight"),
            false => t.quantised.get("lm_head.weight"),
        };
        if let Some(q) = stored_head {
            if q.shape().dims() != [cfg.vocab_size, h] {
                candle_core::bail!(
                    "the stored LM head has shape {:?}, expected [{}, {h}]",
                    q.shape().dims(),
                    cfg.vocab_size
                );
            }
            head.quantised = Some(q.clone());
        }
        Ok(Self { config: cfg.clone(), embed_tokens, layers, norm: norm("model.norm")?, head })
    }
}

/// The registry's loader for Llama-architecture checkpoints ([`super::family`]).
pub fn load(ctx: &LoadContext, read: ReadTensors) -> Result<Box<dyn Network>> {
    let cfg = Config::from_json(ctx.config, ctx.config_path)?;
    let tensors = read()?;
    if !tensors.contains_key("model.embed_tokens.weight") {
        return Err(model_err(
            ctx.weights_path,
            "no model.embed_tokens.weight: not a Llama-architecture checkpoint",
        ));
    }
    let model = Llama::load(&tensors, &cfg, ctx.device).map_err(|e| {
        model_cause(ctx.weights_path, "the weights do not match config.json (Llama architecture)", e)
    })?;
    Ok(Box::new(model))
}

impl Network for Llama {
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

    fn embed_tokens(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        super::layers::embedding(&self.embed_tokens, ids)
    }

    fn forward(
        &self,
        inputs_embeds: &Tensor,
        attention_mask: &Tensor,
        drop: Option<&Dropout>,
    ) -> candle_core::Result<Tensor> {
        let mask = CausalMask::new(attention_mask, inputs_embeds.dtype())?;
        let mut xs = inputs_embeds.clone();
        for l in &self.layers {
            let a = l.attn.forward(&l.input_layernorm.forward(&xs)?, &mask, drop)?;
            xs = (&xs + a)?;
            let h = l.post_attention_layernorm.forward(&xs)?;
            let gate = l.gate_proj.forward_act(&h, Some(self.config.hidden_act))?;
            let up = l.up_proj.forward(&h)?;
            xs = (&xs + l.down_proj.forward(&(gate * up)?)?)?;
        }
        self.norm.forward(&xs)
    }

    fn forward_cached(&self, inputs_embeds: &Tensor, cache: &mut KvCache) -> candle_core::Result<Tensor> {
        let (past, t) = (cache.len(), inputs_embeds.dim(1)?);
        // max_len is capped to a sliding window, inside which attention is full causal attention.
        let mask = CausalMask::step(past, t, None, inputs_embeds.dtype(), inputs_embeds.device())?;
        let mut xs = inputs_embeds.clone();
        for (i, l) in self.layers.iter().enumerate() {
            let a = l.attn.forward_cached(&l.input_layernorm.forward(&xs)?, &mask, cache.layer(i)?, past)?;
            xs = (&xs + a)?;
            let h = l.post_attention_layernorm.forward(&xs)?;
            let gate = l.gate_proj.forward_act(&h, Some(self.config.hidden_act))?;
            let up = l.up_proj.forward(&h)?;
            xs = (&xs + l.down_proj.forward(&(gate * up)?)?)?;
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
            l.input_layernorm.visit_params(&p("input_layernorm"), f);
            l.attn.q.visit_params(&p("self_attn.q_proj"), f);
            l.attn.k.visit_params(&p("self_attn.k_proj"), f);
            l.attn.v.visit_params(&p("self_attn.v_proj"), f);
            l.attn.o.visit_params(&p("self_attn.o_proj"), f);
            l.post_attention_layernorm.visit_params(&p("post_attention_layernorm"), f);
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

    fn quantisable(&self) -> Vec<&Linear> {
        let l = self.layers.iter();
        l.flat_map(|l| [&l.attn.q, &l.attn.k, &l.attn.v, &l.attn.o, &l.gate_proj, &l.up_proj, &l.down_proj])
            .collect()
    }

    fn dequantise(&mut self) -> candle_core::Result<()> {
        // The head's stored copy would go stale once its f32 weight trains.
        self.head.quantised = None;
        self.quantisable_mut().into_iter().try_for_each(|l| l.dequantise())
    }

    fn quantisable_mut(&mut self) -> Vec<&mut Linear> {
        let l = self.layers.iter_mut();
        l.flat_map(|l| {
            [
                &mut l.attn.q,
                &mut l.attn.k,
                &mut l.attn.v,
                &mut l.attn.o,
                &mut l.gate_proj,
                &mut l.up_proj,
                &mut l.down_proj,
            ]
        })
        .collect()
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
        let base = r#""vocab_size":10,"hidden_size":8,"intermediate_size":16,"num_hidden_layers":1"#;
        let cases = [
            (format!(r#"{{{base},"num_attention_heads":2}}"#), None),
            (
                format!(r#"{{{base},"num_attention_heads":4,"num_key_value_heads":3}}"#),
                Some("does not divide"),
            ),
            (format!(r#"{{{base},"num_attention_heads":3}}"#), Some("no head_dim")),
            (
                format!(
                    r#"{{{base},"num_attention_heads":2,"rope_scaling":{{"rope_type":"yarn","factor":4.0}}}}"#
                ),
                Some("supported: default, linear, llama3"),
            ),
            (
                format!(
                    r#"{{{base},"num_attention_heads":2,"rope_parameters":{{"rope_type":"default","rope_theta":500000.0}}}}"#
                ),
                None,
            ),
        ];
        checks::assert_config_cases(&cases, Config::from_json, |_, _| {});
    }
}
