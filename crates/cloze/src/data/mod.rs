//! Labelled text data: the [`Example`] every other module consumes, streaming import of the common
//! file layouts, and deterministic splits and few-shot sampling.
//!
//! # Formats
//!
//! | [`Format`] | layout | example |
//! | --- | --- | --- |
//! | `Csv` | comma-separated, RFC 4180 quoting (`"a ""b"", c"`, line breaks inside quotes) | AG News `"3","title","text"` |
//! | `Tsv` | tab-separated; CSV-style quotes are honoured when the file uses them consistently | GLUE `sentence1\tsentence2\tlabel\tidx` |
//! | `Jsonl` | one JSON object per line; string, number and boolean values | `{"text": "…", "label": 1}` |
//! | `LabelSentence` | label, one space, the text (harvardnlp / Kim 2014) | `0 the movie was dull .` |
//! | `Delimited(d)` | `text<d>label`, split at the *last* `d`s so the text may contain `d` | dair-ai emotion `i feel sad;sadness` |
//!
//! [`Format::detect`] picks the format from the extension (`.csv`, `.tsv`, `.jsonl` / `.ndjson`) and
//! otherwise sniffs the first 64 KiB (`.txt`, `.all`, `.train`, no extension, …).
//!
//! # Reading
//!
//! [`Reader`] streams rows: it never holds the file in memory, only a small sample of the first rows
//! that it uses to detect a header and map columns to roles ([`ImportOptions`] describes the
//! automatic mapping). The file is first scanned for UTF-8 validity; a file that is not UTF-8 is read
//! as Latin-1 (every byte is one character) and [`ImportReport::encoding`] says so. A UTF-8 byte order
//! mark is dropped. Lines end at `\n` (a trailing `\r` is dropped) and nowhere else: U+0085 and a lone
//! `\r` are text.
//!
//! A malformed row (wrong number of fields, invalid JSON, no text, unterminated quote) is an
//! [`Error::Data`] naming the file and the 1-based physical line where the
//! row starts, unless [`ImportOptions::skip_bad_rows`] is set; then it is listed in
//! [`ImportReport::skipped`] and reading goes on.
//!
//! # Splits and few-shot sets
//!
//! [`split`] and [`few_shot`] shuffle with [`SplitMix64`], so a seed gives the same sets on every
//! machine.

mod format;
mod reader;
mod sample;
mod scan;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, Setting, Text};

pub use format::Format;
pub use reader::{MAX_FIELD_CHARS, Reader};
pub(crate) use sample::fnv1a;
pub use sample::{SplitMix64, few_shot, few_shot_split, label_counts, shuffle, split, stratified_folds};

/// One labelled (or unlabelled) example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// A stable identifier: the id column when one is mapped, otherwise the 1-based number of the data
    /// row in the file (header excluded; bad rows keep their number, so ids don't move when rows are
    /// skipped).
    pub id: String,
    /// The main text.
    pub text_a: String,
    /// The second text of a pair task (RTE, NLI), if any.
    #[serde(default)]
    pub text_b: Option<String>,
    /// The class, exactly as written in the file (trimmed); `None` when unlabelled.
    #[serde(default)]
    pub label: Option<String>,
    /// Every other column, by column name (`column_N`, 1-based, when the file has no header).
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
}

impl Example {
    /// An unlabelled example with no second text and no extra columns.
    pub fn new(id: impl Into<String>, text_a: impl Into<String>) -> Self {
        Example { id: id.into(), text_a: text_a.into(), text_b: None, label: None, meta: BTreeMap::new() }
    }

    /// The value a template placeholder `{name}` stands for: `text_a`, `text_b`, `label`, `id`, or a
    /// column kept in [`Example::meta`] (also reachable as `meta.NAME`, the OpenPrompt spelling).
    pub fn field(&self, name: &str) -> Option<&str> {
        match name {
            "text_a" => Some(&self.text_a),
            "text_b" => self.text_b.as_deref(),
            "label" => self.label.as_deref(),
            "id" => Some(&self.id),
            _ => match self.meta.get(name) {
                Some(v) => Some(v),
                None => name.strip_prefix("meta.").and_then(|n| self.meta.get(n)).map(String::as_str),
            },
        }
    }
}

