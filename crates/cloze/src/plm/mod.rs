//! Pretrained language models: one [`Plm`] per checkpoint folder, over candle.
//!
//! A folder holds `config.json`, a tokenizer (`tokenizer.json`, or `vocab.txt`, or `vocab.json` +
//! `merges.txt`) and weights (`model.safetensors`, sharded safetensors or `pytorch_model.bin`). The
//! family comes from config.json's `model_type` (or `architectures`) through the registry in
//! [`family`]; every family's network sits behind one seam, [`network::Network`]: masked LMs
//! (BERT, RoBERTa, XLM-RoBERTa, DistilBERT, ALBERT), decoders (GPT-2, the Llama architecture,
//! Gemma 3), encoder–decoders (T5 / Flan-T5, BART).
//!
//! The forward pass starts from input embeddings ([`Plm::embed_tokens`] then [`Plm::encode`]) so
//! soft prompt vectors can be spliced in anywhere, and the LM head is applied only where it is
//! needed: where the label word is read ([`Plm::read_offset`]) and, for classification, only to the
//! label words' rows.

pub mod albert;
pub mod bart;
pub mod batch;
pub mod bert;
pub mod checks;
pub mod cpu_kernels;
#[cfg(target_os = "linux")]
mod cuda_libs;
pub mod decoder;
pub mod distilbert;
pub mod family;
pub mod gemma3;
pub mod gguf;
pub mod gguf_tokenizer;
pub mod gpt2;
pub mod gradcheck;
pub mod layers;
pub mod llama;
pub mod network;
pub mod precision;
pub mod save;
pub mod t5;
pub mod tokenizer;
pub mod weights;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor, TensorId, Var};

use crate::error::{Error, Result, Text};
pub use batch::{Batch, PaddingSide};
pub use family::{Family, Pretraining};
pub use network::{Dims, Kind, Network};
pub use precision::Precision;
pub use tokenizer::{PlmTokenizer, SpecialTokens};
pub use weights::{Checkpoint, GgufWeights, WeightFiles};

/// Where tensors live. CPU by default; CUDA and Metal need the matching cargo feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    #[default]
    Cpu,
    Cuda(usize),
    Metal(usize),
}

impl std::str::FromStr for DeviceChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let (name, ordinal) = match s.split_once(':') {
            Some((n, o)) => (
                n,
                o.parse::<usize>().map_err(|_| {
                    Error::invalid(format!("device {s:?}: {o:?} is not a device number; write e.g. cuda:0"))
                })?,
            ),
            None => (s, 0),
        };
        match name.to_ascii_lowercase().as_str() {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(ordinal)),
            "metal" | "mps" => Ok(DeviceChoice::Metal(ordinal)),
            _ => Err(Error::invalid(format!("unknown device {s:?}; use cpu, cuda, cuda:N or metal"))),
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    /// The form [`DeviceChoice::from_str`] reads back: `cpu`, `cuda:1`, `metal:0`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceChoice::Metal(n) => write!(f, "metal:{n}"),
        }
    }
}

impl DeviceChoice {
    /// Opens the device, or says how to get a build that has it.
    pub fn open(self) -> Result<Device> {
        match self {
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda(n) => {
                if !cfg!(feature = "cuda") {
                    return Err(Error::Device {
                        message: Text::from("this build has no CUDA support; ")
                            .cli_only("rebuild with `--features cuda` or use --device cpu")
                            .app_only("choose the CPU device"),
                        source: None,
                    });
                }
                #[cfg(all(feature = "cuda", target_os = "linux"))]
                cuda_libs::ensure_loaded().map_err(|why| Error::Device {
                    message: format!("CUDA is unavailable: {why}").into(),
                    source: None,
                })?;
                Device::new_cuda(n).map_err(|e| Error::Device {
                    message: format!(
                        "cannot open CUDA device {n} ({}); check that `nvidia-smi` lists the GPU, or use the CPU",
                        without_backtrace(e)
                    )
                    .into(),
                    source: None,
                })
            }
            DeviceChoice::Metal(n) => {
                if !cfg!(feature = "metal") {
                    return Err(Error::Device {
                        message: Text::from("this build has no Metal support; ")
                            .cli_only("rebuild with `--features metal` (macOS) or use --device cpu")
                            .app_only("choose the CPU device"),
                        source: None,
                    });
                }
                Device::new_metal(n).map_err(|e| Error::Device {
                    message: format!("cannot open Metal device {n} ({}); use the CPU", without_backtrace(e))
                        .into(),
                    source: None,
                })
            }
        }
    }
}

