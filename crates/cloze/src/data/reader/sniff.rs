//! What the sampled rows say about the layout: whether the first row is a header, and how many
//! fields a delimited line has. (The format itself is detected in `data::format`.)

use std::collections::{BTreeMap, VecDeque};

use super::super::Format;
use super::super::format::{is_known_name, sample_lines};
use super::super::scan::Scan;
use super::Raw;

fn is_number(s: &str) -> bool {
    let t = s.trim();
    t.bytes().any(|b| b.is_ascii_digit()) && t.parse::<f64>().is_ok()
}

/// The first row is a header when it names a known column, or when some column is numeric in every
/// other sampled row but not in the first.
pub(super) fn sniff_header(pending: &VecDeque<Raw>) -> bool {
    let Some(Raw::Row { fields: first, .. }) = pending.front() else {
        return false;
    };
    if first.iter().flatten().any(|cell| is_known_name(cell)) {
        return true;
    }
    let rest: Vec<&[Option<String>]> = pending
        .iter()
        .skip(1)
        .filter_map(|r| match r {
            Raw::Row { fields, .. } => Some(fields.as_slice()),
            Raw::Bad(_) => None,
        })
        .collect();
    if rest.is_empty() {
        return false;
    }
    first.iter().enumerate().any(|(c, head)| {
        head.as_deref().is_some_and(|h| !h.trim().is_empty() && !is_number(h))
            && rest.iter().all(|row| row.get(c).and_then(|v| v.as_deref()).is_some_and(is_number))
    })
}

/// Header cells as column names: trimmed, `column_N` when blank, made unique.
pub(super) fn header_names(fields: Vec<Option<String>>) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(fields.len());
    for (i, cell) in fields.into_iter().enumerate() {
        let base = cell
            .map(|c| c.trim().trim_start_matches('\u{feff}').to_string())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| format!("column_{}", i + 1));
        let mut name = base.clone();
        let mut k = 2;
        while names.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        names.push(name);
    }
    names
}

/// The number of fields of a `Delimited` file: the header's, or the most common count in the sample
/// (texts may contain the delimiter, so most lines show the true count).
pub(super) fn delimited_width(head: &[u8], delim: u8, has_header: Option<bool>) -> usize {
    let lines = sample_lines(head);
    let Some(first) = lines.first() else { return 2 };
    let count = |line: &[u8]| line.iter().filter(|&&b| b == delim).count() + 1;
    let header = has_header.unwrap_or_else(|| {
        first.split(|&b| b == delim).any(|cell| is_known_name(&String::from_utf8_lossy(cell)))
    });
    if header {
        return count(first);
    }
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for line in &lines {
        *counts.entry(count(line)).or_default() += 1;
    }
    // Most common, smallest on ties.
    counts.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(w, _)| *w).unwrap_or(2)
}

