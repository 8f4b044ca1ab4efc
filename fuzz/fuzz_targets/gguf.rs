//! A GGUF file as the engine reads it: `plm::gguf::GgufModel::open` (the header walk, candle's
//! `gguf_file::Content::read` under `checks::guard_candle`, the tensor checks, the config), then
//! every tensor dequantised to f32 and kept quantised, and the tokenizer built from the metadata.
//!
//! Findings in candle's reader (fuzz/known/README.md): a `general.alignment` of 0 divides by zero
//! in `Content::read`, tensor dimensions whose product overflows `usize` overflow in
//! `Shape::elem_count`, and a tensor with no elements reaches an unaligned `slice::from_raw_parts`
//! (undefined behaviour; an abort in debug builds). The engine's reader refuses all three before
//! candle sees them, so here *every* panic is a crash, candle's included: a file reaching a panic
//! in candle is one the reader's checks let through. An abort, a huge allocation
//! (`cloze_fuzz::MAX_ALLOCATION`) or a hang is a crash as usual.
#![no_main]
use candle_core::Device;
use cloze::plm::gguf::GgufModel;
use cloze::plm::gguf_tokenizer::tokenizer_from_gguf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = cloze_fuzz::write_input("gguf", "model.gguf", data);
    let Ok(model) = GgufModel::open(&path) else { return };
    let _ = model.memory_estimate();
    let _ = model.tensors_f32(&Device::Cpu);
    let _ = model.qtensors(&Device::Cpu);
    if let Ok(tokenizer) = tokenizer_from_gguf(&model) {
        let _ = tokenizer.encode("Hello wörld 123 <|im_start|>!", true);
    }
});
