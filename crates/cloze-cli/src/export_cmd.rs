//! `cloze export prompt RUN --format bundle|peft|openprompt --output DIR`, `cloze export model RUN`,
//! `cloze export report RUN… --output FILE.html`, `cloze export job RUN --output DIR` and
//! `cloze import prompt DIR` (a PEFT adapter into a run folder; OpenPrompt files printed or saved
//! into a project).

use std::path::PathBuf;

use clap::Args;
use cloze::Result;
use cloze::export::{bundle, job, model, openprompt, peft, report};
use cloze::plm::DeviceChoice;
use cloze::tune::DataSource;
use cloze::verbalizer::Verbalizer;

use crate::DataArgs;
use crate::choices::{self, engine};
use crate::tune_cmd::load_rows;

/// The form of an exported prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptFormat {
    Bundle,
    Peft,
    OpenPrompt,
}

#[derive(Args, Debug)]
pub struct ExportPromptArgs {
    /// The run folder `cloze tune` wrote (finished).
    run: PathBuf,
    /// bundle (everything, for `cloze classify --prompt`), peft (a prompt-tuning adapter that
    /// PeftModel.from_pretrained loads) or openprompt (template.txt and label_words.json).
    #[arg(long, value_enum, default_value_t = choices::PromptFormat::Bundle)]
    format: choices::PromptFormat,
    /// The folder to write (a bundle named *.zip is written as one archive).
    #[arg(long, short = 'o', value_name = "DIR")]
    output: PathBuf,
    /// Replace the folder if it exists.
    #[arg(long)]
    force: bool,
    /// Where to load the model to check a PEFT export: cpu, cuda[:N] or metal.
    #[arg(long, default_value = "cpu", value_parser = engine::<DeviceChoice>)]
    device: DeviceChoice,
}

