//! Building blocks shared by the encoder families: linear, layer norm, self-attention and the
//! post-LayerNorm transformer block of BERT (Devlin et al., 2019), which RoBERTa and DistilBERT
//! keep.
//!
//! Reference: <https://github.com/huggingface/transformers/blob/main/src/transformers/models/bert/modeling_bert.py>
//!
//! Tensors that are not tracked for gradients, on the CPU in f32, go through the inference kernels
//! of [`super::cpu_kernels`] and candle's fused `layer_norm` and `softmax_last_dim`, none of which
//! has a backward pass (the gradient graph would be cut silently). As soon as any input is tracked
//! (a soft prompt, a trained weight) every block switches to differentiable ops: the training
//! kernels of [`super::cpu_kernels`] on the CPU in f32, composed candle ops elsewhere (f64, GPU).
//! `tests/gradients.rs` checks the composed ops against finite differences in f64, and
//! `tests/tuning.rs` the training kernels against the composed ops.

use std::sync::Arc;

use candle_core::quantized::QTensor;
use candle_core::{D, DType, Module, Tensor};
use candle_nn::VarBuilder;

use super::cpu_kernels::{
    AttentionOp, AttentionTrainOp, IGNORE_TARGET, LayerNormOp, LinearCrossEntropyOp, LinearOp,
    QuantisedMatmulOp,
};
use super::precision::Precision;

/// Called with each parameter of a model and its name (see [`super::Plm::trainable`]).
pub type ParamFn<'a> = &'a mut dyn FnMut(String, &mut Tensor);

/// Whether the fused CPU inference kernels apply to these tensors.
fn fused(tensors: &[&Tensor]) -> bool {
    on_cpu_f32(tensors) && tensors.iter().all(|t| !t.track_op())
}

/// Whether the CPU kernels apply: f32 tensors on the CPU, unless
/// [`super::cpu_kernels::force_composed`] asks for the path other devices take.
pub(super) fn on_cpu_f32(tensors: &[&Tensor]) -> bool {
    super::cpu_kernels::kernels_allowed()
        && tensors.iter().all(|t| t.device().is_cpu() && t.dtype() == DType::F32)
}

/// Dropout for training (Srivastava et al., 2014): each element is zeroed with probability `p`
/// and the rest scaled by 1/(1-p). Masks come from a seeded generator, so a training run on the
/// CPU is the same bit for bit when repeated with the same seed (candle's own random tensors are
/// not seedable on the CPU).
#[derive(Debug)]
pub struct Dropout {
    p: f64,
    rng: std::sync::Mutex<crate::data::SplitMix64>,
}

impl Dropout {
    pub fn new(p: f64, seed: u64) -> Self {
        Self { p: p.clamp(0.0, 0.99), rng: std::sync::Mutex::new(crate::data::SplitMix64::new(seed)) }
    }

    pub fn p(&self) -> f64 {
        self.p
    }

    /// The generator's state, saved with a checkpoint so a resumed run draws the same masks.
    pub fn state(&self) -> u64 {
        self.rng.lock().map(|r| r.state()).unwrap_or_default()
    }

    pub fn set_state(&self, state: u64) {
        if let Ok(mut r) = self.rng.lock() {
            *r = crate::data::SplitMix64::new(state);
        }
    }

    /// A seed for a kernel that draws its own masks ([`AttentionTrainOp`]), from this generator.
    pub fn next_seed(&self) -> u64 {
        self.rng.lock().map(|mut r| r.next_u64()).unwrap_or_default()
    }

    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        if self.p <= 0.0 {
            return Ok(xs.clone());
        }
        let n = xs.elem_count();
        let scale = 1.0 / (1.0 - self.p);
        let mask: Vec<f32> = {
            let mut rng = self.rng.lock().map_err(|_| candle_core::Error::Msg("dropout lock".into()))?;
            (0..n).map(|_| if rng.next_f64() < self.p { 0.0 } else { scale as f32 }).collect()
        };
        let mask = Tensor::from_vec(mask, xs.shape(), xs.device())?.to_dtype(xs.dtype())?;
        xs.mul(&mask)
    }
}

