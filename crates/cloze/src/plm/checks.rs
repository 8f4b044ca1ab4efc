//! Checks on a model folder's files before anything is allocated from them.
//!
//! A model folder comes from outside (the Hub, a download, a colleague), so every size it declares
//! is checked against the file it sits in before memory is taken for it:
//! - [`read_text_limited`]: JSON and vocabulary files are read whole only below a size limit.
//! - [`check_pytorch`]: every tensor a `pytorch_model.bin` pickle declares must fit in its storage
//!   record inside the zip, and the record in the file, so a 1 KB file cannot ask for 40 GB. The
//!   pickle program itself is scanned first ([`scan_pickle`]): a string length past the end of the
//!   program or a program that would build an enormous object is refused before candle runs it.
//! - [`check_safetensors`]: the header's shapes, dtypes and offsets against the file's length, with
//!   the tensor named.
//! - [`ConfigKeys`]: config.json's numbers, each with the rule it must meet, checked by key so the
//!   error names the key (`num_attention_heads` 0 would divide by zero later).
//! - [`first_non_finite`]: the first weight holding NaN or ±∞, for load-time refusal and for the
//!   message when an output is not finite.

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::path::Path;

use candle_core::{DType, Tensor};

use crate::error::{Error, Result};

/// The largest JSON or text file of a model folder read whole (config.json, tokenizer_config.json,
/// special_tokens_map.json): real ones are a few KB.
pub const SMALL_FILE_LIMIT: u64 = 16 << 20;
/// The largest tokenizer file read whole (tokenizer.json, vocab.txt, vocab.json, merges.txt):
/// real ones are at most tens of MB.
pub const TOKENIZER_FILE_LIMIT: u64 = 1 << 30;
/// The largest pickle program (`data.pkl`) of a PyTorch checkpoint scanned: real ones are well
/// under 1 MB.
pub const PICKLE_LIMIT: u64 = 64 << 20;
/// The most objects a pickle program may build (memo copies included): a state dict of a few
/// thousand tensors takes tens of thousands.
const PICKLE_OBJECT_LIMIT: u64 = 2_000_000;
/// How many times the file's bytes the tensors of a PyTorch checkpoint may add up to: tied
/// weights (word embeddings and MLM decoder) share one storage record and are read twice.
const SHARED_STORAGE_FACTOR: u64 = 3;

fn model_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Model { path: path.to_path_buf(), message: message.into(), source: None }
}

/// The length of `path`, which must be a regular file no larger than `limit` bytes; `what` names
/// the file in messages ("config.json").
pub fn checked_len(path: &Path, limit: u64, what: &str) -> Result<u64> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(model_err(path, format!("{what} is not a regular file")));
    }
    if meta.len() > limit {
        return Err(model_err(
            path,
            format!(
                "{what} is {} bytes, more than the {} bytes such a file can sensibly have; it is not a \
                 {what} (re-download the model)",
                meta.len(),
                limit
            ),
        ));
    }
    Ok(meta.len())
}

/// Reads a text file of a model folder whole, refusing files above `limit` bytes before reading.
pub fn read_text_limited(path: &Path, limit: u64, what: &str) -> Result<String> {
    checked_len(path, limit, what)?;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit).read_to_string(&mut text))
        .map_err(|e| Error::io_while(path, format!("cannot read {what}"), e))?;
    Ok(text)
}

/// Bytes per element of a candle dtype, as a u64.
fn dtype_bytes(dtype: DType) -> u64 {
    dtype.size_in_bytes() as u64
}

fn shape_text(dims: &[usize]) -> String {
    if dims.is_empty() {
        "a scalar".into()
    } else {
        dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("×")
    }
}

