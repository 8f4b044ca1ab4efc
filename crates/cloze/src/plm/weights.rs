//! Reading a checkpoint's tensors: `model.safetensors`, sharded safetensors with an index, or
//! PyTorch's `pytorch_model.bin`.
//!
//! Names are kept exactly as in the checkpoint, except two historical spellings that transformers
//! itself renames when loading: `LayerNorm.gamma` / `LayerNorm.beta` (early BERT ports) become
//! `LayerNorm.weight` / `LayerNorm.bias`.
//!
//! [`CheckpointNames`] is the one map between a family's checkpoint names and the engine's module
//! names: the model loaders read their weights through it and `save_pretrained` writes them back
//! through it.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::QTensor;
use candle_core::{DType, Device, Tensor};

use super::{Family, checks};
use crate::error::{Error, Result};

/// Which weight file a model folder holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightFiles {
    Safetensors(PathBuf),
    ShardedSafetensors {
        index: PathBuf,
        shards: Vec<PathBuf>,
    },
    PyTorch(PathBuf),
    /// A llama.cpp GGUF file: its linear layers' weights kept quantised for inference, everything
    /// else dequantised when read ([`super::gguf::GgufModel::split_tensors`]).
    Gguf(PathBuf),
}

/// How a GGUF file's quantised weights are held once loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GgufWeights {
    /// The linear layers' weights stay as the file stores them and the matrix products read the
    /// blocks (llama.cpp's way: the file's size in memory). Embeddings and norms are dequantised.
    #[default]
    Quantised,
    /// Every weight dequantised to the load's dtype when read (what transformers does with
    /// `gguf_file=`; 4–8× the file's size).
    Dequantised,
}

/// A checkpoint's tensors by checkpoint name, as a family's loader reads them: dense tensors
/// (what it indexes directly, through `Deref`), and the linear layers' weights a GGUF file loaded
/// with [`GgufWeights::Quantised`] keeps quantised.
#[derive(Debug, Default)]
pub struct Checkpoint {
    pub dense: HashMap<String, Tensor>,
    pub quantised: HashMap<String, Arc<QTensor>>,
}

impl Deref for Checkpoint {
    type Target = HashMap<String, Tensor>;
    fn deref(&self) -> &Self::Target {
        &self.dense
    }
}

impl DerefMut for Checkpoint {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.dense
    }
}

impl From<HashMap<String, Tensor>> for Checkpoint {
    fn from(dense: HashMap<String, Tensor>) -> Self {
        Self { dense, quantised: HashMap::new() }
    }
}

/// How a GGUF tensor is held under [`GgufWeights::Quantised`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Dequantised to f32 (norms, float tensors, anything the kernels do not multiply).
    Dense,
    /// As stored: a decoder block's linear weight (attention and feed-forward projections).
    Quantised,
    /// Both: the embedding matrix and LM head, which are indexed by row and multiplied in f32 for
    /// prompts and batches, and multiplied block by block for a generation step (reading a
    /// quarter of the bytes per token).
    Both,
}

