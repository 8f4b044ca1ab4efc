//! BART (Lewis et al., 2020, "BART: Denoising Sequence-to-Sequence Pre-training for Natural
//! Language Generation, Translation, and Comprehension", <https://arxiv.org/abs/1910.13461>): an
//! encoder–decoder of post-LayerNorm blocks with learned absolute positions (stored with an offset
//! of 2), a layer norm on the embeddings of each stack, optionally embeddings × √d_model
//! (`scale_embedding`), and an LM head tied to the shared embeddings plus `final_logits_bias`.
//!
//! A `{mask}` is BART's `<mask>` in the encoder's input; the decoder, started with
//! `decoder_start_token_id`, reconstructs the sentence, and a label word is read where it fills the
//! mask.
//!
//! References:
//! - <https://github.com/huggingface/transformers/blob/main/src/transformers/models/bart/modeling_bart.py>
//!   (`BartLearnedPositionalEmbedding`, `BartScaledWordEmbedding`, `BartAttention`,
//!   `BartEncoderLayer`, `BartDecoderLayer`, `BartEncoder`, `BartDecoder`,
//!   `BartForConditionalGeneration`)
//!
//! Weight names are the checkpoint's (`model.encoder.layers.{i}.self_attn.q_proj.weight`, …).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Module, Tensor};

use super::checks::{self, ConfigKey, ConfigKeys, Rule};
use super::decoder::{Attention, CausalMask, key_padding_bias};
use super::family::{LoadContext, ReadTensors};
use super::layers::{Activation, Dropout, LayerNorm, Linear, LmHead, ParamFn, dropout, embedding};
use super::network::{Dims, Kind, Network};
use super::weights::shaped as get;
use super::{model_cause, model_err};
use crate::error::Result;

/// config.json of a BART model, as read.
#[derive(Debug, Clone)]
pub struct Config {
    pub vocab_size: usize,
    pub d_model: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub encoder_attention_heads: usize,
    pub decoder_attention_heads: usize,
    pub encoder_ffn_dim: usize,
    pub decoder_ffn_dim: usize,
    pub max_position_embeddings: usize,
    pub activation_function: Activation,
    pub scale_embedding: bool,
    pub decoder_start_token_id: u32,
}

/// The rule each config.json number of a BART model meets.
pub const KEYS: ConfigKeys = ConfigKeys(&[
    ConfigKey { key: "vocab_size", rule: Rule::Count { min: 1, max: checks::MAX_VOCAB }, required: true },
    ConfigKey { key: "d_model", rule: Rule::Count { min: 1, max: checks::MAX_WIDTH }, required: true },
    ConfigKey {
        key: "encoder_layers",
        rule: Rule::Count { min: 1, max: checks::MAX_LAYERS },
        required: true,
    },
    ConfigKey {
        key: "decoder_layers",
        rule: Rule::Count { min: 1, max: checks::MAX_LAYERS },
        required: true,
    },
    ConfigKey {
        key: "encoder_attention_heads",
        rule: Rule::Count { min: 1, max: checks::MAX_WIDTH },
        required: true,
    },
    ConfigKey {
        key: "decoder_attention_heads",
        rule: Rule::Count { min: 1, max: checks::MAX_WIDTH },
        required: true,
    },
    ConfigKey {
        key: "encoder_ffn_dim",
        rule: Rule::Count { min: 1, max: 8 * checks::MAX_WIDTH },
        required: true,
    },
    ConfigKey {
        key: "decoder_ffn_dim",
        rule: Rule::Count { min: 1, max: 8 * checks::MAX_WIDTH },
        required: true,
    },
    ConfigKey {
        key: "max_position_embeddings",
        rule: Rule::Count { min: 1, max: checks::MAX_POSITIONS },
        required: true,
    },
    ConfigKey {
        key: "decoder_start_token_id",
        rule: Rule::Count { min: 0, max: checks::MAX_VOCAB },
        required: false,
    },
    ConfigKey { key: "dropout", rule: Rule::Probability, required: false },
    ConfigKey { key: "attention_dropout", rule: Rule::Probability, required: false },
    ConfigKey { key: "activation_dropout", rule: Rule::Probability, required: false },
]);

