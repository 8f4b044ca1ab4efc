//! Row readers per format: CSV and TSV through the `csv` crate, and the line-based formats
//! (label-sentence, delimited, JSONL), each decoding its fields with the file's [`Encoding`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::super::scan::{Scan, decode};
use super::super::{Encoding, Format, SkippedRow};
use super::sniff::delimited_width;
use super::{data_error, preview};
use crate::error::{Error, Front, Result, Setting, Text};

/// Column names, and for JSONL an index to add keys as they appear.
#[derive(Debug, Default)]
pub(super) struct Columns {
    pub names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Columns {
    pub(super) fn from_names(names: Vec<String>) -> Columns {
        let index = names.iter().enumerate().map(|(i, n)| (n.clone(), i)).collect();
        Columns { names, index }
    }

    fn slot(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len();
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), i);
        i
    }
}

/// What a source produced: a row (its fields written to the buffer), a bad row, or the end.
pub(super) enum Next {
    Row(u64),
    Bad(SkippedRow),
    End,
}

pub(super) enum Source {
    Csv(Box<CsvSource>),
    Lines(Box<LineSource>),
}

impl Source {
    /// The reader for `format`, over `file` positioned after the byte order mark. `head` is the start
    /// of the file, from which a delimited file's field count is taken.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        path: &Path,
        file: File,
        format: Format,
        head: &[u8],
        has_header: Option<bool>,
        quoting: bool,
        encoding: Encoding,
        scanned: &Scan,
    ) -> Source {
        match format {
            Format::Csv | Format::Tsv => {
                let delim = if format == Format::Csv { b',' } else { b'\t' };
                Self::Csv(CsvSource::new(path, file, delim, quoting, encoding, scanned))
            }
            Format::LabelSentence => {
                Self::Lines(LineSource::new(path, file, LineKind::LabelSentence, encoding))
            }
            Format::Delimited(delim) => {
                let width = delimited_width(head, delim, has_header);
                Self::Lines(LineSource::new(path, file, LineKind::Delimited { delim, width }, encoding))
            }
            Format::Jsonl => Self::Lines(LineSource::new(path, file, LineKind::Jsonl, encoding)),
        }
    }

    pub(super) fn next(&mut self, columns: &mut Columns, fields: &mut Vec<Option<String>>) -> Result<Next> {
        match self {
            Source::Csv(s) => s.next(fields),
            Source::Lines(s) => s.next(columns, fields),
        }
    }
}

/// The encoding to read with: the one asked for, else UTF-8 unless the pre-pass found a byte that is
/// not, then Latin-1 (with a note saying so).
pub(super) fn encoding(
    forced: Option<Encoding>,
    invalid_utf8: Option<(u64, u8)>,
    notes: &mut Vec<String>,
) -> Encoding {
    match (forced, invalid_utf8) {
        (Some(e), _) => e,
        (None, None) => Encoding::Utf8,
        (None, Some((line, byte))) => {
            notes.push(format!(
                "the file is not UTF-8 (byte 0x{byte:02X} on line {line}), so it was read as Latin-1 \
                 (ISO-8859-1, one character per byte)"
            ));
            Encoding::Latin1
        }
    }
}

fn invalid_utf8_row(line: u64) -> SkippedRow {
    SkippedRow {
        fix: Some(
            Text::from("; ")
                .cli_only("drop --encoding utf-8")
                .app_only(format!("set {} to Auto", Setting::Encoding.name(Front::App)))
                .then(" to read the file as Latin-1"),
        ),
        ..SkippedRow::new(line, "this row is not valid UTF-8")
    }
}

/// The longest physical line a data file may have (64 MiB). Longer fields are cut at import
/// (`MAX_FIELD_CHARS`), but a line must be held whole before it can be cut, so a file with one
/// 2 GB line is refused at that line instead of allocating gigabytes.
pub(super) const MAX_LINE_BYTES: u64 = 64 * 1024 * 1024;

