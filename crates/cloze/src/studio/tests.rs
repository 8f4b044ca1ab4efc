//! The studio end to end on the sample reviews and the tiny RoBERTa fixture: every operation the
//! desktop app calls, as the app calls it.

use std::path::PathBuf;

use super::Studio;
use super::views::*;
use crate::ensemble::Weighting;
use crate::error::Error;
use crate::hub::{Cache, HubClient};
use crate::label::QueueOrder;
use crate::verbalizer::{Class, Verbalizer};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

pub(crate) struct Fixture {
    pub dir: PathBuf,
    pub studio: Studio,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn fixture(name: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("cloze-studio-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // An unreachable Hub: nothing here may touch the network.
    let hub = HubClient::new("http://127.0.0.1:9", None, Cache::new(dir.join("hf-cache"))).with_offline(true);
    let studio = Studio::new(dir.join("config"), hub);
    Fixture { dir, studio }
}

fn yes(_: Progress) -> bool {
    true
}

fn settings() -> ImportSettings {
    ImportSettings::default()
}

fn prompt() -> PromptSpec {
    PromptSpec {
        template: "{text_a} It was {mask}.".into(),
        verbalizer: Verbalizer::new(vec![
            Class { name: "positive".into(), words: vec!["great".into(), "good".into()] },
            Class { name: "negative".into(), words: vec!["terrible".into(), "bad".into()] },
        ])
        .unwrap(),
        calibrate: false,
        chat: Default::default(),
    }
}

/// A project with the sample reviews imported (label set "labels" from the file's label column).
pub(crate) fn with_reviews(name: &str) -> (Fixture, ImportResult) {
    let f = fixture(name);
    f.studio.create_project(f.dir.join("p.cloze").to_str().unwrap()).unwrap();
    let request = ImportRequest {
        path: format!("{ROOT}/samples/reviews.csv"),
        name: "reviews".into(),
        settings: settings(),
        split: SplitName::Train,
        classes: vec![],
    };
    let result = f.studio.import_dataset(&request, &mut yes).unwrap();
    (f, result)
}

/// The sample reviews without their labels as dataset "texts", with the classes given: a label set
/// with nothing labelled.
fn import_texts(f: &Fixture) -> LabelSetInfo {
    let unl = f.dir.join("texts.csv");
    let text: String = std::fs::read_to_string(format!("{ROOT}/samples/reviews.csv"))
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    std::fs::write(&unl, text).unwrap();
    f.studio
        .import_dataset(
            &ImportRequest {
                path: unl.display().to_string(),
                name: "texts".into(),
                settings: settings(),
                split: SplitName::Unlabelled,
                classes: vec!["positive".into(), "negative".into()],
            },
            &mut yes,
        )
        .unwrap()
        .label_set
        .unwrap()
}

fn load_roberta(f: &Fixture) -> ModelView {
    f.studio.load_model(&format!("{ROOT}/tests/fixtures/parity/roberta"), DeviceKind::Cpu, &mut yes).unwrap()
}

#[test]
fn projects_create_open_recent_close() {
    let f = fixture("projects");
    let path = f.dir.join("reviews");
    let s = f.studio.create_project(path.to_str().unwrap()).unwrap();
    assert_eq!(s.name, "reviews");
    assert!(s.path.ends_with("reviews.cloze"), "{}", s.path);
    let again = f.studio.create_project(path.to_str().unwrap()).unwrap_err();
    assert!(again.to_string().contains("already exists"), "{again}");
    f.studio.close_project();
    assert!(f.studio.current_project().unwrap().is_none());
    assert!(f.studio.rows_page(1, None, 0, 10).unwrap_err().to_string().contains("no project is open"));
    let opened = f.studio.open_project(&s.path).unwrap();
    assert_eq!(opened, s);
    let recent = f.studio.recent_projects().unwrap();
    assert_eq!(recent.len(), 1);
    assert!(recent[0].exists);
    assert_eq!(f.studio.forget_recent_project(&s.path).unwrap().len(), 0);
    let missing = f.studio.open_project(f.dir.join("nope.cloze").to_str().unwrap()).unwrap_err();
    assert_eq!(missing.kind(), crate::error::ErrorKind::NotFound);
    assert!(f.studio.create_project("  ").is_err());
    let no_dir = f.studio.create_project(f.dir.join("no/such/dir/x.cloze").to_str().unwrap()).unwrap_err();
    assert!(no_dir.to_string().contains("does not exist"), "{no_dir}");
}

#[test]
fn preview_import_stats_rows() {
    let f = fixture("data");
    f.studio.create_project(f.dir.join("p.cloze").to_str().unwrap()).unwrap();
    let csv = format!("{ROOT}/samples/reviews.csv");
    let p = f.studio.preview_file(&csv, &settings()).unwrap();
    assert_eq!(p.columns, ["id", "text", "label"]);
    assert_eq!(p.format, "csv");
    assert!(p.has_header);
    assert_eq!(p.rows.len(), 16);
    assert_eq!(p.rows[0][2], "positive");
    assert!(p.rows[0][1].starts_with("A gorgeous"));
    assert_eq!(p.mapping.text.as_deref(), Some("text"));
    assert_eq!(p.mapping.label.as_deref(), Some("label"));
    assert_eq!(p.labels.iter().map(|l| l.count).sum::<i64>(), 16);
    assert!(
        f.studio
            .preview_file("/no/such/file.csv", &settings())
            .unwrap_err()
            .to_string()
            .contains("no such file")
    );

    // Re-mapping: no label column → no label values.
    let s = ImportSettings { label_column: None, text_column: Some("text".into()), ..settings() };
    assert_eq!(f.studio.preview_file(&csv, &s).unwrap().mapping.text.as_deref(), Some("text"));

    let mut seen = Vec::new();
    let request = ImportRequest {
        path: csv.clone(),
        name: "reviews".into(),
        settings: settings(),
        split: SplitName::Train,
        classes: vec![],
    };
    let r = f
        .studio
        .import_dataset(&request, &mut |p| {
            seen.push(p);
            true
        })
        .unwrap();
    assert_eq!(r.rows, 16);
    assert_eq!(r.labels, 16);
    let set = r.label_set.clone().unwrap();
    assert_eq!(set.labelled, 16);
    assert!(!seen.is_empty());
    let dup = f.studio.import_dataset(&request, &mut yes).unwrap_err();
    assert!(dup.to_string().contains("already exists"), "{dup}");

    // A file without labels, with classes given: an empty label set.
    let unl = f.dir.join("unlabelled.csv");
    std::fs::write(&unl, "text\nfirst row\nsecond row\n").unwrap();
    let r2 = f
        .studio
        .import_dataset(
            &ImportRequest {
                path: unl.display().to_string(),
                name: "new".into(),
                settings: settings(),
                split: SplitName::Unlabelled,
                classes: vec!["yes".into(), " no ".into(), "".into()],
            },
            &mut yes,
        )
        .unwrap();
    assert_eq!(r2.label_set.as_ref().unwrap().classes, ["yes", "no"]);
    assert_eq!(r2.dataset.splits, [SplitCount { split: "unlabelled".into(), rows: 2 }]);

    // Cancelling an import leaves nothing behind.
    let cancelled = f
        .studio
        .import_dataset(&ImportRequest { name: "gone".into(), ..request.clone() }, &mut |_| false)
        .unwrap_err();
    assert!(matches!(cancelled, Error::Cancelled), "{cancelled}");
    let summary = f.studio.current_project().unwrap().unwrap();
    assert_eq!(summary.datasets.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["reviews", "new"]);
    assert_eq!(summary.label_sets.len(), 2);

    let stats = f.studio.dataset_stats(r.dataset.id, Some(set.id)).unwrap();
    assert_eq!(stats.rows, 16);
    assert_eq!(stats.unlabelled, 0);
    assert_eq!(stats.length_unit, LengthUnit::Words);
    assert_eq!(stats.labels.iter().map(|c| c.count).sum::<i64>(), 16);
    let l = stats.lengths.unwrap();
    assert!(l.min >= 1.0 && l.min <= l.median && l.median <= l.max, "{l:?}");
    assert!(stats.label_chart_svg.unwrap().contains("<svg"));
    assert!(stats.length_chart_svg.unwrap().contains("<svg"));
    load_roberta(&f);
    assert_eq!(f.studio.dataset_stats(r.dataset.id, None).unwrap().length_unit, LengthUnit::Tokens);

    let page = f.studio.rows_page(r.dataset.id, Some(set.id), 10, 4).unwrap();
    assert_eq!(page.total, 16);
    assert_eq!(page.rows.len(), 4);
    assert_eq!(page.rows[0].position, 10);
    assert_eq!(page.rows[0].label_source.as_deref(), Some("import"));
    assert!(f.studio.dataset_stats(999, None).is_err());
}

#[test]
fn models_devices_and_cache() {
    let f = fixture("models");
    let devices = f.studio.devices();
    assert_eq!(devices.len(), 3);
    assert!(devices[0].available);
    assert!(!devices[1].available && devices[1].note.as_deref().unwrap().contains("cuda"));
    assert!(f.studio.current_model().is_none());
    let m = load_roberta(&f);
    assert_eq!(m.family, "roberta");
    assert!(m.has_lm_head);
    assert_eq!(m.mask_token, "<mask>");
    assert_eq!(f.studio.current_model().unwrap(), m);
    let bad = f.studio.load_model("/no/such/model", DeviceKind::Cpu, &mut yes).unwrap_err();
    assert_eq!(bad.kind(), crate::error::ErrorKind::NotFound);
    assert_eq!(f.studio.current_model().unwrap(), m, "a failed load keeps the loaded model");
    let cancelled = f.studio.load_model(&m.spec, DeviceKind::Cpu, &mut |_| false).unwrap_err();
    assert!(matches!(cancelled, Error::Cancelled));
    let cuda = f.studio.load_model(&m.spec, DeviceKind::Cuda, &mut yes).unwrap_err();
    assert_eq!(cuda.kind(), crate::error::ErrorKind::Unavailable);
    assert!(f.studio.cached_models().unwrap().is_empty());
    // Offline: search says so instead of hanging.
    let q = HubQuery {
        text: "bert".into(),
        task: None,
        sort: HubSort::Downloads,
        limit: 5,
        supported_only: true,
        model_type: None,
        gguf_only: false,
    };
    assert_eq!(f.studio.hub_search(&q, None).unwrap_err().kind(), crate::error::ErrorKind::Unavailable);
}

#[test]
fn template_round_trips_through_chips() {
    let f = fixture("template");
    let t = f.studio.parse_template("{text_a} It was {mask}.").unwrap();
    assert_eq!(
        t.segments,
        [
            SegmentView::Field { name: "text_a".into(), shortenable: true, post: None },
            SegmentView::Text { text: " It was ".into() },
            SegmentView::Mask,
            SegmentView::Text { text: ".".into() },
        ]
    );
    assert_eq!(t.mask_count, 1);
    assert_eq!(t.fields, ["text_a"]);
    assert_eq!(t.openprompt, r#"{"placeholder": "text_a"} It was {"mask"}."#);
    let op = f.studio.parse_template(&t.openprompt).unwrap();
    assert_eq!(op.segments, t.segments);
    assert_eq!(op.text, t.text);
    // Reorder chips: mask first.
    let mut segs = t.segments.clone();
    segs.swap(0, 2);
    let moved = f.studio.template_from_segments(&segs).unwrap();
    assert_eq!(moved.text, "{mask} It was {text_a}.");
    let soft = f
        .studio
        .template_from_segments(&[
            SegmentView::Soft { count: 3, init: None },
            SegmentView::Field { name: "text_a".into(), shortenable: false, post: Some("lower".into()) },
            SegmentView::Mask,
        ])
        .unwrap();
    assert_eq!(soft.segments.len(), 3);
    let e = f.studio.parse_template("{text_a} It was {mask").unwrap_err();
    assert_eq!(e.kind(), crate::error::ErrorKind::InvalidInput);
    let bad_post = f
        .studio
        .template_from_segments(&[SegmentView::Field {
            name: "text_a".into(),
            shortenable: true,
            post: Some("x".into()),
        }])
        .unwrap_err();
    assert!(bad_post.to_string().contains("post-processing"), "{bad_post}");
}

#[test]
fn prompt_preview_probabilities_evaluation_suggestions_save() {
    let (f, imported) = with_reviews("prompt");
    let set = imported.label_set.unwrap();
    let rows = f.studio.rows_page(imported.dataset.id, None, 0, 5).unwrap().rows;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let p = prompt();
    assert!(f.studio.zero_shot(&p, &ids).unwrap_err().to_string().contains("no model is loaded"));
    load_roberta(&f);

    let previews = f.studio.preview_prompt(&p, &ids).unwrap();
    assert_eq!(previews.len(), 5);
    let first = &previews[0];
    assert_eq!(first.tokens.first().unwrap().kind, TokenKind::Special);
    assert_eq!(first.tokens.iter().filter(|t| t.kind == TokenKind::Mask).count(), 1);
    assert!(first.tokens.iter().any(|t| t.kind == TokenKind::Field && t.field.as_deref() == Some("text_a")));
    assert!(first.tokens.iter().any(|t| t.kind == TokenKind::Text));
    assert_eq!(first.length as usize, first.tokens.len());
    assert!(first.budget >= first.length);

    let check = f.studio.check_verbalizer(&p).unwrap();
    assert_eq!(check.classes.len(), 2);
    assert_eq!(check.classes[0].words[0].word, "great");
    assert!(!check.classes[0].words[0].tokens.is_empty());

    let preds = f.studio.zero_shot(&p, &ids).unwrap();
    assert_eq!(preds.len(), 5);
    for (pred, row) in preds.iter().zip(&rows) {
        assert_eq!(pred.row_id, row.id);
        let sum: f64 = pred.probs.iter().map(|c| c.prob).sum();
        assert!((sum - 1.0).abs() < 1e-5, "{sum}");
        assert!(pred.label.is_some(), "the row's label is shown beside the prediction");
    }
    let calibrated = f.studio.zero_shot(&PromptSpec { calibrate: true, ..p.clone() }, &ids).unwrap();
    assert_ne!(calibrated[0].probs, preds[0].probs);

    let mut progress = 0;
    let eval = f
        .studio
        .evaluate_prompt(&p, set.id, &mut |_| {
            progress += 1;
            true
        })
        .unwrap();
    assert_eq!(eval.rows, 16);
    assert!(progress > 0);
    assert_eq!(eval.confusion.iter().flatten().sum::<i64>(), 16);
    assert!(eval.confusion_svg.contains("<svg"));
    assert_eq!(eval.per_class.len(), 2);
    assert!(matches!(f.studio.evaluate_prompt(&p, set.id, &mut |_| false), Err(Error::Cancelled)));

    let words = f.studio.suggest_label_words(&p, set.id, 5).unwrap();
    assert_eq!(words.len(), 2);
    assert_eq!(words[0].words.len(), 5);
    assert!(words[0].words.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(words[0].words.iter().all(|w| w.word.chars().all(char::is_alphabetic)));

    let saved = f.studio.save_prompt("sentiment", &p).unwrap();
    assert_eq!((saved.template.version, saved.verbalizer.version), (1, 1));
    assert_eq!(
        f.studio.save_prompt("sentiment", &p).unwrap(),
        saved,
        "an unchanged prompt is not a new version"
    );
    let changed = PromptSpec { template: "{text_a} All in all, {mask}.".into(), ..p.clone() };
    let v2 = f.studio.save_prompt("sentiment", &changed).unwrap();
    assert_eq!((v2.template.version, v2.verbalizer.version), (2, 1));
    let summary = f.studio.current_project().unwrap().unwrap();
    assert_eq!(summary.templates.len(), 2);
    assert_eq!(summary.models.len(), 1, "the loaded model is recorded in the project");
    assert!(f.studio.save_prompt(" ", &p).is_err());
    let mut bad = p.clone();
    bad.verbalizer.classes[1].words = vec!["great".into()];
    assert_eq!(f.studio.zero_shot(&bad, &ids).unwrap_err().kind(), crate::error::ErrorKind::InvalidInput);
}

#[test]
fn labelling_session_scoring_table_bulk_and_export() {
    let f = fixture("label");
    f.studio.create_project(f.dir.join("p.cloze").to_str().unwrap()).unwrap();
    // The reviews without their labels, with the classes given.
    let request = ImportRequest {
        path: format!("{ROOT}/samples/reviews.csv"),
        name: "reviews".into(),
        settings: ImportSettings { label_column: Some("3".into()), ..settings() },
        split: SplitName::Train,
        classes: vec![],
    };
    let set = f.studio.import_dataset(&request, &mut yes).unwrap().label_set.unwrap();
    // Start over on the same file with no labels at all.
    let fresh = import_texts(&f);
    assert_eq!(set.labelled, 16);
    assert_eq!(fresh.labelled, 0);

    assert!(f.studio.label_current(0).unwrap_err().to_string().contains("no labelling session"));
    let uncertain = f.studio.start_labelling(fresh.id, QueueOrder::LeastConfidence, None).unwrap_err();
    assert!(uncertain.to_string().contains("suggestions"), "{uncertain}");
    let s = f.studio.start_labelling(fresh.id, QueueOrder::FileOrder, None).unwrap();
    assert_eq!(s.remaining, 16);
    assert!(!s.can_undo);
    let first = s.item.clone().unwrap().row;
    assert_eq!(first.position, 0);
    assert!(s.item.as_ref().unwrap().suggestion.is_none());
    assert!(f.studio.accept_suggestion().unwrap_err().to_string().contains("no suggestion"));

    // Label 5 rows, undo one.
    let mut state = s;
    for k in 0..5 {
        state = f.studio.label_current(k % 2).unwrap();
    }
    assert_eq!(state.labelled_in_session, 5);
    assert_eq!(state.remaining, 11);
    assert!(state.distribution_svg.contains("<svg") && state.distribution_svg.contains("positive"));
    assert_eq!(state.item.as_ref().unwrap().row.position, 5);
    state = f.studio.undo_last().unwrap();
    assert_eq!(state.labelled_in_session, 4);
    assert_eq!(state.item.as_ref().unwrap().row.position, 4, "undo shows the row again");
    assert_eq!(state.remaining, 12);
    state = f.studio.skip_current().unwrap();
    assert_eq!(state.item.as_ref().unwrap().row.position, 5);
    assert!(f.studio.label_current(7).unwrap_err().to_string().contains("no class 8"));
    assert_eq!(f.studio.label_state().unwrap().unwrap(), state);

    // Score the rest with the model; the session picks up suggestions.
    load_roberta(&f);
    let mut last = None;
    let run = f
        .studio
        .score_rows(fresh.id, &prompt(), &mut |p| {
            last = Some(p);
            true
        })
        .unwrap();
    assert_eq!(run.status, "finished");
    assert_eq!(run.kind, "zero-shot");
    assert_eq!(run.template.as_deref(), Some("{text_a} It was {mask}."));
    let last = last.unwrap();
    assert_eq!(Some(last.done), last.total);
    assert_eq!(last.done, 12);
    let runs = f.studio.runs(fresh.id).unwrap();
    assert_eq!(runs.len(), 1);

    let s = f.studio.start_labelling(fresh.id, QueueOrder::LeastConfidence, None).unwrap();
    assert_eq!(s.run_id, Some(run.id));
    let sug = s.item.as_ref().unwrap().suggestion.clone().unwrap();
    assert_eq!(sug.probs.len(), 2);
    let accepted = f.studio.accept_suggestion().unwrap();
    assert_eq!(accepted.labelled_in_session, 1);

    // The table: filters, totals, bulk accept.
    let q = |filter| TableQuery { filter, run_id: None, max_confidence: Some(1.01), offset: 0, limit: 50 };
    let all = f.studio.label_table(fresh.id, &q(TableFilter::All)).unwrap();
    assert_eq!(all.total, 16);
    let labelled = f.studio.label_table(fresh.id, &q(TableFilter::Labelled)).unwrap();
    assert_eq!(labelled.total, 5);
    assert!(labelled.rows.iter().all(|r| r.row.label_source.as_deref() == Some("human")));
    let unlabelled = f.studio.label_table(fresh.id, &q(TableFilter::Unlabelled)).unwrap();
    assert_eq!(unlabelled.total, 11);
    assert!(unlabelled.rows.iter().all(|r| r.suggestion.is_some()));
    let low = f.studio.label_table(fresh.id, &q(TableFilter::LowConfidence)).unwrap();
    assert_eq!(low.total, 12, "every scored row is below 1.01");
    assert!(low.rows.windows(2).all(
        |w| w[0].suggestion.as_ref().unwrap().confidence <= w[1].suggestion.as_ref().unwrap().confidence
    ));
    let disagree = f.studio.label_table(fresh.id, &q(TableFilter::Disagrees)).unwrap();
    assert!(disagree.total <= 1, "only the accepted row has both a human label and a suggestion");
    let picked: Vec<i64> = unlabelled.rows.iter().take(3).map(|r| r.row.id).collect();
    assert_eq!(f.studio.bulk_accept(fresh.id, run.id, &picked).unwrap(), 3);
    assert_eq!(f.studio.label_table(fresh.id, &q(TableFilter::Unlabelled)).unwrap().total, 8);
    assert!(f.studio.label_table(set.id, &q(TableFilter::Disagrees)).is_err(), "no run for this set");

    // Reopen: the labels are there.
    let path = f.studio.current_project().unwrap().unwrap().path;
    f.studio.close_project();
    let reopened = f.studio.open_project(&path).unwrap();
    let info = reopened.label_sets.iter().find(|s| s.id == fresh.id).unwrap();
    assert_eq!(info.labelled, 8);

    // Export with provenance.
    let out = f.dir.join("labels.csv");
    let r = f
        .studio
        .export_labels(&ExportRequest {
            label_set_id: fresh.id,
            path: out.display().to_string(),
            format: ExportFormatView::Csv,
            sources: vec!["human".into()],
            min_confidence: None,
            replace: false,
        })
        .unwrap();
    assert_eq!(r.written, 8);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 9);
    assert!(text.lines().next().unwrap().contains("source"));
    let hf = f
        .studio
        .export_labels(&ExportRequest {
            label_set_id: fresh.id,
            path: f.dir.join("labels.jsonl").display().to_string(),
            format: ExportFormatView::HfJsonl,
            sources: vec![],
            min_confidence: Some(0.99),
            replace: false,
        })
        .unwrap();
    assert!(hf.written >= 4, "{hf:?}");
    assert!(f.studio.export_labels(&ExportRequest { path: " ".into(), ..reqless(fresh.id) }).is_err());
}

fn reqless(label_set_id: i64) -> ExportRequest {
    ExportRequest {
        label_set_id,
        path: String::new(),
        format: ExportFormatView::Jsonl,
        sources: vec![],
        min_confidence: None,
        replace: false,
    }
}

#[test]
fn export_never_overwrites_the_open_project() {
    let (f, imported) = with_reviews("export-project");
    let project = f.dir.join("p.cloze");
    let set = imported.label_set.unwrap().id;
    let before = std::fs::read(&project).unwrap();
    // Spelled another way, and with replace allowed: still refused, the project untouched.
    let other_spelling = f.dir.join(".").join("p.cloze");
    for replace in [false, true] {
        let e = f
            .studio
            .export_labels(&ExportRequest {
                path: other_spelling.display().to_string(),
                replace,
                ..reqless(set)
            })
            .unwrap_err();
        assert!(e.to_string().contains("input"), "{e}");
    }
    assert_eq!(std::fs::read(&project).unwrap(), before);
    assert_eq!(f.studio.current_project().unwrap().unwrap().datasets.len(), 1, "the project still opens");
}

#[test]
fn export_asks_before_replacing() {
    let (f, imported) = with_reviews("export-replace");
    let set = imported.label_set.unwrap().id;
    let out = f.dir.join("mine.jsonl");
    std::fs::write(&out, "keep me").unwrap();
    let request = ExportRequest { path: out.display().to_string(), ..reqless(set) };
    let e = f.studio.export_labels(&request).unwrap_err();
    assert_eq!(e.kind(), crate::error::ErrorKind::AlreadyExists, "{e}");
    assert!(e.message(crate::error::Front::App).contains("“Replace”"), "{e}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    let r = f.studio.export_labels(&ExportRequest { replace: true, ..request }).unwrap();
    assert_eq!(r.written, 16);
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 16);
}

#[test]
fn a_file_whose_text_column_cannot_be_guessed_is_shown_for_mapping() {
    let f = fixture("headerless");
    f.studio.create_project(f.dir.join("p.cloze").to_str().unwrap()).unwrap();
    // AG News: no header, three columns (class, title, description).
    let csv = format!("{ROOT}/../shared/data/ag_news_csv/train_subset_581.csv");
    let p = f.studio.preview_file(&csv, &settings()).unwrap();
    assert_eq!(p.columns, ["column_1", "column_2", "column_3"]);
    assert_eq!(p.rows.len(), 20);
    assert_eq!(p.rows[0].len(), 3);
    assert_eq!(p.mapping, ColumnGuess { text: None, text_b: None, label: None, id: None });
    assert!(p.notes[0].contains("Choose the column that holds the text"), "{:?}", p.notes);

    // The user maps text and label: label values appear.
    let mapped = ImportSettings {
        text_column: Some("column_3".into()),
        label_column: Some("column_1".into()),
        explicit_columns: true,
        ..settings()
    };
    let p = f.studio.preview_file(&csv, &mapped).unwrap();
    assert_eq!(p.mapping.text.as_deref(), Some("column_3"));
    assert_eq!(p.labels.len(), 4);

    // Explicitly no label column: nothing is guessed, the classes come from the user.
    let no_label = ImportSettings { label_column: None, ..mapped };
    assert!(f.studio.preview_file(&csv, &no_label).unwrap().labels.is_empty());
    let r = f
        .studio
        .import_dataset(
            &ImportRequest {
                path: csv.clone(),
                name: "ag_news".into(),
                settings: no_label,
                split: SplitName::Train,
                classes: ["1", "2", "3", "4"].map(String::from).to_vec(),
            },
            &mut yes,
        )
        .unwrap();
    assert_eq!(r.rows, 581);
    assert_eq!(r.labels, 0);
    assert_eq!(r.label_set.unwrap().classes, ["1", "2", "3", "4"]);
    let stats = f.studio.dataset_stats(r.dataset.id, None).unwrap();
    assert!(stats.label_chart_svg.is_none(), "no labels yet: no empty chart");

    // Long news texts are cut to the tiny model's 126 tokens; the preview shows where.
    load_roberta(&f);
    let ids: Vec<i64> =
        f.studio.rows_page(r.dataset.id, None, 0, 20).unwrap().rows.iter().map(|r| r.id).collect();
    let previews = f
        .studio
        .preview_prompt(&PromptSpec { template: "{text_a} This is about {mask}.".into(), ..prompt() }, &ids)
        .unwrap();
    let cut = previews.iter().find(|p| p.truncated > 0).expect("a long row");
    assert_eq!(cut.length, cut.budget);
    let at: Vec<usize> =
        cut.tokens.iter().enumerate().filter(|(_, t)| t.cut_before).map(|(i, _)| i).collect();
    assert_eq!(at.len(), 1, "one field, one cut");
    assert_eq!(cut.tokens[at[0] - 1].kind, TokenKind::Field);
    assert_eq!(cut.tokens[at[0]].kind, TokenKind::Text, "the fixed text after the field is kept");
    assert!(previews.iter().filter(|p| p.truncated == 0).all(|p| p.tokens.iter().all(|t| !t.cut_before)));
}

/// A new run's request with the sample prompt's verbalizer and a quarter of the rows for dev.
fn tune_request(
    name: &str,
    strategy: crate::tune::TuneStrategy,
    template: &str,
    label_set_id: i64,
    hyper: crate::tune::Hyper,
) -> super::tuning::TuneRequest {
    super::tuning::TuneRequest {
        name: name.into(),
        strategy,
        template: template.into(),
        chat: Default::default(),
        verbalizer: prompt().verbalizer,
        verbalizer_kind: crate::tune::VerbalizerKind::Manual,
        soft_placement: Default::default(),
        label_set_id,
        shots: None,
        dev_fraction: 0.25,
        hyper,
        precision: Default::default(),
        resume: false,
        estimate: None,
        seeds: None,
        distill: None,
        recommended: None,
    }
}

/// The Model screen's precision: bf16 moves the live probabilities (slightly) without reloading
/// the model, f32 gives back exactly the f32 ones; a tune request's precision is kept in the run's
/// config.json and shown in the run list.
#[test]
fn precision_setting_changes_scores_and_is_kept_in_runs() {
    use crate::plm::Precision;
    use crate::tune::{Hyper, TuneStrategy};
    let (f, imported) = with_reviews("precision");
    let set = imported.label_set.unwrap().id;
    let ids: Vec<i64> =
        f.studio.rows_page(imported.dataset.id, None, 0, 8).unwrap().rows.iter().map(|r| r.id).collect();
    let e = f.studio.set_precision(Precision::Bf16).unwrap_err();
    assert_eq!(e.kind(), crate::error::ErrorKind::Precondition, "{e}");
    let view = load_roberta(&f);
    assert_eq!((view.precision, view.precision_kernel.as_str()), (Precision::F32, "f32"));
    assert_eq!(view.bf16_native, Precision::Bf16.native());

    let p = prompt();
    let exact = f.studio.zero_shot(&p, &ids).unwrap();
    let exact_eval = f.studio.evaluate_prompt(&p, set, &mut yes).unwrap();
    let bf16 = f.studio.set_precision(Precision::Bf16).unwrap();
    assert_eq!(bf16.precision, Precision::Bf16);
    assert_eq!(bf16.precision_kernel, Precision::Bf16.kernel());
    assert_eq!(f.studio.current_model().unwrap(), bf16);
    assert_eq!(bf16.spec, view.spec);
    let rounded = f.studio.zero_shot(&p, &ids).unwrap();
    let diffs: Vec<f64> = exact
        .iter()
        .zip(&rounded)
        .flat_map(|(a, b)| a.probs.iter().zip(&b.probs).map(|(x, y)| (x.prob - y.prob).abs()))
        .collect();
    let max = diffs.iter().copied().fold(0.0, f64::max);
    assert!(max > 0.0, "bf16 products moved no probability");
    assert!(max < 0.05, "bf16 moved a probability by {max}");
    let rounded_eval = f.studio.evaluate_prompt(&p, set, &mut yes).unwrap();
    assert_eq!(rounded_eval.rows, exact_eval.rows);

    assert_eq!(f.studio.set_precision(Precision::F32).unwrap(), view);
    assert_eq!(f.studio.zero_shot(&p, &ids).unwrap(), exact, "back in f32: the f32 probabilities exactly");
    assert_eq!(f.studio.evaluate_prompt(&p, set, &mut yes).unwrap(), exact_eval);

    // A run's precision comes from its request (not the loaded model's), into its config.json.
    let hyper = Hyper { epochs: 1, ..Hyper::for_strategy(TuneStrategy::Probe) };
    let mut request =
        tune_request("probe-bf16", TuneStrategy::Probe, "{text_a} It was {mask}.", set, hyper.clone());
    request.precision = Precision::Bf16;
    let run = f.studio.start_tuning(&request, &mut yes).unwrap();
    assert_eq!((run.status.as_str(), run.precision), ("finished", Precision::Bf16));
    let runs = f.studio.runs_dir().unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(runs.join("probe-bf16/config.json")).unwrap()).unwrap();
    assert_eq!(config["precision"], "bf16");
    let plain = tune_request("probe-f32", TuneStrategy::Probe, "{text_a} It was {mask}.", set, hyper);
    f.studio.start_tuning(&plain, &mut yes).unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(runs.join("probe-f32/config.json")).unwrap()).unwrap();
    assert!(config.get("precision").is_none(), "f32 runs' configs stay as they were: {config}");
    let listed: Vec<(String, Precision)> =
        f.studio.list_runs().unwrap().into_iter().map(|r| (r.name, r.precision)).collect();
    assert!(listed.contains(&("probe-bf16".into(), Precision::Bf16)), "{listed:?}");
    assert!(listed.contains(&("probe-f32".into(), Precision::F32)), "{listed:?}");
    assert_eq!(f.studio.current_model().unwrap().precision, Precision::F32, "a run leaves the setting alone");
}

/// The Tune screen's resume goes through the same checkpoints as the CLI: a cancelled run resumes
/// to the bytes of an uninterrupted one, a damaged checkpoint is refused as a `{kind, message}`
/// the app shows (naming its own controls), and a finished run is never retrained.
#[test]
fn tune_screen_resumes_exactly_and_refuses_what_does_not_verify() {
    use crate::error::{ErrorKind, Front};
    use crate::tune::{Hyper, TuneStrategy};
    let (f, imported) = with_reviews("tune-resume");
    load_roberta(&f);
    let set = imported.label_set.unwrap().id;
    let request = |name: &str, resume: bool| super::tuning::TuneRequest {
        resume,
        ..tune_request(
            name,
            TuneStrategy::SoftPrompt,
            "{soft:2} {text_a} It was {mask}.",
            set,
            Hyper {
                max_steps: Some(6),
                eval_every: 1,
                batch_size: 4,
                dropout: Some(0.1),
                ..Hyper::for_strategy(TuneStrategy::SoftPrompt)
            },
        )
    };
    let whole = f.studio.start_tuning(&request("whole", false), &mut yes).unwrap();
    assert_eq!((whole.status.as_str(), whole.steps), ("finished", 6));

    let mut steps = 0;
    let e = f
        .studio
        .start_tuning(&request("cut", false), &mut |p: Progress| {
            steps = p.done;
            p.done < 3
        })
        .unwrap_err();
    assert_eq!((e.kind(), steps), (ErrorKind::Cancelled, 3));
    assert_eq!(f.studio.list_runs().unwrap().iter().find(|r| r.name == "cut").unwrap().status, "interrupted");
    let runs = f.studio.runs_dir().unwrap();
    let resumed = f.studio.start_tuning(&request("cut", true), &mut yes).unwrap();
    assert_eq!((resumed.status.as_str(), resumed.steps), ("finished", 6));
    let prompt_of = |name: &str| std::fs::read(runs.join(name).join("prompt.safetensors")).unwrap();
    assert_eq!(prompt_of("cut"), prompt_of("whole"), "the resumed run ended elsewhere");
    assert_eq!(
        std::fs::read(runs.join("cut").join("dev_predictions.jsonl")).unwrap(),
        std::fs::read(runs.join("whole").join("dev_predictions.jsonl")).unwrap()
    );

    // Resuming a finished run: refused, nothing retrained.
    let e = f.studio.start_tuning(&request("cut", true), &mut yes).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Precondition);
    let message = e.message(Front::App);
    assert!(message.starts_with("run cut finished at step 6; nothing to resume"), "{message}");
    assert!(!message.contains("--"), "the app's message names no flags: {message}");
    assert_eq!(prompt_of("cut"), prompt_of("whole"));

