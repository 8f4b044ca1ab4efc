//! T5 (Raffel et al., 2020, "Exploring the Limits of Transfer Learning with a Unified Text-to-Text
//! Transformer", <https://arxiv.org/abs/1910.10683>): an encoder–decoder with pre-norm blocks,
//! T5's RMS layer norm (scale only, no mean, no bias), no scaling of attention scores and relative
//! position buckets in place of absolute positions — bidirectional in the encoder, causal in the
//! decoder, one bias table per stack held by its first block. Both layouts: v1.0 (ReLU
//! feed-forward, embeddings tied to the LM head, decoder output × d_model^-0.5 before it) and
//! v1.1 / Flan-T5 / mT5 (gated-GELU feed-forward, its own `lm_head.weight`, no output scaling).
//!
//! A `{mask}` is the sentinel `<extra_id_0>` in the encoder's input; a label word is scored as
//! the decoder's continuation after `[decoder_start, <extra_id_0>]`.
//!
//! References:
//! - <https://github.com/huggingface/transformers/blob/main/src/transformers/models/t5/modeling_t5.py>
//!   (`T5LayerNorm`, `T5DenseActDense`, `T5DenseGatedActDense`, `T5Attention` with
//!   `_relative_position_bucket` and `compute_bias`, `T5Block`, `T5Stack`,
//!   `T5ForConditionalGeneration`)
//! - <https://github.com/huggingface/transformers/blob/main/src/transformers/models/t5/configuration_t5.py>
//!   (`feed_forward_proj`, and `scale_decoder_outputs`, which transformers 5 derives from
//!   `tie_word_embeddings` and writes to config.json)
//!
//! Weight names are the checkpoint's (`encoder.block.{i}.layer.0.SelfAttention.q.weight`, …).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Module, Tensor};

use super::checks::{self, ConfigKey, ConfigKeys, Rule};
use super::decoder::{Attention, CausalMask, RmsNorm, key_padding_bias};
use super::family::{LoadContext, ReadTensors};
use super::layers::{Activation, Dropout, Linear, LmHead, ParamFn, dropout, embedding};
use super::network::{Dims, Kind, Network};
use super::weights::shaped as get;
use super::{model_cause, model_err};
use crate::error::Result;

/// config.json of a T5 model, as read.
#[derive(Debug, Clone)]
pub struct Config {
    pub vocab_size: usize,
    pub d_model: usize,
    pub d_kv: usize,
    pub d_ff: usize,
    pub num_layers: usize,
    pub num_decoder_layers: usize,
    pub num_heads: usize,
    pub relative_attention_num_buckets: usize,
    pub relative_attention_max_distance: usize,
    pub layer_norm_epsilon: f64,
    /// `feed_forward_proj`: the activation, and whether it gates a second projection.
    pub activation: Activation,
    pub gated: bool,
    /// Decoder output × d_model^-0.5 before the LM head (v1.0, tied embeddings).
    pub scale_decoder_outputs: bool,
    pub decoder_start_token_id: Option<u32>,
    /// The longest input the engine gives the model.
    pub max_len: usize,
}

/// The rule each config.json number of a T5 model meets.
pub const KEYS: ConfigKeys = ConfigKeys(&[
    ConfigKey { key: "vocab_size", rule: Rule::Count { min: 1, max: checks::MAX_VOCAB }, required: true },
    ConfigKey { key: "d_model", rule: Rule::Count { min: 1, max: checks::MAX_WIDTH }, required: true },
    ConfigKey { key: "d_kv", rule: Rule::Count { min: 1, max: checks::MAX_WIDTH }, required: true },
    ConfigKey { key: "d_ff", rule: Rule::Count { min: 1, max: 8 * checks::MAX_WIDTH }, required: true },
    ConfigKey { key: "num_layers", rule: Rule::Count { min: 1, max: checks::MAX_LAYERS }, required: true },
    ConfigKey {
        key: "num_decoder_layers",
        rule: Rule::Count { min: 1, max: checks::MAX_LAYERS },
        required: false,
    },
    ConfigKey { key: "num_heads", rule: Rule::Count { min: 1, max: checks::MAX_WIDTH }, required: true },
    ConfigKey {
        key: "relative_attention_num_buckets",
        rule: Rule::Count { min: 4, max: 4096 },
        required: false,
    },
    ConfigKey {
        key: "relative_attention_max_distance",
        rule: Rule::Count { min: 1, max: checks::MAX_POSITIONS },
        required: false,
    },
    ConfigKey {
        key: "n_positions",
        rule: Rule::Count { min: 1, max: checks::MAX_POSITIONS },
        required: false,
    },
    ConfigKey {
        key: "decoder_start_token_id",
        rule: Rule::Count { min: 0, max: checks::MAX_VOCAB },
        required: false,
    },
    ConfigKey { key: "pad_token_id", rule: Rule::Count { min: 0, max: checks::MAX_VOCAB }, required: false },
    ConfigKey { key: "layer_norm_epsilon", rule: Rule::Epsilon, required: false },
    ConfigKey { key: "dropout_rate", rule: Rule::Probability, required: false },
]);