/// `nn.LayerNorm`'s default epsilon, which BART keeps.
const LAYER_NORM_EPS: f64 = 1e-5;

/// Learned positions are stored from index 2 on (`BartLearnedPositionalEmbedding.offset`).
const POSITION_OFFSET: usize = 2;

impl Config {
    /// Reads and checks config.json (`path` for messages).
    pub fn from_json(c: &serde_json::Value, path: &Path) -> Result<Self> {
        KEYS.check(c, path)?;
        let n = |k: &str| c[k].as_u64().map(|v| v as usize);
        let need =
            |k: &str| n(k).ok_or_else(|| checks::config_error(path, k, "is missing; a BART config names it"));
        let d_model = need("d_model")?;
        for key in ["encoder_attention_heads", "decoder_attention_heads"] {
            let heads = need(key)?;
            if !d_model.is_multiple_of(heads) {
                return Err(checks::config_error(
                    path,
                    key,
                    format!("is {heads}, which does not divide d_model {d_model}"),
                ));
            }
        }
        let act = c["activation_function"].as_str().unwrap_or("gelu");
        let activation_function = match act {
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            "silu" | "swish" => Activation::Silu,
            other => {
                return Err(checks::config_error(
                    path,
                    "activation_function",
                    format!("is {other:?}; supported: gelu, gelu_new, relu, silu"),
                ));
            }
        };
        let vocab_size = need("vocab_size")?;
        let start = n("decoder_start_token_id").unwrap_or(2);
        Ok(Self {
            vocab_size,
            d_model,
            encoder_layers: need("encoder_layers")?,
            decoder_layers: need("decoder_layers")?,
            encoder_attention_heads: need("encoder_attention_heads")?,
            decoder_attention_heads: need("decoder_attention_heads")?,
            encoder_ffn_dim: need("encoder_ffn_dim")?,
            decoder_ffn_dim: need("decoder_ffn_dim")?,
            max_position_embeddings: need("max_position_embeddings")?,
            activation_function,
            scale_embedding: c["scale_embedding"].as_bool().unwrap_or(false),
            decoder_start_token_id: checks::start_token(path, start, vocab_size)?,
        })
    }
}

/// One post-LayerNorm layer: `norm(x + self_attn(x))`, then (decoder) `norm(x + cross_attn(x))`,
/// then `norm(x + fc2(act(fc1(x))))`.
#[derive(Debug, Clone)]
pub struct Layer {
    pub self_attn: Attention,
    pub self_attn_layer_norm: LayerNorm,
    /// `encoder_attn` and `encoder_attn_layer_norm` (decoder only).
    pub cross: Option<(Attention, LayerNorm)>,
    pub fc1: Linear,
    pub fc2: Linear,
    pub final_layer_norm: LayerNorm,
}

/// The encoder or the decoder: learned positions, the embeddings' layer norm, the layers.
#[derive(Debug, Clone)]
pub struct Stack {
    /// `model.encoder` or `model.decoder`.
    pub prefix: &'static str,
    /// `[max_position_embeddings + 2, d_model]`.
    pub embed_positions: Tensor,
    pub layernorm_embedding: LayerNorm,
    pub layers: Vec<Layer>,
}

/// BartForConditionalGeneration.
#[derive(Debug, Clone)]
pub struct Bart {
    pub config: Config,
    pub shared: Tensor,
    pub encoder: Stack,
    pub decoder: Stack,
    /// Tied to `shared` unless the checkpoint unties it; its bias is `final_logits_bias`.
    pub head: LmHead,
}

fn linear(
    t: &HashMap<String, Tensor>,
    name: &str,
    in_dim: usize,
    out_dim: usize,
) -> candle_core::Result<Linear> {
    Ok(Linear::new(
        get(t, &format!("{name}.weight"), &[out_dim, in_dim])?,
        Some(get(t, &format!("{name}.bias"), &[out_dim])?),
    ))
}