/// A reader that fails once a physical line (bytes since the last `\n`) exceeds
/// [`MAX_LINE_BYTES`], with a [`LineTooLong`] naming the line.
pub(super) struct LineGuard<R> {
    inner: R,
    since_newline: u64,
    line: u64,
}

impl<R> LineGuard<R> {
    fn new(inner: R) -> Self {
        LineGuard { inner, since_newline: 0, line: 1 }
    }
}

impl<R: Read> Read for LineGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for chunk in buf[..n].split_inclusive(|&b| b == b'\n') {
            self.since_newline += chunk.len() as u64;
            if self.since_newline > MAX_LINE_BYTES {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    LineTooLong { line: self.line },
                ));
            }
            if chunk.last() == Some(&b'\n') {
                self.since_newline = 0;
                self.line += 1;
            }
        }
        Ok(n)
    }
}

/// A line longer than [`MAX_LINE_BYTES`] (1-based `line`).
#[derive(Debug)]
pub(super) struct LineTooLong {
    line: u64,
}

impl LineTooLong {
    const MESSAGE: &'static str = "this line is longer than 64 MiB, more than any text to classify; \
                                   the file is not line-structured data (or needs splitting) — remove or shorten the line";

    fn of(e: &std::io::Error) -> Option<&LineTooLong> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<LineTooLong>())
    }
}

impl std::fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {} is longer than {} MiB", self.line, MAX_LINE_BYTES >> 20)
    }
}

impl std::error::Error for LineTooLong {}

/// CSV and TSV through the `csv` crate, with line numbers recovered from its positions.
pub(super) struct CsvSource {
    path: PathBuf,
    rdr: csv::Reader<LineGuard<File>>,
    rec: csv::ByteRecord,
    delim: u8,
    quoting: bool,
    encoding: Encoding,
    data_len: u64,
    ends_with_newline: bool,
    unterminated: Option<u64>,
    first_line: Option<u64>,
}

impl CsvSource {
    fn new(
        path: &Path,
        file: File,
        delim: u8,
        quoting: bool,
        encoding: Encoding,
        scanned: &Scan,
    ) -> Box<Self> {
        let rdr = csv::ReaderBuilder::new()
            .delimiter(delim)
            .has_headers(false)
            .flexible(false)
            .quoting(quoting)
            .double_quote(true)
            .terminator(csv::Terminator::Any(b'\n'))
            .buffer_capacity(64 * 1024)
            .from_reader(LineGuard::new(file));
        let unterminated = if quoting { scanned.quotes.as_ref().and_then(|q| q.unterminated) } else { None };
        Box::new(CsvSource {
            path: path.to_path_buf(),
            rdr,
            rec: csv::ByteRecord::new(),
            delim,
            quoting,
            encoding,
            data_len: scanned.len,
            ends_with_newline: scanned.ends_with_newline,
            unterminated,
            first_line: None,
        })
    }

    /// First and last physical line of the record just read, and whether it reached the end of file.
    fn span(&self) -> (u64, u64, bool) {
        let pos = self.rdr.position();
        let at_eof = pos.byte() >= self.data_len;
        // The last record has no terminator when the file does not end with a newline, or when an
        // unclosed quote ran to the end (its final newline is inside the field).
        let terminated = !(at_eof && (!self.ends_with_newline || self.unterminated.is_some()));
        let end = pos.line().saturating_sub(u64::from(terminated)).max(1);
        let inner =
            if self.quoting { self.rec.as_slice().iter().filter(|&&b| b == b'\n').count() as u64 } else { 0 };
        (end.saturating_sub(inner).max(1), end, at_eof)
    }

