//! `cloze export prompt` (bundle, PEFT, OpenPrompt), `cloze import prompt`, `cloze export model`,
//! `cloze export report` and `cloze export job`, through the binary.

#[path = "common/repo_cli.rs"]
mod repo_cli;

use std::path::{Path, PathBuf};

use repo_cli::{cloze, model, repo, text};

fn temp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-export-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A soft-prompt run on the sample reviews.
fn tune(dir: &Path, placement: &str) -> PathBuf {
    tune_with(dir, "soft-prompt", "{soft:4} {text_a} It was {mask}.", &["--soft-placement", placement])
}

/// A run of two updates with `strategy` on the sample reviews, into `dir/run`.
fn tune_with(dir: &Path, strategy: &str, template: &str, extra: &[&str]) -> PathBuf {
    let run = dir.join("run");
    let mut args = vec![
        "tune",
        "--strategy",
        strategy,
        "--train",
        "samples/reviews.csv",
        "--verbalizer",
        "samples/sentiment.verbalizer.json",
        "--template",
        template,
        "--max-steps",
        "2",
        "--batch-size",
        "4",
        "--dev-fraction",
        "0.25",
        "--out",
        run.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let model = model();
    args.extend_from_slice(&["--model", model.to_str().unwrap()]);
    let out = cloze(&args);
    assert!(out.status.success(), "tune: {}", text(&out.stderr));
    run
}

/// `cloze classify --prompt DIR` on the sample reviews: the JSONL it prints.
fn classify(prompt: &Path, extra: &[&str]) -> String {
    let mut args = vec!["classify", "--prompt", prompt.to_str().unwrap(), "--input", "samples/reviews.csv"];
    args.extend_from_slice(extra);
    let out = cloze(&args);
    assert!(out.status.success(), "classify --prompt {}: {}", prompt.display(), text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn bundle_from_the_cli_classifies_bit_for_bit_and_refuses_another_model() {
    let dir = temp("bundle");
    let run = tune(&dir, "in-template");
    let bundle = dir.join("bundle");
    let out = cloze(&[
        "export",
        "prompt",
        run.to_str().unwrap(),
        "--format",
        "bundle",
        "--output",
        bundle.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("cloze classify --prompt"), "{}", text(&out.stderr));
    let from_run = classify(&run, &[]);
    assert_eq!(from_run.lines().count(), 16);
    assert_eq!(classify(&bundle, &[]), from_run, "the bundle gives the run's probabilities");
    assert_eq!(classify(&bundle, &["--model", model().to_str().unwrap()]), from_run);
    let archive = dir.join("bundle.zip");
    let out = cloze(&["export", "prompt", run.to_str().unwrap(), "--output", archive.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(classify(&archive, &[]), from_run, "the .zip bundle gives the run's probabilities");

    // Another model: refused with exit code 1, naming the model the bundle needs.
    let other = repo().join("tests/fixtures/parity/bert");
    let out = cloze(&[
        "classify",
        "--prompt",
        bundle.to_str().unwrap(),
        "--model",
        other.to_str().unwrap(),
        "--input",
        "samples/reviews.csv",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("another model") && stderr.contains("--model"), "{stderr}");

    // Again without --force: refused; with it: replaced.
    let args = ["export", "prompt", run.to_str().unwrap(), "--output", bundle.to_str().unwrap()];
    let out = cloze(&args);
    assert!(!out.status.success() && text(&out.stderr).contains("--force"), "{}", text(&out.stderr));
    let out = cloze(&[&args[..], &["--force"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn peft_and_openprompt_out_and_in_through_the_cli() {
    let dir = temp("peft");
    let run = tune(&dir, "before-input");
    let adapter = dir.join("adapter");
    let out = cloze(&[
        "export",
        "prompt",
        run.to_str().unwrap(),
        "--format",
        "peft",
        "--output",
        adapter.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("PeftModel.from_pretrained"), "{}", text(&out.stderr));
    for f in ["adapter_config.json", "adapter_model.safetensors"] {
        assert!(adapter.join(f).is_file(), "{f}");
    }
    // The import needs the template and verbalizer the adapter does not hold.
    let imported = dir.join("imported");
    let out = cloze(&["import", "prompt", adapter.to_str().unwrap(), "--out", imported.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--template"), "{}", text(&out.stderr));
    let out = cloze(&[
        "import",
        "prompt",
        adapter.to_str().unwrap(),
        "--out",
        imported.to_str().unwrap(),
        "--template",
        "{text_a} It was {mask}.",
        "--verbalizer",
        "samples/sentiment.verbalizer.json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(classify(&imported, &[]), classify(&run, &[]), "export → import → the same probabilities");

    // Soft vectors after <s> cannot be held by PEFT: refused, with the bundle offered.
    let other = temp("peft-in-template");
    let in_template = tune(&other, "in-template");
    let out = cloze(&[
        "export",
        "prompt",
        in_template.to_str().unwrap(),
        "--format",
        "peft",
        "--output",
        other.join("adapter").to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--format bundle") && stderr.contains("positions [1, 2, 3, 4]"), "{stderr}");

    // OpenPrompt: out, then in (printed, then saved into a project).
    let op = dir.join("openprompt");
    let out = cloze(&[
        "export",
        "prompt",
        run.to_str().unwrap(),
        "--format",
        "openprompt",
        "--output",
        op.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = cloze(&["import", "prompt", op.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(
        printed.starts_with(r#"{"soft": None, "duplicate": 4} {"placeholder": "text_a"} It was {"mask"}."#),
        "{printed}"
    );
    assert!(printed.contains("\"terrible\""), "{printed}");
    let project = dir.join("p.cloze");
    let out = cloze(&["project", "new", project.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = cloze(&[
        "import",
        "prompt",
        op.to_str().unwrap(),
        "--project",
        project.to_str().unwrap(),
        "--name",
        "op",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let store = cloze::store::Store::open(&project).unwrap();
    assert_eq!(store.templates().unwrap().len(), 1);
    assert_eq!(store.verbalizers().unwrap().len(), 1);
}

#[test]
fn model_report_and_job_through_the_cli() {
    let dir = temp("model-report-job");
    let finetuned = tune_with(&dir.join("ft"), "finetune", "{text_a} It was {mask}.", &[]);
    let soft = tune(&dir.join("soft"), "before-input");
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let (folder, report, job) = (dir.join("model"), dir.join("report.html"), dir.join("job"));
    let cases: [(Vec<String>, Option<&str>); 5] = [
        (
            vec!["model".into(), path(&finetuned), "--output".into(), path(&folder)],
            Some("AutoModelForMaskedLM"),
        ),
        (
            vec!["report".into(), path(&soft), path(&finetuned), "--output".into(), path(&report)],
            Some("open it"),
        ),
        (vec!["job".into(), path(&soft), "--output".into(), path(&job)], Some("accelerate launch train.py")),
        (vec!["model".into(), path(&soft), "--output".into(), path(&dir.join("no-model"))], None),
        (vec!["job".into(), path(&soft), "--output".into(), path(&job)], None),
    ];
    for (args, said) in cases {
        let mut all = vec!["export"];
        all.extend(args.iter().map(String::as_str));
        let out = cloze(&all);
        let err = text(&out.stderr);
        match said {
            Some(needle) => assert!(out.status.success() && err.contains(needle), "{args:?}: {err}"),
            None => {
                assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
                assert!(err.contains("export prompt") || err.contains("--force"), "{args:?}: {err}");
            }
        }
    }
    assert!(folder.join("README.md").is_file() && folder.join("model.safetensors").is_file());
    assert!(std::fs::read_to_string(&report).unwrap().contains("2 runs compared"));
    assert!(job.join("train.py").is_file() && job.join("initial_adapter/adapter_config.json").is_file());
    assert!(!dir.join("no-model").exists());
}
