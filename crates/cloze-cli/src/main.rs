//! `cloze`: Cloze Studio's engine from a terminal. Its commands are thin adapters over the
//! engine: `classify` (label a data file with a prompt, or with a tuned run), `inspect` (a model
//! folder's family, sizes and special tokens), `project` (create a project, import data, see where
//! it stands), `label` (label rows in the terminal), `hub` (search, download, list and remove
//! Hugging Face models; log in), `export` (a project's labelled data), `search-words` (find label
//! words), `tune` (train a prompt into a run folder), `ensemble` (fuse several prompts into one
//! classifier), `multilabel` (several labels per row) and `bench` (inference, import and queue
//! benchmarks).
//!
//! It behaves like a Unix tool: results go to standard output, progress and messages to standard
//! error; a reader that closes the pipe early (`cloze hub list | head -1`) ends the command quietly
//! with status 0, and the exit status says how a run ended (see [`EXIT_CODES`]).

/// Writes a line to standard output like `println!`, but returns the error instead of panicking,
/// so that a closed pipe ends the command quietly (see [`exit_code`]). Use as `outln!(...)?`.
macro_rules! outln {
    () => {
        $crate::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes to standard error like `eprint!`, but ignores a failed write: a closed or full stderr
/// (`cloze … 2>&1 | head -1`) must not end the command with a panic. Messages only; results go to
/// standard output through [`outln!`].
macro_rules! errprint {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = std::io::stderr().lock().write_fmt(format_args!($($arg)*));
    }};
}

/// Writes a line to standard error like `eprintln!`, ignoring a failed write (see [`errprint!`]).
macro_rules! errln {
    () => {
        errprint!("\n")
    };
    ($($arg:tt)*) => {
        errprint!("{}\n", format_args!($($arg)*))
    };
}

mod bench;
mod bench_fewshot;
mod bench_generate;
mod bench_live;
mod bench_render;
mod bench_store;
mod bench_tune;
mod choices;
mod ensemble_cmd;
mod export_cmd;
mod label;
mod multilabel_cmd;
mod project;
mod tune_cmd;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use choices::engine;
use clap::{Args, Parser, Subcommand};
use cloze::autotemplate::t5gen::Placement;
use cloze::classify::{ClassifyOptions, Prediction, evaluate};
use cloze::data::{ColumnRef, Format, ImportOptions};
use cloze::metrics::Metrics;
use cloze::plm::{DeviceChoice, Plm, Precision};
use cloze::template::Template;
use cloze::verbalizer::Verbalizer;
use cloze::{Error, Result};

/// What the exit status means, as `cloze --help` lists it.
const EXIT_CODES: &str = "\
Exit status:
  0    done (also when the reader of the output closed the pipe early, as `| head` does)
  1    the work failed: a missing file, bad data, a model that does not load, ... (the message says
       what went wrong and how to fix it)
  2    usage error: an unknown option, a missing or invalid argument
  130  cancelled (Esc at a prompt, or an interrupted job)";

/// The status for a command that failed (see [`EXIT_CODES`]).
const EXIT_FAILED: u8 = 1;
/// The status for a cancelled command, as shells report a Ctrl-C (128 + SIGINT).
const EXIT_CANCELLED: u8 = 130;

/// The name errors give standard output.
pub(crate) const STDOUT: &str = "<stdout>";

const AFTER_HELP: &str = "\
Examples:
  cloze classify --model ./bert-base-uncased --input reviews.csv \\
      --template '{text_a} It was {mask}.' \\
      --verbalizer '{\"negative\": [\"terrible\"], \"positive\": [\"great\"]}' --output preds.jsonl
  cloze classify --model ./roberta-base --input stsa.binary.test --calibrate \\
      --template '{text_a} All in all, it was {mask}.' --verbalizer '{\"0\": \"terrible\", \"1\": \"great\"}'
  cloze tune --strategy soft-prompt --model ./roberta-base --train train.csv --dev dev.csv \
      --template '{soft:20} {text_a} It was {mask}.' \
      --verbalizer '{\"negative\": [\"terrible\"], \"positive\": [\"great\"]}' --out runs/soft
  cloze classify --prompt runs/soft --input test.csv
  cloze inspect --model ./bert-base-uncased
  cloze project new reviews.cloze && cloze project import reviews.cloze train.csv
  cloze label reviews.cloze
  cloze export labels reviews.cloze --output labels.jsonl
  cloze hub search roberta | head -5
  cloze search-words --model ./roberta-base --input train.csv --template '{text_a} It was {mask}.'
  cloze bench infer --model /tmp/bench/models/bert-base --head mask";

#[derive(Parser, Debug)]
#[command(name = "cloze", version, about = "Prompt learning from a terminal: classify a data file with a template \
and a verbalizer on a Hugging Face masked-LM checkpoint, label it in a project, find label words, tune a prompt, \
manage models from the Hub and export the labels.", after_help = format!("{AFTER_HELP}\n\n{EXIT_CODES}"))]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Label every row of a data file with a prompt: per-class probabilities as JSONL, and, when the
    /// file has labels, accuracy, macro-F1 and the confusion matrix on stderr.
    Classify(Box<ClassifyArgs>),
    /// Print a model folder's family, sizes and special tokens.
    Inspect(InspectArgs),
    /// The devices this build and machine offer (CPU, CUDA, Metal): each one's name, or why it is
    /// unavailable and what to do about it.
    Devices(DevicesArgs),
    /// Continue a prompt with a decoder (GPT-2, Llama, SmolLM2, Qwen2, a GGUF file): greedy, or
    /// sampled with --temperature / --top-p / --seed; the text streams to standard output.
    Generate(GenerateArgs),
    /// Projects: create one, import data into it, see where it stands.
    #[command(subcommand)]
    Project(project::ProjectCommand),
    /// Label rows in the terminal: 1-9 pick a class, Enter accepts the suggestion, u undoes, s skips.
    Label(Box<label::LabelArgs>),
    /// Hugging Face: search models, download them into the cache shared with the Python tools, list
    /// and remove cached models. Honours HF_ENDPOINT, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE, HF_TOKEN.
    #[command(subcommand)]
    Hub(HubCommand),
    /// Write out a project's labelled data.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Bring a prompt in from another tool (PEFT, OpenPrompt).
    #[command(subcommand)]
    Import(ImportCommand),
    /// Find label words automatically: the vocabulary words whose probability at the mask best
    /// separates each class's labelled rows from the others' (LM-BFF / PETAL). Prints a verbalizer.
    SearchWords(Box<SearchWordsArgs>),
    /// Find a better template automatically: a beam search over edits of a template's fixed words
    /// (delete a word, swap one for a near synonym, an opener before the mask), every candidate
    /// scored on labelled rows and listed with its accuracy. Works for any model family.
    SearchTemplate(Box<SearchTemplateArgs>),
    /// Generate templates with a T5 model (LM-BFF): T5 fills the words around each labelled row's
    /// text and label word in one decoding shared by every row; each candidate is scored on the
    /// labelled rows with --model (any family) and listed with its accuracy.
    GenerateTemplates(Box<GenerateTemplatesArgs>),
    /// Train a prompt: soft-prompt tuning (model frozen), prompt-based fine-tuning, prompted
    /// continued pretraining (the model family's own objective) or a probe on frozen embeddings.
    /// Writes a run folder.
    Tune(Box<tune_cmd::TuneArgs>),
    /// Template ensembles: several prompts fused into one classifier (uniform, by each prompt's
    /// accuracy, or a weighting learned on labelled rows); `classify --ensemble` uses one.
    #[command(subcommand)]
    Ensemble(ensemble_cmd::EnsembleCommand),
    /// Several labels per row: one yes/no question per label, thresholds calibrated per label on
    /// labelled rows (--fit), micro/macro-F1, subset accuracy; JSONL or a `datasets` folder.
    Multilabel(Box<multilabel_cmd::MultiLabelArgs>),
    /// Benchmarks: zero-shot inference (against ../shared/bench/bench.py), project import, queue.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[derive(Subcommand, Debug)]
