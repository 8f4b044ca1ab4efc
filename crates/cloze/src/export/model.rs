//! A fine-tuned model as a Hugging Face model folder: the run's `model/` (what
//! [`crate::plm::Plm::save_pretrained`] wrote: `config.json`, `model.safetensors`, the tokenizer
//! files) copied whole, with a `README.md` model card beside it — Hub front matter (`library_name`,
//! `pipeline_tag`, `base_model`, `tags`), the template, the verbalizer and the run's metrics — so
//! `AutoModelForMaskedLM` / `AutoModelForCausalLM` / `AutoModelForSeq2SeqLM.from_pretrained(DIR)`
//! loads it and a reader knows how it classifies.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, Text};
use crate::files::{AtomicDir, Replace, write_atomic};
use crate::plm::{Family, Kind};
use crate::tune::{RunDir, Summary, TuneConfig, TuneStrategy};

use super::bundle::{cached_repo, check_finished, prepare_out};
use super::openprompt::label_words_json;

/// The model card's file name.
pub const MODEL_CARD: &str = "README.md";

/// The transformers class that loads a kind of model, and the Hub's pipeline tag for it.
pub fn auto_class(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Encoder => ("AutoModelForMaskedLM", "fill-mask"),
        Kind::Decoder => ("AutoModelForCausalLM", "text-generation"),
        Kind::EncoderDecoder => ("AutoModelForSeq2SeqLM", "text2text-generation"),
    }
}

/// What [`export_model`] wrote.
#[derive(Debug, Clone)]
pub struct ModelExport {
    pub path: PathBuf,
    /// The transformers class that loads the folder.
    pub auto_class: &'static str,
    pub family: String,
    /// The files of the folder, model card included, sorted.
    pub files: Vec<String>,
}

/// Writes the fine-tuned (or pretrained) model of the finished run in `run_dir` as a Hugging Face
/// model folder at `out` (whole or not at all), with a model card. Soft-prompt and probe runs,
/// whose model is unchanged, are refused with the export that fits them named.
pub fn export_model(run_dir: &Path, out: &Path, replace: Replace) -> Result<ModelExport> {
    let run = RunDir::new(run_dir);
    let config = run.read_config()?;
    if config.strategy == TuneStrategy::Contrastive {
        return Err(Error::precondition(
            Text::from(format!(
                "{} is a contrastive run: its tuned encoder classifies only with the logistic head beside it, which a \
                 Hugging Face model folder cannot hold; export the run as a prompt bundle instead",
                run_dir.display()
            ))
            .cli_only(format!(" (`cloze export prompt {} --format bundle --output DIR`)", run_dir.display()))
            .app_only(" (Export → Prompt bundle)"),
        ));
    }
    if !matches!(config.strategy, TuneStrategy::Finetune | TuneStrategy::Pretrain) {
        return Err(Error::precondition(
            Text::from(format!(
                "{} is a {} run: its model is the unchanged {}, so there is no model to export; export its prompt \
                 instead",
                run_dir.display(),
                config.strategy.name(),
                config.model.display()
            ))
            .cli_only(format!(" (`cloze export prompt {} --format bundle --output DIR`)", run_dir.display()))
            .app_only(" (Export → Prompt bundle)"),
        ));
    }
    check_finished(&run)?;
    let model_dir = run.model();
    let config_path = model_dir.join("config.json");
    let text = std::fs::read_to_string(&config_path).map_err(|e| {
        Error::io_while(&config_path, "the run's model folder is missing or incomplete; run it again", e)
    })?;
    let model_config: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::io_while(&config_path, "not a model config", e))?;
    let family = Family::from_config(&model_config, &config_path)?;
    prepare_out(run_dir, out, replace)?;
    let summary = run.read_summary()?;

    let dir = AtomicDir::create(out)?;
    let mut files = Vec::new();
    let entries = std::fs::read_dir(&model_dir).map_err(|e| Error::io(&model_dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&model_dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.file_type().map_err(|e| Error::io(entry.path(), e))?.is_file() || name == MODEL_CARD {
            continue;
        }
        std::fs::copy(entry.path(), dir.path().join(&name)).map_err(|e| Error::io(entry.path(), e))?;
        files.push(name);
    }
    let card = model_card(&config, family, summary.as_ref());
    write_atomic(dir.path().join(MODEL_CARD), card.as_bytes())?;
    files.push(MODEL_CARD.into());
    files.sort();
    dir.commit()?;
    Ok(ModelExport {
        path: out.to_path_buf(),
        auto_class: auto_class(family.kind()).0,
        family: family.name().into(),
        files,
    })
}

/// The base model as the Hub names it (`org/name`), or the local folder's name.
fn base_model(model: &Path) -> (String, bool) {
    match cached_repo(model) {
        Some((repo, _)) => (repo, true),
        None => {
            let abs = std::fs::canonicalize(model).unwrap_or_else(|_| model.to_path_buf());
            (abs.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), false)
        }
    }
}

/// A YAML scalar in double quotes.
fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{:.1} %", v * 100.0))
}

