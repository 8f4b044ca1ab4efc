//! GGUF metadata as step 8 will read it: candle's `gguf_file::Content::read` (header, metadata,
//! tensor infos), then the first tensors, as a model loader reads them. The engine has no GGUF reader yet; this
//! target shows what candle's does with hostile files before the engine depends on it.
#![no_main]
use candle_core::Device;
use candle_core::quantized::gguf_file::Content;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut cursor = std::io::Cursor::new(data);
    let Ok(content) = Content::read(&mut cursor) else { return };
    for (name, info) in &content.tensor_infos {
        let _ = (name.len(), info.shape.elem_count(), info.offset, info.ggml_dtype);
    }
    for value in content.metadata.values() {
        let _ = value.to_string();
    }
    // Loading a tensor as a model would: its size comes from the file.
    let names: Vec<String> = content.tensor_infos.keys().take(4).cloned().collect();
    for name in names {
        let _ = content.tensor(&mut cursor, &name, &Device::Cpu);
    }
});
