//! PEFT prompt-tuning adapters, out and in: a soft-prompt run as the `adapter_config.json` and
//! `adapter_model.safetensors` that `PeftModel.from_pretrained` loads, and such an adapter read
//! back as a run `cloze classify --prompt` uses.
//!
//! PEFT's prompt tuning puts its `num_virtual_tokens` vectors before every token of the input (the
//! model's `<s>`, `[CLS]` or BOS included). A run whose soft vectors stand there — a template that
//! opens with its only `{soft}` segment, tuned with [`SoftPlacement::BeforeInput`], or on a model
//! whose tokenizer adds nothing in front — exports; any other is refused with the bundle offered.
//! For encoder–decoders PEFT keeps `num_transformer_submodules` 2 and a tensor of 2×N rows, of
//! which prompt tuning feeds only the first N to the encoder: the second N are written as a copy.
//!
//! `adapter_config.json` has only keys PEFT 0.13 knows (older PEFT refuses unknown ones); the
//! tensor is `prompt_embeddings` `[rows, token_dim]` F32 with metadata `{"format": "pt"}`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde_json::{Value, json};

use crate::error::{Error, Result, Setting, Text};
use crate::files::{AtomicDir, Replace, write_atomic};
use crate::plm::{Kind, Plm};
use crate::tune::prompt_model::SOFT_PROMPT;
use crate::tune::{
    DataSource, PromptModel, RunDir, SoftPlacement, TuneConfig, TuneStrategy, TunedRun, VerbalizerKind,
};
use crate::verbalizer::Verbalizer;

use super::bundle::{cached_repo, check_finished, prepare_out};

/// The adapter's config file.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// The adapter's tensor file.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
/// The one tensor of a prompt-tuning adapter.
pub const PROMPT_EMBEDDINGS: &str = "prompt_embeddings";

/// PEFT's `task_type` for a kind of model.
pub fn task_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Encoder => "FEATURE_EXTRACTION",
        Kind::Decoder => "CAUSAL_LM",
        Kind::EncoderDecoder => "SEQ_2_SEQ_LM",
    }
}

/// PEFT's `num_transformer_submodules` for a kind of model (2: encoder and decoder).
pub fn transformer_submodules(kind: Kind) -> usize {
    if kind == Kind::EncoderDecoder { 2 } else { 1 }
}

/// What [`export_peft`] wrote.
#[derive(Debug, Clone)]
pub struct PeftExport {
    /// `adapter_config.json` as written.
    pub config: Value,
    pub virtual_tokens: usize,
    pub token_dim: usize,
}

fn offer_bundle(run_dir: &Path) -> Text {
    Text::from("; export a prompt bundle instead")
        .cli_only(format!(" (`cloze export prompt {} --format bundle --output DIR`)", run_dir.display()))
        .app_only(" (Export → Prompt bundle)")
}

/// Writes the soft-prompt run in `run_dir` as a PEFT prompt-tuning adapter folder at `out`.
pub fn export_peft(run_dir: &Path, out: &Path, replace: Replace, device: &Device) -> Result<PeftExport> {
    let run = RunDir::new(run_dir);
    let config = run.read_config()?;
    check_finished(&run)?;
    prepare_out(run_dir, out, replace)?;
    if config.strategy != TuneStrategy::SoftPrompt {
        return Err(Error::precondition(
            Text::from(format!(
                "{} is a {} run; a PEFT prompt-tuning adapter holds only soft vectors over an unchanged model",
                run_dir.display(),
                config.strategy.name()
            ))
            .append(offer_bundle(run_dir)),
        ));
    }
    if config.verbalizer_kind == VerbalizerKind::Soft {
        return Err(Error::precondition(
            Text::from(format!(
                "{} trained a soft verbalizer, which a PEFT prompt-tuning adapter cannot hold",
                run_dir.display()
            ))
            .append(offer_bundle(run_dir)),
        ));
    }
    let (_, tuned) = TunedRun::load(run_dir, device)?;
    let TunedRun::Prompt { model, .. } = tuned else {
        return Err(Error::internal("a soft-prompt run loaded as a probe"));
    };
    let soft = model.prompt_tensors().remove(SOFT_PROMPT).ok_or_else(|| {
        Error::precondition(
            Text::from(format!(
                "the template of {} has no {{soft}} vectors; there is no prompt to export",
                run_dir.display()
            ))
            .append(offer_bundle(run_dir)),
        )
    })?;
    check_prefix(&model, run_dir)?;
    write_adapter(model.plm(), &soft, &config.model, out)
}