enum HubCommand {
    /// Search the Hub's models; each result says whether Cloze Studio can run it.
    Search {
        /// Words to search for.
        text: String,
        /// The pipeline tag to filter on (fill-mask, text-generation, text2text-generation).
        #[arg(long, default_value = "fill-mask")]
        task: String,
        /// The order of the results.
        #[arg(long, value_enum, default_value_t = choices::HubSort::Downloads)]
        sort: choices::HubSort,
        /// Results per page.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Pages to fetch.
        #[arg(long, default_value_t = 1)]
        pages: usize,
        /// Only models of this model_type (llama, qwen2, gpt2, t5, bert...: the Hub's tag for it).
        #[arg(long, value_name = "MODEL_TYPE")]
        family: Option<String>,
        /// Only repositories with GGUF files.
        #[arg(long)]
        gguf: bool,
    },
    /// Show a model's files, what a download would fetch, its architecture and model card summary.
    Show {
        /// org/name[@revision]
        repo: String,
    },
    /// Download what a model needs (config, tokenizer, weights; safetensors preferred) into the
    /// cache: org/name or org/name@revision. Interrupted downloads resume; files are checked
    /// against the Hub's SHA-256.
    Download {
        /// org/name[@revision]
        repo: String,
        /// Download only this GGUF file of the repository: its name, or a quantisation one of its
        /// files has (Q4_K_M, Q8_0...; `cloze hub show` lists them). It loads as org/name/FILE.gguf.
        #[arg(long, value_name = "FILE|QUANT")]
        gguf: Option<String>,
    },
    /// Save a Hugging Face access token (for gated or private models) in the system's credential
    /// store; it is read from standard input, without echo on a terminal.
    Login,
    /// Forget the saved access token.
    Logout,
    /// List the models in the cache ($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub) with
    /// their revisions and disk use.
    List,
    /// Delete a model from the cache.
    Rm {
        /// The repository id, org/name.
        repo: String,
    },
}

fn hub(command: HubCommand) -> Result<()> {
    let client = cloze::hub::HubClient::from_env();
    let cache = client.cache().clone();
    match command {
        HubCommand::Search { text, task, sort, limit, pages, family, gguf } => {
            let mut tags = Vec::new();
            if let Some(mt) = family {
                if !cloze::plm::family::FAMILIES.iter().any(|f| f.model_types.contains(&mt.as_str())) {
                    return Err(Error::invalid(format!(
                        "--family {mt:?} is not a model type Cloze Studio runs; use one of {}",
                        cloze::plm::family::supported_model_types()
                    )));
                }
                tags.push(mt);
            }
            if gguf {
                tags.push("gguf".to_string());
            }
            // A GGUF repository is tagged text-generation, not fill-mask: --gguf alone searches every task.
            let task = (!(gguf && task == "fill-mask")).then_some(task);
            let query = cloze::hub::SearchQuery { text, task, sort: Some(sort.into()), limit, tags };
            let mut next: Option<String> = None;
            for page in 0..pages.max(1) {
                if page > 0 && next.is_none() {
                    break;
                }
                let result = client.search(&query, next.as_deref())?;
                for m in &result.models {
                    let support = match &m.supported {
                        Ok(()) => "supported".to_string(),
                        Err(why) => format!("not supported: {why}"),
                    };
                    let size = m
                        .weight_bytes
                        .map(|b| format!("{:.0} MB", b as f64 / 1e6))
                        .unwrap_or_else(|| "?".into());
                    let gguf = match (m.gguf, &m.gguf_architecture) {
                        (true, Some(a)) => format!("GGUF {a}"),
                        (true, None) => "GGUF".to_string(),
                        (false, _) => "-".to_string(),
                    };
                    outln!(
                        "{:<45} {:>10} downloads {:>6} likes {:>8}  {:<12} {:<10} {}",
                        m.repo_id,
                        m.downloads,
                        m.likes,
                        size,
                        m.license.as_deref().unwrap_or("-"),
                        gguf,
                        support
                    )?;
                }
                next = result.next;
            }
            Ok(())
        }
        HubCommand::Login => {
            let token = read_secret("Hugging Face access token (hf_…): ")?;
            if token.is_empty() {
                return Err(Error::invalid(
                    "no token given; create one at the Hub under Settings → Access Tokens",
                ));
            }
            cloze::hub::TokenStore::system()?.save(&cloze::hub::Token::new(token))?;
            errln!(
                "the token is saved in the system's credential store (HF_TOKEN, when set, takes precedence)"
            );
            Ok(())
        }
        HubCommand::Logout => {
            if cloze::hub::TokenStore::system()?.delete()? {
                errln!("the saved token is removed");
            } else {
                errln!("no token was saved");
            }
            Ok(())
        }
        HubCommand::Show { repo } => {
            let (id, revision) = repo.split_once('@').unwrap_or((&repo, "main"));
            let d = client.details(id, revision)?;
            outln!("{} @ {}", d.repo_id, d.commit)?;
            if let Some(s) = &d.summary {
                outln!("{s}")?;
            }
            outln!("architecture: {}", d.model_type.as_deref().unwrap_or("unknown"))?;
            match &d.supported {
                Ok(()) => outln!("supported by Cloze Studio")?,
                Err(why) => outln!("not supported: {why}")?,
            }
            if !d.selected.is_empty() {
                outln!("download: {} ({:.1} MB)", d.selected.join(", "), d.download_size as f64 / 1e6)?;
            }
            if !d.gguf.is_empty() {
                outln!("GGUF files (cloze hub download {} --gguf FILE|QUANT):", d.repo_id)?;
                for g in &d.gguf {
                    let quant = g.quantisation.as_deref().unwrap_or("?");
                    outln!("  {:<8} {:<50} {:>10.1} MB", quant, g.name, g.size as f64 / 1e6)?;
                }
            }
            for (name, size) in &d.files {
                outln!("  {name:<50} {:>12} bytes", size)?;
            }
            Ok(())
        }
        HubCommand::Download { repo, gguf } => {
            let (id, revision) = repo.split_once('@').unwrap_or((&repo, "main"));
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}, eta {eta}",
                )
                .expect("valid progress template")
                .progress_chars("=> "),
            );
            let mut report = |p: &cloze::hub::DownloadProgress| {
                bar.set_length(p.total);
                bar.set_position(p.done);
                bar.set_message(p.file.clone());
                true
            };
            match gguf {
                None => {
                    let dir = client.download(id, revision, &mut report)?;
                    bar.finish_and_clear();
                    errln!("{repo} is in {}", dir.display());
                }
                Some(choice) => {
                    // A file name is used as it is (offline too); a quantisation is looked up.
                    let file = if choice.to_ascii_lowercase().ends_with(".gguf") {
                        choice
                    } else {
                        client.details(id, revision)?.pick_gguf(&choice)?.name.clone()
                    };
                    let path = client.download_gguf(id, revision, &file, &mut report)?;
                    bar.finish_and_clear();
                    let at = if revision == "main" { String::new() } else { format!("@{revision}") };
                    errln!("{id}/{file}{at} is in {}", path.display());
                }
            }
            Ok(())
        }
        HubCommand::List => {
            let models = cache.list()?;
            if models.is_empty() {
                errln!("no models in {}", cache.root().display());
            }
            for m in models {
                let snapshots: Vec<String> = m
                    .snapshots
                    .iter()
                    .map(|(c, refs)| {
                        if refs.is_empty() {
                            c[..7.min(c.len())].to_string()
                        } else {
                            format!("{} ({})", &c[..7.min(c.len())], refs.join(", "))
                        }
                    })
                    .collect();
                outln!("{:<40} {:>10.1} MB  {}", m.repo_id, m.size as f64 / 1e6, snapshots.join(", "))?;
            }
            Ok(())
        }
        HubCommand::Rm { repo } => {
            let freed = cache.remove(&repo)?;
            errln!("removed {repo} from {} ({:.1} MB freed)", cache.root().display(), freed as f64 / 1e6);
            Ok(())
        }
    }
}

