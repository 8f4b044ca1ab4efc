//! Times the pieces of one bert-base layer on a 32 × 128 batch, to see where inference time goes
//! (developer tool): `cargo run --release -p cloze --example profile_layer`.
use candle_core::{DType, Device, Module, Tensor};
use cloze::plm::layers::{Activation, AttentionMask, LayerNorm, Linear, SelfAttention};
use std::time::Instant;

fn t<F: FnMut() -> Tensor>(name: &str, mut f: F) -> Tensor {
    let _ = f();
    let s = Instant::now();
    let mut out = None;
    for _ in 0..3 {
        out = Some(f());
    }
    println!("{name:<12} {:>8.1} ms", s.elapsed().as_secs_f64() * 1000.0 / 3.0);
    out.unwrap()
}

fn main() -> candle_core::Result<()> {
    cloze::plm::cpu_kernels::keep_freed_memory();
    let d = Device::Cpu;
    let (b, l, h, f) = (32, 128, 768, 3072);
    let x = Tensor::randn(0f32, 1.0, (b, l, h), &d)?;
    let lin = |i, o| -> candle_core::Result<Linear> {
        Ok(Linear::new(Tensor::randn(0f32, 0.02, (o, i), &d)?, Some(Tensor::zeros(o, DType::F32, &d)?)))
    };
    let att = SelfAttention::from_parts(lin(h, h)?, lin(h, h)?, lin(h, h)?, lin(h, h)?, 12)?;
    let ffn_in = lin(h, f)?;
    let ffn_out = lin(f, h)?;
    let vb = candle_nn::VarBuilder::zeros(DType::F32, &d);
    let ln = LayerNorm::load(vb, h, 1e-12)?;
    let x2 = x.reshape((b * l, h))?;
    let w = ffn_in.weight()?.clone();
    t("matmul_in", || x2.matmul(&w.t().unwrap()).unwrap());
    let y = t("ffn_in", || ffn_in.forward(&x).unwrap());
    t("gelu_erf", || Activation::Gelu.forward(&y).unwrap());
    t("gelu_tanh", || y.gelu().unwrap());
    t("ffn_out", || ffn_out.forward(&y).unwrap());
    let mask = AttentionMask::new(&Tensor::ones((b, l), DType::U32, &d)?, DType::F32)?;
    t("attention", || att.forward(&x, &mask, None).unwrap());
    t("ffn_in+gelu", || ffn_in.forward_act(&x, Some(Activation::Gelu)).unwrap());
    t("layernorm", || ln.forward(&x).unwrap());
    t("add", || (&x + &x).unwrap());
    let bias = Tensor::zeros(f, DType::F32, &d)?;
    let m = x2.matmul(&w.t()?)?;
    t("bias_add", || m.broadcast_add(&bias).unwrap());
    Ok(())
}
