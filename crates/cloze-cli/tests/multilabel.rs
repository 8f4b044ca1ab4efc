//! End to end: `cloze multilabel` on the tiny RoBERTa checkpoint: thresholds calibrated on
//! labelled rows, predictions, metrics recomputed from the output, the `datasets` folder, errors.

#[path = "common/repo_cli.rs"]
mod repo_cli;

use std::path::PathBuf;

use repo_cli::{cloze, model, text};

const LABELS: [&str; 3] = ["film", "food", "travel"];

fn data(dir: &std::path::Path) -> PathBuf {
    let rows = [
        ("A gorgeous film with a great cast", "film"),
        ("The soup was terrible and the bread stale", "food"),
        ("Our trip to the coast; the hotel food was good", "travel;food"),
        ("A dull movie about a long train journey", "film;travel"),
        ("Great pasta, bad service", "food"),
        ("The flight was awful", "travel"),
        ("The film festival served great food", "film;food"),
        ("A bad road trip movie", "film;travel"),
    ];
    let mut text = String::from("text\tlabel\n");
    for (t, l) in rows {
        text.push_str(&format!("{t}\t{l}\n"));
    }
    let path = dir.join("ml.tsv");
    std::fs::write(&path, text).unwrap();
    path
}

/// `cloze multilabel --model (the fixture) --labels film,food,travel --input INPUT` and `extra`.
fn multilabel(input: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let model = model();
    let labels = LABELS.join(",");
    let mut args = vec![
        "multilabel",
        "--model",
        model.to_str().unwrap(),
        "--labels",
        &labels,
        "--input",
        input.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    cloze(&args)
}

#[test]
fn multilabel_calibrates_thresholds_and_reports_metrics() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-multilabel");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let input = data(&dir);
    let (out_path, hf) = (dir.join("p.jsonl"), dir.join("hf"));
    let out = multilabel(
        &input,
        &[
            "--yes-no",
            r#"{"no": ["bad"], "yes": ["good"]}"#,
            "--fit",
            input.to_str().unwrap(),
            "--output",
            out_path.to_str().unwrap(),
            "--hf-output",
            hf.to_str().unwrap(),
        ],
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&out_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 8);
    // Thresholds as printed; each row's labels are those at or above its label's threshold.
    let thresholds: Vec<f64> = LABELS
        .iter()
        .map(|l| {
            let line = stderr.lines().find(|s| s.trim_start().starts_with(l) && s.contains("(F1")).unwrap();
            line.split_whitespace().nth(1).unwrap().parse().unwrap()
        })
        .collect();
    let (mut tp, mut pred, mut gold, mut exact) = (0, 0, 0, 0);
    for row in &rows {
        let predicted: Vec<&str> =
            row["labels"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let truth: Vec<&str> = row["label"].as_str().unwrap().split(';').collect();
        for (l, t) in LABELS.iter().zip(&thresholds) {
            let p = row["probs"][l].as_f64().unwrap();
            // The printed threshold is rounded to 3 decimals.
            if (p - t).abs() > 1e-3 {
                assert_eq!(predicted.contains(l), p >= *t, "{row}");
            }
        }
        tp += predicted.iter().filter(|l| truth.contains(l)).count();
        pred += predicted.len();
        gold += truth.len();
        let mut a = predicted.clone();
        let mut b = truth.clone();
        a.sort();
        b.sort();
        exact += usize::from(a == b);
    }
    let micro = 2.0 * tp as f64 / (pred + gold) as f64;
    let want = format!("micro-F1 {micro:.4}");
    assert!(stderr.contains(&want), "{want}: {stderr}");
    assert!(stderr.contains(&format!("subset accuracy {:.4}", exact as f64 / 8.0)), "{stderr}");
    // The datasets folder: indices of the predicted labels, and a Sequence of ClassLabel.
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(hf.join("dataset_info.json")).unwrap()).unwrap();
    assert_eq!(info["features"]["labels"]["_type"], "Sequence");
    assert_eq!(info["features"]["labels"]["feature"]["names"], serde_json::json!(LABELS));
    let first: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(hf.join("data.jsonl")).unwrap().lines().next().unwrap())
            .unwrap();
    let names: Vec<&str> =
        rows[0]["labels"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let idx: Vec<usize> = names.iter().map(|n| LABELS.iter().position(|l| l == n).unwrap()).collect();
    assert_eq!(first["labels"], serde_json::json!(idx));
}