    fn count_message(&self, expected: usize, found: usize, start: u64, end: u64) -> String {
        let sep = match self.delim {
            b'\t' => "tab",
            b',' => "comma",
            _ => "delimiter",
        };
        let row = self
            .rec
            .iter()
            .map(|f| String::from_utf8_lossy(f.strip_suffix(b"\r").unwrap_or(f)).into_owned())
            .collect::<Vec<_>>()
            .join(&char::from(self.delim).to_string());
        let like = self.first_line.map(|l| format!(" as on line {l}")).unwrap_or_default();
        let hint = if end > start {
            format!(
                "the row runs from line {start} to line {end}, so a quoted field may be missing its closing quote"
            )
        } else if found < expected {
            "if a line break split a text in two, join this line to the previous one".to_string()
        } else if self.quoting {
            format!("a text containing a {sep} must be quoted")
        } else {
            format!("a text contains a {sep}")
        };
        format!("expected {expected} {sep}-separated fields{like}, found {found}: {}; {hint}", preview(&row))
    }

    fn next(&mut self, fields: &mut Vec<Option<String>>) -> Result<Next> {
        loop {
            let expected = match self.rdr.read_byte_record(&mut self.rec) {
                Ok(false) => return Ok(Next::End),
                Ok(true) => None,
                Err(e) => match e.kind() {
                    csv::ErrorKind::UnequalLengths { expected_len, .. } => Some(*expected_len as usize),
                    csv::ErrorKind::Io(io) if LineTooLong::of(io).is_some() => {
                        let line = LineTooLong::of(io).map(|l| l.line);
                        return Err(data_error(&self.path, line, LineTooLong::MESSAGE.to_string()));
                    }
                    csv::ErrorKind::Io(_) => {
                        let source: crate::error::Source = match e.into_kind() {
                            csv::ErrorKind::Io(io) => Box::new(io),
                            other => format!("{other:?}").into(),
                        };
                        return Err(Error::Io {
                            path: self.path.clone(),
                            message: "cannot read the file".into(),
                            source,
                        });
                    }
                    _ => {
                        let line = e.position().map(|p| p.line());
                        return Err(data_error(&self.path, line, e.to_string()));
                    }
                },
            };
            // A blank line of a CRLF file.
            if self.rec.len() == 1 && matches!(&self.rec[0], b"" | b"\r") {
                continue;
            }
            let (start, end, at_eof) = self.span();
            if self.first_line.is_none() {
                self.first_line = Some(start);
            }
            if let Some(open) = self.unterminated
                && at_eof
                && start <= open
            {
                let message = format!(
                    "the quote opened on line {open} is never closed, so the rest of the file was read as \
                     one field; close the quote"
                );
                let fix = Text::default().cli_only(", or pass --quoting off if quotes are plain text");
                return Ok(Next::Bad(SkippedRow { fix: Some(fix), ..SkippedRow::new(start, message) }));
            }
            if let Some(expected) = expected {
                let message = self.count_message(expected, self.rec.len(), start, end);
                return Ok(Next::Bad(SkippedRow::new(start, message)));
            }
            fields.clear();
            let last = self.rec.len().saturating_sub(1);
            for (i, field) in self.rec.iter().enumerate() {
                let field = if i == last { field.strip_suffix(b"\r").unwrap_or(field) } else { field };
                match decode(field, self.encoding) {
                    Some(s) => fields.push(Some(s)),
                    None => return Ok(Next::Bad(invalid_utf8_row(start))),
                }
            }
            return Ok(Next::Row(start));
        }
    }
}

pub(super) enum LineKind {
    LabelSentence,
    Delimited { delim: u8, width: usize },
    Jsonl,
}

/// Line-based formats: one row per `\n`-terminated line, blank lines ignored.
pub(super) struct LineSource {
    path: PathBuf,
    rdr: BufReader<LineGuard<File>>,
    buf: Vec<u8>,
    cuts: Vec<usize>,
    line: u64,
    kind: LineKind,
    encoding: Encoding,
}