    // A checkpoint that does not verify, with no earlier one to fall back to.
    let mut cancel_at_1 = |p: Progress| p.done < 1;
    f.studio.start_tuning(&request("broken", false), &mut cancel_at_1).unwrap_err();
    let step = runs.join("broken").join("checkpoints").join("step-000001");
    std::fs::write(step.join("params.safetensors"), b"incomplete metadata").unwrap();
    let e = f.studio.start_tuning(&request("broken", true), &mut yes).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Precondition);
    let message = e.message(Front::App);
    assert!(message.starts_with("checkpoint step-000001 of the run in"), "{message}");
    assert!(message.contains("does not verify") && message.contains("delete the run folder"), "{message}");
    assert!(message.contains("“Resume” off, under another name"), "{message}");
}

/// The tiny BERT fixture without its masked-LM head (`cls.*`): a bare encoder, as
/// all-MiniLM-L6-v2 is.
fn headless_bert(f: &Fixture) -> String {
    let from = PathBuf::from(format!("{ROOT}/tests/fixtures/parity/bert"));
    let to = f.dir.join("headless-bert");
    std::fs::create_dir_all(&to).unwrap();
    for name in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(from.join(name), to.join(name)).unwrap();
    }
    let mut tensors =
        candle_core::safetensors::load(from.join("model.safetensors"), &candle_core::Device::Cpu).unwrap();
    tensors.retain(|name, _| !name.starts_with("cls."));
    candle_core::safetensors::save(&tensors, to.join("model.safetensors")).unwrap();
    to.display().to_string()
}

