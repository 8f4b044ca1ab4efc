//! Verbalizers: from the model's logits at the mask to class probabilities.
//!
//! A manual verbalizer names one or more label words per class (`positive → great, good`). The
//! words are tokenized as the model sees them at the mask — with a leading space for tokenizers
//! where that matters (RoBERTa's `Ġgreat`) — and a word that splits into several tokens is scored
//! as OpenPrompt does, by [`MultiToken`]. Scoring follows OpenPrompt's `ManualVerbalizer`:
//! softmax over all label words, optional contextual calibration (divide by the probabilities
//! a content-free input gets, Zhao et al. 2021, <https://arxiv.org/abs/2102.09690>), aggregate per
//! class by [`Aggregate`], then softmax over classes.
//!
//! Reference: <https://github.com/thunlp/OpenPrompt/blob/main/openprompt/prompts/manual_verbalizer.py>
//!
//! Beside it: [`calibrate`] (contextual calibration against content-free inputs), [`soft`] (a
//! trained projection initialised from the label words, for tuning) and [`search`] (label words
//! found automatically from labelled rows).

pub mod calibrate;
mod manual;
pub mod search;
pub mod soft;

pub use calibrate::Calibration;
pub use manual::{BoundVerbalizer, WordTokens, argmax};
pub use soft::SoftVerbalizer;

use crate::error::{Error, Result};

/// How a label word that tokenizes into several tokens is scored. A masked LM reads every token
/// of the word at the one mask position; a decoder or an encoder–decoder reads the word exactly,
/// token after token (teacher forcing), continued by the template's text after `{mask}` — except
/// with `First`, which reads only the first token where the word starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum MultiToken {
    /// The model's natural rule: `First` on a masked LM (OpenPrompt's default), `Sum` — the word's
    /// exact log-probability — on a decoder or an encoder–decoder.
    #[default]
    Auto,
    /// The logit of the word's first token.
    First,
    /// The mean of its tokens' scores (decoders: of their log-probabilities, for words of very
    /// different lengths).
    Mean,
    /// The largest of its tokens' scores.
    Max,
    /// The sum of its tokens' scores (decoders: the word's log-probability, plus the text after
    /// `{mask}`).
    Sum,
}

impl MultiToken {
    /// `Auto` made concrete for a model of `kind`; other choices are kept.
    pub fn resolve(self, kind: crate::plm::Kind) -> MultiToken {
        match (self, kind) {
            (MultiToken::Auto, crate::plm::Kind::Encoder) => MultiToken::First,
            (MultiToken::Auto, _) => MultiToken::Sum,
            (m, _) => m,
        }
    }

    /// Whether the word is read token after token as a continuation: always on an
    /// encoder–decoder (its decoder gives the answer), on a decoder with any rule but `First`.
    pub fn reads_sequence(self, kind: crate::plm::Kind) -> bool {
        kind == crate::plm::Kind::EncoderDecoder
            || (kind == crate::plm::Kind::Decoder && self.resolve(kind) != MultiToken::First)
    }
}

/// How a class's score is formed from its words' probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "kebab-case")]
pub enum Aggregate {
    /// log of the mean probability of the class's words.
    #[default]
    MeanProb,
    /// mean of the log-probabilities (OpenPrompt's `ManualVerbalizer` default).
    MeanLogProb,
    /// log of the largest word probability.
    Max,
}

impl std::str::FromStr for MultiToken {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(MultiToken::Auto),
            "first" => Ok(MultiToken::First),
            "mean" => Ok(MultiToken::Mean),
            "max" => Ok(MultiToken::Max),
            "sum" => Ok(MultiToken::Sum),
            _ => Err(Error::invalid(format!(
                "multi-token strategy {s:?} is unknown; use auto, first, mean, max or sum"
            ))),
        }
    }
}

impl std::str::FromStr for Aggregate {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mean-prob" | "mean" => Ok(Aggregate::MeanProb),
            "mean-log-prob" => Ok(Aggregate::MeanLogProb),
            "max" => Ok(Aggregate::Max),
            _ => Err(Error::invalid(format!(
                "aggregate {s:?} is unknown; use mean-prob, mean-log-prob or max"
            ))),
        }
    }
}

/// One class and its label words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename = "VerbalizerClass")]
pub struct Class {
    pub name: String,
    pub words: Vec<String>,
}

/// A manual verbalizer: classes in order, each with label words.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename = "VerbalizerSpec")]
pub struct Verbalizer {
    pub classes: Vec<Class>,
    pub multi_token: MultiToken,
    pub aggregate: Aggregate,
}

fn verr(message: impl Into<String>) -> Error {
    Error::Verbalizer { message: message.into() }
}

impl Verbalizer {
    /// Builds a verbalizer, checking that every class has a word and no word is used twice.
    pub fn new(classes: Vec<Class>) -> Result<Self> {
        if classes.len() < 2 {
            return Err(verr(format!(
                "{} class given; a classifier needs at least two, e.g. {{\"negative\": [\"terrible\"], \
                 \"positive\": [\"great\"]}}",
                classes.len()
            )));
        }
        let mut seen = std::collections::HashMap::new();
        for c in &classes {
            if c.words.is_empty() {
                return Err(verr(format!("class {:?} has no label words; give it at least one", c.name)));
            }
            for w in &c.words {
                if w.trim().is_empty() {
                    return Err(verr(format!("class {:?} has an empty label word", c.name)));
                }
                if let Some(other) = seen.insert(w.clone(), c.name.clone()) {
                    return Err(verr(format!(
                        "the word {w:?} is a label word of both {other:?} and {:?}; each word may name one class",
                        c.name
                    )));
                }
            }
        }
        Ok(Self { classes, multi_token: MultiToken::default(), aggregate: Aggregate::default() })
    }

