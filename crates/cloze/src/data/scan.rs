//! The streaming pre-pass over a file: UTF-8 validity, and how CSV-style quotes are used.

use std::io::Read;
use std::path::Path;

use super::Encoding;
use crate::error::{Error, Result};

const CHUNK: usize = 64 * 1024;

/// What the pre-pass found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Bytes after the byte order mark.
    pub len: u64,
    /// Whether the last byte is `\n`.
    pub ends_with_newline: bool,
    /// The first byte that is not valid UTF-8, with its 1-based line; `None` when the file is UTF-8
    /// (or the check was not asked for).
    pub invalid_utf8: Option<(u64, u8)>,
    /// Quote usage, when a delimiter was given.
    pub quotes: Option<QuoteScan>,
}

/// How a separated file uses `"`, judged by strict CSV rules: a field that starts with a quote must
/// end with a quote followed by the delimiter or the end of the line, and inner quotes are doubled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct QuoteScan {
    /// First line where a closing quote is followed by other text (`"Hi" she said`).
    pub malformed: Option<u64>,
    /// Line where a quote opens that is never closed.
    pub unterminated: Option<u64>,
}

impl QuoteScan {
    /// Whether reading the file with CSV quoting is safe.
    pub fn well_formed(&self) -> bool {
        self.malformed.is_none() && self.unterminated.is_none()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    AfterQuote,
}

struct QuoteMachine {
    delim: u8,
    state: State,
    line: u64,
    opened: u64,
    result: QuoteScan,
}

impl QuoteMachine {
    fn new(delim: u8) -> Self {
        QuoteMachine { delim, state: State::FieldStart, line: 1, opened: 0, result: QuoteScan::default() }
    }

    fn feed(&mut self, chunk: &[u8]) {
        let delim = self.delim;
        let mut i = 0;
        while i < chunk.len() {
            match self.state {
                State::FieldStart => {
                    let b = chunk[i];
                    if b == b'"' {
                        self.state = State::Quoted;
                        self.opened = self.line;
                    } else if b == b'\n' {
                        self.line += 1;
                    } else if b != delim {
                        self.state = State::Unquoted;
                    }
                    i += 1;
                }
                State::Unquoted => match chunk[i..].iter().position(|&b| b == delim || b == b'\n') {
                    Some(p) => {
                        if chunk[i + p] == b'\n' {
                            self.line += 1;
                        }
                        self.state = State::FieldStart;
                        i += p + 1;
                    }
                    None => i = chunk.len(),
                },
                State::Quoted => match chunk[i..].iter().position(|&b| b == b'"' || b == b'\n') {
                    Some(p) => {
                        if chunk[i + p] == b'\n' {
                            self.line += 1;
                        } else {
                            self.state = State::AfterQuote;
                        }
                        i += p + 1;
                    }
                    None => i = chunk.len(),
                },
                State::AfterQuote => {
                    let b = chunk[i];
                    if b == b'"' {
                        self.state = State::Quoted;
                    } else if b == delim {
                        self.state = State::FieldStart;
                    } else if b == b'\n' {
                        self.line += 1;
                        self.state = State::FieldStart;
                    } else if b != b'\r' {
                        self.result.malformed.get_or_insert(self.line);
                        self.state = State::Unquoted;
                    }
                    i += 1;
                }
            }
        }
    }

