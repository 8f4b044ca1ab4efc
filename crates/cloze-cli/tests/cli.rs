//! End to end: the `cloze` binary on the tiny RoBERTa checkpoint and the sample data.

#[path = "common/repo_cli.rs"]
mod repo_cli;

use std::path::PathBuf;
use std::process::Command;

use repo_cli::{cloze, model, repo, text};

#[test]
fn classify_writes_jsonl_and_reports_metrics() {
    let out_path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-preds.jsonl");
    let _ = std::fs::remove_file(&out_path);
    let model = model();
    let out = cloze(&[
        "classify",
        "--model",
        model.to_str().unwrap(),
        "--input",
        "samples/reviews.csv",
        "--template",
        "{text_a} All in all, it was {mask}.",
        "--verbalizer",
        "samples/sentiment.verbalizer.json",
        "--top-k",
        "3",
        "--output",
        out_path.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "cloze classify failed: {stderr}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 16, "one prediction per row of samples/reviews.csv");
    for (i, row) in lines.iter().enumerate() {
        assert_eq!(row["id"], (i + 1).to_string(), "rows keep file order");
        let probs = row["probs"].as_object().unwrap();
        assert_eq!(probs.keys().collect::<Vec<_>>(), ["negative", "positive"]);
        let sum: f64 = probs.values().map(|p| p.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-5, "row {i}: probabilities sum to {sum}");
        let best =
            probs.iter().max_by(|a, b| a.1.as_f64().unwrap().total_cmp(&b.1.as_f64().unwrap())).unwrap().0;
        assert_eq!(row["predicted"].as_str().unwrap(), best);
        let logits = row["label_word_logits"].as_object().unwrap();
        assert_eq!(logits.keys().collect::<Vec<_>>(), ["terrible", "bad", "great", "good"]);
        assert_eq!(row["top_words"].as_array().unwrap().len(), 3);
    }
    assert!(stderr.contains("rows 16  accuracy"), "{stderr}");
    assert!(stderr.contains("macro-F1"), "{stderr}");
    assert!(stderr.contains("true\\pred"), "confusion matrix on stderr: {stderr}");
}

#[test]
fn predictions_are_the_same_with_calibration_off_twice_and_change_with_it_on() {
    let model = model();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "classify",
            "--model",
            model.to_str().unwrap(),
            "--input",
            "samples/reviews.csv",
            "--template",
            "{text_a} It was {mask}.",
            "--verbalizer",
            r#"{"negative": "terrible", "positive": "great"}"#,
            "--batch-size",
            "5",
        ];
        args.extend_from_slice(extra);
        let out = cloze(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let a = run(&[]);
    assert_eq!(a, run(&[]), "deterministic");
    assert_ne!(a, run(&["--calibrate"]), "calibration changes the probabilities");
}

#[test]
fn inspect_prints_family_and_special_tokens() {
    let out = cloze(&["inspect", "--model", model().to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for needle in
        ["family       roberta", "layers       2", "mask         <mask> (480)", "pad          <pad> (1)"]
    {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    let json = cloze(&["inspect", "--model", model().to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["family"], "roberta");
    assert_eq!(v["has_lm_head"], true);
}

/// `cloze devices` names the CPU and says why the GPU backends are not there, in text and JSON. In
/// a CUDA build on a machine without the driver, CUDA is unavailable for the missing library
/// instead (scripts/cuda-env.sh checks that build).
#[test]
fn devices_name_the_cpu_and_say_why_a_gpu_is_unavailable() {
    let out = cloze(&["devices"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("cpu      available    "), "{stdout}");
    assert!(lines[1].starts_with("cuda:0   unavailable  "), "{stdout}");
    assert!(
        lines[2].starts_with("metal:0  unavailable  device: this build has no Metal support"),
        "{stdout}"
    );
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap();
    if cpu.split_whitespace().any(|w| w == "avx2") {
        assert!(lines[0].contains("avx2"), "the CPU's extensions are listed: {stdout}");
    }
    let json = cloze(&["devices", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v[0]["device"], "cpu");
    assert_eq!(v[0]["available"], true);
    assert_eq!(v[1]["device"], "cuda:0");
    assert_eq!(v[1]["available"], false);
    let reason = v[1]["reason"].as_str().unwrap();
    assert!(
        reason.contains("this build has no CUDA support")
            || reason.contains("libcuda.so.1 could not be loaded"),
        "{reason}"
    );
}

/// `cloze bench gradcheck` compares a masked LM's gradients with finite differences on the chosen
/// device (scripts/gpu-check.sh runs it on CUDA) and refuses a decoder with the reason.
#[test]
fn gradcheck_passes_on_an_encoder_and_refuses_a_decoder() {
    let out = cloze(&["bench", "gradcheck", "--model", "tests/fixtures/parity/bert", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["device"], "cpu");
    assert!(v["worst_relative_error"].as_f64().unwrap() < 1e-4, "{v}");
    assert_eq!(v["weights_with_gradient"], v["weights"], "{v}");
    assert!(v["checked"].as_u64().unwrap() >= 10, "{v}");
    let out = cloze(&["bench", "gradcheck", "--model", "tests/fixtures/parity/llama"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("the gradient check takes a masked LM"), "{}", text(&out.stderr));
}

/// ALBERT (an encoder with factorised embeddings) and Gemma 3 (a decoder) load through the
/// registry, and classify reads the label word where each family reads it.
#[test]
fn albert_and_gemma3_are_inspected_and_classify() {
    for (fixture, family, kind, template) in [
        ("albert", "albert", "encoder", "{text_a} All in all, it was {mask}."),
        ("gemma3", "gemma3", "decoder", "{text_a} All in all, it was {mask}"),
    ] {
        let m = repo().join("tests/fixtures/parity").join(fixture);
        let json = cloze(&["inspect", "--model", m.to_str().unwrap(), "--json"]);
        assert!(json.status.success(), "{fixture}: {}", text(&json.stderr));
        let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!((v["family"].as_str(), v["kind"].as_str()), (Some(family), Some(kind)), "{fixture}");
        let out_path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{fixture}.jsonl"));
        let _ = std::fs::remove_file(&out_path);
        let out = cloze(&[
            "classify",
            "-m",
            m.to_str().unwrap(),
            "-i",
            "samples/reviews.csv",
            "-t",
            template,
            "-v",
            "samples/sentiment.verbalizer.json",
            "--output",
            out_path.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{fixture}: {}", text(&out.stderr));
        let rows = std::fs::read_to_string(&out_path).unwrap();
        let inputs = std::fs::read_to_string(repo().join("samples/reviews.csv")).unwrap();
        assert_eq!(rows.lines().count(), inputs.lines().count() - 1, "{fixture}: one prediction per row");
    }
}

#[test]
fn bad_input_gets_a_clear_error() {
    let model = model();
    let m = model.to_str().unwrap();
    let verbalizer = r#"{"negative": "terrible", "positive": "great"}"#;
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "classify",
                "-m",
                m,
                "-i",
                "samples/reviews.csv",
                "-t",
                "{text_a} It was great.",
                "-v",
                verbalizer,
            ],
            "template has no {mask}",
        ),
        (
            vec![
                "classify",
                "-m",
                m,
                "-i",
                "samples/reviews.csv",
                "-t",
                "{txt_a} It was {mask}.",
                "-v",
                verbalizer,
            ],
            "text_a",
        ),
        (
            vec!["classify", "-m", m, "-i", "samples/missing.csv", "-t", "{text_a} {mask}", "-v", verbalizer],
            "missing.csv",
        ),
        // Checked before the model loads (this "model" is no model) and before any row is scored.
        (
            vec![
                "classify",
                "-m",
                "samples",
                "-i",
                "samples/reviews.csv",
                "-t",
                "{text_a} {mask}",
                "-v",
                r#"{"0": "terrible", "1": "great"}"#,
            ],
            "samples/reviews.csv: row 1: labels in the data (\"negative\", \"positive\") are not classes of the verbalizer",
        ),
        (
            vec![
                "classify",
                "-m",
                "samples",
                "-i",
                "samples/reviews.csv",
                "-t",
                "{text_a} {mask}",
                "-v",
                verbalizer,
            ],
            "config.json",
        ),
        (vec!["inspect", "-m", m, "--device", "cuda"], "--features cuda"),
    ];
    for (args, fragment) in cases {
        let out = cloze(&args);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(stderr.contains(fragment), "{args:?}: expected {fragment:?} in {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn models_in_the_hugging_face_cache_are_used_by_repo_id() {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-hf-cache");
    let _ = std::fs::remove_dir_all(&root);
    let work = root.join("incoming");
    std::fs::create_dir_all(&work).unwrap();
    let cache = cloze::hub::Cache::new(root.join("hub"));
    let commit = "89abcdef0123456789abcdef0123456789abcdef";
    for (i, entry) in std::fs::read_dir(model()).unwrap().enumerate() {
        let entry = entry.unwrap();
        let tmp = work.join(entry.file_name());
        std::fs::copy(entry.path(), &tmp).unwrap();
        cache
            .store_file(
                "org/tiny-roberta",
                commit,
                &entry.file_name().to_string_lossy(),
                &format!("etag{i}"),
                &tmp,
            )
            .unwrap();
    }
    cache.write_ref("org/tiny-roberta", "main", commit).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_cloze"))
            .args(args)
            .env("HF_HUB_CACHE", root.join("hub"))
            .current_dir(repo())
            .output()
            .unwrap()
    };
    let out = run(&["inspect", "--model", "org/tiny-roberta"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("family       roberta"));
    let out = run(&["hub", "list"]);
    assert!(
        text(&out.stdout).contains("org/tiny-roberta") && text(&out.stdout).contains("89abcde (main)"),
        "{}",
        text(&out.stdout)
    );
    let out = run(&["inspect", "--model", "org/absent"]);
    assert!(text(&out.stderr).contains("is not in the Hugging Face cache"), "{}", text(&out.stderr));
    let out = run(&["hub", "rm", "org/tiny-roberta"]);
    assert!(out.status.success() && text(&out.stderr).contains("removed org/tiny-roberta"));
    let out = run(&["hub", "list"]);
    assert!(text(&out.stderr).contains("no models in"));
}

/// `cloze tune --strategy STRATEGY` on the sample reviews with a quarter held out for dev.
fn sample_tune<'a>(strategy: &'a str, model: &'a str) -> Vec<&'a str> {
    vec![
        "tune",
        "--strategy",
        strategy,
        "--model",
        model,
        "--train",
        "samples/reviews.csv",
        "--dev-fraction",
        "0.25",
        "--verbalizer",
        "samples/sentiment.verbalizer.json",
    ]
}

/// `cloze tune` for each strategy on the sample reviews, then `cloze classify --prompt RUN_DIR`.
#[test]
fn tune_each_strategy_then_classify_with_the_run() {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-tune");
    let _ = std::fs::remove_dir_all(&tmp);
    let model = model();
    let cases: [(&str, &[&str]); 4] = [
        ("soft-prompt", &["--template", "{soft:4} {text_a} It was {mask}.", "--epochs", "2"]),
        ("finetune", &["--template", "{text_a} It was {mask}.", "--epochs", "1", "--lr", "1e-3"]),
        ("pretrain", &["--template", "{text_a} It was {mask}.", "--epochs", "1"]),
        ("probe", &["--epochs", "5"]),
    ];
    for (strategy, extra) in cases {
        let run = tmp.join(strategy);
        let mut args = sample_tune(strategy, model.to_str().unwrap());
        args.extend_from_slice(&["--batch-size", "4", "--out", run.to_str().unwrap()]);
        args.extend_from_slice(extra);
        let out = cloze(&args);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "cloze tune --strategy {strategy} failed: {stderr}");
        assert!(stderr.contains("done:"), "{stderr}");
        for f in ["config.json", "metrics.jsonl", "summary.json"] {
            assert!(run.join(f).is_file(), "{strategy}: no {f}");
        }
        if strategy == "pretrain" {
            assert!(run.join("model/model.safetensors").is_file());
            continue;
        }
        let out = cloze(&["classify", "--prompt", run.to_str().unwrap(), "--input", "samples/reviews.csv"]);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "classify --prompt {strategy}: {stderr}");
        assert_eq!(text(&out.stdout).lines().count(), 16, "{strategy}");
        assert!(stderr.contains("accuracy"), "{stderr}");
    }
    // Reusing a run folder without --resume is refused with the fix.
    let again = cloze(&[
        "tune",
        "--strategy",
        "probe",
        "--model",
        model.to_str().unwrap(),
        "--train",
        "samples/reviews.csv",
        "--out",
        tmp.join("probe").to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("--resume"), "{}", text(&again.stderr));
    // A soft prompt with no {soft} and a manual verbalizer has nothing to train: refused before
    // the model loads or a run folder is made.
    let nothing = tmp.join("nothing");
    let mut args = sample_tune("soft-prompt", model.to_str().unwrap());
    args.extend_from_slice(&["--template", "{text_a} It was {mask}.", "--out", nothing.to_str().unwrap()]);
    let out = cloze(&args);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("nothing to train"), "{}", text(&out.stderr));
    assert!(!nothing.exists(), "a refused run left {}", nothing.display());
    // --estimate: the predicted cost on stdout, no run folder; a finished run says what it took.
    let estimated = tmp.join("estimated");
    let mut args = sample_tune("soft-prompt", model.to_str().unwrap());
    args.extend_from_slice(&[
        "--template",
        "{soft:2} {text_a} It was {mask}.",
        "--epochs",
        "2",
        "--estimate",
    ]);
    let est = cloze(&args);
    let stdout = text(&est.stdout);
    assert!(est.status.success(), "{}", text(&est.stderr));
    assert!(
        stdout.starts_with("estimate for soft-prompt on this machine: 12 training rows, 4 dev rows"),
        "{stdout}"
    );
    for needle in ["updates ×", "3 evaluations on the dev rows", "memory ", "measured 5 updates of batch 8"]
    {
        assert!(stdout.contains(needle), "{needle}: {stdout}");
    }
    assert!(!estimated.exists());
    let took = text(
        &cloze(&[
            "tune",
            "--strategy",
            "probe",
            "--model",
            model.to_str().unwrap(),
            "--train",
            "samples/reviews.csv",
            "--epochs",
            "2",
            "--out",
            estimated.to_str().unwrap(),
        ])
        .stderr,
    );
    assert!(took.contains("in all (") && took.contains("peak memory"), "{took}");
    let _ = std::fs::remove_dir_all(&tmp);
}

/// `cloze search-words` prints a verbalizer; `classify` fills `{demo}` from `--demos`.
#[test]
fn search_words_and_demonstrations() {
    let model = model();
    let m = model.to_str().unwrap();
    let out = cloze(&[
        "search-words",
        "--model",
        m,
        "--input",
        "samples/reviews.csv",
        "--template",
        "{text_a} It was {mask}.",
        "--per-class",
        "3",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 2, "{v}");
    assert!(text(&out.stderr).contains("positive:"));

    let args = [
        "classify",
        "--model",
        m,
        "--input",
        "samples/reviews.csv",
        "--template",
        "{text_a} It was {mask}. {demo}",
        "--verbalizer",
        "samples/sentiment.verbalizer.json",
    ];
    let missing = cloze(&args);
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("--demos FILE"), "{}", text(&missing.stderr));
    let mut with = args.to_vec();
    with.extend(["--demos", "samples/reviews.csv", "--demos-select", "similar"]);
    let out = cloze(&with);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 16);
}

/// The macro-F1 a tuning run reports on its dev rows is the one `cloze classify --prompt` reports on
/// the same rows: one definition (every class of the label set counts). The dev rows here are all
/// positive, so a definition over the classes present would differ.
#[test]
fn tune_and_classify_report_the_same_macro_f1() {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-macro-f1");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let reviews = std::fs::read_to_string(repo().join("samples/reviews.csv")).unwrap();
    let mut lines = reviews.lines();
    let mut dev = vec![lines.next().unwrap().to_string()];
    dev.extend(lines.filter(|l| l.ends_with(",positive")).map(String::from));
    assert!(dev.len() > 3, "the sample has positive rows");
    let dev_file = tmp.join("dev.csv");
    std::fs::write(&dev_file, dev.join("\n") + "\n").unwrap();
    let run = tmp.join("run");
    let macro_f1 = |stderr: &str, marker: &str| -> String {
        let line = stderr
            .lines()
            .find(|l| l.contains(marker))
            .unwrap_or_else(|| panic!("no {marker:?} in {stderr}"));
        line.split("macro-F1 ").nth(1).unwrap_or_else(|| panic!("no macro-F1 in {line:?}")).trim().to_string()
    };
    let out = cloze(&[
        "tune",
        "--strategy",
        "finetune",
        "--model",
        model().to_str().unwrap(),
        "--train",
        "samples/reviews.csv",
        "--dev",
        dev_file.to_str().unwrap(),
        "--template",
        "{text_a} It was {mask}.",
        "--verbalizer",
        "samples/sentiment.verbalizer.json",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--out",
        run.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let tuned = macro_f1(&stderr, "dev (");
    let out = cloze(&["classify", "--prompt", run.to_str().unwrap(), "--input", dev_file.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let classified = macro_f1(&stderr, "accuracy");
    assert_eq!(tuned, classified, "tune and classify disagree on the same dev rows");
    let _ = std::fs::remove_dir_all(&tmp);
}

/// A template that reads columns by name (`{before} {mask} {after}`) needs no `--text-column`.
#[test]
fn template_fields_read_columns_of_the_same_name() {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-template-fields");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let input = tmp.join("cloze.jsonl");
    std::fs::write(
        &input,
        "{\"before\": \"The film was\", \"after\": \", truly.\", \"label\": \"positive\"}\n\
         {\"before\": \"The plot was\", \"after\": \" and slow.\", \"label\": \"negative\"}\n",
    )
    .unwrap();
    let out = cloze(&[
        "classify",
        "--model",
        model().to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--template",
        "{before} {mask}{after}",
        "--verbalizer",
        "samples/sentiment.verbalizer.json",
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(text(&out.stdout).lines().count(), 2, "{stderr}");
    assert!(stderr.contains("rows 2  accuracy"), "{stderr}");
    // Without a template naming them, two text columns still need --text-column.
    let out = cloze(&[
        "classify",
        "--model",
        model().to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--template",
        "{text_a} It was {mask}.",
        "--verbalizer",
        "samples/sentiment.verbalizer.json",
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("cannot tell which column holds the text"), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&tmp);
}

/// `cloze classify … | head -1`: the reader takes one line and closes the pipe; `cloze` ends
/// quietly with status 0 instead of a panic or a "Broken pipe" error. The output is larger than a
/// pipe's buffer, so the write after the close does fail.
#[test]
fn a_closed_pipe_ends_quietly_with_status_zero() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let input = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-pipe.csv");
    let mut csv = String::from("id,text,label\n");
    for i in 0..2000 {
        let label = if i % 2 == 0 { "positive" } else { "negative" };
        csv.push_str(&format!("{i},\"row {i}: a film that was fine, all things considered\",{label}\n"));
    }
    std::fs::write(&input, csv).unwrap();
    let model = model();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cloze"))
        .args([
            "classify",
            "--model",
            model.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--text-column",
            "text",
            "--label-column",
            "label",
            "--id-column",
            "id",
            "--template",
            "{text_a} It was {mask}.",
            "--verbalizer",
            r#"{"negative": "terrible", "positive": "great"}"#,
        ])
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cloze");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("{\"id\":\"0\""), "{first}");
    drop(stdout);
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "", "nothing on stderr after the reader left");
}

#[test]
fn exit_codes_tell_usage_errors_failed_work_and_success_apart() {
    let model = model();
    let m = model.to_str().unwrap();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["inspect", "--model", m], 0, ""),
        (vec!["--help"], 0, ""),
        (vec!["classify", "--no-such-option"], 2, "unexpected argument"),
        (vec!["inspect", "--model", m, "--device", "tpu"], 2, "use cpu, cuda, cuda:N or metal"),
        (vec!["tune", "--strategy", "lora", "-m", m, "--train", "x.csv", "--out", "r"], 2, "soft-prompt"),
        (vec!["project", "import", "p.cloze", "x.csv", "--encoding", "ebcdic"], 2, "latin-1"),
        (
            vec![
                "classify",
                "-m",
                m,
                "-i",
                "samples/missing.csv",
                "-t",
                "{text_a} {mask}",
                "-v",
                "[\"a\", \"b\"]",
            ],
            1,
            "missing.csv",
        ),
        (vec!["inspect", "--model", "samples/no-such-model"], 1, "no-such-model"),
    ];
    for (args, code, fragment) in cases {
        let out = cloze(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(fragment), "{args:?}: expected {fragment:?} in {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn help_lists_every_command_and_the_exit_codes() {
    let out = cloze(&["--help"]);
    let help = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for command in
        ["classify", "inspect", "project", "label", "hub", "export", "search-words", "tune", "bench"]
    {
        assert!(help.contains(&format!("\n  {command} ")), "{command} missing from:\n{help}");
    }
    for code in ["Exit status:", "  0 ", "  1 ", "  2 ", "  130 "] {
        assert!(help.contains(code), "{code:?} missing from:\n{help}");
    }
    // Options with a fixed set of values list them.
    let tune = text(&cloze(&["tune", "--help"]).stdout);
    assert!(tune.contains("soft-prompt") && tune.contains("finetune") && tune.contains("probe"), "{tune}");
}

/// `classify --input x.csv --output x.csv` once replaced its input with predictions (exit 0).
/// Now the output is checked before any work: never an input of the job (the data, the
/// demonstrations, the verbalizer file), and an existing file only with --force.
#[test]
fn classify_never_replaces_its_input() {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-no-replace");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let input = tmp.join("x.csv");
    std::fs::copy(repo().join("samples/reviews.csv"), &input).unwrap();
    let original = std::fs::read(&input).unwrap();
    let model = model();
    let run = |output: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "classify",
            "--model",
            model.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--template",
            "{text_a} It was {mask}.",
            "--verbalizer",
            "samples/sentiment.verbalizer.json",
            "--output",
            output.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        cloze(&args)
    };
    // The input, however it is spelled, even with --force.
    let same = tmp.join(".").join("x.csv");
    for extra in [&[][..], &["--force"][..]] {
        let out = run(&same, extra);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("input") && stderr.contains("x.csv"), "{stderr}");
        assert_eq!(std::fs::read(&input).unwrap(), original, "the input is untouched");
    }
    // The verbalizer file is an input too.
    let verbalizer = repo().join("samples/sentiment.verbalizer.json");
    let before = std::fs::read(&verbalizer).unwrap();
    let out = run(&verbalizer, &["--force"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&verbalizer).unwrap(), before);

    // Another existing file: refused without --force (naming it), replaced with it.
    let preds = tmp.join("preds.jsonl");
    std::fs::write(&preds, "keep me\n").unwrap();
    let out = run(&preds, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("already exists") && stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&preds).unwrap(), "keep me\n");
    let out = run(&preds, &["--force"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&preds).unwrap().lines().count(), 16);
    // Nothing but the files named above: no temporary file left beside them.
    let mut names: Vec<String> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["preds.jsonl", "x.csv"]);
}

/// `cloze tune --seeds`: one run folder per seed with the rows it used, the spread of the dev
/// metrics in seeds.json (checked against the runs' own summaries), the same numbers again for the
/// same seeds, and a resumed job that keeps the finished seeds.
#[test]
fn tune_over_seeds_reports_the_spread_and_repeats_exactly() {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-seeds");
    let _ = std::fs::remove_dir_all(&tmp);
    let model = model();
    let go = |dir: &str, seeds: &str, extra: &[&str]| {
        let out_dir = tmp.join(dir);
        let mut args = sample_tune("soft-prompt", model.to_str().unwrap());
        args.extend_from_slice(&[
            "--template",
            "{soft:2} {text_a} It was {mask}.",
            "--epochs",
            "2",
            "--batch-size",
            "4",
            "--shots",
            "4",
            "--seeds",
            seeds,
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        args.extend_from_slice(extra);
        let out = cloze(&args);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out_dir.join("seeds.json")).unwrap()).unwrap();
        (out_dir, summary, stderr)
    };
    let (a, first, stderr) = go("a", "13,21,42", &[]);
    assert!(stderr.contains("over 3 seeds: accuracy") && stderr.contains(" ± "), "{stderr}");
    let accs: Vec<f64> = first["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metrics"]["accuracy"].as_f64().unwrap())
        .collect();
    let mut samples = Vec::new();
    for (k, seed) in [13, 21, 42].iter().enumerate() {
        let run = a.join(format!("seed-{seed}"));
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["final_metrics"]["accuracy"].as_f64().unwrap(), accs[k]);
        let train = std::fs::read_to_string(run.join("train.jsonl")).unwrap();
        assert_eq!(train.lines().count(), 8, "4 rows per class");
        samples.push(train);
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["hyper"]["seed"], *seed);
    }
    assert!(samples[0] != samples[1] && samples[1] != samples[2], "each seed draws its own sample");
    let mean = accs.iter().sum::<f64>() / 3.0;
    let sd = (accs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    assert!((first["accuracy"]["mean"].as_f64().unwrap() - mean).abs() < 1e-12);
    assert!((first["accuracy"]["sd"].as_f64().unwrap() - sd).abs() < 1e-12);
    assert_eq!(first["resampled"], true);

    // The same seeds again: the same numbers.
    let (_, again, _) = go("b", "13,21,42", &[]);
    let strip = |v: &serde_json::Value| {
        let mut v = v.clone();
        for r in v["runs"].as_array_mut().unwrap() {
            r.as_object_mut().unwrap().remove("wall_seconds");
        }
        v
    };
    assert_eq!(strip(&first), strip(&again));

    // Resumed with one more seed: the finished ones are read back, not run again.
    let stamp = std::fs::metadata(a.join("seed-13/summary.json")).unwrap().modified().unwrap();
    let (_, more, _) = go("a", "13,21,42,87", &["--resume"]);
    assert_eq!(std::fs::metadata(a.join("seed-13/summary.json")).unwrap().modified().unwrap(), stamp);
    assert_eq!(more["runs"].as_array().unwrap().len(), 4);
    assert_eq!(strip(&more)["runs"][0], strip(&first)["runs"][0]);

    // Without --resume the folder is refused; a seed given twice is refused.
    let c = tmp.join("c");
    let mut args = sample_tune("probe", model.to_str().unwrap());
    args.extend_from_slice(&["--seeds", "1,1", "--out", c.to_str().unwrap()]);
    let out = cloze(&args);
    assert!(text(&out.stderr).contains("seed 1 is given twice"), "{}", text(&out.stderr));
}

/// `cloze search-template`: every candidate scored, best first, the starting template among them,
/// each an edit that still parses; the scores are those `classify` gives the same template.
#[test]
fn search_template_scores_every_candidate() {
    let model = model();
    let args = |extra: &[&str]| {
        let mut a = vec![
            "search-template",
            "--model",
            model.to_str().unwrap(),
            "-t",
            "{text_a} It was {mask}.",
            "-v",
            "samples/sentiment.verbalizer.json",
            "-i",
            "samples/reviews.csv",
            "--rounds",
            "1",
        ];
        a.extend_from_slice(extra);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        cloze(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let out = run(&["--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let found: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(found.len() > 5, "{found:?}");
    let score =
        |c: &serde_json::Value| (c["accuracy"].as_f64().unwrap(), c["mean_log_prob"].as_f64().unwrap());
    assert!(found.windows(2).all(|w| score(&w[0]) >= score(&w[1])), "best first");
    let start = found.iter().find(|c| c["round"] == 0).unwrap();
    assert_eq!(start["template"], "{text_a} It was {mask}.");
    // The best candidate's accuracy is what `classify` reports for it.
    let best = found[0]["template"].as_str().unwrap();
    let out = cloze(&[
        "classify",
        "--model",
        model.to_str().unwrap(),
        "-t",
        best,
        "-v",
        "samples/sentiment.verbalizer.json",
        "-i",
        "samples/reviews.csv",
    ]);
    let want = format!("accuracy {:.4}", found[0]["accuracy"].as_f64().unwrap());
    assert!(text(&out.stderr).contains(&want), "{want}: {}", text(&out.stderr));
}

/// `cloze generate-templates`: T5 (the tiny fixture) writes templates, the RoBERTa fixture scores
/// them; every candidate is a classification template, best first, with the accuracy `classify`
/// gives it; the same command again gives the same list; a generator that is not T5 is refused,
/// naming the families that can generate.
#[test]
fn generate_templates_scores_every_candidate() {
    let model = model();
    let t5 = repo().join("tests/fixtures/parity/t5");
    let run = |generator: &std::path::Path, extra: &[&str]| {
        let mut a = vec![
            "generate-templates",
            "--model",
            model.to_str().unwrap(),
            "--generator",
            generator.to_str().unwrap(),
            "-v",
            "samples/sentiment.verbalizer.json",
            "-i",
            "samples/reviews.csv",
            "--beam",
            "6",
            "--max-span-tokens",
            "4",
        ];
        a.extend_from_slice(extra);
        cloze(&a)
    };
    let out = run(&t5, &["--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let found: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!found.is_empty());
    let score =
        |c: &serde_json::Value| (c["accuracy"].as_f64().unwrap(), c["mean_log_prob"].as_f64().unwrap());
    assert!(found.windows(2).all(|w| score(&w[0]) >= score(&w[1])), "best first");
    for c in &found {
        let t = c["template"].as_str().unwrap();
        assert!(t.contains("{mask}") && t.contains("{text_a}") && !t.contains("extra_id"), "{t}");
        assert!(["text-first", "mask-first"].contains(&c["placement"].as_str().unwrap()));
    }
    let again = run(&t5, &["--json"]);
    assert_eq!(again.stdout, out.stdout, "deterministic");
    let best = found[0]["template"].as_str().unwrap();
    let out = cloze(&[
        "classify",
        "--model",
        model.to_str().unwrap(),
        "-t",
        best,
        "-v",
        "samples/sentiment.verbalizer.json",
        "-i",
        "samples/reviews.csv",
    ]);
    let want = format!("accuracy {:.4}", found[0]["accuracy"].as_f64().unwrap());
    assert!(text(&out.stderr).contains(&want), "{want}: {}", text(&out.stderr));
    // The table: a header and one line per candidate, at most --top.
    let out = run(&t5, &["--top", "2"]);
    let table = text(&out.stdout);
    assert!(table.starts_with("rank accuracy"), "{table}");
    assert_eq!(table.lines().count(), 1 + found.len().min(2), "{table}");
    // RoBERTa cannot generate.
    let out = run(&model, &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("roberta cannot generate templates") && err.contains("families learned: t5"),
        "{err}"
    );
}
