//! GGUF files (llama.cpp's single-file format) turned into what the engine's loaders consume: a
//! Hugging Face `config.json` equivalent, tensors under Hugging Face names (dequantised to f32 or
//! kept quantised), the quantisation summary and the chat template. The tokenizer is built from the
//! same metadata in [`super::gguf_tokenizer`].
//!
//! candle-core's `quantized::gguf_file` does the parsing; nothing it reads is trusted before it is
//! checked, because candle panics or worse on hostile files (fuzz/known/README.md):
//! - before candle runs, [`GgufModel::open`] checks the header (magic, version, counts against the
//!   file's length) and walks the metadata and tensor descriptions once without keeping them, to
//!   check `general.alignment` (candle divides by it: 0 must be refused), to name a tensor whose
//!   type candle does not know, and to report a truncated file as truncated;
//! - candle's `Content::read` then runs under [`checks::guard_candle`];
//! - before any `Content::tensor`, every tensor's dimensions are checked: a checked, non-zero element
//!   count (candle computes it unchecked, and reaches an unaligned `from_raw_parts` on an empty
//!   tensor), whole blocks, a supported type, and offset + size within the file.
//!
//! llama.cpp's converter permutes the rows of `q_proj` and `k_proj` of Llama-style models for its
//! interleaved rotary embedding (`LlamaModel.permute` in convert_hf_to_gguf.py: each head's rows
//! `[2, head_dim/2]` stored as `[head_dim/2, 2]`). Both [`GgufModel::tensors_f32`] and
//! [`GgufModel::qtensors`] undo it, so a model written for safetensors Llama (half-split rotary
//! embedding) gives the same result from either file. Quantised tensors are un-permuted exactly by
//! moving whole rows of blocks (a ggml block never spans two rows), without requantising.
//! Qwen2 files are not permuted (llama.cpp runs Qwen2 with the half-split "NeoX" rotary embedding).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::{GgmlDType, QTensor, ggml_file};
use candle_core::{DType, Device, Tensor};

use super::checks::{self, MAX_LAYERS, MAX_POSITIONS, MAX_VOCAB, MAX_WIDTH};
use crate::error::{Error, Result};

/// The `general.architecture` values read as the Llama architecture, with the Hugging Face
/// `model_type` and class each becomes.
const ARCHITECTURES: [(&str, &str, &str); 3] = [
    ("llama", "llama", "LlamaForCausalLM"),
    ("mistral", "mistral", "MistralForCausalLM"),
    ("qwen2", "qwen2", "Qwen2ForCausalLM"),
];

/// The `general.architecture` values read, for messages and the Hub's "supported" flag.
pub const READ_ARCHITECTURES: [&str; 3] = [ARCHITECTURES[0].0, ARCHITECTURES[1].0, ARCHITECTURES[2].0];

/// Whether a GGUF file of this `general.architecture` is read.
pub fn reads_architecture(architecture: &str) -> bool {
    ARCHITECTURES.iter().any(|(a, _, _)| *a == architecture)
}

/// The tensor types read: those candle dequantises and llama.cpp writes for model weights.
const SUPPORTED_TYPES: [GgmlDType; 13] = [
    GgmlDType::F32,
    GgmlDType::F16,
    GgmlDType::BF16,
    GgmlDType::Q4_0,
    GgmlDType::Q4_1,
    GgmlDType::Q5_0,
    GgmlDType::Q5_1,
    GgmlDType::Q8_0,
    GgmlDType::Q2K,
    GgmlDType::Q3K,
    GgmlDType::Q4K,
    GgmlDType::Q5K,
    GgmlDType::Q6K,
];

/// The type ids candle reads (ggml.h's `ggml_type`: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
/// Q8_1, Q2_K…Q8_K, BF16).
const KNOWN_TYPE_IDS: [u32; 15] = [0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 30];

/// The most metadata entries and tensors a file may declare (real models: tens and hundreds to a
/// few thousand).
const MAX_ENTRIES: u64 = 1 << 20;
/// The longest metadata key (real ones are under 64 bytes).
const MAX_KEY: u64 = 1 << 16;
/// How deep metadata arrays may nest (llama.cpp writes flat arrays).
const MAX_NESTING: u32 = 4;
/// The largest `general.alignment` accepted (llama.cpp writes 32).
const MAX_ALIGNMENT: u64 = 1 << 16;

/// What the tensors of a file are stored as.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantisation {
    /// One entry per tensor type, most bytes first.
    pub types: Vec<TypeShare>,
    /// The type holding the most bytes, as llama.cpp names it ("Q4_1").
    pub dominant: String,
}

/// How many tensors of one type a file holds, and their bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeShare {
    /// llama.cpp's name of the type ("Q4_K", "F32").
    pub name: String,
    pub dtype: GgmlDType,
    pub tensors: usize,
    pub bytes: u64,
}

/// One tensor of the file under its Hugging Face name.
#[derive(Debug, Clone)]
struct Entry {
    /// The name in the file (`blk.0.attn_q.weight`).
    gguf: String,
    /// Rows stored permuted by llama.cpp for interleaved rotary embeddings, in this many heads.
    permuted_heads: Option<usize>,
}

/// A checked GGUF file: its metadata as a Hugging Face config, and its tensors by Hugging Face name.
#[derive(Debug)]
pub struct GgufModel {
    pub path: PathBuf,
    /// `general.architecture` ("llama", "qwen2", "mistral").
    pub architecture: String,
    /// A Hugging Face `config.json` equivalent (`model_type`, `hidden_size`, `num_key_value_heads`…).
    pub config: serde_json::Value,
    pub quantisation: Quantisation,
    /// `tokenizer.chat_template`, when the file has one.
    pub chat_template: Option<String>,
    /// The file's length when it was checked.
    pub file_len: u64,
    content: Content,
    /// Hugging Face name → the tensor in the file.
    names: BTreeMap<String, Entry>,
}

fn model_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Model { path: path.to_path_buf(), message: message.into(), source: None }
}

fn truncated(path: &Path, what: impl std::fmt::Display) -> Error {
    model_err(
        path,
        format!(
            "the file is truncated: {what} (an interrupted download?); re-download it, and check its size \
             against the one the Hub lists"
        ),
    )
}