/// Writes the soft vectors `soft` `[N, hidden]` of a prompt over `plm` (loaded from `model`) as a
/// PEFT prompt-tuning adapter folder at `out` (whole or not at all).
pub fn write_adapter(plm: &Plm, soft: &Tensor, model: &Path, out: &Path) -> Result<PeftExport> {
    let soft = soft.to_dtype(DType::F32)?;
    let (n, dim) = soft.dims2()?;
    let kind = plm.kind();
    let rows = match transformer_submodules(kind) {
        2 => Tensor::cat(&[&soft, &soft], 0)?,
        _ => soft,
    };
    let dims = plm.dims();
    let (base, revision) = match cached_repo(model) {
        Some((repo, rev)) => (repo, Value::String(rev)),
        None => (
            std::fs::canonicalize(model).unwrap_or_else(|_| model.to_path_buf()).display().to_string(),
            Value::Null,
        ),
    };
    let adapter = json!({
        "peft_type": "PROMPT_TUNING",
        "task_type": task_type(kind),
        "num_virtual_tokens": n,
        "token_dim": dim,
        "num_transformer_submodules": transformer_submodules(kind),
        "num_attention_heads": dims.heads,
        "num_layers": dims.layers,
        "base_model_name_or_path": base,
        "revision": revision,
        "prompt_tuning_init": "RANDOM",
        "inference_mode": true,
    });
    let dir = AtomicDir::create(out)?;
    let text = serde_json::to_string_pretty(&adapter).map_err(|e| Error::io(out.join(ADAPTER_CONFIG), e))?;
    write_atomic(dir.path().join(ADAPTER_CONFIG), (text + "\n").as_bytes())?;
    let values: Vec<f32> = rows.flatten_all()?.to_vec1::<f32>()?;
    write_atomic(
        dir.path().join(ADAPTER_WEIGHTS),
        &safetensors_f32(PROMPT_EMBEDDINGS, &values, rows.dims(), &[("format", "pt")]),
    )?;
    dir.commit()?;
    Ok(PeftExport { config: adapter, virtual_tokens: n, token_dim: dim })
}

/// The run's soft vectors must be the first positions of the input, in order.
fn check_prefix(model: &PromptModel, run_dir: &Path) -> Result<()> {
    let names: Vec<String> = model.template().fields().map(|f| f.name.clone()).collect();
    let row: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "x")).collect();
    let rendered = model.render(row.as_slice())?;
    let at_start = rendered.soft_slots.iter().enumerate().all(|(i, s)| s.position == i && s.index == i);
    if !at_start {
        let positions: Vec<usize> = rendered.soft_slots.iter().map(|s| s.position).collect();
        let placement = if model.soft_placement() == SoftPlacement::InTemplate {
            " (tune with --soft-placement before-input and a template that starts with {soft:N} to make one PEFT \
             can hold)"
        } else {
            ""
        };
        return Err(Error::precondition(
            Text::from(format!(
                "the soft vectors of {} stand at positions {positions:?} of the input; PEFT's prompt tuning puts its \
                 virtual tokens before every token, so it cannot hold this prompt{placement}",
                run_dir.display()
            ))
            .append(offer_bundle(run_dir)),
        ));
    }
    Ok(())
}

/// A safetensors file of one F32 tensor with `__metadata__`.
pub fn safetensors_f32(name: &str, values: &[f32], shape: &[usize], metadata: &[(&str, &str)]) -> Vec<u8> {
    let bytes = values.len() * 4;
    let meta: serde_json::Map<String, Value> =
        metadata.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect();
    let header = json!({
        "__metadata__": meta,
        name: {"dtype": "F32", "shape": shape, "data_offsets": [0, bytes]},
    });
    let mut header = header.to_string().into_bytes();
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + bytes);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// A PEFT prompt-tuning adapter as read.
#[derive(Debug, Clone)]
pub struct PeftAdapter {
    pub dir: PathBuf,
    /// `adapter_config.json`.
    pub config: Value,
    pub virtual_tokens: usize,
    pub token_dim: usize,
    pub submodules: usize,
    /// The first `virtual_tokens` rows (what prompt tuning puts before the encoder's or decoder's
    /// input), `[virtual_tokens, token_dim]` F32 on the CPU.
    pub prompt: Tensor,
}

