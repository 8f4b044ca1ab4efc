//! GGUF metadata as step 8 will read it: candle's `gguf_file::Content::read` (header, metadata,
//! tensor infos), then the first tensors, as a model loader reads them. The engine has no GGUF
//! reader yet; this target shows what candle's does with hostile files before the engine uses it.
//!
//! Findings (fuzz/known/README.md): candle *panics* on some files — a `general.alignment` of 0
//! divides by zero in `Content::read`, tensor dimensions whose product overflows `usize` overflow
//! in `Shape::elem_count` — and a tensor with no elements reaches an unaligned
//! `slice::from_raw_parts` (undefined behaviour; an abort in debug builds). So the engine's GGUF
//! reader must call candle inside `catch_unwind` and check each tensor's dimensions (checked, non-zero
//! element count and byte size) before `Content::tensor`.
//! This target does exactly that: a panic *inside candle's GGUF calls* is the refusal such a
//! reader would turn into an error; any other panic, an abort, a huge allocation or a hang is a
//! crash.
#![no_main]
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use candle_core::Device;
use candle_core::quantized::gguf_file::Content;
use libfuzzer_sys::fuzz_target;

thread_local! {
    static IN_CANDLE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (a call into candle's GGUF reader), a panic becoming `None`.
fn candle<T>(f: impl FnOnce() -> T) -> Option<T> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // A violated `unsafe` precondition cannot unwind (it aborts): report it.
            if !IN_CANDLE.with(Cell::get) || info.to_string().contains("unsafe precondition") {
                fuzzer_hook(info);
            }
        }));
    });
    IN_CANDLE.with(|c| c.set(true));
    let out = catch_unwind(AssertUnwindSafe(f)).ok();
    IN_CANDLE.with(|c| c.set(false));
    out
}

fuzz_target!(|data: &[u8]| {
    let mut cursor = std::io::Cursor::new(data);
    let Some(Ok(content)) = candle(|| Content::read(&mut cursor)) else { return };
    for value in content.metadata.values() {
        let _ = value.to_string();
    }
    let names: Vec<String> = content.tensor_infos.keys().take(4).cloned().collect();
    for name in names {
        let info = &content.tensor_infos[&name];
        // What the engine's reader must check first: the element count and the byte size fit in
        // usize and are not zero (candle computes both unchecked, and an empty buffer makes it
        // build a slice from an unaligned pointer).
        let dtype = info.ggml_dtype;
        let elems = info.shape.dims().iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        let bytes = elems.and_then(|n| (n / dtype.block_size()).checked_mul(dtype.type_size()));
        if !matches!(bytes, Some(b) if b > 0) {
            continue;
        }
        let _ = candle(|| content.tensor(&mut cursor, &name, &Device::Cpu));
    }
});
