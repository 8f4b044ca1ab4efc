//! The data reader, every format and encoding, as `cloze project import` / `classify --input`
//! reach it: the input is written to a file and read row by row to the end.
//!
//! The first two bytes choose the options (the rest is the file): byte 0 picks the file's
//! extension (bits 0-1), a forced format or detection (bits 2-4), a forced encoding (bits 5-6) and
//! skipping bad rows (bit 7); byte 1 gives the `Delimited` separator (always) and, in its low
//! bits, the header and quoting settings and whether the template names fields.
#![no_main]
use cloze::data::{Encoding, Format, ImportOptions, Reader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [a, b, body @ ..] = data else { return };
    let ext = ["data.txt", "data.csv", "data.tsv", "data.jsonl"][(a & 3) as usize];
    let format = match (a >> 2) & 7 {
        0..=2 => None,
        3 => Some(Format::Csv),
        4 => Some(Format::Tsv),
        5 => Some(Format::Jsonl),
        6 => Some(Format::LabelSentence),
        _ => Some(Format::Delimited(*b)),
    };
    let encoding = match (a >> 5) & 3 {
        0 | 1 => None,
        2 => Some(Encoding::Utf8),
        _ => Some(Encoding::Latin1),
    };
    let options = ImportOptions {
        format,
        encoding,
        skip_bad_rows: a & 0x80 != 0,
        has_header: [None, Some(true), Some(false), None][(b & 3) as usize],
        quoting: [None, Some(true), Some(false), None][((b >> 2) & 3) as usize],
        template_fields: if b & 0x10 != 0 { vec!["sentence".into(), "question".into()] } else { vec![] },
        limit: if b & 0x20 != 0 { Some(3) } else { None },
        ..ImportOptions::default()
    };
    let path = cloze_fuzz::write_input("data", ext, body);
    let Ok(mut reader) = Reader::open(&path, &options) else { return };
    let _ = (reader.columns().len(), reader.mapping(), reader.has_header());
    for row in reader.by_ref() {
        if row.is_err() {
            break;
        }
    }
    let _ = reader.into_report();
});