/// Reads the adapter folder `dir`; errors name the file and key.
pub fn read_peft(dir: &Path) -> Result<PeftAdapter> {
    let cp = dir.join(ADAPTER_CONFIG);
    let text = std::fs::read_to_string(&cp)
        .map_err(|e| Error::io_while(&cp, format!("{} is not a PEFT adapter folder", dir.display()), e))?;
    let config: Value = serde_json::from_str(&text).map_err(|e| Error::io_while(&cp, "not valid JSON", e))?;
    let key_err = |key: &str, what: &str| Error::invalid(format!("{}: key {key:?} {what}", cp.display()));
    match config["peft_type"].as_str() {
        Some("PROMPT_TUNING") => {}
        Some(other) => {
            return Err(key_err(
                "peft_type",
                &format!("is {other:?}; Cloze Studio imports prompt-tuning adapters (PROMPT_TUNING) only"),
            ));
        }
        None => return Err(key_err("peft_type", "is missing; is this a PEFT adapter?")),
    }
    let count = |key: &str| -> Result<usize> {
        config[key]
            .as_u64()
            .filter(|&n| n > 0)
            .map(|n| n as usize)
            .ok_or_else(|| key_err(key, "is missing or not a positive whole number"))
    };
    let virtual_tokens = count("num_virtual_tokens")?;
    let token_dim = count("token_dim")?;
    let submodules =
        if config["num_transformer_submodules"].is_null() { 1 } else { count("num_transformer_submodules")? };
    let wp = dir.join(ADAPTER_WEIGHTS);
    if !wp.is_file() {
        return Err(Error::missing(&wp, "the adapter has no tensor file (adapter_model.safetensors)"));
    }
    let tensors: HashMap<String, Tensor> = candle_core::safetensors::load(&wp, &Device::Cpu)
        .map_err(|e| Error::io_while(&wp, "not a safetensors file", e))?;
    let t = tensors.get(PROMPT_EMBEDDINGS).ok_or_else(|| {
        Error::invalid(format!(
            "{}: no tensor {PROMPT_EMBEDDINGS:?} (found {:?}); not a prompt-tuning adapter",
            wp.display(),
            tensors.keys().collect::<Vec<_>>()
        ))
    })?;
    let want = (virtual_tokens * submodules, token_dim);
    if t.dims() != [want.0, want.1] {
        return Err(Error::invalid(format!(
            "{}: tensor {PROMPT_EMBEDDINGS:?} has shape {:?}, but {ADAPTER_CONFIG} says num_virtual_tokens {virtual_tokens} \
             × num_transformer_submodules {submodules} rows of token_dim {token_dim}",
            wp.display(),
            t.dims()
        )));
    }
    let prompt = t.narrow(0, 0, virtual_tokens)?.to_dtype(DType::F32)?;
    Ok(PeftAdapter { dir: dir.to_path_buf(), config, virtual_tokens, token_dim, submodules, prompt })
}

/// What a PEFT adapter becomes in Cloze Studio: the model it runs on, the template around the
/// input (its soft vectors are put first) and the verbalizer.
#[derive(Debug, Clone)]
pub struct PeftImport {
    /// The model; `None`: the adapter's `base_model_name_or_path` (a folder, or a cached
    /// repository at `revision`).
    pub model: Option<PathBuf>,
    /// A template with `{mask}`, without `{soft}` (they are added first), or starting with
    /// `{soft:N}` for the adapter's N.
    pub template: String,
    pub verbalizer: Verbalizer,
}

