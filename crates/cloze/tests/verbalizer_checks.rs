//! Verbalizers the model cannot score apart, and outputs that are not numbers: label words of
//! different classes that become the same token are refused naming the words, classes and token;
//! a model whose scores come out NaN never yields a prediction; ties go to the first class.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use cloze::classify::{Classifier, ClassifyOptions};
use cloze::plm::{Family, Plm, PlmTokenizer};
use cloze::template::Template;
use cloze::verbalizer::{BoundVerbalizer, MultiToken, Verbalizer, argmax};

fn fixture(family: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity")).join(family)
}

fn bind(
    family: Family,
    dir: &str,
    json: &str,
    multi: MultiToken,
    leading_space: bool,
) -> Result<BoundVerbalizer, String> {
    let tok = PlmTokenizer::load(&fixture(dir), family).unwrap();
    let v = Verbalizer::from_json(json).unwrap().with_multi_token(multi);
    BoundVerbalizer::bind(&v, &tok, if leading_space { " " } else { "" }).map_err(|e| e.to_string())
}

#[test]
fn colliding_label_words_are_refused() {
    // (family, fixture, verbalizer, multi-token, leading space, expected error fragments)
    type Case<'a> = (Family, &'a str, &'a str, MultiToken, bool, &'a [&'a str]);
    let cases: &[Case] = &[
        // Uncased WordPiece: GOOD is good.
        (
            Family::Bert,
            "bert",
            r#"{"positive": ["good"], "negative": ["GOOD"]}"#,
            MultiToken::First,
            false,
            &[
                "\"good\" (positive) and \"GOOD\" (negative) are the same token `good`",
                "choose different words",
            ],
        ),
        // Byte-level BPE after a space: great and " great" are both Ġgreat.
        (
            Family::Roberta,
            "roberta",
            r#"{"positive": ["great"], "negative": [" great"]}"#,
            MultiToken::First,
            true,
            &["\"great\" (positive) and \" great\" (negative) are the same token `Ġgreat`"],
        ),
        // Without a space, great and good split into letters that start with the same `g`: only
        // the first token is scored.
        (
            Family::Roberta,
            "roberta",
            r#"{"positive": ["great"], "negative": ["good"]}"#,
            MultiToken::First,
            false,
            &["scored by the same token `g`", "score several tokens by their mean"],
        ),
    ];
    for (family, dir, json, multi, space, fragments) in cases {
        let msg = bind(*family, dir, json, *multi, *space).unwrap_err();
        for f in *fragments {
            assert!(msg.contains(f), "{json}: expected {f:?} in {msg}");
        }
    }
}

#[test]
fn partial_and_same_class_overlaps_are_warnings() {
    // Scored by the mean, great and good share `g` but differ in their other letters.
    let b = bind(
        Family::Roberta,
        "roberta",
        r#"{"positive": ["great"], "negative": ["good"]}"#,
        MultiToken::Mean,
        false,
    )
    .unwrap();
    assert!(b.warnings.iter().any(|w| w.contains("share the token `g`")), "{:?}", b.warnings);
    // good and Good of one class on an uncased model: one token counted twice.
    let b = bind(
        Family::Bert,
        "bert",
        r#"{"positive": ["good", "Good"], "negative": ["bad"]}"#,
        MultiToken::First,
        false,
    )
    .unwrap();
    assert!(b.warnings.iter().any(|w| w.contains("counts twice")), "{:?}", b.warnings);
    // Distinct words: no warning.
    let b = bind(
        Family::Bert,
        "bert",
        r#"{"positive": ["good"], "negative": ["bad"]}"#,
        MultiToken::First,
        false,
    )
    .unwrap();
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
}

#[test]
fn ties_go_to_the_first_class() {
    let cases: &[(&[f32], usize)] =
        &[(&[0.5, 0.5], 0), (&[0.2, 0.4, 0.4], 1), (&[0.1, 0.9], 1), (&[0.3, 0.3, 0.3], 0)];
    for (scores, want) in cases {
        assert_eq!(argmax(scores), *want, "{scores:?}");
    }
}

/// A copy of a fixture with every word embedding set to `value` (finite, but large enough to
/// overflow the layer norm's sums).
fn overflowing_copy(dir: &Path, value: f32) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, out.path().join(path.file_name().unwrap())).unwrap();
    }
    let path = out.path().join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let name = "bert.embeddings.word_embeddings.weight";
    let t = &tensors[name];
    let big = Tensor::full(value, t.shape(), &Device::Cpu).unwrap();
    tensors.insert(name.to_string(), big);
    candle_core::safetensors::save(&tensors, &path).unwrap();
    out
}

#[test]
fn nan_weights_never_give_a_prediction() {
    let dir = overflowing_copy(&fixture("bert"), 3.0e38);
    let plm = Plm::load(dir.path(), &Device::Cpu).unwrap();
    let template = Template::parse("{text_a} It was {mask}.").unwrap();
    let v = Verbalizer::from_json(r#"{"negative": ["bad"], "positive": ["good"]}"#).unwrap();
    let c = Classifier::new(&plm, template, &v, ClassifyOptions::default()).unwrap();
    let rows = [[("text_a", "a fine film")]; 3];
    let msg = c.classify(&rows, &mut |_, _| true).unwrap_err().to_string();
    assert!(
        msg.contains("the model produced NaN for row") && msg.contains("re-download or re-export it"),
        "{msg}"
    );
}