/// A column chosen by name or by 0-based position.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ColumnRef {
    /// A header name (matched exactly, then ignoring ASCII case), or `column_N` in a file without header.
    Name(String),
    /// A 0-based column position. Users type 1-based numbers; [`FromStr`] converts.
    Index(usize),
}

impl FromStr for ColumnRef {
    type Err = Error;

    /// A number is a 1-based column as users type it (`"2"` is `Index(1)`); anything else is a name.
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.is_empty() {
            return Err(Error::invalid("empty column: give a column name or a 1-based column number"));
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return match s.parse::<usize>() {
                Ok(0) => Err(Error::invalid("column 0 does not exist: column numbers start at 1")),
                Ok(n) => Ok(ColumnRef::Index(n - 1)),
                Err(_) => Err(Error::invalid(format!("column number {s} is too large"))),
            };
        }
        Ok(ColumnRef::Name(s.to_string()))
    }
}

impl fmt::Display for ColumnRef {
    /// As users type it: the name, or the 1-based number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnRef::Name(n) => f.write_str(n),
            ColumnRef::Index(i) => write!(f, "{}", i + 1),
        }
    }
}

/// Text encoding of a data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Encoding {
    /// UTF-8 (the default).
    Utf8,
    /// ISO-8859-1: every byte is the character with that code point.
    Latin1,
    /// UTF-16, little-endian (what Windows calls "Unicode"); found by its byte order mark
    /// `FF FE`, or asked for. Converted to UTF-8 while reading.
    Utf16Le,
    /// UTF-16, big-endian (byte order mark `FE FF`).
    Utf16Be,
    /// UTF-32, little-endian (byte order mark `FF FE 00 00`).
    Utf32Le,
    /// UTF-32, big-endian (byte order mark `00 00 FE FF`).
    Utf32Be,
}

impl Encoding {
    /// Every encoding, in the order the CLI and the app list them.
    pub const ALL: [Encoding; 6] = [
        Encoding::Utf8,
        Encoding::Latin1,
        Encoding::Utf16Le,
        Encoding::Utf16Be,
        Encoding::Utf32Le,
        Encoding::Utf32Be,
    ];

    /// For UTF-16 and UTF-32: bytes per code unit and whether they are little-endian. These files
    /// are converted to UTF-8 as they are read; the other encodings are decoded field by field.
    pub fn code_unit(self) -> Option<(usize, bool)> {
        match self {
            Encoding::Utf8 | Encoding::Latin1 => None,
            Encoding::Utf16Le => Some((2, true)),
            Encoding::Utf16Be => Some((2, false)),
            Encoding::Utf32Le => Some((4, true)),
            Encoding::Utf32Be => Some((4, false)),
        }
    }

    /// The name `--encoding` takes (`utf-16le`).
    pub fn option(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Latin1 => "latin-1",
            Encoding::Utf16Le => "utf-16le",
            Encoding::Utf16Be => "utf-16be",
            Encoding::Utf32Le => "utf-32le",
            Encoding::Utf32Be => "utf-32be",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Latin1 => "Latin-1",
            Encoding::Utf16Le => "UTF-16 LE",
            Encoding::Utf16Be => "UTF-16 BE",
            Encoding::Utf32Le => "UTF-32 LE",
            Encoding::Utf32Be => "UTF-32 BE",
        })
    }
}