/// Reads the adapter in `adapter_dir` into a finished soft-prompt run at `run_dir`
/// (`cloze classify --prompt RUN` classifies with it). The adapter's `token_dim` must be the
/// model's hidden size.
pub fn import_peft(
    adapter_dir: &Path,
    import: &PeftImport,
    run_dir: &Path,
    replace: Replace,
    device: &Device,
) -> Result<TuneConfig> {
    let adapter = read_peft(adapter_dir)?;
    if run_dir.exists() && replace == Replace::Refuse {
        return Err(Error::already_exists(
            Text::from(format!("`{}` already exists; choose another name, or ", run_dir.display()))
                .turn_on(Setting::Replace)
                .then(" to replace it"),
        ));
    }
    let model = match &import.model {
        Some(m) => m.clone(),
        None => {
            let base = adapter.config["base_model_name_or_path"].as_str().unwrap_or_default();
            if base.is_empty() {
                return Err(Error::invalid(
                    Text::from(format!(
                        "{}: key \"base_model_name_or_path\" is empty; name the model with ",
                        adapter_dir.join(ADAPTER_CONFIG).display()
                    ))
                    .setting(Setting::Model),
                ));
            }
            let spec = match adapter.config["revision"].as_str() {
                Some(rev) if !Path::new(base).exists() => format!("{base}@{rev}"),
                _ => base.to_string(),
            };
            crate::hub::resolve_model(&spec)?
        }
    };
    let plm = Plm::load(&model, device)?;
    let expected_subm = transformer_submodules(plm.kind());
    if plm.hidden_size() != adapter.token_dim {
        return Err(Error::precondition(
            Text::from(format!(
                "{}: token_dim is {}, but the model {} has hidden size {}; the adapter was trained for another \
                 model. Use the model it names (base_model_name_or_path {}) with ",
                adapter_dir.join(ADAPTER_CONFIG).display(),
                adapter.token_dim,
                model.display(),
                plm.hidden_size(),
                adapter.config["base_model_name_or_path"]
            ))
            .setting(Setting::Model),
        ));
    }
    if adapter.submodules != expected_subm {
        return Err(Error::precondition(format!(
            "{}: num_transformer_submodules is {}, but a {} model ({}) takes {expected_subm}; the adapter was \
             trained for another kind of model",
            adapter_dir.join(ADAPTER_CONFIG).display(),
            adapter.submodules,
            plm.family().name(),
            model.display()
        )));
    }
    let n = adapter.virtual_tokens;
    let given = crate::template::Template::parse(&import.template)?;
    let template = if given.soft_tokens().next().is_some() {
        crate::tune::config::check_before_input(&given)?;
        import.template.clone()
    } else {
        format!("{{soft:{n}}} {}", import.template)
    };
    let mut config = TuneConfig::new(TuneStrategy::SoftPrompt, model, DataSource::Inline);
    config.template = Some(template.clone());
    config.verbalizer = Some(import.verbalizer.clone());
    config.soft_placement = SoftPlacement::BeforeInput;
    config.hyper.max_steps = Some(0);
    config.validate()?;
    // The prompt model checks the template against the model and the adapter's vectors' shape.
    let mut model = PromptModel::new(
        plm,
        crate::template::Template::parse(&template)?,
        &import.verbalizer,
        VerbalizerKind::Manual,
        config.soft_init,
        None,
        config.hyper.seed,
    )?
    .with_soft_placement(SoftPlacement::BeforeInput)?;
    let prompt = HashMap::from([(SOFT_PROMPT.to_string(), adapter.prompt.clone())]);
    model.load_prompt_tensors(&prompt).map_err(|e| {
        Error::invalid(format!(
            "{}: the adapter's {n} virtual tokens do not fit the template {template:?} ({e})",
            adapter_dir.join(ADAPTER_WEIGHTS).display()
        ))
    })?;
    let tensors = model.prompt_tensors();
    if !tensors.contains_key(SOFT_PROMPT) {
        return Err(Error::internal("no soft prompt after loading an adapter"));
    }
    let summary = crate::tune::Summary {
        steps: 0,
        best_step: None,
        best: None,
        final_metrics: None,
        stopped_early: false,
        seconds: 0.0,
        steps_per_second: 0.0,
        final_train_loss: None,
        wall_seconds: None,
        peak_bytes: None,
    };
    let parent = run_dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let dir = AtomicDir::create(run_dir)?;
    let run = RunDir::new(dir.path());
    write_json(&run.config(), &config)?;
    crate::tune::checkpoint::save_tensors_atomic(&tensors, &run.prompt())?;
    write_atomic(run.metrics(), b"")?;
    write_json(&run.summary(), &summary)?;
    dir.commit()?;
    Ok(config)
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::io(path, e))?;
    write_atomic(path, (text + "\n").as_bytes())
}
