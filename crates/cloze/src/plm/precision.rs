//! The numeric precision of a model's linear layers: f32 (the default, equal to PyTorch to 1e-4)
//! or bf16 (opt-in, faster on CPUs with AVX512_BF16).
//!
//! In bf16 the linear layers' inputs and weights are rounded to bf16 as they enter the matrix
//! product, and the products are summed in f32 ([`super::cpu_kernels::bf16`]); everything else —
//! the weights as stored and trained (f32 master weights), the optimiser's state, layer norms,
//! attention scores and softmax, the LM head, the loss — stays f32. Gradients flow through the
//! same bf16 products (the input gradient `g·W` and, for trained weights, `gᵀ·x`). This is
//! PyTorch's `torch.autocast("cpu", dtype=torch.bfloat16)` for linear layers, except that the
//! layer's output stays f32 where autocast rounds it to bf16 too.
//!
//! A [`super::Plm`] carries its precision and sets it for the calls it makes
//! ([`Precision::scope`]): the linear layers read it when they build their product
//! ([`Precision::current`]), and a product's backward pass uses the precision its forward had.
//! Generation steps (one row at a time, [`super::Plm::forward_cached`]) stay f32: packing a weight
//! into bf16 for one row costs more than the product saves.

use std::cell::Cell;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The precision of the linear layers' matrix products.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum Precision {
    /// f32 throughout: the results PyTorch gives in f32.
    #[default]
    F32,
    /// bf16 factors with f32 accumulation in the linear layers; f32 elsewhere.
    Bf16,
}

thread_local! {
    static CURRENT: Cell<Precision> = const { Cell::new(Precision::F32) };
}

/// Restores the thread's previous precision when dropped (see [`Precision::scope`]).
#[must_use = "the precision holds only while the scope is alive"]
pub struct PrecisionScope {
    previous: Precision,
}

impl Drop for PrecisionScope {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

impl Precision {
    pub const ALL: [Precision; 2] = [Precision::F32, Precision::Bf16];

    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }

    /// The precision the linear layers built on this thread use now.
    pub fn current() -> Precision {
        CURRENT.with(Cell::get)
    }

    /// Makes `self` the thread's precision until the returned scope is dropped.
    pub fn scope(self) -> PrecisionScope {
        PrecisionScope { previous: CURRENT.with(|c| c.replace(self)) }
    }

    /// Whether this CPU runs this precision at full speed: always for f32; for bf16 only with
    /// AVX512_BF16 (elsewhere bf16 is emulated, slower than f32, with the same results).
    pub fn native(self) -> bool {
        match self {
            Precision::F32 => true,
            Precision::Bf16 => super::cpu_kernels::bf16_native(),
        }
    }

    /// What runs the products on this machine, for logs, run records and the app's setting.
    pub fn kernel(self) -> &'static str {
        match (self, self.native()) {
            (Precision::F32, _) => "f32",
            (Precision::Bf16, true) => "bf16 (AVX512_BF16 kernels, f32 accumulation)",
            (Precision::Bf16, false) => {
                "bf16 emulated (this CPU has no AVX512_BF16: same results as on one that has, but \
                 slower than f32)"
            }
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" | "fp32" | "float32" => Ok(Precision::F32),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            other => Err(Error::invalid(format!(
                "unknown precision {other:?}; use f32 (the default, equal to PyTorch) or bf16 (faster on \
                 CPUs with AVX512_BF16)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        let cases = [
            ("f32", Some(Precision::F32)),
            ("BF16", Some(Precision::Bf16)),
            ("bfloat16", Some(Precision::Bf16)),
            ("fp16", None),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Precision>().ok(), want, "{text}");
        }
        for p in Precision::ALL {
            assert_eq!(p.name().parse::<Precision>().unwrap(), p);
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{}\"", p.name()));
        }
        let err = "fp16".parse::<Precision>().unwrap_err().to_string();
        assert!(err.contains("bf16") && err.contains("f32"), "{err}");
    }

    #[test]
    fn scopes_nest_and_restore() {
        assert_eq!(Precision::current(), Precision::F32);
        {
            let _outer = Precision::Bf16.scope();
            assert_eq!(Precision::current(), Precision::Bf16);
            {
                let _inner = Precision::F32.scope();
                assert_eq!(Precision::current(), Precision::F32);
            }
            assert_eq!(Precision::current(), Precision::Bf16);
        }
        assert_eq!(Precision::current(), Precision::F32);
    }
}