/// The longest input when config.json names none (`n_positions`): T5's pretraining length.
const DEFAULT_MAX_LEN: usize = 512;

impl Config {
    /// Reads and checks config.json (`path` for messages).
    pub fn from_json(c: &serde_json::Value, path: &Path) -> Result<Self> {
        KEYS.check(c, path)?;
        let n = |k: &str| c[k].as_u64().map(|v| v as usize);
        let need =
            |k: &str| n(k).ok_or_else(|| checks::config_error(path, k, "is missing; a T5 config names it"));
        let vocab_size = need("vocab_size")?;
        let num_layers = need("num_layers")?;
        let buckets = n("relative_attention_num_buckets").unwrap_or(32);
        let max_distance = n("relative_attention_max_distance").unwrap_or(128);
        if max_distance <= buckets / 2 {
            return Err(checks::config_error(
                path,
                "relative_attention_max_distance",
                format!(
                    "is {max_distance}; it must exceed half of relative_attention_num_buckets ({buckets}) \
                     for the logarithmic buckets to cover longer distances (T5 uses 128 with 32 buckets)"
                ),
            ));
        }
        let proj = c["feed_forward_proj"].as_str().unwrap_or("relu");
        let (gated, activation) = feed_forward(proj).ok_or_else(|| {
            checks::config_error(
                path,
                "feed_forward_proj",
                format!(
                    "is {proj:?}; supported: relu, gelu, gelu_new, silu, or gated-ACT with one of them \
                     (gated-gelu for T5 v1.1 / Flan-T5)"
                ),
            )
        })?;
        // transformers 5 writes `scale_decoder_outputs`; older configs say it through
        // `tie_word_embeddings` (true unless set to false, as in T5Config).
        let scale_decoder_outputs =
            c["scale_decoder_outputs"].as_bool().unwrap_or(c["tie_word_embeddings"].as_bool() != Some(false));
        let start = n("decoder_start_token_id").or(n("pad_token_id")).unwrap_or(0);
        Ok(Self {
            vocab_size,
            d_model: need("d_model")?,
            d_kv: need("d_kv")?,
            d_ff: need("d_ff")?,
            num_layers,
            num_decoder_layers: n("num_decoder_layers").unwrap_or(num_layers),
            num_heads: need("num_heads")?,
            relative_attention_num_buckets: buckets,
            relative_attention_max_distance: max_distance,
            layer_norm_epsilon: c["layer_norm_epsilon"].as_f64().unwrap_or(1e-6),
            activation,
            gated,
            scale_decoder_outputs,
            decoder_start_token_id: Some(checks::start_token(path, start, vocab_size)?),
            max_len: n("n_positions").unwrap_or(DEFAULT_MAX_LEN),
        })
    }
}

/// `feed_forward_proj`: `ACT` or `gated-ACT` (T5Config: "gated-gelu" means the tanh GELU).
fn feed_forward(proj: &str) -> Option<(bool, Activation)> {
    let (gated, act) = match proj.split_once('-') {
        Some(("gated", act)) => (true, act),
        Some(_) => return None,
        None => (false, proj),
    };
    let activation = match act {
        "gelu" if gated => Activation::GeluTanh,
        "gelu" => Activation::Gelu,
        "gelu_new" | "gelu_pytorch_tanh" => Activation::GeluTanh,
        "relu" => Activation::Relu,
        "silu" | "swish" => Activation::Silu,
        _ => return None,
    };
    Some((gated, activation))
}

