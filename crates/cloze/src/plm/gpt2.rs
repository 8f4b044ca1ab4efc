//! GPT-2 (Radford et al., 2019, "Language Models are Unsupervised Multitask Learners"): learned
//! positions, pre-LayerNorm blocks, and `Conv1D` weights stored transposed (`[in, out]`).
//!
//! Reference: <https://github.com/huggingface/transformers/blob/main/src/transformers/models/gpt2/modeling_gpt2.py>
//! (`GPT2Attention`, `GPT2MLP`, `GPT2Block`, `GPT2Model`, `GPT2LMHeadModel`).
//!
//! The fused `c_attn` projection is split into query, key and value at load and joined again when
//! saving; every `Conv1D` weight is transposed to `[out, in]` at load and back when saving, so the
//! engine's names are the checkpoint's.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Module, Tensor};

use super::checks::{self, ConfigKey, ConfigKeys, Rule};
use super::decoder::{Attention, CausalMask, KvCache};
use super::family::{LoadContext, ReadTensors};
use super::layers::{Activation, Dropout, LayerNorm, Linear, LmHead, ParamFn, dropout};
use super::network::{Dims, Kind, Network};
use super::weights::shaped as get;
use super::{model_cause, model_err};
use crate::error::{Error, Result};

/// config.json of a GPT-2 model.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_positions: usize,
    #[serde(default)]
    pub n_inner: Option<usize>,
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "default_act")]
    pub activation_function: Activation,
    #[serde(default = "yes")]
    pub scale_attn_weights: bool,
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
    #[serde(default)]
    pub reorder_and_upcast_attn: bool,
}

fn default_eps() -> f64 {
    1e-5
}
fn default_act() -> Activation {
    Activation::GeluTanh
}
fn yes() -> bool {
    true
}

/// The rule each config.json number of a GPT-2 model meets.
pub const KEYS: ConfigKeys = ConfigKeys(&[
    ConfigKey { key: "vocab_size", rule: Rule::Count { min: 1, max: checks::MAX_VOCAB }, required: true },
    ConfigKey { key: "n_embd", rule: Rule::Count { min: 1, max: checks::MAX_WIDTH }, required: true },
    ConfigKey { key: "n_layer", rule: Rule::Count { min: 1, max: checks::MAX_LAYERS }, required: true },
    ConfigKey { key: "n_head", rule: Rule::Count { min: 1, max: checks::MAX_WIDTH }, required: true },
    ConfigKey {
        key: "n_positions",
        rule: Rule::Count { min: 1, max: checks::MAX_POSITIONS },
        required: true,
    },
    ConfigKey { key: "n_inner", rule: Rule::Count { min: 1, max: 4 * checks::MAX_WIDTH }, required: false },
    ConfigKey { key: "layer_norm_epsilon", rule: Rule::Epsilon, required: false },
    ConfigKey { key: "resid_pdrop", rule: Rule::Probability, required: false },
    ConfigKey { key: "attn_pdrop", rule: Rule::Probability, required: false },
    ConfigKey { key: "embd_pdrop", rule: Rule::Probability, required: false },
]);

impl Config {
    /// Reads and checks config.json (`path` for messages).
    pub fn from_json(config: &serde_json::Value, path: &Path) -> Result<Self> {
        KEYS.check(config, path)?;
        let cfg: Config = serde_json::from_value(config.clone()).map_err(|e| Error::Model {
            path: path.to_path_buf(),
            message: "config.json does not describe a GPT-2 model".into(),
            source: Some(e.into()),
        })?;
        if !cfg.n_embd.is_multiple_of(cfg.n_head) {
            return Err(checks::config_error(
                path,
                "n_head",
                format!("is {}, which does not divide n_embd {}", cfg.n_head, cfg.n_embd),
            ));
        }
        if cfg.scale_attn_by_inverse_layer_idx || cfg.reorder_and_upcast_attn {
            return Err(checks::config_error(
                path,
                "scale_attn_by_inverse_layer_idx",
                "(or reorder_and_upcast_attn) is set; these Mistral-GPT-2 variants are not supported",
            ));
        }
        Ok(cfg)
    }

    fn inner(&self) -> usize {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }
}

/// One pre-LayerNorm block: `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`.
#[derive(Debug, Clone)]
pub struct Block {
    pub ln_1: LayerNorm,
    pub attn: Attention,
    pub ln_2: LayerNorm,
    pub c_fc: Linear,
    pub c_proj: Linear,
}

/// GPT-2 with its LM head (tied to the token embeddings unless the checkpoint has `lm_head.weight`).
#[derive(Debug, Clone)]
pub struct Gpt2 {
    pub config: Config,
    pub wte: Tensor,
    pub wpe: Tensor,
    pub blocks: Vec<Block>,
    pub ln_f: LayerNorm,
    pub head: LmHead,
    /// `transformer.` (GPT2LMHeadModel) or empty (a bare GPT2Model export).
    pub prefix: String,
    act: Activation,
}