/// Applies dropout when training (`Some`), the identity otherwise.
pub fn dropout(xs: Tensor, d: Option<&Dropout>) -> candle_core::Result<Tensor> {
    match d {
        Some(d) => d.forward(&xs),
        None => Ok(xs),
    }
}

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
        // On the CPU in f32: the fused op, whose backward is one pass (candle's composed
        // gelu_erf backward is most of a training step's time otherwise).
        if on_cpu_f32(&[xs]) {
            return xs.contiguous()?.apply_op1(super::cpu_kernels::ActivationOp { act: self });
        }
        match self {
            Activation::Gelu => xs.gelu_erf(),
            Activation::GeluTanh => xs.gelu(),
            Activation::Relu => xs.relu(),
            Activation::Silu => xs.silu(),
        }
    }
}

/// A linear layer's weight `[out, in]`: dense, or as a GGUF file stores it — quantised blocks that
/// the matrix product reads without dequantising (llama.cpp's way, 4–8× less memory than f32).
#[derive(Debug, Clone)]
enum LinearWeight {
    Dense(Tensor),
    Quantised(Arc<QTensor>),
}

/// `y = x Wᵀ + b`, computed as one 2-D matrix product whatever the leading dimensions of `x`.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: LinearWeight,
    bias: Option<Tensor>,
}

impl Linear {
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { weight: LinearWeight::Dense(weight), bias }
    }

    /// A layer whose weight stays quantised (`[out, in]` in ggml blocks) for inference. Anything
    /// that needs the values — a trainable weight, saving — dequantises it first
    /// ([`Linear::dequantise`]); a gradient through the layer's input dequantises it for that
    /// product only.
    pub fn quantised(weight: Arc<QTensor>, bias: Option<Tensor>) -> Self {
        Self { weight: LinearWeight::Quantised(weight), bias }
    }

    /// Loads `{prefix}.weight` `[out, in]` and `{prefix}.bias` `[out]`.
    pub fn load(vb: VarBuilder, in_dim: usize, out_dim: usize) -> candle_core::Result<Self> {
        let weight = vb.get((out_dim, in_dim), "weight")?;
        let bias = vb.get(out_dim, "bias")?;
        Ok(Self::new(weight, Some(bias)))
    }

    /// The dense weight; an error for a quantised one (dequantise it first).
    pub fn weight(&self) -> candle_core::Result<&Tensor> {
        match &self.weight {
            LinearWeight::Dense(w) => Ok(w),
            LinearWeight::Quantised(_) => {
                Err(candle_core::Error::Msg("the weight is quantised; dequantise the model first".into()))
            }
        }
    }

    /// `[out, in]`, whatever the storage.
    pub fn weight_dims(&self) -> (usize, usize) {
        match &self.weight {
            LinearWeight::Dense(w) => w.dims2().unwrap_or_default(),
            LinearWeight::Quantised(q) => q.shape().dims2().unwrap_or_default(),
        }
    }

    /// Whether the weight is held quantised.
    pub fn is_quantised(&self) -> bool {
        matches!(self.weight, LinearWeight::Quantised(_))
    }

    /// Bytes the weight and bias take as held (quantised blocks count their stored size).
    pub fn stored_bytes(&self) -> u64 {
        let w = match &self.weight {
            LinearWeight::Dense(w) => (w.elem_count() * w.dtype().size_in_bytes()) as u64,
            LinearWeight::Quantised(q) => q.storage_size_in_bytes() as u64,
        };
        w + self.bias.as_ref().map_or(0, |b| (b.elem_count() * b.dtype().size_in_bytes()) as u64)
    }

    /// Bytes the weight and bias take in f32 (what [`Linear::dequantise`] makes of them).
    pub fn f32_bytes(&self) -> u64 {
        let (out, inp) = self.weight_dims();
        4 * (out * inp + self.bias.as_ref().map_or(0, |b| b.elem_count())) as u64
    }

    /// Replaces a quantised weight by its f32 values (a no-op on a dense one).
    pub fn dequantise(&mut self) -> candle_core::Result<()> {
        if let LinearWeight::Quantised(q) = &self.weight {
            let w = q.dequantize(&q.device())?.to_dtype(DType::F32)?;
            self.weight = LinearWeight::Dense(w);
        }
        Ok(())
    }

    /// Visits the weight and bias. A quantised weight is dequantised first (callers that can
    /// report an error call [`Linear::dequantise`] before; should it fail here, the weight is not
    /// visited).
    pub fn visit_params(&mut self, prefix: &str, f: ParamFn) {
        if self.dequantise().is_ok()
            && let LinearWeight::Dense(w) = &mut self.weight
        {
            f(format!("{prefix}.weight"), w);
        }
        if let Some(b) = &mut self.bias {
            f(format!("{prefix}.bias"), b);
        }
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
}

