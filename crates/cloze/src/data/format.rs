//! File layouts and their detection from the extension or the first bytes.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, Setting, Text};

/// How many bytes of the file [`Format::detect`] needs to sniff a layout.
pub(crate) const SNIFF_BYTES: usize = 64 * 1024;

/// Column names that identify a header row (any role).
pub(crate) const TEXT_NAMES: &[&str] =
    &["text", "sentence", "sentence1", "text_a", "review", "content", "question", "premise"];
pub(crate) const TEXT_B_NAMES: &[&str] = &["sentence2", "text_b", "hypothesis"];
pub(crate) const LABEL_NAMES: &[&str] = &["label", "labels", "class", "category", "target", "label_name"];
pub(crate) const ID_NAMES: &[&str] = &["id", "idx", "guid"];

/// Whether `cell` is one of the column names the automatic mapping knows (ignoring ASCII case).
pub(crate) fn is_known_name(cell: &str) -> bool {
    let cell = cell.trim();
    [TEXT_NAMES, TEXT_B_NAMES, LABEL_NAMES, ID_NAMES]
        .iter()
        .any(|names| names.iter().any(|n| n.eq_ignore_ascii_case(cell)))
}

/// The layout of a data file. See the [module docs](super) for examples of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Format {
    /// Comma-separated values with CSV quoting.
    Csv,
    /// Tab-separated values; CSV-style quotes when the file uses them consistently.
    Tsv,
    /// One JSON object per line.
    Jsonl,
    /// `label text`: the label is everything before the first space.
    LabelSentence,
    /// Fields separated by this byte, split at the *last* separators so that the first field (the
    /// text) may contain it: `text;label`.
    Delimited(u8),
}

impl Format {
    /// The field separator, for the separated formats.
    pub fn delimiter(self) -> Option<u8> {
        match self {
            Format::Csv => Some(b','),
            Format::Tsv => Some(b'\t'),
            Format::Delimited(d) => Some(d),
            Format::Jsonl | Format::LabelSentence => None,
        }
    }

    /// The format an extension implies: `.csv`, `.tsv`/`.tab`, `.jsonl`/`.ndjson`/`.json-lines`. Other
    /// extensions (`.txt`, `.all`, `.train`, …) and no extension say nothing.
    pub fn from_extension(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "tsv" | "tab" => Some(Format::Tsv),
            "jsonl" | "ndjson" | "json-lines" => Some(Format::Jsonl),
            _ => None,
        }
    }

    /// Detect the layout of `path` from its extension, or else from `first_bytes` (the first 64 KiB
    /// or the whole file if smaller):
    /// - lines starting with `{`: JSONL;
    /// - a first line naming known columns (`text;label`, `sentence\tlabel`, `text,label`): the
    ///   separator it uses;
    /// - tabs on (nearly) every line: TSV;
    /// - `text;label` lines whose last field is one short word: `Delimited(b';')`;
    /// - a short token and a space on every line, with few distinct tokens: `LabelSentence`;
    /// - commas on every line: CSV.
    pub fn detect(path: &Path, first_bytes: &[u8]) -> Result<Format> {
        if let Some(format) = Format::from_extension(path) {
            return Ok(format);
        }
        let data_error = |message: Text| Error::Data { path: path.to_path_buf(), line: None, message };
        if first_bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(data_error("the file is empty: there is nothing to import".into()));
        }
        sniff(first_bytes).ok_or_else(|| {
            data_error(
                Text::from(
                    "cannot tell the layout of this file (not tab- or comma-separated, not `label text` \
                     lines, not `text;label`, not JSON lines); set ",
                )
                .setting(Setting::Format)
                .cli_only(" to csv, tsv, jsonl, label-sentence or delimited:<character>"),
            )
        })
    }
}

impl fmt::Display for Format {
    /// The spelling [`FromStr`] accepts: `csv`, `tsv`, `jsonl`, `label-sentence`, `delimited:;`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Format::Csv => f.write_str("csv"),
            Format::Tsv => f.write_str("tsv"),
            Format::Jsonl => f.write_str("jsonl"),
            Format::LabelSentence => f.write_str("label-sentence"),
            Format::Delimited(b'\t') => f.write_str("delimited:\\t"),
            Format::Delimited(d) => write!(f, "delimited:{}", *d as char),
        }
    }
}

impl FromStr for Format {
    type Err = Error;