fn layer_norm(t: &HashMap<String, Tensor>, name: &str, dim: usize) -> candle_core::Result<LayerNorm> {
    Ok(LayerNorm::new(
        get(t, &format!("{name}.weight"), &[dim])?,
        get(t, &format!("{name}.bias"), &[dim])?,
        LAYER_NORM_EPS,
    ))
}

impl Stack {
    fn load(t: &HashMap<String, Tensor>, cfg: &Config, prefix: &'static str) -> candle_core::Result<Self> {
        let d = cfg.d_model;
        let is_decoder = prefix == "model.decoder";
        let (layers, heads, ffn) = match is_decoder {
            true => (cfg.decoder_layers, cfg.decoder_attention_heads, cfg.decoder_ffn_dim),
            false => (cfg.encoder_layers, cfg.encoder_attention_heads, cfg.encoder_ffn_dim),
        };
        let attention = |n: &str| -> candle_core::Result<Attention> {
            let head_dim = d / heads;
            Ok(Attention {
                q: linear(t, &format!("{n}.q_proj"), d, d)?,
                k: linear(t, &format!("{n}.k_proj"), d, d)?,
                v: linear(t, &format!("{n}.v_proj"), d, d)?,
                o: linear(t, &format!("{n}.out_proj"), d, d)?,
                heads,
                kv_heads: heads,
                head_dim,
                scale: (head_dim as f64).powf(-0.5),
                rope: None,
                qk_norm: None,
            })
        };
        let mut out = Vec::with_capacity(layers);
        for i in 0..layers {
            let p = |n: &str| format!("{prefix}.layers.{i}.{n}");
            let cross = match is_decoder {
                true => {
                    Some((attention(&p("encoder_attn"))?, layer_norm(t, &p("encoder_attn_layer_norm"), d)?))
                }
                false => None,
            };
            out.push(Layer {
                self_attn: attention(&p("self_attn"))?,
                self_attn_layer_norm: layer_norm(t, &p("self_attn_layer_norm"), d)?,
                cross,
                fc1: linear(t, &p("fc1"), d, ffn)?,
                fc2: linear(t, &p("fc2"), ffn, d)?,
                final_layer_norm: layer_norm(t, &p("final_layer_norm"), d)?,
            });
        }
        Ok(Self {
            prefix,
            embed_positions: get(
                t,
                &format!("{prefix}.embed_positions.weight"),
                &[cfg.max_position_embeddings + POSITION_OFFSET, d],
            )?,
            layernorm_embedding: layer_norm(t, &format!("{prefix}.layernorm_embedding"), d)?,
            layers: out,
        })
    }

    /// The stack over token embeddings `xs` (already scaled): positions, the embeddings' norm, the
    /// layers. `self_bias` masks the self-attention; `cross` is the encoder's states and the
    /// cross-attention's mask (decoder only).
    fn forward(
        &self,
        xs: &Tensor,
        self_bias: &Tensor,
        cross: Option<(&Tensor, &Tensor)>,
        act: Activation,
        drop: Option<&Dropout>,
    ) -> candle_core::Result<Tensor> {
        let t = xs.dim(1)?;
        if t + POSITION_OFFSET > self.embed_positions.dim(0)? {
            candle_core::bail!(
                "{t} tokens are more than the {} positions BART learned",
                self.embed_positions.dim(0)? - POSITION_OFFSET
            );
        }
        let xs = xs.broadcast_add(&self.embed_positions.narrow(0, POSITION_OFFSET, t)?)?;
        let mut xs = dropout(self.layernorm_embedding.forward(&xs)?, drop)?;
        for l in &self.layers {
            let a = dropout(l.self_attn.attend(&xs, &xs, self_bias, drop)?, drop)?;
            xs = l.self_attn_layer_norm.forward(&(&xs + a)?)?;
            if let (Some((attn, norm)), Some((memory, bias))) = (&l.cross, cross) {
                let a = dropout(attn.attend(&xs, memory, bias, drop)?, drop)?;
                xs = norm.forward(&(&xs + a)?)?;
            }
            let h = l.fc1.forward_act(&xs, Some(act))?;
            let h = dropout(l.fc2.forward(&h)?, drop)?;
            xs = l.final_layer_norm.forward(&(&xs + h)?)?;
        }
        Ok(xs)
    }