/// T5's bucket of a relative position `key - query` (`_relative_position_bucket`): exact buckets
/// for small distances, logarithmic ones up to `max_distance`; the encoder's buckets are split
/// between both directions, the decoder's cover only the past.
pub fn relative_position_bucket(
    rel: i64,
    bidirectional: bool,
    num_buckets: usize,
    max_distance: usize,
) -> u32 {
    let mut buckets = num_buckets as i64;
    let mut bucket = 0i64;
    let distance = if bidirectional {
        buckets /= 2;
        if rel > 0 {
            bucket += buckets;
        }
        rel.abs()
    } else {
        (-rel).max(0)
    };
    let max_exact = buckets / 2;
    if distance < max_exact {
        return (bucket + distance) as u32;
    }
    // As transformers computes it: in f32, truncated towards zero.
    let log_ratio = (max_distance as f64 / max_exact as f64).ln() as f32;
    let large = (distance as f32 / max_exact as f32).ln() / log_ratio * (buckets - max_exact) as f32;
    (bucket + (max_exact + large as i64).min(buckets - 1)) as u32
}

/// The T5 feed-forward: `wo(act(wi x))`, or `wo(act(wi_0 x) * wi_1 x)` when gated.
#[derive(Debug, Clone)]
pub struct FeedForward {
    /// `wi` (plain) or `wi_0` (gated).
    pub wi: Linear,
    /// `wi_1`, when gated.
    pub wi_1: Option<Linear>,
    pub wo: Linear,
}

/// One T5 block: self-attention, cross-attention (decoder only), feed-forward, each as
/// `x + sublayer(layer_norm(x))`.
#[derive(Debug, Clone)]
pub struct Block {
    pub self_norm: RmsNorm,
    pub self_attn: Attention,
    pub cross: Option<(RmsNorm, Attention)>,
    pub ff_norm: RmsNorm,
    pub ff: FeedForward,
}

/// The encoder or the decoder: blocks, the relative position bias table of its first block
/// (`[buckets, heads]`, shared by every block) and the final layer norm.
#[derive(Debug, Clone)]
pub struct Stack {
    /// `encoder` or `decoder`.
    pub name: &'static str,
    pub blocks: Vec<Block>,
    pub relative_attention_bias: Tensor,
    pub final_layer_norm: RmsNorm,
}

/// T5ForConditionalGeneration.
#[derive(Debug, Clone)]
pub struct T5 {
    pub config: Config,
    pub shared: Tensor,
    pub encoder: Stack,
    pub decoder: Stack,
    pub head: LmHead,
}

fn linear(
    t: &HashMap<String, Tensor>,
    name: &str,
    in_dim: usize,
    out_dim: usize,
) -> candle_core::Result<Linear> {
    Ok(Linear::new(get(t, &format!("{name}.weight"), &[out_dim, in_dim])?, None))
}

impl Stack {
    fn load(t: &HashMap<String, Tensor>, cfg: &Config, name: &'static str) -> candle_core::Result<Self> {
        let (d, inner, eps) = (cfg.d_model, cfg.num_heads * cfg.d_kv, cfg.layer_norm_epsilon);
        let is_decoder = name == "decoder";
        let norm = |n: &str| -> candle_core::Result<RmsNorm> {
            Ok(RmsNorm { weight: get(t, &format!("{n}.weight"), &[d])?, eps, plus_one: false })
        };
        let attention = |n: &str| -> candle_core::Result<Attention> {
            Ok(Attention {
                q: linear(t, &format!("{n}.q"), d, inner)?,
                k: linear(t, &format!("{n}.k"), d, inner)?,
                v: linear(t, &format!("{n}.v"), d, inner)?,
                o: linear(t, &format!("{n}.o"), inner, d)?,
                heads: cfg.num_heads,
                kv_heads: cfg.num_heads,
                head_dim: cfg.d_kv,
                // T5 folds the scale into its initialisation: scores are not scaled.
                scale: 1.0,
                rope: None,
                qk_norm: None,
            })
        };
        let layers = if is_decoder { cfg.num_decoder_layers } else { cfg.num_layers };
        let mut blocks = Vec::with_capacity(layers);
        for i in 0..layers {
            let p = |n: &str| format!("{name}.block.{i}.layer.{n}");
            let ff_index = if is_decoder { 2 } else { 1 };
            let f = |n: &str| p(&format!("{ff_index}.{n}"));
            let ff = if cfg.gated {
                FeedForward {
                    wi: linear(t, &f("DenseReluDense.wi_0"), d, cfg.d_ff)?,
                    wi_1: Some(linear(t, &f("DenseReluDense.wi_1"), d, cfg.d_ff)?),
                    wo: linear(t, &f("DenseReluDense.wo"), cfg.d_ff, d)?,
                }
            } else {
                FeedForward {
                    wi: linear(t, &f("DenseReluDense.wi"), d, cfg.d_ff)?,
                    wi_1: None,
                    wo: linear(t, &f("DenseReluDense.wo"), cfg.d_ff, d)?,
                }
            };
            let cross = match is_decoder {
                true => Some((norm(&p("1.layer_norm"))?, attention(&p("1.EncDecAttention"))?)),
                false => None,
            };
            blocks.push(Block {
                self_norm: norm(&p("0.layer_norm"))?,
                self_attn: attention(&p("0.SelfAttention"))?,
                cross,
                ff_norm: norm(&f("layer_norm"))?,
                ff,
            });
        }
        Ok(Self {
            name,
            blocks,
            relative_attention_bias: get(
                t,
                &format!("{name}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"),
                &[cfg.relative_attention_num_buckets, cfg.num_heads],
            )?,
            final_layer_norm: norm(&format!("{name}.final_layer_norm"))?,
        })
    }

