//! The streaming [`Reader`]: format sources, header sniffing and column mapping.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::format::{
    ID_NAMES, LABEL_NAMES, SNIFF_BYTES, TEXT_B_NAMES, TEXT_NAMES, is_known_name, sample_lines,
};
use super::scan::{self, Scan, decode};
use super::{ColumnMapping, ColumnRef, Encoding, Example, Format, ImportOptions, ImportReport, SkippedRow};
use crate::error::{Error, Result};

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
    pending: VecDeque<Raw>,
    fields: Vec<Option<String>>,
    line: u64,
    record_no: u64,
    rows: usize,
    skipped: Vec<SkippedRow>,
    notes: Vec<String>,
    skip_bad_rows: bool,
    limit: Option<usize>,
    done: bool,
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
        let mut file = File::open(path).map_err(|e| Error::io(path, format!("cannot open the file: {e}")))?;
        let read_err = |e: std::io::Error| Error::io(path, format!("cannot read the file: {e}"));
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        Read::by_ref(&mut file).take(SNIFF_BYTES as u64).read_to_end(&mut head).map_err(read_err)?;
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
        let scanned = scan::scan(path, &mut file, options.encoding.is_none(), quote_delim)?;
        let mut notes = Vec::new();
        let encoding = match (options.encoding, scanned.invalid_utf8) {
            (Some(e), _) => e,
            (None, None) => Encoding::Utf8,
            (None, Some((line, byte))) => {
                notes.push(format!(
                    "the file is not UTF-8 (byte 0x{byte:02X} on line {line}), so it was read as Latin-1 \
                     (ISO-8859-1, one character per byte)"
                ));
                Encoding::Latin1
            }
        };
        let quotes = scanned.quotes.clone().unwrap_or_default();
        let quoting = match (format, options.quoting) {
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
        };

        file.seek(SeekFrom::Start(bom as u64)).map_err(read_err)?;
        let mut source = match format {
            Format::Csv | Format::Tsv => {
                let delim = if format == Format::Csv { b',' } else { b'\t' };
                Source::Csv(CsvSource::new(path, file, delim, quoting, encoding, &scanned))
            }
            Format::LabelSentence => {
                Source::Lines(LineSource::new(path, file, LineKind::LabelSentence, encoding))
            }
            Format::Delimited(delim) => {
                let width = delimited_width(head, delim, options.has_header);
                Source::Lines(LineSource::new(path, file, LineKind::Delimited { delim, width }, encoding))
            }
            Format::Jsonl => Source::Lines(LineSource::new(path, file, LineKind::Jsonl, encoding)),
        };

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

        Ok(Reader {
            path: path.to_path_buf(),
            source,
            format,
            encoding,
            header,
            quoting,
            columns,
            roles,
            pending,
            fields: Vec::new(),
            line: 0,
            record_no: 0,
            rows: 0,
            skipped: Vec::new(),
            notes,
            skip_bad_rows: options.skip_bad_rows,
            limit: options.limit,
            done: false,
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
            notes: self.notes.clone(),
        }
    }

    /// Like [`Reader::report`], without copying.
    pub fn into_report(self) -> ImportReport {
        let mapping = self.mapping();
        ImportReport {
            rows: self.rows,
            skipped: self.skipped,
            encoding: self.encoding,
            format: self.format,
            columns: self.columns.names,
            header: self.header,
            quoting: self.quoting,
            mapping,
            notes: self.notes,
        }
    }

    /// A bad row: counted when skipping, else the error to return.
    fn reject(&mut self, bad: SkippedRow) -> Option<Error> {
        if self.skip_bad_rows {
            self.skipped.push(bad);
            None
        } else {
            Some(Error::Data { path: self.path.clone(), line: Some(bad.line), message: bad.message })
        }
    }

    /// Turn the fields of the current row into an example; `Err` is the message for a bad row.
    fn build(&mut self) -> std::result::Result<Example, String> {
        let roles = self.roles;
        let fields = &mut self.fields;
        let mut take = |i: usize| fields.get_mut(i).and_then(Option::take);
        let text_a = match take(roles.text) {
            Some(t) if !t.trim().is_empty() => t,
            Some(_) => {
                return Err(format!(
                    "the text ({}) is empty; fill it in, or pass --skip-bad-rows to skip rows without text",
                    describe_column(&self.columns.names, roles.text)
                ));
            }
            None => {
                return Err(format!(
                    "this row has no text ({}); add it, or pass --skip-bad-rows to skip rows without text",
                    describe_column(&self.columns.names, roles.text)
                ));
            }
        };
        let text_b = roles.text_b.and_then(&mut take).filter(|t| !t.trim().is_empty());
        let label = roles.label.and_then(&mut take).and_then(trimmed);
        let id = roles.id.and_then(&mut take).and_then(trimmed).unwrap_or_else(|| self.record_no.to_string());
        let mut meta = BTreeMap::new();
        for (i, value) in self.fields.iter_mut().enumerate() {
            if let (Some(v), Some(name)) = (value.take(), self.columns.names.get(i)) {
                meta.insert(name.clone(), v);
            }
        }
        Ok(Example { id, text_a, text_b, label, meta })
    }
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
                            if let Some(err) = self.reject(SkippedRow { line, message }) {
                                return Some(Err(err));
                            }
                        }
                    }
                }
            }
        }
    }
}

