//! UTF-16 and UTF-32 data files: found by their byte order mark (or asked for with `--encoding` /
//! the app's Encoding control) and converted to UTF-8 as they are read — streamed into a temporary
//! copy that the row readers then read like any UTF-8 file (line numbers are unchanged: each line
//! break is one line break in both). Without a byte order mark, a file whose NUL bytes fall at
//! every other (or every fourth) position is UTF-16 (UTF-32) text: it is refused, naming the
//! encoding and how to choose it, rather than read as Latin-1 garbage.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::super::Encoding;
use super::data_error;
use crate::error::{Error, Front, Result, Setting, Text};

/// The encoding a byte order mark at the start of `head` names, and the mark's length. UTF-8's
/// mark is not one of them (the reader skips it itself).
pub(super) fn bom(head: &[u8]) -> Option<(Encoding, usize)> {
    // UTF-32 LE's mark starts with UTF-16 LE's: test it first.
    const MARKS: [(&[u8], Encoding); 4] = [
        (b"\xFF\xFE\x00\x00", Encoding::Utf32Le),
        (b"\x00\x00\xFE\xFF", Encoding::Utf32Be),
        (b"\xFF\xFE", Encoding::Utf16Le),
        (b"\xFE\xFF", Encoding::Utf16Be),
    ];
    MARKS.iter().find(|(mark, _)| head.starts_with(mark)).map(|(mark, e)| (*e, mark.len()))
}

/// The length of `encoding`'s byte order mark when `head` starts with it, else 0.
pub(super) fn bom_len(head: &[u8], encoding: Encoding) -> usize {
    bom(head).filter(|(e, _)| *e == encoding).map_or(0, |(_, n)| n)
}

/// Which UTF-16/32 encoding a file without a byte order mark looks like: mostly-ASCII text in
/// UTF-16 LE has a NUL at every odd position, in UTF-16 BE at every even one, UTF-32 three in four.
pub(super) fn bomless_guess(head: &[u8]) -> Option<Encoding> {
    let units = head.len() / 4 * 4;
    if units < 8 {
        return None;
    }
    let mut nul = [0usize; 4];
    for (i, b) in head[..units].iter().enumerate() {
        nul[i % 4] += usize::from(*b == 0);
    }
    let quarter = units / 4;
    let mostly = |n: usize| n * 10 >= quarter * 7;
    let rarely = |n: usize| n * 10 <= quarter * 3;
    match nul.map(|n| (mostly(n), rarely(n))) {
        [(_, true), (true, _), (true, _), (true, _)] => Some(Encoding::Utf32Le),
        [(true, _), (true, _), (true, _), (_, true)] => Some(Encoding::Utf32Be),
        [(_, true), (true, _), (_, true), (true, _)] => Some(Encoding::Utf16Le),
        [(true, _), (_, true), (true, _), (_, true)] => Some(Encoding::Utf16Be),
        _ => None,
    }
}

/// The error for a file that looks like `encoding` but has no byte order mark to say so.
pub(super) fn bomless_error(path: &Path, encoding: Encoding) -> Error {
    let (unit, _) = encoding.code_unit().unwrap_or((2, true));
    let iconv = encoding.to_string().replace(' ', "");
    data_error(
        path,
        None,
        Text::from(format!(
            "the file looks like {encoding} text without a byte order mark (a NUL byte in every {} of {unit} \
             bytes), not UTF-8 or Latin-1; ",
            unit - 1
        ))
        .cli_only(format!("read it with {} {}", Setting::Encoding.name(Front::Cli), encoding.option()))
        .app_only(format!("choose {encoding} under {}", Setting::Encoding.name(Front::App)))
        .then(format!(", or convert it to UTF-8 first (iconv -f {iconv} -t UTF-8 FILE > FILE.utf8.csv)")),
    )
}

/// A temporary UTF-8 copy of a UTF-16/32 file, removed when dropped.
#[derive(Debug)]
pub(super) struct Utf8Copy {
    path: PathBuf,
}