/// Checks a `pytorch_model.bin` (a zip holding `…/data.pkl` and one storage record per tensor
/// storage) before any tensor is read: every declared tensor must fit in its storage record, every
/// record in the file, and the tensors together within a few times the file's size.
pub fn check_pytorch(path: &Path) -> Result<()> {
    let file_len = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
    let not_a_checkpoint = |e: zip::result::ZipError| Error::Model {
        path: path.to_path_buf(),
        message: "not a PyTorch checkpoint (it is not a readable zip archive); re-download it or use \
                  model.safetensors"
            .into(),
        source: Some(Box::new(e)),
    };
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(not_a_checkpoint)?;
    // Every record: name → (uncompressed size, stored without compression).
    let mut records: HashMap<String, u64> = HashMap::new();
    let mut pickles = Vec::new();
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(not_a_checkpoint)?;
        let name = entry.name().map_err(not_a_checkpoint)?.to_string();
        if entry.compression() != zip::CompressionMethod::Stored {
            return Err(model_err(
                path,
                format!("record {name:?} is compressed; PyTorch checkpoints store records uncompressed"),
            ));
        }
        if entry.size() != entry.compressed_size() || entry.size() > file_len {
            return Err(model_err(
                path,
                format!(
                    "record {name:?} declares {} bytes but the file has {file_len}; the file is truncated \
                     or crafted — re-download it",
                    entry.size()
                ),
            ));
        }
        if name.ends_with("data.pkl") {
            pickles.push(i);
        }
        records.insert(name, entry.size());
    }
    if pickles.is_empty() {
        return Err(model_err(path, "no data.pkl in the archive: not a PyTorch checkpoint"));
    }
    for i in pickles {
        let mut entry = zip.by_index(i).map_err(not_a_checkpoint)?;
        let name = entry.name().map_err(not_a_checkpoint)?.to_string();
        if entry.size() > PICKLE_LIMIT {
            return Err(model_err(
                path,
                format!("{name} is {} bytes; a checkpoint's pickle is under {PICKLE_LIMIT}", entry.size()),
            ));
        }
        let mut program = Vec::with_capacity(entry.size() as usize);
        entry
            .by_ref()
            .take(PICKLE_LIMIT)
            .read_to_end(&mut program)
            .map_err(|e| Error::io_while(path, format!("cannot read {name}"), e))?;
        scan_pickle(&program)
            .map_err(|m| model_err(path, format!("{name}: {m}; the file is corrupt or crafted")))?;
    }
    drop(zip);
    let infos = guard_candle(path, || candle_core::pickle::read_pth_tensor_info(path, false, None))?
        .map_err(|e| Error::Model {
            path: path.to_path_buf(),
            message:
                "cannot read the checkpoint's tensor list (the file may be truncated or not a checkpoint)"
                    .into(),
            source: Some(e.into()),
        })?;
    let mut total: u64 = 0;
    for info in &infos {
        let dims = info.layout.dims();
        let too_big = || {
            model_err(
                path,
                format!(
                    "tensor `{}` declares shape {} ({:?}), more than the file's {file_len} bytes hold; \
                     the file is corrupt or crafted — re-download it",
                    info.name,
                    shape_text(dims),
                    info.dtype
                ),
            )
        };
        let needed = dims
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
            .and_then(|n| n.checked_mul(dtype_bytes(info.dtype)))
            .and_then(|n| n.checked_add(info.layout.start_offset() as u64))
            .ok_or_else(too_big)?;
        let Some(&record) = records.get(&info.path) else {
            return Err(model_err(
                path,
                format!("tensor `{}` names storage {:?}, which is not in the archive", info.name, info.path),
            ));
        };
        if needed > record {
            return Err(model_err(
                path,
                format!(
                    "tensor `{}` declares shape {} ({:?}, {needed} bytes from its offset) but its storage \
                     {:?} holds {record} bytes; the file is corrupt or crafted — re-download it",
                    info.name,
                    shape_text(dims),
                    info.dtype,
                    info.path
                ),
            ));
        }
        total = total.saturating_add(needed);
    }
    if total > file_len.saturating_mul(SHARED_STORAGE_FACTOR) {
        return Err(model_err(
            path,
            format!(
                "the tensors add up to {total} bytes from a {file_len}-byte file (views of one storage \
                 repeated); the file is crafted — re-download it"
            ),
        ));
    }
    Ok(())
}

/// Scans a pickle program as candle's reader will run it, without building anything: string
/// lengths must stay inside the program, and the objects built (a memo fetch copies its object)
/// must stay below a limit, so a small program cannot make the reader allocate gigabytes. Opcodes
/// candle does not know are left for candle to refuse.
/// Runs one of candle's readers on `path`, turning a panic inside it (candle 0.11.1's pickle reader
/// indexes a storage tuple it never checked) into an error naming the file, so a crafted checkpoint
/// can never take the process down.
pub fn guard_candle<T>(path: &Path, read: impl FnOnce() -> T) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).map_err(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "an unexpected structure".into());
        model_err(
            path,
            format!("the checkpoint is malformed ({what}); the file is corrupt or crafted — re-download it"),
        )
    })
}

