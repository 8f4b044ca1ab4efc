//! `cloze bench fewshot` (LM-BFF's protocol) on the tiny RoBERTa checkpoint and the 16 sample
//! reviews: samples written once and disjoint, every method's cell on the same sample, the table's
//! mean over the seeds, a resumed job that trains nothing again, and SetFit's column read from the
//! folder.

#[path = "common/repo_cli.rs"]
mod repo_cli;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use repo_cli::{cloze, model, text};

fn bench(out: &Path, extra: &[&str]) -> (bool, String, String) {
    let model = model();
    let mut args =
        vec!["bench", "fewshot", "--model", model.to_str().unwrap(), "--data", "samples/reviews.csv"];
    args.extend(["--test-rows", "4", "--shots", "2", "--seeds", "1,2"]);
    args.extend([
        "--template",
        "{text_a} It was {mask}.",
        "--verbalizer",
        "samples/sentiment.verbalizer.json",
    ]);
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend(extra);
    let o = cloze(&args);
    (o.status.success(), text(&o.stdout), text(&o.stderr))
}

fn ids(path: PathBuf) -> Vec<String> {
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_protocol_runs_every_method_on_the_same_samples_and_resumes() {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-bench-fewshot");
    let _ = std::fs::remove_dir_all(&out);
    let (ok, stdout, stderr) = bench(&out, &["--methods", "probe,finetune,auto"]);
    assert!(ok, "{stderr}");
    assert!(stderr.starts_with("cpu: "), "the CPU is named: {stderr}");
    assert!(stderr.contains("12 rows to sample from, 4 test rows"), "{stderr}");
    // auto on a model with its LM head and a {mask} template: prompt-based fine-tuning, tried
    // beside the probe and the better on the dev rows kept.
    assert!(stderr.contains("K=2 seed 1: auto (chose "), "{stderr}");

    // The samples: 2 + 2 rows per class, disjoint from each other and from the test rows.
    let test: BTreeSet<String> = ids(out.join("test.jsonl")).into_iter().collect();
    assert_eq!(test.len(), 4);
    for seed in [1, 2] {
        let dir = out.join(format!("k-2/seed-{seed}"));
        let (train, dev) = (ids(dir.join("train.jsonl")), ids(dir.join("dev.jsonl")));
        assert_eq!((train.len(), dev.len()), (4, 4));
        let all: BTreeSet<&String> = train.iter().chain(&dev).chain(&test).collect();
        assert_eq!(all.len(), 12, "seed {seed}: train, dev and test share no row");
        for method in ["probe", "finetune", "auto"] {
            let cell: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join(format!("{method}.json"))).unwrap()).unwrap();
            assert_eq!((cell["k"].as_u64(), cell["seed"].as_u64()), (Some(2), Some(seed)));
            assert_eq!((cell["train_rows"].as_u64(), cell["test_rows"].as_u64()), (Some(4), Some(4)));
            let acc = cell["accuracy"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&acc) && (acc * 4.0).fract() == 0.0, "{method}: {cell}");
            // Each cell is an ordinary run folder, trained with the sample's seed (auto's is the
            // column's run it kept, checked below).
            if method == "auto" {
                continue;
            }
            let config: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join(method).join("config.json")).unwrap())
                    .unwrap();
            assert_eq!(config["hyper"]["seed"].as_u64(), Some(seed));
        }
        let read = |m: &str| -> serde_json::Value {
            serde_json::from_slice(&std::fs::read(dir.join(format!("{m}.json"))).unwrap()).unwrap()
        };
        let auto = read("auto");
        let reasons: Vec<&str> =
            auto["auto"]["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        assert!(reasons[0].contains("prompt-based fine-tuning (LM-BFF)"), "{reasons:?}");
        let tried = reasons.last().unwrap();
        assert!(
            tried.starts_with("tried finetune (") && tried.contains("on the 4 dev rows) and probe ("),
            "{tried}"
        );
        // The finetune and probe columns trained the very candidates on this sample: auto keeps
        // finetune unless the probe's dev accuracy is above it beyond the noise of 4 dev rows,
        // without training them again, and counts both runs' time.
        let (finetune, probe) = (read("finetune"), read("probe"));
        assert_eq!(auto["reused_runs"], true);
        let (f, p) = (finetune["dev_accuracy"].as_f64().unwrap(), probe["dev_accuracy"].as_f64().unwrap());
        let switch = p > f + 2.0 * ((f * (1.0 - f) + p * (1.0 - p)) / 4.0).sqrt();
        let kept = if switch { &probe } else { &finetune };
        assert_eq!(auto["strategy"], if switch { "probe" } else { "finetune" });
        assert_eq!(auto["accuracy"], kept["accuracy"]);
        let both = finetune["seconds"].as_f64().unwrap() + probe["seconds"].as_f64().unwrap();
        assert!((auto["seconds"].as_f64().unwrap() - both).abs() < 1e-9);
    }

    // The table: a line per method, mean ± s.d. over the 2 seeds.
    let table = std::fs::read_to_string(out.join("table.md")).unwrap();
    assert!(stdout.contains(table.trim()), "stdout is the table:\n{stdout}\n---\n{table}");
    assert!(table.contains("| method | K=2 accuracy | K=2 macro-F1 | K=2 s/run |"), "{table}");
    for method in ["probe", "finetune", "auto"] {
        let line = table
            .lines()
            .find(|l| l.starts_with(&format!("| {method} |")))
            .unwrap_or_else(|| panic!("{table}"));
        assert!(line.contains("(n=2)"), "{line}");
    }
    assert!(table.contains("auto chose: K=2: "), "{table}");
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    let probe: Vec<f64> = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "probe")
        .map(|r| r["accuracy"].as_f64().unwrap())
        .collect();
    let mean = results["rows"].as_array().unwrap().iter().find(|r| r["method"] == "probe").unwrap()["accuracy"]["mean"]
        .as_f64()
        .unwrap();
    assert!((mean - (probe[0] + probe[1]) / 2.0).abs() < 1e-12, "{results}");

    // Resumed: nothing trains again; SetFit's cells (as the script writes them) join the table.
    let setfit = serde_json::json!({"method": "setfit", "k": 2, "seed": 1, "train_rows": 4, "dev_rows": 4,
        "test_rows": 4, "accuracy": 0.75, "macro_f1": 0.7333, "seconds": 3.0});
    std::fs::write(out.join("k-2/seed-1/setfit.json"), setfit.to_string()).unwrap();
    let (ok, stdout, stderr) = bench(&out, &["--methods", "probe,finetune,auto"]);
    assert!(ok, "{stderr}");
    assert!(!stderr.contains("K=2 seed 1: probe ("), "a finished cell is not run again: {stderr}");
    assert!(stdout.contains("| setfit | 75.0 ± 0.0 (n=1) | 73.3 ± 0.0 | 3 |"), "{stdout}");
    let (ok, only, _) = bench(&out, &["--table-only"]);
    assert!(ok && only == stdout, "{only}");

    // auto alone trains both candidates inside its own run folder and keeps the better: the same
    // runs (a seed repeats bit for bit), so the same choice and test accuracy as from the columns.
    // (The probe's column is there, so its run is copied in and its time counted, not trained.)
    let alone = out.join("alone");
    let (ok, _, stderr) = bench(&alone, &["--methods", "probe"]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = bench(&alone, &["--methods", "auto"]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("auto: trying probe too"), "{stderr}");
    let probe_cell: serde_json::Value =
        serde_json::from_slice(&std::fs::read(alone.join("k-2/seed-1/probe.json")).unwrap()).unwrap();
    let read = |dir: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join("k-2/seed-1/auto.json")).unwrap()).unwrap()
    };
    let (trained, shared) = (read(&alone), read(&out));
    assert_eq!(trained["reused_runs"], serde_json::Value::Null);
    assert!(trained["seconds"].as_f64().unwrap() > probe_cell["seconds"].as_f64().unwrap());
    for key in ["strategy", "accuracy", "macro_f1", "dev_accuracy", "auto"] {
        assert_eq!(trained[key], shared[key], "{key}");
    }
    let run = alone.join("k-2/seed-1/auto");
    assert!(run.join("summary.json").is_file() && !run.join("candidates").exists());
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["strategy"], trained["strategy"]);
    assert_eq!(config["auto"], trained["auto"]);

    // The rule's own choice is copied in from its column too: only the probe trains. The kept
    // fine-tuning run is the column's, byte for byte (a run trained again would log other times).
    let chosen = out.join("chosen");
    let (ok, _, stderr) = bench(&chosen, &["--methods", "finetune"]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = bench(&chosen, &["--methods", "auto"]);
    assert!(ok, "{stderr}");
    let kept = read(&chosen);
    assert_eq!(kept["strategy"], "finetune", "{kept}");
    let metrics =
        |run: &str| std::fs::read(chosen.join("k-2/seed-1").join(run).join("metrics.jsonl")).unwrap();
    assert!(metrics("auto") == metrics("finetune"), "the column's run is copied, not trained again");
    let column: serde_json::Value =
        serde_json::from_slice(&std::fs::read(chosen.join("k-2/seed-1/finetune.json")).unwrap()).unwrap();
    assert!(kept["seconds"].as_f64().unwrap() > column["seconds"].as_f64().unwrap(), "its time is counted");

    // The untrained prompt: zero-shot is scored once and every cell copies it; demonstrations are
    // drawn from each sample's training rows.
    let prompt = out.join("prompt");
    let demo_template = ["--demo-template", "{demo} {text_a} It was {mask}."];
    let (ok, _, stderr) = bench(&prompt, &[&["--methods", "zero-shot,demos"][..], &demo_template].concat());
    assert!(ok, "{stderr}");
    let cell = |seed: u64, m: &str| -> serde_json::Value {
        let path = prompt.join(format!("k-2/seed-{seed}/{m}.json"));
        serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            .unwrap()
    };
    let once: serde_json::Value =
        serde_json::from_slice(&std::fs::read(prompt.join("zero-shot.json")).unwrap()).unwrap();
    for seed in [1, 2] {
        let (z, d) = (cell(seed, "zero-shot"), cell(seed, "demos"));
        assert_eq!((z["accuracy"].clone(), z["seed"].as_u64()), (once["accuracy"].clone(), Some(seed)));
        assert_eq!(z["train_rows"], 0);
        assert_eq!((d["train_rows"].as_u64(), d["test_rows"].as_u64()), (Some(4), Some(4)));
        assert!(!prompt.join(format!("k-2/seed-{seed}/zero-shot")).exists(), "nothing is trained");
    }
    assert_eq!(cell(2, "zero-shot")["reused_runs"], true);
    let table = std::fs::read_to_string(prompt.join("table.md")).unwrap();
    assert!(table.contains("| zero-shot |") && table.contains("| demos |"), "{table}");
    // demos needs the template with {demo}; one without it is refused, naming the fix.
    for (extra, want) in [
        (&["--methods", "demos"][..], "needs a template with {demo}"),
        (&["--methods", "demos", "--demo-template", "{text_a} It was {mask}."][..], "has no {demo}"),
    ] {
        let (ok, _, stderr) = bench(&out.join("no-demo"), extra);
        assert!(!ok && stderr.contains(want), "{extra:?}: {stderr}");
    }

    // Pretraining is not a few-shot method; an unknown one lists the known.
    for (methods, want) in
        [("pretrain", "learns from text alone"), ("svm", "choose from soft-prompt, finetune")]
    {
        let (ok, _, stderr) = bench(&out, &["--methods", methods]);
        assert!(!ok && stderr.contains(want), "{methods}: {stderr}");
    }
    // Too few rows for 2 × K per class: says so, names the class.
    let (ok, _, stderr) = bench(&out.join("big-k"), &["--shots", "5"]);
    assert!(!ok && stderr.contains("cannot draw 5 training and 5 dev examples per class"), "{stderr}");
}
