//! A `model.safetensors` file, read as the weights loader reads it (header, then every tensor,
//! converted to f32 on the CPU).
#![no_main]
use candle_core::{DType, Device};
use cloze::plm::weights::WeightFiles;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = cloze_fuzz::write_input("safetensors", "model.safetensors", data);
    let _ = WeightFiles::Safetensors(path).load(DType::F32, &Device::Cpu, Default::default());
});