    /// The relative position bias `[1, heads, q_len, k_len]` (`compute_bias`).
    fn position_bias(&self, cfg: &Config, q_len: usize, k_len: usize) -> candle_core::Result<Tensor> {
        let bidirectional = self.name == "encoder";
        let mut ids = Vec::with_capacity(q_len * k_len);
        for q in 0..q_len as i64 {
            for k in 0..k_len as i64 {
                ids.push(relative_position_bucket(
                    k - q,
                    bidirectional,
                    cfg.relative_attention_num_buckets,
                    cfg.relative_attention_max_distance,
                ));
            }
        }
        let ids = Tensor::from_vec(ids, q_len * k_len, self.relative_attention_bias.device())?;
        self.relative_attention_bias
            .index_select(&ids, 0)?
            .reshape((q_len, k_len, cfg.num_heads))?
            .permute((2, 0, 1))?
            .unsqueeze(0)
    }

    /// The stack over `xs`; `self_bias` is the self-attention's mask plus position bias, `cross`
    /// the encoder's states and the cross-attention's mask (decoder only).
    fn forward(
        &self,
        xs: &Tensor,
        self_bias: &Tensor,
        cross: Option<(&Tensor, &Tensor)>,
        act: Activation,
        drop: Option<&Dropout>,
    ) -> candle_core::Result<Tensor> {
        let mut xs = dropout(xs.clone(), drop)?;
        for b in &self.blocks {
            let h = b.self_norm.forward(&xs)?;
            xs = (&xs + dropout(b.self_attn.attend(&h, &h, self_bias, drop)?, drop)?)?;
            if let (Some((norm, attn)), Some((memory, bias))) = (&b.cross, cross) {
                let h = norm.forward(&xs)?;
                xs = (&xs + dropout(attn.attend(&h, memory, bias, drop)?, drop)?)?;
            }
            let h = b.ff_norm.forward(&xs)?;
            let mut inner = b.ff.wi.forward_act(&h, Some(act))?;
            if let Some(wi_1) = &b.ff.wi_1 {
                inner = (inner * wi_1.forward(&h)?)?;
            }
            let ff = b.ff.wo.forward(&dropout(inner, drop)?)?;
            xs = (&xs + dropout(ff, drop)?)?;
        }
        dropout(self.final_layer_norm.forward(&xs)?, drop)
    }

