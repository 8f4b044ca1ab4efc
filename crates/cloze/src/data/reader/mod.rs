//! The streaming [`Reader`]: opens a file, reads a sample ahead to find the header and the column
//! roles, then hands out [`Example`]s row by row.
//!
//! - [`source`]: the row readers per format (CSV/TSV, label-sentence, delimited, JSONL) and encodings;
//! - [`sniff`]: what the sample says about the layout (header row, quoting, field count);
//! - [`roles`]: which column is the text, text_b, label and id (the `--*-column` options);
//! - [`unicode`]: UTF-16 and UTF-32 files, converted to UTF-8 as they are read.

mod roles;
mod sniff;
mod source;
#[cfg(test)]
mod test_support;
mod unicode;

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use self::roles::{Roles, describe_column, resolve, template_columns};
use self::sniff::{header_names, sniff_header};
use self::source::{Columns, Next, Source};
use super::format::SNIFF_BYTES;
use super::scan;
use super::{ColumnMapping, Encoding, Example, Format, ImportOptions, ImportReport, SkippedRow};
use crate::error::{Error, Result, Text};

/// Rows read ahead to sniff the header and map columns; they are returned first, in order.
const SAMPLE_ROWS: usize = 200;
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A streaming reader of [`Example`]s from one data file.
///
/// ```no_run
/// # fn main() -> cloze::Result<()> {
/// use cloze::data::{ImportOptions, Reader};
/// let mut reader = Reader::open("train.tsv", &ImportOptions::default())?;
/// for example in reader.by_ref() {
///     let example = example?;
///     println!("{} {:?}", example.text_a, example.label);
/// }
/// println!("{} rows, {} skipped", reader.report().rows, reader.report().skipped.len());
/// # Ok(())
/// # }
/// ```
pub struct Reader {
    path: PathBuf,
    source: Source,
    format: Format,
    encoding: Encoding,
    header: bool,
    quoting: bool,
    columns: Columns,
    roles: Roles,
    /// Columns a template field names that also fill a role: their value goes to `meta` as well,
    /// under the column's name, so `{sentence}` reads the text column called `sentence`.
    also_fields: Vec<usize>,
    pending: VecDeque<Raw>,
    fields: Vec<Option<String>>,
    line: u64,
    record_no: u64,
    rows: usize,
    skipped: Vec<SkippedRow>,
    notes: Vec<String>,
    /// Fields cut to [`MAX_FIELD_CHARS`] so far.
    cut_fields: usize,
    skip_bad_rows: bool,
    limit: Option<usize>,
    done: bool,
    /// For a UTF-16/32 file: the UTF-8 copy being read, removed with the reader.
    _utf8_copy: Option<unicode::Utf8Copy>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("encoding", &self.encoding)
            .field("columns", &self.columns.names)
            .field("line", &self.line)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// Open `path`: detect the layout, scan the encoding, read the first rows to find the header and
    /// map the columns. Fails when the file cannot be read, is empty, or its columns cannot be mapped
    /// (the message lists the columns and the option to pass).
    pub fn open(path: impl AsRef<Path>, options: &ImportOptions) -> Result<Reader> {
        let path = path.as_ref();
        let mut file = File::open(path).map_err(|e| Error::io_while(path, "cannot open the file", e))?;
        let read_err = |e: std::io::Error| Error::io_while(path, "cannot read the file", e);
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        Read::by_ref(&mut file).take(SNIFF_BYTES as u64).read_to_end(&mut head).map_err(read_err)?;
        // UTF-16 and UTF-32 (by their byte order mark, or asked for) are converted to UTF-8 first.
        let wide = match options.encoding {
            Some(e) if e.code_unit().is_some() => Some((e, unicode::bom_len(&head, e))),
            Some(_) => None,
            None => match unicode::bom(&head) {
                Some(found) => Some(found),
                None => match unicode::bomless_guess(&head) {
                    Some(e) => return Err(unicode::bomless_error(path, e)),
                    None => None,
                },
            },
        };
        let mut notes = Vec::new();
        let mut utf8_copy = None;
        if let Some((encoding, skip)) = wide {
            let (copy, guard, replaced) = unicode::to_utf8(path, file, encoding, skip as u64)?;
            if replaced > 0 {
                notes.push(format!(
                    "{replaced} malformed {encoding} code unit(s) (unpaired surrogates, or a truncated last \
                     character) were read as U+FFFD"
                ));
            }
            file = copy;
            utf8_copy = Some(guard);
            head.clear();
            Read::by_ref(&mut file).take(SNIFF_BYTES as u64).read_to_end(&mut head).map_err(read_err)?;
            file.seek(SeekFrom::Start(0)).map_err(read_err)?;
        }
        let bom = if head.starts_with(BOM) { BOM.len() } else { 0 };
        let head = &head[bom..];
        if head.iter().all(u8::is_ascii_whitespace) {
            return Err(data_error(path, None, "the file is empty: there is nothing to import"));
        }
        let format = match options.format {
            Some(f) => f,
            None => Format::detect(path, head)?,
        };

        // The pre-pass: encoding, and how quotes are used.
        let quote_delim = match format {
            Format::Csv | Format::Tsv if options.quoting != Some(false) => format.delimiter(),
            _ => None,
        };
        file.seek(SeekFrom::Start(bom as u64)).map_err(read_err)?;
        let forced = wide.map(|(e, _)| e).or(options.encoding);
        let scanned = scan::scan(path, &mut file, forced.is_none(), quote_delim)?;
        let encoding = source::encoding(forced, scanned.invalid_utf8, &mut notes);
        let quoting = sniff::quoting(format, options.quoting, &scanned, &mut notes);

        file.seek(SeekFrom::Start(bom as u64)).map_err(read_err)?;
        let mut source =
            Source::new(path, file, format, head, options.has_header, quoting, encoding, &scanned);

        // Read ahead a sample; it is handed out first by `next`.
        let mut columns = Columns::default();
        let mut pending = VecDeque::new();
        while pending.len() < SAMPLE_ROWS {
            let mut fields = Vec::new();
            match source.next(&mut columns, &mut fields)? {
                Next::End => break,
                Next::Row(line) => pending.push_back(Raw::Row { line, fields }),
                Next::Bad(bad) => pending.push_back(Raw::Bad(bad)),
            }
        }

        let header = match format {
            Format::Jsonl => false,
            _ => options.has_header.unwrap_or_else(|| sniff_header(&pending)),
        };
        if format != Format::Jsonl {
            let names = if header {
                match pending.pop_front() {
                    Some(Raw::Row { fields, .. }) => header_names(fields),
                    Some(Raw::Bad(bad)) => {
                        return Err(data_error(
                            path,
                            Some(bad.line),
                            format!("bad header row: {}", bad.message),
                        ));
                    }
                    None => Vec::new(),
                }
            } else if format == Format::LabelSentence {
                vec!["label".to_string(), "text".to_string()]
            } else {
                let width = pending
                    .iter()
                    .map(|r| match r {
                        Raw::Row { fields, .. } => fields.len(),
                        Raw::Bad(_) => 0,
                    })
                    .max()
                    .unwrap_or(0);
                (1..=width).map(|i| format!("column_{i}")).collect()
            };
            columns = Columns::from_names(names);
        }
        if columns.names.is_empty() {
            return Err(data_error(path, None, "no rows with columns found: there is nothing to import"));
        }

        let sample: Vec<&[Option<String>]> = pending
            .iter()
            .filter_map(|r| match r {
                Raw::Row { fields, .. } => Some(fields.as_slice()),
                Raw::Bad(_) => None,
            })
            .collect();
        let named = header || matches!(format, Format::Jsonl | Format::LabelSentence);
        let roles = resolve(path, options, &columns.names, &sample, named)?;
        let role_columns = [Some(roles.text), roles.text_b, roles.label, roles.id];
        let also_fields = template_columns(options, &columns.names)
            .into_iter()
            .filter(|i| role_columns.contains(&Some(*i)))
            .collect();

        Ok(Reader {
            path: path.to_path_buf(),
            source,
            format,
            encoding,
            header,
            quoting,
            columns,
            roles,
            also_fields,
            pending,
            fields: Vec::new(),
            line: 0,
            record_no: 0,
            rows: 0,
            skipped: Vec::new(),
            notes,
            cut_fields: 0,
            skip_bad_rows: options.skip_bad_rows,
            limit: options.limit,
            done: false,
            _utf8_copy: utf8_copy,
        })
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Column names found so far (see [`ImportReport::columns`]).
    pub fn columns(&self) -> &[String] {
        &self.columns.names
    }

    /// The encoding the file is read with.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The layout the file is read as.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether the first row was taken as a header.
    pub fn has_header(&self) -> bool {
        self.header
    }

    /// The 1-based physical line where the last row returned (or skipped) starts; 0 before the first.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Which column fills which role.
    pub fn mapping(&self) -> ColumnMapping {
        let name = |i: usize| self.columns.names.get(i).cloned().unwrap_or_default();
        ColumnMapping {
            text: name(self.roles.text),
            text_b: self.roles.text_b.map(name),
            label: self.roles.label.map(name),
            id: self.roles.id.map(name),
        }
    }

    /// What has been read so far; complete once the iterator is exhausted.
    pub fn report(&self) -> ImportReport {
        ImportReport {
            rows: self.rows,
            skipped: self.skipped.clone(),
            encoding: self.encoding,
            format: self.format,
            columns: self.columns.names.clone(),
            header: self.header,
            quoting: self.quoting,
            mapping: self.mapping(),
            notes: self.all_notes(),
            named_roles: self.named_roles(),
        }
    }

    /// Like [`Reader::report`], without copying.
    pub fn into_report(self) -> ImportReport {
        let mapping = self.mapping();
        let named_roles = self.named_roles();
        let notes = self.all_notes();
        ImportReport {
            rows: self.rows,
            skipped: self.skipped,
            encoding: self.encoding,
            format: self.format,
            columns: self.columns.names,
            header: self.header,
            quoting: self.quoting,
            mapping,
            notes,
            named_roles,
        }
    }

    /// The names of [`Reader::also_fields`]' columns.
    fn named_roles(&self) -> Vec<String> {
        self.also_fields.iter().filter_map(|&i| self.columns.names.get(i).cloned()).collect()
    }

    /// A bad row: counted when skipping, else the error to return.
    fn reject(&mut self, bad: SkippedRow) -> Option<Error> {
        if self.skip_bad_rows {
            self.skipped.push(bad);
            None
        } else {
            Some(bad.into_error(&self.path))
        }
    }

    /// Turn the fields of the current row into an example; `Err` is the message for a bad row.
    fn build(&mut self) -> std::result::Result<Example, String> {
        let roles = self.roles;
        let mut meta = BTreeMap::new();
        for &i in &self.also_fields {
            if let (Some(Some(v)), Some(name)) = (self.fields.get(i), self.columns.names.get(i)) {
                meta.insert(name.clone(), v.clone());
            }
        }
        let fields = &mut self.fields;
        let mut take = |i: usize| fields.get_mut(i).and_then(Option::take);
        let text_a = match take(roles.text) {
            Some(t) if !t.trim().is_empty() => t,
            Some(_) => {
                return Err(format!(
                    "the text ({}) is empty; fill it in",
                    describe_column(&self.columns.names, roles.text)
                ));
            }
            None => {
                return Err(format!(
                    "this row has no text ({}); add it",
                    describe_column(&self.columns.names, roles.text)
                ));
            }
        };
        let text_b = roles.text_b.and_then(&mut take).filter(|t| !t.trim().is_empty());
        let label = roles.label.and_then(&mut take).and_then(trimmed);
        let id = roles.id.and_then(&mut take).and_then(trimmed).unwrap_or_else(|| self.record_no.to_string());
        for (i, value) in self.fields.iter_mut().enumerate() {
            if let (Some(v), Some(name)) = (value.take(), self.columns.names.get(i)) {
                meta.insert(name.clone(), v);
            }
        }
        let mut example = Example { id, text_a, text_b, label, meta };
        let names = &self.columns.names;
        let mut cuts: Vec<(String, usize)> = Vec::new();
        if let Some(chars) = cut_field(&mut example.text_a) {
            cuts.push((describe_column(names, roles.text), chars));
        }
        if let (Some(text_b), Some(i)) = (example.text_b.as_mut(), roles.text_b)
            && let Some(chars) = cut_field(text_b)
        {
            cuts.push((describe_column(names, i), chars));
        }
        for (name, value) in example.meta.iter_mut() {
            if let Some(chars) = cut_field(value) {
                cuts.push((format!("`{name}`"), chars));
            }
        }
        for (column, chars) in cuts {
            self.cut_fields += 1;
            if self.cut_fields <= MAX_CUT_NOTES {
                self.notes.push(format!(
                    "line {}: {column} is {chars} characters long; kept the first {MAX_FIELD_CHARS}",
                    self.line
                ));
            }
        }
        Ok(example)
    }

    /// The notes, with a count of the cut fields [`MAX_CUT_NOTES`] left unnamed.
    fn all_notes(&self) -> Vec<String> {
        let mut notes = self.notes.clone();
        if self.cut_fields > MAX_CUT_NOTES {
            notes.push(format!(
                "{} more fields were longer than {MAX_FIELD_CHARS} characters and were cut the same way",
                self.cut_fields - MAX_CUT_NOTES
            ));
        }
        notes
    }
}

/// The longest field kept at import, in characters: longer ones (a 50 MB text) are cut with a note
/// naming the line and column. A model reads at most a few thousand tokens of a field, and the
/// project, the queue and every scoring run would otherwise carry the whole text.
pub const MAX_FIELD_CHARS: usize = 100_000;

/// How many cut fields are named one by one in the notes; the rest are counted.
const MAX_CUT_NOTES: usize = 20;

/// Cuts `value` to [`MAX_FIELD_CHARS`] characters; returns its length in characters when it was
/// longer.
fn cut_field(value: &mut String) -> Option<usize> {
    if value.len() <= MAX_FIELD_CHARS {
        return None;
    }
    let (end, _) = value.char_indices().nth(MAX_FIELD_CHARS)?;
    let chars = MAX_FIELD_CHARS + value[end..].chars().count();
    value.truncate(end);
    Some(chars)
}

impl Iterator for Reader {
    type Item = Result<Example>;

