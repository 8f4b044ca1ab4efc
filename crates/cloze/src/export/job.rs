//! Handing a run to a cluster: `cloze export job RUN --output DIR` writes what runs the same
//! training with Hugging Face's own stack, nothing of ours:
//!
//! - `train.jsonl`, `dev.jsonl` — the rows as `datasets` JSONL with the template applied: `text`
//!   (the rendered input as the tokenizer reads it back), `input_ids` and `mask_position` (Cloze
//!   Studio's tokenisation, which the script trains on), `label` and `label_id`;
//! - `initial_adapter/` — the PEFT prompt-tuning adapter the run started from (its seeded
//!   initialisation) for a soft-prompt run, or `model/` — the model folder fine-tuning starts from;
//! - `job.json` — the hyperparameters, the verbalizer's label-word token ids and how they score,
//!   the schedule's step counts, and the batch order's seed;
//! - `train.py` — transformers + peft + accelerate: `accelerate launch train.py` runs it unchanged on
//!   one CPU or many GPUs; the same batches (Cloze Studio's shuffled order, from the seed), the same
//!   loss (cross-entropy over the verbalizer's classes at the mask), AdamW with warmup and linear
//!   decay, clipping; it saves a PEFT adapter (`cloze import prompt` reads it back) or a model folder;
//! - `README.md`.
//!
//! Masked LMs only (the mask's logits are the classes' scores); a decoder's or T5's run, a soft
//! verbalizer, soft vectors anywhere but before the input, and `{demo}` templates are refused
//! saying which export fits instead.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use candle_core::Device;
use serde_json::json;

use crate::data::Example;
use crate::demo;
use crate::error::{Error, Result, Text};
use crate::files::{AtomicDir, Replace, write_atomic};
use crate::plm::{Kind, Plm};
use crate::template::{Segment, Template};
use crate::tune::prompt_model::SOFT_PROMPT;
use crate::tune::{
    PromptModel, RunDir, SoftPlacement, TuneConfig, TuneStrategy, VerbalizerKind, select_rows,
};
use crate::verbalizer::MultiToken;

use super::bundle::prepare_out;
use super::peft::write_adapter;

/// The training script, as written into every job.
pub const TRAIN_PY: &str = include_str!("job_train.py");

/// What [`export_job`] wrote.
#[derive(Debug, Clone)]
pub struct JobExport {
    pub path: PathBuf,
    pub train_rows: usize,
    pub dev_rows: usize,
    /// `initial_adapter` or `model`.
    pub start: &'static str,
}

fn refuse(run_dir: &Path, why: String, instead: &str) -> Error {
    Error::precondition(Text::from(format!("{}: {why}; ", run_dir.display())).then(instead.to_string()))
}

/// Checks that the job script can train the run's configuration, before anything is loaded.
pub fn check_supported(run_dir: &Path, config: &TuneConfig, template: &Template) -> Result<()> {
    let instead = "export its prompt or model instead";
    if !matches!(config.strategy, TuneStrategy::SoftPrompt | TuneStrategy::Finetune) {
        return Err(refuse(
            run_dir,
            format!("the job script trains soft-prompt and finetune runs, not {}", config.strategy.name()),
            instead,
        ));
    }
    if config.verbalizer_kind == VerbalizerKind::Soft {
        return Err(refuse(
            run_dir,
            "a soft verbalizer has no counterpart in PEFT".into(),
            "use a manual verbalizer",
        ));
    }
    if demo::uses_demos(template) {
        return Err(refuse(run_dir, "the template has {demo}".into(), "remove {demo} to hand the run on"));
    }
    let soft = template.segments().iter().filter(|s| matches!(s, Segment::Soft(_))).count();
    match config.strategy {
        TuneStrategy::SoftPrompt if config.soft_placement != SoftPlacement::BeforeInput => Err(refuse(
            run_dir,
            "its soft vectors stand where the template puts them, which PEFT's prompt tuning cannot hold".into(),
            "tune with --soft-placement before-input (Soft placement: before the input) to hand it on",
        )),
        TuneStrategy::Finetune if soft > 0 => Err(refuse(
            run_dir,
            "fine-tuning with {soft} vectors trains two kinds of weights, which one transformers model cannot hold"
                .into(),
            "remove {soft} from the template",
        )),
        _ => Ok(()),
    }
}

fn jsonl(rows: &[serde_json::Value]) -> String {
    let mut s = String::new();
    for r in rows {
        s.push_str(&r.to_string());
        s.push('\n');
    }
    s
}