/// The Tune screen's "Recommended": a bare encoder with 4 rows per class gets contrastive
/// fine-tuning, a masked LM with a {mask} template prompt-based fine-tuning, the same settings the
/// same choice; a run started as recommended keeps the choice and why in its config.json and its
/// details, a request whose strategy is no longer the recommended one is refused, and a time
/// budget the estimate exceeds recommends the probe.
#[test]
fn tune_screen_recommends_a_strategy_and_the_run_keeps_why() {
    use super::tuning::Recommended;
    use crate::error::{ErrorKind, Front};
    use crate::tune::{Hyper, TuneStrategy};
    let (f, imported) = with_reviews("recommend");
    let set = imported.label_set.unwrap().id;
    let view = f.studio.load_model(&headless_bert(&f), DeviceKind::Cpu, &mut yes).unwrap();
    assert!(!view.has_lm_head);
    let hyper = Hyper { epochs: 1, ..Hyper::for_strategy(TuneStrategy::Contrastive) };
    let recommended = |name: &str, strategy: TuneStrategy, budget: Option<f64>| super::tuning::TuneRequest {
        shots: Some(4),
        recommended: Some(Recommended { budget_seconds: budget }),
        ..tune_request(name, strategy, "{text_a} It was {mask}.", set, hyper.clone())
    };
    let choice = f.studio.recommend_tuning(&recommended("r", TuneStrategy::Finetune, None)).unwrap();
    assert_eq!(choice.strategy, TuneStrategy::Contrastive, "{:?}", choice.reasons);
    assert!(choice.reasons[0].contains("no LM head"), "{:?}", choice.reasons);
    assert!(choice.reasons[1].starts_with("4 rows per class"), "{:?}", choice.reasons);
    let again = f.studio.recommend_tuning(&recommended("r", TuneStrategy::Probe, None)).unwrap();
    assert_eq!(again, choice, "the same settings, the same choice (whatever the form's strategy)");

    // Started with the strategy the form showed before the settings changed: refused, nothing made.
    let e = f.studio.start_tuning(&recommended("stale", TuneStrategy::Finetune, None), &mut yes).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Precondition, "{e}");
    assert!(
        e.message(Front::App).starts_with("the recommended strategy for these settings is now contrastive"),
        "{e}"
    );
    assert!(!f.studio.runs_dir().unwrap().join("stale").exists());

    let run = f.studio.start_tuning(&recommended("rec", TuneStrategy::Contrastive, None), &mut yes).unwrap();
    assert_eq!((run.status.as_str(), run.strategy), ("finished", TuneStrategy::Contrastive));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.studio.runs_dir().unwrap().join("rec/config.json")).unwrap())
            .unwrap();
    assert_eq!(config["strategy"], "contrastive");
    assert_eq!(config["auto"]["strategy"], "contrastive");
    assert_eq!(config["contrastive"]["iterations"], 20, "auto's pairs per row are the run's");
    // The form holds dev rows out, so the probe was tried beside the choice; with 4 dev rows no
    // lead is beyond their noise, so the choice stands, and the reasons say what was tried.
    let reasons = config["auto"]["reasons"].as_array().unwrap();
    assert_eq!(reasons[..choice.reasons.len()], choice.reasons[..]);
    let tried = reasons.last().unwrap().as_str().unwrap();
    assert!(tried.starts_with("tried contrastive (") && tried.contains("and probe ("), "{tried}");
    let details = f.studio.run_details("rec").unwrap().auto.unwrap();
    assert_eq!(
        (details.strategy, details.reasons.len()),
        (TuneStrategy::Contrastive, choice.reasons.len() + 1)
    );
    assert!(!f.studio.runs_dir().unwrap().join("rec/candidates").exists());
    // Repeated over seeds, every seed's run keeps the choice too.
    let group = super::tuning::TuneRequest {
        seeds: Some(vec![13, 21]),
        ..recommended("rec-seeds", TuneStrategy::Contrastive, None)
    };
    f.studio.tune_over_seeds(&group, &mut yes).unwrap();
    for seed in [13, 21] {
        let run = super::seeds::seed_run_name("rec-seeds", seed);
        assert_eq!(f.studio.run_details(&run).unwrap().auto, Some(choice.clone()), "{run}");
    }

    // A budget: estimated within it, the choice stands; over it, the probe; not a number of
    // seconds, refused naming the field.
    let roomy =
        f.studio.recommend_tuning(&recommended("r", TuneStrategy::Contrastive, Some(3600.0))).unwrap();
    assert_eq!(roomy.strategy, TuneStrategy::Contrastive);
    assert!(roomy.reasons.last().unwrap().contains("for a budget of"), "{:?}", roomy.reasons);
    let cut = f.studio.recommend_tuning(&recommended("r", TuneStrategy::Contrastive, Some(1e-6))).unwrap();
    assert_eq!(cut.strategy, TuneStrategy::Probe);
    assert!(cut.reasons.last().unwrap().starts_with("contrastive was estimated at"), "{:?}", cut.reasons);
    let bad = f.studio.recommend_tuning(&recommended("r", TuneStrategy::Contrastive, Some(0.0))).unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidInput);
    assert!(bad.message(Front::App).starts_with("“Time budget” 0 must be a positive number"), "{bad}");

    // A masked LM with its head and a {mask} template: prompt-based fine-tuning; without {mask},
    // no label word to read.
    load_roberta(&f);
    let lm = f.studio.recommend_tuning(&recommended("r", TuneStrategy::Contrastive, None)).unwrap();
    assert_eq!(lm.strategy, TuneStrategy::Finetune, "{:?}", lm.reasons);
    assert!(lm.reasons[0].contains("prompt-based fine-tuning (LM-BFF)"), "{:?}", lm.reasons);
    let plain = super::tuning::TuneRequest {
        template: "Review: {text_a}".into(),
        ..recommended("r", TuneStrategy::Finetune, None)
    };
    let no_mask = f.studio.recommend_tuning(&plain).unwrap();
    assert_eq!(no_mask.strategy, TuneStrategy::Contrastive);
    assert!(no_mask.reasons[0].contains("no template with {mask}"), "{:?}", no_mask.reasons);
}