pub fn scan_pickle(program: &[u8]) -> std::result::Result<(), String> {
    let mut at = 0usize;
    // Object sizes on the stack (in objects), with the positions of marks.
    let mut stack: Vec<u64> = Vec::new();
    let mut marks: Vec<usize> = Vec::new();
    let mut memo: HashMap<u32, u64> = HashMap::new();
    let mut built: u64 = 0;
    let take = |at: &mut usize, n: usize| -> std::result::Result<&[u8], String> {
        let end = at.checked_add(n).filter(|&e| e <= program.len()).ok_or_else(|| {
            format!("the pickle ends inside an operation at byte {at} (it needs {n} more bytes)")
        })?;
        let s = &program[*at..end];
        *at = end;
        Ok(s)
    };
    let pop = |stack: &mut Vec<u64>| stack.pop().unwrap_or(1);
    let pop_mark = |stack: &mut Vec<u64>, marks: &mut Vec<usize>| -> u64 {
        let m = marks.pop().unwrap_or(0).min(stack.len());
        stack.drain(m..).fold(0u64, |a, s| a.saturating_add(s))
    };
    while at < program.len() {
        let op = program[at];
        at += 1;
        let mut push = 0u64;
        match op {
            0x80 => {
                take(&mut at, 1)?;
            }
            b'c' => {
                for _ in 0..2 {
                    let rest = &program[at..];
                    let n = rest.iter().position(|&b| b == b'\n').ok_or("a GLOBAL name has no end")?;
                    at += n + 1;
                }
                push = 1;
            }
            b'q' => {
                let k = take(&mut at, 1)?[0] as u32;
                memo.insert(k, stack.last().copied().unwrap_or(1));
            }
            b'r' => {
                let b = take(&mut at, 4)?;
                memo.insert(u32::from_le_bytes([b[0], b[1], b[2], b[3]]), stack.last().copied().unwrap_or(1));
            }
            b'h' => {
                let k = take(&mut at, 1)?[0] as u32;
                push = memo.get(&k).copied().unwrap_or(1);
            }
            b'j' => {
                let b = take(&mut at, 4)?;
                push = memo.get(&u32::from_le_bytes([b[0], b[1], b[2], b[3]])).copied().unwrap_or(1);
            }
            b'X' => {
                let b = take(&mut at, 4)?;
                let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                if n > program.len() - at {
                    return Err(format!(
                        "a string at byte {at} declares {n} bytes but only {} remain",
                        program.len() - at
                    ));
                }
                at += n;
                push = 1;
            }
            b'J' => {
                take(&mut at, 4)?;
                push = 1;
            }
            b'K' => {
                take(&mut at, 1)?;
                push = 1;
            }
            b'M' => {
                take(&mut at, 2)?;
                push = 1;
            }
            b'G' => {
                take(&mut at, 8)?;
                push = 1;
            }
            0x8a => {
                let n = take(&mut at, 1)?[0] as usize;
                if n > 8 {
                    // candle decodes LONG1 into an i64 by shifting: 9+ bytes overflow.
                    return Err(format!(
                        "an integer at byte {at} is {n} bytes long (at most 8 fit a tensor size)"
                    ));
                }
                take(&mut at, n)?;
                push = 1;
            }
            b')' | b'}' | b'd' | b']' | b'N' | 0x88 | 0x89 => push = 1,
            b'(' => marks.push(stack.len()),
            b't' => push = pop_mark(&mut stack, &mut marks).saturating_add(1),
            0x85 => push = pop(&mut stack).saturating_add(1),
            0x86 => push = pop(&mut stack).saturating_add(pop(&mut stack)).saturating_add(1),
            0x87 => {
                push = pop(&mut stack)
                    .saturating_add(pop(&mut stack))
                    .saturating_add(pop(&mut stack))
                    .saturating_add(1)
            }
            b'Q' => push = pop(&mut stack).saturating_add(1),
            b'R' | b'b' | 0x81 => push = pop(&mut stack).saturating_add(pop(&mut stack)).saturating_add(1),
            b's' | b'a' => {
                let added = pop(&mut stack).saturating_add(if op == b's' { pop(&mut stack) } else { 0 });
                push = pop(&mut stack).saturating_add(added);
            }
            b'u' | b'e' => {
                let added = pop_mark(&mut stack, &mut marks);
                push = pop(&mut stack).saturating_add(added);
            }
            b'.' => return Ok(()),
            // Unknown to candle: it refuses the program itself.
            _ => return Ok(()),
        }
        if push > 0 {
            built = built.saturating_add(push);
            if push > PICKLE_OBJECT_LIMIT || built > PICKLE_OBJECT_LIMIT.saturating_mul(4) {
                return Err(format!(
                    "the pickle builds more than {PICKLE_OBJECT_LIMIT} objects (memo copies of copies)"
                ));
            }
            stack.push(push);
        }
    }
    Err("the pickle has no STOP".into())
}