/// How a GGUF tensor is held under [`GgufWeights::Quantised`], by its Hugging Face name and type.
pub fn hold(hf_name: &str, dtype: candle_core::quantized::GgmlDType) -> Hold {
    if !super::cpu_kernels::multiplies_quantised(dtype) {
        return Hold::Dense;
    }
    if hf_name.starts_with("model.layers.") && hf_name.ends_with("_proj.weight") {
        return Hold::Quantised;
    }
    match hf_name {
        "model.embed_tokens.weight" | "lm_head.weight" => Hold::Both,
        _ => Hold::Dense,
    }
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
                message: "the shard index is not valid JSON".into(),
                source: Some(e.into()),
            })?;
            let mut shards = Vec::new();
            for (tensor, file) in json["weight_map"].as_object().into_iter().flatten() {
                shards.push(dir.join(shard_name(&index, tensor, file)?));
            }
            shards.sort();
            shards.dedup();
            if shards.is_empty() {
                return Err(Error::Model {
                    path: index,
                    message: "the shard index has no weight_map".into(),
                    source: None,
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
            source: None,
        })
    }

    /// The file to name in messages.
    pub fn path(&self) -> &Path {
        match self {
            WeightFiles::Safetensors(p) | WeightFiles::PyTorch(p) | WeightFiles::Gguf(p) => p,
            WeightFiles::ShardedSafetensors { index, .. } => index,
        }
    }

    /// Reads every tensor, converted to `dtype` on `device`, with names normalised as the module
    /// header says. Every size the files declare is checked against them first
    /// ([`checks::check_safetensors`], [`checks::check_pytorch`]).
    /// A GGUF file's linear layers stay quantised with [`GgufWeights::Quantised`] when `dtype` is
    /// f32 (the quantised kernels compute in f32).
    pub fn load(&self, dtype: DType, device: &Device, gguf: GgufWeights) -> Result<Checkpoint> {
        let bad = |path: &Path, e: candle_core::Error| Error::Model {
            path: path.to_path_buf(),
            message: "cannot read the weights (the file may be truncated or not a checkpoint)".into(),
            source: Some(e.into()),
        };
        let mut quantised = HashMap::new();
        let raw: Vec<(String, Tensor)> = match self {
            WeightFiles::Safetensors(p) => {
                checks::check_safetensors(p)?;
                candle_core::safetensors::load(p, &Device::Cpu).map_err(|e| bad(p, e))?.into_iter().collect()
            }
            WeightFiles::ShardedSafetensors { shards, .. } => {
                let mut all = Vec::new();
                for p in shards {
                    checks::check_safetensors(p)?;
                    all.extend(candle_core::safetensors::load(p, &Device::Cpu).map_err(|e| bad(p, e))?);
                }
                all
            }
            WeightFiles::PyTorch(p) => {
                checks::check_pytorch(p)?;
                checks::guard_candle(p, || candle_core::pickle::read_all(p))?.map_err(|e| bad(p, e))?
            }
            WeightFiles::Gguf(p) => {
                let keep = gguf == GgufWeights::Quantised && dtype == DType::F32;
                let model = super::gguf::GgufModel::open(p)?;
                let split =
                    model.split_tensors(device, |name, t| if keep { hold(name, t) } else { Hold::Dense })?;
                quantised = split.quantised;
                split.dense.into_iter().collect()
            }
        };
        let mut out = HashMap::with_capacity(raw.len());
        for (name, t) in raw {
            let t = if t.dtype() == dtype { t } else { t.to_dtype(dtype)? };
            let t = t.to_device(device)?;
            out.insert(normalise_name(&name), t);
        }
        Ok(Checkpoint { dense: out, quantised })
    }
}

/// A shard's file name from the index's `weight_map` (`tensor` → `file`): one plain name beside the
/// index, so an index can never point the loader outside the model folder (`../x.safetensors`,
/// `/etc/passwd`, `sub/../../x`).
fn shard_name(index: &Path, tensor: &str, file: &serde_json::Value) -> Result<PathBuf> {
    let bad = |what: String| Error::Model {
        path: index.to_path_buf(),
        message: format!(
            "the shard index maps {tensor:?} to {what}; a shard must be a file name beside the index \
             (e.g. model-00001-of-00002.safetensors) — fix or re-download the model"
        ),
        source: None,
    };
    let Some(name) = file.as_str() else { return Err(bad(format!("{file}, which is not a file name"))) };
    crate::files::safe_name(name, "the shard")
        .map(PathBuf::from)
        .map_err(|_| bad(format!("{name:?}, which is not a plain file name in this folder")))
}

