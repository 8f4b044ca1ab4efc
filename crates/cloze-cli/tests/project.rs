//! End to end: a project from the CLI — new, import, label (scripted keys), status, export; two
//! labelling processes of one annotator; files that are not projects. The kill tests are in
//! `kill.rs`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use cloze::store::Store;

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn cloze(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cloze"))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned() + &stderr
}

#[test]
fn project_import_label_status_export() {
    let d = dir("project-flow");
    let p = d.join("reviews.cloze");
    let p = p.to_str().unwrap();
    ok(&cloze(&["project", "new", p], ""));
    let err = cloze(&["project", "new", p], "");
    assert!(String::from_utf8_lossy(&err.stderr).contains("already exists"));
    let out = ok(&cloze(
        &[
            "project",
            "import",
            p,
            "samples/reviews.csv",
            "--name",
            "reviews",
            "--classes",
            "negative,positive",
            "--label-set",
            "sentiment",
        ],
        "",
    ));
    assert!(out.contains("imported 16 rows into dataset \"reviews\""), "{out}");
    // ann: negative, positive, skip, undo the skip, positive, undo it, negative; then quit.
    let out = ok(&cloze(
        &["label", p, "--label-set", "sentiment", "--annotator", "ann"],
        "1\n2\ns\nu\n2\nu\n1\nq\n",
    ));
    assert_eq!(
        out.lines().filter(|l| l.starts_with("saved ")).collect::<Vec<_>>(),
        ["saved 1 negative", "saved 2 positive", "saved 3 positive", "saved 3 negative"]
    );
    // bob labels the same three rows, disagreeing on the second.
    ok(&cloze(&["label", p, "--label-set", "sentiment", "--annotator", "bob"], "1\n1\n1\nq\n"));
    let status = ok(&cloze(&["project", "status", p], ""));
    assert!(status.contains("human   negative 5, positive 1"), "{status}");
    assert!(status.contains("agreement of 2 annotators on 3 rows"), "{status}");
    assert!(status.contains("1 rows disagree"), "{status}");
    // p_o = 2/3; ann neg 2 pos 1, bob neg 3 → p_e = 2/3 → kappa 0
    assert!(status.contains("Cohen's kappa 0.000"), "{status}");
    let review = ok(&cloze(&["project", "disagreements", p, "--label-set", "sentiment"], ""));
    assert!(review.contains("row 2: Dull, overlong and completely forgettable."), "{review}");
    assert!(
        review.contains("ann              positive") && review.contains("bob              negative"),
        "{review}"
    );
    assert!(review.contains("1 of 3 rows labelled by several annotators disagree"), "{review}");
    let csv = d.join("labels.csv");
    ok(&cloze(
        &[
            "export",
            "labels",
            p,
            "--label-set",
            "sentiment",
            "-o",
            csv.to_str().unwrap(),
            "--annotator",
            "ann",
        ],
        "",
    ));
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(text.starts_with("id,split,text_a,text_b,label,source,confidence,annotator,created_at,run_id"));
    let hf = d.join("labels.jsonl");
    ok(&cloze(
        &[
            "export",
            "labels",
            p,
            "--label-set",
            "sentiment",
            "-o",
            hf.to_str().unwrap(),
            "--format",
            "hf-jsonl",
        ],
        "",
    ));
    let first: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&hf).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(first["label"], 0);
    assert_eq!(first["label_text"], "negative");
    let added = ok(&cloze(&["project", "add-model", p, "tests/fixtures/parity/distilbert"], ""));
    assert!(
        added.contains("model 1: tests/fixtures/parity/distilbert (distilbert, 0.1 M parameters) recorded"),
        "{added}"
    );
    let again = ok(&cloze(&["project", "add-model", p, "tests/fixtures/parity/distilbert"], ""));
    assert!(again.contains("model 1:"), "the same files are recorded once: {again}");
    let bad = cloze(&["project", "add-model", p, "samples"], "");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("config.json"));
    let err = cloze(&["label", p, "--strategy", "margin", "--label-set", "sentiment"], "");
    assert!(String::from_utf8_lossy(&err.stderr).contains("model's suggestions"));
}

