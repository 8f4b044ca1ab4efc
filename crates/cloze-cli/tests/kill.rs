//! Kill tests: the `cloze` binary killed with SIGKILL (no destructor, no flush, no clean shutdown)
//! at random moments of `project import` and of `cloze label`, then the project opened again.
//! Import: no half-imported dataset is ever visible (status, export, the labelling queue), and
//! importing again under the same name gives exactly the rows of an uninterrupted import.
//! Labelling: every label confirmed before the kill is in the file. The delays come from a seeded
//! RNG, so a failure repeats.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cloze::data::SplitMix64;
use cloze::store::Store;

/// Rows of the import file: enough that a debug build takes well over half a second to import.
const ROWS: usize = 40_000;

fn dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn cloze(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cloze")).args(args).stdin(Stdio::null()).output().unwrap()
}

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned() + &stderr
}

/// A labelled CSV with some repeated texts (duplicates are part of what an import records).
fn data_file(dir: &Path) -> PathBuf {
    let path = dir.join("reviews.csv");
    let mut csv = String::from("id,text,label\n");
    for i in 0..ROWS {
        let label = if i % 3 == 0 { "negative" } else { "positive" };
        csv.push_str(&format!(
            "r{i},\"review {}: the film was, all things considered, fine\",{label}\n",
            i % 35_000
        ));
    }
    std::fs::write(&path, csv).unwrap();
    path
}

/// A labelled row as a reader sees it: id, split, text, label, the label's source.
type Row = (String, String, String, String, String);

/// Everything an import put in the project, as readers see it: each dataset by name, with its
/// rows in file order.
fn snapshot(project: &str) -> Vec<(String, Vec<Row>)> {
    let store = Store::open(project).unwrap();
    let mut all = Vec::new();
    for d in store.datasets().unwrap() {
        assert_eq!(d.status, "ready", "a reader saw dataset {:?} while {}", d.name, d.status);
        let mut rows = Vec::new();
        for set in store.label_sets(d.id).unwrap() {
            store
                .with_labelled_rows(&set, |it| {
                    rows.extend(it.map(|r| (r.ext_id, r.split, r.text_a, r.label, r.source)));
                    Ok(())
                })
                .unwrap();
        }
        assert_eq!(rows.len() as i64, d.row_count, "dataset {:?}: every row has its label", d.name);
        all.push((d.name, rows));
    }
    all
}

#[test]
fn a_killed_import_is_never_half_visible() {
    let d = dir("kill-import");
    let data = data_file(&d);
    let data = data.to_str().unwrap();
    let empty = d.join("empty.cloze");
    ok(&cloze(&["project", "new", empty.to_str().unwrap()]));
    // The uninterrupted import, and how long it takes.
    let reference = d.join("reference.cloze");
    std::fs::copy(&empty, &reference).unwrap();
    let reference = reference.to_str().unwrap();
    let started = Instant::now();
    ok(&cloze(&["project", "import", reference, data, "--name", "train"]));
    let full = started.elapsed();
    let expected = snapshot(reference);
    assert_eq!(expected.len(), 1);
    assert_eq!(expected[0].1.len(), ROWS);
    let mut rng = SplitMix64::new(12);
    let (mut interrupted, mut finished) = (0, 0);
    for trial in 0..20 {
        let p = d.join(format!("trial-{trial}.cloze"));
        std::fs::copy(&empty, &p).unwrap();
        let p = p.to_str().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_cloze"))
            .args(["project", "import", p, data, "--name", "train"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Anywhere from start-up to just after the import would have finished.
        let delay = full.mul_f64((rng.next_u64() % 1000) as f64 / 1000.0 * 1.1);
        std::thread::sleep(delay);
        child.kill().unwrap();
        let completed = child.wait().unwrap().success();
        let status = ok(&cloze(&["project", "status", p]));
        let visible = status.contains("dataset \"train\"");
        if visible {
            assert!(status.contains(&format!("dataset \"train\": {ROWS} rows")), "trial {trial}: {status}");
            finished += 1;
        } else {
            assert!(!completed, "trial {trial}: the import finished but its dataset is not shown: {status}");
            interrupted += 1;
            // Nothing to export or to label, and the message says why.
            let csv = d.join(format!("trial-{trial}.csv"));
            let export = cloze(&["export", "labels", p, "-o", csv.to_str().unwrap()]);
            assert!(!export.status.success() && !csv.exists(), "trial {trial}: export wrote labels");
            assert!(String::from_utf8_lossy(&export.stderr).contains("no datasets yet"), "trial {trial}");
            let label = cloze(&["label", p, "--annotator", "k"]);
            assert!(String::from_utf8_lossy(&label.stderr).contains("no datasets yet"), "trial {trial}");
            // The name is free again: the same import gives exactly the uninterrupted rows.
            ok(&cloze(&["project", "import", p, data, "--name", "train"]));
        }
        assert_eq!(snapshot(p), expected, "trial {trial} (killed after {delay:?})");
    }
    eprintln!(
        "import of {ROWS} rows: {full:?} uninterrupted; {interrupted} trials killed mid-import, {finished} after it"
    );
    assert!(interrupted >= 10, "most kills land inside the import ({interrupted} of 20)");
}

#[test]
fn labels_confirmed_before_a_kill_survive() {
    let d = dir("kill-label");
    let data = d.join("rows.csv");
    let mut csv = String::from("text\n");
    for i in 0..1000 {
        csv.push_str(&format!("row number {i}\n"));
    }
    std::fs::write(&data, csv).unwrap();
    let template = d.join("template.cloze");
    let template = template.to_str().unwrap();
    ok(&cloze(&["project", "new", template]));
    ok(&cloze(&["project", "import", template, data.to_str().unwrap(), "--classes", "a,b"]));
    let mut rng = SplitMix64::new(7);
    for trial in 0..5 {
        let p = d.join(format!("trial-{trial}.cloze"));
        std::fs::copy(template, &p).unwrap();
        let p = p.to_str().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_cloze"))
            .args(["label", p, "--annotator", "k"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // More keys than will be read, so that the writer is busy when it is killed.
        let feeder = std::thread::spawn(move || {
            for i in 0..1000 {
                if writeln!(stdin, "{}", 1 + i % 2).is_err() {
                    break;
                }
            }
        });
        let wanted = 1 + (rng.next_u64() % 150) as usize;
        let extra = Duration::from_micros(rng.next_u64() % 3000);
        let mut confirmed = Vec::new();
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            confirmed.push(line.unwrap());
            if confirmed.len() == wanted {
                std::thread::sleep(extra);
                child.kill().unwrap();
                break;
            }
        }
        child.wait().unwrap();
        let _ = feeder.join();
        assert_eq!(confirmed.len(), wanted, "trial {trial}");
        let store = Store::open(p).unwrap();
        let dataset = &store.datasets().unwrap()[0];
        let set = store.label_sets(dataset.id).unwrap().remove(0);
        let rows = store.rows(dataset.id, 0, 1000).unwrap();
        for line in &confirmed {
            let mut parts = line.split_whitespace().skip(1);
            let (id, value) = (parts.next().unwrap(), parts.next().unwrap());
            let row = rows.iter().find(|r| r.example.id == id).unwrap();
            let live = store.live_labels(set.id, row.id).unwrap();
            assert_eq!(live.len(), 1, "trial {trial}: row {id} was confirmed but its label is missing");
            assert_eq!(live[0].value, value, "trial {trial}: row {id}");
        }
    }
}
