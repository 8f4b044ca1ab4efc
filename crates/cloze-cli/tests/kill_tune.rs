//! Kill tests of `cloze tune`: the binary is killed with SIGKILL at random moments (delays from a
//! seeded generator) of a run of every strategy, then continued with `--resume`; the resumed run
//! must end on the same bytes as an uninterrupted run of the same config and seed (every file of
//! the run folder: trained tensors, model folder, dev predictions, metrics and summary, the last two
//! without their timings). Runs are tiny (the 2-layer RoBERTa fixture, 16 rows, a checkpoint after
//! every update) so that kills land between checkpoint writes as often as inside them.
//!
//! Also: a checkpoint that does not verify is refused (falling back to the previous one, or saying
//! what to do), and `--resume` never retrains a finished run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cloze::data::SplitMix64;

const TRIALS: usize = 20;
const VERBALIZER: &str = r#"{"negative": ["terrible"], "positive": ["great"]}"#;

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("kill-tune-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A sentiment task of filler words and one signal word per row.
fn write_data(dir: &Path, name: &str, n: usize, seed: u64) -> PathBuf {
    const FILLER: [&str; 8] = ["the", "film", "story", "music", "was", "and", "this", "plot"];
    const POSITIVE: [&str; 4] = ["good", "wonderful", "excellent", "nice"];
    const NEGATIVE: [&str; 4] = ["bad", "awful", "boring", "slow"];
    let mut rng = SplitMix64::new(seed);
    let mut csv = String::from("text,label\n");
    for i in 0..n {
        let positive = i % 2 == 0;
        let mut words: Vec<&str> = (0..3 + rng.below(3)).map(|_| FILLER[rng.below(FILLER.len())]).collect();
        let signal = if positive { POSITIVE[rng.below(4)] } else { NEGATIVE[rng.below(4)] };
        words.insert(rng.below(words.len() + 1), signal);
        csv.push_str(&format!("{},{}\n", words.join(" "), if positive { "positive" } else { "negative" }));
    }
    let path = dir.join(name);
    std::fs::write(&path, csv).unwrap();
    path
}

/// The arguments of a small run of `strategy` into `out`.
struct Job {
    args: Vec<String>,
}

impl Job {
    fn new(strategy: &str, dir: &Path, steps: u32) -> Self {
        let train = write_data(dir, "train.csv", 16, 1);
        let dev = write_data(dir, "dev.csv", 4, 2);
        let model = repo().join("tests/fixtures/parity/roberta");
        let mut args: Vec<String> = vec![
            "tune".into(),
            "--strategy".into(),
            strategy.into(),
            "--model".into(),
            model.display().to_string(),
            "--train".into(),
            train.display().to_string(),
            "--dev".into(),
            dev.display().to_string(),
            "--max-steps".into(),
            steps.to_string(),
            "--batch-size".into(),
            "4".into(),
            "--eval-every".into(),
            "1".into(),
            "--seed".into(),
            "5".into(),
        ];
        let prompt = |template: &str| {
            vec!["--template".to_string(), template.to_string(), "--verbalizer".into(), VERBALIZER.into()]
        };
        match strategy {
            "soft-prompt" => args.extend(prompt("{soft:4} {text_a} It was {mask}.")),
            "finetune" => args.extend(prompt("{text_a} It was {mask}.")),
            "pretrain" => args.extend(prompt("{text_a} It was {mask}.")),
            "probe" => args.extend(["--probe-head".to_string(), "mlp".into()]),
            other => panic!("unknown strategy {other}"),
        }
        if strategy != "probe" {
            // Dropout masks come from a generator whose state the checkpoint must carry.
            args.extend(["--dropout".to_string(), "0.1".into(), "--lr".into(), "1e-3".into()]);
        }
        Job { args }
    }

    fn command(&self, out: &Path, resume: bool) -> Command {
        // CLOZE_TEST_BIN: a copy of the binary to test, when the target folder is shared by builds
        // of other branches.
        let bin = std::env::var_os("CLOZE_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_cloze").into());
        let mut c = Command::new(bin);
        c.args(&self.args).arg("--out").arg(out).current_dir(repo());
        if resume {
            c.arg("--resume");
        }
        c
    }

    fn run(&self, out: &Path, resume: bool) -> Output {
        self.command(out, resume).output().expect("run cloze")
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every file of a run folder (its path inside, its bytes), except the checkpoints and hidden
/// temporary files; `metrics.jsonl` and `summary.json` without their timings.
fn outputs(run: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || (dir == root && name == "checkpoints") {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                walk(root, &e.path(), out);
                continue;
            }
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            let bytes = std::fs::read(e.path()).unwrap();
            let untimed = |v: &mut serde_json::Value| {
                if let Some(m) = v.as_object_mut() {
                    for k in
                        ["elapsed_s", "eta_s", "seconds", "steps_per_second", "wall_seconds", "peak_bytes"]
                    {
                        m.remove(k);
                    }
                }
            };
            let bytes = match rel.as_str() {
                "metrics.jsonl" => text(&bytes)
                    .lines()
                    .map(|l| {
                        let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                        untimed(&mut v);
                        v.to_string() + "\n"
                    })
                    .collect::<String>()
                    .into_bytes(),
                "summary.json" => {
                    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                    untimed(&mut v);
                    v.to_string().into_bytes()
                }
                _ => bytes,
            };
            out.insert(rel, bytes);
        }
    }
    let mut out = BTreeMap::new();
    walk(run, run, &mut out);
    out
}