/// Reads a secret: without echo from a terminal, else one line of standard input.
fn read_secret(prompt: &str) -> Result<String> {
    use std::io::{BufRead, IsTerminal};
    if !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| Error::io("<stdin>", e))?;
        return Ok(line.trim().to_string());
    }
    use crossterm::event::{Event, KeyCode, KeyEventKind, read};
    errprint!("{prompt}");
    crossterm::terminal::enable_raw_mode().map_err(|e| Error::io("<terminal>", e))?;
    let mut secret = String::new();
    let result = loop {
        match read() {
            Ok(Event::Key(k)) if k.kind == KeyEventKind::Press => match k.code {
                KeyCode::Enter => break Ok(()),
                KeyCode::Esc => break Err(Error::Cancelled),
                KeyCode::Backspace => {
                    secret.pop();
                }
                KeyCode::Char(c) => secret.push(c),
                _ => {}
            },
            Ok(_) => {}
            Err(e) => break Err(Error::io("<terminal>", e)),
        }
    };
    let _ = crossterm::terminal::disable_raw_mode();
    errln!();
    result.map(|()| secret.trim().to_string())
}

#[derive(Subcommand, Debug)]
enum ExportCommand {
    /// Labelled rows with their provenance (source, annotator, confidence, run, time) as CSV, JSONL,
    /// or Hugging Face datasets JSONL.
    Labels(project::ExportLabelsArgs),
    /// A tuned run's prompt for other tools: a prompt bundle (--format bundle), a PEFT
    /// prompt-tuning adapter (--format peft) or OpenPrompt's template and label words (--format
    /// openprompt).
    Prompt(export_cmd::ExportPromptArgs),
    /// A fine-tuned (finetune or pretrain) run's model as a Hugging Face model folder with a
    /// README.md model card (template, verbalizer, metrics).
    Model(export_cmd::ExportModelArgs),
    /// One self-contained HTML report of a run, or of several runs compared.
    Report(export_cmd::ExportReportArgs),
    /// A run as a transformers + peft + accelerate job (data, config, train.py) for a cluster.
    Job(export_cmd::ExportJobArgs),
    /// A template ensemble saved in a project, as the file `cloze classify --ensemble` and
    /// `cloze label --ensemble` read.
    Ensemble(ensemble_cmd::ExportEnsembleArgs),
}

#[derive(Subcommand, Debug)]
enum ImportCommand {
    /// A prompt from another tool: a PEFT prompt-tuning adapter becomes a run folder that
    /// `cloze classify --prompt` uses; OpenPrompt's template.txt and label_words.json are printed,
    /// or saved into a project with --project.
    Prompt(export_cmd::ImportPromptArgs),
}

#[derive(Args, Debug)]
struct ModelArgs {
    /// A model folder (config.json, tokenizer.json or vocab files, model.safetensors or
    /// pytorch_model.bin), a llama.cpp .gguf file, or a Hugging Face repository id already in the
    /// cache: org/name[@revision].
    /// (Not needed with `classify --prompt RUN_DIR`.)
    #[arg(long, short = 'm', value_name = "DIR|REPO", default_value = "")]
    model: String,
    /// Where to run: cpu, cuda[:N] (build with --features cuda) or metal (--features metal).
    #[arg(long, default_value = "cpu", value_parser = engine::<DeviceChoice>)]
    device: DeviceChoice,
    /// The linear layers' precision for scoring: f32 (the default, equal to PyTorch) or bf16
    /// (bf16 factors, f32 sums: faster on CPUs with AVX512_BF16, emulated and slower elsewhere;
    /// CPU only). Generation stays f32. With --prompt, the run's own precision unless given.
    #[arg(long, value_parser = engine::<Precision>)]
    precision: Option<Precision>,
}