/// The Tune screen pretrains every kind of model with its family's own objective (causal LM,
/// span corruption, denoising), says which in the model's view, and saves a model folder that loads.
#[test]
fn tune_screen_pretrains_decoders_t5_and_bart_with_their_own_objective() {
    use crate::plm::Pretraining;
    use crate::tune::{Hyper, TuneStrategy};
    let (f, imported) = with_reviews("tune-pretrain");
    let set = imported.label_set.unwrap().id;
    let cases = [
        ("llama", Pretraining::CausalLm, "causal LM"),
        ("t5", Pretraining::SpanCorruption, "span corruption"),
        ("bart", Pretraining::Denoising, "denoising"),
    ];
    for (fixture, objective, name) in cases {
        let view = f
            .studio
            .load_model(&format!("{ROOT}/tests/fixtures/parity/{fixture}"), DeviceKind::Cpu, &mut yes)
            .unwrap();
        assert_eq!((view.pretraining, view.pretraining.name()), (objective, name), "{fixture}");
        let hyper = Hyper {
            max_steps: Some(4),
            batch_size: 4,
            learning_rate: 3e-3,
            ..Hyper::for_strategy(TuneStrategy::Pretrain)
        };
        let name = format!("pretrain-{fixture}");
        let request = tune_request(&name, TuneStrategy::Pretrain, "{text_a} It was {mask}.", set, hyper);
        let run = f.studio.start_tuning(&request, &mut yes).unwrap();
        assert_eq!((run.status.as_str(), run.steps), ("finished", 4), "{fixture}");
        let model = f.studio.runs_dir().unwrap().join(&request.name).join("model");
        let back = crate::plm::Plm::load(&model, &candle_core::Device::Cpu).unwrap();
        assert_eq!(back.family().pretraining(), objective, "{fixture}");
    }
}

/// Two windows (two studios, as two app processes would be) labelling as the same annotator.
#[test]
fn same_annotator_in_two_studios_never_overwrites_silently() {
    let (f, _) = with_reviews("two-studios");
    let path = f.dir.join("p.cloze");
    let unl = f.dir.join("texts.csv");
    std::fs::write(&unl, "id,text\nr0,first\nr1,second\n").unwrap();
    let request = ImportRequest {
        path: unl.display().to_string(),
        name: "texts".into(),
        settings: settings(),
        split: SplitName::Unlabelled,
        classes: vec!["positive".into(), "negative".into()],
    };
    let set = f.studio.import_dataset(&request, &mut yes).unwrap().label_set.unwrap();
    let other = fixture("two-studios-b");
    other.studio.open_project(path.to_str().unwrap()).unwrap();
    let a = f.studio.start_labelling(set.id, QueueOrder::FileOrder, None).unwrap();
    let b = other.studio.start_labelling(set.id, QueueOrder::FileOrder, None).unwrap();
    let shown = |s: &LabelState| s.item.as_ref().unwrap().row.ext_id.clone();
    assert_eq!((shown(&a), shown(&b)), ("r0".to_string(), "r0".to_string()));
    let a = f.studio.label_current(0).unwrap();
    assert_eq!(shown(&a), "r1");
    let err = other.studio.label_current(1).unwrap_err();
    assert_eq!(err.kind(), crate::error::ErrorKind::Conflict);
    assert!(err.to_string().contains("row r0 was labelled `positive` by another session"), "{err}");
    // The screen reloads: r0 is done, r1 is shown; nothing of B's was written over A's label.
    let b = other.studio.label_state().unwrap().unwrap();
    assert_eq!(shown(&b), "r1");
    assert_eq!(b.labelled_in_session, 0);
    let a = f.studio.undo_last().unwrap();
    assert_eq!(shown(&a), "r0", "undo keeps working");
    assert_eq!(a.label_set.labelled, 0);
}

