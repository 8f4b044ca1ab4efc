//! Building blocks shared by the encoder families: linear, layer norm, self-attention and the
//! post-LayerNorm transformer block of BERT (Devlin et al., 2019), which RoBERTa and DistilBERT
//! keep.
//!
//! Reference: <https://github.com/huggingface/transformers/blob/main/src/transformers/models/bert/modeling_bert.py>
//!
//! Inference uses candle's fused `layer_norm` and `softmax_last_dim`. Those have no backward pass:
//! training code (step 5) must switch to the composed, differentiable forms.

use candle_core::{D, DType, Module, Tensor};
use candle_nn::VarBuilder;

/// The activation named by `hidden_act` / `activation` in config.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub enum Activation {
    /// Exact GELU with erf, what transformers calls "gelu".
    #[serde(rename = "gelu")]
    Gelu,
    /// The tanh approximation ("gelu_new", "gelu_pytorch_tanh", "gelu_fast").
    #[serde(alias = "gelu_new", alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluTanh,
    #[serde(rename = "relu")]
    Relu,
    #[serde(alias = "swish", rename = "silu")]
    Silu,
}

impl Activation {
    pub fn forward(self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Activation::Gelu => xs.gelu_erf(),
            Activation::GeluTanh => xs.gelu(),
            Activation::Relu => xs.relu(),
            Activation::Silu => xs.silu(),
        }
    }
}

/// `y = x Wᵀ + b`, computed as one 2-D matrix product whatever the leading dimensions of `x`.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { weight, bias }
    }

    /// Loads `{prefix}.weight` `[out, in]` and `{prefix}.bias` `[out]`.
    pub fn load(vb: VarBuilder, in_dim: usize, out_dim: usize) -> candle_core::Result<Self> {
        let weight = vb.get((out_dim, in_dim), "weight")?;
        let bias = vb.get(out_dim, "bias")?;
        Ok(Self { weight, bias: Some(bias) })
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let dims = xs.dims();
        let in_dim = dims[dims.len() - 1];
        let rows = xs.elem_count() / in_dim;
        let x2 = xs.reshape((rows, in_dim))?;
        let mut y = x2.matmul(&self.weight.t()?)?;
        if let Some(b) = &self.bias {
            y = y.broadcast_add(b)?;
        }
        let mut out_dims = dims.to_vec();
        *out_dims.last_mut().expect("non-empty dims") = self.weight.dim(0)?;
        y.reshape(out_dims)
    }
}

/// Layer normalisation over the last dimension, with weight and bias.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// Loads `{prefix}.weight` and `{prefix}.bias` (older checkpoints' `gamma` / `beta` are renamed
    /// when the weights are read, see `weights.rs`).
    pub fn load(vb: VarBuilder, dim: usize, eps: f64) -> candle_core::Result<Self> {
        Ok(Self { weight: vb.get(dim, "weight")?, bias: vb.get(dim, "bias")?, eps })
    }
}

impl Module for LayerNorm {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let xs = if xs.is_contiguous() { xs.clone() } else { xs.contiguous()? };
        candle_nn::ops::layer_norm(&xs, &self.weight, &self.bias, self.eps as f32)
    }
}

/// Multi-head self-attention with the query, key and value projections fused into one matrix.
/// The 1/√d scale is folded into the query projection at load time.
#[derive(Debug, Clone)]
pub struct SelfAttention {
    qkv: Linear,
    out: Linear,
    num_heads: usize,
    head_dim: usize,
}

impl SelfAttention {
    /// Builds the fused projection from the three separate checkpoint projections.
    pub fn from_parts(
        q: Linear,
        k: Linear,
        v: Linear,
        out: Linear,
        num_heads: usize,
    ) -> candle_core::Result<Self> {
        let hidden = q.weight.dim(0)?;
        if hidden % num_heads != 0 {
            candle_core::bail!("hidden size {hidden} is not a multiple of the number of heads {num_heads}");
        }
        let head_dim = hidden / num_heads;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let bias = |l: &Linear| -> candle_core::Result<Tensor> {
            match &l.bias {
                Some(b) => Ok(b.clone()),
                None => Tensor::zeros(l.weight.dim(0)?, l.weight.dtype(), l.weight.device()),
            }
        };
        let weight = Tensor::cat(&[(&q.weight * scale)?, k.weight.clone(), v.weight.clone()], 0)?;
        let b = Tensor::cat(&[(bias(&q)? * scale)?, bias(&k)?, bias(&v)?], 0)?;
        Ok(Self { qkv: Linear::new(weight, Some(b)), out, num_heads, head_dim })
    }