#[derive(Args, Debug)]
struct ClassifyArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Classify with a tuned run instead (a folder `cloze tune` wrote, or a prompt bundle folder or
    /// .zip from `cloze export prompt`): its model, template, verbalizer and trained prompt;
    /// --template and --verbalizer are not needed, and --model only for a bundle whose model is
    /// not where the manifest says.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["template", "verbalizer", "calibrate", "top_k"])]
    prompt: Option<PathBuf>,
    /// Classify with a template ensemble (`cloze ensemble fit --output`): every member prompt, then
    /// their weighted combination; each row's JSON names every member's prediction.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["prompt", "template", "verbalizer", "calibrate", "top_k", "demos", "chat"]
    )]
    ensemble: Option<PathBuf>,
    /// The prompt template: fields in braces ({text_a}, {text_b} or any column name), one {mask}.
    /// OpenPrompt's syntax ({"placeholder":"text_a"} It was {"mask"}.) is accepted too.
    #[arg(long, short = 't', required_unless_present_any = ["prompt", "ensemble"], default_value = "")]
    template: String,
    /// Label words per class, as a JSON file or inline JSON: {"negative": ["terrible"], "positive":
    /// ["great", "good"]}, or a list ["terrible", "great"] for classes "0", "1", ... Class names must
    /// equal the label values in the data for accuracy to be computed.
    #[arg(
        long,
        short = 'v',
        value_name = "FILE|JSON",
        required_unless_present_any = ["prompt", "ensemble"],
        default_value = ""
    )]
    verbalizer: String,
    /// The data: CSV, TSV, JSONL, or `label sentence` lines; the format is detected.
    #[arg(long, short = 'i', value_name = "FILE")]
    input: PathBuf,
    /// Write predictions here as JSONL (default: standard output). Never one of the inputs; an
    /// existing file only with --force. Written to a temporary file beside it and renamed into place.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Replace the --output file if it exists.
    #[arg(long, requires = "output")]
    force: bool,
    #[command(flatten)]
    data: DataArgs,
    /// Contextual calibration: divide by the label-word probabilities of content-free inputs
    /// ("N/A" and empty), which removes the prompt's bias toward some words.
    #[arg(long)]
    calibrate: bool,
    /// Score a label word made of several tokens: auto (a masked LM's first token at the mask; a
    /// decoder's exact log-probability of the word and the text after {mask}), first, mean, max or
    /// sum of its tokens' scores.
    #[arg(long, value_enum, default_value_t = choices::MultiToken::Auto)]
    multi_token: choices::MultiToken,
    /// Class score from its words: mean-prob (log of the mean probability), mean-log-prob
    /// (OpenPrompt's), or max.
    #[arg(long, value_enum, default_value_t = choices::Aggregate::MeanProb)]
    aggregate: choices::Aggregate,
    /// Rows per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Also output the K most likely vocabulary tokens at the mask (helps choose label words).
    #[arg(long, default_value_t = 0, value_name = "K")]
    top_k: usize,
    /// Labelled rows to draw in-context demonstrations from, for a template with {demo}
    /// (read with the same column options as --input).
    #[arg(long, value_name = "FILE")]
    demos: Option<PathBuf>,
    /// Demonstrations per class.
    #[arg(long, default_value_t = 1)]
    demos_per_class: u32,
    /// random, or similar (the closest rows by sentence embedding).
    #[arg(long, value_enum, default_value_t = choices::DemoSelect::Random)]
    demos_select: choices::DemoSelect,
    /// Seed for random demonstrations (the app uses the same default).
    #[arg(long, default_value_t = cloze::demo::DEFAULT_SEED)]
    seed: u64,
    #[command(flatten)]
    chat: ChatArgs,
}

/// The model's chat template around the prompt (instruct models): `--chat`, `--system`.
#[derive(Args, Debug, Clone)]
pub struct ChatArgs {
    /// Wrap the prompt in the model's chat template (tokenizer_config.json's `chat_template`, or a
    /// GGUF file's `tokenizer.chat_template`): the text before {mask} is the user's turn and the
    /// label word is read as the start of the assistant's answer.
    #[arg(long)]
    pub chat: bool,
    /// With --chat: a system message before the user's turn.
    #[arg(long, requires = "chat", value_name = "TEXT")]
    pub system: Option<String>,
}

impl ChatArgs {
    pub fn chat(&self) -> cloze::template::chat::Chat {
        if self.chat {
            cloze::template::chat::Chat::model_template(self.system.clone())
        } else {
            cloze::template::chat::Chat::default()
        }
    }
}

/// How to read a data file: the options shared by `classify` and `project import`.
#[derive(Args, Debug)]
pub struct DataArgs {
    /// The text column (a name, or a 1-based number); detected from the header when omitted.
    #[arg(long, value_name = "COLUMN")]
    pub text_column: Option<String>,
    /// The column for {text_b} (a name or 1-based number).
    #[arg(long, value_name = "COLUMN")]
    text_b_column: Option<String>,
    /// The label column (a name or 1-based number).
    #[arg(long, value_name = "COLUMN")]
    label_column: Option<String>,
    /// The id column (a name or 1-based number); rows are numbered from 1 without it.
    #[arg(long, value_name = "COLUMN")]
    id_column: Option<String>,
    /// Force the file format: csv, tsv, jsonl, label-sentence or delimited:<character>.
    #[arg(long, value_parser = engine::<Format>)]
    format: Option<Format>,
    /// The first row is a header (default: detected).
    #[arg(long, conflicts_with = "no_header")]
    header: bool,
    /// The first row is data, not a header.
    #[arg(long)]
    no_header: bool,
    /// Force the text encoding (default: UTF-8, falling back to Latin-1; a UTF-16 or UTF-32 file is
    /// recognised by its byte order mark).
    #[arg(long, value_enum)]
    encoding: Option<choices::Encoding>,
    /// CSV-style quoting in CSV/TSV files (default: on for CSV; for TSV, on only when every quoted
    /// field in the file is well-formed).
    #[arg(long, value_enum)]
    quoting: Option<choices::Quoting>,
    /// Skip malformed rows (they are counted and listed on stderr) instead of stopping at the first.
    #[arg(long)]
    skip_bad_rows: bool,
    /// Read only the first N rows.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

impl DataArgs {
    pub fn import_options(&self) -> Result<ImportOptions> {
        Ok(ImportOptions {
            format: self.format,
            has_header: if self.header {
                Some(true)
            } else if self.no_header {
                Some(false)
            } else {
                None
            },
            text_column: column(&self.text_column)?,
            text_b_column: column(&self.text_b_column)?,
            label_column: column(&self.label_column)?,
            id_column: column(&self.id_column)?,
            skip_bad_rows: self.skip_bad_rows,
            // The CLI guesses the roles it is not given, and says what it chose.
            explicit_columns: false,
            limit: self.limit,
            encoding: self.encoding.map(Into::into),
            quoting: self.quoting.map(Into::into),
            template_fields: Vec::new(),
        })
    }
}

/// Prints an import report's notes and skipped rows on stderr.
pub fn report_import(path: &std::path::Path, notes: &[String], skipped: &[cloze::data::SkippedRow]) {
    for note in notes {
        errln!("note: {}: {note}", path.display());
    }
    if !skipped.is_empty() {
        errln!("warning: skipped {} malformed row(s):", skipped.len());
        for s in skipped.iter().take(20) {
            errln!("  {}, line {}: {}", path.display(), s.line, s.message);
        }
        if skipped.len() > 20 {
            errln!("  … and {} more", skipped.len() - 20);
        }
    }
}

#[derive(Args, Debug)]
struct SearchWordsArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The template with one {mask}.
    #[arg(long, short = 't')]
    template: String,
    /// Labelled rows.
    #[arg(long, short = 'i', value_name = "FILE")]
    input: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Words to list per class.
    #[arg(long, default_value_t = 5)]
    per_class: usize,
}