impl Linear {
    /// `act(x Wᵀ + b)`, fused into the matrix product on the CPU.
    pub fn forward_act(&self, xs: &Tensor, act: Option<Activation>) -> candle_core::Result<Tensor> {
        let dequantised;
        let weight = match &self.weight {
            LinearWeight::Dense(w) => w,
            LinearWeight::Quantised(q) => {
                let tracked = xs.track_op() || self.bias.as_ref().is_some_and(|b| b.track_op());
                let rows = xs.elem_count() / xs.dim(D::Minus1)?.max(1);
                let cpu = on_cpu_f32(&[xs]) && super::cpu_kernels::multiplies_quantised(q.dtype());
                let dense = cpu && rows >= super::cpu_kernels::DENSE_FROM_ROWS;
                if !(tracked || dense) {
                    return self.forward_quantised(q, xs, act);
                }
                // A batch, or a gradient through the input: the weight's values for this product
                // only (the layer keeps holding the blocks).
                dequantised = match cpu {
                    true => super::cpu_kernels::dequantise_blocks(q)?,
                    false => q.dequantize(xs.device())?.to_dtype(xs.dtype())?,
                };
                &dequantised
            }
        };
        // A linear layer without a bias (the decoders' projections) runs the same kernels with a
        // zero bias, so frozen weights still get no gradient.
        let zero;
        let bias = match &self.bias {
            Some(b) => Some(b),
            None if on_cpu_f32(&[xs, weight]) => {
                zero = Tensor::zeros(weight.dim(0)?, DType::F32, xs.device())?;
                Some(&zero)
            }
            None => None,
        };
        if let Some(b) = bias
            && on_cpu_f32(&[xs, weight, b])
        {
            if !(xs.track_op() || weight.track_op() || b.track_op()) {
                return xs.contiguous()?.apply_op3_no_bwd(
                    weight,
                    b,
                    &LinearOp { activation: act, precision: Precision::current() },
                );
            }
            // Training: the kernel's own backward, which skips frozen weights; the activation
            // as a composed op so that its gradient flows.
            let y = xs.contiguous()?.apply_op3(
                weight,
                b,
                LinearOp { activation: None, precision: Precision::current() },
            )?;
            return match act {
                Some(a) => a.forward(&y),
                None => Ok(y),
            };
        }
        let y = Self::forward_composed(weight, self.bias.as_ref(), xs)?;
        match act {
            Some(a) => a.forward(&y),
            None => Ok(y),
        }
    }

    /// The product on quantised blocks (candle's ggml kernels: the input is quantised to 8 bits
    /// per block, as llama.cpp does), then the bias and activation.
    fn forward_quantised(
        &self,
        q: &Arc<QTensor>,
        xs: &Tensor,
        act: Option<Activation>,
    ) -> candle_core::Result<Tensor> {
        let xs = xs.contiguous()?;
        let y = if on_cpu_f32(&[&xs]) && super::cpu_kernels::multiplies_quantised(q.dtype()) {
            xs.apply_op1_no_bwd(&QuantisedMatmulOp(q.clone()))?
        } else {
            xs.apply_op1_no_bwd(q.as_ref())?
        };
        let y = match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        match act {
            Some(a) => a.forward(&y),
            None => Ok(y),
        }
    }