/// Where a family's checkpoint keeps each module, as `VarBuilder` paths (a module's `.weight` and
/// `.bias` sit under it). Encoder modules are under the checkpoint's encoder prefix (`bert.`,
/// `distilbert.`, … or none); the MLM head is not.
#[derive(Debug)]
pub struct CheckpointNames {
    /// The layer list: layer `i` is `{layers}.{i}`.
    pub layers: &'static str,
    /// In a layer: the query, key and value projections, which the engine keeps fused as
    /// `attention.qkv` (the query part pre-scaled by 1/√head_dim).
    pub qkv: [&'static str; 3],
    /// In a layer: the engine's `attention.out`, `attention_norm`, `ffn_in`, `ffn_out`, `ffn_norm`.
    pub attention_out: &'static str,
    pub attention_norm: &'static str,
    pub ffn_in: &'static str,
    pub ffn_out: &'static str,
    pub ffn_norm: &'static str,
    /// The MLM head: the engine's `head.dense`, `head.norm`, `head.decoder` (its `.weight`) and
    /// `head.decoder.bias`.
    pub head_dense: &'static str,
    pub head_norm: &'static str,
    pub head_decoder: &'static str,
    pub head_bias: &'static str,
    /// ALBERT's projection of the (narrower) embeddings to the hidden width, the engine's
    /// `embeddings.projection` (under the encoder prefix); none in the other families.
    pub embedding_projection: Option<&'static str>,
}

/// The embeddings, the same in every family: the engine's `embeddings.{name}` is the checkpoint's
/// `embeddings.{name}.weight`, and `embeddings.norm` is `embeddings.LayerNorm`.
pub const EMBEDDINGS: &str = "embeddings";
pub const EMBEDDING_TABLES: [&str; 3] = ["word_embeddings", "position_embeddings", "token_type_embeddings"];
pub const EMBEDDING_NORM: &str = "LayerNorm";

const BERT: CheckpointNames = CheckpointNames {
    layers: "encoder.layer",
    qkv: ["attention.self.query", "attention.self.key", "attention.self.value"],
    attention_out: "attention.output.dense",
    attention_norm: "attention.output.LayerNorm",
    ffn_in: "intermediate.dense",
    ffn_out: "output.dense",
    ffn_norm: "output.LayerNorm",
    head_dense: "cls.predictions.transform.dense",
    head_norm: "cls.predictions.transform.LayerNorm",
    head_decoder: "cls.predictions.decoder",
    head_bias: "cls.predictions.bias",
    embedding_projection: None,
};

const ROBERTA: CheckpointNames = CheckpointNames {
    head_dense: "lm_head.dense",
    head_norm: "lm_head.layer_norm",
    head_decoder: "lm_head.decoder",
    head_bias: "lm_head.bias",
    ..BERT
};

const DISTILBERT: CheckpointNames = CheckpointNames {
    layers: "transformer.layer",
    qkv: ["attention.q_lin", "attention.k_lin", "attention.v_lin"],
    attention_out: "attention.out_lin",
    attention_norm: "sa_layer_norm",
    ffn_in: "ffn.lin1",
    ffn_out: "ffn.lin2",
    ffn_norm: "output_layer_norm",
    head_dense: "vocab_transform",
    head_norm: "vocab_layer_norm",
    head_decoder: "vocab_projector",
    head_bias: "vocab_projector.bias",
    embedding_projection: None,
};

/// ALBERT keeps one layer per hidden group (`inner_group_num` 1): the engine's `layers.{g}` is
/// group `g`'s layer, shared by every layer of the group.
const ALBERT: CheckpointNames = CheckpointNames {
    layers: "encoder.albert_layer_groups",
    qkv: [
        "albert_layers.0.attention.query",
        "albert_layers.0.attention.key",
        "albert_layers.0.attention.value",
    ],
    attention_out: "albert_layers.0.attention.dense",
    attention_norm: "albert_layers.0.attention.LayerNorm",
    ffn_in: "albert_layers.0.ffn",
    ffn_out: "albert_layers.0.ffn_output",
    ffn_norm: "albert_layers.0.full_layer_layer_norm",
    head_dense: "predictions.dense",
    head_norm: "predictions.LayerNorm",
    head_decoder: "predictions.decoder",
    head_bias: "predictions.bias",
    embedding_projection: Some("encoder.embedding_hidden_mapping_in"),
};

impl CheckpointNames {
    /// The map of an encoder family (decoders and encoder–decoders keep their checkpoint names as
    /// engine names).
    pub fn of(family: Family) -> Option<&'static CheckpointNames> {
        match family {
            Family::Bert => Some(&BERT),
            Family::Roberta | Family::XlmRoberta => Some(&ROBERTA),
            Family::DistilBert => Some(&DISTILBERT),
            Family::Albert => Some(&ALBERT),
            Family::Gpt2 | Family::Llama | Family::Gemma3 | Family::T5 | Family::Bart => None,
        }
    }

    pub const BERT: &'static CheckpointNames = &BERT;
    pub const ROBERTA: &'static CheckpointNames = &ROBERTA;
    pub const DISTILBERT: &'static CheckpointNames = &DISTILBERT;
    pub const ALBERT: &'static CheckpointNames = &ALBERT;

