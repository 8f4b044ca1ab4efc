//! A `pytorch_model.bin`, read as the weights loader reads it (candle's pickle reader, then every
//! tensor to f32 on the CPU).
//!
//! An input starting with `PK` is the whole file (a zip archive); any other input is the pickle
//! stream `archive/data.pkl`, put in an archive beside a 256-byte storage `archive/data/0`, so
//! that mutations reach the unpickler rather than the zip reader.
//!
//! candle's pickle reader panics on some programs (a storage tuple shorter than it expects); the
//! engine runs it under `checks::guard_candle`, which turns such a panic into an error naming the
//! file. libFuzzer's panic hook aborts on every panic, so this target lets a panic raised *inside
//! candle's pickle.rs* unwind to that guard; any other panic is a crash as usual.
#![no_main]
use std::io::Write;
use std::sync::Once;

use candle_core::{DType, Device};
use cloze::plm::weights::WeightFiles;
use libfuzzer_sys::fuzz_target;
use zip::write::SimpleFileOptions;

fn archive(pickle: &[u8]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("archive/data.pkl", options).unwrap();
    zip.write_all(pickle).unwrap();
    zip.start_file("archive/data/0", options).unwrap();
    zip.write_all(&[0x3f; 256]).unwrap();
    zip.finish().unwrap().into_inner()
}

/// Lets panics raised in candle's pickle reader unwind to the engine's guard.
fn spare_candle_pickle_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_candle_pickle = info
                .location()
                .is_some_and(|l| l.file().contains("candle-core") && l.file().ends_with("pickle.rs"));
            // A violated `unsafe` precondition cannot unwind (it aborts): report it.
            if !in_candle_pickle || info.to_string().contains("unsafe precondition") {
                fuzzer_hook(info);
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    spare_candle_pickle_panics();
    let bytes = if data.starts_with(b"PK") { data.to_vec() } else { archive(data) };
    let path = cloze_fuzz::write_input("pickle", "pytorch_model.bin", &bytes);
    let _ = WeightFiles::PyTorch(path).load(DType::F32, &Device::Cpu, Default::default());
});