fn search_words(args: SearchWordsArgs) -> Result<()> {
    let template = Template::parse(&args.template)?;
    let options = args.data.import_options()?.for_fields(template.fields().map(|f| f.name.clone()));
    let (rows, report) = cloze::data::load(&args.input, &options)?;
    report_import(&args.input, &report.notes, &report.skipped);
    let classes: Vec<String> = cloze::data::label_counts(&rows).into_keys().collect();
    let plm = load_model(&args.model)?;
    let found = cloze::verbalizer::search::search(&plm, &template, &classes, &rows, args.per_class)?;
    let mut verbalizer = serde_json::Map::new();
    for (class, words) in &found {
        errln!(
            "{class}: {}",
            words.iter().map(|w| format!("{} ({:+.2})", w.word, w.score)).collect::<Vec<_>>().join(", ")
        );
        verbalizer.insert(
            class.clone(),
            words.iter().take(1).map(|w| serde_json::Value::from(w.word.clone())).collect(),
        );
    }
    outln!("{}", serde_json::Value::Object(verbalizer))?;
    Ok(())
}

#[derive(Args, Debug)]
struct SearchTemplateArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The template to start from, with one {mask}.
    #[arg(long, short = 't')]
    template: String,
    /// Label words per class (JSON or a JSON file); the classes must be the labels in the data.
    #[arg(long, short = 'v', value_name = "FILE|JSON")]
    verbalizer: String,
    /// Labelled rows to score the candidates on.
    #[arg(long, short = 'i', value_name = "FILE")]
    input: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Candidates kept after each round.
    #[arg(long, default_value_t = 2)]
    beam: usize,
    /// Rounds of edits.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Labelled rows scored per candidate (a seeded sample when the file has more).
    #[arg(long, default_value_t = 100)]
    max_rows: usize,
    /// Seed of the sample.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Candidates to print.
    #[arg(long, default_value_t = 15)]
    top: usize,
    /// Print every candidate as JSON instead.
    #[arg(long)]
    json: bool,
}

fn search_template(args: SearchTemplateArgs) -> Result<()> {
    let template = Template::parse(&args.template)?;
    template.check_classification()?;
    let verbalizer = Verbalizer::from_file_or_json(&args.verbalizer)?;
    let options = args.data.import_options()?.for_fields(template.fields().map(|f| f.name.clone()));
    let (rows, report) = cloze::data::load(&args.input, &options)?;
    report_import(&args.input, &report.notes, &report.skipped);
    check_labels_in(&args.input, &rows, &verbalizer.class_names())?;
    let plm = load_model(&args.model)?;
    let options = cloze::autotemplate::SearchOptions {
        beam: args.beam,
        rounds: args.rounds,
        max_rows: args.max_rows,
        seed: args.seed,
        ..Default::default()
    };
    let bar = indicatif::ProgressBar::new(0);
    let mut round = 0;
    let found =
        cloze::autotemplate::search(&plm, &template, &verbalizer, &rows, options, &mut |done, total| {
            if done == 0 {
                round += 1;
                bar.set_length(total as u64);
                bar.set_message(format!("round {round}"));
            }
            bar.set_position(done as u64);
            true
        })?;
    bar.finish_and_clear();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&found).map_err(|e| Error::internal(e.to_string()))?)?;
        return Ok(());
    }
    outln!("{:>4} {:>8} {:>9} {:>5}  {:<28} template", "rank", "accuracy", "log-prob", "round", "edit")?;
    for (k, c) in found.iter().take(args.top).enumerate() {
        outln!(
            "{:>4} {:>8.4} {:>9.4} {:>5}  {:<28} {:?}",
            k + 1,
            c.accuracy,
            c.mean_log_prob,
            c.round,
            c.edit,
            c.template
        )?;
    }
    errln!(
        "{} candidates scored; the starting template ranks {}",
        found.len(),
        found.iter().position(|c| c.round == 0).map_or(0, |p| p + 1)
    );
    Ok(())
}

#[derive(Args, Debug)]
struct GenerateTemplatesArgs {
    /// The model that scores the candidates (any family).
    #[command(flatten)]
    model: ModelArgs,
    /// The T5 model that writes them (a folder or a cached repository id; t5, Flan-T5, mT5).
    #[arg(long, short = 'g', value_name = "DIR|REPO")]
    generator: String,
    /// Label words per class (JSON or a JSON file); each class's first word goes into the
    /// generator's input. The classes must be the labels in the data.
    #[arg(long, short = 'v', value_name = "FILE|JSON")]
    verbalizer: String,
    /// Labelled rows: the generator reads them, the candidates are scored on them.
    #[arg(long, short = 'i', value_name = "FILE")]
    input: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Sequences kept at each step of the beam search (candidates per placement).
    #[arg(long, default_value_t = 20)]
    beam: usize,
    /// At most this many tokens in each span T5 fills.
    #[arg(long, default_value_t = 8)]
    max_span_tokens: usize,
    /// Where the text and the mask stand (repeat for several): text-first ({text_a} … {mask} …),
    /// mask-first (… {mask} … {text_a}), between ({text_a} … {mask} … {text_b}). Default: the
    /// first two, or between when the rows have a second text.
    #[arg(long = "placement", value_name = "PLACEMENT", value_parser = engine::<Placement>)]
    placements: Vec<Placement>,
    /// Labelled rows the generator reads (a seeded sample when the file has more).
    #[arg(long, default_value_t = 32)]
    max_examples: usize,
    /// Labelled rows each candidate is scored on (a seeded sample when the file has more).
    #[arg(long, default_value_t = 100)]
    max_rows: usize,
    /// Seed of the samples.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Candidates to print.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Print every candidate as JSON instead.
    #[arg(long)]
    json: bool,
}

