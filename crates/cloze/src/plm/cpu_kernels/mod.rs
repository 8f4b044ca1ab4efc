//! Fused CPU kernels (f32). For inference: a linear layer with its bias (and optionally its
//! activation) done inside one matrix product, and multi-head self-attention that reads queries,
//! keys and values straight out of the fused QKV projection and writes each head into place — no
//! permuted copies, no padded key columns, one task per (sequence, head) on the thread pool.
//! For training: the same linear kernel with a backward pass that skips frozen weights, and layer
//! norm, RMSNorm, activation, softmax and attention (with seeded dropout) kernels with one-pass
//! backward passes; AdamW's update in place.
//!
//! The results equal the composed candle ops up to float rounding (the parity tests run through
//! the inference kernels; the tests at the bottom and `tests/tuning.rs` compare the training
//! kernels' gradients with composed ops). [`super::layers`] picks the inference kernels for
//! untracked tensors and the training kernels as soon as a tensor is tracked.
//!
//! - [`math`]: the f32 approximations (`exp`, `erf`) and activations the kernels apply;
//! - [`inference`]: the linear and attention kernels of the forward pass;
//! - [`attention`]: attention over separate queries, keys and values with any additive mask
//!   (the decoders' and encoder–decoders'), for training;
//! - [`training`]: the kernels with backward passes (linear gradients, activations, softmax, layer
//!   norm, RMSNorm, attention over the fused QKV with dropout);
//! - [`quantised`]: matrix products on a GGUF file's quantised blocks;
//! - [`simd`]: the element-wise loops compiled for AVX-512, AVX2 + FMA and the baseline, picked
//!   at run time;
//! - [`bf16`]: matrix products with bf16 factors and f32 sums (AVX512_BF16, or emulated);
//! - [`malloc`]: allocator tuning that keeps freed activation buffers for reuse;
//! - [`optim`]: AdamW's update in place and the gradients' sum of squares, one pass each.

mod attention;
pub mod bf16;
mod inference;
mod malloc;
mod math;
mod optim;
mod quantised;
pub(crate) mod simd;
mod training;

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{CpuStorage, Layout};

static COMPOSED_ONLY: AtomicBool = AtomicBool::new(false);

/// Makes every model take the composed candle ops on the CPU too — the path a CUDA or Metal device
/// takes, since these kernels are CPU-only — and makes the kernels refuse to run (an error naming
/// the kernel) while it is on. Process-wide: `tests/composed_path.rs` uses it to prove each
/// strategy's code is device-generic, and to compare the two paths' results.
pub fn force_composed(on: bool) {
    COMPOSED_ONLY.store(on, Ordering::SeqCst);
}

/// Whether the fused kernels may run (not [`force_composed`]).
pub fn kernels_allowed() -> bool {
    !COMPOSED_ONLY.load(Ordering::Relaxed)
}

/// The first step of every kernel: an error while [`force_composed`] is on, so a dispatch that
/// would not happen on another device is caught on the CPU.
fn refuse_when_composed(kernel: &str) -> candle_core::Result<()> {
    if kernels_allowed() {
        Ok(())
    } else {
        candle_core::bail!("{kernel}: a CPU kernel ran on the composed path (force_composed is on)")
    }
}

pub use self::attention::MaskedAttentionOp;
pub use self::bf16::native as bf16_native;
pub use self::inference::{AttentionOp, LinearOp};
pub use self::malloc::keep_freed_memory;
pub use self::math::{erf_f32, exp_f32};
pub use self::optim::{AdamWOp, AdamWStep, sum_squares};
pub use self::quantised::{
    DENSE_FROM_ROWS, QuantisedMatmulOp, dequantise as dequantise_blocks, multiplies as multiplies_quantised,
};
pub use self::training::{
    ActivationOp, AttentionTrainOp, IGNORE_TARGET, LayerNormOp, LinearCrossEntropyOp, RmsNormOp, SoftmaxOp,
};

pub(super) fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    let data = match s {
        CpuStorage::F32(v) => v.as_slice(),
        _ => candle_core::bail!("{what}: the fused CPU kernels take f32"),
    };
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{what}: the fused CPU kernels take contiguous tensors"),
    }
}

pub(super) fn threads() -> usize {
    candle_core::utils::get_num_threads()
}

pub(super) struct OutPtr(pub *mut f32);
// SAFETY: every task writes a disjoint set of (row, head) cells of the output.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}
