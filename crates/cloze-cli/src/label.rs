//! `cloze label`: the labelling loop in a terminal. Keys 1–9 pick a class, Enter accepts the model's
//! suggestion, u undoes, s skips, q quits. Every decision is saved at once.
//!
//! With `--model` and a prompt (`--template` and `--verbalizer`, or a template ensemble with
//! `--ensemble`), a background thread scores the rows still to
//! label (its own connection to the project) while you label; the queue follows its suggestions.
//! When standard input is not a terminal, each input line is one key (an empty line is Enter) and
//! every saved label is confirmed on standard output — what scripts and the crash test use.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::choices::engine;
use clap::Args;
use cloze::ensemble::Ensemble;
use cloze::error::ErrorKind;
use cloze::label::{
    EnsembleScoringRun, Queue, QueueItem, QueueOrder, RescoreProgress, ScoringPrompt, ScoringRun, Session,
};
use cloze::plm::{DeviceChoice, Plm};
use cloze::store::{LabelSet, Store};
use cloze::template::Template;
use cloze::verbalizer::Verbalizer;
use cloze::{Error, Result};

#[derive(Args, Debug)]
pub struct LabelArgs {
    /// The project file.
    file: PathBuf,
    /// The dataset (default: the only one).
    #[arg(long)]
    dataset: Option<String>,
    /// The label set (default: the only one).
    #[arg(long)]
    label_set: Option<String>,
    /// Which row next: order, random[:SEED], least-confidence, margin, entropy, disagreement:RUN
    /// (all but order and random need model suggestions).
    #[arg(long, default_value = "order", value_parser = engine::<QueueOrder>)]
    strategy: QueueOrder,
    /// Your name, recorded with every label (several annotators can label the same rows).
    #[arg(long)]
    annotator: Option<String>,
    /// A model (folder, or org/name[@revision] in the Hugging Face cache) to suggest labels with:
    /// with --template and --verbalizer, or with --ensemble.
    #[arg(long)]
    model: Option<String>,
    /// The prompt template for suggestions, e.g. '{text_a} It was {mask}.'.
    #[arg(long, requires_all = ["model", "verbalizer"], conflicts_with = "ensemble")]
    template: Option<String>,
    /// Label words per class (JSON or a JSON file); the classes must be the label set's.
    #[arg(long, requires_all = ["model", "template"], conflicts_with = "ensemble")]
    verbalizer: Option<String>,
    /// Suggest with a template ensemble (`cloze ensemble fit --output`) instead of one prompt: every
    /// member scores the rows and the ensemble's combined probabilities are the suggestions. Its
    /// classes must be the label set's.
    #[arg(long, requires = "model")]
    ensemble: Option<PathBuf>,
    /// Show the suggestions of an earlier run instead of scoring anew.
    #[arg(long, conflicts_with = "model")]
    run: Option<i64>,
    /// cpu, cuda[:N] or metal.
    #[arg(long, default_value = "cpu", value_parser = engine::<DeviceChoice>)]
    device: DeviceChoice,
}

/// Rows scored so far by the background re-scorer, and its end.
#[derive(Default)]
struct Rescoring {
    scored: AtomicUsize,
    total: AtomicUsize,
    done: AtomicBool,
    stop: AtomicBool,
}

type Rescorer = (i64, Arc<Rescoring>, std::thread::JoinHandle<()>);

/// What scores the rows in the background: one prompt or a template ensemble, checked and
/// recorded as a run before the labelling loop starts.
enum Scorer {
    Prompt(ScoringRun),
    Ensemble(EnsembleScoringRun),
}

impl Scorer {
    fn run_id(&self) -> i64 {
        match self {
            Scorer::Prompt(r) => r.run_id,
            Scorer::Ensemble(r) => r.run_id,
        }
    }

    fn score(
        self,
        store: &mut Store,
        plm: &Plm,
        progress: &mut dyn FnMut(RescoreProgress) -> bool,
    ) -> Result<()> {
        match self {
            Scorer::Prompt(r) => r.score(store, plm, progress),
            Scorer::Ensemble(r) => r.score(store, plm, progress),
        }
    }

    fn fail(self, store: &Store, error: Error) -> Result<()> {
        match self {
            Scorer::Prompt(r) => r.fail(store, error),
            Scorer::Ensemble(r) => r.fail(store, error),
        }
    }
}