    fn visit_params(&mut self, f: ParamFn) {
        let prefix = self.prefix;
        f(format!("{prefix}.embed_positions.weight"), &mut self.embed_positions);
        self.layernorm_embedding.visit_params(&format!("{prefix}.layernorm_embedding"), f);
        for (i, l) in self.layers.iter_mut().enumerate() {
            let p = |n: &str| format!("{prefix}.layers.{i}.{n}");
            let mut attention = |name: &str, a: &mut Attention| {
                for (part, lin) in
                    [("q_proj", &mut a.q), ("k_proj", &mut a.k), ("v_proj", &mut a.v), ("out_proj", &mut a.o)]
                {
                    lin.visit_params(&p(&format!("{name}.{part}")), f);
                }
            };
            attention("self_attn", &mut l.self_attn);
            if let Some((a, _)) = &mut l.cross {
                attention("encoder_attn", a);
            }
            l.self_attn_layer_norm.visit_params(&p("self_attn_layer_norm"), f);
            if let Some((_, norm)) = &mut l.cross {
                norm.visit_params(&p("encoder_attn_layer_norm"), f);
            }
            l.fc1.visit_params(&p("fc1"), f);
            l.fc2.visit_params(&p("fc2"), f);
            l.final_layer_norm.visit_params(&p("final_layer_norm"), f);
        }
    }
}

impl Bart {
    pub fn load(t: &HashMap<String, Tensor>, cfg: &Config, tie: bool) -> candle_core::Result<Self> {
        let shared = get(t, "model.shared.weight", &[cfg.vocab_size, cfg.d_model])?;
        let weight = match (tie, t.contains_key("lm_head.weight")) {
            (false, true) => get(t, "lm_head.weight", &[cfg.vocab_size, cfg.d_model])?,
            _ => shared.clone(),
        };
        // `final_logits_bias` is `[1, vocab]` in the checkpoint (a zero buffer when absent).
        let bias = match t.contains_key("final_logits_bias") {
            true => Some(get(t, "final_logits_bias", &[1, cfg.vocab_size])?.reshape(cfg.vocab_size)?),
            false => None,
        };
        Ok(Self {
            config: cfg.clone(),
            encoder: Stack::load(t, cfg, "model.encoder")?,
            decoder: Stack::load(t, cfg, "model.decoder")?,
            shared,
            head: LmHead::linear(weight, bias),
        })
    }

    /// Token embeddings as BART feeds them to a stack (× √d_model with `scale_embedding`).
    fn scaled(&self, embeds: &Tensor) -> candle_core::Result<Tensor> {
        match self.config.scale_embedding {
            true => embeds * (self.config.d_model as f64).sqrt(),
            false => Ok(embeds.clone()),
        }
    }
}

/// The registry's loader for BART checkpoints ([`super::family`]).
pub fn load(ctx: &LoadContext, read: ReadTensors) -> Result<Box<dyn Network>> {
    let cfg = Config::from_json(ctx.config, ctx.config_path)?;
    let tie = ctx.config["tie_word_embeddings"].as_bool() != Some(false);
    let mut tensors = read()?;
    if !super::weights::shared_embeddings(
        &mut tensors,
        "model.shared.weight",
        "model.encoder.embed_tokens.weight",
    ) {
        return Err(model_err(
            ctx.weights_path,
            "no model.shared.weight (nor model.encoder.embed_tokens.weight): not a \
             BartForConditionalGeneration checkpoint",
        ));
    }
    let model = Bart::load(&tensors, &cfg, tie)
        .map_err(|e| model_cause(ctx.weights_path, "the weights do not match config.json (BART)", e))?;
    Ok(Box::new(model))
}

