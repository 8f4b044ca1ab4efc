//! Writes a (trained) model back as a Hugging Face checkpoint folder — `config.json`, the tokenizer
//! files and `model.safetensors` with the checkpoint's own weight names — so that [`super::Plm::load`]
//! and transformers' `AutoModelForMaskedLM.from_pretrained` read it.
//!
//! The engine keeps the query, key and value projections fused (the query pre-scaled by 1/√d);
//! saving splits them again and undoes the scale.

use std::collections::HashMap;
use std::path::Path;

use candle_core::Tensor;

use super::{Family, Plm};
use crate::error::{Error, Result};

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

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io { path: path.to_path_buf(), message: e.to_string() }
}

/// The checkpoint names of one engine weight (several for the fused QKV projection, in q, k, v order).
fn checkpoint_names(family: Family, prefix: &str, name: &str) -> Option<Vec<String>> {
    let distil = family == Family::DistilBert;
    if let Some(rest) = name.strip_prefix("embeddings.") {
        let n = match rest {
            "word_embeddings" | "position_embeddings" | "token_type_embeddings" => format!("{rest}.weight"),
            "norm.weight" => "LayerNorm.weight".into(),
            "norm.bias" => "LayerNorm.bias".into(),
            _ => return None,
        };
        return Some(vec![format!("{prefix}embeddings.{n}")]);
    }
    if let Some(rest) = name.strip_prefix("layers.") {
        let (i, part) = rest.split_once('.')?;
        let (module, param) = part.rsplit_once('.')?;
        let base = if distil {
            format!("{prefix}transformer.layer.{i}.")
        } else {
            format!("{prefix}encoder.layer.{i}.")
        };
        let modules: Vec<&str> = match (module, distil) {
            ("attention.qkv", false) => {
                vec!["attention.self.query", "attention.self.key", "attention.self.value"]
            }
            ("attention.qkv", true) => vec!["attention.q_lin", "attention.k_lin", "attention.v_lin"],
            ("attention.out", false) => vec!["attention.output.dense"],
            ("attention.out", true) => vec!["attention.out_lin"],
            ("attention_norm", false) => vec!["attention.output.LayerNorm"],
            ("attention_norm", true) => vec!["sa_layer_norm"],
            ("ffn_in", false) => vec!["intermediate.dense"],
            ("ffn_in", true) => vec!["ffn.lin1"],
            ("ffn_out", false) => vec!["output.dense"],
            ("ffn_out", true) => vec!["ffn.lin2"],
            ("ffn_norm", false) => vec!["output.LayerNorm"],
            ("ffn_norm", true) => vec!["output_layer_norm"],
            _ => return None,
        };
        return Some(modules.into_iter().map(|m| format!("{base}{m}.{param}")).collect());
    }
    let head = match family {
        Family::Bert => [
            "cls.predictions.transform.dense",
            "cls.predictions.transform.LayerNorm",
            "cls.predictions.decoder.weight",
            "cls.predictions.bias",
        ],
        Family::Roberta | Family::XlmRoberta => {
            ["lm_head.dense", "lm_head.layer_norm", "lm_head.decoder.weight", "lm_head.bias"]
        }
        Family::DistilBert => {
            ["vocab_transform", "vocab_layer_norm", "vocab_projector.weight", "vocab_projector.bias"]
        }
    };
    let n = match name {
        "head.decoder.weight" => head[2].to_string(),
        "head.decoder.bias" => head[3].to_string(),
        _ => {
            if let Some(p) = name.strip_prefix("head.dense.") {
                format!("{}.{p}", head[0])
            } else if let Some(p) = name.strip_prefix("head.norm.") {
                format!("{}.{p}", head[1])
            } else {
                return None;
            }
        }
    };
    Some(vec![n])
}

impl Plm {
    /// The weights under their checkpoint names, QKV split and unscaled.
    pub fn checkpoint_tensors(&self) -> Result<HashMap<String, Tensor>> {
        let info = self.info();
        let head_dim = info.hidden_size / info.heads;
        let scale = (head_dim as f64).sqrt();
        let mut out = HashMap::new();
        for (name, t) in self.named_weights() {
            let names = checkpoint_names(self.family, &self.encoder_prefix, &name).ok_or_else(|| {
                Error::invalid(format!("no checkpoint name for the engine weight {name:?} (a bug)"))
            })?;
            let t = t.detach().contiguous()?;
            if names.len() == 3 {
                let h = t.dim(0)? / 3;
                for (k, n) in names.into_iter().enumerate() {
                    let part = t.narrow(0, k * h, h)?;
                    let part = if k == 0 { (part * scale)? } else { part };
                    out.insert(n, part.contiguous()?);
                }
            } else {
                out.insert(names.into_iter().next().expect("one name"), t);
            }
        }
        Ok(out)
    }

    /// Writes the model as a checkpoint folder `dir` (created if needed): `model.safetensors`,
    /// `config.json` and the tokenizer files of the folder it was loaded from.
    pub fn save_pretrained(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let tensors = self.checkpoint_tensors()?;
        let weights = dir.join("model.safetensors");
        candle_core::safetensors::save(&tensors, &weights).map_err(|e| io(&weights, e))?;
        let config = dir.join("config.json");
        let text = serde_json::to_string_pretty(&self.config).map_err(|e| io(&config, e))?;
        std::fs::write(&config, text).map_err(|e| io(&config, e))?;
        for f in SIDE_FILES {
            let src = self.dir.join(f);
            if src.is_file() && self.dir != dir {
                std::fs::copy(&src, dir.join(f)).map_err(|e| io(&src, e))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ];
        for (family, prefix, name, expected) in cases {
            assert_eq!(checkpoint_names(family, prefix, name).unwrap(), expected, "{name}");
        }
        assert_eq!(checkpoint_names(Family::Bert, "", "layers.0.bogus.weight"), None);
    }
}