/// Reads a `Conv1D` (`[in, out]` weight) as a [`Linear`] (`[out, in]`).
fn conv1d(
    t: &HashMap<String, Tensor>,
    name: &str,
    in_dim: usize,
    out_dim: usize,
) -> candle_core::Result<Linear> {
    let w = get(t, &format!("{name}.weight"), &[in_dim, out_dim])?.t()?.contiguous()?;
    let b = get(t, &format!("{name}.bias"), &[out_dim])?;
    Ok(Linear::new(w, Some(b)))
}

fn layer_norm(
    t: &HashMap<String, Tensor>,
    name: &str,
    dim: usize,
    eps: f64,
) -> candle_core::Result<LayerNorm> {
    Ok(LayerNorm::new(
        get(t, &format!("{name}.weight"), &[dim])?,
        get(t, &format!("{name}.bias"), &[dim])?,
        eps,
    ))
}

impl Gpt2 {
    pub fn load(t: &HashMap<String, Tensor>, cfg: &Config, prefix: &str) -> candle_core::Result<Self> {
        let (d, eps) = (cfg.n_embd, cfg.layer_norm_epsilon);
        let p = |n: &str| format!("{prefix}{n}");
        let wte = get(t, &p("wte.weight"), &[cfg.vocab_size, d])?;
        let wpe = get(t, &p("wpe.weight"), &[cfg.n_positions, d])?;
        let head_dim = d / cfg.n_head;
        let mut blocks = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let b = |n: &str| p(&format!("h.{i}.{n}"));
            let c_attn = conv1d(t, &b("attn.c_attn"), d, 3 * d)?;
            let part = |k: usize| -> candle_core::Result<Linear> {
                let w = c_attn.weight()?.narrow(0, k * d, d)?.contiguous()?;
                let bias = c_attn.bias().map(|x| x.narrow(0, k * d, d)).transpose()?;
                Ok(Linear::new(w, bias))
            };
            blocks.push(Block {
                ln_1: layer_norm(t, &b("ln_1"), d, eps)?,
                attn: Attention {
                    q: part(0)?,
                    k: part(1)?,
                    v: part(2)?,
                    o: conv1d(t, &b("attn.c_proj"), d, d)?,
                    heads: cfg.n_head,
                    kv_heads: cfg.n_head,
                    head_dim,
                    scale: if cfg.scale_attn_weights { 1.0 / (head_dim as f64).sqrt() } else { 1.0 },
                    rope: None,
                    qk_norm: None,
                },
                ln_2: layer_norm(t, &b("ln_2"), d, eps)?,
                c_fc: conv1d(t, &b("mlp.c_fc"), d, cfg.inner())?,
                c_proj: conv1d(t, &b("mlp.c_proj"), cfg.inner(), d)?,
            });
        }
        let head_weight = match t.get("lm_head.weight") {
            Some(_) => get(t, "lm_head.weight", &[cfg.vocab_size, d])?,
            None => wte.clone(),
        };
        Ok(Self {
            config: cfg.clone(),
            wte,
            wpe,
            blocks,
            ln_f: layer_norm(t, &p("ln_f"), d, eps)?,
            head: LmHead::linear(head_weight, None),
            prefix: prefix.to_string(),
            act: cfg.activation_function,
        })
    }
}

/// The registry's loader for GPT-2 checkpoints ([`super::family`]).
pub fn load(ctx: &LoadContext, read: ReadTensors) -> Result<Box<dyn Network>> {
    let cfg = Config::from_json(ctx.config, ctx.config_path)?;
    let tensors = read()?;
    let prefix = super::weights::detect_prefix(&tensors, &["transformer.", ""], "wte.weight")
        .ok_or_else(|| model_err(ctx.weights_path, "no token embeddings found (transformer.wte.weight)"))?;
    let dtype = tensors.values().next().map_or(DType::F32, |t| t.dtype());
    let tensors: HashMap<String, Tensor> = tensors
        .dense
        .into_iter()
        .map(|(k, v)| Ok((k, v.to_device(ctx.device)?.to_dtype(dtype)?)))
        .collect::<candle_core::Result<_>>()?;
    let model = Gpt2::load(&tensors, &cfg, &prefix)
        .map_err(|e| model_cause(ctx.weights_path, "the weights do not match config.json (GPT-2)", e))?;
    Ok(Box::new(model))
}

impl Network for Gpt2 {
    fn kind(&self) -> Kind {
        Kind::Decoder
    }

    fn dims(&self) -> Dims {
        let c = &self.config;
        Dims {
            hidden_size: c.n_embd,
            layers: c.n_layer,
            heads: c.n_head,
            kv_heads: c.n_head,
            vocab_size: c.vocab_size,
            max_len: c.n_positions,
        }
    }

    fn word_embeddings(&self) -> &Tensor {
        &self.wte
    }

    fn embed_tokens(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        self.wte.index_select(&ids.flatten_all()?, 0)?.reshape((b, t, self.config.n_embd))
    }