/// candle's error without the backtrace it attaches when RUST_BACKTRACE is set: a device error is
/// read by a user, who needs the driver's answer, not candle's stack.
fn without_backtrace(e: candle_core::Error) -> candle_core::Error {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } => *inner,
        e => e,
    }
}

/// The CPU's model name and the vector extensions that decide the kernels' speed, e.g.
/// `AMD EPYC [avx2 fma avx512f avx512_bf16]`: printed with every benchmark figure, because the
/// machine changes between runs and a figure without it means little.
pub fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        info.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let flags = field("flags");
    let has: Vec<&str> = ["avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"]
        .into_iter()
        .filter(|f| flags.split_whitespace().any(|x| x == *f))
        .collect();
    let name = field("model name");
    let name = if name.is_empty() { std::env::consts::ARCH.to_string() } else { name };
    format!("{name} [{}]", has.join(" "))
}

/// What an open device is: the CPU's model and extensions ([`cpu_model`]), or the GPU's name,
/// compute capability and memory.
pub fn describe_device(device: &Device) -> String {
    match device {
        Device::Cpu => cpu_model(),
        #[cfg(feature = "cuda")]
        Device::Cuda(d) => {
            let stream = d.cuda_stream();
            let context = stream.context();
            let name = context.name().unwrap_or_else(|_| "an NVIDIA GPU".into());
            let capability = context
                .compute_capability()
                .map(|(a, b)| format!(", compute capability {a}.{b}"))
                .unwrap_or_default();
            let memory = context
                .total_mem()
                .map(|bytes| format!(", {:.1} GiB", bytes as f64 / (1u64 << 30) as f64))
                .unwrap_or_default();
            format!("{name}{capability}{memory}")
        }
        #[allow(unreachable_patterns)]
        other => format!("{other:?}"),
    }
}

/// A loaded pretrained model with its tokenizer.
#[derive(Debug, Clone)]
pub struct Plm {
    family: Family,
    dir: PathBuf,
    config: serde_json::Value,
    net: Box<dyn Network>,
    tokenizer: PlmTokenizer,
    device: Device,
    weights: WeightFiles,
    parameters: usize,
    /// Dropout while training; `None` (inference) otherwise.
    dropout: Option<Arc<layers::Dropout>>,
    /// How a GGUF file stored the weights ("Q4_1").
    quantisation: Option<String>,
    /// The model's chat template (Jinja), when it has one.
    chat_template: Option<ChatTemplateSource>,
    /// The linear layers' precision in [`Plm::encode`], [`Plm::encode_at`] and [`Plm::decode`].
    precision: Precision,
}

/// A chat model's template as the model folder or file ships it: Jinja text that turns a list of
/// messages into the string the model was trained on (`template::chat` renders it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTemplateSource {
    /// The Jinja source.
    pub text: String,
    /// Where it was read: `chat_template.jinja`, `tokenizer_config.json` or the GGUF file.
    pub file: PathBuf,
    /// The tokenizer's `bos_token` and `eos_token` strings, which templates may write.
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
}