/// `cloze export labels p.cloze -o p.cloze` once overwrote the project with a CSV header. Now
/// the project (however spelled) is refused even with --force, and any other existing file needs
/// --force.
#[test]
fn export_never_overwrites_the_open_project() {
    let d = dir("export-safety");
    let p = d.join("reviews.cloze");
    let p = p.to_str().unwrap();
    ok(&cloze(&["project", "new", p], ""));
    ok(&cloze(&["project", "import", p, "samples/reviews.csv"], ""));
    let before = std::fs::read(p).unwrap();
    let spelled = d.join(".").join("reviews.cloze");
    for extra in [&[][..], &["--force"][..], &["--format", "csv", "--force"][..]] {
        let mut args = vec!["export", "labels", p, "-o", spelled.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = cloze(&args, "");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("input") && stderr.contains("reviews.cloze"), "{stderr}");
    }
    assert_eq!(std::fs::read(p).unwrap(), before, "the project is untouched");
    let status = ok(&cloze(&["project", "status", p], ""));
    assert!(status.contains("16"), "the project still opens: {status}");
}

/// Export never replaces an existing file unasked: without --force it says so and names the flag;
/// with it the file is replaced whole.
#[test]
fn export_asks_before_replacing() {
    let d = dir("export-replace");
    let p = d.join("reviews.cloze");
    let p = p.to_str().unwrap();
    ok(&cloze(&["project", "new", p], ""));
    ok(&cloze(&["project", "import", p, "samples/reviews.csv"], ""));
    let csv = d.join("labels.csv");
    std::fs::write(&csv, "mine\n").unwrap();
    let out = cloze(&["export", "labels", p, "-o", csv.to_str().unwrap()], "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("already exists") && stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), "mine\n");
    ok(&cloze(&["export", "labels", p, "-o", csv.to_str().unwrap(), "--force"], ""));
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 17, "a header and 16 rows");
}

/// A `cloze label` process driven through pipes: keys in, `saved …` lines and messages out.
struct Labeller {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::sync::mpsc::Receiver<String>,
    stderr: std::sync::mpsc::Receiver<String>,
}

impl Labeller {
    fn start(project: &str, annotator: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cloze"))
            .args(["label", project, "--annotator", annotator])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = |r: Box<dyn std::io::Read + Send>| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(r).lines() {
                    if tx.send(line.unwrap().trim_end_matches('\r').to_string()).is_err() {
                        break;
                    }
                }
            });
            rx
        };
        let stdout = lines(Box::new(child.stdout.take().unwrap()));
        let stderr = lines(Box::new(child.stderr.take().unwrap()));
        Self { stdin: child.stdin.take().unwrap(), child, stdout, stderr }
    }

    /// Waits for a line containing `text` on standard error.
    fn wait_for(&self, text: &str) -> String {
        loop {
            let line = self.stderr.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
            if line.contains(text) {
                return line;
            }
        }
    }

    fn key(&mut self, key: &str) {
        writeln!(self.stdin, "{key}").unwrap();
    }
}

#[test]
fn same_annotator_in_two_processes_never_overwrites_silently() {
    let d = dir("two-labellers");
    let data = d.join("rows.csv");
    std::fs::write(&data, "id,text\nr0,first\nr1,second\nr2,third\n").unwrap();
    let p = d.join("p.cloze");
    let p = p.to_str().unwrap();
    ok(&cloze(&["project", "new", p], ""));
    ok(&cloze(&["project", "import", p, data.to_str().unwrap(), "--classes", "negative,positive"], ""));
    let mut a = Labeller::start(p, "ana");
    let mut b = Labeller::start(p, "ana");
    // Both show r0 before either decides.
    a.wait_for("──── row r0");
    b.wait_for("──── row r0");
    a.key("2");
    assert_eq!(a.stdout.recv_timeout(std::time::Duration::from_secs(30)).unwrap(), "saved r0 positive");
    b.key("1");
    let refused = b.wait_for("not saved");
    assert!(
        refused.contains("row r0 was labelled `positive` by another session of annotator `ana`")
            && refused.contains("`negative` was not saved"),
        "{refused}"
    );
    // B goes on with the next row; its decision there is saved.
    b.wait_for("──── row r1");
    b.key("1");
    assert_eq!(b.stdout.recv_timeout(std::time::Duration::from_secs(30)).unwrap(), "saved r1 negative");
    for l in [&mut a, &mut b] {
        l.key("q");
        assert!(l.child.wait().unwrap().success());
    }
    let store = Store::open(p).unwrap();
    let dataset = &store.datasets().unwrap()[0];
    let set = store.label_sets(dataset.id).unwrap().remove(0);
    let rows = store.rows(dataset.id, 0, 3).unwrap();
    let values = |row: usize| -> Vec<String> {
        store.live_labels(set.id, rows[row].id).unwrap().into_iter().map(|l| l.value).collect()
    };
    assert_eq!(values(0), ["positive"], "r0 keeps the first decision, and only it");
    assert_eq!(values(1), ["negative"]);
}