    fn forward_composed(weight: &Tensor, bias: Option<&Tensor>, xs: &Tensor) -> candle_core::Result<Tensor> {
        let dims = xs.dims();
        let in_dim = dims[dims.len() - 1];
        let rows = xs.elem_count() / in_dim;
        let x2 = xs.reshape((rows, in_dim))?;
        let mut y = x2.matmul(&weight.t()?)?;
        if let Some(b) = bias {
            y = y.broadcast_add(b)?;
        }
        let mut out_dims = dims.to_vec();
        *out_dims.last_mut().expect("non-empty dims") = weight.dim(0)?;
        y.reshape(out_dims)
    }
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_act(xs, None)
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

    pub fn new(weight: Tensor, bias: Tensor, eps: f64) -> Self {
        Self { weight, bias, eps }
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    pub fn visit_params(&mut self, prefix: &str, f: ParamFn) {
        f(format!("{prefix}.weight"), &mut self.weight);
        f(format!("{prefix}.bias"), &mut self.bias);
    }
}

impl Module for LayerNorm {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let tracked = xs.track_op() || self.weight.track_op() || self.bias.track_op();
        // Training on the CPU in f32: the kernel with a one-pass backward.
        if tracked && on_cpu_f32(&[xs, &self.weight, &self.bias]) {
            let op = LayerNormOp { eps: self.eps as f32 };
            return xs.contiguous()?.apply_op3(&self.weight, &self.bias, op);
        }
        // Composed when differentiating elsewhere (candle's fused op has no backward) and in f64
        // (it has no f64 kernel).
        if tracked || xs.dtype() == DType::F64 {
            return candle_nn::ops::layer_norm_slow(xs, &self.weight, &self.bias, self.eps as f32);
        }
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
        let hidden = q.weight()?.dim(0)?;
        if hidden % num_heads != 0 {
            candle_core::bail!("hidden size {hidden} is not a multiple of the number of heads {num_heads}");
        }
        let head_dim = hidden / num_heads;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let bias = |l: &Linear| -> candle_core::Result<Tensor> {
            let w = l.weight()?;
            match &l.bias {
                Some(b) => Ok(b.clone()),
                None => Tensor::zeros(w.dim(0)?, w.dtype(), w.device()),
            }
        };
        let weight = Tensor::cat(&[(q.weight()? * scale)?, k.weight()?.clone(), v.weight()?.clone()], 0)?;
        let b = Tensor::cat(&[(bias(&q)? * scale)?, bias(&k)?, bias(&v)?], 0)?;
        Ok(Self { qkv: Linear::new(weight, Some(b)), out, num_heads, head_dim })
    }

    /// The parameters: the fused query/key/value projection (`qkv`, the query part pre-scaled by
    /// 1/√head_dim) and the output projection.
    pub fn visit_params(&mut self, prefix: &str, f: ParamFn) {
        self.qkv.visit_params(&format!("{prefix}.qkv"), f);
        self.out.visit_params(&format!("{prefix}.out"), f);
    }

