//! The registry of model families: which `model_type`s and architectures name each family, its
//! [`Kind`], its tokenizer's special tokens, and the function that builds its [`Network`] from a
//! checkpoint. The loader ([`super::Plm::load`]), the Hub's "supported" flag
//! ([`support`]) and `save_pretrained` (through [`Network::checkpoint_tensors`]) all read this one
//! table, so a family is added here and nowhere else.

use std::path::Path;

use candle_core::Device;

use super::network::{Kind, Network};
use crate::error::{Error, Result};

/// The model families the engine can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    Bert,
    Roberta,
    XlmRoberta,
    DistilBert,
    Gpt2,
    /// The Llama architecture: Llama 2/3, SmolLM/SmolLM2, Mistral, Qwen2/Qwen2.5 (biases on the
    /// query/key/value projections).
    Llama,
    /// T5 v1.0 and v1.1 / Flan-T5, and mT5 (the v1.1 layout).
    T5,
    Bart,
    /// ALBERT: factorised embeddings, layers sharing parameters.
    Albert,
    /// Gemma 3's text model (`gemma3_text`, or a `gemma3` config's `text_config`).
    Gemma3,
}

/// What a family's loader is given: config.json (already parsed), where it came from, and the
/// checkpoint's tensors (read only after the config has been checked).
pub struct LoadContext<'a> {
    pub config: &'a serde_json::Value,
    pub config_path: &'a Path,
    pub weights_path: &'a Path,
    pub device: &'a Device,
}

/// Reads the checkpoint's tensors (by checkpoint name) when the loader asks for them.
pub type ReadTensors<'a> = &'a mut dyn FnMut() -> Result<super::weights::Checkpoint>;

/// Builds a family's network: checks the config first, then reads the tensors.
pub type LoadFn = fn(&LoadContext, ReadTensors) -> Result<Box<dyn Network>>;

/// One family's entry in the registry.
pub struct FamilySpec {
    pub family: Family,
    /// The name shown to users and written in run configs (`bert`, `gpt2`, `llama`, …).
    pub name: &'static str,
    pub kind: Kind,
    /// config.json `model_type` values of this family.
    pub model_types: &'static [&'static str],
    /// Prefixes of config.json `architectures` entries (used when `model_type` is missing).
    pub architectures: &'static [&'static str],
    /// Default (mask, pad, cls, sep, unk) tokens when the tokenizer config names none; decoders
    /// have no mask token (the engine adds its own placeholder, never given to the network).
    pub special_tokens: [Option<&'static str>; 5],
    /// The self-supervised objective the family was pretrained with, which prompted continued
    /// pretraining continues.
    pub pretraining: Pretraining,
    pub load: LoadFn,
}

/// A family's own pretraining objective: what `tune --strategy pretrain` trains a model of it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "kebab-case")]
pub enum Pretraining {
    /// BERT's masked LM (Devlin et al., 2019): 15% of the tokens are masked and predicted.
    MaskedLm,
    /// Next-token prediction over the whole text (Radford et al., 2019).
    CausalLm,
    /// T5's span corruption (Raffel et al., 2020): spans become sentinels, the decoder writes them.
    SpanCorruption,
    /// BART's text infilling (Lewis et al., 2020): spans become one `<mask>` each, the decoder
    /// writes the original text.
    Denoising,
}

impl Pretraining {
    /// The objective's name as the CLI and the app show it.
    pub fn name(self) -> &'static str {
        match self {
            Pretraining::MaskedLm => "masked LM",
            Pretraining::CausalLm => "causal LM",
            Pretraining::SpanCorruption => "span corruption",
            Pretraining::Denoising => "denoising",
        }
    }
}

const BERT_TOKENS: [Option<&str>; 5] =
    [Some("[MASK]"), Some("[PAD]"), Some("[CLS]"), Some("[SEP]"), Some("[UNK]")];
const ROBERTA_TOKENS: [Option<&str>; 5] =
    [Some("<mask>"), Some("<pad>"), Some("<s>"), Some("</s>"), Some("<unk>")];