pub fn export_prompt(args: ExportPromptArgs) -> Result<()> {
    let replace = args.force.into();
    match args.format.into() {
        PromptFormat::Bundle => {
            let out = bundle::export_bundle(&args.run, &args.output, replace)?;
            errln!(
                "wrote the prompt bundle {} ({} files; model {}, {}); classify with `cloze classify --prompt {} \
                 --input FILE`",
                out.path.display(),
                out.manifest.files.len() + 1,
                out.manifest.model.family,
                out.manifest.model.describe(),
                out.path.display()
            );
        }
        PromptFormat::Peft => {
            let out = peft::export_peft(&args.run, &args.output, replace, &args.device.open()?)?;
            errln!(
                "wrote the PEFT prompt-tuning adapter {} ({} virtual tokens × {}, task {}); load it with \
                 PeftModel.from_pretrained(model, \"{}\")",
                args.output.display(),
                out.virtual_tokens,
                out.token_dim,
                out.config["task_type"].as_str().unwrap_or_default(),
                args.output.display()
            );
        }
        PromptFormat::OpenPrompt => {
            openprompt::export_openprompt(&args.run, &args.output, replace)?;
            errln!(
                "wrote {0}/{1} and {0}/{2}; in OpenPrompt: ManualTemplate(tokenizer=…).from_file(\"{0}/{1}\"), \
                 ManualVerbalizer(tokenizer=…, classes=[…]).from_file(\"{0}/{2}\")",
                args.output.display(),
                openprompt::TEMPLATE_FILE,
                openprompt::LABEL_WORDS_FILE
            );
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct ImportPromptArgs {
    /// A PEFT prompt-tuning adapter folder (adapter_config.json, adapter_model.safetensors), or a
    /// folder with OpenPrompt's template.txt and label_words.json.
    dir: PathBuf,
    /// PEFT: the run folder to create, for `cloze classify --prompt RUN`.
    #[arg(long, short = 'o', value_name = "RUN_DIR")]
    out: Option<PathBuf>,
    /// PEFT: the model (default: the adapter's base_model_name_or_path, a folder or a cached
    /// repository at its revision).
    #[arg(long, short = 'm', value_name = "DIR|REPO")]
    model: Option<String>,
    /// PEFT: the template around the input, with {mask}; the adapter's vectors go before it.
    #[arg(long, short = 't')]
    template: Option<String>,
    /// PEFT: label words per class (JSON file or inline JSON).
    #[arg(long, short = 'v', value_name = "FILE|JSON")]
    verbalizer: Option<String>,
    /// OpenPrompt: save the template and verbalizer into this project, under --name.
    #[arg(long, value_name = "FILE")]
    project: Option<PathBuf>,
    /// OpenPrompt: the name to save them under (default: the folder's name).
    #[arg(long)]
    name: Option<String>,
    /// Replace the run folder if it exists.
    #[arg(long)]
    force: bool,
    /// cpu, cuda[:N] or metal.
    #[arg(long, default_value = "cpu", value_parser = engine::<DeviceChoice>)]
    device: DeviceChoice,
}

pub fn import_prompt(args: ImportPromptArgs) -> Result<()> {
    if args.dir.join(peft::ADAPTER_CONFIG).is_file() {
        let missing = |what: &str, example: &str| {
            cloze::Error::invalid(format!(
                "importing a PEFT adapter needs {what}, e.g. {example}; the adapter holds only the soft vectors"
            ))
        };
        let out = args.out.as_ref().ok_or_else(|| missing("--out RUN_DIR", "--out runs/imported"))?;
        let template = args
            .template
            .clone()
            .ok_or_else(|| missing("--template", "--template '{text_a} It was {mask}.'"))?;
        let verbalizer = args
            .verbalizer
            .as_deref()
            .ok_or_else(|| missing("--verbalizer", "--verbalizer samples/sentiment.verbalizer.json"))?;
        let import = peft::PeftImport {
            model: args.model.as_deref().map(cloze::hub::resolve_model).transpose()?,
            template,
            verbalizer: Verbalizer::from_file_or_json(verbalizer)?,
        };
        let config = peft::import_peft(&args.dir, &import, out, args.force.into(), &args.device.open()?)?;
        errln!(
            "imported the adapter as {} (model {}, template {:?}); classify with `cloze classify --prompt {} --input \
             FILE`",
            out.display(),
            config.model.display(),
            config.template.as_deref().unwrap_or_default(),
            out.display()
        );
        return Ok(());
    }
    if openprompt::is_openprompt(&args.dir) {
        let (template, verbalizer) = openprompt::read_openprompt(&args.dir)?;
        match &args.project {
            Some(project) => {
                let store = cloze::store::Store::open(project)?;
                let name = args.name.clone().unwrap_or_else(|| {
                    args.dir
                        .canonicalize()
                        .ok()
                        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                        .unwrap_or_else(|| "openprompt".into())
                });
                store.save_template(&name, &template)?;
                store.save_verbalizer(&name, &verbalizer)?;
                errln!("saved the template and verbalizer {name:?} in {}", project.display());
            }
            None => {
                outln!("{}", template.source())?;
                outln!("{}", openprompt::label_words_json(&verbalizer).trim_end())?;
            }
        }
        return Ok(());
    }
    Err(cloze::Error::missing(
        &args.dir,
        "neither a PEFT adapter (adapter_config.json) nor OpenPrompt files (template.txt and label_words.json)",
    ))
}

#[derive(Args, Debug)]
pub struct ExportModelArgs {
    /// The run folder of a finished finetune or pretrain run.
    run: PathBuf,
    /// The model folder to write.
    #[arg(long, short = 'o', value_name = "DIR")]
    output: PathBuf,
    /// Replace the folder if it exists.
    #[arg(long)]
    force: bool,
}

pub fn export_model(args: ExportModelArgs) -> Result<()> {
    let out = model::export_model(&args.run, &args.output, args.force.into())?;
    errln!(
        "wrote the {} model folder {} ({}); load it with {}.from_pretrained(\"{}\")",
        out.family,
        out.path.display(),
        out.files.join(", "),
        out.auto_class,
        out.path.display()
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct ExportReportArgs {
    /// One run folder, or several to compare.
    #[arg(required = true, num_args = 1..)]
    runs: Vec<PathBuf>,
    /// The HTML file to write.
    #[arg(long, short = 'o', value_name = "FILE.html")]
    output: PathBuf,
    /// Replace the file if it exists.
    #[arg(long)]
    force: bool,
}

pub fn export_report(args: ExportReportArgs) -> Result<()> {
    let out = report::export_report(&args.runs, &args.output, args.force.into())?;
    errln!("wrote the report {}; open it in a browser", out.display());
    Ok(())
}

#[derive(Args, Debug)]
pub struct ExportJobArgs {
    /// The run folder (soft-prompt with --soft-placement before-input, or finetune; a masked LM).
    run: PathBuf,
    /// The job folder to write.
    #[arg(long, short = 'o', value_name = "DIR")]
    output: PathBuf,
    /// The training rows (default: the file the run was trained on).
    #[arg(long, value_name = "FILE")]
    train: Option<PathBuf>,
    /// The dev rows (default: the run's dev file, if any).
    #[arg(long, value_name = "FILE")]
    dev: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    /// Replace the folder if it exists.
    #[arg(long)]
    force: bool,
    /// cpu, cuda[:N] or metal.
    #[arg(long, default_value = "cpu", value_parser = engine::<DeviceChoice>)]
    device: DeviceChoice,
}

pub fn export_job(args: ExportJobArgs) -> Result<()> {
    let config = cloze::tune::RunDir::new(&args.run).read_config()?;
    let (train_file, dev_file) = match &config.data {
        DataSource::Files { train, dev, .. } => {
            (args.train.clone().unwrap_or_else(|| train.clone()), args.dev.clone().or_else(|| dev.clone()))
        }
        _ => match &args.train {
            Some(t) => (t.clone(), args.dev.clone()),
            None => {
                return Err(cloze::Error::invalid(format!(
                    "the run {} was not trained from files; give the rows with --train FILE [--dev FILE]",
                    args.run.display()
                )));
            }
        },
    };
    let template = config.template.as_deref();
    let train = load_rows(&train_file, &args.data, template, "training")?;
    let dev = match &dev_file {
        Some(p) => load_rows(p, &args.data, template, "dev")?,
        None => Vec::new(),
    };
    let out = job::export_job(&args.run, train, dev, &args.output, args.force.into(), &args.device.open()?)?;
    errln!(
        "wrote the job {} ({} training, {} dev rows, starting from {}/); run it with `cd {} && accelerate launch \
         train.py`",
        out.path.display(),
        out.train_rows,
        out.dev_rows,
        out.start,
        out.path.display()
    );
    Ok(())
}