#[test]
fn crashed_import_is_removed_when_the_studio_opens_the_project() {
    let f = fixture("crashed-import");
    let path = f.dir.join("p.cloze");
    f.studio.create_project(path.to_str().unwrap()).unwrap();
    f.studio.close_project();
    // What a killed import leaves: a dataset still `importing`, by a process that has ended.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(
            "INSERT INTO datasets (name, format, encoding, columns, mapping, import_name, import_pid)
             VALUES (char(1) || 'importing', 'csv', 'utf-8', '[]', '{}', 'train', ?1)",
            [child.id()],
        )
        .unwrap();
    }
    let opened = f.studio.open_project(path.to_str().unwrap()).unwrap();
    assert!(opened.datasets.is_empty());
    assert_eq!(opened.notices.len(), 1);
    assert!(
        opened.notices[0].contains("`train` did not finish") && opened.notices[0].contains("import it again")
    );
    // Someone else's SQLite file is refused, and left as it was.
    let foreign = f.dir.join("other.sqlite");
    rusqlite::Connection::open(&foreign).unwrap().execute_batch("CREATE TABLE orders (id INTEGER)").unwrap();
    let before = std::fs::read(&foreign).unwrap();
    let err = f.studio.open_project(foreign.to_str().unwrap()).unwrap_err().to_string();
    assert!(err.contains("not a Cloze Studio project") && err.contains("orders"), "{err}");
    assert_eq!(std::fs::read(&foreign).unwrap(), before);
}

fn load_llama(f: &Fixture) {
    f.studio.load_model(&format!("{ROOT}/tests/fixtures/parity/llama"), DeviceKind::Cpu, &mut yes).unwrap();
}

/// `{demo}` in the prompt studio: the preview, the live probabilities and evaluation fill it as
/// `cloze classify --demos` does (the same engine, default selection and seed, the labelled rows as
/// the pool, never the row itself), and the preview says what the demonstrations take.
#[test]
fn prompt_studio_fills_demo_as_cloze_classify_does_and_shows_its_budget() {
    use crate::classify::{Classifier, ClassifyOptions};
    use crate::demo::{DEFAULT_SEED, DEMO_FIELD, DemoConfig, Demonstrations};
    use crate::template::Template;

    let (f, imported) = with_reviews("prompt-demo");
    let set = imported.label_set.unwrap();
    let rows = f.studio.rows_page(imported.dataset.id, None, 0, 5).unwrap().rows;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    load_llama(&f);
    let p = PromptSpec { template: "{demo} {text_a} It was {mask}.".into(), ..prompt() };

    // The engine, as `cloze classify --demos reviews.csv` runs it.
    let model = f.studio.model().unwrap();
    let plm = &model.plm;
    let template = Template::parse(&p.template).unwrap();
    let pool = f.studio.with_store(|s| s.labelled_examples(set.id)).unwrap();
    assert_eq!(pool.len(), 16);
    let demos =
        Demonstrations::new(plm, &template, &p.verbalizer, &pool, DemoConfig::default(), DEFAULT_SEED)
            .unwrap();
    let mut filled: Vec<crate::data::Example> =
        pool.iter().filter(|e| rows.iter().any(|r| r.text_a == e.text_a)).cloned().collect();
    assert_eq!(filled.len(), 5);
    demos.fill(plm, &mut filled).unwrap();
    let budget = demos.budget(plm).unwrap();

    let previews = f.studio.preview_prompt(&p, &ids).unwrap();
    for (pv, ex) in previews.iter().zip(&filled) {
        let d = pv.demos.as_ref().expect("the budget of {demo}");
        let own = &ex.meta[DEMO_FIELD];
        assert!(
            pv.text.contains(own.as_str()),
            "the preview reads the CLI's demonstrations: {} / {own}",
            pv.text
        );
        assert!(!own.contains(&format!("{} It was", ex.text_a)), "never the row itself: {own}");
        assert_eq!(d.count, 2, "one per class");
        assert_eq!(d.summary, budget.summary());
        assert!(d.tokens > 0 && d.rest > 0, "{d:?}");
        assert_eq!(d.left, pv.budget - pv.length - pv.truncated);
        assert_eq!(d.fit as usize, budget.fitting((pv.budget - d.rest).max(0) as usize));
        assert!(pv.tokens.iter().any(|t| t.field.as_deref() == Some(DEMO_FIELD)));
    }
    assert!(f.studio.preview_prompt(&prompt(), &ids).unwrap().iter().all(|pv| pv.demos.is_none()));

    // Live probabilities: the classifier's, on the rows filled by the engine.
    let classifier = Classifier::new(plm, template, &p.verbalizer, ClassifyOptions::default()).unwrap();
    let want = classifier.classify(&filled, &mut |_, _| true).unwrap();
    let got = f.studio.zero_shot(&p, &ids).unwrap();
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.predicted, w.predicted);
        for (gp, (_, wp)) in g.probs.iter().zip(&w.probs) {
            assert!((gp.prob - *wp as f64).abs() < 1e-6, "{gp:?} vs {wp}");
        }
    }
    let eval = f.studio.evaluate_prompt(&p, set.id, &mut yes).unwrap();
    assert_eq!(eval.rows, 16);

    // Rows whose own text fills the input: no demonstration fits, and the preview says by how much.
    let long = PromptSpec {
        template: format!("{{demo}} {} It was {{mask}}.", ["{text_a}"; 12].join(" ")),
        ..p.clone()
    };
    for pv in f.studio.preview_prompt(&long, &ids).unwrap() {
        let d = pv.demos.unwrap();
        assert!(d.fit == 0 && d.rest > pv.budget && d.left < 0, "{d:?} of {}", pv.budget);
        assert_eq!(pv.length, pv.budget, "cut to the budget");
    }

    // No label set with the verbalizer's classes: what to do.
    let other = Verbalizer::new(vec![
        Class { name: "good".into(), words: vec!["great".into()] },
        Class { name: "bad".into(), words: vec!["terrible".into()] },
    ])
    .unwrap();
    let err = f.studio.zero_shot(&PromptSpec { verbalizer: other, ..p.clone() }, &ids).unwrap_err();
    assert!(err.to_string().contains("remove {demo}"), "{err}");
}

/// A decoder reads its label word after the text: the preview's budget leaves the word's room, as
/// scoring does, so a long row is cut in the preview exactly where scoring cuts it.
#[test]
fn the_preview_cuts_a_decoder_row_where_scoring_cuts_it() {
    use crate::classify::{Classifier, ClassifyOptions, input_budget};
    use crate::template::Template;

    let (f, imported) = with_reviews("prompt-decoder-budget");
    let rows = f.studio.rows_page(imported.dataset.id, None, 0, 16).unwrap().rows;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    load_llama(&f);
    let template = format!("{} It was {{mask}}.", ["{text_a}"; 12].join(" "));
    let p = PromptSpec {
        template: template.clone(),
        verbalizer: Verbalizer::new(vec![
            Class { name: "positive".into(), words: vec!["wonderful".into(), "great".into()] },
            Class { name: "negative".into(), words: vec!["terrible".into(), "bad".into()] },
        ])
        .unwrap(),
        ..prompt()
    };
    let model = f.studio.model().unwrap();
    let plm = &model.plm;
    let classifier =
        Classifier::new(plm, Template::parse(&template).unwrap(), &p.verbalizer, ClassifyOptions::default())
            .unwrap();
    let room = classifier.verbalizer().continuation_room(plm.kind());
    assert!(room > 0, "a label word of several tokens needs room after the text");
    let budget = input_budget(plm, classifier.verbalizer());
    assert_eq!(budget, plm.max_len() - room);

    let previews = f.studio.preview_prompt(&p, &ids).unwrap();
    let mut cut = 0;
    for (pv, row) in previews.iter().zip(&rows) {
        let scored =
            classifier.render(&crate::data::Example::new(row.id.to_string(), row.text_a.clone())).unwrap();
        assert_eq!(pv.budget as usize, budget);
        assert_eq!(pv.length as usize, scored.ids.len(), "row {}", row.id);
        assert_eq!(pv.truncated as usize, scored.truncated, "row {}", row.id);
        let at: Vec<usize> =
            pv.tokens.iter().enumerate().filter(|(_, t)| t.cut_before).map(|(i, _)| i).collect();
        assert_eq!(at, scored.cuts, "row {}: the preview's cuts are scoring's", row.id);
        cut += usize::from(scored.truncated > 0);
    }
    assert!(cut > 0, "some rows are long enough to be cut");
}