/// Every family, in the order they are tried.
pub static FAMILIES: &[FamilySpec] = &[
    FamilySpec {
        family: Family::Bert,
        name: "bert",
        kind: Kind::Encoder,
        model_types: &["bert"],
        architectures: &["Bert"],
        special_tokens: BERT_TOKENS,
        pretraining: Pretraining::MaskedLm,
        load: super::bert::load_bert,
    },
    FamilySpec {
        family: Family::XlmRoberta,
        name: "xlm-roberta",
        kind: Kind::Encoder,
        model_types: &["xlm-roberta"],
        architectures: &["XLMRoberta"],
        special_tokens: ROBERTA_TOKENS,
        pretraining: Pretraining::MaskedLm,
        load: super::bert::load_roberta,
    },
    FamilySpec {
        family: Family::Roberta,
        name: "roberta",
        kind: Kind::Encoder,
        model_types: &["roberta"],
        architectures: &["Roberta"],
        special_tokens: ROBERTA_TOKENS,
        pretraining: Pretraining::MaskedLm,
        load: super::bert::load_roberta,
    },
    FamilySpec {
        family: Family::DistilBert,
        name: "distilbert",
        kind: Kind::Encoder,
        model_types: &["distilbert"],
        architectures: &["DistilBert"],
        special_tokens: BERT_TOKENS,
        pretraining: Pretraining::MaskedLm,
        load: super::distilbert::load,
    },
    FamilySpec {
        family: Family::Albert,
        name: "albert",
        kind: Kind::Encoder,
        model_types: &["albert"],
        architectures: &["Albert"],
        special_tokens: [Some("[MASK]"), Some("<pad>"), Some("[CLS]"), Some("[SEP]"), Some("<unk>")],
        pretraining: Pretraining::MaskedLm,
        load: super::albert::load,
    },
    FamilySpec {
        family: Family::Gpt2,
        name: "gpt2",
        kind: Kind::Decoder,
        model_types: &["gpt2"],
        architectures: &["GPT2"],
        special_tokens: [None, Some("<|endoftext|>"), None, None, Some("<|endoftext|>")],
        pretraining: Pretraining::CausalLm,
        load: super::gpt2::load,
    },
    FamilySpec {
        family: Family::Llama,
        name: "llama",
        kind: Kind::Decoder,
        model_types: &["llama", "mistral", "qwen2"],
        architectures: &["Llama", "Mistral", "Qwen2"],
        special_tokens: [None, None, None, None, None],
        pretraining: Pretraining::CausalLm,
        load: super::llama::load,
    },
    FamilySpec {
        family: Family::T5,
        name: "t5",
        kind: Kind::EncoderDecoder,
        model_types: &["t5", "mt5"],
        architectures: &["T5", "MT5"],
        special_tokens: [Some("<extra_id_0>"), Some("<pad>"), None, Some("</s>"), Some("<unk>")],
        pretraining: Pretraining::SpanCorruption,
        load: super::t5::load,
    },
    FamilySpec {
        family: Family::Bart,
        name: "bart",
        kind: Kind::EncoderDecoder,
        model_types: &["bart"],
        architectures: &["Bart"],
        special_tokens: ROBERTA_TOKENS,
        pretraining: Pretraining::Denoising,
        load: super::bart::load,
    },
    FamilySpec {
        family: Family::Gemma3,
        name: "gemma3",
        kind: Kind::Decoder,
        model_types: &["gemma3_text", "gemma3"],
        architectures: &["Gemma3"],
        special_tokens: [None, Some("<pad>"), None, None, Some("<unk>")],
        pretraining: Pretraining::CausalLm,
        load: super::gemma3::load,
    },
];

impl Family {
    /// The registry entry of this family.
    pub fn spec(self) -> &'static FamilySpec {
        FAMILIES.iter().find(|s| s.family == self).expect("every family is in the registry")
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    pub fn kind(self) -> Kind {
        self.spec().kind
    }

    /// The family's own pretraining objective.
    pub fn pretraining(self) -> Pretraining {
        self.spec().pretraining
    }

    /// Reads the family from config.json's `model_type`, falling back to `architectures`.
    pub fn from_config(config: &serde_json::Value, path: &Path) -> Result<Self> {
        let model_type = config["model_type"].as_str().unwrap_or("");
        let arch = config["architectures"][0].as_str().unwrap_or("");
        Self::from_names(Some(model_type), Some(arch)).map_err(|message| Error::Model {
            path: path.to_path_buf(),
            message,
            source: None,
        })
    }

    /// The family a `model_type` (or, failing that, an architecture name) belongs to, or why none.
    pub fn from_names(model_type: Option<&str>, arch: Option<&str>) -> std::result::Result<Self, String> {
        let mt = model_type.unwrap_or("");
        if let Some(s) = FAMILIES.iter().find(|s| s.model_types.contains(&mt)) {
            return Ok(s.family);
        }
        let a = arch.unwrap_or("");
        if !a.is_empty()
            && let Some(s) = FAMILIES.iter().find(|s| s.architectures.iter().any(|p| a.starts_with(p)))
        {
            return Ok(s.family);
        }
        Err(format!(
            "model_type {mt:?} (architectures {a:?}) is not supported; supported model types: {}",
            supported_model_types()
        ))
    }
}