/// llama.cpp's name of a tensor type.
pub fn type_name(dtype: GgmlDType) -> &'static str {
    match dtype {
        GgmlDType::F32 => "F32",
        GgmlDType::F16 => "F16",
        GgmlDType::BF16 => "BF16",
        GgmlDType::Q4_0 => "Q4_0",
        GgmlDType::Q4_1 => "Q4_1",
        GgmlDType::Q5_0 => "Q5_0",
        GgmlDType::Q5_1 => "Q5_1",
        GgmlDType::Q8_0 => "Q8_0",
        GgmlDType::Q8_1 => "Q8_1",
        GgmlDType::Q2K => "Q2_K",
        GgmlDType::Q3K => "Q3_K",
        GgmlDType::Q4K => "Q4_K",
        GgmlDType::Q5K => "Q5_K",
        GgmlDType::Q6K => "Q6_K",
        GgmlDType::Q8K => "Q8_K",
    }
}

/// llama.cpp's name of a type id candle does not read (ggml.h's `ggml_type`).
fn unknown_type_name(id: u32) -> &'static str {
    match id {
        4 | 5 => "Q4_2/Q4_3 (removed from llama.cpp)",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        34 => "TQ1_0",
        35 => "TQ2_0",
        39 => "MXFP4",
        _ => "an unknown type",
    }
}

fn supported_types_text() -> String {
    SUPPORTED_TYPES.iter().map(|t| type_name(*t)).collect::<Vec<_>>().join(", ")
}