impl Network for Bart {
    fn kind(&self) -> Kind {
        Kind::EncoderDecoder
    }

    fn dims(&self) -> Dims {
        let c = &self.config;
        Dims {
            hidden_size: c.d_model,
            layers: c.encoder_layers,
            heads: c.encoder_attention_heads,
            kv_heads: c.encoder_attention_heads,
            vocab_size: c.vocab_size,
            max_len: c.max_position_embeddings,
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
        let bias = key_padding_bias(attention_mask, inputs_embeds.dtype())?;
        self.encoder.forward(&self.scaled(inputs_embeds)?, &bias, None, self.config.activation_function, drop)
    }

    fn decode(
        &self,
        encoder_states: &Tensor,
        encoder_mask: &Tensor,
        decoder_embeds: &Tensor,
        decoder_mask: &Tensor,
        drop: Option<&Dropout>,
    ) -> candle_core::Result<Tensor> {
        let dtype = decoder_embeds.dtype();
        let self_bias = CausalMask::new(decoder_mask, dtype)?.additive;
        let cross_bias = key_padding_bias(encoder_mask, dtype)?;
        self.decoder.forward(
            &self.scaled(decoder_embeds)?,
            &self_bias,
            Some((encoder_states, &cross_bias)),
            self.config.activation_function,
            drop,
        )
    }

    fn head(&self) -> Option<&LmHead> {
        Some(&self.head)
    }

    fn visit_params(&mut self, f: ParamFn) {
        f("model.shared.weight".into(), &mut self.shared);
        self.encoder.visit_params(f);
        self.decoder.visit_params(f);
        f("lm_head.weight".into(), &mut self.head.decoder_weight);
        if let Some(b) = &mut self.head.decoder_bias {
            f("final_logits_bias".into(), b);
        }
    }

    fn checkpoint_tensors(&self) -> candle_core::Result<HashMap<String, Tensor>> {
        // A tied head is written once, as `model.shared.weight`; `final_logits_bias` gets back its
        // leading dimension.
        let mut out = super::weights::by_engine_names(self);
        if let Some(b) = out.get_mut("final_logits_bias") {
            *b = b.reshape((1, self.config.vocab_size))?;
        }
        Ok(out)
    }

    fn box_clone(&self) -> Box<dyn Network> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#""vocab_size":10,"d_model":8,"encoder_layers":1,"decoder_layers":1,"encoder_ffn_dim":16,"decoder_ffn_dim":16,"max_position_embeddings":32"#;

    #[test]
    fn configs_are_checked_before_use() {
        let heads = r#""encoder_attention_heads":2,"decoder_attention_heads":2"#;
        let cases: [(String, Option<&str>); 7] = [
            (format!("{{{BASE},{heads}}}"), None),
            (
                format!(r#"{{{BASE},"encoder_attention_heads":3,"decoder_attention_heads":2}}"#),
                Some("does not divide d_model 8"),
            ),
            (format!(r#"{{{BASE},{heads},"activation_function":"mish"}}"#), Some("supported: gelu")),
            (format!(r#"{{{BASE},{heads},"decoder_start_token_id":99}}"#), Some("outside the vocabulary")),
            (format!(r#"{{{BASE},{heads},"dropout":1.5}}"#), Some("`dropout` is 1.5")),
            (format!(r#"{{{BASE},{heads},"max_position_embeddings":-1}}"#), Some("whole number")),
            (r#"{"vocab_size":10,"d_model":8}"#.into(), Some("no `encoder_layers`")),
        ];
        for (json, err) in cases {
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            match (Config::from_json(&v, Path::new("config.json")), err) {
                (Ok(c), None) => assert_eq!(c.decoder_start_token_id, 2),
                (Err(e), Some(want)) => assert!(e.to_string().contains(want), "{json}: {e}"),
                (got, want) => panic!("{json}: got {got:?}, wanted error {want:?}"),
            }
        }
    }
}