/// Every supported `model_type`, comma-separated, for messages.
pub fn supported_model_types() -> String {
    FAMILIES.iter().flat_map(|s| s.model_types.iter().copied()).collect::<Vec<_>>().join(", ")
}

/// Whether the engine runs a model with this `model_type` (the Hub's "supported" flag).
pub fn support(model_type: Option<&str>) -> std::result::Result<Family, String> {
    match model_type {
        None => Err("the model card names no model_type; it may still load if its config.json does".into()),
        Some(mt) => Family::from_names(Some(mt), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_from_config() {
        let cases = [
            (r#"{"model_type":"bert"}"#, Some(Family::Bert)),
            (r#"{"model_type":"roberta"}"#, Some(Family::Roberta)),
            (r#"{"model_type":"xlm-roberta"}"#, Some(Family::XlmRoberta)),
            (r#"{"model_type":"distilbert"}"#, Some(Family::DistilBert)),
            (r#"{"architectures":["RobertaForMaskedLM"]}"#, Some(Family::Roberta)),
            (r#"{"architectures":["XLMRobertaForMaskedLM"]}"#, Some(Family::XlmRoberta)),
            (r#"{"model_type":"gpt2"}"#, Some(Family::Gpt2)),
            (r#"{"model_type":"qwen2"}"#, Some(Family::Llama)),
            (r#"{"model_type":"mistral"}"#, Some(Family::Llama)),
            (r#"{"architectures":["LlamaForCausalLM"]}"#, Some(Family::Llama)),
            (r#"{"model_type":"t5"}"#, Some(Family::T5)),
            (r#"{"model_type":"mt5"}"#, Some(Family::T5)),
            (r#"{"architectures":["T5ForConditionalGeneration"]}"#, Some(Family::T5)),
            (r#"{"model_type":"bart"}"#, Some(Family::Bart)),
            (r#"{"architectures":["BartForConditionalGeneration"]}"#, Some(Family::Bart)),
            (r#"{"model_type":"albert"}"#, Some(Family::Albert)),
            (r#"{"architectures":["AlbertForMaskedLM"]}"#, Some(Family::Albert)),
            (r#"{"model_type":"gemma3_text"}"#, Some(Family::Gemma3)),
            (r#"{"model_type":"gemma3"}"#, Some(Family::Gemma3)),
            (r#"{"architectures":["Gemma3ForCausalLM"]}"#, Some(Family::Gemma3)),
            (r#"{"model_type":"mamba"}"#, None),
        ];
        for (json, expected) in cases {
            let v: serde_json::Value = serde_json::from_str(json).unwrap();
            let got = Family::from_config(&v, Path::new("config.json"));
            match expected {
                Some(f) => assert_eq!(got.unwrap(), f, "{json}"),
                None => {
                    let msg = got.unwrap_err().to_string();
                    assert!(
                        msg.contains("\"mamba\"") && msg.contains("supported model types: bert"),
                        "{msg}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_family_is_registered_once() {
        for s in FAMILIES {
            assert_eq!(FAMILIES.iter().filter(|t| t.family == s.family).count(), 1, "{}", s.name);
            assert_eq!(s.family.spec().name, s.name);
        }
    }

    #[test]
    fn every_family_pretrains_with_an_objective_of_its_kind() {
        let cases = [
            (Family::Bert, Pretraining::MaskedLm),
            (Family::Roberta, Pretraining::MaskedLm),
            (Family::XlmRoberta, Pretraining::MaskedLm),
            (Family::DistilBert, Pretraining::MaskedLm),
            (Family::Albert, Pretraining::MaskedLm),
            (Family::Gpt2, Pretraining::CausalLm),
            (Family::Llama, Pretraining::CausalLm),
            (Family::Gemma3, Pretraining::CausalLm),
            (Family::T5, Pretraining::SpanCorruption),
            (Family::Bart, Pretraining::Denoising),
        ];
        assert_eq!(cases.len(), FAMILIES.len(), "a family without a case");
        for (family, objective) in cases {
            assert_eq!(family.pretraining(), objective, "{}", family.name());
            let kind = match objective {
                Pretraining::MaskedLm => Kind::Encoder,
                Pretraining::CausalLm => Kind::Decoder,
                Pretraining::SpanCorruption | Pretraining::Denoising => Kind::EncoderDecoder,
            };
            assert_eq!(
                family.kind(),
                kind,
                "{}: the objective reads the model as its kind does",
                family.name()
            );
        }
    }
}