/// The chat template of a model folder: `chat_template.jinja` (newer transformers), else
/// tokenizer_config.json's `chat_template` — a string, or a list of `{name, template}` of which
/// the one named "default" (or the first) is used.
fn folder_chat_template(dir: &Path) -> Result<Option<(String, PathBuf)>> {
    let jinja = dir.join("chat_template.jinja");
    if jinja.is_file() {
        let text = checks::read_text_limited(&jinja, checks::SMALL_FILE_LIMIT, "chat_template.jinja")?;
        return Ok(Some((text, jinja)));
    }
    let config = dir.join("tokenizer_config.json");
    if !config.is_file() {
        return Ok(None);
    }
    let text = checks::read_text_limited(&config, checks::SMALL_FILE_LIMIT, "tokenizer_config.json")?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| model_cause(&config, "tokenizer_config.json is not valid JSON", e))?;
    let found = match &json["chat_template"] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(list) => list
            .iter()
            .find(|t| t["name"] == "default")
            .or_else(|| list.first())
            .and_then(|t| t["template"].as_str())
            .map(String::from),
        _ => None,
    };
    Ok(found.map(|t| (t, config)))
}

/// Facts about a model, for `cloze inspect` and the app.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub family: Family,
    pub kind: Kind,
    /// The family's own objective for prompted continued pretraining.
    pub pretraining: Pretraining,
    pub architectures: Vec<String>,
    pub weights: PathBuf,
    pub parameters: usize,
    pub hidden_size: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub vocab_size: usize,
    pub max_len: usize,
    /// Whether the model can read a label word: it has its LM head (bare encoders do not).
    pub has_lm_head: bool,
    /// How a GGUF file stored the weights ("Q4_1").
    pub quantisation: Option<String>,
    /// Bytes the weights take as loaded (quantised layers at their stored size).
    pub weight_bytes: u64,
    /// Bytes they take once dequantised to f32, as tuning needs them (equal to `weight_bytes`
    /// unless layers are held quantised).
    pub dequantised_bytes: u64,
    pub tokenizer: PathBuf,
    pub space_sensitive: bool,
    pub special_tokens: SpecialTokens,
}

pub(crate) fn model_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Model { path: path.to_path_buf(), message: message.into(), source: None }
}

/// A model folder's file could not be used: `message` says which and why, `e` is the cause.
pub(crate) fn model_cause(
    path: &Path,
    message: impl Into<String>,
    e: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::Model { path: path.to_path_buf(), message: message.into(), source: Some(Box::new(e)) }
}