/// Template ensembles in the prompt studio: saved prompt versions as members, a fit whose member
/// accuracies are each member's own evaluation, every weighting side by side, the disagreements,
/// saving and deleting, and scoring rows for labelling with the ensemble's combined probabilities.
#[test]
fn ensembles_fit_from_saved_prompts_save_and_score_rows() {
    let (f, imported) = with_reviews("ensemble");
    let set = imported.label_set.unwrap();
    load_roberta(&f);
    let a = prompt();
    let b = PromptSpec {
        template: "All in all, {mask}. {text_a}".into(),
        verbalizer: Verbalizer::new(vec![
            Class { name: "positive".into(), words: vec!["good".into()] },
            Class { name: "negative".into(), words: vec!["bad".into()] },
        ])
        .unwrap(),
        ..prompt()
    };
    f.studio.save_prompt("a", &a).unwrap();
    f.studio.save_prompt("b", &b).unwrap();
    f.studio
        .save_prompt("a", &PromptSpec { template: "{text_a} Overall: {mask}.".into(), ..a.clone() })
        .unwrap();
    let versions = f.studio.prompt_versions().unwrap();
    assert_eq!(
        versions.iter().map(|v| v.label.as_str()).collect::<Vec<_>>(),
        ["a v1", "a v2 (words v1)", "b v1"]
    );
    assert_eq!(versions[2].classes, ["positive", "negative"]);
    let pick = |k: usize| MemberRef {
        template_id: versions[k].template_id,
        verbalizer_id: versions[k].verbalizer_id,
    };
    let request = |members: Vec<MemberRef>, weighting| EnsembleRequest {
        label_set_id: set.id,
        members,
        weighting,
        calibrate: false,
    };

    let one = f.studio.fit_ensemble(&request(vec![pick(0)], Weighting::Uniform), &mut yes).unwrap_err();
    assert!(one.to_string().contains("two or more"), "{one}");
    let twice = f.studio.fit_ensemble(&request(vec![pick(0), pick(0)], Weighting::Uniform), &mut yes);
    assert!(twice.unwrap_err().to_string().contains("ticked twice"));
    let cancelled =
        f.studio.fit_ensemble(&request(vec![pick(0), pick(2)], Weighting::Learned), &mut |_| false);
    assert!(matches!(cancelled, Err(Error::Cancelled)));

    let mut last = None;
    let view = f
        .studio
        .fit_ensemble(&request(vec![pick(0), pick(2)], Weighting::Learned), &mut |p| {
            last = Some(p);
            true
        })
        .unwrap();
    let last = last.unwrap();
    assert_eq!((last.done, last.total), (32, Some(32)), "16 rows by 2 members");
    assert_eq!(view.rows, 16);
    assert_eq!(view.id, None);
    // Each member's accuracy is its own evaluation on the same rows.
    for (m, spec) in view.members.iter().zip([&a, &b]) {
        let alone = f.studio.evaluate_prompt(spec, set.id, &mut |_| true).unwrap();
        assert_eq!(m.accuracy, Some(alone.accuracy), "{}", m.name);
    }
    assert_eq!(view.members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["a v1", "b v1"]);
    assert!((view.members.iter().map(|m| m.weight).sum::<f64>() - 1.0).abs() < 1e-9);
    assert_eq!(
        view.weightings.iter().map(|w| (w.weighting, w.cross_validated, w.chosen)).collect::<Vec<_>>(),
        [
            (Weighting::Uniform, false, false),
            (Weighting::DevAccuracy, false, false),
            (Weighting::Learned, true, true)
        ]
    );
    assert_eq!(view.note, None);
    // The disagreements are the rows on which the two members' own predictions differ.
    let ids: Vec<i64> =
        f.studio.rows_page(imported.dataset.id, None, 0, 16).unwrap().rows.iter().map(|r| r.id).collect();
    let (pa, pb) = (f.studio.zero_shot(&a, &ids).unwrap(), f.studio.zero_shot(&b, &ids).unwrap());
    let differ: Vec<i64> =
        pa.iter().zip(&pb).filter(|(x, y)| x.predicted != y.predicted).map(|(x, _)| x.row_id).collect();
    assert_eq!(view.disagreement_count, Some(differ.len() as i64));
    assert_eq!(view.disagreements.iter().map(|d| d.row_id).collect::<Vec<_>>(), differ);
    for d in &view.disagreements {
        assert_eq!(d.members.len(), 2);
        assert_ne!(d.members[0], d.members[1]);
        assert!(d.label.is_some() && !d.text.is_empty());
    }

    // Saving, versions, listing.
    let saved = f.studio.save_ensemble("sentiment", &view.json).unwrap();
    assert_eq!(
        (saved.id.is_some(), saved.name.as_deref(), saved.version),
        (true, Some("sentiment"), Some(1))
    );
    assert_eq!(saved.weightings, view.weightings);
    assert_eq!(saved.disagreement_count, None, "a saved ensemble's disagreements need a fit");
    let uniform =
        f.studio.fit_ensemble(&request(vec![pick(0), pick(2)], Weighting::Uniform), &mut yes).unwrap();
    assert_eq!(uniform.members.iter().map(|m| m.weight).collect::<Vec<_>>(), [0.5, 0.5]);
    assert_eq!(f.studio.save_ensemble("sentiment", &uniform.json).unwrap().version, Some(2));
    assert_eq!(f.studio.ensembles().unwrap().len(), 2);
    assert!(f.studio.save_ensemble("x", "{").unwrap_err().to_string().contains("fit it again"));

    // Learned needs rows: on a label set with three labels it is refused before any scoring.
    let fresh = import_texts(&f);
    f.studio.start_labelling(fresh.id, QueueOrder::FileOrder, None).unwrap();
    for k in [0, 1, 0] {
        f.studio.label_current(k).unwrap();
    }
    let few = request(vec![pick(0), pick(2)], Weighting::Learned);
    let err = f.studio.fit_ensemble(&EnsembleRequest { label_set_id: fresh.id, ..few }, &mut |_| -> bool {
        panic!("scored")
    });
    let err = err.unwrap_err();
    assert_eq!(err.kind(), crate::error::ErrorKind::Precondition);
    assert!(err.to_string().contains("label more rows, or use the uniform"), "{err}");

    // Scoring rows with the saved ensemble: its combined probabilities are the run's suggestions.
    let id = saved.id.unwrap();
    let run = f.studio.score_rows_with_ensemble(fresh.id, id, &mut yes).unwrap();
    assert_eq!((run.kind.as_str(), run.status.as_str()), ("ensemble", "finished"));
    assert!(run.template.as_deref().unwrap().starts_with("ensemble sentiment v1"), "{run:?}");
    let query = TableQuery {
        filter: TableFilter::Unlabelled,
        run_id: Some(run.id),
        max_confidence: None,
        offset: 0,
        limit: 50,
    };
    let table = f.studio.label_table(fresh.id, &query).unwrap();
    assert_eq!(table.total, 13);
    let model = f.studio.model().unwrap();
    let stored = f.studio.with_store(|s| s.ensemble(id)).unwrap().ensemble;
    let classifier = crate::ensemble::EnsembleClassifier::new(&model.plm, stored, 32).unwrap();
    let rows: Vec<crate::data::Example> = f
        .studio
        .with_store(|s| table.rows.iter().map(|r| s.row(r.row.id).map(|x| x.example)).collect())
        .unwrap();
    let combined = classifier.classify(&rows, &mut |_, _| true).unwrap().combined;
    for (r, want) in table.rows.iter().zip(&combined) {
        let got = r.suggestion.as_ref().unwrap();
        assert_eq!(got.run_id, run.id);
        assert_eq!(got.predicted, want.predicted);
        for (p, (class, q)) in got.probs.iter().zip(&want.probs) {
            assert_eq!(&p.class, class);
            assert!((p.prob - f64::from(*q)).abs() < 1e-6, "{} vs {q}", p.prob);
        }
    }
    // Live probabilities with the saved ensemble: the same combined probabilities, with each
    // member's prediction (its own, as the member alone predicts).
    let first: Vec<i64> = table.rows.iter().take(3).map(|r| r.row.id).collect();
    let live = f.studio.ensemble_zero_shot(id, &first).unwrap();
    let alone = f.studio.zero_shot(&a, &first).unwrap();
    for ((l, want), a_alone) in live.iter().zip(&combined).zip(&alone) {
        assert_eq!(l.combined.predicted, want.predicted);
        for (p, (_, q)) in l.combined.probs.iter().zip(&want.probs) {
            assert!((p.prob - f64::from(*q)).abs() < 1e-6);
        }
        assert_eq!(l.members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["a v1", "b v1"]);
        assert_eq!(l.members[0].predicted, a_alone.predicted);
        let p_alone = a_alone.probs.iter().find(|p| p.class == a_alone.predicted).unwrap().prob;
        assert!((l.members[0].prob - p_alone).abs() < 1e-6);
    }
    let s = f.studio.start_labelling(fresh.id, QueueOrder::LeastConfidence, Some(run.id)).unwrap();
    assert!(s.item.unwrap().suggestion.is_some(), "the labelling queue follows the ensemble's run");

    // Distillation from the Tune form: the saved ensemble labels 5 of the 13 rows still to label
    // (drawn with the run's seed) with soft labels; the probe trains on them and the 4 human labels,
    // and the run lists the rows it pseudo-labelled and keeps the ensemble in its config.
    f.studio.label_current(1).unwrap();
    let hyper = crate::tune::Hyper {
        epochs: 1,
        ..crate::tune::Hyper::for_strategy(crate::tune::TuneStrategy::Probe)
    };
    let distil = |name: &str, max_rows| super::tuning::TuneRequest {
        dev_fraction: 0.0,
        distill: Some(super::tuning::DistillRequest { ensemble_id: id, temperature: 2.0, max_rows }),
        ..tune_request(
            name,
            crate::tune::TuneStrategy::Probe,
            "{text_a} It was {mask}.",
            fresh.id,
            hyper.clone(),
        )
    };
    let none = f.studio.start_tuning(&distil("none", Some(0)), &mut yes).unwrap_err();
    assert!(none.to_string().contains("at least 1 row"), "{none}");
    let mut stages = Vec::new();
    let run = f
        .studio
        .start_tuning(&distil("distilled", Some(5)), &mut |p| {
            if p.stage == "prepare" {
                stages.push((p.done, p.total));
            }
            true
        })
        .unwrap();
    assert_eq!(run.status, "finished");
    assert_eq!(stages.last(), Some(&(10, Some(10))), "5 rows by 2 members: {stages:?}");
    let dir = f.studio.runs_dir().unwrap().join("distilled");
    let listed = std::fs::read_to_string(dir.join(crate::tune::distill::PSEUDO_LABELS)).unwrap();
    assert_eq!(listed.lines().count(), 5, "{listed}");
    let labelled: Vec<String> = f
        .studio
        .with_store(|s| Ok(s.labelled_examples(fresh.id)?.into_iter().map(|e| e.id).collect()))
        .unwrap();
    for line in listed.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            !labelled.contains(&row["id"].as_str().unwrap().to_string()),
            "a labelled row was pseudo-labelled"
        );
        let soft = row["soft"].as_object().unwrap();
        assert!((soft.values().map(|v| v.as_f64().unwrap()).sum::<f64>() - 1.0).abs() < 1e-5);
    }
    let config = crate::tune::RunDir::new(&dir).read_config().unwrap();
    let kept = config.distill.unwrap();
    assert_eq!((kept.ensemble, kept.temperature), (stored_ensemble(&f, id), 2.0));

    // Exporting: the file `cloze classify --ensemble` reads; never over the project.
    let file = f.dir.join("sentiment.json");
    assert_eq!(f.studio.export_ensemble(id, file.to_str().unwrap()).unwrap(), file.display().to_string());
    assert_eq!(crate::ensemble::Ensemble::read(&file).unwrap(), stored_ensemble(&f, id));
    let project = f.studio.project_file().unwrap();
    let over = f.studio.export_ensemble(id, project.to_str().unwrap()).unwrap_err();
    assert!(over.to_string().contains("is also this job's input"), "{over}");

    // Deleting.
    assert_eq!(f.studio.delete_ensemble(id).unwrap().len(), 1);
    let gone = f.studio.score_rows_with_ensemble(fresh.id, id, &mut yes).unwrap_err();
    assert_eq!(gone.kind(), crate::error::ErrorKind::NotFound);
}

fn stored_ensemble(f: &Fixture, id: i64) -> crate::ensemble::Ensemble {
    f.studio.with_store(|s| s.ensemble(id)).unwrap().ensemble
}

