//! Inputs the fuzz targets (fuzz/) found crashing the process, each read the way the engine reads
//! its kind of file: every one must be refused with an error, never a panic or an abort. The
//! inputs live in fuzz/known/ (see its README for how they were found).

use std::path::PathBuf;

use candle_core::{DType, Device};
use cloze::plm::weights::WeightFiles;

fn known(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/known").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Loads `bytes` as a model folder's `pytorch_model.bin`.
fn load_pytorch(bytes: &[u8]) -> cloze::Result<usize> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pytorch_model.bin");
    std::fs::write(&path, bytes).unwrap();
    WeightFiles::PyTorch(path).load(DType::F32, &Device::Cpu, Default::default()).map(|t| t.len())
}

#[test]
fn pytorch_checkpoint_with_a_short_storage_tuple_is_refused() {
    let err = load_pytorch(&known("pickle-short-storage-tuple.bin")).unwrap_err();
    assert!(err.to_string().contains("pytorch_model.bin"), "{err}");
}

#[test]
fn pytorch_checkpoint_with_a_long1_over_8_bytes_is_refused() {
    let err = load_pytorch(&known("pickle-long1-9-bytes.bin")).unwrap_err();
    assert!(err.to_string().contains("pytorch_model.bin"), "{err}");
}
