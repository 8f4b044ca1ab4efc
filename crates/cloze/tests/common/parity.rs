//! What the parity tests share: reading numbers and ids from a fixture's reference.json, and
//! comparing logits with transformers' within [`TOLERANCE`].
#![allow(dead_code)]

use serde_json::Value;

/// The largest |Δ| allowed between the engine's logits and transformers'.
pub const TOLERANCE: f32 = 1e-4;

pub fn floats(v: &Value) -> Vec<f32> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number") as f32).collect()
}

pub fn ids(v: &Value) -> Vec<u32> {
    v.as_array().expect("array").iter().map(|x| x.as_u64().expect("id") as u32).collect()
}

/// Asserts every `got[i]` is within [`TOLERANCE`] of `want[i]`; returns the largest difference.
pub fn assert_close(got: &[f32], want: &[f32], what: &str) -> f32 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = 0f32;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = (g - w).abs();
        assert!(d <= TOLERANCE, "{what}[{i}]: got {g}, transformers {w} (|Δ| = {d})");
        worst = worst.max(d);
    }
    worst
}