fn generate_templates(args: GenerateTemplatesArgs) -> Result<()> {
    let verbalizer = Verbalizer::from_file_or_json(&args.verbalizer)?;
    let options = cloze::autotemplate::t5gen::GenerationOptions {
        beam: args.beam,
        max_span_tokens: args.max_span_tokens,
        placements: args.placements.clone(),
        max_examples: args.max_examples,
        max_rows: args.max_rows,
        seed: args.seed,
        ..Default::default()
    };
    options.check()?;
    let (rows, report) = cloze::data::load(&args.input, &args.data.import_options()?)?;
    report_import(&args.input, &report.notes, &report.skipped);
    check_labels_in(&args.input, &rows, &verbalizer.class_names())?;
    let generator =
        load_model(&ModelArgs { model: args.generator.clone(), device: args.model.device, precision: None })?;
    let plm = load_model(&args.model)?;
    let bar = indicatif::ProgressBar::new(0);
    let found = cloze::autotemplate::t5gen::generate_templates(
        &generator,
        &plm,
        &verbalizer,
        &rows,
        &options,
        &mut |stage, done, total| {
            bar.set_length(total as u64);
            bar.set_message(stage.to_string());
            bar.set_position(done as u64);
            true
        },
    )?;
    bar.finish_and_clear();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&found).map_err(|e| Error::internal(e.to_string()))?)?;
        return Ok(());
    }
    outln!(
        "{:>4} {:>8} {:>9} {:>10}  {:<10} template",
        "rank",
        "accuracy",
        "log-prob",
        "T5 log-p",
        "placement"
    )?;
    for (k, c) in found.iter().take(args.top).enumerate() {
        outln!(
            "{:>4} {:>8.4} {:>9.4} {:>10.2}  {:<10} {:?}",
            k + 1,
            c.accuracy,
            c.mean_log_prob,
            c.generation_log_prob,
            c.placement.name(),
            c.template
        )?;
    }
    errln!("{} templates generated and scored on the labelled rows of {}", found.len(), args.input.display());
    Ok(())
}

#[derive(Args, Debug)]
struct InspectArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct DevicesArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The text to continue.
    prompt: String,
    /// At most this many new tokens.
    #[arg(long, default_value_t = 64)]
    max_new_tokens: usize,
    /// Sample at this temperature instead of taking the most probable token.
    #[arg(long)]
    temperature: Option<f32>,
    /// With --temperature: keep the smallest set of tokens whose probability reaches this.
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// With --temperature: the sampler's seed (the same seed gives the same text).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Stop when the text ends with this (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Print the result as one JSON object (text, token ids, why it stopped) instead of streaming.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    chat: ChatArgs,
}

fn generate_cmd(args: GenerateArgs) -> Result<()> {
    let plm = load_model(&args.model)?;
    let decoding = match args.temperature {
        Some(temperature) => {
            cloze::generate::Decoding::Sample { temperature, top_p: args.top_p, seed: args.seed }
        }
        None => cloze::generate::Decoding::Greedy,
    };
    let options =
        cloze::generate::GenerateOptions { decoding, max_new_tokens: args.max_new_tokens, stop: args.stop };
    let json = args.json;
    let mut failed = None;
    let prompt = args.chat.chat().conversation(&plm, &args.prompt)?;
    let out = cloze::generate::generate(&plm, &prompt, &options, &mut |piece| {
        if json {
            return true;
        }
        let r = write_out(format_args!("{piece}"))
            .and_then(|_| std::io::stdout().lock().flush().map_err(|e| Error::io(STDOUT, e)));
        if let Err(e) = r {
            failed = Some(e);
            return false;
        }
        true
    });
    if let Some(e) = failed {
        return Err(e);
    }
    let out = out?;
    if json {
        outln!("{}", serde_json::to_string(&out).expect("a generation serialises"))?;
    } else {
        outln!()?;
        errln!("[{} new tokens, stopped: {:?}]", out.ids.len(), out.stop);
    }
    Ok(())
}

/// Writes to standard output; a failed write (a closed pipe) is an error naming [`STDOUT`].
pub(crate) fn write_out(args: std::fmt::Arguments) -> Result<()> {
    std::io::stdout().lock().write_fmt(args).map_err(|e| Error::io(STDOUT, e))
}

/// The exit status of a finished command (see [`EXIT_CODES`]); prints the error, if any, on
/// standard error — except for a closed output pipe, which is how `| head` says it has enough.
fn exit_code(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if closed_pipe(&e) => ExitCode::SUCCESS,
        Err(Error::Cancelled) => {
            errln!("cancelled");
            ExitCode::from(EXIT_CANCELLED)
        }
        Err(e) => {
            errln!("error: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// Whether the error is a write to standard output that found the pipe closed.
fn closed_pipe(e: &Error) -> bool {
    matches!(e, Error::Io { path, source, .. } if path.as_os_str() == STDOUT
        && source.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cloze::plm::cpu_kernels::keep_freed_memory();
    // CLOZE_FORCE_COMPOSED=1 runs the composed differentiable ops instead of the CPU kernels: the
    // path a GPU takes, on the CPU (scripts/gpu-check.sh --rehearse compares the two).
    if std::env::var_os("CLOZE_FORCE_COMPOSED").is_some_and(|v| v == "1") {
        cloze::plm::cpu_kernels::force_composed(true);
    }
    let result = match cli.command {
        Command::Classify(args) => classify(*args),
        Command::Inspect(args) => inspect(args),
        Command::Devices(args) => devices(args),
        Command::Generate(args) => generate_cmd(args),
        Command::Project(command) => project::run(command),
        Command::Label(args) => label::run(*args),
        Command::Export(ExportCommand::Labels(args)) => project::export(args),
        Command::Export(ExportCommand::Prompt(args)) => export_cmd::export_prompt(args),
        Command::Export(ExportCommand::Model(args)) => export_cmd::export_model(args),
        Command::Export(ExportCommand::Report(args)) => export_cmd::export_report(args),
        Command::Export(ExportCommand::Job(args)) => export_cmd::export_job(args),
        Command::Export(ExportCommand::Ensemble(args)) => ensemble_cmd::export_saved(args),
        Command::Import(ImportCommand::Prompt(args)) => export_cmd::import_prompt(args),
        Command::Hub(command) => hub(command),
        Command::Bench(args) => bench::run(args),
        Command::Tune(args) => tune_cmd::run(*args),
        Command::Ensemble(command) => ensemble_cmd::run(command),
        Command::Multilabel(args) => multilabel_cmd::run(*args),
        Command::SearchWords(args) => search_words(*args),
        Command::SearchTemplate(args) => search_template(*args),
        Command::GenerateTemplates(args) => generate_templates(*args),
    };
    exit_code(result)
}

fn load_model(args: &ModelArgs) -> Result<Plm> {
    if args.model.is_empty() {
        return Err(Error::invalid(
            "no model given; pass the model folder or a cached repository id with --model",
        ));
    }
    let mut plm = Plm::load(cloze::hub::resolve_model(&args.model)?, &args.device.open()?)?;
    if let Some(precision) = args.precision {
        plm.set_precision(precision)?;
        note_precision(precision);
    }
    Ok(plm)
}

/// Runs `work` with a progress bar of `total` `unit`s labelled `what`; `work` reports through the
/// engine's `progress(done, total) -> keep going` callback.
pub(crate) fn with_bar<T>(
    what: &str,
    unit: &str,
    total: usize,
    work: impl FnOnce(&mut dyn FnMut(usize, usize) -> bool) -> Result<T>,
) -> Result<T> {
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} {what} [{{bar:30}}] {{pos}}/{{len}} {unit}, {{per_sec}}, eta {{eta}}"
        ))
        .expect("valid progress template")
        .progress_chars("=> "),
    );
    let out = work(&mut |done, _| {
        bar.set_position(done as u64);
        true
    });
    bar.finish_and_clear();
    out
}