/// Checks a safetensors file's header against the file before it is read: every tensor's shape
/// and dtype must match its byte range, and the ranges lie inside the file. The error names the
/// tensor (the safetensors crate checks the same but names none).
pub fn check_safetensors(path: &Path) -> Result<()> {
    let file_len = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let truncated = |what: String| {
        model_err(path, format!("{what}; the file is truncated or not safetensors — re-download it"))
    };
    if file_len < 8 {
        return Err(truncated(format!("the file has {file_len} bytes, fewer than a safetensors header")));
    }
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(|e| Error::io(path, e))?;
    let header_len = u64::from_le_bytes(len);
    if header_len > 100_000_000 || header_len > file_len - 8 {
        return Err(truncated(format!("the header declares {header_len} bytes but the file has {file_len}")));
    }
    let mut header = vec![0u8; header_len as usize];
    file.rewind().and_then(|_| file.seek(std::io::SeekFrom::Start(8))).map_err(|e| Error::io(path, e))?;
    file.read_exact(&mut header).map_err(|e| Error::io(path, e))?;
    let header: serde_json::Value = serde_json::from_slice(&header).map_err(|e| Error::Model {
        path: path.to_path_buf(),
        message: "the safetensors header is not valid JSON; the file is corrupt — re-download it".into(),
        source: Some(e.into()),
    })?;
    let data_len = file_len - 8 - header_len;
    let Some(entries) = header.as_object() else {
        return Err(truncated("the safetensors header is not a JSON object".into()));
    };
    for (name, entry) in entries {
        if name == "__metadata__" {
            continue;
        }
        let bad = |what: &str| {
            model_err(
                path,
                format!("tensor `{name}`: {what}; the file is corrupt or crafted — re-download it"),
            )
        };
        let bits: u64 = match entry["dtype"].as_str().unwrap_or("") {
            "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" => 8,
            "I16" | "U16" | "F16" | "BF16" => 16,
            "I32" | "U32" | "F32" => 32,
            "I64" | "U64" | "F64" | "C64" => 64,
            "F4" => 4,
            "F6_E2M3" | "F6_E3M2" => 6,
            other => return Err(bad(&format!("unknown dtype {other:?}"))),
        };
        let dims: Vec<u64> = entry["shape"]
            .as_array()
            .and_then(|a| a.iter().map(|d| d.as_u64()).collect::<Option<Vec<_>>>())
            .ok_or_else(|| bad("its shape is not a list of sizes"))?;
        let offsets: Vec<u64> = entry["data_offsets"]
            .as_array()
            .and_then(|a| a.iter().map(|d| d.as_u64()).collect::<Option<Vec<_>>>())
            .filter(|o| o.len() == 2)
            .ok_or_else(|| bad("its data_offsets are not [start, end]"))?;
        let (start, end) = (offsets[0], offsets[1]);
        let shape = dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("×");
        let bytes = dims
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d))
            .and_then(|n| n.checked_mul(bits))
            .map(|b| b.div_ceil(8))
            .ok_or_else(|| bad(&format!("shape {shape} overflows")))?;
        if end < start || end > data_len {
            return Err(bad(&format!(
                "its bytes {start}..{end} lie outside the file's {data_len} bytes of data"
            )));
        }
        if end - start != bytes {
            return Err(bad(&format!(
                "shape {shape} needs {bytes} bytes but its range {start}..{end} holds {}",
                end - start
            )));
        }
    }
    Ok(())
}

/// The rule a config.json number must meet.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// A whole number in `min..=max`.
    Count { min: u64, max: u64 },
    /// A finite number above 0 and below 1 (an epsilon).
    Epsilon,
    /// A probability in `[0, 1)` (a dropout rate).
    Probability,
}