/// The `README.md` model card: Hub front matter, then how the model classifies and how well.
pub fn model_card(config: &TuneConfig, family: Family, summary: Option<&Summary>) -> String {
    let (class, pipeline) = auto_class(family.kind());
    let (base, on_hub) = base_model(&config.model);
    let strategy = match config.strategy {
        TuneStrategy::Pretrain => "prompted continued pretraining",
        _ => "prompt-based fine-tuning",
    };
    let mut s = String::from("---\nlibrary_name: transformers\n");
    let _ = writeln!(s, "pipeline_tag: {pipeline}");
    if on_hub {
        let _ = writeln!(s, "base_model: {}", yaml_str(&base));
    }
    s.push_str("tags:\n- cloze-studio\n- prompt-learning\n");
    let _ = writeln!(s, "- {}", config.strategy.name());
    let _ = writeln!(s, "- {}", family.name());
    if let Some(m) = summary.and_then(|s| s.final_metrics.as_ref()) {
        s.push_str("model-index:\n- name: cloze-studio-run\n  results:\n  - task:\n      type: text-classification\n");
        s.push_str("    metrics:\n");
        if let Some(a) = m.accuracy {
            let _ = writeln!(s, "    - type: accuracy\n      value: {a:.4}");
        }
        if let Some(f) = m.macro_f1 {
            let _ = writeln!(s, "    - type: f1\n      name: macro F1\n      value: {f:.4}");
        }
    }
    s.push_str("---\n\n");
    let _ = writeln!(s, "# {} ({strategy}, Cloze Studio)\n", if base.is_empty() { "model" } else { &base });
    let _ = writeln!(
        s,
        "A {} model trained with {strategy} in Cloze Studio from `{}`. It loads with\n\n```python\nfrom transformers \
         import {class}, AutoTokenizer\nmodel = {class}.from_pretrained(\"PATH\")\ntokenizer = \
         AutoTokenizer.from_pretrained(\"PATH\")\n```\n",
        family.name(),
        if base.is_empty() { config.model.display().to_string() } else { base.clone() }
    );
    if let Some(t) = &config.template {
        let _ = writeln!(s, "## Template\n\nEach input is wrapped as\n\n```\n{t}\n```\n");
        let read = match family.kind() {
            Kind::Encoder => "the model fills the mask token at `{mask}`",
            Kind::Decoder => "the model continues the text before `{mask}` with a label word",
            Kind::EncoderDecoder => "the decoder writes the label word after reading the input",
        };
        let _ = writeln!(s, "and {read}; the label word's score is the class's score.\n");
    }
    if let Some(v) = &config.verbalizer {
        let _ =
            writeln!(s, "## Verbalizer\n\nLabel words per class:\n\n```json\n{}```\n", label_words_json(v));
    }
    s.push_str("## Training\n\n| setting | value |\n| --- | --- |\n");
    let h = &config.hyper;
    let rows: [(&str, String); 7] = [
        ("strategy", config.strategy.name().into()),
        ("learning rate", format!("{}", h.learning_rate)),
        ("batch size", format!("{} × {} accumulation", h.batch_size, h.grad_accumulation)),
        (
            "epochs / step limit",
            format!("{} / {}", h.epochs, h.max_steps.map_or("none".into(), |m| m.to_string())),
        ),
        ("weight decay", format!("{}", h.weight_decay)),
        ("seed", h.seed.to_string()),
        ("few-shot", config.shots.map_or("all rows".into(), |k| format!("{k} per class"))),
    ];
    for (k, v) in rows {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    s.push('\n');
    if let Some(sum) = summary {
        let _ = writeln!(s, "## Metrics (dev)\n\n{} updates in {:.0} s.\n", sum.steps, sum.seconds);
        match &sum.final_metrics {
            Some(m) => {
                let _ = writeln!(
                    s,
                    "| accuracy | macro F1 | rows |\n| --- | --- | --- |\n| {} | {} | {} |\n",
                    pct(m.accuracy),
                    pct(m.macro_f1),
                    m.rows
                );
                if !m.classes.is_empty() && m.per_class_f1.len() == m.classes.len() {
                    s.push_str("| class | F1 |\n| --- | --- |\n");
                    for (c, f) in m.classes.iter().zip(&m.per_class_f1) {
                        let _ = writeln!(s, "| {c} | {} |", pct(Some(*f)));
                    }
                    s.push('\n');
                }
            }
            None => s.push_str("The run had no dev rows.\n\n"),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tune::DataSource;
    use crate::verbalizer::Verbalizer;

    #[test]
    fn auto_classes_by_kind() {
        let cases = [
            (Kind::Encoder, "AutoModelForMaskedLM", "fill-mask"),
            (Kind::Decoder, "AutoModelForCausalLM", "text-generation"),
            (Kind::EncoderDecoder, "AutoModelForSeq2SeqLM", "text2text-generation"),
        ];
        for (kind, class, tag) in cases {
            assert_eq!(auto_class(kind), (class, tag), "{kind:?}");
        }
    }

    #[test]
    fn model_card_front_matter_and_sections() {
        let mut c = TuneConfig::new(TuneStrategy::Finetune, "/nowhere/tiny-bert", DataSource::Inline);
        c.template = Some("{text_a} It was {mask}.".into());
        c.verbalizer = Some(Verbalizer::from_json(r#"{"negative": ["bad"], "positive": ["good"]}"#).unwrap());
        let cases: [(Family, &[&str]); 2] = [
            (
                Family::Bert,
                &[
                    "library_name: transformers",
                    "pipeline_tag: fill-mask",
                    "- finetune",
                    "## Template",
                    "\"positive\"",
                ],
            ),
            (Family::Gpt2, &["pipeline_tag: text-generation", "AutoModelForCausalLM", "continues the text"]),
        ];
        for (family, needles) in cases {
            let card = model_card(&c, family, None);
            assert!(card.starts_with("---\n"), "{card}");
            assert!(!card.contains("base_model:"), "a local model has no Hub base_model: {card}");
            for n in needles {
                assert!(card.contains(n), "{family:?} {n}: {card}");
            }
        }
    }
}
