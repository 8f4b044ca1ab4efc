//! End to end: `cloze ensemble fit` and `cloze classify --ensemble` on the tiny RoBERTa checkpoint
//! and the sample reviews. The ensemble's probabilities are checked against the members' own
//! `cloze classify` output, combined by hand.

#[path = "common/repo_cli.rs"]
mod repo_cli;

use std::path::{Path, PathBuf};

use repo_cli::{cloze, model, text};

const MEMBERS: [(&str, &str, &str); 3] = [
    (
        "all in all",
        "{text_a} All in all, it was {mask}.",
        r#"{"negative": ["terrible", "bad"], "positive": ["great", "good"]}"#,
    ),
    ("it was", "{text_a} It was {mask}.", r#"{"positive": ["good"], "negative": ["bad"]}"#),
    ("review", "Review: {text_a} Sentiment: {mask}", r#"{"negative": ["awful"], "positive": ["excellent"]}"#),
];

fn members_file(dir: &Path) -> PathBuf {
    let list: Vec<serde_json::Value> = MEMBERS
        .iter()
        .map(|(name, template, verbalizer)| {
            serde_json::json!({
                "name": name,
                "template": template,
                "verbalizer": serde_json::from_str::<serde_json::Value>(verbalizer).unwrap(),
            })
        })
        .collect();
    let path = dir.join("members.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&list).unwrap()).unwrap();
    path
}

fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn prob(row: &serde_json::Value, class: &str) -> f64 {
    row["probs"][class].as_f64().unwrap()
}

/// `cloze ensemble fit` of the members file on the sample reviews; the run's stderr.
fn fit(model: &str, members: &Path, weighting: &str, ens: &Path) -> String {
    let out = cloze(&[
        "ensemble",
        "fit",
        "--model",
        model,
        "--members",
        members.to_str().unwrap(),
        "--input",
        "samples/reviews.csv",
        "--weighting",
        weighting,
        "--folds",
        "4",
        "--output",
        ens.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    stderr
}

/// `cloze classify --ensemble` on the sample reviews; the rows written and stderr.
fn classify_with(model: &str, ens: &Path, preds: &Path) -> (Vec<serde_json::Value>, String) {
    let out = cloze(&[
        "classify",
        "--model",
        model,
        "--input",
        "samples/reviews.csv",
        "--ensemble",
        ens.to_str().unwrap(),
        "--output",
        preds.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    (jsonl(preds), stderr)
}

/// A fresh scratch folder under the test target's temporary folder.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The members fitted by dev accuracy into `dir/e.json`: the model's path, the ensemble file and
/// its `classify --ensemble` rows on the sample reviews.
fn fitted_by_dev_accuracy(dir: &Path) -> (String, PathBuf, Vec<serde_json::Value>) {
    let members = members_file(dir);
    let model = model().to_str().unwrap().to_string();
    let ens = dir.join("e.json");
    fit(&model, &members, "dev-accuracy", &ens);
    let (rows, _) = classify_with(&model, &ens, &dir.join("ens.jsonl"));
    (model, ens, rows)
}

#[test]
fn ensemble_fit_and_classify_combine_the_members_outputs() {
    let dir = scratch("cli-ensemble");
    let members = members_file(&dir);
    let model = model();
    let model = model.to_str().unwrap();

    // Each member on its own.
    let mut alone = Vec::new();
    for (k, (_, template, verbalizer)) in MEMBERS.iter().enumerate() {
        let out_path = dir.join(format!("member{k}.jsonl"));
        let out = cloze(&[
            "classify",
            "--model",
            model,
            "--input",
            "samples/reviews.csv",
            "--template",
            template,
            "--verbalizer",
            verbalizer,
            "--output",
            out_path.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        alone.push(jsonl(&out_path));
    }

    for (weighting, n) in [("uniform", 0), ("dev-accuracy", 1), ("learned", 2)] {
        let ens = dir.join(format!("{weighting}.json"));
        let stderr = fit(model, &members, weighting, &ens);
        assert!(
            stderr.contains("member all in all") && stderr.contains("ensemble, learned (out-of-fold)"),
            "{stderr}"
        );
        let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&ens).unwrap()).unwrap();
        assert_eq!(saved["weighting"], weighting);
        assert_eq!(saved["model"], model, "the ensemble records the model it was fitted on");
        let fit = &saved["fit"];
        assert_eq!(fit["rows"], 16);

        let preds = dir.join(format!("{weighting}.jsonl"));
        let (rows, stderr) = classify_with(model, &ens, &preds);
        assert!(stderr.contains("members disagree on") && stderr.contains("accuracy"), "{stderr}");
        assert_eq!(rows.len(), 16);
        // Each member's accuracy as the fit reported it equals its accuracy alone.
        for (k, member) in alone.iter().enumerate() {
            let hits = member.iter().filter(|r| r["label"] == r["predicted"]).count();
            let reported = fit["members"][k].as_f64().unwrap();
            assert!((reported - hits as f64 / 16.0).abs() < 1e-12, "member {k}: {reported} vs {hits}/16");
        }
        for (i, row) in rows.iter().enumerate() {
            for (k, (name, _, _)) in MEMBERS.iter().enumerate() {
                assert_eq!(row["members"][name], alone[k][i]["predicted"], "row {i}, member {name}");
            }
            let sum = prob(row, "negative") + prob(row, "positive");
            assert!((sum - 1.0).abs() < 1e-5, "row {i}: {sum}");
            if n < 2 {
                // The weighted geometric mean of what each member said alone.
                let weights: Vec<f64> =
                    saved["weights"].as_array().unwrap().iter().map(|w| w.as_f64().unwrap()).collect();
                let score = |class: &str| -> f64 {
                    alone
                        .iter()
                        .zip(&weights)
                        .map(|(m, w)| w * prob(&m[i], class).max(1e-12).ln())
                        .sum::<f64>()
                        .exp()
                };
                let (neg, pos) = (score("negative"), score("positive"));
                let want = pos / (neg + pos);
                assert!(
                    (prob(row, "positive") - want).abs() < 1e-5,
                    "row {i}: {} vs {want}",
                    prob(row, "positive")
                );
            } else {
                // The logistic regression over the members' log-probabilities, in class order.
                let c = &saved["combiner"];
                let x: Vec<f64> = alone
                    .iter()
                    .flat_map(|m| ["negative", "positive"].map(|cl| prob(&m[i], cl).max(1e-12).ln()))
                    .collect();
                let z: Vec<f64> = (0..2)
                    .map(|k| {
                        c["bias"][k].as_f64().unwrap()
                            + c["weights"][k]
                                .as_array()
                                .unwrap()
                                .iter()
                                .zip(&x)
                                .map(|(w, x)| w.as_f64().unwrap() * x)
                                .sum::<f64>()
                    })
                    .collect();
                let want = 1.0 / (1.0 + (z[0] - z[1]).exp());
                assert!(
                    (prob(row, "positive") - want).abs() < 1e-4,
                    "row {i}: {} vs {want}",
                    prob(row, "positive")
                );
            }
        }
    }
}

#[test]
fn bad_members_files_are_refused_before_any_scoring() {
    let dir = scratch("cli-ensemble-bad");
    let model = model();
    let cases = [
        ("[]", "lists no prompt"),
        ("{\"template\": 1}", "not a list of prompts"),
        (
            r#"[{"template": "{text_a}", "verbalizer": {"negative": ["bad"], "positive": ["good"]}}]"#,
            "prompt 1",
        ),
        (
            r#"[{"template": "{text_a} {mask}", "verbalizer": {"negative": ["bad"], "positive": ["good"]}},
                {"template": "{text_a} {mask}", "verbalizer": {"neg": ["bad"], "pos": ["good"]}}]"#,
            "ensemble's classes",
        ),
        (
            r#"[{"template": "{text_a} {mask}", "verbalizer": {"0": ["bad"], "1": ["good"]}}]"#,
            "samples/reviews.csv",
        ),
    ];
    for (k, (content, want)) in cases.iter().enumerate() {
        let members = dir.join(format!("m{k}.json"));
        std::fs::write(&members, content).unwrap();
        let out = cloze(&[
            "ensemble",
            "fit",
            "--model",
            model.to_str().unwrap(),
            "--members",
            members.to_str().unwrap(),
            "--input",
            "samples/reviews.csv",
            "--output",
            dir.join("e.json").to_str().unwrap(),
        ]);
        let stderr = text(&out.stderr);
        assert!(!out.status.success() && stderr.contains(want), "case {k}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!dir.join("e.json").exists());
    }
    // A file that is not an ensemble, given to classify.
    let out = cloze(&[
        "classify",
        "--model",
        model.to_str().unwrap(),
        "--input",
        "samples/reviews.csv",
        "--ensemble",
        dir.join("m0.json").to_str().unwrap(),
    ]);
    assert!(text(&out.stderr).contains("not an ensemble file"), "{}", text(&out.stderr));
}

/// `cloze tune --distill`: the ensemble labels the unlabelled rows with its softened probabilities
/// (checked against `classify --ensemble`), the run lists them and keeps the ensemble in its config,
/// for the probe and the soft prompt.
#[test]
fn tune_distils_an_ensemble_into_a_probe_and_a_soft_prompt() {
    let dir = scratch("cli-distill");
    let (model, ens, teacher) = fitted_by_dev_accuracy(&dir);
    let model = model.as_str();
    // Four labelled rows to train on; the sample file's 16 rows, labels ignored, to pseudo-label.
    let train = dir.join("train.csv");
    let all = std::fs::read_to_string(repo_cli::repo().join("samples/reviews.csv")).unwrap();
    std::fs::write(&train, all.lines().take(5).collect::<Vec<_>>().join("\n") + "\n").unwrap();
    for (strategy, extra) in [
        ("probe", &["--epochs", "3"][..]),
        ("soft-prompt", &["--template", "{soft:2} {text_a} It was {mask}.", "--epochs", "1"][..]),
    ] {
        let run = dir.join(strategy);
        let mut args = vec![
            "tune",
            "--strategy",
            strategy,
            "--model",
            model,
            "--train",
            train.to_str().unwrap(),
            "--verbalizer",
            "samples/sentiment.verbalizer.json",
            "--distill",
            ens.to_str().unwrap(),
            "--unlabelled",
            "samples/reviews.csv",
            "--distill-temperature",
            "2",
            "--batch-size",
            "4",
            "--out",
            run.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = cloze(&args);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{strategy}: {stderr}");
        assert!(stderr.contains("labels 16 unlabelled rows"), "{stderr}");
        let pseudo = jsonl(&run.join("pseudo_labels.jsonl"));
        assert_eq!(pseudo.len(), 16);
        for (p, t) in pseudo.iter().zip(&teacher) {
            assert_eq!(p["id"], format!("unlabelled:{}", t["id"].as_str().unwrap()));
            let (n, q) = (prob(t, "negative").sqrt(), prob(t, "positive").sqrt());
            let want = q / (n + q);
            assert!((p["soft"]["positive"].as_f64().unwrap() - want).abs() < 1e-5, "{p} vs {t}");
            assert_eq!(p["label"], if want > 0.5 { "positive" } else { "negative" });
        }
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["distill"]["temperature"], 2.0);
        assert_eq!(config["distill"]["ensemble"]["weighting"], "dev-accuracy");
        assert!(run.join("summary.json").is_file());
    }
    // Unlabelled training rows without --distill are refused before the model loads.
    let unlabelled = dir.join("unlabelled.csv");
    std::fs::write(&unlabelled, "text\nfine\n").unwrap();
    let out = cloze(&[
        "tune",
        "--strategy",
        "probe",
        "--model",
        model,
        "--train",
        unlabelled.to_str().unwrap(),
        "--out",
        dir.join("x").to_str().unwrap(),
    ]);
    assert!(text(&out.stderr).contains("let an ensemble label it with --distill"), "{}", text(&out.stderr));
}

/// A data column named like the soft-label field is not read as a soft label: the run trains as on
/// the same rows without it.
#[test]
fn a_column_named_like_the_soft_label_field_is_ignored() {
    let dir = scratch("cli-soft-column");
    let all = std::fs::read_to_string(repo_cli::repo().join("samples/reviews.csv")).unwrap();
    let with: String = all
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("{l},cloze:soft\n")
            } else {
                format!("{l},\"{{\"\"negative\"\": 1.0, \"\"positive\"\": 0.0}}\"\n")
            }
        })
        .collect();
    std::fs::write(dir.join("with.csv"), with).unwrap();
    let model = model();
    let loss = |file: &str, out: &str| {
        let run = dir.join(out);
        let o = cloze(&[
            "tune",
            "--strategy",
            "probe",
            "--model",
            model.to_str().unwrap(),
            "--train",
            file,
            "--verbalizer",
            "samples/sentiment.verbalizer.json",
            "--epochs",
            "3",
            "--out",
            run.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let s: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
        s["final_train_loss"].as_f64().unwrap()
    };
    let with = dir.join("with.csv");
    assert_eq!(loss(with.to_str().unwrap(), "a"), loss("samples/reviews.csv", "b"));
}

/// Runs `cloze args` from the repository's root with `stdin` as its input.
fn cloze_with_input(args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cloze"))
        .args(args)
        .current_dir(repo_cli::repo())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run cloze");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// `cloze label --model --ensemble`: the rows still to label are scored by the ensemble in the
/// background, as a run whose suggestions are the ensemble's predictions (checked against
/// `classify --ensemble`); Enter accepts them. An ensemble with other classes than the label set's
/// is refused before the loop starts, and nothing is labelled. `cloze export ensemble` writes a
/// saved one back as the file.
#[test]
fn label_suggests_with_an_ensemble() {
    let dir = scratch("cli-label-ensemble");
    let (model, ens, preds) = fitted_by_dev_accuracy(&dir);
    let model = model.as_str();

    let project = dir.join("reviews.cloze");
    let p = project.to_str().unwrap();
    let ok = |out: std::process::Output| {
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    ok(cloze(&["project", "new", p]));
    for (set, classes) in [("sentiment", "negative,positive"), ("other", "bad,good")] {
        let mut args = vec!["project", "import", p, "samples/reviews.csv", "--classes", classes];
        args.extend(["--label-set", set, "--name", set]);
        ok(cloze(&args));
    }
    let e = ens.to_str().unwrap();

    // Other classes: refused before anything is scored or labelled.
    let out = cloze_with_input(
        &["label", p, "--dataset", "other", "--label-set", "other", "--model", model, "--ensemble", e],
        "1\n",
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("has the classes negative, positive") && stderr.contains("bad, good"),
        "{stderr}"
    );
    assert!(!text(&out.stdout).contains("saved"), "nothing is labelled");
    // A template and an ensemble at once.
    let out = cloze_with_input(
        &["label", p, "--model", model, "--ensemble", e, "--template", "{text_a} {mask}"],
        "",
    );
    assert!(!out.status.success() && text(&out.stderr).contains("--template"), "{}", text(&out.stderr));

    // Quit at once: the background run still scores its batch (all 16 rows) before the loop ends.
    ok(cloze_with_input(
        &[
            "label",
            p,
            "--label-set",
            "sentiment",
            "--dataset",
            "sentiment",
            "--model",
            model,
            "--ensemble",
            e,
        ],
        "",
    ));
    // Enter 16 times on that run's suggestions: each accepted label is the ensemble's prediction.
    let keys = "\n".repeat(16);
    let stdout = ok(cloze_with_input(
        &["label", p, "--label-set", "sentiment", "--dataset", "sentiment", "--run", "1"],
        &keys,
    ));
    let saved: Vec<(String, String)> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("saved "))
        .map(|l| {
            let (id, value) = l.split_once(' ').unwrap();
            (id.to_string(), value.to_string())
        })
        .collect();
    assert_eq!(saved.len(), 16, "{stdout}");
    for (id, value) in &saved {
        let want = preds.iter().find(|r| r["id"] == id.as_str()).unwrap_or_else(|| panic!("row {id}"));
        assert_eq!(value, want["predicted"].as_str().unwrap(), "row {id}");
    }

    // `cloze export ensemble`: an ensemble the app saved in the project, written back as the file.
    let fitted = cloze::ensemble::Ensemble::read(&ens).unwrap();
    cloze::store::Store::open(&project).unwrap().save_ensemble("mix", &fitted).unwrap();
    let out = dir.join("exported.json");
    let o = out.to_str().unwrap();
    let stderr = text(&cloze(&["export", "ensemble", p, "--name", "mix", "-o", o]).stderr);
    assert!(stderr.contains("wrote ensemble mix v1 (3 prompts"), "{stderr}");
    assert_eq!(cloze::ensemble::Ensemble::read(&out).unwrap(), fitted);
    for (args, want) in [
        (&["--name", "mix", "-o", o][..], "already exists"),
        (
            &["--name", "mix", "--version", "2", "--force", "-o", o][..],
            "no saved ensemble \"mix\" version 2; saved ensembles: mix v1",
        ),
        (&["--name", "mix", "--force", "-o", p][..], "is also this job's input"),
    ] {
        let mut all = vec!["export", "ensemble", p];
        all.extend(args);
        let out = cloze(&all);
        assert!(!out.status.success() && text(&out.stderr).contains(want), "{args:?}: {}", text(&out.stderr));
    }
    assert_eq!(cloze::ensemble::Ensemble::read(&out).unwrap(), fitted, "a refused export leaves the file");
}
