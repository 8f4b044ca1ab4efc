//! A model folder's config.json, as `Plm::load` reads it: JSON, the family from `model_type` /
//! `architectures`, then the family's config checked key by key (`Config::from_json`).
#![no_main]
use std::path::Path;

use cloze::plm::{Family, bert, distilbert};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(config) = serde_json::from_str::<serde_json::Value>(text) else { return };
    let path = Path::new("config.json");
    match Family::from_config(&config, path) {
        Ok(Family::DistilBert) => {
            let _ = distilbert::Config::from_json(&config, path);
        }
        Ok(Family::Bert) => {
            let _ = bert::Config::from_json(&config, path, bert::Variant::Bert);
        }
        Ok(Family::Roberta | Family::XlmRoberta) => {
            let _ = bert::Config::from_json(&config, path, bert::Variant::Roberta);
        }
        Err(_) => {}
    }
});