    /// The checkpoint names of the engine weight `name` (`embeddings.*`, `layers.{i}.*`, `head.*`,
    /// as the models' `visit_params` name them), with the encoder `prefix`: three for the fused
    /// QKV projection (q, k, v), one otherwise; `None` for a name the map does not know.
    pub fn checkpoint(&self, prefix: &str, name: &str) -> Option<Vec<String>> {
        if let Some(rest) = name.strip_prefix("embeddings.") {
            if let Some(param) = rest.strip_prefix("projection.") {
                return Some(vec![format!("{prefix}{}.{param}", self.embedding_projection?)]);
            }
            let n = match rest.strip_prefix("norm.") {
                Some(param) => format!("{EMBEDDING_NORM}.{param}"),
                None if EMBEDDING_TABLES.contains(&rest) => format!("{rest}.weight"),
                None => return None,
            };
            return Some(vec![format!("{prefix}{EMBEDDINGS}.{n}")]);
        }
        if let Some(rest) = name.strip_prefix("layers.") {
            let (i, part) = rest.split_once('.')?;
            let (module, param) = part.rsplit_once('.')?;
            let modules: &[&str] = match module {
                "attention.qkv" => &self.qkv,
                "attention.out" => std::slice::from_ref(&self.attention_out),
                "attention_norm" => std::slice::from_ref(&self.attention_norm),
                "ffn_in" => std::slice::from_ref(&self.ffn_in),
                "ffn_out" => std::slice::from_ref(&self.ffn_out),
                "ffn_norm" => std::slice::from_ref(&self.ffn_norm),
                _ => return None,
            };
            return Some(
                modules.iter().map(|m| format!("{prefix}{}.{i}.{m}.{param}", self.layers)).collect(),
            );
        }
        let n = match name {
            "head.decoder.weight" => format!("{}.weight", self.head_decoder),
            "head.decoder.bias" => self.head_bias.to_string(),
            _ => {
                if let Some(p) = name.strip_prefix("head.dense.") {
                    format!("{}.{p}", self.head_dense)
                } else if let Some(p) = name.strip_prefix("head.norm.") {
                    format!("{}.{p}", self.head_norm)
                } else {
                    return None;
                }
            }
        };
        Some(vec![n])
    }
}

/// The weights of an encoder (engine names from `visit_params`, tied weights listed once) under
/// their checkpoint names through `names` with the encoder `prefix`: the fused QKV projection split
/// into q, k and v again and the query's 1/√head_dim pre-scaling undone.
pub fn encoder_checkpoint_tensors(
    named: Vec<(String, Tensor)>,
    names: &CheckpointNames,
    prefix: &str,
    head_dim: usize,
) -> candle_core::Result<HashMap<String, Tensor>> {
    let scale = (head_dim as f64).sqrt();
    let mut out = HashMap::new();
    for (name, t) in named {
        let Some(names) = names.checkpoint(prefix, &name) else {
            candle_core::bail!("no checkpoint name for the engine weight {name:?} (a bug)")
        };
        let t = t.detach().contiguous()?;
        if names.len() == 3 {
            let h = t.dim(0)? / 3;
            for (k, n) in names.into_iter().enumerate() {
                let part = t.narrow(0, k * h, h)?;
                let part = if k == 0 { (part * scale)? } else { part };
                out.insert(n, part.contiguous()?);
            }
        } else if let Some(n) = names.into_iter().next() {
            out.insert(n, t);
        }
    }
    Ok(out)
}

/// Each tensor once, by the first name it was visited under (tied weights share one tensor).
pub fn unique_params(visit: impl FnOnce(super::layers::ParamFn)) -> Vec<(String, Tensor)> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut f = |name: String, t: &mut Tensor| {
        if seen.insert(t.id()) {
            out.push((name, t.clone()));
        }
    };
    visit(&mut f);
    out
}

/// The weights of a network whose engine names are its checkpoint names (the decoders and
/// encoder–decoders): each tensor once, detached, under the first name it is visited by — a tied
/// head is written once, as the embeddings.
pub fn by_engine_names(net: &dyn super::Network) -> HashMap<String, Tensor> {
    let mut copy = net.box_clone();
    unique_params(|f| copy.visit_params(f)).into_iter().map(|(n, t)| (n, t.detach())).collect()
}

/// Makes sure the checkpoint has the shared embeddings `name`: some encoder–decoder exports keep
/// only the encoder's copy, `copy`. False when neither is there.
pub fn shared_embeddings(t: &mut HashMap<String, Tensor>, name: &str, copy: &str) -> bool {
    if t.contains_key(name) {
        return true;
    }
    match t.get(copy).cloned() {
        Some(e) => {
            t.insert(name.to_string(), e);
            true
        }
        None => false,
    }
}

/// The checkpoint tensor `name`, which must have `shape` (a loader's one way to read a weight).
pub fn shaped(t: &HashMap<String, Tensor>, name: &str, shape: &[usize]) -> candle_core::Result<Tensor> {
    let x = t.get(name).ok_or_else(|| candle_core::Error::Msg(format!("missing weight {name}")))?;
    if x.dims() != shape {
        candle_core::bail!("weight {name} has shape {:?}, expected {shape:?}", x.dims());
    }
    Ok(x.clone())
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