fn unsupported_type(path: &Path, tensor: &str, what: &str) -> Error {
    model_err(
        path,
        format!(
            "tensor `{tensor}` is stored as {what}, which Cloze Studio cannot read; supported: {}. Download \
             the model quantised as one of those (e.g. Q4_K_M or Q8_0)",
            supported_types_text()
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// The check before candle: header and metadata walked without allocating from declared sizes.

/// A reader that knows how much of the file is left.
struct Walk<R> {
    r: R,
    at: u64,
    len: u64,
}

/// Why the walk stopped.
enum WalkErr {
    /// The file ends at `at` while `what` needs more bytes.
    Truncated(String),
    Bad(String),
    /// A file this reader does not support (the message says what to do).
    Unsupported(String),
    /// Tensor `name` has a type id candle does not read.
    Type(String, u32),
    Io(std::io::Error),
}

impl From<std::io::Error> for WalkErr {
    fn from(e: std::io::Error) -> Self {
        WalkErr::Io(e)
    }
}

impl<R: Read + Seek> Walk<R> {
    fn need(&self, n: u64, what: &str) -> std::result::Result<(), WalkErr> {
        if n > self.len - self.at {
            return Err(WalkErr::Truncated(format!(
                "{what} at byte {} needs {n} bytes but the file ends at byte {}",
                self.at, self.len
            )));
        }
        Ok(())
    }

    fn bytes<const N: usize>(&mut self, what: &str) -> std::result::Result<[u8; N], WalkErr> {
        self.need(N as u64, what)?;
        let mut b = [0u8; N];
        self.r.read_exact(&mut b)?;
        self.at += N as u64;
        Ok(b)
    }

    fn u32(&mut self, what: &str) -> std::result::Result<u32, WalkErr> {
        Ok(u32::from_le_bytes(self.bytes::<4>(what)?))
    }

    fn u64(&mut self, what: &str) -> std::result::Result<u64, WalkErr> {
        Ok(u64::from_le_bytes(self.bytes::<8>(what)?))
    }

    /// A metadata key or tensor name (a length-prefixed string of at most [`MAX_KEY`] bytes).
    fn name(&mut self, what: &str) -> std::result::Result<String, WalkErr> {
        let len = self.u64(what)?;
        if len > MAX_KEY {
            return Err(WalkErr::Bad(format!("{what} at byte {} is {len} bytes long", self.at)));
        }
        self.need(len, what)?;
        let mut bytes = vec![0u8; len as usize];
        self.r.read_exact(&mut bytes)?;
        self.at += len;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn skip(&mut self, n: u64, what: &str) -> std::result::Result<(), WalkErr> {
        self.need(n, what)?;
        let n_i64 = i64::try_from(n).map_err(|_| WalkErr::Bad(format!("{what} is too long")))?;
        self.r.seek_relative(n_i64)?;
        self.at += n;
        Ok(())
    }

    /// Skips one metadata value of type `ty`; returns it when it is an integer.
    fn value(
        &mut self,
        ty: u32,
        depth: u32,
        what: &str,
    ) -> std::result::Result<Option<(u64, bool)>, WalkErr> {
        let fixed = |ty: u32| match ty {
            0 | 1 | 7 => Some(1u64),
            2 | 3 => Some(2),
            4..=6 => Some(4),
            10..=12 => Some(8),
            _ => None,
        };
        match ty {
            // Integers, returned with whether the type is one candle reads `general.alignment` from.
            0 => Ok(Some((u64::from(self.bytes::<1>(what)?[0]), true))),
            1 => Ok(Some((i8::from_le_bytes(self.bytes::<1>(what)?) as u64, true))),
            2 => Ok(Some((u64::from(u16::from_le_bytes(self.bytes::<2>(what)?)), true))),
            3 => Ok(Some((i16::from_le_bytes(self.bytes::<2>(what)?) as u64, true))),
            4 => Ok(Some((u64::from(self.u32(what)?), true))),
            5 => Ok(Some((self.u32(what)? as i32 as u64, true))),
            10 => Ok(Some((self.u64(what)?, false))),
            11 => Ok(Some((self.u64(what)?, false))),
            6 | 7 | 12 => {
                self.skip(fixed(ty).unwrap_or(1), what)?;
                Ok(None)
            }
            8 => {
                let n = self.u64(what)?;
                self.skip(n, what)?;
                Ok(None)
            }
            9 => {
                if depth >= MAX_NESTING {
                    return Err(WalkErr::Bad(format!("{what}: arrays nested more than {MAX_NESTING} deep")));
                }
                let elem = self.u32(what)?;
                let count = self.u64(what)?;
                match (elem, fixed(elem)) {
                    (_, Some(size)) => {
                        let total = count
                            .checked_mul(size)
                            .ok_or_else(|| WalkErr::Bad(format!("{what}: an array of {count} values")))?;
                        self.skip(total, what)?;
                    }
                    (8 | 9, None) => {
                        // Each element takes at least 8 bytes: refuse counts the file cannot hold
                        // before looping over them.
                        self.need(count.saturating_mul(8), what)?;
                        for _ in 0..count {
                            self.value(elem, depth + 1, what)?;
                        }
                    }
                    _ => return Err(WalkErr::Bad(format!("{what}: an array of unknown value type {elem}"))),
                }
                Ok(None)
            }
            _ => Err(WalkErr::Bad(format!("{what} has unknown value type {ty}"))),
        }
    }
}

/// Checks the header and walks the metadata: magic, version, counts against the file's length,
/// `general.alignment`, and that the metadata ends inside the file.
fn check_header(path: &Path, len: u64) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut w = Walk { r: BufReader::with_capacity(1 << 16, file), at: 0, len };
    let run = |w: &mut Walk<BufReader<File>>| -> std::result::Result<(), WalkErr> {
        let magic = w.bytes::<4>("the file's header")?;
        if &magic != b"GGUF" {
            return Err(WalkErr::Bad(format!(
                "it does not start with `GGUF` (it starts with {magic:02x?}): it is not a GGUF file"
            )));
        }
        let version = w.u32("the file's header")?;
        if !(2..=3).contains(&version) {
            return Err(WalkErr::Unsupported(format!(
                "GGUF version {version} is not supported (versions 2 and 3 are); convert the model again \
                 with a current llama.cpp, or download a recent conversion"
            )));
        }
        let tensors = w.u64("the file's header")?;
        let entries = w.u64("the file's header")?;
        if tensors > MAX_ENTRIES || entries > MAX_ENTRIES {
            return Err(WalkErr::Bad(format!(
                "the header declares {tensors} tensors and {entries} metadata entries (real models have at most \
                 a few thousand)"
            )));
        }
        // A metadata entry takes at least 13 bytes, a tensor description at least 24.
        let least = entries * 13 + tensors * 24;
        if least > len - w.at {
            return Err(WalkErr::Truncated(format!(
                "the header declares {tensors} tensors and {entries} metadata entries, which need at least \
                 {least} bytes after the header, and the file has {} bytes in all",
                len
            )));
        }
        for _ in 0..entries {
            let key = w.name("a metadata key")?;
            let ty = w.u32(&format!("metadata `{key}`"))?;
            let value = w.value(ty, 0, &format!("metadata `{key}`"))?;
            if key == "general.alignment" {
                let Some((alignment, candle_reads_it)) = value else {
                    return Err(WalkErr::Bad("`general.alignment` is not an integer".into()));
                };
                if alignment == 0 || !alignment.is_power_of_two() || alignment > MAX_ALIGNMENT {
                    return Err(WalkErr::Bad(format!(
                        "`general.alignment` is {} (it must be a power of two up to {MAX_ALIGNMENT}, \
                         llama.cpp writes 32)",
                        alignment as i64
                    )));
                }
                if !candle_reads_it && alignment != 32 {
                    return Err(WalkErr::Bad(format!(
                        "`general.alignment` {alignment} is stored as a 64-bit integer, which the GGUF reader \
                         ignores (it would read the tensors at the wrong offsets)"
                    )));
                }
            }
        }
        // The tensor descriptions: only each tensor's type is looked at here (candle reads the
        // rest, and the sizes are checked on what it read), so that a type candle does not know is
        // reported with the tensor's name.
        for _ in 0..tensors {
            let name = w.name("a tensor name")?;
            let what = format!("the description of tensor `{name}`");
            let dims = w.u32(&what)?;
            if dims > 4 {
                return Err(WalkErr::Bad(format!("tensor `{name}` has {dims} dimensions (at most 4)")));
            }
            w.skip(u64::from(dims) * 8, &what)?;
            let ty = w.u32(&what)?;
            if !KNOWN_TYPE_IDS.contains(&ty) {
                return Err(WalkErr::Type(name, ty));
            }
            w.skip(8, &what)?;
        }
        Ok(())
    };
    run(&mut w).map_err(|e| match e {
        WalkErr::Truncated(what) => truncated(path, what),
        WalkErr::Bad(what) => {
            model_err(path, format!("{what}; the file is corrupt or not a model — re-download it"))
        }
        WalkErr::Unsupported(what) => model_err(path, what),
        WalkErr::Type(name, id) => {
            unsupported_type(path, &name, &format!("ggml type {id} ({})", unknown_type_name(id)))
        }
        WalkErr::Io(e) => Error::io_while(path, "cannot read the GGUF header", e),
    })
}

// ---------------------------------------------------------------------------------------------
// Metadata as typed values, each error naming its key.

struct Meta<'a> {
    path: &'a Path,
    metadata: &'a HashMap<String, Value>,
}

impl Meta<'_> {
    fn bad(&self, key: &str, what: &str) -> Error {
        model_err(
            self.path,
            format!(
                "metadata `{key}` {what}; the file is corrupt or was written by an unusual converter — re-download it"
            ),
        )
    }

    fn string(&self, key: &str) -> Result<Option<&str>> {
        match self.metadata.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.bad(key, "is not a string")),
        }
    }

    /// A non-negative integer of any width.
    fn uint(&self, key: &str) -> Result<Option<u64>> {
        let v = match self.metadata.get(key) {
            None => return Ok(None),
            Some(v) => v,
        };
        let n: i128 = match v {
            Value::U8(x) => (*x).into(),
            Value::I8(x) => (*x).into(),
            Value::U16(x) => (*x).into(),
            Value::I16(x) => (*x).into(),
            Value::U32(x) => (*x).into(),
            Value::I32(x) => (*x).into(),
            Value::U64(x) => (*x).into(),
            Value::I64(x) => (*x).into(),
            _ => return Err(self.bad(key, "is not an integer")),
        };
        u64::try_from(n).map(Some).map_err(|_| self.bad(key, &format!("is {n}, below 0")))
    }

    /// An integer from `min` to `max`; `None` when absent.
    fn count(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>> {
        match self.uint(key)? {
            Some(n) if !(min..=max).contains(&n) => {
                Err(self.bad(key, &format!("is {n}; it must be a whole number from {min} to {max}")))
            }
            n => Ok(n),
        }
    }

    fn required(&self, key: &str, min: u64, max: u64) -> Result<u64> {
        self.count(key, min, max)?.ok_or_else(|| {
            model_err(
                self.path,
                format!("metadata `{key}` is missing; the file is incomplete — re-download it or convert the model again"),
            )
        })
    }

    fn float(&self, key: &str) -> Result<Option<f64>> {
        match self.metadata.get(key) {
            None => Ok(None),
            Some(Value::F32(x)) if x.is_finite() => Ok(Some(f64::from(*x))),
            Some(Value::F64(x)) if x.is_finite() => Ok(Some(*x)),
            Some(_) => Err(self.bad(key, "is not a finite number")),
        }
    }
}