    /// `xs`: `[batch, seq, hidden]`; `mask`: additive `[batch, 1, 1, seq]` (0 or a large negative
    /// number), or `None` when no position is padding.
    pub fn forward(&self, xs: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let (b, t, h) = xs.dims3()?;
        let qkv = self.qkv.forward(xs)?.reshape((b, t, 3, self.num_heads, self.head_dim))?;
        let qkv = qkv.permute((2, 0, 3, 1, 4))?; // [3, b, heads, t, head_dim]
        let q = qkv.get(0)?.contiguous()?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let scores = q.matmul(&k.t()?)?;
        let scores = match mask {
            Some(m) => scores.broadcast_add(m)?,
            None => scores,
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs.matmul(&v)?; // [b, heads, t, head_dim]
        let ctx = ctx.transpose(1, 2)?.contiguous()?.reshape((b, t, h))?;
        self.out.forward(&ctx)
    }
}

/// A post-LayerNorm transformer block: attention, add & norm, feed-forward, add & norm.
#[derive(Debug, Clone)]
pub struct PostNormBlock {
    pub attention: SelfAttention,
    pub attention_norm: LayerNorm,
    pub ffn_in: Linear,
    pub ffn_out: Linear,
    pub ffn_norm: LayerNorm,
    pub activation: Activation,
}

impl PostNormBlock {
    pub fn forward(&self, xs: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let attn = self.attention.forward(xs, mask)?;
        let xs = self.attention_norm.forward(&(attn + xs)?)?;
        let ff = self.activation.forward(&self.ffn_in.forward(&xs)?)?;
        let ff = self.ffn_out.forward(&ff)?;
        self.ffn_norm.forward(&(ff + xs)?)
    }
}

/// Turns a `[batch, seq]` 0/1 attention mask into the additive `[batch, 1, 1, seq]` form, or `None`
/// when nothing is masked (saves a broadcast add per layer).
pub fn additive_mask(attention_mask: &Tensor, dtype: DType) -> candle_core::Result<Option<Tensor>> {
    let (b, t) = attention_mask.dims2()?;
    let total = attention_mask.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()?;
    if total as usize == b * t {
        return Ok(None);
    }
    let keep = attention_mask.to_dtype(dtype)?;
    // (1 - keep) * large negative; f32::MIN would overflow when added to scores.
    let neg = ((keep.ones_like()? - keep)? * -1e30f64)?;
    Ok(Some(neg.reshape((b, 1, 1, t))?))
}

/// The MLM prediction head shared by BERT, RoBERTa and DistilBERT: dense, activation, layer norm,
/// then a decoder tied to the word embeddings, with its own bias.
#[derive(Debug, Clone)]
pub struct MlmHead {
    pub dense: Linear,
    pub activation: Activation,
    pub norm: LayerNorm,
    /// `[vocab, hidden]`, usually the word-embedding matrix.
    pub decoder_weight: Tensor,
    /// `[vocab]`.
    pub decoder_bias: Tensor,
}

impl MlmHead {
    /// The transformed hidden state the decoder reads: `[n, hidden]` → `[n, hidden]`.
    pub fn transform(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        let h = self.activation.forward(&self.dense.forward(hidden)?)?;
        self.norm.forward(&h)
    }

    /// Logits for the given vocabulary ids only: `[n, hidden]` → `[n, ids.len()]`.
    pub fn logits_for(&self, transformed: &Tensor, ids: &Tensor) -> candle_core::Result<Tensor> {
        let w = self.decoder_weight.index_select(ids, 0)?;
        let b = self.decoder_bias.index_select(ids, 0)?;
        transformed.matmul(&w.t()?)?.broadcast_add(&b)
    }

    /// Logits over the whole vocabulary: `[n, hidden]` → `[n, vocab]`.
    pub fn logits_full(&self, transformed: &Tensor) -> candle_core::Result<Tensor> {
        transformed.matmul(&self.decoder_weight.t()?)?.broadcast_add(&self.decoder_bias)
    }
}

/// Softmax over the last dimension, composed from differentiable ops.
pub fn softmax(xs: &Tensor) -> candle_core::Result<Tensor> {
    candle_nn::ops::softmax(xs, D::Minus1)
}