/// Whether a CSV or TSV file is read with CSV quoting: as asked, always for CSV, and for TSV when the
/// pre-pass found its quotes well formed (else a note says why they were read as text).
pub(super) fn quoting(format: Format, forced: Option<bool>, scanned: &Scan, notes: &mut Vec<String>) -> bool {
    let quotes = scanned.quotes.clone().unwrap_or_default();
    match (format, forced) {
        (Format::Csv | Format::Tsv, Some(q)) => q,
        (Format::Csv, None) => true,
        (Format::Tsv, None) => {
            if let Some(line) = quotes.malformed {
                notes.push(format!(
                    "quotes were read as plain text: line {line} has text after a closing quote, so \
                     this file does not use CSV quoting (pass --quoting on to force it)"
                ));
            } else if let Some(line) = quotes.unterminated {
                notes.push(format!(
                    "quotes were read as plain text: the quote opened on line {line} is never \
                     closed, so this file does not use CSV quoting (pass --quoting on to force it)"
                ));
            }
            quotes.well_formed()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::data::{ImportOptions, Reader};

    #[test]
    fn header_sniffing() {
        let cases: &[(&str, &str, bool, &[&str])] = &[
            ("a.tsv", "text\tlabel\nhello\t1\n", true, &["text", "label"]),
            ("a.tsv", "Sentence\tLabel\nhello\t1\n", true, &["Sentence", "Label"]),
            ("a.tsv", "hello there\t1\nbye now\t0\n", false, &["column_1", "column_2"]),
            ("a.tsv", "ham\thello there\nspam\twin now\nham\tok then\n", false, &["column_1", "column_2"]),
            ("a.csv", "tweet,score\nhello you,0.5\nbye you,1\n", true, &["tweet", "score"]),
            (
                "a.csv",
                "\"class\",\"title\",\"text\"\n\"1\",\"t\",\"some body\"\n",
                true,
                &["class", "title", "text"],
            ),
            ("a.csv", "3,a title\n1,another one\n", false, &["column_1", "column_2"]),
            ("a.csv", "text,,text\nhi,x,y\n", true, &["text", "column_2", "text_2"]),
            ("a.txt", "label sentence\n0 a film\n1 good\n", true, &["label", "sentence"]),
            ("a.txt", "0 a film\n1 good\n", false, &["label", "text"]),
            ("a.txt", "text;label\nhi;joy\n", true, &["text", "label"]),
        ];
        for (name, content, header, columns) in cases {
            let file = TempFile::new(name, content.as_bytes());
            let reader = Reader::open(&file.path, &opts()).unwrap_or_else(|e| panic!("{content:?}: {e}"));
            assert_eq!(reader.has_header(), *header, "{content:?}");
            assert_eq!(reader.columns(), *columns, "{content:?}");
        }
        // Forcing the header either way.
        let (ex, report) =
            load_str("a.tsv", "hello\t1\nbye\t0\n", &ImportOptions { has_header: Some(true), ..opts() })
                .unwrap();
        assert_eq!(report.columns, ["hello", "1"]);
        assert_eq!(texts(&ex), ["bye"]);
        let (ex, _) = load_str(
            "a.tsv",
            "text\tlabel\nhi there\t1\n",
            &ImportOptions { has_header: Some(false), ..opts() },
        )
        .unwrap();
        assert_eq!(texts(&ex), ["text", "hi there"]);
        assert_eq!(labels(&ex), [Some("label"), Some("1")]);
    }

    #[test]
    fn tsv_quoting_decision() {
        // RTE style: CSV quotes in a TSV.
        let (ex, report) = load_str(
            "rte.tsv",
            "sentence1\tsentence2\tlabel\n\"He said \"\"no\"\".\"\tHe spoke.\t0\n",
            &opts(),
        )
        .unwrap();
        assert!(report.quoting);
        assert_eq!(texts(&ex), ["He said \"no\"."]);
        assert_eq!(ex[0].text_b.as_deref(), Some("He spoke."));
        // BANKING77 style: a quoted text spanning lines.
        let (ex, _) =
            load_str("b.tsv", "text\tlabel\n\"\nHow do I unblock my PIN?\"\tpin_blocked\nok\tx\n", &opts())
                .unwrap();
        assert_eq!(texts(&ex), ["\nHow do I unblock my PIN?", "ok"]);
        // SMS style: quotes are part of the text.
        let content = "ham\thello there\nham\t\"Hi\" she said\nspam\t\"unclosed quote\nham\tbye now\n";
        let (ex, report) = load_str("SMSSpam", content, &opts()).unwrap();
        assert!(!report.quoting);
        assert_eq!(texts(&ex), ["hello there", "\"Hi\" she said", "\"unclosed quote", "bye now"]);
        assert_eq!(labels(&ex), [Some("ham"), Some("ham"), Some("spam"), Some("ham")]);
        assert_eq!(
            report.notes,
            [
                "quotes were read as plain text: line 2 has text after a closing quote, so this file does not use \
              CSV quoting (pass --quoting on to force it)"
            ]
        );
        // Forcing quoting off keeps quotes in a CSV.
        let (ex, _) =
            load_str("a.csv", "text,label\n\"x\",1\n", &ImportOptions { quoting: Some(false), ..opts() })
                .unwrap();
        assert_eq!(texts(&ex), ["\"x\""]);
    }
}