/// The Hugging Face name of a Llama-architecture tensor, and whether it is permuted (in query or
/// key/value heads).
enum Permuted {
    No,
    QueryHeads,
    KeyHeads,
}

fn hf_name(gguf: &str) -> Option<(String, Permuted)> {
    let fixed = match gguf {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(name) = fixed {
        return Some((name.into(), Permuted::No));
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, tail) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (module, kind) = tail.rsplit_once('.')?;
    if kind != "weight" && kind != "bias" {
        return None;
    }
    let (hf, permuted) = match module {
        "attn_norm" => ("input_layernorm", Permuted::No),
        "ffn_norm" => ("post_attention_layernorm", Permuted::No),
        "attn_q" => ("self_attn.q_proj", Permuted::QueryHeads),
        "attn_k" => ("self_attn.k_proj", Permuted::KeyHeads),
        "attn_v" => ("self_attn.v_proj", Permuted::No),
        "attn_output" => ("self_attn.o_proj", Permuted::No),
        "ffn_gate" => ("mlp.gate_proj", Permuted::No),
        "ffn_up" => ("mlp.up_proj", Permuted::No),
        "ffn_down" => ("mlp.down_proj", Permuted::No),
        _ => return None,
    };
    Some((format!("model.layers.{layer}.{hf}.{kind}"), permuted))
}

/// The byte size of a tensor of `dims` in `dtype`: checked, non-zero, whole blocks.
fn tensor_bytes(dims: &[usize], dtype: GgmlDType) -> std::result::Result<(u64, u64), String> {
    let elems =
        dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64)).ok_or("its element count overflows")?;
    if elems == 0 {
        return Err("it has no elements".into());
    }
    let block = dtype.block_size() as u64;
    // Rows of whole blocks (a scalar is one row of one value).
    let row = dims.last().map_or(1, |&d| d as u64);
    if !row.is_multiple_of(block) {
        return Err(format!("its rows are not whole blocks of {block} values"));
    }
    let bytes = (elems / block).checked_mul(dtype.type_size() as u64).ok_or("its byte size overflows")?;
    if usize::try_from(bytes).is_err() || usize::try_from(elems).is_err() {
        return Err("it is too large for this machine".into());
    }
    Ok((elems, bytes))
}