fn data_error(path: &Path, line: Option<u64>, message: impl Into<String>) -> Error {
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

/// `column 2` for an unnamed column, `column 1 ("sentence1")` for a named one.
fn describe_column(names: &[String], i: usize) -> String {
    match names.get(i) {
        Some(name) if *name != format!("column_{}", i + 1) => format!("column {} {:?}", i + 1, name),
        _ => format!("column {}", i + 1),
    }
}

/// One line per column with a sample value, for messages that ask the user to choose.
fn list_columns(names: &[String], sample: &[&[Option<String>]]) -> String {
    let mut out = String::new();
    for (i, _) in names.iter().enumerate() {
        let example = sample
            .iter()
            .filter_map(|row| row.get(i).and_then(|v| v.as_deref()))
            .find(|v| !v.trim().is_empty())
            .map(|v| format!(", e.g. {}", preview(v)))
            .unwrap_or_default();
        out.push_str(&format!("\n  {}{}", describe_column(names, i), example));
    }
    out
}

fn is_number(s: &str) -> bool {
    let t = s.trim();
    t.bytes().any(|b| b.is_ascii_digit()) && t.parse::<f64>().is_ok()
}

/// The first row is a header when it names a known column, or when some column is numeric in every
/// other sampled row but not in the first.
fn sniff_header(pending: &VecDeque<Raw>) -> bool {
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
fn header_names(fields: Vec<Option<String>>) -> Vec<String> {
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
fn delimited_width(head: &[u8], delim: u8, has_header: Option<bool>) -> usize {
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

/// Column positions of the roles.
#[derive(Debug, Clone, Copy)]
struct Roles {
    text: usize,
    text_b: Option<usize>,
    label: Option<usize>,
    id: Option<usize>,
}

/// Value statistics of one column over the sample.
struct Stats {
    count: usize,
    distinct: usize,
    mean_len: f64,
    max_len: usize,
    all_integers: bool,
}

impl Stats {
    fn of(sample: &[&[Option<String>]], col: usize) -> Stats {
        let mut distinct = HashSet::new();
        let (mut count, mut total, mut max_len, mut all_integers) = (0usize, 0usize, 0usize, true);
        for value in sample.iter().filter_map(|row| row.get(col).and_then(|v| v.as_deref())) {
            let v = value.trim();
            if v.is_empty() {
                continue;
            }
            let len = v.chars().count();
            count += 1;
            total += len;
            max_len = max_len.max(len);
            all_integers &= v.bytes().all(|b| b.is_ascii_digit());
            distinct.insert(v);
        }
        let mean_len = if count == 0 { 0.0 } else { total as f64 / count as f64 };
        Stats { count, distinct: distinct.len(), mean_len, max_len, all_integers: all_integers && count > 0 }
    }

    /// Short values that repeat: what a label column looks like.
    fn label_like(&self) -> bool {
        self.count > 0
            && self.max_len <= 64
            && self.mean_len <= 32.0
            && (self.count < 20 || self.distinct * 2 <= self.count)
    }
}

/// Of two columns, the label-like one and the text, if one clearly is each.
fn pick_label(sample: &[&[Option<String>]], a: usize, b: usize) -> Option<(usize, usize)> {
    let (sa, sb) = (Stats::of(sample, a), Stats::of(sample, b));
    let a_first = (sa.mean_len, sa.distinct) <= (sb.mean_len, sb.distinct);
    let (label, text, sl, st) = if a_first { (a, b, sa, sb) } else { (b, a, sb, sa) };
    (sl.label_like() && st.mean_len > sl.mean_len).then_some((label, text))
}

fn find_column(names: &[String], r: &ColumnRef) -> Option<usize> {
    match r {
        ColumnRef::Index(i) => (*i < names.len()).then_some(*i),
        ColumnRef::Name(n) => {
            names.iter().position(|c| c == n).or_else(|| names.iter().position(|c| c.eq_ignore_ascii_case(n)))
        }
    }
}

/// Map columns to roles: explicit options first, then known header names, then the two-column
/// label/text heuristic. See [`ImportOptions`].
fn resolve(
    path: &Path,
    options: &ImportOptions,
    names: &[String],
    sample: &[&[Option<String>]],
    named: bool,
) -> Result<Roles> {
    const ROLES: [&str; 4] = ["text", "text_b", "label", "id"];
    const FLAGS: [&str; 4] = ["--text-column", "--text-b-column", "--label-column", "--id-column"];
    let err = |message: String| data_error(path, None, message);
    let mut slots: [Option<usize>; 4] = [None; 4];
    let mut taken = vec![false; names.len()];

    let explicit = [&options.text_column, &options.text_b_column, &options.label_column, &options.id_column];
    for (k, r) in explicit.iter().enumerate() {
        let Some(r) = r else { continue };
        let Some(i) = find_column(names, r) else {
            let what = match r {
                ColumnRef::Index(i) => format!("there is no column {} (the file has {})", i + 1, names.len()),
                ColumnRef::Name(n) => format!("there is no column named {n:?}"),
            };
            return Err(err(format!(
                "{} {r}: {what}. Columns found:{}",
                FLAGS[k],
                list_columns(names, sample)
            )));
        };
        if let Some(other) = slots.iter().position(|s| *s == Some(i)) {
            return Err(err(format!(
                "{} {r}: {} is already the {} column; give each role a different column",
                FLAGS[k],
                describe_column(names, i),
                ROLES[other]
            )));
        }
        taken[i] = true;
        slots[k] = Some(i);
    }

    let guess = !options.explicit_columns;
    if named && guess {
        for (k, known) in [TEXT_NAMES, TEXT_B_NAMES, LABEL_NAMES, ID_NAMES].iter().enumerate() {
            if slots[k].is_some() {
                continue;
            }
            let found = known.iter().find_map(|want| {
                (0..names.len()).find(|&i| !taken[i] && names[i].eq_ignore_ascii_case(want))
            });
            if let Some(i) = found {
                taken[i] = true;
                slots[k] = Some(i);
            }
        }
    }

    let free = |taken: &[bool]| (0..names.len()).filter(|&i| !taken[i]).collect::<Vec<_>>();
    if slots[0].is_none() && guess {
        match free(&taken).as_slice() {
            [a, b] if slots[2].is_none() => {
                if let Some((label, text)) = pick_label(sample, *a, *b) {
                    slots[2] = Some(label);
                    slots[0] = Some(text);
                    taken[label] = true;
                    taken[text] = true;
                }
            }
            [only] => {
                slots[0] = Some(*only);
                taken[*only] = true;
            }
            _ => {}
        }
    }
    let Some(text) = slots[0] else {
        return Err(err(format!(
            "cannot tell which column holds the text. Columns found:{}\npass --text-column with a column \
             number or name (and --label-column, --text-b-column for the others)",
            list_columns(names, sample)
        )));
    };
    // Without a header, one short column left over next to a chosen text is the label.
    if !named
        && guess
        && slots[2].is_none()
        && options.label_column.is_none()
        && let [only] = free(&taken).as_slice()
    {
        let (sl, st) = (Stats::of(sample, *only), Stats::of(sample, text));
        if sl.label_like() && st.mean_len > sl.mean_len {
            slots[2] = Some(*only);
        }
    }
    if options.text_column.is_none() && Stats::of(sample, text).all_integers {
        return Err(err(format!(
            "{} holds only whole numbers, so it looks like an index rather than text. Columns found:{}\n\
             pass --text-column with the column that holds the text (and --id-column for an index column)",
            describe_column(names, text),
            list_columns(names, sample)
        )));
    }
    Ok(Roles { text, text_b: slots[1], label: slots[2], id: slots[3] })
}

/// Column names, and for JSONL an index to add keys as they appear.
#[derive(Debug, Default)]
struct Columns {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Columns {
    fn from_names(names: Vec<String>) -> Columns {
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

/// A sampled row, kept to be returned in order.
enum Raw {
    Row { line: u64, fields: Vec<Option<String>> },
    Bad(SkippedRow),
}

/// What a source produced: a row (its fields written to the buffer), a bad row, or the end.
enum Next {
    Row(u64),
    Bad(SkippedRow),
    End,
}

enum Source {
    Csv(Box<CsvSource>),
    Lines(Box<LineSource>),
}

impl Source {
    fn next(&mut self, columns: &mut Columns, fields: &mut Vec<Option<String>>) -> Result<Next> {
        match self {
            Source::Csv(s) => s.next(fields),
            Source::Lines(s) => s.next(columns, fields),
        }
    }
}

fn invalid_utf8_row(line: u64) -> SkippedRow {
    SkippedRow {
        line,
        message: "this row is not valid UTF-8; drop --encoding utf-8 to read the file as Latin-1".into(),
    }
}

/// CSV and TSV through the `csv` crate, with line numbers recovered from its positions.
struct CsvSource {
    path: PathBuf,
    rdr: csv::Reader<File>,
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
            .from_reader(file);
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
        format!(
            "expected {expected} {sep}-separated fields{like}, found {found}: {}; {hint} (or pass \
             --skip-bad-rows to skip such rows)",
            preview(&row)
        )
    }

    fn next(&mut self, fields: &mut Vec<Option<String>>) -> Result<Next> {
        loop {
            let expected = match self.rdr.read_byte_record(&mut self.rec) {
                Ok(false) => return Ok(Next::End),
                Ok(true) => None,
                Err(e) => match e.kind() {
                    csv::ErrorKind::UnequalLengths { expected_len, .. } => Some(*expected_len as usize),
                    csv::ErrorKind::Io(io) => {
                        return Err(Error::io(&self.path, format!("cannot read the file: {io}")));
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
                     one field; close the quote, or pass --quoting off if quotes are plain text"
                );
                return Ok(Next::Bad(SkippedRow { line: start, message }));
            }
            if let Some(expected) = expected {
                let message = self.count_message(expected, self.rec.len(), start, end);
                return Ok(Next::Bad(SkippedRow { line: start, message }));
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

enum LineKind {
    LabelSentence,
    Delimited { delim: u8, width: usize },
    Jsonl,
}

/// Line-based formats: one row per `\n`-terminated line, blank lines ignored.
struct LineSource {
    path: PathBuf,
    rdr: BufReader<File>,
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
            rdr: BufReader::with_capacity(64 * 1024, file),
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
            let n = self
                .rdr
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| Error::io(&self.path, format!("cannot read the file: {e}")))?;
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
            let bad = |message: String| Ok(Next::Bad(SkippedRow { line, message }));
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
                                     fields must not contain {:?} (or pass --skip-bad-rows to skip such rows)",
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
                        Encoding::Utf8 => match std::str::from_utf8(bytes) {
                            Ok(s) => Cow::Borrowed(s),
                            Err(_) => return Ok(Next::Bad(invalid_utf8_row(line))),
                        },
                        Encoding::Latin1 => Cow::Owned(decode(bytes, encoding).unwrap_or_default()),
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
                    for (key, value) in object {
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
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::data::load;

    /// A file in its own temporary directory, removed on drop.
    struct TempFile {
        dir: PathBuf,
        path: PathBuf,
    }

    impl TempFile {
        fn new(name: &str, content: &[u8]) -> TempFile {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("cloze-data-test-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(name);
            std::fs::write(&path, content).unwrap();
            TempFile { dir, path }
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn opts() -> ImportOptions {
        ImportOptions::default()
    }

    fn skipping() -> ImportOptions {
        ImportOptions { skip_bad_rows: true, ..Default::default() }
    }

    fn load_str(name: &str, content: &str, options: &ImportOptions) -> Result<(Vec<Example>, ImportReport)> {
        let file = TempFile::new(name, content.as_bytes());
        load(&file.path, options)
    }

    fn texts(examples: &[Example]) -> Vec<&str> {
        examples.iter().map(|e| e.text_a.as_str()).collect()
    }

    fn labels(examples: &[Example]) -> Vec<Option<&str>> {
        examples.iter().map(|e| e.label.as_deref()).collect()
    }

    /// The error message without the `path, ` prefix.
    fn message(file: &TempFile, err: &Error) -> String {
        let text = err.to_string();
        let path = file.path.display().to_string();
        let rest = text.strip_prefix(&path).unwrap_or(&text);
        rest.strip_prefix(", ").or_else(|| rest.strip_prefix(": ")).unwrap_or(rest).to_string()
    }

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

    #[test]
    fn unterminated_quote() {
        let file = TempFile::new("u.csv", b"text,label\na,1\n\"b,2\nc,3\n");
        let err = load(&file.path, &opts()).unwrap_err();
        assert_eq!(
            message(&file, &err),
            "line 3: the quote opened on line 3 is never closed, so the rest of the file was read as one \
             field; close the quote, or pass --quoting off if quotes are plain text"
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
            "line 2: this row is not valid UTF-8; drop --encoding utf-8 to read the file as Latin-1"
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
                "line 3: the text (column 1 \"text\") is empty; fill it in, or pass --skip-bad-rows to skip rows \
                 without text",
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
                "line 2: this row has no text (column 1 \"text\"); add it, or pass --skip-bad-rows to skip rows \
                 without text",
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
                "line 2: the text (column 2 \"text\") is empty; fill it in, or pass --skip-bad-rows to skip rows \
                 without text",
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
            assert_eq!(err.kind(), "data");
            assert_eq!(message(&file, &err), want, "{content:?}");
            // Skipping reports the same line and message, and keeps the good rows.
            let skip = ImportOptions { skip_bad_rows: true, ..options };
            let (_, report) = load(&file.path, &skip).unwrap();
            assert_eq!(report.skipped.len(), 1, "{content:?}");
            let line = &want[5..want.find(':').unwrap()];
            assert_eq!(report.skipped[0].line.to_string(), line);
            assert_eq!(format!("line {}: {}", report.skipped[0].line, report.skipped[0].message), want);
        }
    }

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

    #[test]
    fn column_mapping() {
        let ag = "\"3\",\"Wall St. Bears Claw Back\",\"Reuters - Short-sellers are seeing green\"\n\
                  \"4\",\"Space race\",\"SPACE.com - a second team sets a date\"\n";
        let file = TempFile::new("ag.csv", ag.as_bytes());
        let err = load(&file.path, &opts()).unwrap_err();
        assert_eq!(
            message(&file, &err),
            "cannot tell which column holds the text. Columns found:\n  column 1, e.g. \"3\"\n  column 2, e.g. \
             \"Wall St. Bears Claw Back\"\n  column 3, e.g. \"Reuters - Short-sellers are seeing green\"\npass \
             --text-column with a column number or name (and --label-column, --text-b-column for the others)"
        );
        let mapped = ImportOptions {
            label_column: Some(ColumnRef::Index(0)),
            text_column: Some(ColumnRef::Index(1)),
            text_b_column: Some(ColumnRef::Index(2)),
            ..opts()
        };
        let (ex, report) = load(&file.path, &mapped).unwrap();
        assert_eq!(labels(&ex), [Some("3"), Some("4")]);
        assert_eq!(ex[1].text_b.as_deref(), Some("SPACE.com - a second team sets a date"));
        assert!(ex[0].meta.is_empty());
        assert_eq!(report.mapping.text_b.as_deref(), Some("column_3"));
        // Text alone: the other columns go to meta by their column_N names.
        let (ex, _) =
            load(&file.path, &ImportOptions { text_column: Some("column_3".parse().unwrap()), ..opts() })
                .unwrap();
        assert_eq!(ex[0].label, None);
        assert_eq!(ex[0].field("column_2"), Some("Wall St. Bears Claw Back"));

        let cases: Vec<(ImportOptions, &str)> = vec![
            (
                ImportOptions { text_column: Some(ColumnRef::Index(5)), ..opts() },
                "--text-column 6: there is no column 6 (the file has 3).",
            ),
            (
                ImportOptions { label_column: Some(ColumnRef::Name("topic".into())), ..opts() },
                "--label-column topic: there is no column named \"topic\".",
            ),
            (
                ImportOptions {
                    text_column: Some(ColumnRef::Index(1)),
                    label_column: Some(ColumnRef::Index(1)),
                    ..opts()
                },
                "--label-column 2: column 2 is already the text column; give each role a different column",
            ),
        ];
        for (options, want) in cases {
            let err = load(&file.path, &options).unwrap_err();
            assert!(message(&file, &err).starts_with(want), "{err}");
        }

        // Headerless two columns with the text chosen: the short other column is the label.
        let sms = "ham\tGo until jurong point\nspam\tFree entry in 2 a wkly comp\n";
        let (ex, _) =
            load_str("sms", sms, &ImportOptions { text_column: Some(ColumnRef::Index(1)), ..opts() })
                .unwrap();
        assert_eq!(labels(&ex), [Some("ham"), Some("spam")]);
        // Names are matched ignoring case; explicit names too.
        let (ex, report) = load_str(
            "n.csv",
            "Review,Stars\ngreat,5\n",
            &ImportOptions { label_column: Some("stars".parse().unwrap()), ..opts() },
        )
        .unwrap();
        assert_eq!((ex[0].text_a.as_str(), ex[0].label.as_deref()), ("great", Some("5")));
        assert_eq!(report.mapping.label.as_deref(), Some("Stars"));
    }

    #[test]
    fn index_column_is_not_text() {
        // GLUE SST-2 test: the header says text/label but the columns are index/sentence.
        let content = "text\tlabel\n0\tuneasy mishmash of styles and genres .\n1\ta poor imitation .\n";
        let file = TempFile::new("test.tsv", content.as_bytes());
        let err = load(&file.path, &opts()).unwrap_err();
        assert!(
            message(&file, &err)
                .starts_with("column 1 \"text\" holds only whole numbers, so it looks like an index"),
            "{err}"
        );
        let options = ImportOptions {
            text_column: Some(ColumnRef::Index(1)),
            id_column: Some(ColumnRef::Index(0)),
            ..opts()
        };
        let (ex, report) = load(&file.path, &options).unwrap();
        assert_eq!(texts(&ex), ["uneasy mishmash of styles and genres .", "a poor imitation ."]);
        assert_eq!(ex.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["0", "1"]);
        assert_eq!(labels(&ex), [None, None]);
        assert_eq!(report.mapping.label, None);
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
        assert_eq!(err.kind(), "io");
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
