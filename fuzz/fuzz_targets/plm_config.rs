//! A model folder's config.json, as `Plm::load` reads it: JSON, the family from `model_type` /
//! `architectures`, then the family's config struct.
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
            let _ = serde_json::from_value::<distilbert::Config>(config);
        }
        Ok(_) => {
            let _ = serde_json::from_value::<bert::Config>(config);
        }
        Err(_) => {}
    }
});