#[test]
fn foreign_or_broken_files_are_refused_by_every_command() {
    let d = dir("foreign-files");
    let empty = d.join("empty.cloze");
    std::fs::write(&empty, b"").unwrap();
    let text = d.join("notes.cloze");
    std::fs::write(&text, b"just some text, not a database at all\n").unwrap();
    // Another program's SQLite database, made by a Cloze project's own library: a project with its
    // mark removed and a table of its own, at a schema version Cloze never wrote unmarked.
    let other = d.join("other.sqlite");
    ok(&cloze(&["project", "new", other.to_str().unwrap()], ""));
    {
        let store = Store::open(&other).unwrap();
        drop(store);
    }
    let mut bytes = std::fs::read(&other).unwrap();
    bytes[68..72].copy_from_slice(&0x4142_4344u32.to_be_bytes()); // application_id "ABCD"
    std::fs::write(&other, &bytes).unwrap();
    let cases: [(&Path, &str); 3] = [
        (&empty, "empty (0 bytes)"),
        (&text, "not a SQLite database"),
        (&other, "another program's SQLite database"),
    ];
    for (file, expected) in cases {
        let before = std::fs::read(file).unwrap();
        let f = file.to_str().unwrap();
        for args in
            [vec!["project", "status", f], vec!["label", f], vec!["export", "labels", f, "-o", "x.csv"]]
        {
            let out = cloze(&args, "");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success() && stderr.contains(expected) && stderr.contains(f),
                "{args:?}: {stderr}"
            );
        }
        assert_eq!(std::fs::read(file).unwrap(), before, "{f} was modified");
    }
    let err = cloze(&["project", "new", empty.to_str().unwrap()], "");
    assert!(String::from_utf8_lossy(&err.stderr).contains("already exists"));
}

/// Runs `cloze` with standard output and standard error on a pipe whose reader is already closed
/// (`cloze … 2>&1 | head -0`): every write fails with EPIPE. Returns the exit status.
fn with_closed_pipe(args: &[&str], stdin: &str) -> Option<i32> {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = Command::new(env!("CARGO_BIN_EXE_cloze"))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait().unwrap().code()
}

/// Every subcommand that prints more than a line, with its output (results and messages) going
/// to a pipe nobody reads: a finished command exits 0 as if the reader had taken everything, a
/// failed one 1 — never 101, a panic's status.
#[test]
fn closed_pipe_never_panics() {
    let d = dir("closed-pipe");
    let p = d.join("reviews.cloze");
    let p = p.to_str().unwrap();
    let m = "tests/fixtures/parity/roberta";
    ok(&cloze(&["project", "new", p], ""));
    ok(&cloze(
        &[
            "project",
            "import",
            p,
            "samples/reviews.csv",
            "--classes",
            "negative,positive",
            "--label-set",
            "sentiment",
        ],
        "",
    ));
    ok(&cloze(&["label", p, "--label-set", "sentiment", "--annotator", "ann"], "1\n2\n1\nq\n"));
    ok(&cloze(&["label", p, "--label-set", "sentiment", "--annotator", "bob"], "2\n2\n1\nq\n"));
    let verbalizer = "samples/sentiment.verbalizer.json";
    let cases: &[(&[&str], &str, i32)] = &[
        (&["--help"], "", 0),
        (&["project", "--help"], "", 0),
        (&["--version"], "", 0),
        (&["inspect", "--model", m], "", 0),
        (&["inspect", "--model", m, "--json"], "", 0),
        (&["project", "status", p], "", 0),
        (&["project", "disagreements", p, "--label-set", "sentiment"], "", 0),
        (&["project", "import", p, "samples/reviews.csv", "--preview", "10"], "", 0),
        (&["project", "add-model", p, m], "", 0),
        (&["label", p, "--label-set", "sentiment", "--annotator", "cy"], "1\n2\n1\n2\n1\nu\nx\ns\nq\n", 0),
        (
            &[
                "classify",
                "-m",
                m,
                "-i",
                "samples/reviews.csv",
                "-t",
                "{text_a} It was {mask}.",
                "-v",
                verbalizer,
            ],
            "",
            0,
        ),
        (
            &[
                "search-words",
                "-m",
                m,
                "-i",
                "samples/reviews.csv",
                "-t",
                "{text_a} It was {mask}.",
                "--per-class",
                "3",
            ],
            "",
            0,
        ),
        (&["bench", "render", "-m", m, "--sizes", "1000,2000", "--reps", "1"], "", 0),
        (&["inspect", "--model", "samples/no-such-model"], "", 1),
        (&["classify", "--no-such-option"], "", 2),
    ];
    for (args, stdin, status) in cases {
        assert_eq!(with_closed_pipe(args, stdin), Some(*status), "cloze {}", args.join(" "));
    }
}