/// Check labels on rows made of two disjoint vocabularies (they embed apart in the tiny BERT
/// fixture, as in `label::suspicious`'s own test), two of them labelled with the other class: the
/// check flags those two first, the Suspicious filter lists them with the evidence, accepting a
/// suggestion relabels the row and takes it off the list, and a newer check replaces the older.
#[test]
fn check_labels_flags_flipped_labels_and_a_suggestion_relabels() {
    let f = fixture("check");
    f.studio.create_project(f.dir.join("p.cloze").to_str().unwrap()).unwrap();
    let words = [["the", "a", "is", "it"], ["was", "and", "of", "to"]];
    let mut csv = String::from("id,text,label\n");
    for i in 0..24 {
        let class = i % 2;
        let text: Vec<&str> = (0..6).map(|k| words[class][(i + k * 3) % 4]).collect();
        let label = if i == 4 || i == 9 { 1 - class } else { class };
        csv += &format!("r{i},{},{}\n", text.join(" "), ["pos", "neg"][label]);
    }
    let file = f.dir.join("words.csv");
    std::fs::write(&file, csv).unwrap();
    let import = |name: &str, path: &std::path::Path| {
        let request = ImportRequest {
            path: path.display().to_string(),
            name: name.into(),
            settings: settings(),
            split: SplitName::Train,
            classes: vec![],
        };
        f.studio.import_dataset(&request, &mut yes).unwrap().label_set.unwrap()
    };
    let set = import("words", &file);
    let options = crate::label::suspicious::SuspicionOptions::default();
    let no_model = f.studio.check_labels(set.id, options, &mut yes).unwrap_err();
    assert!(no_model.to_string().contains("no model is loaded"), "{no_model}");
    f.studio.load_model(&format!("{ROOT}/tests/fixtures/parity/bert"), DeviceKind::Cpu, &mut yes).unwrap();

    let q = |filter| TableQuery { filter, run_id: None, max_confidence: None, offset: 0, limit: 50 };
    let before = f.studio.label_table(set.id, &q(TableFilter::Suspicious)).unwrap();
    assert_eq!((before.total, before.check.is_none()), (0, true), "no check yet");

    let mut last = None;
    let check = f
        .studio
        .check_labels(set.id, options, &mut |p| {
            last = Some(p);
            true
        })
        .unwrap();
    let last = last.unwrap();
    assert_eq!((last.stage.as_str(), Some(last.done)), ("check", last.total));
    assert_eq!((check.rows_checked, check.options), (24, options));
    assert!(check.model.ends_with("parity/bert"), "{}", check.model);
    assert!(check.flagged >= 2 && check.confident >= 2, "{check:?}");
    assert_eq!(check.still_suspicious, check.flagged);
    assert_eq!(check.thresholds.iter().map(|t| t.class.as_str()).collect::<Vec<_>>(), ["pos", "neg"]);

    let page = f.studio.label_table(set.id, &q(TableFilter::Suspicious)).unwrap();
    assert_eq!(page.total, check.flagged);
    assert_eq!(page.check.as_ref(), Some(&check));
    let top: Vec<&str> = page.rows.iter().take(2).map(|r| r.row.ext_id.as_str()).collect();
    assert!(top.contains(&"r4") && top.contains(&"r9"), "{top:?}");
    let evidence = |r: &TableRow| {
        let s = r.suspicion.as_ref().unwrap();
        s.p_suggested - s.p_given
    };
    assert!(page.rows.windows(2).all(|w| evidence(&w[0]) >= evidence(&w[1])), "most suspicious first");
    let r4 = page.rows.iter().find(|r| r.row.ext_id == "r4").unwrap();
    let s4 = r4.suspicion.clone().unwrap();
    assert_eq!((s4.given.as_str(), s4.suggested.as_str(), s4.confident), ("neg", "pos", true));
    assert_eq!(r4.row.label.as_deref(), Some("neg"));
    assert!(s4.p_suggested >= s4.threshold && s4.p_suggested > s4.p_given, "{s4:?}");
    // The All filter shows the evidence on the flagged rows only.
    let all = f.studio.label_table(set.id, &q(TableFilter::All)).unwrap();
    assert_eq!(all.rows.iter().filter(|r| r.suspicion.is_some()).count() as i64, check.flagged);

    // Accept the suggestion for r4: a human `pos`, no longer suspicious; a second accept is refused.
    let relabelled = f.studio.accept_check_suggestion(set.id, r4.row.id).unwrap();
    assert_eq!(
        (relabelled.label.as_deref(), relabelled.label_source.as_deref()),
        (Some("pos"), Some("human"))
    );
    let after = f.studio.label_table(set.id, &q(TableFilter::Suspicious)).unwrap();
    assert_eq!(after.total, check.flagged - 1);
    assert!(after.rows.iter().all(|r| r.row.ext_id != "r4"));
    assert_eq!(after.check.unwrap().still_suspicious, check.flagged - 1);
    let again = f.studio.accept_check_suggestion(set.id, r4.row.id).unwrap_err();
    assert_eq!(again.kind(), crate::error::ErrorKind::Precondition);
    assert!(again.to_string().contains("not suspicious any more"), "{again}");

    // Cancelled: nothing is saved, the check stays.
    let cancelled = f.studio.check_labels(set.id, options, &mut |_| false).unwrap_err();
    assert_eq!(cancelled.kind(), crate::error::ErrorKind::Cancelled);
    let kept = f.studio.label_table(set.id, &q(TableFilter::Suspicious)).unwrap().check.unwrap();
    assert_eq!(kept.id, check.id);
    // A newer check (r4 now labelled as its words say) replaces it and no longer flags r4.
    let newer = f.studio.check_labels(set.id, options, &mut yes).unwrap();
    assert!(newer.id > check.id);
    let page = f.studio.label_table(set.id, &q(TableFilter::Suspicious)).unwrap();
    assert_eq!(page.check.unwrap().id, newer.id);
    assert!(page.rows.iter().any(|r| r.row.ext_id == "r9") && page.rows.iter().all(|r| r.row.ext_id != "r4"));

    // Too few labelled rows: the error says what to do.
    let few = f.dir.join("few.csv");
    std::fs::write(&few, "text,label\nthe a,pos\nwas and,neg\nit is,pos\n").unwrap();
    let small = import("few", &few);
    let err = f.studio.check_labels(small.id, options, &mut yes).unwrap_err();
    assert_eq!(err.kind(), crate::error::ErrorKind::Precondition);
    assert!(err.to_string().contains("label more rows"), "{err}");
}

/// "Repeat over seeds": a 3-seed job records 3 ordinary runs (each its own few-shot sample) and a
/// group whose mean ± s.d., minimum and maximum are the runs' figures worked out by hand; the same
/// seeds give the same numbers; a cancelled job keeps its finished seeds and resumes the rest.
#[test]
fn runs_over_seeds_record_every_seed_and_their_spread() {
    use crate::error::ErrorKind;
    use crate::tune::{Hyper, TuneStrategy};
    let (f, imported) = with_reviews("tune-seeds");
    load_roberta(&f);
    let set = imported.label_set.unwrap().id;
    let request = |name: &str, resume: bool| super::tuning::TuneRequest {
        seeds: Some(vec![13, 21, 42]),
        shots: Some(3),
        resume,
        ..tune_request(
            name,
            TuneStrategy::SoftPrompt,
            "{soft:2} {text_a} It was {mask}.",
            set,
            Hyper { max_steps: Some(3), batch_size: 4, ..Hyper::for_strategy(TuneStrategy::SoftPrompt) },
        )
    };
    let mut stages = Vec::new();
    let group = f
        .studio
        .tune_over_seeds(&request("g", false), &mut |p: Progress| {
            stages.push(p.stage);
            true
        })
        .unwrap();
    assert!(stages.iter().any(|s| s == "seed 1 of 3 · update 1/3"), "{stages:?}");
    assert!(stages.iter().any(|s| s == "seed 3 of 3 · update 3/3"), "{stages:?}");
    let names: Vec<&str> = group.runs.iter().map(|r| r.run.name.as_str()).collect();
    assert_eq!(names, ["g-seed-13", "g-seed-21", "g-seed-42"]);
    assert_eq!((group.finished, group.resampled, group.seeds.as_slice()), (3, true, &[13u64, 21, 42][..]));
    // Each seed is an ordinary run in the list, with the sample it drew (3 rows of each class).
    let listed = f.studio.list_runs().unwrap();
    let runs = f.studio.runs_dir().unwrap();
    for name in names {
        let run = listed.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("{name} not listed"));
        assert_eq!((run.status.as_str(), run.steps), ("finished", 3), "{name}");
        let train = std::fs::read_to_string(runs.join(name).join("train.jsonl")).unwrap();
        assert_eq!(train.lines().count(), 6, "{name}: 3 per class");
        assert_eq!(f.studio.run_details(name).unwrap().summary, *run);
    }
    let samples: Vec<String> = [13, 21, 42]
        .map(|s| std::fs::read_to_string(runs.join(format!("g-seed-{s}/train.jsonl"))).unwrap())
        .into();
    assert!(samples[0] != samples[1] || samples[1] != samples[2], "each seed draws its own sample");

    // The spread by hand: mean, sample standard deviation (n − 1), minimum, maximum.
    let by_hand = |xs: &[f64]| {
        let mean = xs.iter().sum::<f64>() / 3.0;
        let sd = (xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 2.0).sqrt();
        (mean, sd, xs.iter().copied().fold(f64::MAX, f64::min), xs.iter().copied().fold(f64::MIN, f64::max))
    };
    let accuracies: Vec<f64> = group.runs.iter().map(|r| r.run.dev_accuracy.unwrap()).collect();
    let f1s: Vec<f64> = group.runs.iter().map(|r| r.run.dev_macro_f1.unwrap()).collect();
    for (spread, xs) in [(group.accuracy.unwrap(), &accuracies), (group.macro_f1.unwrap(), &f1s)] {
        let (mean, sd, min, max) = by_hand(xs);
        assert!((spread.mean - mean).abs() < 1e-12 && (spread.sd - sd).abs() < 1e-12, "{spread:?} vs {xs:?}");
        assert_eq!((spread.min, spread.max, spread.n), (min, max, 3));
    }
    assert_eq!(group.classes, ["positive", "negative"]);
    for (c, class) in group.per_class_f1.iter().enumerate() {
        let xs: Vec<f64> = group.runs.iter().map(|r| r.per_class_f1[c]).collect();
        assert_eq!(class.class, group.classes[c]);
        assert!((class.f1.mean - by_hand(&xs).0).abs() < 1e-12, "{class:?} vs {xs:?}");
    }
    assert_eq!(f.studio.list_seed_groups().unwrap(), vec![group.clone()]);
    let recorded = crate::tune::seeds::SeedsSummary::read(&runs.join("g")).unwrap();
    assert_eq!(
        recorded.runs.iter().map(|r| r.dir.as_str()).collect::<Vec<_>>(),
        ["g-seed-13", "g-seed-21", "g-seed-42"]
    );

    // The same seeds again: the same numbers. A name already taken is refused.
    let again = f.studio.tune_over_seeds(&request("again", false), &mut yes).unwrap();
    let accuracies_again: Vec<f64> = again.runs.iter().map(|r| r.run.dev_accuracy.unwrap()).collect();
    assert_eq!(
        (accuracies_again, again.accuracy, again.macro_f1),
        (accuracies, group.accuracy, group.macro_f1)
    );
    let e = f.studio.tune_over_seeds(&request("g", false), &mut yes).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    let e =
        f.studio.start_tuning(&super::tuning::TuneRequest { seeds: None, ..request("g", false) }, &mut yes);
    assert_eq!(e.unwrap_err().kind(), ErrorKind::AlreadyExists, "a single run may not take a group's name");

    // Cancelled in the second seed: the first stays finished and the group shows it alone.
    let e = f
        .studio
        .tune_over_seeds(&request("cut", false), &mut |p: Progress| {
            !p.stage.starts_with("seed 2 of 3 · update 2")
        })
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    let cut = f.studio.seed_group("cut").unwrap();
    let statuses: Vec<(&str, &str)> =
        cut.runs.iter().map(|r| (r.run.name.as_str(), r.run.status.as_str())).collect();
    assert_eq!(statuses, [("cut-seed-13", "finished"), ("cut-seed-21", "interrupted")]);
    let first = cut.accuracy.unwrap();
    assert_eq!(
        (cut.finished, first.n, first.mean, first.sd),
        (1, 1, group.runs[0].run.dev_accuracy.unwrap(), 0.0)
    );
    // Resume finishes the rest, to the same numbers as the uninterrupted group.
    let resumed = f
        .studio
        .tune_over_seeds(&super::tuning::TuneRequest { seeds: None, ..request("cut", true) }, &mut yes)
        .unwrap();
    assert_eq!((resumed.finished, resumed.accuracy, resumed.macro_f1), (3, group.accuracy, group.macro_f1));
    let e = f.studio.tune_over_seeds(&request("nothing", true), &mut yes).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Precondition, "{e}");
}

