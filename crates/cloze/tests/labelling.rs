//! The labelling loop on a fixture with known scores: every queue strategy's order, skip, undo,
//! corrections, several annotators and their agreement, and re-scoring with a real (tiny) model.

use std::path::PathBuf;

use candle_core::Device;
use cloze::classify::{Classifier, ClassifyOptions};
use cloze::data::ImportOptions;
use cloze::label::{Queue, QueueOrder, ScoringPrompt, ScoringRun, Session, cohen_kappa, rescore};
use cloze::plm::Plm;
use cloze::store::{LabelSet, Split, Store, Suggestion};
use cloze::template::Template;
use cloze::verbalizer::Verbalizer;

/// A path of its own for each call: tests run in parallel and must not share files.
fn tmp(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("labelling-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Six rows r0..r5 and two runs with hand-chosen probabilities over (neg, pos).
fn fixture() -> (Store, LabelSet, Vec<i64>, i64, i64) {
    let data = tmp("six.csv");
    std::fs::write(&data, "text\nr0\nr1\nr2\nr3\nr4\nr5\n").unwrap();
    let mut store = Store::open_in_memory().unwrap();
    let d =
        store.import_dataset("six", &data, &ImportOptions::default(), Split::Train, &mut |_| true).unwrap();
    let set = store.create_label_set(d.dataset.id, "sentiment", &["neg".into(), "pos".into()]).unwrap();
    let rows: Vec<i64> = store.rows(d.dataset.id, 0, 10).unwrap().iter().map(|r| r.id).collect();
    let classes = set.classes.clone();
    let run_a = store.start_run("zero-shot", &serde_json::json!({}), 0, Some(set.id)).unwrap();
    let run_b = store.start_run("zero-shot", &serde_json::json!({}), 0, Some(set.id)).unwrap();
    // p(pos) per row for run A: confidence = max(p, 1-p); r2 is the least confident, then r4.
    let a = [0.95, 0.80, 0.52, 0.10, 0.40, 0.99];
    // run B agrees except on r1 and r3.
    let b = [0.90, 0.30, 0.60, 0.70, 0.35, 0.97];
    for (run, ps) in [(run_a, a), (run_b, b)] {
        let s: Vec<Suggestion> = rows
            .iter()
            .zip(ps)
            .map(|(&r, p)| Suggestion::from_probs(run, r, &classes, &[1.0 - p, p]).unwrap())
            .collect();
        store.put_suggestions(&s).unwrap();
    }
    (store, set, rows, run_a, run_b)
}

fn order(store: &Store, queue: &Queue, rows: &[i64]) -> Vec<usize> {
    // Skip through the whole queue, recording the order.
    let mut skipped = Vec::new();
    let mut out = Vec::new();
    while let Some(item) = queue.next(store, &skipped).unwrap() {
        out.push(rows.iter().position(|&r| r == item.row.id).unwrap());
        skipped.push(item.row.id);
    }
    out
}

#[test]
fn every_strategy_orders_as_expected() {
    let (store, set, rows, run_a, run_b) = fixture();
    let cases: Vec<(QueueOrder, Option<i64>, Vec<usize>)> = vec![
        (QueueOrder::FileOrder, None, vec![0, 1, 2, 3, 4, 5]),
        // confidence: r0 .95, r1 .80, r2 .52, r3 .90, r4 .60, r5 .99
        (QueueOrder::LeastConfidence, Some(run_a), vec![2, 4, 1, 3, 0, 5]),
        // margin = |2p - 1|, same order as confidence for two classes
        (QueueOrder::Margin, Some(run_a), vec![2, 4, 1, 3, 0, 5]),
        // entropy is highest where p is nearest 0.5
        (QueueOrder::Entropy, Some(run_a), vec![2, 4, 1, 3, 0, 5]),
        (QueueOrder::Disagreement { other_run: run_b }, Some(run_a), vec![1, 3]),
    ];
    for (strategy, run, expected) in cases {
        let q = Queue::new(set.clone(), strategy, run, Some("ann".into())).unwrap();
        assert_eq!(order(&store, &q, &rows), expected, "{strategy:?}");
    }
    // random: a permutation, the same for the same seed, different for another
    let random = |seed| {
        order(&store, &Queue::new(set.clone(), QueueOrder::Random { seed }, None, None).unwrap(), &rows)
    };
    let r1 = random(1);
    let mut sorted = r1.clone();
    sorted.sort();
    assert_eq!(sorted, vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(random(1), r1);
    assert!((2..20).any(|s| random(s) != r1), "other seeds give other orders");
    let err = Queue::new(set.clone(), QueueOrder::Margin, None, None).unwrap_err().to_string();
    assert!(err.contains("suggestions"), "{err}");
    assert!(QueueOrder::parse("disagreement").unwrap_err().to_string().contains("disagreement:3"));
    assert_eq!(QueueOrder::parse("random:7").unwrap(), QueueOrder::Random { seed: 7 });
}

#[test]
fn session_accepts_corrects_skips_and_undoes() {
    let (mut store, set, rows, run_a, _) = fixture();
    let q = Queue::new(set.clone(), QueueOrder::LeastConfidence, Some(run_a), Some("ann".into())).unwrap();
    let mut s = Session::new(q);
    let first = s.current(&store).unwrap().unwrap();
    assert_eq!(first.row.id, rows[2]);
    assert_eq!(first.suggestion.as_ref().unwrap().predicted, "pos");
    let l1 = s.accept(&mut store, &first).unwrap();
    let label = store.label(l1).unwrap();
    assert_eq!(
        (label.value.as_str(), label.run_id, label.annotator.as_deref()),
        ("pos", Some(run_a), Some("ann"))
    );
    assert!((label.confidence.unwrap() - 0.52).abs() < 1e-9);
    let second = s.current(&store).unwrap().unwrap();
    assert_eq!(second.row.id, rows[4]);
    s.label(&mut store, &second, 1).unwrap(); // correct: the model said neg
    let third = s.current(&store).unwrap().unwrap();
    assert_eq!(third.row.id, rows[1]);
    s.skip(&third);
    assert_eq!(s.current(&store).unwrap().unwrap().row.id, rows[3]);
    // undo the skip, then the correction, then the accept: each row comes back
    assert_eq!(s.undo(&store).unwrap(), Some(rows[1]));
    assert_eq!(s.current(&store).unwrap().unwrap().row.id, rows[1]);
    assert_eq!(s.undo(&store).unwrap(), Some(rows[4]));
    assert!(store.live_labels(set.id, rows[4]).unwrap().is_empty());
    assert_eq!(s.undo(&store).unwrap(), Some(rows[2]));
    assert!(store.live_labels(set.id, rows[2]).unwrap().is_empty());
    assert_eq!(s.undo(&store).unwrap(), None);
    assert_eq!(s.queue.remaining(&store).unwrap(), 6);
    assert!(s.label(&mut store, &first, 5).unwrap_err().to_string().contains("no class 6"));
}

#[test]
fn annotators_label_independently_and_agreement_is_computed() {
    let (mut store, set, rows, _, _) = fixture();
    let mut sessions: Vec<Session> = ["a", "b"]
        .iter()
        .map(|who| {
            Session::new(Queue::new(set.clone(), QueueOrder::FileOrder, None, Some(who.to_string())).unwrap())
        })
        .collect();
    // a: neg pos pos neg neg pos ; b: neg pos neg neg pos pos  → 4 of 6 agree
    let answers = [[0, 1, 1, 0, 0, 1], [0, 1, 0, 0, 1, 1]];
    for (s, ans) in sessions.iter_mut().zip(answers) {
        for class in ans {
            let item = s.current(&store).unwrap().unwrap();
            s.label(&mut store, &item, class).unwrap();
        }
        assert!(s.current(&store).unwrap().is_none());
    }
    let labels = store.human_labels_by_row(set.id).unwrap();
    assert_eq!(labels.len(), 12);
    let pairs: Vec<(&str, &str)> = labels.chunks(2).map(|c| (c[0].2.as_str(), c[1].2.as_str())).collect();
    let k = cohen_kappa(&pairs).unwrap();
    // p_o = 4/6; each annotator 3 neg / 3 pos → p_e = 0.5; κ = (2/3 - 1/2) / (1/2) = 1/3
    assert!((k.kappa - 1.0 / 3.0).abs() < 1e-9, "{k:?}");
    assert_eq!(rows.len(), 6);
}

#[test]
fn rescoring_writes_suggestions_the_queue_uses() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity/roberta"));
    let plm = Plm::load(&dir, &Device::Cpu).unwrap();
    let verbalizer = Verbalizer::from_json(r#"{"negative": "terrible", "positive": "great"}"#).unwrap();
    let classifier = Classifier::new(
        &plm,
        Template::parse("{text_a} It was {mask}.").unwrap(),
        &verbalizer,
        ClassifyOptions::default(),
    )
    .unwrap();
    let samples = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/reviews.csv"));
    let mut store = Store::open_in_memory().unwrap();
    let d = store
        .import_dataset("reviews", &samples, &ImportOptions::default(), Split::Train, &mut |_| true)
        .unwrap();
    let set = store.label_sets(d.dataset.id).unwrap().remove(0);
    assert_eq!(set.classes, ["positive", "negative"]);
    // Imported labels count as done: relabel a fresh set so there is something to score.
    let set = store.create_label_set(d.dataset.id, "fresh", &["negative".into(), "positive".into()]).unwrap();
    let mut seen = Vec::new();
    let run = store.start_run("zero-shot", &serde_json::json!({"template": "t"}), 0, Some(set.id)).unwrap();
    rescore(&mut store, &classifier, &set, run, 5, &mut |p| {
        seen.push(p.scored);
        true
    })
    .unwrap();
    assert_eq!(seen, [5, 10, 15, 16]);
    assert_eq!(store.run(run).unwrap().status, "finished");
    let q = Queue::new(set.clone(), QueueOrder::LeastConfidence, Some(run), None).unwrap();
    let first = q.next(&store, &[]).unwrap().unwrap();
    let s = first.suggestion.unwrap();
    // the least confident row has the lowest confidence of all 16
    let all: Vec<f64> = store
        .rows(d.dataset.id, 0, 100)
        .unwrap()
        .iter()
        .map(|r| store.suggestion(run, r.id).unwrap().unwrap().confidence)
        .collect();
    assert_eq!(all.len(), 16);
    assert!(all.iter().all(|&c| c >= s.confidence));
    // the suggestion equals what classify gives for that row
    let direct =
        classifier.classify(std::slice::from_ref(&first.row.example), &mut |_, _| true).unwrap().remove(0);
    assert!((direct.probs[1].1 as f64 - s.probs[1]).abs() < 1e-6);
    // a verbalizer that does not fit the label set is refused
    let other = store.create_label_set(d.dataset.id, "topics", &["a".into(), "b".into()]).unwrap();
    let run = store.start_run("zero-shot", &serde_json::json!({}), 0, Some(other.id)).unwrap();
    let err = rescore(&mut store, &classifier, &other, run, 5, &mut |_| true).unwrap_err();
    assert!(err.to_string().contains("not the label set's"), "{err}");
}

#[test]
fn a_scoring_run_records_its_inputs_and_scores_the_rows_to_label() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity/roberta"));
    let plm = Plm::load(&dir, &Device::Cpu).unwrap();
    let prompt = |words: &str, calibrate| ScoringPrompt {
        template: Template::parse("{text_a} It was {mask}.").unwrap(),
        verbalizer: Verbalizer::from_json(words).unwrap(),
        calibrate,
        chat: Default::default(),
    };
    let samples = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/reviews.csv"));
    let mut store = Store::open_in_memory().unwrap();
    let d = store
        .import_dataset("reviews", &samples, &ImportOptions::default(), Split::Train, &mut |_| true)
        .unwrap();
    let set = store.create_label_set(d.dataset.id, "fresh", &["negative".into(), "positive".into()]).unwrap();
    let words = r#"{"negative": "terrible", "positive": "great"}"#;
    let model = dir.to_string_lossy();

    // A prompt that cannot score the label set is refused before a run is recorded.
    let err = ScoringRun::start(&store, &set, prompt(r#"{"a": "bad", "b": "good"}"#, false), &model, "cpu")
        .unwrap_err();
    assert!(err.to_string().contains("not the label set's"), "{err}");
    let no_mask = ScoringPrompt { template: Template::parse("{text_a}").unwrap(), ..prompt(words, false) };
    assert!(ScoringRun::start(&store, &set, no_mask, &model, "cpu").is_err());
    assert!(store.runs(set.id).unwrap().is_empty());

    // Started: the queue can follow the run before a row is scored.
    let run = ScoringRun::start(&store, &set, prompt(words, true), &model, "cpu").unwrap();
    let id = run.run_id;
    let recorded = store.run(id).unwrap();
    assert_eq!((recorded.strategy.as_str(), recorded.status.as_str()), ("calibrated", "running"));
    assert_eq!(recorded.config["template"], "{text_a} It was {mask}.");
    assert_eq!(
        (recorded.config["device"].as_str(), recorded.config["calibrate"].as_bool()),
        (Some("cpu"), Some(true))
    );
    let mut last = None;
    run.score(&mut store, &plm, &mut |p| {
        last = Some((p.scored, p.total));
        true
    })
    .unwrap();
    assert_eq!(last, Some((16, 16)));
    assert_eq!(store.run(id).unwrap().status, "finished");
    assert_eq!(store.models().unwrap().len(), 1, "the run's model is recorded");
    assert_eq!(store.templates().unwrap()[0].name, "fresh", "saved under the label set's name");
    assert_eq!(store.verbalizers().unwrap().len(), 1);
    let rows = store.rows(d.dataset.id, 0, 100).unwrap();
    assert!(rows.iter().all(|r| store.suggestion(id, r.id).unwrap().is_some()));

    // A model that fails to load ends the run as failed, with the reason.
    let run = ScoringRun::start(&store, &set, prompt(words, false), "missing", "cpu").unwrap();
    let id = run.run_id;
    let err = run.fail(&store, cloze::Error::invalid("no such model")).unwrap_err();
    assert!(err.to_string().contains("no such model"));
    let failed = store.run(id).unwrap();
    assert_eq!((failed.status.as_str(), failed.error.as_deref()), ("failed", Some(err.to_string().as_str())));
}

#[test]
fn labelling_goes_on_while_a_second_connection_rescores() {
    let data = tmp("many.csv");
    let mut csv = String::from("text\n");
    for i in 0..120 {
        csv.push_str(&format!("review {i}: the film was {}\n", ["fine", "dull", "moving", "a mess"][i % 4]));
    }
    std::fs::write(&data, csv).unwrap();
    let project = tmp("concurrent.cloze");
    let _ = std::fs::remove_file(&project);
    let mut store = Store::create(&project).unwrap();
    let d =
        store.import_dataset("many", &data, &ImportOptions::default(), Split::Train, &mut |_| true).unwrap();
    let set = store.create_label_set(d.dataset.id, "s", &["negative".into(), "positive".into()]).unwrap();
    let run = store.start_run("zero-shot", &serde_json::json!({}), 0, Some(set.id)).unwrap();

    let (path, thread_set) = (project.clone(), set.clone());
    let scorer = std::thread::spawn(move || {
        let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity/roberta"));
        let plm = Plm::load(&dir, &Device::Cpu).unwrap();
        let verbalizer = Verbalizer::from_json(r#"{"negative": "terrible", "positive": "great"}"#).unwrap();
        let t = Template::parse("{text_a} It was {mask}.").unwrap();
        let classifier = Classifier::new(&plm, t, &verbalizer, ClassifyOptions::default()).unwrap();
        let mut own = Store::open(&path).unwrap();
        let mut batches = 0;
        rescore(&mut own, &classifier, &thread_set, run, 1, &mut |_| {
            batches += 1;
            true
        })
        .unwrap();
        batches
    });
    // Meanwhile: label 40 rows in file order on the first connection, each its own transaction.
    let mut session = Session::new(Queue::new(set.clone(), QueueOrder::FileOrder, Some(run), None).unwrap());
    for i in 0..40 {
        let item = session.current(&store).unwrap().unwrap();
        session.label(&mut store, &item, i % 2).unwrap();
    }
    let batches = scorer.join().unwrap();
    assert!(batches >= 80, "the scorer wrote {batches} batches");
    assert_eq!(store.run(run).unwrap().status, "finished");
    // The uncertainty queue now follows the suggestions: its first row is the least confident
    // unlabelled one.
    let q = Queue::new(set.clone(), QueueOrder::LeastConfidence, Some(run), None).unwrap();
    let first = q.next(&store, &[]).unwrap().unwrap();
    let best = first.suggestion.unwrap().confidence;
    for row in store.rows(d.dataset.id, 0, 200).unwrap() {
        if store.live_labels(set.id, row.id).unwrap().is_empty()
            && let Some(s) = store.suggestion(run, row.id).unwrap()
        {
            assert!(s.confidence >= best);
        }
    }
    assert_eq!(session.labelled(), 40);
}

/// Scoring rows (the app's "Score rows", `cloze label --model`) with `{demo}` in the template fills
/// it as `cloze classify --demos` does: the default demonstrations and seed, drawn from the label
/// set's labelled rows, so each suggestion is the classifier's prediction on the filled row.
#[test]
fn a_scoring_run_fills_demo_from_the_labelled_rows_as_classify_does() {
    use cloze::demo::{DEFAULT_SEED, DemoConfig, Demonstrations};
    use cloze::store::{LabelSource, NewLabel, Seen};
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity/roberta"));
    let plm = Plm::load(&dir, &Device::Cpu).unwrap();
    let samples = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/reviews.csv"));
    let mut store = Store::open_in_memory().unwrap();
    let d = store
        .import_dataset("reviews", &samples, &ImportOptions::default(), Split::Train, &mut |_| true)
        .unwrap();
    let set = store.create_label_set(d.dataset.id, "demo", &["negative".into(), "positive".into()]).unwrap();
    let template = Template::parse("{text_a} It was {mask}. {demo}").unwrap();
    let verbalizer = Verbalizer::from_json(r#"{"negative": "terrible", "positive": "great"}"#).unwrap();
    let prompt = ScoringPrompt {
        template: template.clone(),
        verbalizer: verbalizer.clone(),
        calibrate: false,
        chat: Default::default(),
    };

    // No labelled rows yet: nothing to draw from, said before any row is scored.
    let run = ScoringRun::start(&store, &set, prompt.clone(), &dir.to_string_lossy(), "cpu").unwrap();
    let err = run.score(&mut store, &plm, &mut |_| true).unwrap_err();
    assert!(err.to_string().contains("remove {demo}"), "{err}");

    let rows = store.rows(d.dataset.id, 0, 100).unwrap();
    for (row, value) in rows.iter().take(4).zip(["positive", "negative", "positive", "negative"]) {
        store
            .add_label(&NewLabel {
                label_set_id: set.id,
                row_id: row.id,
                value,
                source: LabelSource::Human,
                confidence: None,
                annotator: None,
                run_id: None,
                seen: Seen::Unchecked,
            })
            .unwrap();
    }
    let run = ScoringRun::start(&store, &set, prompt, &dir.to_string_lossy(), "cpu").unwrap();
    let id = run.run_id;
    run.score(&mut store, &plm, &mut |_| true).unwrap();

    let pool = store.labelled_examples(set.id).unwrap();
    let demos = Demonstrations::new(&plm, &template, &verbalizer, &pool, DemoConfig::default(), DEFAULT_SEED)
        .unwrap();
    let mut todo: Vec<_> = rows[4..].iter().map(|r| store.row(r.id).unwrap().example).collect();
    demos.fill(&plm, &mut todo).unwrap();
    let classifier = Classifier::new(&plm, template, &verbalizer, ClassifyOptions::default()).unwrap();
    let want = classifier.classify(&todo, &mut |_, _| true).unwrap();
    for (row, w) in rows[4..].iter().zip(&want) {
        let s = store.suggestion(id, row.id).unwrap().expect("every unlabelled row is scored");
        assert_eq!(s.predicted, w.predicted, "row {}", row.id);
        for (got, (_, p)) in s.probs.iter().zip(&w.probs) {
            assert!((got - *p as f64).abs() < 1e-5, "row {}: {got} vs {p}", row.id);
        }
    }
    assert!(
        rows[..4].iter().all(|r| store.suggestion(id, r.id).unwrap().is_none()),
        "labelled rows are not scored"
    );
}