/// A config.json key, the rule its value meets, and whether the key must be present.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    pub key: &'static str,
    pub rule: Rule,
    pub required: bool,
}

/// The keys a family's config.json is checked for (before it is deserialised, so the error names
/// the key rather than a line and column).
pub struct ConfigKeys(pub &'static [ConfigKey]);

/// The largest sizes a config may declare: far above any released encoder, far below an
/// allocation that would abort.
pub const MAX_VOCAB: u64 = 1 << 24;
pub const MAX_WIDTH: u64 = 1 << 16;
pub const MAX_LAYERS: u64 = 1 << 10;
pub const MAX_POSITIONS: u64 = 1 << 20;

impl ConfigKeys {
    /// Checks every key of `config` (config.json at `path`) against its rule.
    pub fn check(&self, config: &serde_json::Value, path: &Path) -> Result<()> {
        for k in self.0 {
            let value = &config[k.key];
            if value.is_null() {
                if k.required {
                    return Err(model_err(
                        path,
                        format!("config.json has no `{}`; add it (see the model's card)", k.key),
                    ));
                }
                continue;
            }
            let bad = |what: String| {
                model_err(
                    path,
                    format!(
                        "config.json: `{}` is {value}; {what} — fix config.json or re-download the model",
                        k.key
                    ),
                )
            };
            match k.rule {
                Rule::Count { min, max } => match value.as_u64() {
                    Some(n) if (min..=max).contains(&n) => {}
                    _ => return Err(bad(format!("it must be a whole number from {min} to {max}"))),
                },
                Rule::Epsilon => match value.as_f64() {
                    Some(x) if x.is_finite() && x > 0.0 && x < 1.0 => {}
                    _ => return Err(bad("it must be a number above 0 and below 1 (e.g. 1e-12)".into())),
                },
                Rule::Probability => match value.as_f64() {
                    Some(x) if (0.0..1.0).contains(&x) => {}
                    _ => return Err(bad("it must be a probability from 0 up to (not including) 1".into())),
                },
            }
        }
        Ok(())
    }
}

/// The decoder start token id `id` (config.json `decoder_start_token_id`), which must be in the
/// vocabulary of `vocab_size` tokens.
pub fn start_token(path: &Path, id: usize, vocab_size: usize) -> Result<u32> {
    if id >= vocab_size {
        return Err(config_error(
            path,
            "decoder_start_token_id",
            format!("is {id}, outside the vocabulary of {vocab_size} tokens"),
        ));
    }
    Ok(id as u32)
}

/// Runs a table of config.json cases through a family's `parse`: `None` expects the config to be
/// read (then `ok` checks what was read), `Some(fragment)` an error that contains `fragment`.
#[cfg(test)]
pub(crate) fn assert_config_cases<T: std::fmt::Debug>(
    cases: &[(String, Option<&str>)],
    parse: impl Fn(&serde_json::Value, &Path) -> Result<T>,
    ok: impl Fn(&str, T),
) {
    for (json, err) in cases {
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        match (parse(&v, Path::new("config.json")), err) {
            (Ok(c), None) => ok(json, c),
            (Err(e), Some(want)) => assert!(e.to_string().contains(want), "{json}: {e}"),
            (got, want) => panic!("{json}: got {got:?}, wanted error {want:?}"),
        }
    }
}

/// An error naming config.json's key: `what` says what is wrong and what to do.
pub fn config_error(path: &Path, key: &str, what: impl std::fmt::Display) -> Error {
    model_err(path, format!("config.json: `{key}` {what} — fix config.json or re-download the model"))
}

/// The first of `weights` (by name, in order) holding NaN or ±∞, checked in chunks so no copy of
/// a whole large table is made.
pub fn first_non_finite<'a>(
    weights: impl IntoIterator<Item = (&'a str, &'a Tensor)>,
) -> Result<Option<String>> {
    for (name, t) in weights {
        if !t.dtype().is_float() {
            continue;
        }
        let flat = t.flatten_all()?;
        let n = flat.elem_count();
        let chunk = 1 << 20;
        let mut start = 0;
        while start < n {
            let part = flat.narrow(0, start, chunk.min(n - start))?;
            // x - x is 0 for every finite x and NaN for NaN and ±∞; the sum keeps a NaN.
            let s = part.sub(&part)?.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            if !s.is_finite() {
                return Ok(Some(name.to_string()));
            }
            start += chunk;
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pickle_scan_refuses_long_strings_and_memo_bombs() {
        // PROTO 2, BINUNICODE of 4 GB declared with 3 bytes present, STOP.
        let long = [&[0x80, 2, b'X'][..], &u32::MAX.to_le_bytes(), b"abc."].concat();
        assert!(scan_pickle(&long).unwrap_err().contains("declares 4294967295 bytes"));
        // ( ) memo0, then 40 times: tuple2 of get0, get0 and memo0 — 2^40 objects.
        let mut bomb = vec![0x80, 2, b')', b'q', 0];
        for _ in 0..40 {
            bomb.extend([b'h', 0, b'h', 0, 0x86, b'q', 0]);
        }
        bomb.push(b'.');
        assert!(scan_pickle(&bomb).unwrap_err().contains("more than"));
        // A small dict: { "a": 1 }.
        let fine =
            [&[0x80, 2, b'}', b'q', 0, b'X'][..], &1u32.to_le_bytes(), b"a", &[b'K', 1, b's', b'.']].concat();
        assert_eq!(scan_pickle(&fine), Ok(()));
        assert!(scan_pickle(&[0x80, 2, b'K']).unwrap_err().contains("ends inside"));
    }

    #[test]
    fn config_rules_name_the_key() {
        const KEYS: ConfigKeys = ConfigKeys(&[
            ConfigKey { key: "n", rule: Rule::Count { min: 1, max: 8 }, required: true },
            ConfigKey { key: "eps", rule: Rule::Epsilon, required: false },
            ConfigKey { key: "p", rule: Rule::Probability, required: false },
        ]);
        let cases = [
            (r#"{"n": 2}"#, None),
            (r#"{"n": 2, "eps": 1e-5, "p": 0.0}"#, None),
            (r#"{}"#, Some("has no `n`")),
            (r#"{"n": 0}"#, Some("`n` is 0; it must be a whole number from 1 to 8")),
            (r#"{"n": 9}"#, Some("`n` is 9")),
            (r#"{"n": -1}"#, Some("`n` is -1")),
            (r#"{"n": 2.5}"#, Some("`n` is 2.5")),
            (r#"{"n": "2"}"#, Some("`n` is \"2\"")),
            (r#"{"n": 2, "eps": -1e-12}"#, Some("`eps` is -1e-12; it must be a number above 0")),
            (r#"{"n": 2, "eps": 0}"#, Some("`eps` is 0")),
            (r#"{"n": 2, "p": 1.0}"#, Some("`p` is 1.0; it must be a probability")),
            (r#"{"n": 2, "p": -0.1}"#, Some("`p` is -0.1")),
        ];
        for (json, expected) in cases {
            let v: serde_json::Value = serde_json::from_str(json).unwrap();
            match (KEYS.check(&v, Path::new("config.json")), expected) {
                (Ok(()), None) => {}
                (Err(e), Some(fragment)) => assert!(e.to_string().contains(fragment), "{json}: {e}"),
                (got, want) => panic!("{json}: got {got:?}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn non_finite_weights_are_found_by_name() {
        let dev = candle_core::Device::Cpu;
        let fine = Tensor::new(&[1f32, -2.0, 3e38], &dev).unwrap();
        let nan = Tensor::new(&[1f32, f32::NAN], &dev).unwrap();
        let inf = Tensor::new(&[[1f32], [f32::NEG_INFINITY]], &dev).unwrap();
        let ids = Tensor::new(&[1u32, 2], &dev).unwrap();
        assert_eq!(first_non_finite([("a", &fine), ("ids", &ids)]).unwrap(), None);
        assert_eq!(first_non_finite([("a", &fine), ("b", &nan)]).unwrap().as_deref(), Some("b"));
        assert_eq!(first_non_finite([("c", &inf), ("b", &nan)]).unwrap().as_deref(), Some("c"));
    }

    #[test]
    fn oversized_text_files_are_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, "x".repeat(100)).unwrap();
        assert_eq!(read_text_limited(&path, 100, "config.json").unwrap().len(), 100);
        let msg = read_text_limited(&path, 99, "config.json").unwrap_err().to_string();
        assert!(msg.contains("config.json is 100 bytes, more than the 99"), "{msg}");
        let msg = read_text_limited(dir.path(), 99, "config.json").unwrap_err().to_string();
        assert!(msg.contains("not a regular file"), "{msg}");
    }
}