/// Multi-label end to end: the switch, number keys toggling classes on a row that stays on
/// screen, undo bringing the previous set back, Enter saving what the checkboxes show, scoring as
/// a job with thresholds fitted on the labelled rows, thresholds set by hand, the metrics and the
/// multi-hot exports; one-label-per-row workflows refuse the set.
#[test]
fn multi_label_labelling_scoring_thresholds_and_export() {
    let f = fixture("multi-label");
    f.studio.create_project(f.dir.join("p.cloze").to_str().unwrap()).unwrap();
    let set = import_texts(&f);
    assert!(!set.multi_label);
    let v = f.studio.set_multi_label(set.id, true).unwrap();
    assert!(v.multi_label && v.run_id.is_none() && v.metrics.is_none());
    assert_eq!(v.prompt.template, crate::multilabel::DEFAULT_TEMPLATE);
    assert_eq!(v.thresholds.iter().map(|t| t.value).collect::<Vec<_>>(), [0.5, 0.5]);

    let s = f.studio.start_labelling(set.id, QueueOrder::FileOrder, None).unwrap();
    assert!(s.label_set.multi_label);
    let multi = |s: &LabelState| s.item.as_ref().unwrap().multi.clone().unwrap();
    assert_eq!(
        multi(&s),
        MultiItemView { checked: vec![false, false], suggested: vec![false, false], saved: false }
    );
    let first = s.item.as_ref().unwrap().row.id;
    let s = f.studio.label_current(0).unwrap();
    let s2 = f.studio.label_current(1).unwrap();
    assert_eq!(s2.item.as_ref().unwrap().row.id, first, "a toggle keeps the row on screen");
    assert_eq!(multi(&s2).checked, [true, true]);
    assert!(multi(&s2).saved);
    assert_eq!(s2.labelled_in_session, 1, "one row, however many toggles");
    assert_eq!(s.remaining, s2.remaining);
    let back = f.studio.undo_last().unwrap();
    assert_eq!(back.item.as_ref().unwrap().row.id, first);
    assert_eq!(multi(&back).checked, [true, false], "undo brings the previous set back");
    let next = f.studio.accept_suggestion().unwrap();
    assert_ne!(next.item.as_ref().unwrap().row.id, first, "Enter moves on");
    f.studio.accept_suggestion().unwrap(); // none applies
    f.studio.label_current(1).unwrap();
    f.studio.accept_suggestion().unwrap();
    f.studio.label_current(0).unwrap();
    f.studio.label_current(1).unwrap();
    let s = f.studio.accept_suggestion().unwrap();
    assert_eq!(s.labelled_in_session, 4);
    assert_eq!(s.label_set.labelled, 4);
    let counts: Vec<(String, i64)> =
        s.label_set.by_class.iter().map(|c| (c.class.clone(), c.count)).collect();
    assert_eq!(counts, [("positive".to_string(), 2), ("negative".to_string(), 2)]);
    assert!(f.studio.label_current(5).unwrap_err().to_string().contains("no label 6"));

    // One label per row again is refused while rows hold several; so are single-label workflows.
    let err = f.studio.set_multi_label(set.id, false).unwrap_err().to_string();
    assert!(err.contains("2 rows") && err.contains("several classes or none"), "{err}");
    load_roberta(&f);
    let err = f.studio.score_rows(set.id, &prompt(), &mut yes).unwrap_err().to_string();
    assert!(err.contains("several labels per row") && err.contains("Score labels"), "{err}");
    let bad = MultiLabelPromptSpec {
        template: "{text_a} {mask}".into(),
        yes_words: vec!["Yes".into()],
        no_words: vec!["No".into()],
    };
    assert!(f.studio.set_multi_label_prompt(set.id, &bad).unwrap_err().to_string().contains("no {label}"));
    let good = MultiLabelPromptSpec {
        template: "{text_a} Is it {label}? {mask}".into(),
        yes_words: vec!["yes".into()],
        no_words: vec!["no".into()],
    };
    assert_eq!(f.studio.set_multi_label_prompt(set.id, &good).unwrap().prompt, good);
    assert!(f.studio.fit_multi_label_thresholds(set.id).unwrap_err().to_string().contains("Score labels"));

    let mut last = None;
    let v = f
        .studio
        .score_multi_label(set.id, &mut |p| {
            last = Some(p);
            true
        })
        .unwrap();
    assert_eq!(last.map(|p| (p.done, p.total)), Some((16, Some(16))));
    assert_eq!(v.scored_rows, 16);
    let run = v.run_id.unwrap();
    assert_eq!(f.studio.runs(set.id).unwrap()[0].kind, "multi-label");
    assert_eq!(v.thresholds.iter().map(|t| t.positives).collect::<Vec<_>>(), [2, 2]);
    assert!(v.thresholds.iter().all(|t| t.f1.is_some_and(|f1| f1 > 0.0)), "{:?}", v.thresholds);
    let m = v.metrics.clone().unwrap();
    assert_eq!(m.rows, 4);
    assert_eq!(m.per_label.len(), 2);
    assert!((0.0..=1.0).contains(&m.micro_f1) && (0.0..=1.0).contains(&m.subset_accuracy));
    // Thresholds fitted to maximise each label's F1 do at least as well as any hand-set pair.
    for t in [0.0, 0.3, 0.6, 1.0] {
        let hand = f.studio.set_multi_label_thresholds(set.id, &[t, t]).unwrap();
        assert!(hand.thresholds.iter().all(|x| (x.value - t).abs() < 5e-4), "{t}: {:?}", hand.thresholds);
        let hm = hand.metrics.unwrap();
        assert!(hm.macro_f1 <= m.macro_f1 + 1e-9, "{t}: {} > {}", hm.macro_f1, m.macro_f1);
    }
    let refit = f.studio.fit_multi_label_thresholds(set.id).unwrap();
    assert_eq!(refit.thresholds, v.thresholds);
    // Sent back as shown (3 decimals), a fitted threshold keeps its F1; one changed loses it.
    let shown: Vec<f64> = v.thresholds.iter().map(|t| (t.value * 1000.0).round() / 1000.0).collect();
    assert_eq!(f.studio.set_multi_label_thresholds(set.id, &shown).unwrap().thresholds, v.thresholds);
    let other = if shown[1] > 0.5 { shown[1] - 0.1 } else { shown[1] + 0.1 };
    let moved = f.studio.set_multi_label_thresholds(set.id, &[shown[0], other]).unwrap();
    assert_eq!(moved.thresholds[0], v.thresholds[0]);
    assert_eq!(moved.thresholds[1].f1, None);
    f.studio.fit_multi_label_thresholds(set.id).unwrap();
    assert!(
        f.studio
            .set_multi_label_thresholds(set.id, &[0.5])
            .unwrap_err()
            .to_string()
            .contains("1 thresholds for 2")
    );
    assert!(
        f.studio
            .set_multi_label_thresholds(set.id, &[0.5, 1.5])
            .unwrap_err()
            .to_string()
            .contains("between 0 and 1")
    );

    // The card shows the suggestion set of the new run over the thresholds.
    let s = f.studio.start_labelling(set.id, QueueOrder::LeastConfidence, Some(run)).unwrap();
    let item = s.item.clone().unwrap();
    let (sug, m) = (item.suggestion.unwrap(), item.multi.unwrap());
    assert_eq!(m.checked, m.suggested, "an unlabelled row shows the suggested classes");
    let on: Vec<&str> = ["positive", "negative"]
        .into_iter()
        .zip(&m.suggested)
        .filter(|(_, on)| **on)
        .map(|(c, _)| c)
        .collect();
    assert_eq!(sug.predicted, on.join(";"));

    // Multi-hot exports; the one-label-per-row Hugging Face layout is refused.
    let request = |format, path: &std::path::Path| ExportRequest {
        label_set_id: set.id,
        path: path.display().to_string(),
        format,
        sources: vec![],
        min_confidence: None,
        replace: false,
    };
    let csv = f.dir.join("multi.csv");
    assert_eq!(f.studio.export_labels(&request(ExportFormatView::MultiHotCsv, &csv)).unwrap().written, 4);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("id,split,text_a,text_b,labels,positive,negative\n"), "{text}");
    assert_eq!(text.lines().filter(|l| l.ends_with(",positive;negative,1,1")).count(), 1, "{text}");
    let hf = f.dir.join("hf");
    assert_eq!(f.studio.export_labels(&request(ExportFormatView::HfDatasets, &hf)).unwrap().written, 4);
    assert!(hf.join("dataset_info.json").is_file() && hf.join("data.jsonl").is_file());
    let err =
        f.studio.export_labels(&request(ExportFormatView::HfJsonl, &f.dir.join("x.jsonl"))).unwrap_err();
    assert!(err.to_string().contains("several labels per row"), "{err}");
    let plain = f.dir.join("plain.csv");
    assert_eq!(f.studio.export_labels(&request(ExportFormatView::Csv, &plain)).unwrap().written, 4);
}

/// Tuning on a multi-label set: the run trains one sigmoid per class (its config says
/// multi-label, with the set's classes), the run list and details carry micro-F1, macro-F1 and
/// subset accuracy instead of accuracy, and the tuned run scores the set's rows on the Several
/// labels panel; a single-label run is refused there.
#[test]
fn multi_label_sets_tune_and_score_with_the_run() {
    let f = fixture("multi-label-tune");
    f.studio.create_project(f.dir.join("p.cloze").to_str().unwrap()).unwrap();
    let set = import_texts(&f);
    f.studio.set_multi_label(set.id, true).unwrap();
    f.studio.start_labelling(set.id, QueueOrder::FileOrder, None).unwrap();
    // Eight rows: both classes, one, the other, none — in turn.
    for i in 0..8 {
        match i % 4 {
            0 => {
                f.studio.label_current(0).unwrap();
                f.studio.label_current(1).unwrap();
            }
            1 => drop(f.studio.label_current(0).unwrap()),
            2 => drop(f.studio.label_current(1).unwrap()),
            _ => {}
        }
        f.studio.accept_suggestion().unwrap();
    }
    load_roberta(&f);
    let hyper = crate::tune::Hyper {
        epochs: 3,
        ..crate::tune::Hyper::for_strategy(crate::tune::TuneStrategy::Probe)
    };
    let request =
        tune_request("ml-probe", crate::tune::TuneStrategy::Probe, "{text_a} It was {mask}.", set.id, hyper);
    let mut messages = Vec::new();
    let run = f
        .studio
        .start_tuning(&request, &mut |p| {
            messages.extend(p.message);
            true
        })
        .unwrap();
    assert!(messages.iter().any(|m| m.starts_with("dev micro-F1")), "{messages:?}");
    assert!(run.multi_label && run.status == "finished");
    assert_eq!(run.dev_accuracy, None);
    let details = f.studio.run_details("ml-probe").unwrap();
    let m = details.last_eval.unwrap();
    let ml = m.multi_label.unwrap();
    assert_eq!(run.dev_micro_f1, Some(ml.micro_f1));
    assert_eq!(m.classes, ["positive", "negative"]);
    assert!((0.0..=1.0).contains(&ml.subset_accuracy) && ml.thresholds.len() == 2, "{ml:?}");
    assert!(details.config_json.contains("\"multi_label\""));
    assert!(details.confusion_svg.is_none());

    let v = f.studio.score_multi_label_with(set.id, Some("ml-probe"), &mut yes).unwrap();
    assert_eq!(v.scored_rows, 16);
    assert_eq!(v.metrics.unwrap().rows, 8);
    let err = f.studio.score_multi_label_with(set.id, Some("no-such-run"), &mut yes).unwrap_err().to_string();
    assert!(err.contains("no-such-run"), "{err}");

    // A one-label-per-row run cannot score the set.
    let classes = ["positive".to_string(), "negative".to_string()];
    let single = f.studio.create_label_set(set.dataset_id, "one", &classes).unwrap();
    f.studio.start_labelling(single.id, QueueOrder::FileOrder, None).unwrap();
    for i in 0..6 {
        f.studio.label_current(i % 2).unwrap();
    }
    let request = tune_request(
        "single",
        crate::tune::TuneStrategy::Probe,
        "{text_a} It was {mask}.",
        single.id,
        crate::tune::Hyper {
            epochs: 1,
            ..crate::tune::Hyper::for_strategy(crate::tune::TuneStrategy::Probe)
        },
    );
    assert!(!f.studio.start_tuning(&request, &mut yes).unwrap().multi_label);
    let err = f.studio.score_multi_label_with(set.id, Some("single"), &mut yes).unwrap_err().to_string();
    assert!(err.contains("one label per row"), "{err}");
}
