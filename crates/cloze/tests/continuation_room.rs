//! A decoder reads a label word of several tokens as a continuation: the row's sequence grows by
//! the word's extra tokens. A row long enough to be truncated must leave that room, or the
//! sequence runs past the model's positions (the tiny Llama has 128) and scoring fails — found by
//! the end-to-end test labelling AG News with the Llama fixture.

use std::path::PathBuf;

use candle_core::Device;
use cloze::classify::{Classifier, ClassifyOptions};
use cloze::plm::Plm;
use cloze::template::Template;
use cloze::verbalizer::{MultiToken, Verbalizer};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity")).join(name)
}

#[test]
fn a_truncated_row_leaves_room_for_a_decoders_label_word() {
    let plm = Plm::load(fixture("llama"), &Device::Cpu).unwrap();
    let long =
        "Wall St. Bears Claw Back Into the Black (Reuters) short-sellers are seeing green again. ".repeat(20);
    let words =
        r#"{"1": ["world", "politics"], "2": ["sports"], "3": ["business"], "4": ["science", "technology"]}"#;
    for (template, multi) in [
        ("{text_a} This is about {mask}", MultiToken::Auto),
        ("{text_a} This is about {mask}.", MultiToken::Sum),
        ("{soft:4} {text_a} This is about {mask}", MultiToken::Mean),
    ] {
        let v = Verbalizer::from_json(words).unwrap().with_multi_token(multi);
        let c = Classifier::new(&plm, Template::parse(template).unwrap(), &v, ClassifyOptions::default());
        let Ok(c) = c else {
            // Soft slots need a tuned prompt to classify; the template alone is enough for the rest.
            assert!(template.contains("{soft"), "{template}: {}", c.err().unwrap());
            continue;
        };
        let rows = [[("text_a", long.as_str())], [("text_a", "short")]];
        let preds =
            c.classify(&rows, &mut |_, _| true).unwrap_or_else(|e| panic!("{template} ({multi:?}): {e}"));
        for p in &preds {
            let sum: f32 = p.probs.iter().map(|(_, x)| x).sum();
            assert!((sum - 1.0).abs() < 1e-4, "{template}: probabilities sum to {sum}");
        }
    }
}