    /// Parses JSON: an object `{"class": ["word", ...] | "word"}` (classes in the order written), or
    /// an array whose items are a word or a list of words (classes named "0", "1", ...).
    pub fn from_json(text: &str) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            verr(format!(
                "not valid JSON ({e}); write e.g. {{\"negative\": [\"terrible\"], \"positive\": [\"great\"]}}"
            ))
        })?;
        let words_of = |class: &str, v: &serde_json::Value| -> Result<Vec<String>> {
            match v {
                serde_json::Value::String(s) => Ok(vec![s.clone()]),
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|w| {
                        w.as_str().map(String::from).ok_or_else(|| {
                            verr(format!("class {class:?}: label words must be strings, found {w}"))
                        })
                    })
                    .collect(),
                other => {
                    Err(verr(format!("class {class:?}: expected a word or a list of words, found {other}")))
                }
            }
        };
        let classes = match &value {
            serde_json::Value::Object(map) => map
                .iter()
                .map(|(k, v)| Ok(Class { name: k.clone(), words: words_of(k, v)? }))
                .collect::<Result<Vec<_>>>()?,
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| Ok(Class { name: i.to_string(), words: words_of(&i.to_string(), v)? }))
                .collect::<Result<Vec<_>>>()?,
            _ => return Err(verr("expected a JSON object of class → words, or an array of words")),
        };
        Self::new(classes)
    }

    /// Reads a verbalizer from a JSON file, or from `arg` itself when it is JSON text.
    pub fn from_file_or_json(arg: &str) -> Result<Self> {
        let trimmed = arg.trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            return Self::from_json(arg);
        }
        let text = crate::files::read_text_limited(std::path::Path::new(arg), 16 << 20, "a verbalizer file")?;
        Self::from_json(&text).map_err(|e| match e {
            Error::Verbalizer { message } => verr(format!("{arg}: {message}")),
            other => other,
        })
    }

    /// This verbalizer with its multi-token rule made concrete for a model of `kind`.
    pub fn for_kind(&self, kind: crate::plm::Kind) -> Self {
        let mut v = self.clone();
        v.multi_token = self.multi_token.resolve(kind);
        v
    }

    pub fn with_multi_token(mut self, m: MultiToken) -> Self {
        self.multi_token = m;
        self
    }

    pub fn with_aggregate(mut self, a: Aggregate) -> Self {
        self.aggregate = a;
        self
    }

    pub fn class_names(&self) -> Vec<&str> {
        self.classes.iter().map(|c| c.name.as_str()).collect()
    }
}

/// Numerically stable softmax of a slice.
pub fn softmax(xs: &[f32]) -> Vec<f32> {
    let max = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = xs.iter().map(|x| (x - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_json_form() {
        type Classes<'a> = &'a [(&'a str, &'a [&'a str])];
        let cases: &[(&str, Classes)] = &[
            (
                r#"{"negative": ["terrible"], "positive": ["great", "good"]}"#,
                &[("negative", &["terrible"]), ("positive", &["great", "good"])],
            ),
            (r#"{"pos": "great", "neg": "terrible"}"#, &[("pos", &["great"]), ("neg", &["terrible"])]),
            (r#"["terrible", ["great", "good"]]"#, &[("0", &["terrible"]), ("1", &["great", "good"])]),
        ];
        for (json, expected) in cases {
            let v = Verbalizer::from_json(json).unwrap();
            let got: Vec<(&str, Vec<&str>)> = v
                .classes
                .iter()
                .map(|c| (c.name.as_str(), c.words.iter().map(|w| w.as_str()).collect()))
                .collect();
            let want: Vec<(&str, Vec<&str>)> = expected.iter().map(|(n, w)| (*n, w.to_vec())).collect();
            assert_eq!(got, want, "{json}");
        }
    }

    #[test]
    fn errors_say_how_to_fix() {
        let cases = [
            (r#"{"a": ["x"]}"#, "at least two"),
            (r#"{"a": [], "b": ["y"]}"#, "class \"a\" has no label words"),
            (r#"{"a": ["x"], "b": ["x"]}"#, "label word of both \"a\" and \"b\""),
            (r#"{"a": [1], "b": ["y"]}"#, "must be strings"),
            ("{not json", "not valid JSON"),
            ("42", "expected a JSON object"),
        ];
        for (json, fragment) in cases {
            let msg = Verbalizer::from_json(json).unwrap_err().to_string();
            assert!(msg.contains(fragment), "{json}: {msg}");
        }
    }

    #[test]
    fn strategies_parse() {
        assert_eq!("mean".parse::<MultiToken>().unwrap(), MultiToken::Mean);
        assert_eq!("mean-log-prob".parse::<Aggregate>().unwrap(), Aggregate::MeanLogProb);
        assert!("median".parse::<MultiToken>().is_err());
    }

    #[test]
    fn softmax_is_stable() {
        let p = softmax(&[1000.0, 1000.0]);
        assert!((p[0] - 0.5).abs() < 1e-6 && (p[1] - 0.5).abs() < 1e-6);
    }
}
