//! Writes a (trained) model back as a Hugging Face checkpoint folder — `config.json`, the tokenizer
//! files and `model.safetensors` with the checkpoint's own weight names — so that [`super::Plm::load`]
//! and transformers' `AutoModelForMaskedLM.from_pretrained` read it.
//!
//! Each family's network gives its weights under the checkpoint's names (fused projections split,
//! transposes and pre-scaling undone) through the same name map its loader reads.

use std::collections::HashMap;
use std::path::Path;

use candle_core::Tensor;

use super::Plm;
use crate::error::{Error, Result};
use crate::files::AtomicDir;

/// Files copied from the source folder when present.
const SIDE_FILES: [&str; 7] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
];

impl Plm {
    /// The weights under their checkpoint names, as the family's loader reads them
    /// ([`super::network::Network::checkpoint_tensors`]).
    pub fn checkpoint_tensors(&self) -> Result<HashMap<String, Tensor>> {
        Ok(self.network().checkpoint_tensors()?)
    }

    /// Writes the model as a checkpoint folder `dir`: `model.safetensors`, `config.json` and the
    /// tokenizer files of the folder it was loaded from. The files are written into a temporary
    /// folder beside `dir` and renamed into place whole ([`AtomicDir`]): a folder already at `dir` is
    /// replaced, and a failure (or a crash) part-way leaves it as it was. The parent folder is
    /// created if needed.
    pub fn save_pretrained(&self, dir: &Path) -> Result<()> {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let tensors = self.checkpoint_tensors()?;
        let out = AtomicDir::create(dir)?;
        let weights = out.path().join("model.safetensors");
        candle_core::safetensors::save(&tensors, &weights)
            .map_err(|e| Error::io(dir.join("model.safetensors"), e))?;
        let config = dir.join("config.json");
        let text = serde_json::to_string_pretty(&self.config).map_err(|e| Error::io(&config, e))?;
        std::fs::write(out.path().join("config.json"), text).map_err(|e| Error::io(&config, e))?;
        // A GGUF model's folder holds only the .gguf file: its tokenizer (built from the metadata)
        // is written as tokenizer.json, without the engine's mask placeholder.
        let from_gguf = matches!(self.weights, super::WeightFiles::Gguf(_));
        for f in SIDE_FILES {
            let src = self.dir.join(f);
            if src.is_file() && !from_gguf {
                std::fs::copy(&src, out.path().join(f)).map_err(|e| Error::io(&src, e))?;
            }
        }
        if from_gguf {
            let target = dir.join("tokenizer.json");
            let text = self.tokenizer.to_json_without_placeholder().map_err(|e| Error::io(&target, e))?;
            std::fs::write(out.path().join("tokenizer.json"), text).map_err(|e| Error::io(&target, e))?;
        }
        out.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::super::Family;
    use super::super::weights::CheckpointNames;

    #[test]
    fn names_by_family() {
        let cases = [
            (Family::Bert, "bert.", "embeddings.norm.weight", vec!["bert.embeddings.LayerNorm.weight"]),
            (
                Family::Bert,
                "",
                "layers.3.attention.qkv.bias",
                vec![
                    "encoder.layer.3.attention.self.query.bias",
                    "encoder.layer.3.attention.self.key.bias",
                    "encoder.layer.3.attention.self.value.bias",
                ],
            ),
            (Family::Roberta, "roberta.", "head.norm.weight", vec!["lm_head.layer_norm.weight"]),
            (Family::Bert, "bert.", "head.decoder.bias", vec!["cls.predictions.bias"]),
            (
                Family::DistilBert,
                "distilbert.",
                "layers.0.ffn_norm.bias",
                vec!["distilbert.transformer.layer.0.output_layer_norm.bias"],
            ),
            (Family::DistilBert, "distilbert.", "head.dense.weight", vec!["vocab_transform.weight"]),
            (
                Family::Albert,
                "albert.",
                "embeddings.projection.weight",
                vec!["albert.encoder.embedding_hidden_mapping_in.weight"],
            ),
            (
                Family::Albert,
                "albert.",
                "layers.1.ffn_norm.bias",
                vec!["albert.encoder.albert_layer_groups.1.albert_layers.0.full_layer_layer_norm.bias"],
            ),
            (Family::Albert, "albert.", "head.decoder.bias", vec!["predictions.bias"]),
        ];
        for (family, prefix, name, expected) in cases {
            assert_eq!(
                CheckpointNames::of(family).unwrap().checkpoint(prefix, name).unwrap(),
                expected,
                "{name}"
            );
        }
        assert_eq!(CheckpointNames::BERT.checkpoint("", "layers.0.bogus.weight"), None);
        assert_eq!(CheckpointNames::BERT.checkpoint("", "embeddings.projection.weight"), None);
    }
}