impl FromStr for Encoding {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        // "UTF-16 LE", "utf_16le" and "utf-16-le" all name the same encoding.
        let key: String =
            s.trim().to_ascii_lowercase().replace([' ', '_'], "-").replace("-le", "le").replace("-be", "be");
        match key.as_str() {
            "utf-8" | "utf8" => Ok(Encoding::Utf8),
            "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" => Ok(Encoding::Latin1),
            "utf-16le" | "utf16le" => Ok(Encoding::Utf16Le),
            "utf-16be" | "utf16be" => Ok(Encoding::Utf16Be),
            "utf-32le" | "utf32le" => Ok(Encoding::Utf32Le),
            "utf-32be" | "utf32be" => Ok(Encoding::Utf32Be),
            _ => Err(Error::invalid(format!(
                "unknown encoding {:?}: use utf-8, latin-1, utf-16le, utf-16be, utf-32le or utf-32be",
                s.trim()
            ))),
        }
    }
}

/// How to read a data file. Every field is optional; `Default` detects everything.
///
/// Columns that are not given are mapped automatically:
/// - by header name, ignoring case: text from `text`, `sentence`, `sentence1`, `text_a`, `review`,
///   `content`, `question`, `premise`; text_b from `sentence2`, `text_b`, `hypothesis`; label from
///   `label`, `labels`, `class`, `category`, `target`, `label_name`; id from `id`, `idx`, `guid`;
/// - [`Format::LabelSentence`] gives label and text;
/// - otherwise, when exactly two columns are left and one looks like a label (short values), it is
///   the label and the other the text (SMSSpamCollection: `ham<TAB>text`); when one column is left it
///   is the text. Anything else (AG News' three unnamed columns) needs `text_column` at least.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportOptions {
    /// The layout; `None` detects it ([`Format::detect`]).
    pub format: Option<Format>,
    /// Whether the first row names the columns; `None` sniffs it (a known column name in the first
    /// row, or a column that is numeric in every row but the first). Ignored for JSONL.
    pub has_header: Option<bool>,
    /// The column holding the text.
    pub text_column: Option<ColumnRef>,
    /// The column holding the second text of a pair.
    pub text_b_column: Option<ColumnRef>,
    /// The column holding the label.
    pub label_column: Option<ColumnRef>,
    /// The column holding a row id.
    pub id_column: Option<ColumnRef>,
    /// Skip malformed rows (and list them in the report) instead of failing on the first one.
    pub skip_bad_rows: bool,
    /// Take the column roles exactly as given: nothing is guessed, so a role without a column has
    /// none (the text column must be given). For user interfaces where the user saw the guess and
    /// changed it (e.g. chose no label column).
    pub explicit_columns: bool,
    /// Stop after this many good rows.
    pub limit: Option<usize>,
    /// Force an encoding instead of detecting it (UTF-8 if valid, else Latin-1).
    pub encoding: Option<Encoding>,
    /// CSV-style quoting for CSV/TSV. `None`: always for CSV; for TSV only when every quoted field in
    /// the file is well-formed (so `"Hi" she said` in a TSV stays text).
    pub quoting: Option<bool>,
    /// The fields the template that will read the rows names (`{before} {mask} {after}`): a column of
    /// the same name is that field's value (also when it fills a role), and when nothing else says
    /// which column holds the text, the first of them that is a column does.
    pub template_fields: Vec<String>,
}

impl ImportOptions {
    /// These options, for rows a template with these fields reads.
    pub fn for_fields<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.template_fields = fields.into_iter().map(Into::into).collect();
        self
    }
}

/// A malformed row that was skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedRow {
    /// 1-based physical line where the row starts.
    pub line: u64,
    /// What is wrong with it, and how to fix the row.
    pub message: String,
    /// A fix that is not in the row: a setting, named as the front end that shows the error names
    /// it (only in the error a bad row becomes; a skipped-row report needs none).
    #[serde(skip)]
    pub fix: Option<Text>,
}

impl SkippedRow {
    pub fn new(line: u64, message: impl Into<String>) -> Self {
        Self { line, message: message.into(), fix: None }
    }