fn start_rescoring(args: &LabelArgs, store: &Store, set: &LabelSet) -> Result<Rescorer> {
    let Some(spec) = args.model.clone() else {
        return Err(Error::invalid("suggestions need --model"));
    };
    let device_name = args.device.to_string();
    // Check everything that can be checked before the loop starts.
    let scorer = match (&args.ensemble, &args.template, &args.verbalizer) {
        (Some(file), _, _) => {
            let ensemble = Ensemble::read(file)?;
            let name = file.display().to_string();
            Scorer::Ensemble(EnsembleScoringRun::start(
                store,
                set,
                (&name, None),
                ensemble,
                (&spec, &device_name),
            )?)
        }
        (None, Some(template), Some(verbalizer)) => {
            let prompt = ScoringPrompt {
                template: Template::parse(template)?,
                verbalizer: Verbalizer::from_file_or_json(verbalizer)?,
                calibrate: false,
                chat: Default::default(),
            };
            Scorer::Prompt(ScoringRun::start(store, set, prompt, &spec, &device_name)?)
        }
        _ => {
            return Err(Error::invalid(
                "--model needs a prompt to suggest with: --template and --verbalizer, or --ensemble FILE",
            ));
        }
    };
    let dir = cloze::hub::resolve_model(&spec)?;
    let device = args.device.open()?;
    let run_id = scorer.run_id();
    let state = Arc::new(Rescoring::default());
    let (thread_state, path) = (state.clone(), args.file.clone());
    let handle = std::thread::spawn(move || {
        let result = Store::open(&path).and_then(|mut store| match Plm::load(&dir, &device) {
            Ok(plm) => scorer.score(&mut store, &plm, &mut |p| {
                thread_state.scored.store(p.scored, Ordering::Relaxed);
                thread_state.total.store(p.total, Ordering::Relaxed);
                !thread_state.stop.load(Ordering::Relaxed)
            }),
            Err(e) => scorer.fail(&store, e),
        });
        if let Err(e) = result {
            errln!("\r\nsuggestions stopped: {e}\r");
        }
        thread_state.done.store(true, Ordering::Relaxed);
    });
    Ok((run_id, state, handle))
}

/// A key the loop understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Class(usize),
    Accept,
    Undo,
    Skip,
    Quit,
    Other,
}

fn key_of(c: char) -> Key {
    match c {
        '1'..='9' => Key::Class(c as usize - '1' as usize),
        '\n' | '\r' => Key::Accept,
        'u' | 'U' => Key::Undo,
        's' | 'S' => Key::Skip,
        'q' | 'Q' => Key::Quit,
        _ => Key::Other,
    }
}

/// Reads one key: a key press on a terminal, a line otherwise (`None` at end of input).
fn read_key(
    interactive: bool,
    lines: &mut dyn Iterator<Item = std::io::Result<String>>,
) -> Result<Option<Key>> {
    if interactive {
        use crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers, read};
        loop {
            let event = read().map_err(|e| Error::io("<terminal>", e))?;
            if let Event::Key(k) = event {
                if k.kind != KeyEventKind::Press {
                    continue;
                }
                return Ok(Some(match k.code {
                    KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => Key::Quit,
                    KeyCode::Char(c) => key_of(c),
                    KeyCode::Enter => Key::Accept,
                    KeyCode::Backspace => Key::Undo,
                    KeyCode::Esc => Key::Quit,
                    _ => Key::Other,
                }));
            }
        }
    }
    match lines.next() {
        None => Ok(None),
        Some(line) => {
            let line = line.map_err(|e| Error::io("<stdin>", e))?;
            Ok(Some(line.trim().chars().next().map(key_of).unwrap_or(Key::Accept)))
        }
    }
}

struct RawMode;
impl RawMode {
    fn enable() -> Result<Self> {
        crossterm::terminal::enable_raw_mode().map_err(|e| Error::io("<terminal>", e))?;
        Ok(RawMode)
    }
}
impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