impl GgufModel {
    /// Reads and checks a GGUF file's header, metadata and tensor descriptions (no tensor data).
    pub fn open(path: &Path) -> Result<GgufModel> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if !meta.is_file() {
            return Err(model_err(path, "is not a regular file; choose the model's .gguf file"));
        }
        let len = meta.len();
        check_header(path, len)?;
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let content =
            checks::guard_candle(path, || Content::read(&mut reader))?.map_err(|e| Error::Model {
                path: path.to_path_buf(),
                message:
                    "cannot read the GGUF tensor list; the file is corrupt or truncated — re-download it"
                        .into(),
                source: Some(e.into()),
            })?;
        let mut model = Self::from_content(path, len, content)?;
        model.read_rope_freqs()?;
        Ok(model)
    }

    /// Llama 3.1 / 3.2 files carry their rotary scaling as a tensor, `rope_freqs.weight` (one
    /// divisor per frequency, which llama.cpp's converter computes from config.json's
    /// `rope_scaling`), rather than as metadata. The scaling is read back from it into the config —
    /// so the model runs, and saves, as the Hugging Face original — and checked to reproduce every
    /// factor; factors of another shape are refused.
    fn read_rope_freqs(&mut self) -> Result<()> {
        let Some(entry) = self.names.get("rope_freqs.weight") else { return Ok(()) };
        let mut reader = self.reader()?;
        let factors: Vec<f32> = self
            .read_one(&mut reader, &entry.gguf.clone(), &Device::Cpu)?
            .dequantize(&Device::Cpu)?
            .flatten_all()?
            .to_vec1()?;
        let c = &self.config;
        let head_dim = c["head_dim"].as_u64().unwrap_or(0) as usize;
        let theta = c["rope_theta"].as_f64().unwrap_or(10_000.0);
        let refuse = |why: String| {
            model_err(
                &self.path,
                format!(
                    "tensor `rope_freqs.weight` {why}; it is not Llama 3's rotary scaling, which is the one read — \
                     use a GGUF converted from a Llama 3.x checkpoint by llama.cpp's convert_hf_to_gguf.py"
                ),
            )
        };
        if factors.len() != head_dim / 2 {
            return Err(refuse(format!("holds {} factors for a head size of {head_dim}", factors.len())));
        }
        let scaling = llama3_scaling_from_factors(&factors, head_dim, theta)
            .ok_or_else(|| refuse(format!("holds the factors {:?}", &factors[..factors.len().min(8)])))?;
        if !self.config["rope_scaling"].is_object() {
            self.config["rope_scaling"] = scaling;
        }
        Ok(())
    }

    fn from_content(path: &Path, len: u64, content: Content) -> Result<GgufModel> {
        let m = Meta { path, metadata: &content.metadata };
        let architecture = m
            .string("general.architecture")?
            .ok_or_else(|| {
                model_err(
                    path,
                    "metadata `general.architecture` is missing; the file is incomplete — re-download it",
                )
            })?
            .to_string();
        let Some(&(_, model_type, class)) = ARCHITECTURES.iter().find(|(a, _, _)| *a == architecture) else {
            let supported: Vec<&str> = ARCHITECTURES.iter().map(|a| a.0).collect();
            return Err(model_err(
                path,
                format!(
                    "the file's architecture is `{architecture}`, which Cloze Studio does not read from GGUF yet; \
                     supported: {} (Llama 2/3, SmolLM/SmolLM2, Mistral, Qwen2/2.5). Use a model of one of those, \
                     or the model's safetensors folder",
                    supported.join(", ")
                ),
            ));
        };

        // Tensors: type, size and place, before anything is read.
        let data_start = content.tensor_data_offset;
        if data_start > len {
            return Err(truncated(path, format!("the tensor data should start at byte {data_start}")));
        }
        let data_len = len - data_start;
        let mut shares: BTreeMap<&'static str, TypeShare> = BTreeMap::new();
        let mut names = BTreeMap::new();
        let mut unknown = Vec::new();
        let mut infos: Vec<_> = content.tensor_infos.iter().collect();
        infos.sort_by(|a, b| a.0.cmp(b.0));
        for (name, info) in &infos {
            let dtype = info.ggml_dtype;
            if !SUPPORTED_TYPES.contains(&dtype) {
                return Err(unsupported_type(path, name, type_name(dtype)));
            }
            let dims = info.shape.dims();
            let (_, bytes) = tensor_bytes(dims, dtype).map_err(|why| {
                model_err(
                    path,
                    format!(
                        "tensor `{name}` has dimensions {dims:?} ({}): {why}; the file is corrupt or crafted — \
                         re-download it",
                        type_name(dtype)
                    ),
                )
            })?;
            match info.offset.checked_add(bytes) {
                Some(end) if end <= data_len => {}
                _ => {
                    return Err(truncated(
                        path,
                        format!(
                            "tensor `{name}` ({} bytes at offset {} of the tensor data) ends past the file's end \
                             ({len} bytes)",
                            bytes, info.offset
                        ),
                    ));
                }
            }
            let share = shares.entry(type_name(dtype)).or_insert_with(|| TypeShare {
                name: type_name(dtype).into(),
                dtype,
                tensors: 0,
                bytes: 0,
            });
            share.tensors += 1;
            share.bytes += bytes;
            match hf_name(name) {
                Some((hf, permuted)) => {
                    names.insert(hf, (name.to_string(), permuted));
                }
                None if name.as_str() == "rope_freqs.weight" => {
                    // Llama 3.1's rotary frequency factors: kept under the file's name.
                    names.insert(name.to_string(), (name.to_string(), Permuted::No));
                }
                None => unknown.push(name.to_string()),
            }
        }
        if !unknown.is_empty() {
            unknown.truncate(5);
            return Err(model_err(
                path,
                format!(
                    "the file has tensors a `{architecture}` model does not have ({}); it was converted for another \
                     architecture — use a plain Llama/Mistral/Qwen2 GGUF",
                    unknown.join(", ")
                ),
            ));
        }
        let mut types: Vec<TypeShare> = shares.into_values().collect();
        types.sort_by_key(|t| std::cmp::Reverse(t.bytes));
        let dominant = types.first().map(|t| t.name.clone()).unwrap_or_default();
        let quantisation = Quantisation { types, dominant };

        // The configuration.
        let key = |k: &str| format!("{architecture}.{k}");
        let layers = m.required(&key("block_count"), 1, MAX_LAYERS)?;
        let hidden = m.required(&key("embedding_length"), 1, MAX_WIDTH)?;
        let intermediate = m.required(&key("feed_forward_length"), 1, 4 * MAX_WIDTH)?;
        let heads = m.required(&key("attention.head_count"), 1, MAX_WIDTH)?;
        let kv_heads = m.count(&key("attention.head_count_kv"), 1, MAX_WIDTH)?.unwrap_or(heads);
        let head_dim = match m.count(&key("attention.key_length"), 1, MAX_WIDTH)? {
            Some(d) => d,
            None => m.count(&key("rope.dimension_count"), 1, MAX_WIDTH)?.unwrap_or(hidden / heads.max(1)),
        };
        if !heads.is_multiple_of(kv_heads) || !head_dim.is_multiple_of(2) {
            return Err(model_err(
                path,
                format!(
                    "metadata says {heads} attention heads, {kv_heads} key/value heads and a head size of \
                     {head_dim}: the heads must be a multiple of the key/value heads and the head size even; \
                     the file is corrupt — re-download it"
                ),
            ));
        }
        let eps = m.float(&key("attention.layer_norm_rms_epsilon"))?.unwrap_or(1e-5);
        if !(eps > 0.0 && eps < 1.0) {
            return Err(m.bad(
                &key("attention.layer_norm_rms_epsilon"),
                &format!("is {eps}; it must be above 0 and below 1"),
            ));
        }
        let rope_theta = m.float(&key("rope.freq_base"))?.unwrap_or(10_000.0);
        if rope_theta <= 0.0 {
            return Err(m.bad(&key("rope.freq_base"), &format!("is {rope_theta}; it must be above 0")));
        }
        let context = m.count(&key("context_length"), 1, MAX_POSITIONS)?.unwrap_or(2048);
        let embed_rows = content
            .tensor_infos
            .get("token_embd.weight")
            .and_then(|i| i.shape.dims().first().map(|&d| d as u64));
        let vocab = match m.count(&key("vocab_size"), 1, MAX_VOCAB)? {
            Some(v) => v,
            None => match &content.metadata.get("tokenizer.ggml.tokens") {
                Some(Value::Array(tokens)) => tokens.len() as u64,
                _ => embed_rows.unwrap_or(0),
            },
        };

        // Every tensor the architecture needs, with its shape, named when missing.
        let (q_rows, kv_rows) = (heads * head_dim, kv_heads * head_dim);
        let mut expected: Vec<(String, Vec<u64>)> = vec![
            ("token_embd.weight".into(), vec![vocab, hidden]),
            ("output_norm.weight".into(), vec![hidden]),
        ];
        if content.tensor_infos.contains_key("output.weight") {
            expected.push(("output.weight".into(), vec![vocab, hidden]));
        }
        for i in 0..layers {
            let b = |t: &str| format!("blk.{i}.{t}.weight");
            expected.extend([
                (b("attn_norm"), vec![hidden]),
                (b("ffn_norm"), vec![hidden]),
                (b("attn_q"), vec![q_rows, hidden]),
                (b("attn_k"), vec![kv_rows, hidden]),
                (b("attn_v"), vec![kv_rows, hidden]),
                (b("attn_output"), vec![hidden, q_rows]),
                (b("ffn_gate"), vec![intermediate, hidden]),
                (b("ffn_up"), vec![intermediate, hidden]),
                (b("ffn_down"), vec![hidden, intermediate]),
            ]);
        }
        for (name, shape) in &expected {
            let Some(info) = content.tensor_infos.get(name) else {
                return Err(model_err(
                    path,
                    format!(
                        "tensor `{name}` is missing ({layers} layers declared by `{}`); the file is incomplete — \
                         re-download it",
                        key("block_count")
                    ),
                ));
            };
            let dims: Vec<u64> = info.shape.dims().iter().map(|&d| d as u64).collect();
            if &dims != shape {
                return Err(model_err(
                    path,
                    format!(
                        "tensor `{name}` has shape {dims:?} where the metadata implies {shape:?}; the file is \
                         corrupt — re-download it"
                    ),
                ));
            }
        }

        // Llama and Mistral files are permuted by llama.cpp's converter; Qwen2's are not.
        let permutes = architecture != "qwen2";
        let names = names
            .into_iter()
            .map(|(hf, (gguf, permuted))| {
                let permuted_heads = match permuted {
                    Permuted::QueryHeads if permutes => Some(heads as usize),
                    Permuted::KeyHeads if permutes => Some(kv_heads as usize),
                    _ => None,
                };
                (hf, Entry { gguf, permuted_heads })
            })
            .collect::<BTreeMap<_, _>>();

        let tied = !content.tensor_infos.contains_key("output.weight");
        let mut config = serde_json::json!({
            "model_type": model_type,
            "architectures": [class],
            "hidden_size": hidden,
            "intermediate_size": intermediate,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "num_key_value_heads": kv_heads,
            "head_dim": head_dim,
            "hidden_act": "silu",
            "rms_norm_eps": eps,
            "rope_theta": rope_theta,
            "max_position_embeddings": context,
            "vocab_size": vocab,
            "tie_word_embeddings": tied,
            "attention_bias": content.tensor_infos.contains_key("blk.0.attn_q.bias"),
        });
        for (json_key, gguf_key) in [
            ("bos_token_id", "tokenizer.ggml.bos_token_id"),
            ("eos_token_id", "tokenizer.ggml.eos_token_id"),
            ("pad_token_id", "tokenizer.ggml.padding_token_id"),
        ] {
            if let Some(id) = m.count(gguf_key, 0, vocab.saturating_sub(1))? {
                config[json_key] = id.into();
            }
        }
        if let Some(kind) = m.string(&key("rope.scaling.type"))?
            && kind != "none"
        {
            let factor = m.float(&key("rope.scaling.factor"))?.ok_or_else(|| {
                model_err(
                    path,
                    format!(
                        "metadata `{}` is missing (the rope scaling is `{kind}`)",
                        key("rope.scaling.factor")
                    ),
                )
            })?;
            let mut scaling = serde_json::json!({ "rope_type": kind, "type": kind, "factor": factor });
            if let Some(n) = m.count(&key("rope.scaling.original_context_length"), 1, MAX_POSITIONS)? {
                scaling["original_max_position_embeddings"] = n.into();
            }
            config["rope_scaling"] = scaling;
        }
        let chat_template = m.string("tokenizer.chat_template")?.map(str::to_string);
        Ok(GgufModel {
            path: path.to_path_buf(),
            architecture,
            config,
            quantisation,
            chat_template,
            file_len: len,
            content,
            names,
        })
    }

    /// The file's metadata as candle read it (`tokenizer.ggml.tokens`, …).
    pub fn metadata(&self) -> &HashMap<String, Value> {
        &self.content.metadata
    }

    /// The Hugging Face names of the tensors, each with its name in the file.
    pub fn tensor_names(&self) -> impl Iterator<Item = (&str, &str)> {
        self.names.iter().map(|(hf, e)| (hf.as_str(), e.gguf.as_str()))
    }

    /// The number of heads whose rows llama.cpp permuted in tensor `hf_name` (q_proj and k_proj of
    /// Llama and Mistral files), `None` for every other tensor. The tensors this module returns are
    /// already un-permuted; this is for code reading the file's bytes directly.
    pub fn permuted_heads(&self, hf_name: &str) -> Option<usize> {
        self.names.get(hf_name).and_then(|e| e.permuted_heads)
    }

    /// (bytes of the tensors as stored, bytes once dequantised to f32): what inference with the
    /// quantised weights and what tuning (which dequantises) take.
    pub fn memory_estimate(&self) -> (u64, u64) {
        let mut stored = 0u64;
        let mut f32_bytes = 0u64;
        for info in self.content.tensor_infos.values() {
            // Checked at open: no overflow, whole blocks.
            if let Ok((elems, bytes)) = tensor_bytes(info.shape.dims(), info.ggml_dtype) {
                stored += bytes;
                f32_bytes += elems * 4;
            }
        }
        (stored, f32_bytes)
    }

    fn reader(&self) -> Result<BufReader<File>> {
        let file = File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let len = file.metadata().map_err(|e| Error::io(&self.path, e))?.len();
        if len != self.file_len {
            return Err(model_err(
                &self.path,
                format!(
                    "the file changed since it was opened ({} bytes, now {len}); load the model again",
                    self.file_len
                ),
            ));
        }
        Ok(BufReader::new(file))
    }

    fn read_one(&self, reader: &mut BufReader<File>, gguf: &str, device: &Device) -> Result<QTensor> {
        checks::guard_candle(&self.path, || self.content.tensor(reader, gguf, device))?.map_err(|e| {
            Error::Model {
                path: self.path.clone(),
                message: format!(
                    "cannot read tensor `{gguf}`; the file is corrupt or truncated — re-download it"
                ),
                source: Some(e.into()),
            }
        })
    }

    /// Every tensor, dequantised to f32, under its Hugging Face name, q_proj and k_proj un-permuted.
    pub fn tensors_f32(&self, device: &Device) -> Result<HashMap<String, Tensor>> {
        let mut reader = self.reader()?;
        let mut out = HashMap::with_capacity(self.names.len());
        for (hf, entry) in &self.names {
            let q = self.read_one(&mut reader, &entry.gguf, device)?;
            let mut t = q.dequantize(device)?.to_dtype(DType::F32)?;
            if let Some(heads) = entry.permuted_heads {
                t = unpermute_rows(&t, heads)?;
            }
            out.insert(hf.clone(), t);
        }
        Ok(out)
    }

    /// Every tensor under its Hugging Face name, q_proj and k_proj un-permuted, held as `hold`
    /// says (by name and stored type): as stored, dequantised to f32, or both.
    pub fn split_tensors(
        &self,
        device: &Device,
        hold: impl Fn(&str, GgmlDType) -> super::weights::Hold,
    ) -> Result<super::weights::Checkpoint> {
        use super::weights::Hold;
        let mut reader = self.reader()?;
        let mut out = super::weights::Checkpoint::default();
        for (hf, entry) in &self.names {
            let mut q = self.read_one(&mut reader, &entry.gguf, device)?;
            let how = hold(hf, q.dtype());
            if how != Hold::Quantised {
                let mut t = q.dequantize(device)?.to_dtype(DType::F32)?;
                if let Some(heads) = entry.permuted_heads {
                    t = unpermute_rows(&t, heads)?;
                }
                out.dense.insert(hf.clone(), t);
            }
            if how != Hold::Dense {
                if let Some(heads) = entry.permuted_heads {
                    q = unpermute_qtensor(&q, heads, device)?;
                }
                out.quantised.insert(hf.clone(), Arc::new(q));
            }
        }
        Ok(out)
    }

    /// Every tensor as stored (quantised), under its Hugging Face name. q_proj and k_proj are
    /// un-permuted exactly, by moving whole rows of blocks: the rows come out in the Hugging Face
    /// order, and the model uses the half-split rotary embedding whatever the file.
    pub fn qtensors(&self, device: &Device) -> Result<HashMap<String, Arc<QTensor>>> {
        let mut reader = self.reader()?;
        let mut out = HashMap::with_capacity(self.names.len());
        for (hf, entry) in &self.names {
            let mut q = self.read_one(&mut reader, &entry.gguf, device)?;
            if let Some(heads) = entry.permuted_heads {
                q = unpermute_qtensor(&q, heads, device)?;
            }
            out.insert(hf.clone(), Arc::new(q));
        }
        Ok(out)
    }
}