impl LineSource {
    fn new(path: &Path, file: File, kind: LineKind, encoding: Encoding) -> Box<Self> {
        Box::new(LineSource {
            path: path.to_path_buf(),
            rdr: BufReader::with_capacity(64 * 1024, LineGuard::new(file)),
            buf: Vec::new(),
            cuts: Vec::new(),
            line: 0,
            kind,
            encoding,
        })
    }

    fn next(&mut self, columns: &mut Columns, fields: &mut Vec<Option<String>>) -> Result<Next> {
        loop {
            self.buf.clear();
            let n = self.rdr.read_until(b'\n', &mut self.buf).map_err(|e| match LineTooLong::of(&e) {
                Some(long) => data_error(&self.path, Some(long.line), LineTooLong::MESSAGE.to_string()),
                None => Error::io_while(&self.path, "cannot read the file", e),
            })?;
            if n == 0 {
                return Ok(Next::End);
            }
            self.line += 1;
            let mut bytes = self.buf.as_slice();
            bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
            bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let line = self.line;
            let encoding = self.encoding;
            let bad = |message: String| Ok(Next::Bad(SkippedRow::new(line, message)));
            fields.clear();
            match self.kind {
                LineKind::LabelSentence => {
                    let Some(p) = bytes.iter().position(|&b| b == b' ') else {
                        return bad(format!(
                            "expected a label, a space and the text, found no space: {}",
                            preview(&String::from_utf8_lossy(bytes))
                        ));
                    };
                    if p == 0 {
                        return bad(
                            "the line starts with a space: expected the label first, then one space \
                                    and the text"
                                .into(),
                        );
                    }
                    for part in [&bytes[..p], &bytes[p + 1..]] {
                        match decode(part, encoding) {
                            Some(s) => fields.push(Some(s)),
                            None => return Ok(Next::Bad(invalid_utf8_row(line))),
                        }
                    }
                }
                LineKind::Delimited { delim, width } => {
                    self.cuts.clear();
                    let mut rest = bytes;
                    for _ in 1..width {
                        match rest.iter().rposition(|&b| b == delim) {
                            Some(p) => {
                                self.cuts.push(p);
                                rest = &rest[..p];
                            }
                            None => {
                                return bad(format!(
                                    "expected {width} {:?}-separated fields, found {}: {}; the last {} \
                                     fields must not contain {:?}",
                                    char::from(delim),
                                    self.cuts.len() + 1,
                                    preview(&String::from_utf8_lossy(bytes)),
                                    width - 1,
                                    char::from(delim),
                                ));
                            }
                        }
                    }
                    let mut start = 0;
                    for &cut in self.cuts.iter().rev().chain(std::iter::once(&bytes.len())) {
                        match decode(&bytes[start..cut], encoding) {
                            Some(s) => fields.push(Some(s)),
                            None => return Ok(Next::Bad(invalid_utf8_row(line))),
                        }
                        start = cut + 1;
                    }
                }
                LineKind::Jsonl => {
                    let text: Cow<str> = match encoding {
                        Encoding::Latin1 => Cow::Owned(decode(bytes, encoding).unwrap_or_default()),
                        // UTF-8, or UTF-16/32 converted to UTF-8 as the file is read.
                        _ => match std::str::from_utf8(bytes) {
                            Ok(s) => Cow::Borrowed(s),
                            Err(_) => return Ok(Next::Bad(invalid_utf8_row(line))),
                        },
                    };
                    let object = match serde_json::from_str::<serde_json::Value>(&text) {
                        Ok(serde_json::Value::Object(map)) => map,
                        Ok(other) => {
                            return bad(format!(
                                "expected a JSON object like {{\"text\": \"…\", \"label\": \"…\"}}, found {}",
                                json_kind(&other)
                            ));
                        }
                        Err(e) => {
                            let mut msg = e.to_string();
                            if let Some(at) = msg.rfind(" at line ") {
                                msg.truncate(at);
                            }
                            return bad(format!(
                                "invalid JSON at column {}: {msg}; each line must hold one JSON object",
                                e.column()
                            ));
                        }
                    };
                    // A "meta" object (as Cloze's own JSONL files write it: the few-shot samples,
                    // the label export) holds more columns; a top-level field of the same name wins.
                    let mut object = object;
                    let nested = match object.remove("meta") {
                        Some(serde_json::Value::Object(meta)) => meta,
                        Some(other) => {
                            object.insert("meta".into(), other);
                            serde_json::Map::new()
                        }
                        None => serde_json::Map::new(),
                    };
                    let nested: Vec<_> =
                        nested.into_iter().filter(|(k, _)| !object.contains_key(k)).collect();
                    for (key, value) in object.into_iter().chain(nested) {
                        let i = columns.slot(&key);
                        if fields.len() <= i {
                            fields.resize(i + 1, None);
                        }
                        fields[i] = match value {
                            serde_json::Value::String(s) => Some(s),
                            serde_json::Value::Number(n) => Some(n.to_string()),
                            serde_json::Value::Bool(b) => Some(b.to_string()),
                            serde_json::Value::Null => None,
                            other => {
                                return bad(format!(
                                    "field {key:?} is {}; only strings, numbers and booleans can be imported",
                                    json_kind(&other)
                                ));
                            }
                        };
                    }
                    fields.resize(columns.names.len(), None);
                }
            }
            return Ok(Next::Row(line));
        }
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::test_support::*;
    use crate::data::{ColumnMapping, Encoding, Format, ImportOptions, Reader, load};

    #[test]
    fn csv_quoting_and_lines() {
        let content = "text,label\n\"a, b\",1\n\"say \"\"hi\"\"\",0\n\n\"two\nlines\",1\nplain,0";
        let file = TempFile::new("q.csv", content.as_bytes());
        let mut reader = Reader::open(&file.path, &opts()).unwrap();
        let mut seen = Vec::new();
        for ex in reader.by_ref() {
            let ex = ex.unwrap();
            seen.push((ex.text_a, ex.label.unwrap_or_default(), ex.id));
        }
        let lines_and_texts: Vec<(String, String, String)> = vec![
            ("a, b".into(), "1".into(), "1".into()),
            ("say \"hi\"".into(), "0".into(), "2".into()),
            ("two\nlines".into(), "1".into(), "3".into()),
            ("plain".into(), "0".into(), "4".into()),
        ];
        assert_eq!(seen, lines_and_texts);
        assert_eq!(reader.line(), 7);
        let report = reader.report();
        assert!(report.quoting);
        assert_eq!(report.rows, 4);

        // Line numbers of rows after blank lines and multi-line fields.
        let file = TempFile::new("l.csv", b"text,label\n\n\"x\ny\nz\",1\n\nw,0\n");
        let mut reader = Reader::open(&file.path, &opts()).unwrap();
        let mut lines = Vec::new();
        while let Some(ex) = reader.next() {
            ex.unwrap();
            lines.push(reader.line());
        }
        assert_eq!(lines, [3, 7]);
    }

    #[test]
    fn unterminated_quote() {
        let file = TempFile::new("u.csv", b"text,label\na,1\n\"b,2\nc,3\n");
        let err = load(&file.path, &opts()).unwrap_err();
        assert_eq!(
            message(&file, &err),
            "line 3: the quote opened on line 3 is never closed, so the rest of the file was read as one \
             field; close the quote, or pass --quoting off if quotes are plain text (or pass --skip-bad-rows to \
             skip such rows)"
        );
        // The app has no quoting option: it says only what it can offer.
        assert!(
            err.message(crate::error::Front::App)
                .ends_with("close the quote (or turn on “Skip bad rows” to skip such rows)")
        );
        let (ex, report) = load(&file.path, &skipping()).unwrap();
        assert_eq!(texts(&ex), ["a"]);
        assert_eq!(report.skipped.iter().map(|s| s.line).collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn latin1_fallback() {
        let file = TempFile::new("rt.all", b"0 simplistic , silly .\n1 caf\xe9 cr\xe8me \x85 ok\n0 fine\n");
        let (ex, report) = load(&file.path, &opts()).unwrap();
        assert_eq!(report.encoding, Encoding::Latin1);
        assert_eq!(report.format, Format::LabelSentence);
        assert_eq!(texts(&ex), ["simplistic , silly .", "caf\u{e9} cr\u{e8}me \u{85} ok", "fine"]);
        assert_eq!(
            report.notes,
            [
                "the file is not UTF-8 (byte 0xE9 on line 2), so it was read as Latin-1 (ISO-8859-1, one character \
              per byte)"
            ]
        );
        // Forcing UTF-8 makes the bad row an error.
        let err = load(&file.path, &ImportOptions { encoding: Some(Encoding::Utf8), ..opts() }).unwrap_err();
        assert_eq!(
            message(&file, &err),
            "line 2: this row is not valid UTF-8; drop --encoding utf-8 to read the file as Latin-1 (or pass \
             --skip-bad-rows to skip such rows)"
        );
        assert!(
            err.message(crate::error::Front::App)
                .contains("set “Encoding” to Auto to read the file as Latin-1")
        );
        // Valid UTF-8 stays UTF-8, including U+0085 inside a line.
        let (ex, report) =
            load_str("u.all", "0 cr\u{e8}me \u{85} br\u{fb}l\u{e9}e\n1 ok\n", &opts()).unwrap();
        assert_eq!(report.encoding, Encoding::Utf8);
        assert_eq!(texts(&ex), ["cr\u{e8}me \u{85} br\u{fb}l\u{e9}e", "ok"]);
    }

    #[test]
    fn bom_and_crlf() {
        let (ex, report) = load_str("b.csv", "\u{feff}text,label\r\nhi,1\r\n\r\nbye,0\r\n", &opts()).unwrap();
        assert!(report.header);
        assert_eq!(report.columns, ["text", "label"]);
        assert_eq!(texts(&ex), ["hi", "bye"]);
        assert_eq!(labels(&ex), [Some("1"), Some("0")]);
        let (ex, _) = load_str("b.txt", "\u{feff}0 good film\r\n1 bad\r\n", &opts()).unwrap();
        assert_eq!(texts(&ex), ["good film", "bad"]);
        assert_eq!(labels(&ex), [Some("0"), Some("1")]);
        let (ex, _) = load_str("b.jsonl", "\u{feff}{\"text\": \"x\"}\r\n", &opts()).unwrap();
        assert_eq!(texts(&ex), ["x"]);
    }

    #[test]
    fn bad_rows_name_their_line() {
        let label_sentence = ImportOptions { format: Some(Format::LabelSentence), ..opts() };
        let cases: Vec<(&str, &str, ImportOptions, &str)> = vec![
            (
                "a.tsv",
                "text\tlabel\nok\t1\n\nbroken\n",
                opts(),
                "line 4: expected 2 tab-separated fields as on line 1, found 1: \"broken\"; if a line break split \
                 a text in two, join this line to the previous one (or pass --skip-bad-rows to skip such rows)",
            ),
            (
                "a.csv",
                "text,label\n\"x\ny\",1\nbad\n",
                opts(),
                "line 4: expected 2 comma-separated fields as on line 1, found 1: \"bad\"; if a line break split \
                 a text in two, join this line to the previous one (or pass --skip-bad-rows to skip such rows)",
            ),
            (
                "a.csv",
                "text,label\nok,1\na,b,c\n",
                opts(),
                "line 3: expected 2 comma-separated fields as on line 1, found 3: \"a,b,c\"; a text containing a \
                 comma must be quoted (or pass --skip-bad-rows to skip such rows)",
            ),
            (
                "a.csv",
                "text,label\n\"a\nb\",\"c\nd\",e\n",
                opts(),
                "line 2: expected 2 comma-separated fields as on line 1, found 3: \"a\\nb,c\\nd,e\"; the row runs \
                 from line 2 to line 4, so a quoted field may be missing its closing quote (or pass \
                 --skip-bad-rows to skip such rows)",
            ),
            (
                "a.csv",
                "text,label\nok,1\n  ,0\n",
                opts(),
                "line 3: the text (column 1 \"text\") is empty; fill it in (or pass --skip-bad-rows to skip \
                 such rows)",
            ),
            (
                "a.jsonl",
                "{\"text\": \"a\"}\n\n{\"text\": \n",
                opts(),
                "line 3: invalid JSON at column 9: EOF while parsing a value; each line must hold one JSON object",
            ),
            (
                "a.jsonl",
                "{\"text\": \"a\"}\n[1, 2]\n",
                opts(),
                "line 2: expected a JSON object like {\"text\": \"…\", \"label\": \"…\"}, found an array",
            ),
            (
                "a.jsonl",
                "{\"text\": \"a\"}\n{\"text\": [\"b\"]}\n",
                opts(),
                "line 2: field \"text\" is an array; only strings, numbers and booleans can be imported",
            ),
            (
                "a.jsonl",
                "{\"text\": \"a\"}\n{\"label\": \"b\"}\n",
                opts(),
                "line 2: this row has no text (column 1 \"text\"); add it (or pass --skip-bad-rows to skip \
                 such rows)",
            ),
            (
                "a.txt",
                "0 good\n1 fine\nnospace\n",
                label_sentence.clone(),
                "line 3: expected a label, a space and the text, found no space: \"nospace\"",
            ),
            (
                "a.txt",
                "0 good\n ugly\n",
                label_sentence.clone(),
                "line 2: the line starts with a space: expected the label first, then one space and the text",
            ),
            (
                "a.txt",
                "0 good\n1 \n",
                label_sentence,
                "line 2: the text (column 2 \"text\") is empty; fill it in (or pass --skip-bad-rows to skip such \
                 rows)",
            ),
            (
                "a.txt",
                "text;label\ni feel;joy\njust text\n",
                opts(),
                "line 3: expected 2 ';'-separated fields, found 1: \"just text\"; the last 1 fields must not \
                 contain ';' (or pass --skip-bad-rows to skip such rows)",
            ),
        ];
        for (name, content, options, want) in cases {
            let file = TempFile::new(name, content.as_bytes());
            let err = load(&file.path, &options).unwrap_err();
            assert_eq!(err.kind(), crate::error::ErrorKind::InvalidInput);
            // Every bad row's error ends saying how to skip such rows.
            let skip_hint = " (or pass --skip-bad-rows to skip such rows)";
            let full =
                if want.ends_with(skip_hint) { want.to_string() } else { format!("{want}{skip_hint}") };
            assert_eq!(message(&file, &err), full, "{content:?}");
            // Skipping reports the same line and message, and keeps the good rows.
            let skip = ImportOptions { skip_bad_rows: true, ..options };
            let (_, report) = load(&file.path, &skip).unwrap();
            assert_eq!(report.skipped.len(), 1, "{content:?}");
            let line = &want[5..want.find(':').unwrap()];
            assert_eq!(report.skipped[0].line.to_string(), line);
            // The skipped-row report says what is wrong, not how to skip it.
            let problem = want.strip_suffix(skip_hint).unwrap_or(want);
            assert_eq!(format!("line {}: {}", report.skipped[0].line, report.skipped[0].message), problem);
            // The app names its checkbox instead of the flag.
            let app = err.message(crate::error::Front::App);
            assert!(
                app.ends_with(" (or turn on “Skip bad rows” to skip such rows)") && !app.contains("--"),
                "{app}"
            );
        }
    }

    #[test]
    fn jsonl_meta_objects_are_read_back() {
        // As the few-shot bench and the label export write rows: `meta` holds more columns.
        let content = "{\"id\":\"7\",\"text_a\":\"a\",\"text_b\":null,\"label\":\"1\",\"meta\":{\"topic\":\"film\"}}\n\
                       {\"id\":\"8\",\"text_a\":\"b\",\"label\":\"0\",\"topic\":\"top\",\"meta\":{\"topic\":\"inner\"}}\n\
                       {\"id\":\"9\",\"text_a\":\"c\",\"label\":\"0\",\"meta\":{}}\n";
        let (ex, _) = load_str("s.jsonl", content, &opts()).unwrap();
        assert_eq!(texts(&ex), ["a", "b", "c"]);
        assert_eq!(labels(&ex), [Some("1"), Some("0"), Some("0")]);
        assert_eq!(ex[0].meta, BTreeMap::from([("topic".into(), "film".into())]));
        assert_eq!(ex[1].meta, BTreeMap::from([("topic".into(), "top".into())]));
        // A nested object inside meta is still refused, naming the field.
        let bad = "{\"text\":\"a\",\"meta\":{\"deep\":{\"x\":1}}}\n";
        let err = load_str("b.jsonl", bad, &opts()).unwrap_err();
        assert!(err.to_string().contains("field \"deep\" is an object"), "{err}");
    }

    #[test]
    fn jsonl_values() {
        let content = "{\"text\": \"a\", \"label\": 1, \"score\": 0.5, \"ok\": true, \"none\": null, \"id\": 17}\n\
                       \n\
                       {\"text\": \"b\", \"label\": \"neg\", \"extra\": \"new\"}\n";
        let (ex, report) = load_str("d.jsonl", content, &opts()).unwrap();
        assert_eq!(report.format, Format::Jsonl);
        assert_eq!(texts(&ex), ["a", "b"]);
        assert_eq!(labels(&ex), [Some("1"), Some("neg")]);
        assert_eq!(ex[0].id, "17");
        assert_eq!(ex[1].id, "2");
        assert_eq!(
            ex[0].meta,
            BTreeMap::from([("ok".into(), "true".into()), ("score".into(), "0.5".into())])
        );
        assert_eq!(ex[1].meta, BTreeMap::from([("extra".into(), "new".into())]));
        assert_eq!(report.columns, ["text", "label", "score", "ok", "none", "id", "extra"]);
        assert_eq!(
            report.mapping,
            ColumnMapping {
                text: "text".into(),
                text_b: None,
                label: Some("label".into()),
                id: Some("id".into())
            }
        );
    }

    #[test]
    fn delimited_splits_at_the_last_delimiter() {
        let (ex, report) =
            load_str("e.txt", "text;label_name\ni feel; fine;joy\nsad day;sadness\n", &opts()).unwrap();
        assert_eq!(report.format, Format::Delimited(b';'));
        assert_eq!(texts(&ex), ["i feel; fine", "sad day"]);
        assert_eq!(labels(&ex), [Some("joy"), Some("sadness")]);
        // Without a header the width is the most common field count.
        let (ex, report) = load_str("e.txt", "a;b;joy\nfeel low;sadness\nfeel up;joy\n", &opts()).unwrap();
        assert!(!report.header);
        assert_eq!(texts(&ex), ["a;b", "feel low", "feel up"]);
        assert_eq!(labels(&ex), [Some("joy"), Some("sadness"), Some("joy")]);
        // Three columns named by the header.
        let (ex, _) = load_str("e.txt", "text|label|id\nx|y|z|1|7\n", &opts()).unwrap();
        assert_eq!(
            (ex[0].text_a.as_str(), ex[0].label.as_deref(), ex[0].id.as_str()),
            ("x|y|z", Some("1"), "7")
        );
    }
}