/// Writes the job of the run in `run_dir` at `out`, over the rows `train` and `dev` (as the run
/// read them: few-shot sampling and held-out dev rows follow the run's config).
pub fn export_job(
    run_dir: &Path,
    train: Vec<Example>,
    dev: Vec<Example>,
    out: &Path,
    replace: Replace,
    device: &Device,
) -> Result<JobExport> {
    let run = RunDir::new(run_dir);
    let config = run.read_config()?;
    let source =
        config.template.as_deref().ok_or_else(|| Error::invalid("the run's config has no template"))?;
    let plain = Template::parse(source)?;
    check_supported(run_dir, &config, &plain)?;
    let verbalizer =
        config.verbalizer.as_ref().ok_or_else(|| Error::invalid("the run's config has no verbalizer"))?;
    prepare_out(run_dir, out, replace)?;
    let plm = Plm::load(&config.model, device)?;
    if plm.kind() != Kind::Encoder {
        return Err(refuse(
            run_dir,
            format!(
                "the job script trains masked LMs; {} is a {:?} model, whose label words are scored as continuations",
                plm.family().name(),
                plm.kind()
            ),
            "export its prompt or model instead",
        ));
    }
    let dropout = config.hyper.dropout.unwrap_or_else(|| plm.config_dropout());
    let pad_id = plm.tokenizer().special().pad.1;
    let template = config.chat.apply(&plm, &plain)?;
    let model = PromptModel::from_config(plm, template, verbalizer, config.verbalizer_kind, &config)?;
    let (train, dev) = select_rows(&config, train, dev)?;
    let classes = model.classes();
    let rows = |examples: &[Example], what: &str| -> Result<Vec<serde_json::Value>> {
        examples
            .iter()
            .enumerate()
            .map(|(i, ex)| {
                let label = ex.label.as_deref().unwrap_or_default();
                let label_id = classes.iter().position(|c| c == label).ok_or_else(|| {
                    Error::invalid(format!(
                        "{what} row {} (id {:?}) has label {label:?}, which is not a class of the verbalizer ({})",
                        i + 1,
                        ex.id,
                        classes.join(", ")
                    ))
                })?;
                let r = model.render(ex)?;
                let soft = r.soft_slots.len();
                let &[mask] = r.mask_positions.as_slice() else {
                    return Err(Error::invalid(format!(
                        "{what} row {} renders {} masks; the job script reads one",
                        i + 1,
                        r.mask_positions.len()
                    )));
                };
                let ids = r.ids[soft..].to_vec();
                let at = mask - soft;
                let tok = model.plm().tokenizer();
                let text = format!("{}{}{}", tok.decode(&ids[..at])?, tok.special().mask.0, tok.decode(&ids[at + 1..])?);
                Ok(json!({
                    "id": ex.id, "text": text, "label": label, "label_id": label_id,
                    "input_ids": ids, "mask_position": at,
                }))
            })
            .collect()
    };
    let train_rows = rows(&train, "training")?;
    let dev_rows = rows(&dev, "dev")?;

    let bound = model.verbalizer();
    let multi = match verbalizer.multi_token {
        MultiToken::Auto => MultiToken::First,
        m => m,
    };
    let words: Vec<serde_json::Value> =
        bound.words.iter().map(|w| json!({"class": w.class, "ids": w.ids})).collect();
    let hyper = &config.hyper;
    let bs = hyper.batch_size as usize * hyper.grad_accumulation as usize;
    let steps_per_epoch = train_rows.len().div_ceil(bs.max(1)) as u32;
    let total = hyper.max_steps.unwrap_or(hyper.epochs * steps_per_epoch).max(1);
    let warmup = (hyper.warmup_ratio * f64::from(total)).round() as u32;

    let dir = AtomicDir::create(out)?;
    let start = match config.strategy {
        TuneStrategy::SoftPrompt => {
            let soft = model.prompt_tensors().remove(SOFT_PROMPT).ok_or_else(|| {
                Error::invalid("the template has no {soft} vectors; a soft-prompt run needs them")
            })?;
            write_adapter(model.plm(), &soft, &config.model, &dir.path().join("initial_adapter"))?;
            "initial_adapter"
        }
        _ => {
            let dest = dir.path().join("model");
            std::fs::create_dir(&dest).map_err(|e| Error::io(&dest, e))?;
            let entries = std::fs::read_dir(&config.model).map_err(|e| Error::io(&config.model, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| Error::io(&config.model, e))?;
                if entry.file_type().map_err(|e| Error::io(entry.path(), e))?.is_file() {
                    std::fs::copy(entry.path(), dest.join(entry.file_name()))
                        .map_err(|e| Error::io(entry.path(), e))?;
                }
            }
            "model"
        }
    };
    let job = json!({
        "format": 1,
        "strategy": config.strategy.name(),
        "start": start,
        "classes": classes,
        "words": words,
        "multi_token": multi,
        "aggregate": verbalizer.aggregate,
        "pad_id": pad_id,
        "dropout": dropout,
        "hyper": hyper,
        "precision": config.precision,
        "train_rows": train_rows.len(),
        "steps_per_epoch": steps_per_epoch,
        "total_steps": total,
        "warmup_steps": warmup,
        "template": source,
        "base_model": config.model,
        "engine": env!("CARGO_PKG_VERSION"),
    });
    let text = serde_json::to_string_pretty(&job).map_err(|e| Error::io(out.join("job.json"), e))?;
    write_atomic(dir.path().join("job.json"), (text + "\n").as_bytes())?;
    write_atomic(dir.path().join("train.jsonl"), jsonl(&train_rows).as_bytes())?;
    write_atomic(dir.path().join("dev.jsonl"), jsonl(&dev_rows).as_bytes())?;
    write_atomic(dir.path().join("train.py"), TRAIN_PY.as_bytes())?;
    write_atomic(
        dir.path().join("README.md"),
        readme(&config, start, train_rows.len(), dev_rows.len(), total).as_bytes(),
    )?;
    dir.commit()?;
    Ok(JobExport { path: out.to_path_buf(), train_rows: train_rows.len(), dev_rows: dev_rows.len(), start })
}

