//! `cloze export prompt` (bundle, PEFT, OpenPrompt) and `cloze import prompt`, through the binary.

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
    let run = dir.join("run");
    let out = cloze(&[
        "tune",
        "--strategy",
        "soft-prompt",
        "--model",
        model().to_str().unwrap(),
        "--train",
        "samples/reviews.csv",
        "--verbalizer",
        "samples/sentiment.verbalizer.json",
        "--template",
        "{soft:4} {text_a} It was {mask}.",
        "--soft-placement",
        placement,
        "--max-steps",
        "2",
        "--batch-size",
        "4",
        "--out",
        run.to_str().unwrap(),
    ]);
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