    /// `csv`, `tsv`, `jsonl` (or `ndjson`), `label-sentence`, `delimited:<one ASCII character>` (`\t`
    /// for tab), `semicolon`.
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        let format = match lower.as_str() {
            "csv" => Format::Csv,
            "tsv" | "tab" => Format::Tsv,
            "jsonl" | "ndjson" | "json-lines" => Format::Jsonl,
            "label-sentence" | "label_sentence" | "labelsentence" => Format::LabelSentence,
            "semicolon" => Format::Delimited(b';'),
            _ => {
                let delim = s.trim().strip_prefix("delimited:").map(|d| if d == "\\t" { "\t" } else { d });
                match delim.map(str::as_bytes) {
                    Some([d]) if d.is_ascii() && *d != b'\n' && *d != b'"' => Format::Delimited(*d),
                    _ => {
                        return Err(Error::invalid(format!(
                            "unknown format {s:?}: use csv, tsv, jsonl, label-sentence or \
                             delimited:<character> (e.g. delimited:;)"
                        )));
                    }
                }
            }
        };
        Ok(format)
    }
}

/// The complete, non-blank lines of a sniff buffer (a final line without `\n` counts only when it is
/// the only line).
pub(crate) fn sample_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if lines.len() > 1 && !bytes.ends_with(b"\n") {
        lines.pop();
    }
    lines
        .into_iter()
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .collect()
}

fn sniff(bytes: &[u8]) -> Option<Format> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let lines = sample_lines(bytes);
    let first = *lines.first()?;
    if first.trim_ascii_start().starts_with(b"{") {
        return Some(Format::Jsonl);
    }
    // A header naming known columns says which separator the file uses.
    for (delim, format) in [
        (b'\t', Format::Tsv),
        (b';', Format::Delimited(b';')),
        (b',', Format::Csv),
        (b'|', Format::Delimited(b'|')),
    ] {
        if first.contains(&delim)
            && first.split(|&b| b == delim).any(|cell| {
                let cell = String::from_utf8_lossy(cell);
                is_known_name(cell.trim().trim_matches('"'))
            })
        {
            return Some(format);
        }
    }
    let n = lines.len();
    let count = |pred: &dyn Fn(&[u8]) -> bool| lines.iter().filter(|l| pred(l)).count();
    let mostly = |k: usize| k * 10 >= n * 9;
    // A tab on the first line and on two lines in three: a line break inside a text or a quoted
    // field can leave a few lines without one.
    if first.contains(&b'\t') && count(&|l| l.contains(&b'\t')) * 3 >= n * 2 {
        return Some(Format::Tsv);
    }
    if lines.iter().all(|l| ends_with_label_field(l, b';')) {
        return Some(Format::Delimited(b';'));
    }
    if looks_label_sentence(&lines) {
        return Some(Format::LabelSentence);
    }
    if first.contains(&b',') && mostly(count(&|l| l.contains(&b','))) {
        return Some(Format::Csv);
    }
    None
}

/// `text<d>label` where the label is one short word with no spaces.
fn ends_with_label_field(line: &[u8], delim: u8) -> bool {
    match line.iter().rposition(|&b| b == delim) {
        Some(p) => {
            let label = &line[p + 1..];
            p > 0 && !label.is_empty() && label.len() <= 40 && !label.iter().any(u8::is_ascii_whitespace)
        }
        None => false,
    }
}

