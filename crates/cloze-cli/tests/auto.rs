//! `cloze tune --strategy auto` on the tiny RoBERTa checkpoint (it has its masked-LM head) and the
//! sample reviews: the choice follows the template and the budget, is the same every time, and the
//! run keeps it with its reasons.

#[path = "common/repo_cli.rs"]
mod repo_cli;

use std::path::PathBuf;

use repo_cli::{cloze, model, text};

/// `cloze tune --strategy auto` with `extra`; the run's config and stderr.
fn auto(name: &str, extra: &[&str]) -> (serde_json::Value, String) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-auto").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let model = model();
    let mut args = vec!["tune", "--strategy", "auto", "--model", model.to_str().unwrap()];
    args.extend(["--train", "samples/reviews.csv", "--verbalizer", "samples/sentiment.verbalizer.json"]);
    args.extend(["--epochs", "1", "--max-steps", "2", "--out", dir.to_str().unwrap()]);
    args.extend(extra);
    let out = cloze(&args);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{name}: {stderr}");
    let config = serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    (config, stderr)
}

#[test]
fn auto_chooses_from_the_template_and_the_budget_and_keeps_why() {
    // A {mask} template on a model with its LM head: prompt-based fine-tuning.
    let (config, stderr) = auto("mask", &["--template", "{text_a} It was {mask}."]);
    assert_eq!(config["strategy"], "finetune");
    assert_eq!(config["auto"]["strategy"], "finetune");
    let reasons = config["auto"]["reasons"].as_array().unwrap();
    assert!(reasons[0].as_str().unwrap().contains("prompt-based fine-tuning (LM-BFF)"), "{reasons:?}");
    assert!(
        stderr.contains("auto chose finetune:") && stderr.contains("  - the model reads label words"),
        "{stderr}"
    );
    // The same command, the same choice.
    let (again, _) = auto("mask-again", &["--template", "{text_a} It was {mask}."]);
    assert_eq!(again["auto"], config["auto"]);

    // {soft} in the template: a soft prompt.
    let (soft, _) = auto("soft", &["--template", "{soft:2} {text_a} It was {mask}."]);
    assert_eq!(soft["strategy"], "soft-prompt");

    // No template: no label word to read; 8 rows per class → contrastive pairs.
    let (pairs, stderr) = auto("none", &[]);
    assert_eq!(pairs["strategy"], "contrastive", "{stderr}");
    assert!(stderr.contains("no template with {mask}"), "{stderr}");
    // At 8 rows per class auto also sets the pairs: 20 per row, not just the unique ones.
    assert_eq!(pairs["contrastive"]["iterations"], 20, "{}", pairs["contrastive"]);
    assert_eq!(pairs["auto"]["contrastive_iterations"], 20);
    assert!(stderr.contains("20 positive and 20 negative pairs per row"), "{stderr}");

    // With dev rows auto tries the probe beside its choice, keeps its choice unless the dev rows
    // show the probe better beyond their noise, and says what it tried; the candidates are gone.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-auto").join("trials");
    let (tried, stderr) =
        auto("trials", &["--template", "{text_a} It was {mask}.", "--dev-fraction", "0.25"]);
    assert!(stderr.contains("auto: trying probe too"), "{stderr}");
    let last = tried["auto"]["reasons"].as_array().unwrap().last().unwrap().as_str().unwrap().to_string();
    assert!(last.starts_with("tried finetune (") && last.contains("and probe ("), "{last}");
    assert!(
        stderr.contains(&format!("auto {last}")) || stderr.contains("auto kept probe instead"),
        "{stderr}"
    );
    assert_eq!(tried["strategy"], tried["auto"]["strategy"]);
    assert!(dir.join("summary.json").is_file() && !dir.join("candidates").exists());

    // A budget the estimate exceeds: the probe, and the estimate beside the budget in the reasons.
    let (cut, stderr) = auto("budget", &["--template", "{text_a} It was {mask}.", "--budget", "0.001"]);
    assert_eq!(cut["strategy"], "probe", "{stderr}");
    let last = cut["auto"]["reasons"].as_array().unwrap().last().unwrap().as_str().unwrap().to_string();
    assert!(last.starts_with("finetune was estimated at") && last.contains("over the budget"), "{last}");

    // --budget without auto, or not a positive number: refused before anything trains.
    let model = model();
    let m = model.to_str().unwrap();
    for (strategy, budget, want) in
        [("probe", "60", "--budget applies to --strategy auto only"), ("auto", "0", "positive number")]
    {
        let out = cloze(&[
            "tune",
            "--strategy",
            strategy,
            "--model",
            m,
            "--train",
            "samples/reviews.csv",
            "--budget",
            budget,
            "--out",
            "/nonexistent/x",
        ]);
        assert!(!out.status.success() && text(&out.stderr).contains(want), "{}", text(&out.stderr));
    }
}