    /// The error this row is when bad rows are not skipped: its message, the fix, and how to skip
    /// such rows instead.
    pub fn into_error(self, path: &std::path::Path) -> Error {
        let mut message = Text::from(self.message);
        if let Some(fix) = self.fix {
            message = message.append(fix);
        }
        let message = message.then(" (or ").turn_on(Setting::SkipBadRows).then(" to skip such rows)");
        Error::Data { path: path.to_path_buf(), line: Some(self.line), message }
    }
}

/// Which column fills which role of an [`Example`], by column name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnMapping {
    /// Column giving [`Example::text_a`].
    pub text: String,
    /// Column giving [`Example::text_b`].
    pub text_b: Option<String>,
    /// Column giving [`Example::label`].
    pub label: Option<String>,
    /// Column giving [`Example::id`].
    pub id: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Good rows returned.
    pub rows: usize,
    /// Malformed rows skipped (only with [`ImportOptions::skip_bad_rows`]).
    pub skipped: Vec<SkippedRow>,
    /// The encoding the file was read with.
    pub encoding: Encoding,
    /// The layout the file was read as.
    pub format: Format,
    /// Column names: the header, `column_N` without one, `label`/`text` for
    /// [`Format::LabelSentence`], keys in order of appearance for JSONL.
    pub columns: Vec<String>,
    /// Whether the first row was read as a header.
    pub header: bool,
    /// Whether CSV-style quotes were honoured (CSV and TSV only).
    pub quoting: bool,
    /// Which column went where.
    pub mapping: ColumnMapping,
    /// Things worth telling the user (encoding fallback, quoting decision).
    pub notes: Vec<String>,
    /// Columns that fill a role and that a template field also names
    /// ([`ImportOptions::template_fields`]): their values are in `meta` under these names too.
    #[serde(default)]
    pub named_roles: Vec<String>,
}

impl ImportReport {
    /// The template placeholders the imported examples can fill ([`Example::field`]): `text_a`,
    /// `text_b` and `label` when mapped, `id`, then every column that went to [`Example::meta`]. The
    /// columns mapped to roles are not among them (`{sentence}` is `{text_a}`) unless the template
    /// read with the rows names them ([`ImportReport::named_roles`]).
    pub fn fields(&self) -> Vec<String> {
        let m = &self.mapping;
        let mut fields = vec!["text_a".to_string()];
        if m.text_b.is_some() {
            fields.push("text_b".into());
        }
        if m.label.is_some() {
            fields.push("label".into());
        }
        fields.push("id".into());
        let roles = [Some(&m.text), m.text_b.as_ref(), m.label.as_ref(), m.id.as_ref()];
        fields.extend(
            self.columns
                .iter()
                .filter(|c| !roles.contains(&Some(*c)) || self.named_roles.contains(c))
                .cloned(),
        );
        fields
    }
}