/// Llama 3's rotary scaling (`rope_type` "llama3") that gives exactly these per-frequency divisors
/// (llama.cpp's `rope_freqs`), or `None`. Every Llama 3.x release uses low_freq_factor 1 and
/// high_freq_factor 4; `factor` is the largest divisor, and original_max_position_embeddings is read
/// from a divisor between 1 and `factor` (8192 when there is none). The result is checked against
/// every divisor, as transformers computes them.
pub fn llama3_scaling_from_factors(
    factors: &[f32],
    head_dim: usize,
    theta: f64,
) -> Option<serde_json::Value> {
    let (low, high) = (1.0f64, 4.0f64);
    let factor = factors.iter().copied().fold(0f32, f32::max) as f64;
    if !(factor.is_finite() && factor >= 1.0) {
        return None;
    }
    let freq = |i: usize| 1.0 / theta.powf((2 * i) as f64 / head_dim as f64);
    let wavelen = |i: usize| 2.0 * std::f64::consts::PI / freq(i);
    // A medium frequency: 1/f = (1 − s)/factor + s, with s = (orig/wavelen − low)/(high − low).
    let medium = factors.iter().position(|&f| (f as f64) > 1.0 + 1e-4 && (f as f64) < factor - 1e-4);
    let original = match medium {
        Some(i) if factor > 1.0 => {
            let smooth = (1.0 / factors[i] as f64 - 1.0 / factor) / (1.0 - 1.0 / factor);
            wavelen(i) * (smooth * (high - low) + low)
        }
        _ => 8192.0,
    }
    .round();
    let expected = |i: usize| {
        let (w, lw, hw) = (wavelen(i), original / low, original / high);
        if w < hw {
            1.0
        } else if w > lw {
            factor
        } else {
            let smooth = (original / w - low) / (high - low);
            1.0 / ((1.0 - smooth) / factor + smooth)
        }
    };
    let matches =
        factors.iter().enumerate().all(|(i, &f)| (f as f64 - expected(i)).abs() <= 1e-3 * expected(i));
    matches.then(|| {
        serde_json::json!({
            "rope_type": "llama3", "type": "llama3", "factor": factor, "low_freq_factor": low,
            "high_freq_factor": high, "original_max_position_embeddings": original,
        })
    })
}