    /// `xs`: `[batch, seq, hidden]`; `drop`: dropout of the attention probabilities when training.
    pub fn forward(
        &self,
        xs: &Tensor,
        mask: &AttentionMask,
        drop: Option<&Dropout>,
    ) -> candle_core::Result<Tensor> {
        let (b, t, h) = xs.dims3()?;
        let qkv = self.qkv.forward(xs)?;
        if let (Some(lengths), true) = (&mask.lengths, on_cpu_f32(&[&qkv])) {
            let ctx = if fused(&[&qkv]) && drop.is_none() {
                let op =
                    AttentionOp { heads: self.num_heads, head_dim: self.head_dim, lengths: lengths.clone() };
                qkv.apply_op1_no_bwd(&op)?
            } else {
                // Training: the kernel with dropout and a backward pass.
                let (p, seed) = drop.map_or((0.0, 0), |d| (d.p() as f32, d.next_seed()));
                let op = AttentionTrainOp::new(self.num_heads, self.head_dim, lengths.clone(), p, seed);
                qkv.contiguous()?.apply_op1(op)?
            };
            return self.out.forward(&ctx);
        }
        let qkv = qkv.reshape((b, t, 3, self.num_heads, self.head_dim))?;
        let qkv = qkv.permute((2, 0, 3, 1, 4))?; // [3, b, heads, t, head_dim]
        let q = qkv.get(0)?.contiguous()?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let scores = q.matmul(&k.t()?)?;
        let scores = match &mask.additive {
            Some(m) => scores.broadcast_add(m)?,
            None => scores,
        };
        let probs =
            if scores.track_op() { softmax(&scores)? } else { candle_nn::ops::softmax_last_dim(&scores)? };
        let probs = dropout(probs, drop)?;
        let ctx = probs.matmul(&v)?; // [b, heads, t, head_dim]
        let ctx = ctx.transpose(1, 2)?.contiguous()?.reshape((b, t, h))?;
        self.out.forward(&ctx)
    }
}