    fn next(&mut self) -> Option<Result<Example>> {
        loop {
            if self.done {
                return None;
            }
            if self.limit.is_some_and(|limit| self.rows >= limit) {
                self.done = true;
                return None;
            }
            let next = match self.pending.pop_front() {
                Some(Raw::Row { line, fields }) => {
                    self.fields = fields;
                    Next::Row(line)
                }
                Some(Raw::Bad(bad)) => Next::Bad(bad),
                None => match self.source.next(&mut self.columns, &mut self.fields) {
                    Ok(next) => next,
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                },
            };
            match next {
                Next::End => {
                    self.done = true;
                    return None;
                }
                Next::Bad(bad) => {
                    self.record_no += 1;
                    self.line = bad.line;
                    if let Some(err) = self.reject(bad) {
                        return Some(Err(err));
                    }
                }
                Next::Row(line) => {
                    self.record_no += 1;
                    self.line = line;
                    match self.build() {
                        Ok(example) => {
                            self.rows += 1;
                            return Some(Ok(example));
                        }
                        Err(message) => {
                            if let Some(err) = self.reject(SkippedRow::new(line, message)) {
                                return Some(Err(err));
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A sampled row, kept to be returned in order.
enum Raw {
    Row { line: u64, fields: Vec<Option<String>> },
    Bad(SkippedRow),
}

fn data_error(path: &Path, line: Option<u64>, message: impl Into<Text>) -> Error {
    Error::Data { path: path.to_path_buf(), line, message: message.into() }
}

/// `s` trimmed, or `None` when blank.
fn trimmed(s: String) -> Option<String> {
    let t = s.trim();
    if t.is_empty() {
        None
    } else if t.len() == s.len() {
        Some(s)
    } else {
        Some(t.to_string())
    }
}

/// A short quoted preview of a value for messages.
fn preview(s: &str) -> String {
    const MAX: usize = 50;
    let mut out: String = s.chars().take(MAX).collect();
    if s.chars().nth(MAX).is_some() {
        out.push('…');
    }
    format!("{out:?}")
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::data::load;

    #[test]
    fn skip_counting_and_ids() {
        let content = "ham\tone\nham\ttwo\nbroken line\nspam\tthree\n\nalso broken\nham\tfour\n";
        let file = TempFile::new("sms", content.as_bytes());
        let err = load(&file.path, &opts()).unwrap_err();
        assert!(message(&file, &err).starts_with("line 3: expected 2 tab-separated fields"), "{err}");
        let (ex, report) = load(&file.path, &skipping()).unwrap();
        assert_eq!(texts(&ex), ["one", "two", "three", "four"]);
        assert_eq!(ex.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["1", "2", "4", "6"]);
        assert_eq!(report.rows, 4);
        assert_eq!(report.skipped.iter().map(|s| s.line).collect::<Vec<_>>(), [3, 6]);
        assert_eq!(report.mapping.label.as_deref(), Some("column_1"));
        assert_eq!(report.mapping.text, "column_2");
        // An error does not end the iteration: the caller may go on.
        let mut reader = Reader::open(&file.path, &opts()).unwrap();
        let results: Vec<bool> = reader.by_ref().map(|r| r.is_ok()).collect();
        assert_eq!(results, [true, true, false, true, false, true]);
        assert_eq!(reader.report().rows, 4);
        assert!(reader.report().skipped.is_empty());
    }

    #[test]
    fn limit_stops_early() {
        let content: String = (0..500).map(|i| format!("{} text number {i}\n", i % 2)).collect();
        let (ex, report) =
            load_str("big.txt", &content, &ImportOptions { limit: Some(3), ..opts() }).unwrap();
        assert_eq!(texts(&ex), ["text number 0", "text number 1", "text number 2"]);
        assert_eq!(report.rows, 3);
        let (ex, _) = load_str("big.txt", &content, &ImportOptions { limit: Some(0), ..opts() }).unwrap();
        assert!(ex.is_empty());
        let (ex, _) = load_str("big.txt", &content, &opts()).unwrap();
        assert_eq!(ex.len(), 500);
        assert_eq!(ex[499].id, "500");
    }

    #[test]
    fn empty_and_missing_files() {
        let file = TempFile::new("e.csv", b"");
        assert_eq!(
            message(&file, &load(&file.path, &opts()).unwrap_err()),
            "the file is empty: there is nothing to import"
        );
        let file = TempFile::new("e.txt", b"\xEF\xBB\xBF\n\n");
        assert_eq!(
            message(&file, &load(&file.path, &opts()).unwrap_err()),
            "the file is empty: there is nothing to import"
        );
        let (ex, report) = load_str("h.csv", "text,label\n", &opts()).unwrap();
        assert!(ex.is_empty());
        assert_eq!(report.columns, ["text", "label"]);
        let err = load("/nonexistent/cloze/data.csv", &opts()).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::NotFound);
        assert!(err.to_string().starts_with("/nonexistent/cloze/data.csv: cannot open the file: "), "{err}");
    }

    #[test]
    fn reader_can_move_to_a_worker_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<Reader>();
        let file = TempFile::new("t.tsv", b"text\tlabel\nhi\t1\n");
        let reader = Reader::open(&file.path, &opts()).unwrap();
        let rows = std::thread::spawn(move || reader.count()).join().unwrap();
        assert_eq!(rows, 1);
    }

    #[test]
    fn labels_and_ids_are_trimmed_texts_are_not() {
        let (ex, _) =
            load_str("t.tsv", "id\ttext\tlabel\n  a7 \t  padded text  \t pos \n\tx\t\n", &opts()).unwrap();
        assert_eq!(ex[0].id, "a7");
        assert_eq!(ex[0].text_a, "  padded text  ");
        assert_eq!(ex[0].label.as_deref(), Some("pos"));
        assert_eq!(ex[1].id, "2");
        assert_eq!(ex[1].label, None);
    }
}