#[test]
fn multilabel_refuses_bad_input_before_scoring() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-multilabel-bad");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let input = data(&dir);
    let model = model();
    let cases: [(&[&str], &str); 4] = [
        (&["--labels", "film,food"], "label \"travel\" is not one of the labels"),
        (&["--labels", "film,food,travel", "--template", "{text_a} {mask}"], "no {label}"),
        (&["--labels", "film,food,travel", "--thresholds", "0.5,0.5"], "3 labels"),
        (
            &["--labels", "film,food,travel", "--yes-no", r#"{"n": ["bad"], "y": ["good"]}"#],
            "\"no\" and \"yes\"",
        ),
    ];
    for (extra, want) in cases {
        let mut args =
            vec!["multilabel", "--model", model.to_str().unwrap(), "--input", input.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = cloze(&args);
        let stderr = text(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(want) && !stderr.contains("panicked"),
            "{want}: {stderr}"
        );
    }
}

/// `--label-words`: one prompt per row, each label scored by its class probability (the scores
/// of a row sum to 1), thresholds calibrated the same way.
#[test]
fn multilabel_with_label_words_asks_once_per_row() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-multilabel-words");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let input = data(&dir);
    let out_path = dir.join("p.jsonl");
    let words = r#"{"film": ["great"], "food": ["good"], "travel": ["bad"]}"#;
    let out = multilabel(
        &input,
        &[
            "--label-words",
            words,
            "--template",
            "{text_a} It was {mask}.",
            "--fit",
            input.to_str().unwrap(),
            "--output",
            out_path.to_str().unwrap(),
        ],
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("micro-F1") && stderr.contains("thresholds calibrated on 8"), "{stderr}");
    for line in std::fs::read_to_string(&out_path).unwrap().lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let sum: f64 = LABELS.iter().map(|l| row["probs"][l].as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-5, "{row}");
    }
    let out = multilabel(&input, &["--label-words", words]);
    assert!(text(&out.stderr).contains("needs a --template without {label}"), "{}", text(&out.stderr));
}

/// `cloze tune --multi-label` on the same rows: the probe and fine-tuning train with the per-label
/// binary loss, print the multi-label dev metrics and thresholds, keep the settings in the run's
/// config, and `classify --prompt RUN` predicts label sets and scores them.
#[test]
fn tune_multi_label_trains_and_classifies_label_sets() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-tune-multilabel");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let input = data(&dir);
    let model = model();
    let words = r#"{"film": ["film"], "food": ["food"], "travel": ["travel"]}"#;
    let cases: [(&str, &[&str]); 2] = [
        ("probe", &["--epochs", "5", "--thresholds", "half"]),
        ("finetune", &["--epochs", "1", "--template", "{text_a} It is about {mask}.", "--verbalizer", words]),
    ];
    for (strategy, extra) in cases {
        let run = dir.join(strategy);
        let mut args = vec![
            "tune",
            "--strategy",
            strategy,
            "--model",
            model.to_str().unwrap(),
            "--train",
            input.to_str().unwrap(),
            "--dev",
            input.to_str().unwrap(),
            "--multi-label",
            "--labels",
            "film,food,travel",
            "--out",
            run.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = cloze(&args);
        let err = text(&out.stderr);
        assert!(out.status.success(), "{strategy}: {err}");
        assert!(err.contains("micro-F1") && err.contains("subset accuracy"), "{strategy}: {err}");
        assert!(err.contains("thresholds (") && err.contains("travel ≥"), "{strategy}: {err}");
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["multi_label"]["labels"], serde_json::json!(["film", "food", "travel"]));
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
        let ml = &summary["final_metrics"]["multi_label"];
        assert!(
            ml["micro_f1"].as_f64().is_some() && ml["thresholds"].as_array().unwrap().len() == 3,
            "{summary}"
        );
        assert!(summary["final_metrics"]["accuracy"].is_null());

        let preds = dir.join(format!("{strategy}.jsonl"));
        let out = cloze(&[
            "classify",
            "--prompt",
            run.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            preds.to_str().unwrap(),
        ]);
        let err = text(&out.stderr);
        assert!(out.status.success(), "{strategy}: {err}");
        assert!(err.contains("8 labelled rows: micro-F1"), "{strategy}: {err}");
        for line in std::fs::read_to_string(&preds).unwrap().lines() {
            let p: serde_json::Value = serde_json::from_str(line).unwrap();
            let predicted = p["predicted"].as_str().unwrap();
            assert!(predicted.split(';').filter(|l| !l.is_empty()).all(|l| LABELS.contains(&l)), "{line}");
        }
    }

    // Refused: a label outside --labels (naming the row), --thresholds without --multi-label.
    let bad = dir.join("bad.tsv");
    std::fs::write(&bad, "text\tlabel\nsome text\tfilm;sport\nmore\tfood\n").unwrap();
    let m = model.to_str().unwrap();
    let runs = [
        (
            vec!["--train", bad.to_str().unwrap(), "--multi-label", "--labels", "film,food,travel"],
            "\"sport\"",
        ),
        (vec!["--train", input.to_str().unwrap(), "--thresholds", "half"], "add --multi-label"),
    ];
    for (extra, needle) in runs {
        let out_dir = dir.join("refused");
        let mut args = vec!["tune", "--strategy", "probe", "--model", m, "--out", out_dir.to_str().unwrap()];
        args.extend(extra);
        let out = cloze(&args);
        let err = text(&out.stderr);
        assert!(!out.status.success() && err.contains(needle), "{needle}: {err}");
    }
}