    fn finish(mut self) -> QuoteScan {
        if self.state == State::Quoted {
            self.result.unterminated = Some(self.opened);
        }
        self.result
    }
}

/// One streaming pass over `input` (positioned after any byte order mark): UTF-8 validity when
/// `check_utf8`, and quote usage when `quote_delim` is given.
pub(crate) fn scan(
    path: &Path,
    mut input: impl Read,
    check_utf8: bool,
    quote_delim: Option<u8>,
) -> Result<Scan> {
    let mut buf = vec![0u8; CHUNK + 4];
    let mut carry = 0usize; // bytes of an incomplete UTF-8 sequence kept from the previous chunk
    let mut newlines = 0u64; // newlines before `buf[carry..]`, counted while the file is still valid
    let mut out = Scan::default();
    let mut check_utf8 = check_utf8;
    let mut quotes = quote_delim.map(QuoteMachine::new);
    let mut last = 0u8;
    loop {
        let n = match input.read(&mut buf[carry..carry + CHUNK]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io_while(path, "cannot read the file", e)),
        };
        if n == 0 {
            if check_utf8 && carry > 0 {
                out.invalid_utf8 = Some((newlines + 1, buf[0]));
            }
            break;
        }
        let fresh = &buf[carry..carry + n];
        out.len += n as u64;
        last = fresh[n - 1];
        if let Some(q) = quotes.as_mut() {
            q.feed(fresh);
        }
        if check_utf8 {
            let chunk = &buf[..carry + n];
            match std::str::from_utf8(chunk) {
                Ok(_) => newlines += count_newlines(&chunk[carry..]),
                Err(e) if e.error_len().is_some() => {
                    let at = e.valid_up_to();
                    out.invalid_utf8 = Some((newlines + count_newlines(&chunk[..at]) + 1, chunk[at]));
                    check_utf8 = false;
                }
                Err(e) => {
                    // An incomplete sequence at the end: keep it for the next chunk.
                    let at = e.valid_up_to();
                    newlines += count_newlines(&chunk[carry..at.max(carry)]);
                    let tail = chunk.len() - at;
                    buf.copy_within(at..at + tail, 0);
                    carry = tail;
                    continue;
                }
            }
        }
        carry = 0;
    }
    out.ends_with_newline = last == b'\n';
    out.quotes = quotes.map(QuoteMachine::finish);
    Ok(out)
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Decode one field or line. `None` when `Utf8` was asked for and the bytes are not UTF-8. A UTF-16
/// or UTF-32 file has been converted to UTF-8 before its fields are read.
pub(crate) fn decode(bytes: &[u8], encoding: Encoding) -> Option<String> {
    match encoding {
        Encoding::Utf8 | Encoding::Utf16Le | Encoding::Utf16Be | Encoding::Utf32Le | Encoding::Utf32Be => {
            std::str::from_utf8(bytes).ok().map(str::to_owned)
        }
        Encoding::Latin1 if bytes.is_ascii() => std::str::from_utf8(bytes).ok().map(str::to_owned),
        Encoding::Latin1 => Some(bytes.iter().map(|&b| char::from(b)).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes per read, to exercise chunk boundaries.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn utf8_detection_across_chunk_boundaries() {
        type Case<'a> = (&'a [u8], Option<(u64, u8)>);
        let cases: &[Case] = &[
            (b"plain ascii\n", None),
            ("cr\u{e8}me br\u{fb}l\u{e9}e\nna\u{ef}ve\n".as_bytes(), None),
            (b"line one\nrancid cr\xe8me\n", Some((2, 0xe8))),
            (b"a\nb\nc\x85d\n", Some((3, 0x85))),
            (b"ends in a cut sequence \xc3", Some((1, 0xc3))),
            ("\u{1F600}\u{1F600}\n".as_bytes(), None),
        ];
        for (data, want) in cases {
            for step in [1, 2, 3, 5, 1 << 20] {
                let got = scan(Path::new("t"), Trickle { data, step }, true, None).unwrap();
                assert_eq!(got.invalid_utf8, *want, "{data:?} step {step}");
                assert_eq!(got.len, data.len() as u64);
                assert_eq!(got.ends_with_newline, data.ends_with(b"\n"));
            }
        }
    }

    #[test]
    fn quote_usage() {
        let cases: &[(&[u8], u8, QuoteScan)] = &[
            (b"a\tb\n\"x \"\"y\"\"\"\tz\n", b'\t', QuoteScan::default()),
            (b"text\tlabel\n\"\nHow do I unblock my PIN?\"\tpin_blocked\n", b'\t', QuoteScan::default()),
            (
                b"ham\tok\nham\t\"Happy day\" I know\n",
                b'\t',
                QuoteScan { malformed: Some(2), unterminated: None },
            ),
            (b"a,b\n\"open,1\nc,d\n", b',', QuoteScan { malformed: None, unterminated: Some(2) }),
            (b"a,b\r\n\"x\"\r\nc,d\r\n", b',', QuoteScan::default()),
            (b"said \"hi\" there\tx\n", b'\t', QuoteScan::default()),
        ];
        for (data, delim, want) in cases {
            for step in [1, 4, 1 << 20] {
                let got = scan(Path::new("t"), Trickle { data, step }, false, Some(*delim)).unwrap();
                assert_eq!(
                    got.quotes.as_ref(),
                    Some(want),
                    "{:?} step {step}",
                    String::from_utf8_lossy(data)
                );
            }
        }
    }

    #[test]
    fn decoding() {
        assert_eq!(decode(b"caf\xe9", Encoding::Latin1).as_deref(), Some("caf\u{e9}"));
        assert_eq!(decode(b"a\x85b", Encoding::Latin1).as_deref(), Some("a\u{85}b"));
        assert_eq!(decode(b"caf\xe9", Encoding::Utf8), None);
        assert_eq!(decode("café".as_bytes(), Encoding::Utf8).as_deref(), Some("café"));
        assert_eq!(decode(b"plain", Encoding::Latin1).as_deref(), Some("plain"));
    }
}