/// For each Hugging Face row of a head-permuted tensor with `rows` rows in `heads` heads, the row
/// of the file it comes from. llama.cpp stores head `h`'s row `i·d/2 + j` (i ∈ {0,1}, j < d/2) at
/// `2j + i`.
pub fn unpermuted_row_sources(rows: usize, heads: usize) -> Vec<usize> {
    let d = rows / heads;
    let half = d / 2;
    (0..rows)
        .map(|r| {
            let (h, within) = (r / d, r % d);
            let (i, j) = (within / half, within % half);
            h * d + 2 * j + i
        })
        .collect()
}

/// llama.cpp's permutation of the rows of q_proj/k_proj (`LlamaModel.permute`): each head's rows
/// viewed as `[2, d/2]` are stored as `[d/2, 2]`.
pub fn permute_rows(t: &Tensor, heads: usize) -> Result<Tensor> {
    swap_row_axes(t, heads, false)
}

/// The inverse of [`permute_rows`].
pub fn unpermute_rows(t: &Tensor, heads: usize) -> Result<Tensor> {
    swap_row_axes(t, heads, true)
}

fn swap_row_axes(t: &Tensor, heads: usize, from_file: bool) -> Result<Tensor> {
    let dims = t.dims().to_vec();
    let rows = dims.first().copied().unwrap_or(0);
    if heads == 0 || !rows.is_multiple_of(heads) || !(rows / heads).is_multiple_of(2) {
        return Err(Error::internal(format!("cannot permute {rows} rows in {heads} heads of even size")));
    }
    let half = rows / heads / 2;
    let mut shape = if from_file { vec![heads, half, 2] } else { vec![heads, 2, half] };
    shape.extend_from_slice(&dims[1..]);
    Ok(t.reshape(shape)?.transpose(1, 2)?.contiguous()?.reshape(dims)?)
}

