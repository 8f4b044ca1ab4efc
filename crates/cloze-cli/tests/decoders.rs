//! End to end: the `cloze` binary on the tiny decoder fixtures — zero-shot classification with the
//! label word read after the text before `{mask}` (scored exactly, as transformers does), and greedy
//! generation equal to transformers' `generate`; prompted continued pretraining with each family's
//! own objective.

use std::path::PathBuf;
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn cloze(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cloze")).args(args).current_dir(repo()).output().expect("run cloze")
}

fn reference(name: &str) -> serde_json::Value {
    let p = repo().join("tests/fixtures/parity").join(name).join("reference.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn a_decoder_classifies_with_the_exact_word_scores() {
    for fixture in ["llama", "qwen2"] {
        let model = format!("tests/fixtures/parity/{fixture}");
        let out = cloze(&[
            "classify",
            "--model",
            &model,
            "--input",
            "samples/reviews.csv",
            "--template",
            "{text_a} It was {mask}!",
            "--verbalizer",
            r#"{"negative": ["terrible"], "positive": ["great", "fantastic"]}"#,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{fixture}: {stderr}");
        let rows: Vec<serde_json::Value> =
            String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(rows.len(), 16, "{fixture}: one prediction per row");
        for row in &rows {
            let sum: f64 = row["probs"].as_object().unwrap().values().map(|p| p.as_f64().unwrap()).sum();
            assert!((sum - 1.0).abs() < 1e-5);
            // "fantastic" is several tokens: its per-token log-probabilities are reported.
            let lp = row["label_word_logits"]["fantastic"].as_array().unwrap();
            assert!(lp.len() > 1 && lp.iter().all(|x| x.as_f64().unwrap() < 0.0), "{row}");
        }
        assert!(stderr.contains("accuracy"), "{fixture}: metrics on stderr: {stderr}");
    }
}

#[test]
fn generate_matches_transformers_greedy_ids() {
    let r = reference("llama");
    let g = &r["generation"];
    let out = cloze(&[
        "generate",
        "--model",
        "tests/fixtures/parity/llama",
        g["prompt"].as_str().unwrap(),
        "--max-new-tokens",
        "8",
        "--json",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["ids"], g["new_ids"], "greedy ids");
    assert_eq!(got["prompt_tokens"].as_u64().unwrap() as usize, g["input_ids"].as_array().unwrap().len());
}

#[test]
fn generation_refuses_a_masked_lm_and_bad_options() {
    let cases: [(&[&str], &str); 3] = [
        (&["generate", "-m", "tests/fixtures/parity/roberta", "hello"], "needs a decoder"),
        (&["generate", "-m", "tests/fixtures/parity/llama", "hello", "--temperature", "0"], "above 0"),
        (&["generate", "-m", "tests/fixtures/parity/llama", "hello", "--max-new-tokens", "0"], "at least 1"),
    ];
    for (args, want) in cases {
        let out = cloze(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(want), "{args:?}: {stderr}");
    }
}

/// `cloze tune --strategy soft-prompt` for one epoch on samples/reviews.csv.
fn tune_soft_prompt(model: &str, out_dir: &std::path::Path, template: &str, verbalizer: &str) -> Output {
    let _ = std::fs::remove_dir_all(out_dir);
    cloze(&[
        "tune",
        "--strategy",
        "soft-prompt",
        "--out",
        out_dir.to_str().unwrap(),
        "--model",
        model,
        "--train",
        "samples/reviews.csv",
        "--template",
        template,
        "--verbalizer",
        verbalizer,
        "--epochs",
        "1",
    ])
}

#[test]
fn a_decoder_tunes_a_soft_prompt() {
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("decoder-soft-prompt");
    let _ = std::fs::remove_dir_all(&out_dir);
    let out = tune_soft_prompt(
        "tests/fixtures/parity/llama",
        &out_dir,
        "{soft:4} {text_a} It was {mask}!",
        r#"{"negative": ["terrible"], "positive": ["great", "fantastic"]}"#,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out_dir.join("prompt.safetensors").is_file());
    let back = cloze(&["classify", "--prompt", out_dir.to_str().unwrap(), "--input", "samples/reviews.csv"]);
    assert!(back.status.success(), "{}", String::from_utf8_lossy(&back.stderr));
}

/// `cloze tune --strategy pretrain` trains a decoder with the causal-LM objective and T5 with span
/// corruption, and writes a model folder that `cloze inspect` and `cloze classify` load.
#[test]
fn decoders_and_t5_pretrain_with_their_own_objective_into_a_loadable_model_folder() {
    let verbalizer = r#"{"negative": ["terrible"], "positive": ["great", "fantastic"]}"#;
    for (fixture, objective) in [("llama", "causal LM"), ("t5", "span corruption"), ("bart", "denoising")] {
        let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("pretrain-{fixture}"));
        let _ = std::fs::remove_dir_all(&out_dir);
        let model = format!("tests/fixtures/parity/{fixture}");
        let out = cloze(&[
            "tune",
            "--strategy",
            "pretrain",
            "--out",
            out_dir.to_str().unwrap(),
            "--model",
            &model,
            "--train",
            "samples/reviews.csv",
            "--dev-fraction",
            "0.25",
            "--template",
            "{text_a} It was {mask}.",
            "--verbalizer",
            verbalizer,
            "--epochs",
            "2",
            "--lr",
            "3e-3",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{fixture}: {stderr}");
        assert!(stderr.contains(&format!("{}/model", out_dir.display())), "{fixture}: {stderr}");
        let model_dir = out_dir.join("model");
        let inspect = cloze(&["inspect", "--model", model_dir.to_str().unwrap()]);
        let text = String::from_utf8_lossy(&inspect.stdout);
        assert!(inspect.status.success(), "{fixture}: {}", String::from_utf8_lossy(&inspect.stderr));
        assert!(text.contains(&format!("pretraining  {objective}")), "{fixture}: {text}");
        let classify = cloze(&[
            "classify",
            "--model",
            model_dir.to_str().unwrap(),
            "--input",
            "samples/reviews.csv",
            "--template",
            "{text_a} It was {mask}.",
            "--verbalizer",
            verbalizer,
        ]);
        assert!(classify.status.success(), "{fixture}: {}", String::from_utf8_lossy(&classify.stderr));
        assert_eq!(String::from_utf8_lossy(&classify.stdout).lines().count(), 16, "{fixture}");
    }
}

#[test]
fn decoder_benchmarks_run_as_bench_py_measures_them() {
    let model = "tests/fixtures/parity/llama";
    for head in ["last", "full"] {
        let out = cloze(&[
            "bench",
            "infer",
            "-m",
            model,
            "--batch",
            "2",
            "--seq-len",
            "8",
            "--head",
            head,
            "--warmup",
            "0",
            "--reps",
            "1",
            "--json",
        ]);
        assert!(out.status.success(), "{head}: {}", String::from_utf8_lossy(&out.stderr));
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["case"], "clm_infer");
        assert_eq!(r["head"], head);
        assert!(
            r["throughput_median"].as_f64().unwrap() > 0.0 && r["gflop_per_iter"].as_f64().unwrap() > 0.0
        );
        assert!(r["cpu"].as_str().is_some_and(|c| !c.is_empty()), "the CPU is printed with the figure: {r}");
    }
    // The masked-LM head makes no sense on a decoder, and `last` none on a masked LM.
    let out = cloze(&["bench", "infer", "-m", model, "--head", "mask", "--reps", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--head full"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = cloze(&[
        "bench",
        "tune",
        "--case",
        "prompt-tuning-step-peft",
        "-m",
        model,
        "--batch",
        "2",
        "--seq",
        "8",
        "--soft",
        "3",
        "--warmup",
        "0",
        "--reps",
        "4",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["case"], "prompt_tuning_step_peft");
    assert_eq!(r["trainable_params"], 3 * 32, "only the soft prompt trains: {r}");
    let (first, last) = (r["loss_first"].as_f64().unwrap(), r["loss_last"].as_f64().unwrap());
    assert!(last < first, "four AdamW steps on one batch lower the causal-LM loss: {first} → {last}");

    // Generation speed with the key/value cache and without: the same greedy tokens.
    for extra in [&[][..], &["--no-cache"][..]] {
        let mut args =
            vec!["bench", "generate", "-m", model, "--max-new-tokens", "4", "--warmup", "0", "--reps", "1"];
        args.extend_from_slice(extra);
        let out = cloze(&args);
        assert!(out.status.success(), "{extra:?}: {}", String::from_utf8_lossy(&out.stderr));
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["cache"], extra.is_empty());
        assert!(r["tokens_per_s_median"].as_f64().unwrap() > 0.0, "{r}");
    }
    // A quantised GGUF file: generation block by block, or on weights dequantised when loaded.
    let gguf = "tests/fixtures/parity/gguf-llama/model-q8_0.gguf";
    for (extra, weights) in [(&[][..], "quantised"), (&["--dequantise"][..], "f32")] {
        let mut args =
            vec!["bench", "generate", "-m", gguf, "--max-new-tokens", "4", "--warmup", "0", "--reps", "1"];
        args.extend_from_slice(extra);
        let out = cloze(&args);
        assert!(out.status.success(), "{extra:?}: {}", String::from_utf8_lossy(&out.stderr));
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["weights"], weights, "{r}");
    }
    // Zero repetitions measure nothing: refused, not a panic.
    for case in [&["tune", "--case", "prompt-tuning-step-peft"][..], &["infer", "--head", "last"][..]] {
        let mut args = vec!["bench"];
        args.extend_from_slice(case);
        args.extend_from_slice(&["-m", model, "--reps", "0"]);
        let out = cloze(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("at least 1"), "{args:?}");
    }
    let t5 = "tests/fixtures/parity/t5";
    let out = cloze(&["bench", "generate", "-m", t5, "--no-cache", "--reps", "1", "--warmup", "0"]);
    assert_eq!(out.status.code(), Some(1), "--no-cache is for decoders");
}

#[test]
fn classify_and_generate_take_the_chat_flag() {
    // The tiny Qwen2 checkpoint with SmolLM2's chat template (ChatML) in its tokenizer_config.json.
    let model = "tests/fixtures/chat/qwen2-chatml";
    let args = |chat: &[&'static str]| {
        let mut a = vec![
            "classify",
            "--model",
            model,
            "--input",
            "samples/reviews.csv",
            "--template",
            "{text_a} Positive or negative? {mask}",
            "--verbalizer",
            r#"{"negative": ["negative"], "positive": ["positive"]}"#,
        ];
        a.extend_from_slice(chat);
        a
    };
    let plain = cloze(&args(&[]));
    let chat = cloze(&args(&["--chat", "--system", "Answer in one word."]));
    assert!(chat.status.success(), "{}", String::from_utf8_lossy(&chat.stderr));
    assert!(plain.status.success());
    let probs = |o: &Output| -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["probs"].clone())
            .collect()
    };
    assert_eq!(probs(&chat).len(), 16);
    assert_ne!(probs(&chat), probs(&plain), "the chat wrapper changes what the model reads");

    let generated = cloze(&["generate", "--model", model, "--chat", "--max-new-tokens", "3", "--json", "Hi"]);
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));

    // A model without a chat template: the flag to leave out.
    let out = cloze(&[
        "classify",
        "--model",
        "tests/fixtures/parity/llama",
        "--input",
        "samples/reviews.csv",
        "--template",
        "{text_a} It was {mask}",
        "--verbalizer",
        r#"{"negative": ["bad"], "positive": ["good"]}"#,
        "--chat",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("has no chat template in tokenizer_config.json")
            && stderr.contains("leave out --chat"),
        "{stderr}"
    );
    // --system needs --chat.
    assert_eq!(cloze(&args(&["--system", "x"])).status.code(), Some(2));
}

#[test]
fn a_decoder_takes_demonstrations_before_the_mask_only() {
    let classify = |template: &str| {
        cloze(&[
            "classify",
            "--model",
            "tests/fixtures/parity/llama",
            "--input",
            "samples/reviews.csv",
            "--template",
            template,
            "--verbalizer",
            "samples/sentiment.verbalizer.json",
            "--demos",
            "samples/reviews.csv",
        ])
    };
    let after = classify("{text_a} It was {mask}. {demo}");
    assert_eq!(after.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&after.stderr);
    assert!(stderr.contains("put the demonstrations first"), "{stderr}");
    let before = classify("{demo} {text_a} It was {mask}.");
    assert!(before.status.success(), "{}", String::from_utf8_lossy(&before.stderr));
    assert_eq!(String::from_utf8_lossy(&before.stdout).lines().count(), 16);
    let stderr = String::from_utf8_lossy(&before.stderr);
    assert!(
        stderr.contains("demos: 2 × ≈") && stderr.contains("tokens per row"),
        "the budget is shown: {stderr}"
    );
}

/// A quantised GGUF file is held as stored for inference (`cloze inspect` says how much memory,
/// and what tuning will take), classifies, and tunes a soft prompt after telling the user that
/// tuning dequantises it.
#[test]
fn a_quantised_gguf_runs_on_its_blocks_and_tuning_says_what_dequantising_takes() {
    let file = "tests/fixtures/parity/gguf-llama/model-q4_0.gguf";
    let out = cloze(&["inspect", "--model", file]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("held as stored (Q4_0); tuning dequantises them to f32"),
        "inspect names the quantisation and memory: {text}"
    );
    let json = cloze(&["inspect", "--model", file, "--json"]);
    let info: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let (held, full) = (info["weight_bytes"].as_u64().unwrap(), info["dequantised_bytes"].as_u64().unwrap());
    assert!(held < full, "{held} of {full}");
    let classify = cloze(&[
        "classify",
        "--model",
        file,
        "--input",
        "samples/reviews.csv",
        "--template",
        "{text_a} It was {mask}",
        "--verbalizer",
        r#"{"negative": ["terrible"], "positive": ["great"]}"#,
    ]);
    assert!(classify.status.success(), "{}", String::from_utf8_lossy(&classify.stderr));
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gguf-q4-soft-prompt");
    let _ = std::fs::remove_dir_all(&out_dir);
    let tune = tune_soft_prompt(
        file,
        &out_dir,
        "{soft:4} {text_a} It was {mask}",
        r#"{"negative": ["terrible"], "positive": ["great"]}"#,
    );
    assert!(tune.status.success(), "{}", String::from_utf8_lossy(&tune.stderr));
    let stderr = String::from_utf8_lossy(&tune.stderr);
    assert!(stderr.contains("stored as Q4_0; tuning dequantises them to f32"), "{stderr}");
}

/// A row's demonstrations depend on the seed and its id only (so the app, which fills a few preview
/// rows or a labelling run's batches, gives a row the demonstrations `cloze classify` gives it):
/// classified alone, the row scores as it does within the whole file.
#[test]
fn a_rows_demonstrations_are_the_same_alone_and_in_the_whole_file() {
    let dir = std::env::temp_dir().join(format!("cloze-demo-alone-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let whole = std::fs::read_to_string(repo().join("samples/reviews.csv")).unwrap();
    let mut lines = whole.lines();
    let one = dir.join("one.csv");
    std::fs::write(&one, format!("{}\n{}\n", lines.next().unwrap(), lines.nth(4).unwrap())).unwrap();
    let classify = |input: &str| {
        let out = cloze(&[
            "classify",
            "--model",
            "tests/fixtures/parity/llama",
            "--input",
            input,
            "--template",
            "{demo} {text_a} It was {mask}.",
            "--verbalizer",
            "samples/sentiment.verbalizer.json",
            "--demos",
            "samples/reviews.csv",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect::<Vec<_>>()
    };
    let all = classify("samples/reviews.csv");
    let alone = classify(one.to_str().unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(alone.len(), 1);
    let row: serde_json::Value = serde_json::from_str(&alone[0]).unwrap();
    let in_file: serde_json::Value = serde_json::from_str(&all[4]).unwrap();
    assert_eq!((&row["id"], &row["predicted"]), (&in_file["id"], &in_file["predicted"]));
    for class in ["negative", "positive"] {
        let (a, b) = (row["probs"][class].as_f64().unwrap(), in_file["probs"][class].as_f64().unwrap());
        // Equal but for the batch's padding (other demonstrations would move them far more).
        assert!((a - b).abs() < 1e-5, "row 5 alone scores as in the whole file: {class} {a} vs {b}");
    }
}
