//! End to end: `cloze tune --strategy contrastive` (SetFit's method) on the tiny RoBERTa checkpoint
//! and the sample reviews: the run's files, its pair counts, classifying with the run, a seed that
//! repeats the run exactly, rendering through the template, and the options' errors.

#[path = "common/repo_cli.rs"]
mod repo_cli;

use std::path::{Path, PathBuf};

use repo_cli::{cloze, model, text};

fn tune(out: &Path, extra: &[&str]) -> std::process::Output {
    let model = model();
    let mut args = vec![
        "tune",
        "--strategy",
        "contrastive",
        "--model",
        model.to_str().unwrap(),
        "--train",
        "samples/reviews.csv",
        "--dev-fraction",
        "0.25",
        "--dropout",
        "0",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    cloze(&args)
}

fn json(path: PathBuf) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap()
}

#[test]
fn contrastive_tunes_records_its_pairs_and_classifies() {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-contrastive");
    let _ = std::fs::remove_dir_all(&tmp);
    let a = tmp.join("a");
    let out = tune(&a, &[]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // 12 training rows (16 less a quarter) of two classes: with the row paired with itself, the
    // pair counts come from the class sizes; the notice says them before training.
    let head = json(a.join("head.json"));
    let pairs = &head["pairs"];
    let config = json(a.join("config.json"));
    assert_eq!(config["strategy"], "contrastive");
    assert_eq!(config["contrastive"]["sampling"], "oversampling");
    assert_eq!(config["hyper"]["epochs"], 1);
    assert_eq!(config["hyper"]["batch_size"], 16);
    let (p, q) = (pairs["unique_positive"].as_u64().unwrap(), pairs["unique_negative"].as_u64().unwrap());
    assert_eq!(p + q, 12 * 13 / 2, "every unordered pair of the 12 rows, self pairs included");
    assert_eq!(pairs["positive"], pairs["negative"]);
    assert_eq!(pairs["positive"].as_u64().unwrap(), p.max(q));
    assert!(
        stderr.contains(&format!("{} positive and {} negative per epoch", p.max(q), p.max(q))),
        "{stderr}"
    );
    // One epoch over the pairs in batches of 16.
    let summary = json(a.join("summary.json"));
    assert_eq!(summary["steps"].as_u64().unwrap(), (2 * p.max(q)).div_ceil(16));
    assert_eq!(head["head"], "sklearn");
    assert!((head["c"].as_f64().unwrap() - 1.0).abs() < 1e-9, "{head}");
    for f in ["probe.safetensors", "classes.json", "model/model.safetensors", "model/config.json"] {
        assert!(a.join(f).is_file(), "no {f}");
    }
    // Classifying with the run gives the dev rows' predictions the run recorded.
    let classified = cloze(&["classify", "--prompt", a.to_str().unwrap(), "--input", "samples/reviews.csv"]);
    assert!(classified.status.success(), "{}", text(&classified.stderr));
    let rows: Vec<serde_json::Value> =
        text(&classified.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 16);
    let recorded = std::fs::read_to_string(a.join("dev_predictions.jsonl")).unwrap();
    for line in recorded.lines() {
        let dev: serde_json::Value = serde_json::from_str(line).unwrap();
        let row = rows.iter().find(|r| r["id"] == dev["id"]).expect("a dev row is classified");
        assert_eq!(row["predicted"], dev["predicted"], "{row} vs {dev}");
    }

    // The same seed repeats the run exactly; another seed draws other pairs.
    let b = tmp.join("b");
    assert!(tune(&b, &[]).status.success());
    let strip = |v: serde_json::Value| {
        let mut v = v;
        for k in ["seconds", "steps_per_second", "wall_seconds", "peak_bytes"] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    assert_eq!(strip(json(a.join("summary.json"))), strip(json(b.join("summary.json"))));
    assert_eq!(
        std::fs::read(a.join("probe.safetensors")).unwrap(),
        std::fs::read(b.join("probe.safetensors")).unwrap()
    );
    let losses = |dir: &Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(dir.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["loss"].clone())
            .collect()
    };
    assert_eq!(losses(&a), losses(&b), "every update's loss repeats");

    // Rendered through a template, with SetFit's num_iterations and the cross-validated head.
    let c = tmp.join("c");
    let out = tune(
        &c,
        &[
            "--template",
            "Review: {text_a}",
            "--render-template",
            "--iterations",
            "2",
            "--contrastive-head",
            "cross-validated",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let head = json(c.join("head.json"));
    assert_eq!(head["pairs"]["positive"], 24, "2 iterations × 12 rows");
    assert_eq!(head["head"], "cross-validated");
    let config = json(c.join("config.json"));
    assert_eq!(config["contrastive"]["render_template"], true);
    let classified = cloze(&["classify", "--prompt", c.to_str().unwrap(), "--input", "samples/reviews.csv"]);
    assert!(classified.status.success(), "{}", text(&classified.stderr));

    // Errors say what to change.
    let cases: [(&[&str], &str); 4] = [
        (&["--render-template"], "needs a template"),
        (&["--template", "{soft:2} {text_a}", "--render-template"], "{soft}"),
        (&["--iterations", "0"], "at least 1"),
        (&["--pair-sampling", "sometimes"], "possible values"),
    ];
    for (k, (extra, needle)) in cases.iter().enumerate() {
        let out = tune(&tmp.join(format!("bad-{k}")), extra);
        assert!(!out.status.success(), "{extra:?}");
        assert!(text(&out.stderr).contains(needle), "{needle}: {}", text(&out.stderr));
        assert!(!tmp.join(format!("bad-{k}")).exists(), "no run folder for a refused run");
    }
    let model = model();
    let out = cloze(&[
        "tune",
        "--strategy",
        "probe",
        "--model",
        model.to_str().unwrap(),
        "--train",
        "samples/reviews.csv",
        "--iterations",
        "3",
        "--out",
        tmp.join("probe").to_str().unwrap(),
    ]);
    assert!(text(&out.stderr).contains("apply to --strategy contrastive only"), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&tmp);
}