fn readme(config: &TuneConfig, start: &str, train: usize, dev: usize, total: u32) -> String {
    let mut s = String::from("# A Cloze Studio run, handed on\n\n");
    let _ = writeln!(
        s,
        "This folder continues a Cloze Studio `{}` run with Hugging Face's own stack (transformers, peft, accelerate); \
         nothing of Cloze Studio runs here.\n",
        config.strategy.name()
    );
    s.push_str(
        "```sh\npip install torch transformers peft accelerate datasets\naccelerate launch train.py            # one CPU, \
         or: accelerate config, then the same command on many GPUs\naccelerate launch train.py --max-steps 2 --output \
         out   # a short check\n```\n\n",
    );
    let _ = writeln!(
        s,
        "| file | what |\n| --- | --- |\n| `train.jsonl`, `dev.jsonl` | {train} training and {dev} dev rows as `datasets` \
         JSONL, the template `{}` applied: `text`, `input_ids`, `mask_position`, `label`, `label_id` |\n| `{start}/` | {} \
         |\n| `job.json` | the hyperparameters ({total} updates), the label words' token ids and how they score |\n| \
         `train.py` | the training loop |\n",
        config.template.as_deref().unwrap_or_default(),
        if start == "model" {
            "the model fine-tuning starts from"
        } else {
            "the PEFT prompt-tuning adapter the run started from (its seeded initialisation)"
        }
    );
    s.push_str(
        "The script takes Cloze Studio's batches in the same order (the run's seed), the same loss (cross-entropy over \
         the verbalizer's classes, scored from the mask's label-word logits), AdamW with linear warmup and decay, and \
         gradient clipping, so on one process, with dropout 0, its losses are the run's (dropout masks come from torch's \
         generator, so with dropout they agree in distribution only). On N processes each update's rows are split \
         among them and the gradients averaged. It writes `metrics.jsonl` and, in `--output` (default `out/`), a PEFT \
         adapter (`PeftModel.from_pretrained(base, \"out\")`; `cloze import prompt out --out RUN --template … \
         --verbalizer …` reads it back) or a model folder (`AutoModelForMaskedLM.from_pretrained(\"out\")`).\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tune::DataSource;
    use crate::verbalizer::Verbalizer;

    #[test]
    fn unsupported_runs_are_refused_with_what_to_do() {
        type Case = (TuneStrategy, &'static str, SoftPlacement, VerbalizerKind, Option<&'static str>);
        let cases: [Case; 7] = [
            (
                TuneStrategy::SoftPrompt,
                "{soft:2} {text_a} It was {mask}.",
                SoftPlacement::BeforeInput,
                VerbalizerKind::Manual,
                None,
            ),
            (
                TuneStrategy::Finetune,
                "{text_a} It was {mask}.",
                SoftPlacement::InTemplate,
                VerbalizerKind::Manual,
                None,
            ),
            (
                TuneStrategy::SoftPrompt,
                "{soft:2} {text_a} It was {mask}.",
                SoftPlacement::InTemplate,
                VerbalizerKind::Manual,
                Some("before-input"),
            ),
            (
                TuneStrategy::Finetune,
                "{soft:2} {text_a} It was {mask}.",
                SoftPlacement::InTemplate,
                VerbalizerKind::Manual,
                Some("remove {soft}"),
            ),
            (
                TuneStrategy::SoftPrompt,
                "{soft:2} {text_a} It was {mask}.",
                SoftPlacement::BeforeInput,
                VerbalizerKind::Soft,
                Some("soft verbalizer"),
            ),
            (
                TuneStrategy::Probe,
                "{text_a} It was {mask}.",
                SoftPlacement::InTemplate,
                VerbalizerKind::Manual,
                Some("not probe"),
            ),
            (
                TuneStrategy::Finetune,
                "{demo} {text_a} It was {mask}.",
                SoftPlacement::InTemplate,
                VerbalizerKind::Manual,
                Some("{demo}"),
            ),
        ];
        for (strategy, template, placement, kind, needle) in cases {
            let mut c = TuneConfig::new(strategy, "/m", DataSource::Inline);
            c.template = Some(template.into());
            c.verbalizer = Some(Verbalizer::from_json(r#"{"a": ["x"], "b": ["y"]}"#).unwrap());
            c.soft_placement = placement;
            c.verbalizer_kind = kind;
            let got = check_supported(Path::new("run"), &c, &Template::parse(template).unwrap());
            match needle {
                None => assert!(got.is_ok(), "{strategy:?} {template}: {got:?}"),
                Some(n) => {
                    let msg = got.unwrap_err().to_string();
                    assert!(msg.contains(n) && msg.contains("run"), "{n}: {msg}");
                }
            }
        }
    }
}