/// Says on standard error what runs a reduced precision on this machine.
pub fn note_precision(precision: Precision) {
    if precision != Precision::F32 {
        errln!("precision: {}", precision.kernel());
    }
}

fn column(arg: &Option<String>) -> Result<Option<ColumnRef>> {
    arg.as_deref().map(str::parse).transpose()
}

/// [`cloze::classify::check_labels`], naming the data file.
pub(crate) fn check_labels_in<S: AsRef<str>>(
    path: &Path,
    rows: &[cloze::data::Example],
    classes: &[S],
) -> Result<()> {
    cloze::classify::check_labels(rows, classes).map_err(|e| Error::Data {
        path: path.to_path_buf(),
        line: None,
        message: e.message(cloze::error::Front::Cli).into(),
    })
}

fn classify(args: ClassifyArgs) -> Result<()> {
    // Checked before any work: the output is never an input of this job (the data, the
    // demonstrations, a verbalizer file, the tuned run's files), nor an existing file unasked.
    if let Some(output) = &args.output {
        let verbalizer = Path::new(&args.verbalizer);
        let mut inputs: Vec<&Path> = vec![&args.input];
        inputs.extend(args.demos.as_deref());
        if verbalizer.is_file() {
            inputs.push(verbalizer);
        }
        let run_files: Vec<PathBuf> = match &args.prompt {
            Some(run) => std::fs::read_dir(run)
                .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default(),
            None => Vec::new(),
        };
        inputs.extend(run_files.iter().map(PathBuf::as_path));
        inputs.extend(args.ensemble.as_deref());
        cloze::files::check_output(output, &inputs, args.force.into())?;
    }
    if let Some(file) = &args.ensemble {
        return ensemble_cmd::classify_with_ensemble(
            file,
            &args.model,
            &args.input,
            &args.data,
            args.batch_size,
            args.output.as_ref(),
        );
    }
    if let Some(run) = &args.prompt {
        return tune_cmd::classify_with_run(
            run,
            Some(args.model.model.as_str()).filter(|m| !m.is_empty()),
            args.model.device,
            args.model.precision,
            &args.input,
            &args.data,
            args.output.as_ref(),
        );
    }
    let template = Template::parse(&args.template)?;
    template.check_classification()?;
    let verbalizer = Verbalizer::from_file_or_json(&args.verbalizer)?
        .with_multi_token(args.multi_token.into())
        .with_aggregate(args.aggregate.into());
    let options = args.data.import_options()?.for_fields(template.fields().map(|f| f.name.clone()));
    let (mut rows, report) = cloze::data::load(&args.input, &options)?;
    report_import(&args.input, &report.notes, &report.skipped);
    if rows.is_empty() {
        return Err(Error::Data {
            path: args.input.clone(),
            line: None,
            message: "no rows to classify".into(),
        });
    }
    // Before the model loads and any row is scored: labels the verbalizer has no class for.
    check_labels_in(&args.input, &rows, &verbalizer.class_names())?;
    let mut fields = report.fields();
    let with_demos = cloze::demo::uses_demos(&template);
    if with_demos {
        fields.push(cloze::demo::DEMO_FIELD.to_string());
    }
    template.check_fields(&fields.iter().map(String::as_str).collect::<Vec<_>>())?;

    let plm = load_model(&args.model)?;
    if with_demos {
        let path = args.demos.as_ref().ok_or_else(|| {
            Error::invalid(
                "the template has {demo}; give labelled rows to draw demonstrations from with --demos FILE",
            )
        })?;
        let (pool, report) = cloze::data::load(path, &options)?;
        report_import(path, &report.notes, &report.skipped);
        let config =
            cloze::demo::DemoConfig { per_class: args.demos_per_class, selection: args.demos_select.into() };
        let demos = cloze::demo::Demonstrations::new(&plm, &template, &verbalizer, &pool, config, args.seed)?;
        errln!("{}", demos.budget(&plm)?.summary());
        demos.fill(&plm, &mut rows)?;
    }
    let template = args.chat.chat().apply(&plm, &template)?;
    let classifier = cloze::classify::Classifier::new(
        &plm,
        template,
        &verbalizer,
        ClassifyOptions {
            batch_size: args.batch_size,
            calibrate: args.calibrate,
            top_k: args.top_k,
            ..Default::default()
        },
    )?;
    for w in &classifier.verbalizer().warnings {
        errln!("warning: {w}");
    }
    let bar = indicatif::ProgressBar::new(rows.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} classifying [{bar:30}] {pos}/{len} rows, {per_sec}, eta {eta}",
        )
        .expect("valid progress template")
        .progress_chars("=> "),
    );
    let preds = classifier.classify(&rows, &mut |done, _| {
        bar.set_position(done as u64);
        true
    })?;
    bar.finish_and_clear();

    write_predictions(&preds, args.output.as_ref())?;
    let classes = verbalizer.class_names();
    if let Some(eval) = evaluate(&preds, &classes)? {
        print_evaluation(&eval);
    } else {
        errln!("{} rows classified (no labels in the data, so no accuracy)", preds.len());
    }
    Ok(())
}