fn assert_same(got: &BTreeMap<String, Vec<u8>>, want: &BTreeMap<String, Vec<u8>>, what: &str) {
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(got), names(want), "{what}: the run folders hold different files");
    for (name, bytes) in want {
        assert!(got[name] == *bytes, "{what}: {name} differs from the uninterrupted run's");
    }
}

/// Runs `strategy` uninterrupted, then `TRIALS` times killed at a random moment and resumed.
fn kill_and_resume(strategy: &str, steps: u32) {
    let dir = scratch(strategy);
    let job = Job::new(strategy, &dir, steps);
    let reference = dir.join("reference");
    let started = Instant::now();
    let out = job.run(&reference, false);
    let took = started.elapsed();
    assert!(out.status.success(), "{strategy}: {}", text(&out.stderr));
    let want = outputs(&reference);
    assert!(want.contains_key("summary.json") && want.contains_key("metrics.jsonl"), "{:?}", want.keys());
    assert!(!reference.join("checkpoints").exists(), "a finished run keeps no checkpoints");

    let mut rng = SplitMix64::new(0xC0FFEE ^ strategy.len() as u64);
    let (mut killed, mut finished_first) = (0, 0);
    let mut resumed_from = Vec::new();
    for trial in 0..TRIALS {
        let run = dir.join(format!("trial-{trial}"));
        let delay = took.mul_f64(rng.next_f64());
        let mut child = job.command(&run, false).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        child.wait().unwrap();
        let finished = run.join("summary.json").is_file();
        let out = job.run(&run, true);
        let stderr = text(&out.stderr);
        if finished {
            // The run had finished (summary.json is written last): resuming it is refused, and
            // changes nothing.
            finished_first += 1;
            assert!(!out.status.success(), "{strategy} trial {trial}: resumed a finished run");
            assert!(stderr.contains("nothing to resume"), "{strategy} trial {trial}: {stderr}");
        } else {
            killed += 1;
            assert!(out.status.success(), "{strategy} trial {trial} (killed after {delay:?}): {stderr}");
            assert!(
                !stderr.contains("does not verify"),
                "{strategy} trial {trial}: a damaged checkpoint: {stderr}"
            );
            resumed_from.push(delay.as_millis());
        }
        assert_same(&outputs(&run), &want, &format!("{strategy} trial {trial} (killed after {delay:?})"));
        let _ = std::fs::remove_dir_all(&run);
    }
    eprintln!(
        "{strategy}: uninterrupted run {took:.2?}; {killed} of {TRIALS} runs killed and resumed, {finished_first} \
         finished before the kill; kill delays (ms) {resumed_from:?}"
    );
    assert!(killed >= TRIALS / 4, "{strategy}: kills should land inside the run");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `kill -9` at random moments of each strategy, then `--resume`: the same bytes as an
/// uninterrupted run, every time.
mod checkpoint_is_never_half_written {
    #[test]
    fn soft_prompt() {
        super::kill_and_resume("soft-prompt", 12);
    }

    #[test]
    fn finetune() {
        super::kill_and_resume("finetune", 8);
    }

    #[test]
    fn pretrain() {
        super::kill_and_resume("pretrain", 8);
    }

    #[test]
    fn probe() {
        super::kill_and_resume("probe", 16);
    }
}

/// Starts a long run, kills it once it has `n` checkpoints, and returns the run folder.
fn interrupted(job: &Job, run: &Path, n: usize) {
    let mut child = job.command(run, false).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let steps = |run: &Path| {
        std::fs::read_dir(run.join("checkpoints"))
            .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("step-")).count())
            .unwrap_or(0)
    };
    while steps(run) < n {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it had {n} checkpoints");
        assert!(Instant::now() < deadline, "no checkpoint after 2 minutes");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

fn step_dirs(run: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("step-"))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn resume_refuses_a_checkpoint_that_does_not_verify() {
    let dir = scratch("verify");
    let job = Job::new("soft-prompt", &dir, 400);
    let run = dir.join("run");
    interrupted(&job, &run, 2);
    // The latest checkpoint truncated, as a crash of the old in-place writer left it: resumed
    // from the previous one, saying so.
    let latest = std::fs::read_to_string(run.join("checkpoints").join("latest")).unwrap();
    let newest = &run.join("checkpoints").join(latest.trim());
    let params = newest.join("params.safetensors");
    let bytes = std::fs::read(&params).unwrap();
    std::fs::write(&params, &bytes[..bytes.len() / 2]).unwrap();
    let mut resumed = job.command(&run, true).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    // Only the start matters here: stop it once it is training again.
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::read_to_string(run.join("checkpoints").join("latest")).unwrap_or_default().trim()
        <= newest.file_name().unwrap().to_str().unwrap()
    {
        assert!(resumed.try_wait().unwrap().is_none(), "the resumed run stopped");
        assert!(Instant::now() < deadline, "the resumed run made no checkpoint");
        std::thread::sleep(Duration::from_millis(2));
    }
    resumed.kill().unwrap();
    let out = resumed.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    let newest_name = newest.file_name().unwrap().to_string_lossy().into_owned();
    assert!(stderr.contains(&format!("warning: checkpoint {newest_name} does not verify")), "{stderr}");
    assert!(stderr.contains("bytes, the manifest says"), "{stderr}");
    assert!(stderr.contains("resuming from step-"), "{stderr}");

    // Every checkpoint damaged: refused, saying what to do.
    for d in step_dirs(&run) {
        std::fs::write(d.join("optimizer.safetensors"), b"incomplete").unwrap();
    }
    let out = job.run(&run, true);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("error: checkpoint step-"), "{stderr}");
    assert!(stderr.contains("does not verify"), "{stderr}");
    assert!(stderr.contains("delete the run folder") && stderr.contains("without --resume"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resume_never_retrains_a_finished_run() {
    let dir = scratch("finished");
    let job = Job::new("probe", &dir, 4);
    let run = dir.join("probe-run");
    let out = job.run(&run, false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let before = outputs(&run);
    let modified = std::fs::metadata(run.join("probe.safetensors")).unwrap().modified().unwrap();
    let out = job.run(&run, true);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("run probe-run finished at step 4; nothing to resume"), "{stderr}");
    assert!(stderr.contains("start a new run") && stderr.contains("export it"), "{stderr}");
    assert_same(&outputs(&run), &before, "a refused resume");
    assert_eq!(std::fs::metadata(run.join("probe.safetensors")).unwrap().modified().unwrap(), modified);
    let _ = std::fs::remove_dir_all(&dir);
}