/// The GGUF file `path` names: the path itself when it is a file ending in `.gguf`, or the one
/// `.gguf` file of a folder without config.json (more than one is an error naming them).
fn find_gguf(path: &Path) -> Result<Option<PathBuf>> {
    let is_gguf = |p: &Path| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
    if path.is_file() {
        return Ok(is_gguf(path).then(|| path.to_path_buf()));
    }
    if !path.is_dir() || path.join("config.json").exists() {
        return Ok(None);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| Error::io(path, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_gguf(p))
        .collect();
    found.sort();
    match found.len() {
        0 | 1 => Ok(found.pop()),
        _ => Err(model_err(
            path,
            format!(
                "holds {} GGUF files ({}); pass the one to load, e.g. {}",
                found.len(),
                found
                    .iter()
                    .filter_map(|p| p.file_name())
                    .map(|n| n.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(", "),
                found[0].display()
            ),
        )),
    }
}

impl Plm {
    /// Loads a checkpoint folder onto `device`, in f32.
    pub fn load(dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        Self::load_with_dtype(dir, device, DType::F32)
    }

    /// Loads a checkpoint folder onto `device` with its weights in `dtype` (f64 for gradient checks;
    /// the fused inference kernels are f32-only, so other dtypes run the composed ops).
    ///
    /// `dir` may also be a GGUF file (llama.cpp's format), or a folder holding one GGUF file and no
    /// config.json: the config comes from its metadata, the tokenizer from the folder's
    /// tokenizer.json or else from the metadata. In f32 the decoder blocks' linear weights stay
    /// quantised ([`GgufWeights::Quantised`]); in other dtypes every weight is dequantised.
    pub fn load_with_dtype(dir: impl AsRef<Path>, device: &Device, dtype: DType) -> Result<Self> {
        Self::load_with(dir, device, dtype, GgufWeights::default())
    }

    /// [`Plm::load_with_dtype`], saying how a GGUF file's quantised weights are held.
    pub fn load_with(
        dir: impl AsRef<Path>,
        device: &Device,
        dtype: DType,
        gguf: GgufWeights,
    ) -> Result<Self> {
        let path = dir.as_ref();
        if let Some(file) = find_gguf(path)? {
            return Self::load_gguf(&file, device, dtype, gguf);
        }
        let dir = path;
        if !dir.is_dir() {
            return Err(model_err(
                dir,
                "not a folder; pass the folder that holds config.json (or a .gguf file)",
            ));
        }
        let config_path = dir.join("config.json");
        if !config_path.exists() {
            return Err(model_err(dir, "no config.json here (is this a Hugging Face model folder?)"));
        }
        let text = checks::read_text_limited(&config_path, checks::SMALL_FILE_LIMIT, "config.json")?;
        let config: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| model_cause(&config_path, "config.json is not valid JSON", e))?;
        let family = Family::from_config(&config, &config_path)?;
        let tokenizer = PlmTokenizer::load(dir, family)?;
        let weights = WeightFiles::find(dir)?;
        let chat = folder_chat_template(dir)?;
        let mut plm = Self::assemble(
            dir,
            config,
            config_path,
            family,
            tokenizer,
            weights,
            device,
            (dtype, GgufWeights::Dequantised),
        )?;
        plm.set_chat_template(chat);
        Ok(plm)
    }

    /// A GGUF file: config and (unless the folder has tokenizer.json) tokenizer from its metadata.
    fn load_gguf(file: &Path, device: &Device, dtype: DType, gguf: GgufWeights) -> Result<Self> {
        let model = gguf::GgufModel::open(file)?;
        let family = Family::from_config(&model.config, file)?;
        let dir = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
        let tokenizer = if dir.join("tokenizer.json").is_file() {
            PlmTokenizer::load(&dir, family)?
        } else {
            let inner = gguf_tokenizer::tokenizer_from_gguf(&model)?;
            let named = |key: &str| -> Option<String> {
                let id = model.config[key].as_u64()? as u32;
                inner.id_to_token(id)
            };
            let configured = |key: &str| match key {
                "bos_token" => named("bos_token_id"),
                "eos_token" => named("eos_token_id"),
                "pad_token" => named("pad_token_id"),
                "unk_token" => named("unk_token_id"),
                _ => None,
            };
            PlmTokenizer::from_tokenizer(inner.clone(), file.to_path_buf(), family, &configured)?
        };
        let config = model.config.clone();
        let weights = WeightFiles::Gguf(file.to_path_buf());
        let mut plm = Self::assemble(
            &dir,
            config,
            file.to_path_buf(),
            family,
            tokenizer,
            weights,
            device,
            (dtype, gguf),
        )?;
        plm.quantisation = Some(model.quantisation.dominant.clone());
        let chat = match &model.chat_template {
            Some(text) => Some((text.clone(), file.to_path_buf())),
            None => folder_chat_template(&dir)?,
        };
        plm.set_chat_template(chat);
        Ok(plm)
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        dir: &Path,
        config: serde_json::Value,
        config_path: PathBuf,
        family: Family,
        tokenizer: PlmTokenizer,
        weights: WeightFiles,
        device: &Device,
        (dtype, gguf): (DType, GgufWeights),
    ) -> Result<Self> {
        let mut parameters = 0;
        let mut read = || -> Result<Checkpoint> {
            let tensors = weights.load(dtype, device, gguf)?;
            let mut names: Vec<&String> = tensors.keys().collect();
            names.sort();
            let mut bad = checks::first_non_finite(names.into_iter().map(|n| (n.as_str(), &tensors[n])))?;
            // Quantised weights are checked through their values, one tensor at a time.
            let mut quantised: Vec<&String> =
                tensors.quantised.keys().filter(|n| !tensors.dense.contains_key(*n)).collect();
            quantised.sort();
            for name in quantised {
                if bad.is_some() {
                    break;
                }
                let values = tensors.quantised[name].dequantize(device)?;
                bad = checks::first_non_finite([(name.as_str(), &values)])?;
            }
            if let Some(bad) = bad {
                return Err(model_err(
                    weights.path(),
                    format!(
                        "weight `{bad}` contains NaN or infinite values, so every prediction would be NaN; the \
                         checkpoint is corrupt — re-download or re-export it"
                    ),
                ));
            }
            parameters = tensors.values().map(|t| t.elem_count()).sum::<usize>()
                + tensors
                    .quantised
                    .iter()
                    .filter(|(name, _)| !tensors.dense.contains_key(*name))
                    .map(|(_, q)| q.shape().elem_count())
                    .sum::<usize>();
            Ok(tensors)
        };
        let ctx = family::LoadContext {
            config: &config,
            config_path: &config_path,
            weights_path: weights.path(),
            device,
        };
        // The family's loader checks every config value before it reads a weight.
        let net = (family.spec().load)(&ctx, &mut read)?;
        Ok(Self {
            family,
            dir: dir.to_path_buf(),
            config,
            net,
            tokenizer,
            device: device.clone(),
            weights,
            parameters,
            dropout: None,
            quantisation: None,
            chat_template: None,
            precision: Precision::F32,
        })
    }

    fn set_chat_template(&mut self, found: Option<(String, PathBuf)>) {
        let special = |id: Option<&(String, u32)>| id.map(|(s, _)| s.clone());
        let (bos, eos) = match self.kind() {
            Kind::Decoder => (
                special(self.tokenizer.special().cls.as_ref()),
                special(self.tokenizer.special().sep.as_ref()),
            ),
            _ => (None, special(self.tokenizer.special().sep.as_ref())),
        };
        self.chat_template =
            found.map(|(text, file)| ChatTemplateSource { text, file, bos_token: bos, eos_token: eos });
    }

    /// The model's chat template, when its folder or GGUF file has one.
    pub fn chat_template(&self) -> Option<&ChatTemplateSource> {
        self.chat_template.as_ref()
    }

    /// Turns training-mode dropout on (`Some`) or off. The probability usually comes from
    /// [`Plm::config_dropout`].
    pub fn set_dropout(&mut self, dropout: Option<layers::Dropout>) {
        self.dropout = dropout.map(Arc::new);
    }

    pub fn dropout(&self) -> Option<&layers::Dropout> {
        self.dropout.as_deref()
    }

    /// Sets the precision of the linear layers' products for encoding and decoding (f32 by
    /// default; see [`precision`]). bf16 runs on the CPU kernels only: on another device it is
    /// refused, saying so.
    pub fn set_precision(&mut self, precision: Precision) -> Result<()> {
        if precision != Precision::F32 && !self.device.is_cpu() {
            return Err(Error::Device {
                message: format!(
                    "precision {precision} runs on the CPU only; on this device use f32 (--precision f32)"
                )
                .into(),
                source: None,
            });
        }
        self.precision = precision;
        Ok(())
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The dropout probability config.json gives (`hidden_dropout_prob`, DistilBERT's `dropout`),
    /// 0.1 when it names none.
    pub fn config_dropout(&self) -> f64 {
        self.config["hidden_dropout_prob"].as_f64().or_else(|| self.config["dropout"].as_f64()).unwrap_or(0.1)
    }

    /// The checkpoint's config.json as read.
    pub fn config(&self) -> &serde_json::Value {
        &self.config
    }

    pub fn family(&self) -> Family {
        self.family
    }

    pub fn tokenizer(&self) -> &PlmTokenizer {
        &self.tokenizer
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The family's network, through the seam every caller uses.
    pub fn network(&self) -> &dyn Network {
        self.net.as_ref()
    }

    /// Encoder, decoder or encoder–decoder: how the model reads a `{mask}`.
    pub fn kind(&self) -> Kind {
        self.net.kind()
    }

    pub fn dims(&self) -> Dims {
        self.net.dims()
    }

    pub fn hidden_size(&self) -> usize {
        self.dims().hidden_size
    }

    /// The longest input, in tokens including special tokens, the model takes.
    pub fn max_len(&self) -> usize {
        self.dims().max_len
    }

    /// Where the label word is read, relative to the `{mask}` token of a rendered row: at the mask
    /// (encoders: 0), or at the token before it, whose next-token distribution is the word's
    /// (decoders: -1; the mask placeholder and everything after it cannot change that state).
    pub fn read_offset(&self) -> isize {
        match self.kind() {
            Kind::Decoder => -1,
            Kind::Encoder | Kind::EncoderDecoder => 0,
        }
    }

    /// The LM head, or an error explaining that the checkpoint is a bare encoder.
    pub fn lm_head(&self) -> Result<&layers::LmHead> {
        self.net.head().ok_or_else(|| {
            model_err(
                &self.dir,
                "this checkpoint has no masked-LM head (it is a bare encoder, e.g. a sentence-transformers \
                 export), so it cannot fill a {mask}; pick a *ForMaskedLM checkpoint such as bert-base-uncased \
                 or roberta-base, or a causal LM such as gpt2",
            )
        })
    }

    /// Makes every weight a trainable variable and returns them by name (tied weights — the MLM
    /// decoder and the word embeddings — stay one variable, listed once). Gradients then reach
    /// them, and the model runs its composed, differentiable ops (slower than the fused inference
    /// kernels; a model loaded for inference is untouched).
    pub fn trainable(&mut self) -> Result<Vec<(String, Var)>> {
        self.dequantise()?;
        let mut vars: Vec<(String, Var)> = Vec::new();
        let mut made: HashMap<TensorId, Var> = HashMap::new();
        let mut failed = None;
        let mut visit = |name: String, t: &mut Tensor| {
            if let Some(v) = made.get(&t.id()) {
                *t = v.as_tensor().clone();
                return;
            }
            match Var::from_tensor(t) {
                Ok(v) => {
                    made.insert(t.id(), v.clone());
                    *t = v.as_tensor().clone();
                    vars.push((name, v));
                }
                Err(e) => failed = Some(e),
            }
        };
        self.net.visit_params(&mut visit);
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(vars),
        }
    }

    /// A copy whose weights are plain tensors sharing the trained values (no gradient tracking,
    /// no dropout), so evaluation during training runs the fast inference kernels.
    pub fn detached(&self) -> Plm {
        let mut copy = self.clone();
        copy.dropout = None;
        let mut detach = |_: String, t: &mut Tensor| *t = t.detach();
        copy.net.visit_params(&mut detach);
        copy
    }

    /// Bytes the weights take as loaded (layers held quantised at their stored size), and once
    /// dequantised to f32 as tuning needs them. The two are equal unless a GGUF file's layers are
    /// held quantised.
    pub fn weight_bytes(&self) -> (u64, u64) {
        let elem = self.net.word_embeddings().dtype().size_in_bytes() as u64;
        let all = self.parameters as u64 * elem;
        let quantised: Vec<&layers::Linear> =
            self.net.quantisable().into_iter().filter(|l| l.is_quantised()).collect();
        let head_copy =
            self.net.head().and_then(|h| h.quantised.as_ref()).map_or(0, |q| q.storage_size_in_bytes());
        let held: u64 = quantised.iter().map(|l| l.stored_bytes()).sum::<u64>() + head_copy as u64;
        let full: u64 = quantised.iter().map(|l| l.f32_bytes()).sum();
        (all.saturating_sub(full) + held, all.max(self.parameters as u64 * 4))
    }

    /// How a GGUF file stored the weights ("Q4_1"); `None` for other checkpoints.
    pub fn quantisation(&self) -> Option<&str> {
        self.quantisation.as_deref()
    }

    /// Whether some layers hold their weights quantised (a GGUF file loaded for inference).
    pub fn is_quantised(&self) -> bool {
        self.net.quantisable().iter().any(|l| l.is_quantised())
            || self.net.head().is_some_and(|h| h.quantised.is_some())
    }

    /// Dequantises every layer held quantised to f32, as training and saving need (tuning says
    /// first how much memory it takes, see [`Plm::weight_bytes`]). A no-op on other models.
    pub fn dequantise(&mut self) -> Result<()> {
        Ok(self.net.dequantise()?)
    }

    /// Every weight by engine name (see [`Plm::trainable`]), without making them variables.
    pub fn named_weights(&self) -> Vec<(String, Tensor)> {
        let mut copy = self.net.clone();
        weights::unique_params(|f| copy.visit_params(f))
    }

    /// Word embeddings of `[batch, seq]` u32 token ids: `[batch, seq, hidden]`.
    pub fn embed_tokens(&self, ids: &Tensor) -> Result<Tensor> {
        // A decoder's rows carry the engine's mask placeholder, which is not in its vocabulary: it
        // is embedded as the pad token (the read happens before it, see `read_offset`).
        match self.tokenizer.placeholder() {
            Some(p) => {
                let pad = Tensor::full(self.tokenizer.special().pad.1, ids.shape(), ids.device())?;
                let ids = ids.eq(p)?.where_cond(&pad, ids)?;
                Ok(self.net.embed_tokens(&ids)?)
            }
            None => Ok(self.net.embed_tokens(ids)?),
        }
    }

    /// Last hidden states `[batch, seq, hidden]` from input embeddings and a 0/1 `[batch, seq]`
    /// attention mask (right padding).
    pub fn encode(&self, inputs_embeds: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let _precision = self.precision.scope();
        Ok(self.net.forward(inputs_embeds, attention_mask, self.dropout.as_deref())?)
    }

    /// [`Plm::encode`] at the given flat positions only (see [`Network::forward_at`]):
    /// `[n, hidden]`, the rows a mask head or a probe reads.
    pub fn encode_at(&self, inputs_embeds: &Tensor, attention_mask: &Tensor, at: &[u32]) -> Result<Tensor> {
        let _precision = self.precision.scope();
        Ok(self.net.forward_at(inputs_embeds, attention_mask, self.dropout.as_deref(), at)?)
    }

    /// The side this model pads a batch on: right for every family (a decoder's causal attention
    /// never sees right padding, so a batched row scores as it does alone).
    pub fn padding_side(&self) -> PaddingSide {
        PaddingSide::Right
    }

    /// Token rows padded into one batch with this model's pad token, on its side.
    pub fn batch(&self, rows: &[&[u32]]) -> Result<Batch> {
        Batch::pad(rows, self.tokenizer.special().pad.1, self.padding_side(), &self.device)
    }

    /// Last hidden states `[batch, seq, hidden]` of a batch's tokens.
    pub fn encode_batch(&self, batch: &Batch) -> Result<Tensor> {
        self.encode(&self.embed_tokens(batch.ids())?, batch.attention())
    }

    /// Mean-pooled, L2-normalised sentence embeddings (the sentence-transformers recipe) of texts,
    /// in length-sorted batches.
    pub fn sentence_embeddings(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let max = self.max_len();
        let encoded: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| {
                let enc = self.tokenizer.encode_with_specials(t)?;
                Ok(enc.get_ids()[..enc.get_ids().len().min(max)].to_vec())
            })
            .collect::<Result<_>>()?;
        let lengths: Vec<usize> = encoded.iter().map(Vec::len).collect();
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in batch::longest_first(&lengths, 32) {
            let rows: Vec<&[u32]> = chunk.iter().map(|&i| encoded[i].as_slice()).collect();
            let batch = self.batch(&rows)?;
            let hidden = self.encode_batch(&batch)?.to_dtype(DType::F32)?;
            let mean = layers::masked_mean(&hidden, batch.attention())?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
            for (k, row) in mean.broadcast_div(&norm)?.to_vec2::<f32>()?.into_iter().enumerate() {
                out[chunk[k]] = row;
            }
        }
        Ok(out)
    }

    pub fn info(&self) -> ModelInfo {
        let dims = self.dims();
        ModelInfo {
            path: self.dir.clone(),
            family: self.family,
            kind: self.kind(),
            pretraining: self.family.pretraining(),
            architectures: self.config["architectures"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                .unwrap_or_default(),
            weights: self.weights.path().to_path_buf(),
            parameters: self.parameters,
            hidden_size: dims.hidden_size,
            layers: dims.layers,
            heads: dims.heads,
            kv_heads: dims.kv_heads,
            vocab_size: dims.vocab_size,
            max_len: dims.max_len,
            has_lm_head: self.net.head().is_some(),
            quantisation: self.quantisation.clone(),
            weight_bytes: self.weight_bytes().0,
            dequantised_bytes: self.weight_bytes().1,
            tokenizer: self.tokenizer.source().to_path_buf(),
            space_sensitive: self.tokenizer.space_sensitive(),
            special_tokens: self.tokenizer.special().clone(),
        }
    }

    /// A decoder's final states `[1, ids.len(), hidden]` for `ids` that follow the tokens already
    /// in `cache` (empty: a new row), which gains them — generation runs each new token alone.
    pub fn forward_cached(&self, ids: &[u32], cache: &mut decoder::KvCache) -> Result<Tensor> {
        if self.kind() != Kind::Decoder {
            return Err(model_err(
                &self.dir,
                format!(
                    "this {} model is not a decoder; only decoders keep a key/value cache",
                    self.family.name()
                ),
            ));
        }
        let ids = Tensor::new(ids, &self.device)?.unsqueeze(0)?;
        // One row at a time: bf16 packing would cost more than it saves (see `precision`).
        let _precision = Precision::F32.scope();
        Ok(self.net.forward_cached(&self.embed_tokens(&ids)?, cache)?)
    }

    /// An empty key/value cache for [`Plm::forward_cached`].
    pub fn kv_cache(&self) -> decoder::KvCache {
        decoder::KvCache::new(self.dims().layers)
    }

    /// The token an encoder–decoder's decoder starts from (config.json `decoder_start_token_id`;
    /// T5 falls back to its pad token, as transformers does), `None` for other kinds.
    pub fn decoder_start_id(&self) -> Option<u32> {
        if self.kind() != Kind::EncoderDecoder {
            return None;
        }
        let id = |k: &str| self.config[k].as_u64().and_then(|v| u32::try_from(v).ok());
        id("decoder_start_token_id").or_else(|| match self.family {
            Family::T5 => id("pad_token_id").or(Some(0)),
            _ => None,
        })
    }

    /// An encoder–decoder's decoder states `[batch, dec_seq, hidden]` from the encoder's states and
    /// 0/1 mask ([`Plm::encode`]) and the decoder's input embeddings ([`Plm::embed_tokens`]) and
    /// 0/1 mask, with this model's dropout when training. Apply [`Plm::lm_head`] to read words.
    pub fn decode(
        &self,
        encoder_states: &Tensor,
        encoder_mask: &Tensor,
        decoder_embeds: &Tensor,
        decoder_mask: &Tensor,
    ) -> Result<Tensor> {
        if self.kind() != Kind::EncoderDecoder {
            return Err(model_err(
                &self.dir,
                format!(
                    "this {} model has no decoder to run; only encoder–decoders (T5, BART) do",
                    self.family.name()
                ),
            ));
        }
        let _precision = self.precision.scope();
        Ok(self.net.decode(
            encoder_states,
            encoder_mask,
            decoder_embeds,
            decoder_mask,
            self.dropout.as_deref(),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_explain() {
        let cases =
            [("cpu", Some(DeviceChoice::Cpu)), ("cuda:1", Some(DeviceChoice::Cuda(1))), ("tpu", None)];
        for (s, expected) in cases {
            match expected {
                Some(d) => assert_eq!(s.parse::<DeviceChoice>().unwrap(), d),
                None => assert!(s.parse::<DeviceChoice>().unwrap_err().to_string().contains("use cpu")),
            }
        }
        if !cfg!(feature = "cuda") {
            let msg = DeviceChoice::Cuda(0).open().unwrap_err().to_string();
            assert!(msg.contains("--features cuda"), "{msg}");
        }
    }
}
