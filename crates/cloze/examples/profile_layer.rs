//! Times the pieces of one bert-base layer on a 32 x 128 batch (developer tool).
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
    if std::env::args().any(|a| a == "raw") {
        raw();
        return Ok(());
    }
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
    let w = ffn_in.weight().clone();
    t("matmul_in", || x2.matmul(&w.t().unwrap()).unwrap());
    let y = t("ffn_in", || ffn_in.forward(&x).unwrap());
    t("gelu_erf", || Activation::Gelu.forward(&y).unwrap());
    t("gelu_tanh", || y.gelu().unwrap());
    t("ffn_out", || ffn_out.forward(&y).unwrap());
    let mask = AttentionMask::new(&Tensor::ones((b, l), DType::U32, &d)?, DType::F32)?;
    t("attention", || att.forward(&x, &mask).unwrap());
    t("ffn_in+gelu", || ffn_in.forward_act(&x, Some(Activation::Gelu)).unwrap());
    t("layernorm", || ln.forward(&x).unwrap());
    t("add", || (&x + &x).unwrap());
    let bias = Tensor::zeros(f, DType::F32, &d)?;
    let m = x2.matmul(&w.t()?)?;
    t("bias_add", || m.broadcast_add(&bias).unwrap());
    Ok(())
}

#[allow(dead_code)]
pub fn raw() {
    let (n, k, o) = (4096usize, 768usize, 3072usize);
    let x: Vec<f32> = (0..n * k).map(|i| (i % 7) as f32 * 0.01).collect();
    let w: Vec<f32> = (0..o * k).map(|i| (i % 5) as f32 * 0.01).collect();
    let b: Vec<f32> = vec![0.1; o];
    let run = |name: &str, f: &dyn Fn() -> Vec<f32>| {
        let _ = f();
        let s = Instant::now();
        for _ in 0..3 {
            std::hint::black_box(f());
        }
        println!("{name:<12} {:>8.1} ms", s.elapsed().as_secs_f64() * 1000.0 / 3.0);
    };
    let g = |out: &mut Vec<f32>, read: bool| unsafe {
        gemm::gemm(
            n,
            o,
            k,
            out.as_mut_ptr(),
            1,
            o as isize,
            read,
            x.as_ptr(),
            1,
            k as isize,
            w.as_ptr(),
            k as isize,
            1,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(2),
        );
    };
    run("zeros+gemm", &|| {
        let mut out = vec![0f32; n * o];
        g(&mut out, false);
        out
    });
    run("uninit+gemm", &|| {
        let mut out = Vec::with_capacity(n * o);
        unsafe { out.set_len(n * o) };
        g(&mut out, false);
        out
    });
    run("bias+gemm", &|| {
        let mut out = Vec::with_capacity(n * o);
        for _ in 0..n {
            out.extend_from_slice(&b)
        }
        g(&mut out, true);
        out
    });
    run("fill only", &|| {
        let mut out = Vec::with_capacity(n * o);
        for _ in 0..n {
            out.extend_from_slice(&b)
        }
        out
    });
    use rayon::prelude::*;
    run("gelu par", &|| {
        let mut out = vec![0.3f32; n * o];
        out.par_chunks_mut(1 << 14).for_each(|c| {
            c.iter_mut().for_each(|v| *v = 0.5 * *v * (1.0 + candle_core::cpu::erf::erf_f32(*v * 0.70710678)))
        });
        out
    });
    run("alloc 0.3", &|| vec![0.3f32; n * o]);
}