impl Drop for Utf8Copy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Converts `file` (read from byte `skip`, past its byte order mark) from `encoding` to UTF-8
/// into a temporary copy; returns the copy open for reading, positioned at its start, and how many
/// malformed code units became U+FFFD.
pub(super) fn to_utf8(
    path: &Path,
    mut file: File,
    encoding: Encoding,
    skip: u64,
) -> Result<(File, Utf8Copy, u64)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let (unit, little) = encoding
        .code_unit()
        .ok_or_else(|| Error::invalid(format!("{encoding} is read without converting it")))?;
    let copy = Utf8Copy {
        path: std::env::temp_dir().join(format!(
            "cloze-utf8-{}-{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )),
    };
    let read_err = |e| Error::io_while(path, format!("cannot read the file as {encoding}"), e);
    let copy_err =
        |e| Error::io_while(&copy.path, format!("cannot write the UTF-8 copy of {}", path.display()), e);
    file.seek(SeekFrom::Start(skip)).map_err(read_err)?;
    let out = File::options().read(true).write(true).create_new(true).open(&copy.path).map_err(copy_err)?;
    let mut writer = BufWriter::new(out);
    let replaced = convert(BufReader::new(file), unit, little, &mut writer).map_err(|e| match e {
        Side::Read(e) => read_err(e),
        Side::Write(e) => copy_err(e),
    })?;
    let mut out = writer.into_inner().map_err(|e| copy_err(e.into_error()))?;
    out.seek(SeekFrom::Start(0)).map_err(copy_err)?;
    Ok((out, copy, replaced))
}

/// Which side of a conversion failed.
enum Side {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Streams UTF-16 (`unit` 2) or UTF-32 (`unit` 4) code units from `input` to `output` as UTF-8,
/// in constant memory. Unpaired surrogates, values beyond U+10FFFF and a truncated last unit
/// become U+FFFD; returns how many.
fn convert(
    mut input: impl Read,
    unit: usize,
    little: bool,
    output: &mut impl Write,
) -> std::result::Result<u64, Side> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut carry = 0usize; // bytes of an incomplete unit kept at the start of `buf`
    let mut high: Option<u16> = None; // a UTF-16 high surrogate waiting for its pair
    let mut replaced = 0u64;
    let mut text = String::with_capacity(buf.len() * 2);
    loop {
        let n = match input.read(&mut buf[carry..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Side::Read(e)),
        };
        let filled = carry + n;
        let whole = filled / unit * unit;
        text.clear();
        for b in buf[..whole].chunks_exact(unit) {
            if unit == 4 {
                let b = [b[0], b[1], b[2], b[3]];
                let v = if little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) };
                text.push(char::from_u32(v).unwrap_or_else(|| {
                    replaced += 1;
                    char::REPLACEMENT_CHARACTER
                }));
                continue;
            }
            let b = [b[0], b[1]];
            let u = if little { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) };
            if let Some(h) = high.take() {
                if (0xDC00..0xE000).contains(&u) {
                    let c = 0x10000 + ((u32::from(h) - 0xD800) << 10) + (u32::from(u) - 0xDC00);
                    text.push(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
                    continue;
                }
                replaced += 1;
                text.push(char::REPLACEMENT_CHARACTER);
            }
            match u {
                0xD800..0xDC00 => high = Some(u),
                0xDC00..0xE000 => {
                    replaced += 1;
                    text.push(char::REPLACEMENT_CHARACTER);
                }
                _ => text.push(char::from_u32(u32::from(u)).unwrap_or(char::REPLACEMENT_CHARACTER)),
            }
        }
        output.write_all(text.as_bytes()).map_err(Side::Write)?;
        buf.copy_within(whole..filled, 0);
        carry = filled - whole;
    }
    if high.is_some() || carry > 0 {
        replaced += 1;
        output.write_all(char::REPLACEMENT_CHARACTER.to_string().as_bytes()).map_err(Side::Write)?;
    }
    output.flush().map_err(Side::Write)?;
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(text: &str, encoding: Encoding) -> Vec<u8> {
        let (unit, little) = encoding.code_unit().unwrap();
        let mut out = Vec::new();
        if unit == 2 {
            for u in text.encode_utf16() {
                out.extend(if little { u.to_le_bytes() } else { u.to_be_bytes() });
            }
        } else {
            for c in text.chars() {
                out.extend(if little { (c as u32).to_le_bytes() } else { (c as u32).to_be_bytes() });
            }
        }
        out
    }

    #[test]
    fn conversion_round_trips_every_wide_encoding_across_buffer_boundaries() {
        // Long enough that units and surrogate pairs straddle the 64 KiB reads.
        let text = "label,text\npositive,café 日本 😀 fine\n".repeat(3000);
        for e in [Encoding::Utf16Le, Encoding::Utf16Be, Encoding::Utf32Le, Encoding::Utf32Be] {
            let (unit, little) = e.code_unit().unwrap();
            let mut out = Vec::new();
            let replaced = convert(encode(&text, e).as_slice(), unit, little, &mut out).ok().unwrap();
            assert_eq!((String::from_utf8(out).unwrap() == text, replaced), (true, 0), "{e}");
        }
    }

    #[test]
    fn malformed_units_become_replacement_characters() {
        let cases: &[(&[u8], usize, &str, u64)] = &[
            (b"a\x00\x00\xD8b\x00", 2, "a\u{FFFD}b", 1), // high surrogate without its pair
            (b"\x00\xDCa\x00", 2, "\u{FFFD}a", 1),       // low surrogate alone
            (b"a\x00b", 2, "a\u{FFFD}", 1),              // a truncated last unit
            (b"\x00\x00\x11\x00", 4, "\u{FFFD}", 1),     // beyond U+10FFFF
        ];
        for (bytes, unit, want, n) in cases {
            let mut out = Vec::new();
            let replaced = convert(*bytes, *unit, true, &mut out).ok().unwrap();
            assert_eq!((String::from_utf8(out).unwrap().as_str(), replaced), (*want, *n), "{bytes:?}");
        }
    }

    #[test]
    fn byte_order_marks_and_bomless_wide_text_are_recognised() {
        let text = "label\ttext\n0\tsome plain words here\n";
        for e in [Encoding::Utf16Le, Encoding::Utf16Be, Encoding::Utf32Le, Encoding::Utf32Be] {
            let mut with_bom = encode("\u{FEFF}", e);
            let n = with_bom.len();
            with_bom.extend(encode(text, e));
            assert_eq!(bom(&with_bom), Some((e, n)), "{e}");
            assert_eq!(bom_len(&with_bom, e), n);
            assert_eq!(bomless_guess(&encode(text, e)), Some(e), "{e} without a mark");
        }
        assert_eq!(bom(b"\xEF\xBB\xBFtext"), None);
        assert_eq!(bomless_guess(text.as_bytes()), None);
        assert_eq!(bomless_guess("日本語のテキスト, ça va".as_bytes()), None);
        assert_eq!(bomless_guess(b"a\x00b"), None);
    }
}
