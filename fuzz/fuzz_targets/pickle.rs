//! A `pytorch_model.bin`, read as the weights loader reads it (candle's pickle reader, then every
//! tensor to f32 on the CPU).
//!
//! An input starting with `PK` is the whole file (a zip archive); any other input is the pickle
//! stream `archive/data.pkl`, put in an archive beside a 256-byte storage `archive/data/0`, so
//! that mutations reach the unpickler rather than the zip reader.
#![no_main]
use std::io::Write;

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

fuzz_target!(|data: &[u8]| {
    let bytes = if data.starts_with(b"PK") { data.to_vec() } else { archive(data) };
    let path = cloze_fuzz::write_input("pickle", "pytorch_model.bin", &bytes);
    let _ = WeightFiles::PyTorch(path).load(DType::F32, &Device::Cpu);
});