impl SelfAttention {
    /// [`SelfAttention::forward`] for one query position per batch row: `xs` `[batch, seq,
    /// hidden]` gives the keys and values, `at_rows` `[batch, hidden]` the queries (each row's own
    /// position); `[batch, hidden]`. The query projection runs on those rows only.
    pub fn forward_at(
        &self,
        xs: &Tensor,
        at_rows: &Tensor,
        mask: &AttentionMask,
        drop: Option<&Dropout>,
    ) -> candle_core::Result<Tensor> {
        let (b, t, h) = xs.dims3()?;
        let (heads, d) = (self.num_heads, self.head_dim);
        let w = self.qkv.weight()?;
        let part = |start: usize, len: usize| -> candle_core::Result<Linear> {
            let bias = self.qkv.bias.as_ref().map(|b| b.narrow(0, start, len)).transpose()?;
            Ok(Linear::new(w.narrow(0, start, len)?, bias))
        };
        let q = part(0, h)?.forward(at_rows)?.reshape((b, heads, 1, d))?;
        let kv = part(h, 2 * h)?.forward(xs)?.reshape((b, t, 2, heads, d))?.permute((2, 0, 3, 1, 4))?;
        let k = kv.get(0)?.contiguous()?;
        let v = kv.get(1)?.contiguous()?;
        let scores = q.matmul(&k.t()?)?; // [b, heads, 1, t]
        let scores = match &mask.additive {
            Some(m) => scores.broadcast_add(m)?,
            None => scores,
        };
        let probs =
            if scores.track_op() { softmax(&scores)? } else { candle_nn::ops::softmax_last_dim(&scores)? };
        let ctx = dropout(probs, drop)?.matmul(&v)?; // [b, heads, 1, d]
        self.out.forward(&ctx.reshape((b, h))?)
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
    pub fn visit_params(&mut self, prefix: &str, f: ParamFn) {
        self.attention.visit_params(&format!("{prefix}.attention"), f);
        self.attention_norm.visit_params(&format!("{prefix}.attention_norm"), f);
        self.ffn_in.visit_params(&format!("{prefix}.ffn_in"), f);
        self.ffn_out.visit_params(&format!("{prefix}.ffn_out"), f);
        self.ffn_norm.visit_params(&format!("{prefix}.ffn_norm"), f);
    }

    /// `drop`: when training, dropout of the attention probabilities and of each sub-layer's
    /// output before its residual connection, as BERT places it.
    pub fn forward(
        &self,
        xs: &Tensor,
        mask: &AttentionMask,
        drop: Option<&Dropout>,
    ) -> candle_core::Result<Tensor> {
        let attn = dropout(self.attention.forward(xs, mask, drop)?, drop)?;
        let xs = self.attention_norm.forward(&(attn + xs)?)?;
        let ff = self.ffn_in.forward_act(&xs, Some(self.activation))?;
        let ff = dropout(self.ffn_out.forward(&ff)?, drop)?;
        self.ffn_norm.forward(&(ff + xs)?)
    }
}

impl PostNormBlock {
    /// [`PostNormBlock::forward`] at flat positions `at` only (`row * seq + position`), when they
    /// are one per batch row in row order, as a mask head reads them: keys and values at every
    /// position, queries, feed-forward and norms at those rows (a tenth of the block's work);
    /// `[batch, hidden]`. `None` for any other selection (run the whole block and select).
    pub fn forward_at(
        &self,
        xs: &Tensor,
        mask: &AttentionMask,
        drop: Option<&Dropout>,
        at: &[u32],
    ) -> candle_core::Result<Option<Tensor>> {
        let (b, t, h) = xs.dims3()?;
        if at.len() != b || at.iter().enumerate().any(|(i, &f)| f as usize / t.max(1) != i) {
            return Ok(None);
        }
        let rows = xs.reshape((b * t, h))?.index_select(&Tensor::new(at, xs.device())?, 0)?;
        let attn = dropout(self.attention.forward_at(xs, &rows, mask, drop)?, drop)?;
        let x = self.attention_norm.forward(&(attn + rows)?)?;
        let ff = self.ffn_in.forward_act(&x, Some(self.activation))?;
        let ff = dropout(self.ffn_out.forward(&ff)?, drop)?;
        Ok(Some(self.ffn_norm.forward(&(ff + x)?)?))
    }
}

/// A stack of post-norm blocks over `xs`, read at flat positions `at` only: `[n, hidden]`, the
/// last block at those rows when it can ([`PostNormBlock::forward_at`]).
pub fn post_norm_stack_at(
    layers: &[PostNormBlock],
    xs: Tensor,
    mask: &AttentionMask,
    drop: Option<&Dropout>,
    at: &[u32],
) -> candle_core::Result<Tensor> {
    let mut xs = xs;
    let Some((last, first)) = layers.split_last() else {
        return super::network::select_rows(&xs, at);
    };
    for layer in first {
        xs = layer.forward(&xs, mask, drop)?;
    }
    match last.forward_at(&xs, mask, drop, at)? {
        Some(rows) => Ok(rows),
        None => super::network::select_rows(&last.forward(&xs, mask, drop)?, at),
    }
}

/// Which key positions each query may attend to, from a `[batch, seq]` 0/1 attention mask.
#[derive(Debug, Clone)]
pub struct AttentionMask {
    /// Additive `[batch, 1, 1, seq]` mask (0 or a large negative number); `None` when nothing is
    /// masked.
    pub additive: Option<Tensor>,
    /// Real tokens per row, when every row is a run of ones followed by zeros (right padding).
    pub lengths: Option<Vec<usize>>,
}

impl AttentionMask {
    pub fn new(attention_mask: &Tensor, dtype: DType) -> candle_core::Result<Self> {
        let (b, t) = attention_mask.dims2()?;
        let rows = attention_mask.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let lengths: Vec<usize> = rows.iter().map(|r| r.iter().take_while(|&&m| m > 0.5).count()).collect();
        let right_padded = rows.iter().zip(&lengths).all(|(r, &n)| r[n..].iter().all(|&m| m <= 0.5));
        let additive = if lengths.iter().all(|&n| n == t) {
            None
        } else {
            let keep = attention_mask.to_dtype(dtype)?;
            // (1 - keep) * large negative; f32::MIN would overflow when added to scores.
            let neg = ((keep.ones_like()? - keep)? * -1e30f64)?;
            Some(neg.reshape((b, 1, 1, t))?)
        };
        Ok(Self { additive, lengths: right_padded.then_some(lengths) })
    }
}

/// The transform an MLM head applies before its decoder (BERT, RoBERTa, DistilBERT): dense,
/// activation, layer norm.
#[derive(Debug, Clone)]
pub struct HeadTransform {
    pub dense: Linear,
    pub activation: Activation,
    pub norm: LayerNorm,
}

/// The language-model head of every family: an optional transform (the MLM heads' dense,
/// activation and layer norm; none for decoders, whose final norm ends the network), an optional
/// scale of its input (T5 with tied embeddings), then a decoder to the vocabulary — usually the
/// word-embedding matrix itself (tied) — with an optional bias.
#[derive(Debug, Clone)]
pub struct LmHead {
    pub transform: Option<HeadTransform>,
    pub input_scale: Option<f64>,
    /// `[vocab, hidden]`, usually the word-embedding matrix.
    pub decoder_weight: Tensor,
    /// `[vocab]`.
    pub decoder_bias: Option<Tensor>,
    /// Final logit soft-capping (Gemma 2/3 `final_logit_softcapping`): `cap · tanh(logits / cap)`.
    pub softcap: Option<f64>,
    /// The decoder weight as a GGUF file stores it, when it is held that way too: a generation
    /// step multiplies it block by block ([`LmHead::logits_step`]).
    pub quantised: Option<Arc<QTensor>>,
}

impl LmHead {
    /// A decoder-only head: `logits = h Wᵀ (+ b)`.
    pub fn linear(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self {
            transform: None,
            input_scale: None,
            decoder_weight: weight,
            decoder_bias: bias,
            softcap: None,
            quantised: None,
        }
    }

