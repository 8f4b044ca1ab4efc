//! A model folder's config.json, as `Plm::load` reads it: JSON, the family from `model_type` /
//! `architectures` (the registry), then the family's loader, which checks the config key by key
//! before it asks for a weight (here the weights are never there, so only the checks run).
#![no_main]
use std::path::Path;

use candle_core::Device;
use cloze::plm::Family;
use cloze::plm::family::LoadContext;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(config) = serde_json::from_str::<serde_json::Value>(text) else { return };
    let path = Path::new("config.json");
    let Ok(family) = Family::from_config(&config, path) else { return };
    let ctx = LoadContext {
        config: &config,
        config_path: path,
        weights_path: Path::new("model.safetensors"),
        device: &Device::Cpu,
    };
    let mut no_weights = || Err(cloze::Error::invalid("the fuzz target has no weights"));
    let _ = (family.spec().load)(&ctx, &mut no_weights);
});