fn unpermute_qtensor(q: &QTensor, heads: usize, device: &Device) -> Result<QTensor> {
    let dims = q.shape().dims().to_vec();
    let rows = dims.first().copied().unwrap_or(0);
    let data = q.data()?;
    if rows == 0
        || !data.len().is_multiple_of(rows)
        || heads == 0
        || !rows.is_multiple_of(heads)
        || !(rows / heads).is_multiple_of(2)
    {
        return Err(Error::internal(format!("cannot un-permute a {dims:?} tensor in {heads} heads")));
    }
    let row_bytes = data.len() / rows;
    let mut out = Vec::with_capacity(data.len());
    for src in unpermuted_row_sources(rows, heads) {
        out.extend_from_slice(&data[src * row_bytes..(src + 1) * row_bytes]);
    }
    Ok(ggml_file::qtensor_from_ggml(q.dtype(), &out, dims, device)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpermute_inverts_llama_cpp_permutation() {
        // 2 heads of size 4, 3 columns; and 1-D (a bias).
        let t = Tensor::arange(0f32, 24., &Device::Cpu).unwrap().reshape((8, 3)).unwrap();
        let p = permute_rows(&t, 2).unwrap();
        assert_ne!(p.to_vec2::<f32>().unwrap(), t.to_vec2::<f32>().unwrap());
        // Head 0 rows [0 1 2 3] = [x0 x1 | y0 y1] are stored interleaved: [x0 y0 x1 y1] = rows 0 2 1 3.
        let first: Vec<f32> = p.get(1).unwrap().to_vec1().unwrap();
        assert_eq!(first, vec![6., 7., 8.]);
        assert_eq!(unpermute_rows(&p, 2).unwrap().to_vec2::<f32>().unwrap(), t.to_vec2::<f32>().unwrap());
        assert_eq!(
            permute_rows(&unpermute_rows(&t, 2).unwrap(), 2).unwrap().to_vec2::<f32>().unwrap(),
            t.to_vec2::<f32>().unwrap()
        );
        let b = Tensor::arange(0f32, 8., &Device::Cpu).unwrap();
        assert_eq!(
            unpermute_rows(&permute_rows(&b, 2).unwrap(), 2).unwrap().to_vec1::<f32>().unwrap(),
            b.to_vec1::<f32>().unwrap()
        );
        // The row map agrees with the tensor form.
        let rows = unpermute_rows(&p, 2).unwrap();
        for (hf, src) in unpermuted_row_sources(8, 2).into_iter().enumerate() {
            assert_eq!(
                rows.get(hf).unwrap().to_vec1::<f32>().unwrap(),
                p.get(src).unwrap().to_vec1::<f32>().unwrap()
            );
        }
    }

    #[test]
    fn quantised_rows_unpermute_exactly() {
        let t = Tensor::randn(0f32, 1., (8, 64), &Device::Cpu).unwrap();
        let stored = QTensor::quantize(&permute_rows(&t, 2).unwrap(), GgmlDType::Q8_0).unwrap();
        let direct = QTensor::quantize(&t, GgmlDType::Q8_0).unwrap().dequantize(&Device::Cpu).unwrap();
        let moved = unpermute_qtensor(&stored, 2, &Device::Cpu).unwrap().dequantize(&Device::Cpu).unwrap();
        assert_eq!(moved.to_vec2::<f32>().unwrap(), direct.to_vec2::<f32>().unwrap());
    }

    #[test]
    fn tensor_sizes_are_checked() {
        let cases: [(&[usize], GgmlDType, Option<u64>); 5] = [
            (&[4, 32], GgmlDType::Q4_0, Some(4 * 18)),
            (&[0, 32], GgmlDType::F32, None),
            (&[usize::MAX, 4], GgmlDType::F32, None),
            (&[4, 33], GgmlDType::Q8_0, None),
            (&[3], GgmlDType::F32, Some(12)),
        ];
        // A scalar in a block type would be 0 bytes (candle's unaligned empty slice).
        assert_eq!(tensor_bytes(&[], GgmlDType::Q4_0).ok(), None);
        assert_eq!(tensor_bytes(&[], GgmlDType::F32).ok().map(|b| b.1), Some(4));
        for (dims, dtype, bytes) in cases {
            assert_eq!(tensor_bytes(dims, dtype).ok().map(|b| b.1), bytes, "{dims:?} {dtype:?}");
        }
    }

    #[test]
    fn llama_cpp_names_map_to_hugging_face_names() {
        for (gguf, hf) in [
            ("token_embd.weight", Some("model.embed_tokens.weight")),
            ("blk.3.attn_q.bias", Some("model.layers.3.self_attn.q_proj.bias")),
            ("blk.12.ffn_down.weight", Some("model.layers.12.mlp.down_proj.weight")),
            ("blk.0.ffn_norm.weight", Some("model.layers.0.post_attention_layernorm.weight")),
            ("blk.x.attn_q.weight", None),
            ("blk.0.ssm_a", None),
        ] {
            assert_eq!(hf_name(gguf).map(|h| h.0), hf.map(String::from), "{gguf}");
        }
    }
}