    /// The parameters under the MLM heads' engine names: `{prefix}.dense`, `{prefix}.norm`,
    /// `{prefix}.decoder.weight` and `{prefix}.decoder.bias`. The decoder weight is usually the
    /// word-embedding matrix itself (tied).
    pub fn visit_params(&mut self, prefix: &str, f: ParamFn) {
        if let Some(t) = &mut self.transform {
            t.dense.visit_params(&format!("{prefix}.dense"), f);
            t.norm.visit_params(&format!("{prefix}.norm"), f);
        }
        f(format!("{prefix}.decoder.weight"), &mut self.decoder_weight);
        if let Some(b) = &mut self.decoder_bias {
            f(format!("{prefix}.decoder.bias"), b);
        }
    }

    /// The transformed hidden state the decoder reads: `[n, hidden]` → `[n, hidden]`.
    pub fn transform(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        let h = match &self.transform {
            Some(t) => t.norm.forward(&t.activation.forward(&t.dense.forward(hidden)?)?)?,
            None => hidden.clone(),
        };
        match self.input_scale {
            Some(s) => h * s,
            None => Ok(h),
        }
    }

    /// Logits for the given vocabulary ids only: `[n, hidden]` → `[n, ids.len()]`.
    pub fn logits_for(&self, transformed: &Tensor, ids: &Tensor) -> candle_core::Result<Tensor> {
        let w = self.decoder_weight.index_select(ids, 0)?;
        let y = transformed.matmul(&w.t()?)?;
        let y = match &self.decoder_bias {
            Some(b) => y.broadcast_add(&b.index_select(ids, 0)?)?,
            None => y,
        };
        self.cap(y)
    }

    /// Applies [`LmHead::softcap`], when the model has one.
    fn cap(&self, logits: Tensor) -> candle_core::Result<Tensor> {
        match self.softcap {
            Some(c) => (logits / c)?.tanh()? * c,
            None => Ok(logits),
        }
    }

    /// Logits over the whole vocabulary: `[n, hidden]` → `[n, vocab]`.
    pub fn logits_full(&self, transformed: &Tensor) -> candle_core::Result<Tensor> {
        let y = transformed.matmul(&self.decoder_weight.t()?)?;
        let y = match &self.decoder_bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        self.cap(y)
    }

