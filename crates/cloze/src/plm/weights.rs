//! Reading a checkpoint's tensors: `model.safetensors`, sharded safetensors with an index, or
//! PyTorch's `pytorch_model.bin`.
//!
//! Names are kept exactly as in the checkpoint, except two historical spellings that transformers
//! itself renames when loading: `LayerNorm.gamma` / `LayerNorm.beta` (early BERT ports) become
//! `LayerNorm.weight` / `LayerNorm.bias`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};

/// Which weight file a model folder holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightFiles {
    Safetensors(PathBuf),
    ShardedSafetensors { index: PathBuf, shards: Vec<PathBuf> },
    PyTorch(PathBuf),
}

impl WeightFiles {
    /// Finds the weights in a model folder, preferring safetensors.
    pub fn find(dir: &Path) -> Result<Self> {
        let single = dir.join("model.safetensors");
        if single.is_file() {
            return Ok(WeightFiles::Safetensors(single));
        }
        let index = dir.join("model.safetensors.index.json");
        if index.is_file() {
            let text = std::fs::read_to_string(&index).map_err(|e| Error::io(&index, e))?;
            let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Model {
                path: index.clone(),
                message: format!("the shard index is not valid JSON: {e}"),
            })?;
            let mut shards: Vec<PathBuf> = json["weight_map"]
                .as_object()
                .map(|m| m.values().filter_map(|v| v.as_str()).map(|f| dir.join(f)).collect())
                .unwrap_or_default();
            shards.sort();
            shards.dedup();
            if shards.is_empty() {
                return Err(Error::Model {
                    path: index,
                    message: "the shard index has no weight_map".into(),
                });
            }
            return Ok(WeightFiles::ShardedSafetensors { index, shards });
        }
        let bin = dir.join("pytorch_model.bin");
        if bin.is_file() {
            return Ok(WeightFiles::PyTorch(bin));
        }
        Err(Error::Model {
            path: dir.to_path_buf(),
            message: "no weights found: expected model.safetensors, model.safetensors.index.json or \
                      pytorch_model.bin in this folder"
                .into(),
        })
    }

    /// The file to name in messages.
    pub fn path(&self) -> &Path {
        match self {
            WeightFiles::Safetensors(p) | WeightFiles::PyTorch(p) => p,
            WeightFiles::ShardedSafetensors { index, .. } => index,
        }
    }

    /// Reads every tensor, converted to `dtype` on `device`, with names normalised as the module
    /// header says.
    pub fn load(&self, dtype: DType, device: &Device) -> Result<HashMap<String, Tensor>> {
        let bad = |path: &Path, e: candle_core::Error| Error::Model {
            path: path.to_path_buf(),
            message: format!("cannot read the weights ({e}); the file may be truncated or not a checkpoint"),
        };
        let raw: Vec<(String, Tensor)> = match self {
            WeightFiles::Safetensors(p) => {
                candle_core::safetensors::load(p, &Device::Cpu).map_err(|e| bad(p, e))?.into_iter().collect()
            }
            WeightFiles::ShardedSafetensors { shards, .. } => {
                let mut all = Vec::new();
                for p in shards {
                    all.extend(candle_core::safetensors::load(p, &Device::Cpu).map_err(|e| bad(p, e))?);
                }
                all
            }
            WeightFiles::PyTorch(p) => candle_core::pickle::read_all(p).map_err(|e| bad(p, e))?,
        };
        let mut out = HashMap::with_capacity(raw.len());
        for (name, t) in raw {
            let t = if t.dtype() == dtype { t } else { t.to_dtype(dtype)? };
            let t = t.to_device(device)?;
            out.insert(normalise_name(&name), t);
        }
        Ok(out)
    }
}

fn normalise_name(name: &str) -> String {
    if let Some(stem) = name.strip_suffix(".gamma") {
        format!("{stem}.weight")
    } else if let Some(stem) = name.strip_suffix(".beta") {
        format!("{stem}.bias")
    } else {
        name.to_string()
    }
}

/// The prefix under which a checkpoint stores the encoder: `bert.`, `roberta.`, `distilbert.`, or
/// nothing for bare encoders such as sentence-transformers exports.
pub fn detect_prefix(tensors: &HashMap<String, Tensor>, candidates: &[&str], probe: &str) -> Option<String> {
    candidates.iter().find(|p| tensors.contains_key(&format!("{p}{probe}"))).map(|p| p.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised() {
        let cases = [
            ("bert.embeddings.LayerNorm.gamma", "bert.embeddings.LayerNorm.weight"),
            ("bert.embeddings.LayerNorm.beta", "bert.embeddings.LayerNorm.bias"),
            ("bert.embeddings.word_embeddings.weight", "bert.embeddings.word_embeddings.weight"),
            ("cls.predictions.bias", "cls.predictions.bias"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalise_name(input), expected);
        }
    }

    #[test]
    fn missing_weights_are_explained() {
        let dir = std::env::temp_dir().join(format!("cloze-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = WeightFiles::find(&dir).unwrap_err().to_string();
        assert!(err.contains("expected model.safetensors"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