/// Read a whole file into memory: [`Reader::open`] then collect. Fails on the first malformed row
/// unless [`ImportOptions::skip_bad_rows`] is set.
pub fn load(path: impl AsRef<Path>, options: &ImportOptions) -> Result<(Vec<Example>, ImportReport)> {
    let mut reader = Reader::open(path, options)?;
    let mut examples = Vec::new();
    for example in reader.by_ref() {
        examples.push(example?);
    }
    Ok((examples, reader.into_report()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_ref_parsing() {
        let cases: &[(&str, Option<ColumnRef>)] = &[
            ("1", Some(ColumnRef::Index(0))),
            ("2", Some(ColumnRef::Index(1))),
            (" 12 ", Some(ColumnRef::Index(11))),
            ("text", Some(ColumnRef::Name("text".into()))),
            ("column_2", Some(ColumnRef::Name("column_2".into()))),
            ("2a", Some(ColumnRef::Name("2a".into()))),
            ("-1", Some(ColumnRef::Name("-1".into()))),
            ("0", None),
            ("", None),
            ("   ", None),
            ("99999999999999999999999", None),
        ];
        for (input, want) in cases {
            let got = input.parse::<ColumnRef>();
            match want {
                Some(w) => assert_eq!(got.as_ref().ok(), Some(w), "{input:?}"),
                None => assert!(got.is_err(), "{input:?} should fail, got {got:?}"),
            }
        }
        assert_eq!(ColumnRef::Index(1).to_string(), "2");
        assert_eq!(ColumnRef::Name("label".into()).to_string(), "label");
        let err = "0".parse::<ColumnRef>().unwrap_err();
        assert_eq!(err.to_string(), "column 0 does not exist: column numbers start at 1");
    }

    #[test]
    fn example_fields() {
        let mut ex = Example::new("7", "a fine film");
        ex.text_b = Some("a film".into());
        ex.label = Some("1".into());
        ex.meta.insert("title".into(), "Heat".into());
        let cases: &[(&str, Option<&str>)] = &[
            ("text_a", Some("a fine film")),
            ("text_b", Some("a film")),
            ("label", Some("1")),
            ("id", Some("7")),
            ("title", Some("Heat")),
            ("meta.title", Some("Heat")),
            ("missing", None),
            ("meta.missing", None),
        ];
        for (name, want) in cases {
            assert_eq!(ex.field(name), *want, "{name}");
        }
        assert_eq!(Example::new("1", "x").field("text_b"), None);
    }

    #[test]
    fn example_serde_round_trip() {
        let mut ex = Example::new("1", "text");
        ex.label = Some("pos".into());
        let json = serde_json::to_string(&ex).unwrap();
        let back: Example = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ex);
        let partial: Example = serde_json::from_str(r#"{"id": "2", "text_a": "hi"}"#).unwrap();
        assert_eq!(partial, Example::new("2", "hi"));
    }

    #[test]
    fn report_fields() {
        let report = ImportReport {
            rows: 0,
            skipped: Vec::new(),
            encoding: Encoding::Utf8,
            format: Format::Tsv,
            columns: ["sentence1", "sentence2", "label", "idx", "genre"].map(String::from).to_vec(),
            header: true,
            quoting: true,
            mapping: ColumnMapping {
                text: "sentence1".into(),
                text_b: Some("sentence2".into()),
                label: Some("label".into()),
                id: Some("idx".into()),
            },
            notes: Vec::new(),
            named_roles: Vec::new(),
        };
        assert_eq!(report.fields(), ["text_a", "text_b", "label", "id", "genre"]);
        // A template that reads the text column by its name ({sentence1}) may.
        let named = ImportReport { named_roles: vec!["sentence1".into()], ..report.clone() };
        assert_eq!(named.fields(), ["text_a", "text_b", "label", "id", "sentence1", "genre"]);
        let unlabelled = ImportReport {
            columns: vec!["column_1".into(), "column_2".into()],
            mapping: ColumnMapping { text: "column_2".into(), ..Default::default() },
            ..report
        };
        assert_eq!(unlabelled.fields(), ["text_a", "id", "column_1"]);
    }

    #[test]
    fn encoding_parsing() {
        let cases = [
            ("utf-8", Some(Encoding::Utf8)),
            ("UTF8", Some(Encoding::Utf8)),
            ("latin1", Some(Encoding::Latin1)),
            ("ISO-8859-1", Some(Encoding::Latin1)),
            ("ascii", None),
        ];
        for (s, want) in cases {
            assert_eq!(s.parse::<Encoding>().ok(), want, "{s}");
        }
        assert_eq!(Encoding::Latin1.to_string(), "Latin-1");
    }

    #[test]
    fn options_deserialize_with_defaults() {
        let opts: ImportOptions = serde_json::from_str(r#"{"skip_bad_rows": true}"#).unwrap();
        assert_eq!(opts, ImportOptions { skip_bad_rows: true, ..Default::default() });
    }
}