    fn forward(
        &self,
        inputs_embeds: &Tensor,
        attention_mask: &Tensor,
        drop: Option<&Dropout>,
    ) -> candle_core::Result<Tensor> {
        let t = inputs_embeds.dim(1)?;
        let mask = CausalMask::new(attention_mask, inputs_embeds.dtype())?;
        let mut xs = dropout(inputs_embeds.broadcast_add(&self.wpe.narrow(0, 0, t)?)?, drop)?;
        for b in &self.blocks {
            let a = dropout(b.attn.forward(&b.ln_1.forward(&xs)?, &mask, drop)?, drop)?;
            xs = (xs + a)?;
            let h = b.c_fc.forward_act(&b.ln_2.forward(&xs)?, Some(self.act))?;
            xs = (&xs + dropout(b.c_proj.forward(&h)?, drop)?)?;
        }
        self.ln_f.forward(&xs)
    }

    fn forward_cached(&self, inputs_embeds: &Tensor, cache: &mut KvCache) -> candle_core::Result<Tensor> {
        let (past, t) = (cache.len(), inputs_embeds.dim(1)?);
        let mask = CausalMask::step(past, t, None, inputs_embeds.dtype(), inputs_embeds.device())?;
        let mut xs = inputs_embeds.broadcast_add(&self.wpe.narrow(0, past, t)?)?;
        for (i, b) in self.blocks.iter().enumerate() {
            let a = b.attn.forward_cached(&b.ln_1.forward(&xs)?, &mask, cache.layer(i)?, past)?;
            xs = (xs + a)?;
            let h = b.c_fc.forward_act(&b.ln_2.forward(&xs)?, Some(self.act))?;
            xs = (&xs + b.c_proj.forward(&h)?)?;
        }
        cache.advance(t);
        self.ln_f.forward(&xs)
    }

    fn head(&self) -> Option<&LmHead> {
        Some(&self.head)
    }

    fn visit_params(&mut self, f: ParamFn) {
        let p = self.prefix.clone();
        f(format!("{p}wte.weight"), &mut self.wte);
        f(format!("{p}wpe.weight"), &mut self.wpe);
        for (i, b) in self.blocks.iter_mut().enumerate() {
            let n = |s: &str| format!("{p}h.{i}.{s}");
            b.ln_1.visit_params(&n("ln_1"), f);
            b.attn.q.visit_params(&n("attn.q"), f);
            b.attn.k.visit_params(&n("attn.k"), f);
            b.attn.v.visit_params(&n("attn.v"), f);
            b.attn.o.visit_params(&n("attn.c_proj"), f);
            b.ln_2.visit_params(&n("ln_2"), f);
            b.c_fc.visit_params(&n("mlp.c_fc"), f);
            b.c_proj.visit_params(&n("mlp.c_proj"), f);
        }
        self.ln_f.visit_params(&format!("{p}ln_f"), f);
        f("lm_head.weight".into(), &mut self.head.decoder_weight);
    }

    fn checkpoint_tensors(&self) -> candle_core::Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        let p = &self.prefix;
        let conv = |l: &Linear| l.weight()?.t()?.contiguous();
        out.insert(format!("{p}wte.weight"), self.wte.detach());
        out.insert(format!("{p}wpe.weight"), self.wpe.detach());
        for (i, b) in self.blocks.iter().enumerate() {
            let n = |s: &str| format!("{p}h.{i}.{s}");
            let ln = |out: &mut HashMap<String, Tensor>, name: &str, l: &LayerNorm| {
                out.insert(n(&format!("{name}.weight")), l.weight().detach());
                out.insert(n(&format!("{name}.bias")), l.bias().detach());
            };
            ln(&mut out, "ln_1", &b.ln_1);
            ln(&mut out, "ln_2", &b.ln_2);
            let a = &b.attn;
            let w = Tensor::cat(&[a.q.weight()?, a.k.weight()?, a.v.weight()?], 0)?;
            out.insert(n("attn.c_attn.weight"), w.t()?.contiguous()?.detach());
            let bias = |l: &Linear| {
                l.bias().cloned().ok_or_else(|| candle_core::Error::Msg("GPT-2 has biases".into()))
            };
            out.insert(
                n("attn.c_attn.bias"),
                Tensor::cat(&[bias(&a.q)?, bias(&a.k)?, bias(&a.v)?], 0)?.detach(),
            );
            for (name, l) in [("attn.c_proj", &a.o), ("mlp.c_fc", &b.c_fc), ("mlp.c_proj", &b.c_proj)] {
                out.insert(n(&format!("{name}.weight")), conv(l)?.detach());
                out.insert(n(&format!("{name}.bias")), bias(l)?.detach());
            }
        }
        out.insert(format!("{p}ln_f.weight"), self.ln_f.weight().detach());
        out.insert(format!("{p}ln_f.bias"), self.ln_f.bias().detach());
        if self.head.decoder_weight.id() != self.wte.id() {
            out.insert("lm_head.weight".into(), self.head.decoder_weight.detach());
        }
        Ok(out)
    }

    fn box_clone(&self) -> Box<dyn Network> {
        Box::new(self.clone())
    }
}