    fn visit_params(&mut self, gated: bool, f: ParamFn) {
        let name = self.name;
        let is_decoder = name == "decoder";
        for (i, b) in self.blocks.iter_mut().enumerate() {
            let p = |n: &str| format!("{name}.block.{i}.layer.{n}");
            b.self_norm.visit_params(&p("0.layer_norm"), f);
            for (part, l) in [("q", &mut b.self_attn.q), ("k", &mut b.self_attn.k), ("v", &mut b.self_attn.v)]
            {
                l.visit_params(&p(&format!("0.SelfAttention.{part}")), f);
            }
            b.self_attn.o.visit_params(&p("0.SelfAttention.o"), f);
            if i == 0 {
                f(p("0.SelfAttention.relative_attention_bias.weight"), &mut self.relative_attention_bias);
            }
            if let Some((norm, attn)) = &mut b.cross {
                norm.visit_params(&p("1.layer_norm"), f);
                for (part, l) in
                    [("q", &mut attn.q), ("k", &mut attn.k), ("v", &mut attn.v), ("o", &mut attn.o)]
                {
                    l.visit_params(&p(&format!("1.EncDecAttention.{part}")), f);
                }
            }
            let ff_index = if is_decoder { 2 } else { 1 };
            let ff = |n: &str| p(&format!("{ff_index}.{n}"));
            b.ff_norm.visit_params(&ff("layer_norm"), f);
            let wi = if gated { "DenseReluDense.wi_0" } else { "DenseReluDense.wi" };
            b.ff.wi.visit_params(&ff(wi), f);
            if let Some(wi_1) = &mut b.ff.wi_1 {
                wi_1.visit_params(&ff("DenseReluDense.wi_1"), f);
            }
            b.ff.wo.visit_params(&ff("DenseReluDense.wo"), f);
        }
        self.final_layer_norm.visit_params(&format!("{name}.final_layer_norm"), f);
    }
}

impl T5 {
    pub fn load(t: &HashMap<String, Tensor>, cfg: &Config) -> candle_core::Result<Self> {
        let shared = get(t, "shared.weight", &[cfg.vocab_size, cfg.d_model])?;
        // v1.1 / Flan-T5 / mT5 keep their own LM head; v1.0 ties it to the embeddings.
        let head_weight = match t.contains_key("lm_head.weight") {
            true => get(t, "lm_head.weight", &[cfg.vocab_size, cfg.d_model])?,
            false => shared.clone(),
        };
        let mut head = LmHead::linear(head_weight, None);
        if cfg.scale_decoder_outputs {
            head.input_scale = Some((cfg.d_model as f64).powf(-0.5));
        }
        Ok(Self {
            config: cfg.clone(),
            encoder: Stack::load(t, cfg, "encoder")?,
            decoder: Stack::load(t, cfg, "decoder")?,
            shared,
            head,
        })
    }
}

/// The registry's loader for T5 checkpoints ([`super::family`]).
pub fn load(ctx: &LoadContext, read: ReadTensors) -> Result<Box<dyn Network>> {
    let cfg = Config::from_json(ctx.config, ctx.config_path)?;
    let mut tensors = read()?;
    if !super::weights::shared_embeddings(&mut tensors, "shared.weight", "encoder.embed_tokens.weight") {
        return Err(model_err(
            ctx.weights_path,
            "no shared.weight (nor encoder.embed_tokens.weight): not a T5 checkpoint",
        ));
    }
    if !tensors.contains_key("decoder.final_layer_norm.weight") {
        return Err(model_err(
            ctx.weights_path,
            "no decoder weights (decoder.final_layer_norm.weight): this is an encoder-only T5 export \
             (T5EncoderModel), which cannot fill a {mask}; use the T5ForConditionalGeneration checkpoint",
        ));
    }
    let model = T5::load(&tensors, &cfg)
        .map_err(|e| model_cause(ctx.weights_path, "the weights do not match config.json (T5)", e))?;
    Ok(Box::new(model))
}

impl Network for T5 {
    fn kind(&self) -> Kind {
        Kind::EncoderDecoder
    }

    fn dims(&self) -> Dims {
        let c = &self.config;
        Dims {
            hidden_size: c.d_model,
            layers: c.num_layers,
            heads: c.num_heads,
            kv_heads: c.num_heads,
            vocab_size: c.vocab_size,
            max_len: c.max_len,
        }
    }

    fn word_embeddings(&self) -> &Tensor {
        &self.shared
    }

    fn embed_tokens(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        embedding(&self.shared, ids)
    }

    fn forward(
        &self,
        inputs_embeds: &Tensor,
        attention_mask: &Tensor,
        drop: Option<&Dropout>,
    ) -> candle_core::Result<Tensor> {
        let t = inputs_embeds.dim(1)?;
        let bias = self
            .encoder
            .position_bias(&self.config, t, t)?
            .broadcast_add(&key_padding_bias(attention_mask, inputs_embeds.dtype())?)?;
        self.encoder.forward(inputs_embeds, &bias, None, self.config.activation, drop)
    }

