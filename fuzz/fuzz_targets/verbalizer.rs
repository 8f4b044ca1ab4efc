//! The verbalizer parser, as `--verbalizer` reaches it: JSON text (an object of class → words or
//! an array of words), plus the `--multi-token` / `--aggregate` option parsers.
#![no_main]
use cloze::verbalizer::{Aggregate, MultiToken, Verbalizer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    if let Ok(v) = Verbalizer::from_json(src) {
        let _ = v.class_names();
    }
    if src.len() < 64 {
        let _ = src.parse::<MultiToken>();
        let _ = src.parse::<Aggregate>();
    }
});
