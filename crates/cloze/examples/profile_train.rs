//! Times the composed (differentiable) ops of a bert-base training step, forward and backward,
//! at batch 8 × 148: where the training step's time goes.
use std::time::Instant;

use candle_core::{D, DType, Device, Tensor, Var};

fn time(name: &str, f: impl Fn() -> Tensor) {
    let _ = f();
    let t = Instant::now();
    let y = f();
    let fwd = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let _g = y.sum_all().unwrap().backward().unwrap();
    let bwd = t.elapsed().as_secs_f64();
    println!(
        "{name:<28} forward {:>7.1} ms  backward {:>7.1} ms  (×12 layers: {:.2} s)",
        fwd * 1e3,
        bwd * 1e3,
        12.0 * (fwd + bwd)
    );
}

fn main() {
    if std::env::args().any(|a| a == "--matmul") {
        matmul_rates();
        return;
    }
    let dev = Device::Cpu;
    let scores = Var::from_tensor(&Tensor::randn(0f32, 1., (8, 12, 148, 148), &dev).unwrap()).unwrap();
    let x = Var::from_tensor(&Tensor::randn(0f32, 1., (8, 148, 768), &dev).unwrap()).unwrap();
    let ff = Var::from_tensor(&Tensor::randn(0f32, 1., (8, 148, 3072), &dev).unwrap()).unwrap();
    let q = Var::from_tensor(&Tensor::randn(0f32, 1., (8, 12, 148, 64), &dev).unwrap()).unwrap();
    let w = Tensor::ones(768, DType::F32, &dev).unwrap();
    let b = Tensor::zeros(768, DType::F32, &dev).unwrap();
    let wv = Var::from_tensor(&Tensor::randn(0f32, 0.02, (3072, 768), &dev).unwrap()).unwrap();
    let bv = Var::from_tensor(&Tensor::zeros(3072, DType::F32, &dev).unwrap()).unwrap();
    let w_frozen = wv.as_tensor().detach();
    let b_frozen = bv.as_tensor().detach();
    time("linear 768→3072 (frozen)", || {
        cloze::plm::layers::Linear::new(w_frozen.clone(), Some(b_frozen.clone()))
            .forward_act(x.as_tensor(), None)
            .unwrap()
    });
    time("linear 768→3072 (trained)", || {
        cloze::plm::layers::Linear::new(wv.as_tensor().clone(), Some(bv.as_tensor().clone()))
            .forward_act(x.as_tensor(), None)
            .unwrap()
    });
    time("bias grad: sum over rows", || ff.as_tensor().reshape((8 * 148, 3072)).unwrap().sum(0).unwrap());
    let wn = Var::from_tensor(&Tensor::ones(768, DType::F32, &dev).unwrap()).unwrap();
    let bn = Var::from_tensor(&Tensor::zeros(768, DType::F32, &dev).unwrap()).unwrap();
    time("layer norm (fused op) x2", || {
        let op = cloze::plm::cpu_kernels::LayerNormOp { eps: 1e-12 };
        let y = x.as_tensor().apply_op3(wn.as_tensor(), bn.as_tensor(), op).unwrap();
        y.apply_op3(wn.as_tensor(), bn.as_tensor(), op).unwrap()
    });
    let qkv = Var::from_tensor(&Tensor::randn(0f32, 1., (8, 148, 3 * 768), &dev).unwrap()).unwrap();
    time("attention (fused op)", || {
        let op = cloze::plm::cpu_kernels::AttentionTrainOp::new(12, 64, vec![148; 8], 0.0, 0);
        qkv.as_tensor().apply_op1(op).unwrap()
    });
    time("softmax (composed)", || candle_nn::ops::softmax(scores.as_tensor(), D::Minus1).unwrap());
    time("layer_norm_slow x2", || {
        let y = candle_nn::ops::layer_norm_slow(x.as_tensor(), &w, &b, 1e-12).unwrap();
        candle_nn::ops::layer_norm_slow(&y, &w, &b, 1e-12).unwrap()
    });
    time("gelu_erf", || ff.as_tensor().gelu_erf().unwrap());
    time("gelu (fused op)", || cloze::plm::layers::Activation::Gelu.forward(ff.as_tensor()).unwrap());
    time("softmax (fused op)", || cloze::plm::layers::softmax(scores.as_tensor()).unwrap());
    time("q·kᵀ and p·v", || {
        let s = q.as_tensor().matmul(&q.as_tensor().t().unwrap()).unwrap();
        s.matmul(q.as_tensor()).unwrap()
    });
    time("permute+contiguous x4", || {
        let mut y = q.as_tensor().transpose(1, 2).unwrap().contiguous().unwrap();
        for _ in 0..3 {
            y = y.transpose(1, 2).unwrap().contiguous().unwrap();
        }
        y
    });
    time("residual add + mask add", || {
        let y = (x.as_tensor() + x.as_tensor()).unwrap();
        let m = Tensor::zeros((8, 1, 1, 148), DType::F32, &dev).unwrap();
        let _ = scores.as_tensor().broadcast_add(&m).unwrap();
        y
    });
}

/// GFLOP/s of the matrix products of a bert-base step at batch 8 × 148 (1184 rows), forward
/// (the linear kernel) and backward (candle's matmul for the input gradient).
#[allow(dead_code)]
pub fn matmul_rates() {
    let dev = Device::Cpu;
    for (i, o) in [(768usize, 2304usize), (768, 768), (768, 3072), (3072, 768)] {
        let x = Tensor::randn(0f32, 1., (1184, i), &dev).unwrap();
        let w = Tensor::randn(0f32, 0.02, (o, i), &dev).unwrap();
        let b = Tensor::zeros(o, DType::F32, &dev).unwrap();
        let g = Tensor::randn(0f32, 1., (1184, o), &dev).unwrap();
        let flops = 2.0 * 1184.0 * i as f64 * o as f64;
        let lin = cloze::plm::layers::Linear::new(w.clone(), Some(b));
        let rate = |f: &dyn Fn() -> Tensor| {
            let _ = f();
            let t = Instant::now();
            for _ in 0..5 {
                let _ = f();
            }
            flops * 5.0 / t.elapsed().as_secs_f64() / 1e9
        };
        let fwd = rate(&|| lin.forward_act(&x, None).unwrap());
        let bwd = rate(&|| g.matmul(&w).unwrap());
        println!(
            "{i:>5}→{o:<5} forward {fwd:6.1} GFLOP/s   input gradient (candle matmul) {bwd:6.1} GFLOP/s"
        );
    }
}