    fn decode(
        &self,
        encoder_states: &Tensor,
        encoder_mask: &Tensor,
        decoder_embeds: &Tensor,
        decoder_mask: &Tensor,
        drop: Option<&Dropout>,
    ) -> candle_core::Result<Tensor> {
        let t = decoder_embeds.dim(1)?;
        let dtype = decoder_embeds.dtype();
        let self_bias = self
            .decoder
            .position_bias(&self.config, t, t)?
            .broadcast_add(&CausalMask::new(decoder_mask, dtype)?.additive)?;
        let cross_bias = key_padding_bias(encoder_mask, dtype)?;
        self.decoder.forward(
            decoder_embeds,
            &self_bias,
            Some((encoder_states, &cross_bias)),
            self.config.activation,
            drop,
        )
    }

    fn head(&self) -> Option<&LmHead> {
        Some(&self.head)
    }

    fn visit_params(&mut self, f: ParamFn) {
        f("shared.weight".into(), &mut self.shared);
        self.encoder.visit_params(self.config.gated, f);
        self.decoder.visit_params(self.config.gated, f);
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

    const BASE: &str = r#""vocab_size":10,"d_model":8,"d_kv":4,"d_ff":16,"num_layers":1,"num_heads":2"#;

    #[test]
    fn configs_are_checked_before_use() {
        let cases: [(String, Option<&str>); 9] = [
            (format!("{{{BASE}}}"), None),
            (format!(r#"{{{BASE},"feed_forward_proj":"gated-gelu"}}"#), None),
            (
                format!(r#"{{{BASE},"feed_forward_proj":"gated-tanh"}}"#),
                Some("`feed_forward_proj` is \"gated-tanh\""),
            ),
            (format!(r#"{{{BASE},"feed_forward_proj":"double-gated-gelu"}}"#), Some("supported: relu")),
            (
                r#"{"vocab_size":10,"d_model":8,"d_ff":16,"num_layers":1,"num_heads":2}"#.into(),
                Some("no `d_kv`"),
            ),
            (format!(r#"{{{BASE},"relative_attention_num_buckets":2}}"#), Some("from 4 to 4096")),
            (format!(r#"{{{BASE},"relative_attention_max_distance":16}}"#), Some("must exceed half")),
            (format!(r#"{{{BASE},"decoder_start_token_id":10}}"#), Some("outside the vocabulary")),
            (format!(r#"{{{BASE},"num_layers":1e9}}"#), Some("whole number from 1 to 1024")),
        ];
        for (json, err) in cases {
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            match (Config::from_json(&v, Path::new("config.json")), err) {
                (Ok(_), None) => {}
                (Err(e), Some(want)) => assert!(e.to_string().contains(want), "{json}: {e}"),
                (got, want) => panic!("{json}: got {got:?}, wanted error {want:?}"),
            }
        }
    }

    #[test]
    fn output_scaling_follows_the_config() {
        // (extra keys, scale the decoder output)
        let cases = [
            ("", true),
            (r#","tie_word_embeddings":false"#, false),
            (r#","tie_word_embeddings":true"#, true),
            (r#","tie_word_embeddings":true,"scale_decoder_outputs":false"#, false),
        ];
        for (extra, scale) in cases {
            let v: serde_json::Value = serde_json::from_str(&format!("{{{BASE}{extra}}}")).unwrap();
            assert_eq!(
                Config::from_json(&v, Path::new("config.json")).unwrap().scale_decoder_outputs,
                scale,
                "{extra}"
            );
        }
    }

    #[test]
    fn relative_positions_fall_in_transformers_buckets() {
        // Values of transformers' `_relative_position_bucket` (32 buckets, max distance 128).
        let cases = [
            (0, true, 0),
            (3, true, 19),
            (-3, true, 3),
            (7, true, 23),
            (8, true, 24),
            (-20, true, 10),
            (200, true, 31),
            (-200, true, 15),
            (5, false, 0),
            (-5, false, 5),
            (-16, false, 16),
            (-40, false, 23),
            (-500, false, 31),
        ];
        for (rel, bidirectional, want) in cases {
            assert_eq!(relative_position_bucket(rel, bidirectional, 32, 128), want, "{rel} {bidirectional}");
        }
    }
}