pub(crate) fn prediction_json(p: &Prediction) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("id".into(), p.id.clone().into());
    if let Some(l) = &p.label {
        m.insert("label".into(), l.clone().into());
    }
    m.insert("predicted".into(), p.predicted.clone().into());
    m.insert("probs".into(), p.probs.iter().map(|(c, v)| (c.clone(), serde_json::json!(v))).collect());
    m.insert(
        "label_word_logits".into(),
        p.label_word_logits.iter().map(|(w, v)| (w.clone(), serde_json::json!(v))).collect(),
    );
    if !p.top_words.is_empty() {
        m.insert("top_words".into(), serde_json::json!(p.top_words));
    }
    if p.truncated > 0 {
        m.insert("truncated".into(), p.truncated.into());
    }
    serde_json::Value::Object(m)
}

pub(crate) fn write_predictions(preds: &[Prediction], output: Option<&PathBuf>) -> Result<()> {
    let lines: Vec<serde_json::Value> = preds.iter().map(prediction_json).collect();
    write_json_lines(&lines, output)
}

/// Writes one JSON value per line to `output` (through a temporary file) or standard output.
pub(crate) fn write_json_lines(lines: &[serde_json::Value], output: Option<&PathBuf>) -> Result<()> {
    let write = |w: &mut dyn Write| -> std::io::Result<()> {
        for line in lines {
            serde_json::to_writer(&mut *w, line)?;
            w.write_all(b"\n")?;
        }
        w.flush()
    };
    match output {
        Some(path) => {
            let mut file = cloze::files::AtomicFile::create(path)?;
            write(&mut file).map_err(|e| Error::io(path, e))?;
            file.commit()
        }
        None => {
            let stdout = std::io::stdout();
            write(&mut stdout.lock()).map_err(|e| Error::io(STDOUT, e))
        }
    }
}

pub(crate) fn print_evaluation(e: &Metrics) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "rows {}  accuracy {:.4}  macro-F1 {:.4}", e.rows, e.accuracy, e.macro_f1);
    let width = e.classes.iter().map(|c| c.chars().count()).max().unwrap_or(4).max(6);
    let _ = write!(err, "{:>width$}  ", "true\\pred");
    for c in &e.classes {
        let _ = write!(err, "{c:>width$} ");
    }
    let _ = writeln!(err, "{:>8} {:>8} {:>8}", "prec", "recall", "f1");
    for (i, c) in e.classes.iter().enumerate() {
        let _ = write!(err, "{c:>width$}  ", width = width.max(9));
        for n in &e.confusion[i] {
            let _ = write!(err, "{n:>width$} ");
        }
        let s = e.per_class[i];
        let _ = writeln!(err, "{:>8.4} {:>8.4} {:>8.4}", s.precision, s.recall, s.f1);
    }
}

/// Opens each device the product knows (the CPU, CUDA device 0, Metal device 0) and says what it
/// is or why it cannot be used.
fn devices(args: DevicesArgs) -> Result<()> {
    let rows: Vec<(DeviceChoice, std::result::Result<String, String>)> =
        [DeviceChoice::Cpu, DeviceChoice::Cuda(0), DeviceChoice::Metal(0)]
            .into_iter()
            .map(|choice| {
                let opened =
                    choice.open().map(|d| cloze::plm::describe_device(&d)).map_err(|e| e.to_string());
                (choice, opened)
            })
            .collect();
    if args.json {
        let json: Vec<serde_json::Value> = rows
            .iter()
            .map(|(choice, opened)| match opened {
                Ok(name) => {
                    serde_json::json!({"device": choice.to_string(), "available": true, "name": name})
                }
                Err(why) => {
                    serde_json::json!({"device": choice.to_string(), "available": false, "reason": why})
                }
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&json).expect("devices serialise"))?;
        return Ok(());
    }
    for (choice, opened) in &rows {
        match opened {
            Ok(name) => outln!("{:<8} available    {name}", choice.to_string())?,
            Err(why) => outln!("{:<8} unavailable  {why}", choice.to_string())?,
        }
    }
    Ok(())
}

fn inspect(args: InspectArgs) -> Result<()> {
    let plm = load_model(&args.model)?;
    let info = plm.info();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&info).expect("info serialises"))?;
        return Ok(());
    }
    let s = &info.special_tokens;
    let tok = |t: &Option<(String, u32)>| {
        t.as_ref().map(|(s, i)| format!("{s} ({i})")).unwrap_or_else(|| "-".into())
    };
    outln!("model        {}", info.path.display())?;
    outln!(
        "family       {} ({})",
        info.family.name(),
        match info.kind {
            cloze::plm::Kind::Encoder => "masked LM: reads the label word at {mask}",
            cloze::plm::Kind::Decoder => "decoder: reads the label word after the text before {mask}",
            cloze::plm::Kind::EncoderDecoder =>
                "encoder–decoder: reads the label word as the {mask} span's answer",
        }
    )?;
    if !info.architectures.is_empty() {
        outln!("architecture {}", info.architectures.join(", "))?;
    }
    outln!("weights      {}", info.weights.display())?;
    outln!("parameters   {} ({:.1} M)", info.parameters, info.parameters as f64 / 1e6)?;
    let mb = |b: u64| format!("{:.1} MB", b as f64 / 1e6);
    match &info.quantisation {
        Some(q) if info.weight_bytes < info.dequantised_bytes => outln!(
            "memory       {} of weights, the decoder blocks held as stored ({q}); tuning dequantises them to f32: {}",
            mb(info.weight_bytes),
            mb(info.dequantised_bytes)
        )?,
        Some(q) => outln!("memory       {} of weights (stored as {q}, held as f32)", mb(info.weight_bytes))?,
        None => outln!("memory       {} of weights", mb(info.weight_bytes))?,
    }
    outln!("hidden size  {}", info.hidden_size)?;
    outln!("layers       {}", info.layers)?;
    outln!("heads        {}", info.heads)?;
    outln!("vocabulary   {}", info.vocab_size)?;
    outln!("max length   {} tokens", info.max_len)?;
    outln!(
        "LM head      {}",
        if info.has_lm_head { "yes" } else { "no (bare encoder: cannot fill a {mask})" }
    )?;
    outln!("pretraining  {} (what `cloze tune --strategy pretrain` trains)", info.pretraining.name())?;
    outln!("tokenizer    {}", info.tokenizer.display())?;
    outln!(
        "label words  {}",
        if info.space_sensitive { "tokenized with a leading space" } else { "as written" }
    )?;
    outln!("mask         {} ({})", s.mask.0, s.mask.1)?;
    outln!("pad          {} ({})", s.pad.0, s.pad.1)?;
    outln!("cls / bos    {}", tok(&s.cls))?;
    outln!("sep / eos    {}", tok(&s.sep))?;
    outln!("unk          {}", tok(&s.unk))?;
    Ok(())
}