    /// [`LmHead::logits_full`] for a generation step's single row: on the quantised weight, block
    /// by block, when the head holds one (on the CPU in f32), as the step's layers were.
    pub fn logits_step(&self, transformed: &Tensor) -> candle_core::Result<Tensor> {
        match &self.quantised {
            Some(q)
                if transformed.elem_count() == self.decoder_weight.dim(1)?
                    && on_cpu_f32(&[transformed])
                    && super::cpu_kernels::multiplies_quantised(q.dtype()) =>
            {
                let y = transformed.contiguous()?.apply_op1_no_bwd(&QuantisedMatmulOp(q.clone()))?;
                let y = match &self.decoder_bias {
                    Some(b) => y.broadcast_add(b)?,
                    None => y,
                };
                self.cap(y)
            }
            _ => self.logits_full(transformed),
        }
    }

    /// The negative log-likelihood of each row's target under the whole vocabulary: `transformed`
    /// `[n, hidden]`, u32 `targets` `[n]` ([`IGNORE_TARGET`] gives 0) → `[n]`. A frozen head on
    /// the CPU in f32 takes the fused kernel (the logits are never held whole, the frozen weight
    /// gets no gradient); otherwise composed ops.
    pub fn token_nll(&self, transformed: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
        let w = &self.decoder_weight;
        let frozen = !w.track_op() && self.decoder_bias.as_ref().is_none_or(|b| !b.track_op());
        if frozen && self.softcap.is_none() && on_cpu_f32(&[transformed, w]) {
            let bias = self.decoder_bias.as_ref().map(|b| b.to_vec1::<f32>()).transpose()?;
            let op = LinearCrossEntropyOp::new(bias, transformed.track_op());
            return transformed.contiguous()?.apply_op3(w, &targets.contiguous()?, op);
        }
        let logits = self.logits_full(transformed)?;
        let ignored = targets.eq(IGNORE_TARGET)?;
        let safe = ignored.where_cond(&targets.zeros_like()?, targets)?;
        let picked = logits.gather(&safe.unsqueeze(1)?, 1)?.squeeze(1)?;
        let nll = (logits.log_sum_exp(candle_core::D::Minus1)? - picked)?;
        ignored.where_cond(&nll.zeros_like()?, &nll)
    }

    /// The decoder's rows (and bias entries, zero when it has none) of the given ids (raw: before
    /// any soft-capping).
    pub fn rows(&self, ids: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let w = self.decoder_weight.index_select(ids, 0)?;
        let b = match &self.decoder_bias {
            Some(b) => b.index_select(ids, 0)?,
            None => Tensor::zeros(ids.dim(0)?, w.dtype(), w.device())?,
        };
        Ok((w, b))
    }
}

/// Rows of an embedding table `[vocab, hidden]` for `[batch, seq]` token ids: `[batch, seq, hidden]`.
pub fn embedding(table: &Tensor, ids: &Tensor) -> candle_core::Result<Tensor> {
    let (b, t) = ids.dims2()?;
    table.index_select(&ids.flatten_all()?, 0)?.reshape((b, t, table.dim(1)?))
}

/// Softmax over the last dimension, differentiable: a fused op with its own backward on the CPU
/// in f32, composed ops elsewhere.
pub fn softmax(xs: &Tensor) -> candle_core::Result<Tensor> {
    if on_cpu_f32(&[xs]) {
        return xs.contiguous()?.apply_op1(super::cpu_kernels::SoftmaxOp);
    }
    candle_nn::ops::softmax(xs, D::Minus1)
}

/// Mean of `hidden` (`[batch, seq, h]`) over the positions where the 0/1 `attention` mask
/// (`[batch, seq]`) is 1: `[batch, h]` (sentence-transformers' mean pooling).
pub fn masked_mean(hidden: &Tensor, attention: &Tensor) -> candle_core::Result<Tensor> {
    let m = attention.to_dtype(hidden.dtype())?.unsqueeze(2)?;
    hidden.broadcast_mul(&m)?.sum(1)?.broadcast_div(&m.sum(1)?)
}