/// Every line (allowing one in ten to be broken) is a short token, a space and text, and the tokens
/// repeat the way labels do.
fn looks_label_sentence(lines: &[&[u8]]) -> bool {
    // A header line such as `label sentence` does not count.
    let header = lines.first().is_some_and(|l| {
        l.split(|&b| b == b' ').next().is_some_and(|t| is_known_name(&String::from_utf8_lossy(t)))
    });
    let lines = if header && lines.len() > 1 { &lines[1..] } else { lines };
    let mut labels = HashSet::new();
    let mut good = 0;
    for (i, line) in lines.iter().enumerate() {
        let token = line.iter().position(|&b| b == b' ').map(|p| &line[..p]);
        match token {
            Some(t) if !t.is_empty() && t.len() <= 32 && !t.iter().any(|&b| b == b'\t' || b == b',') => {
                labels.insert(t);
                good += 1;
            }
            _ if i == 0 => return false,
            _ => {}
        }
    }
    good * 10 >= lines.len() * 9 && labels.len() <= 100 && labels.len() * 2 <= good + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_from_extension_and_content() {
        let cases: &[(&str, &str, Option<Format>)] = &[
            ("a.csv", "whatever", Some(Format::Csv)),
            ("a.CSV", "x\ty\n", Some(Format::Csv)),
            ("a.tsv", "x,y\n", Some(Format::Tsv)),
            ("a.jsonl", "", Some(Format::Jsonl)),
            ("a.ndjson", "", Some(Format::Jsonl)),
            ("a.json-lines", "", Some(Format::Jsonl)),
            (
                "stsa.binary.train",
                "1 a stirring , funny film\n0 apparently reassembled .\n",
                Some(Format::LabelSentence),
            ),
            ("custrev.all", "0 weak ; . it does n't\n1 great\n0 \n", Some(Format::LabelSentence)),
            (
                "TREC.train",
                "DESC:manner How did serfdom develop ?\nENTY:cremat What films ?\n",
                Some(Format::LabelSentence),
            ),
            (
                "SMSSpamCollection",
                "ham\tGo until jurong point\nham\tOk lar...\nspam\tFree entry\n",
                Some(Format::Tsv),
            ),
            (
                "train.txt",
                "text;label_name\ni didnt feel humiliated;sadness\n",
                Some(Format::Delimited(b';')),
            ),
            (
                "train.txt",
                "i didnt feel humiliated;sadness\ni feel; well;joy\n",
                Some(Format::Delimited(b';')),
            ),
            ("data.txt", "text\tlabel\nhello\t1\n", Some(Format::Tsv)),
            ("data.txt", "\u{feff}sentence,label\nhello,1\n", Some(Format::Csv)),
            ("data", "{\"text\": \"hi\", \"label\": 1}\n", Some(Format::Jsonl)),
            ("data", "a,b,c\nd,e,f\n", Some(Format::Csv)),
            // A partial last line (sniff buffer cut mid-line) is ignored.
            (
                "data",
                "0 good film\n1 bad film\nthisisalongtokenwithoutanyspaceatallbecausethebuffer",
                Some(Format::LabelSentence),
            ),
            // Prose: many distinct first words.
            ("data", "the cat sat\nmy dog ran\nits fur grew\nno one came\nwe all left\n", None),
            ("data", "justoneword\n", None),
        ];
        for (name, content, want) in cases {
            let got = Format::detect(Path::new(name), content.as_bytes());
            match want {
                Some(w) => assert_eq!(got.as_ref().ok(), Some(w), "{name}: {content:?} -> {got:?}"),
                None => assert!(got.is_err(), "{name}: {content:?} should not be detected, got {got:?}"),
            }
        }
    }

    #[test]
    fn detect_errors_say_what_to_do() {
        let err = Format::detect(Path::new("x.txt"), b"").unwrap_err();
        assert_eq!(err.to_string(), "x.txt: the file is empty: there is nothing to import");
        let err = Format::detect(Path::new("x.txt"), b"justoneword\n").unwrap_err();
        assert!(err.to_string().contains("set --format to csv, tsv, jsonl"), "{err}");
    }

    #[test]
    fn format_parse_and_display() {
        let cases = [
            ("csv", Format::Csv),
            ("TSV", Format::Tsv),
            ("jsonl", Format::Jsonl),
            ("label-sentence", Format::LabelSentence),
            ("delimited:;", Format::Delimited(b';')),
            ("delimited:|", Format::Delimited(b'|')),
            ("delimited:\\t", Format::Delimited(b'\t')),
            ("semicolon", Format::Delimited(b';')),
        ];
        for (s, want) in cases {
            assert_eq!(s.parse::<Format>().ok(), Some(want), "{s}");
        }
        for f in [
            Format::Csv,
            Format::Tsv,
            Format::Jsonl,
            Format::LabelSentence,
            Format::Delimited(b';'),
            Format::Delimited(b'\t'),
        ] {
            assert_eq!(f.to_string().parse::<Format>().ok(), Some(f), "{f}");
        }
        for bad in ["xml", "delimited:", "delimited:ab", "delimited:\""] {
            assert!(bad.parse::<Format>().is_err(), "{bad}");
        }
    }

    #[test]
    fn known_names() {
        for (cell, known) in [
            ("TEXT", true),
            (" label ", true),
            ("sentence2", true),
            ("idx", true),
            ("tweet", false),
            ("0", false),
        ] {
            assert_eq!(is_known_name(cell), known, "{cell}");
        }
    }
}