fn show(item: &QueueItem, set: &LabelSet, remaining: i64, session: &Session, rescoring: Option<&Rescoring>) {
    let mut out = std::io::stderr().lock();
    let _ = write!(
        out,
        "\r\n──── row {} ({} to go, {} labelled this session",
        item.row.example.id,
        remaining,
        session.labelled()
    );
    if let Some(r) = rescoring {
        let (scored, total) = (r.scored.load(Ordering::Relaxed), r.total.load(Ordering::Relaxed));
        if !r.done.load(Ordering::Relaxed) {
            if total == 0 {
                let _ = write!(out, ", loading the model for suggestions");
            } else {
                let _ = write!(out, ", suggestions {scored}/{total}");
            }
        }
    }
    let _ = write!(out, ")\r\n");
    for line in item.row.example.text_a.lines() {
        let _ = write!(out, "  {line}\r\n");
    }
    if let Some(b) = &item.row.example.text_b {
        let _ = write!(out, "  ── {b}\r\n");
    }
    match &item.suggestion {
        Some(s) => {
            let _ = write!(out, "model: {} ({:.0}%)  — Enter accepts\r\n", s.predicted, s.confidence * 100.0);
        }
        None => {
            let _ = write!(out, "model: no suggestion yet\r\n");
        }
    }
    let classes: Vec<String> =
        set.classes.iter().enumerate().take(9).map(|(i, c)| format!("{} {c}", i + 1)).collect();
    let _ = write!(out, "{}   u undo  s skip  q quit\r\n", classes.join("  "));
    let _ = out.flush();
}

pub fn run(args: LabelArgs) -> Result<()> {
    let mut store = crate::project::open(&args.file)?;
    let (_, set) = crate::project::pick(&store, args.dataset.as_deref(), args.label_set.as_deref())?;
    if set.classes.len() > 9 {
        errln!("note: only the first 9 classes have keys in the terminal ({} classes)", set.classes.len());
    }
    let strategy = args.strategy;
    let (run_id, rescoring, rescorer) = if args.model.is_some() {
        let (id, state, handle) = start_rescoring(&args, &store, &set)?;
        (Some(id), Some(state), Some(handle))
    } else {
        (args.run, None, None)
    };
    let queue = Queue::new(set.clone(), strategy, run_id, args.annotator.clone())?;
    let mut session = Session::new(queue);
    let interactive = std::io::stdin().is_terminal();
    let _raw = if interactive { Some(RawMode::enable()?) } else { None };
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut stdout = std::io::stdout();
    let result = (|| -> Result<()> {
        loop {
            let Some(item) = session.current(&store)? else {
                errprint!("\r\nevery row is labelled; u undoes the last one, q quits\r\n");
                match read_key(interactive, &mut lines)? {
                    Some(Key::Undo) => {
                        session.undo(&store)?;
                        continue;
                    }
                    _ => return Ok(()),
                }
            };
            let remaining = session.queue.remaining(&store)?;
            show(&item, &set, remaining, &session, rescoring.as_deref());
            let saved = match read_key(interactive, &mut lines)? {
                None | Some(Key::Quit) => return Ok(()),
                Some(Key::Class(c)) if c < set.classes.len() => match session.label(&mut store, &item, c) {
                    Ok(_) => Some(set.classes[c].clone()),
                    // Another session of the same annotator labelled the row: say so, show it again.
                    Err(e) if e.kind() == ErrorKind::Conflict => {
                        errprint!("not saved: {e}\r\n");
                        None
                    }
                    Err(e) => return Err(e),
                },
                Some(Key::Accept) => match session.accept(&mut store, &item) {
                    Ok(_) => item.suggestion.as_ref().map(|s| s.predicted.clone()),
                    Err(e) => {
                        errprint!("not saved: {e}\r\n");
                        None
                    }
                },
                Some(Key::Undo) => {
                    match session.undo(&store)? {
                        Some(_) => errprint!("undone\r\n"),
                        None => errprint!("nothing to undo\r\n"),
                    }
                    None
                }
                Some(Key::Skip) => {
                    session.skip(&item);
                    None
                }
                Some(_) => {
                    errprint!(
                        "keys: 1-{} pick a class, Enter accepts, u undoes, s skips, q quits\r\n",
                        set.classes.len().min(9)
                    );
                    None
                }
            };
            if let (Some(value), false) = (saved, interactive) {
                writeln!(stdout, "saved {} {value}", item.row.example.id)
                    .map_err(|e| Error::io(crate::STDOUT, e))?;
                stdout.flush().map_err(|e| Error::io(crate::STDOUT, e))?;
            }
        }
    })();
    if let (Some(r), Some(handle)) = (&rescoring, rescorer) {
        // The re-scorer stops after its current batch and records how its run ended.
        r.stop.store(true, Ordering::Relaxed);
        let _ = handle.join();
    }
    errprint!("\r\n{} labels saved in {}\r\n", session.labelled(), args.file.display());
    result
}
