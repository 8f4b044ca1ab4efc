//! The options that take one of a fixed set of values: clap `ValueEnum`s (so `--help` lists the
//! values and a wrong one is a usage error, exit code 2), each mapped to the engine's enum. Options
//! whose values are open-ended (`--device cuda:N`, `--format delimited:;`, `--strategy random:SEED`)
//! are parsed into the engine's type by [`engine`] when the command line is read.

use clap::ValueEnum;

/// Parses an option value with the engine's `FromStr`, for clap's `value_parser`: a bad value is a
/// usage error that quotes the engine's message.
pub fn engine<T>(s: &str) -> Result<T, String>
where
    T: std::str::FromStr<Err = cloze::Error>,
{
    s.parse().map_err(|e: cloze::Error| e.to_string())
}

/// One `ValueEnum` and its mapping to the engine's type.
macro_rules! choice {
    ($(#[$meta:meta])* $name:ident => $engine:ty {
        $($(#[$vmeta:meta])* $variant:ident => $value:expr),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl From<$name> for $engine {
            fn from(choice: $name) -> Self {
                match choice {
                    $($name::$variant => $value),+
                }
            }
        }
    };
}

choice!(
    /// How a label word of several tokens is scored.
    MultiToken => cloze::verbalizer::MultiToken {
        Auto => cloze::verbalizer::MultiToken::Auto,
        First => cloze::verbalizer::MultiToken::First,
        Mean => cloze::verbalizer::MultiToken::Mean,
        Max => cloze::verbalizer::MultiToken::Max,
        Sum => cloze::verbalizer::MultiToken::Sum,
    }
);

choice!(
    /// How a class's score is made from its label words.
    Aggregate => cloze::verbalizer::Aggregate {
        MeanProb => cloze::verbalizer::Aggregate::MeanProb,
        MeanLogProb => cloze::verbalizer::Aggregate::MeanLogProb,
        Max => cloze::verbalizer::Aggregate::Max,
    }
);

choice!(
    /// How an ensemble weights its members.
    Weighting => cloze::ensemble::Weighting {
        Uniform => cloze::ensemble::Weighting::Uniform,
        DevAccuracy => cloze::ensemble::Weighting::DevAccuracy,
        Learned => cloze::ensemble::Weighting::Learned,
    }
);

choice!(
    /// How demonstrations are picked.
    DemoSelect => cloze::demo::DemoSelection {
        Random => cloze::demo::DemoSelection::Random,
        Similar => cloze::demo::DemoSelection::Similar,
    }
);

choice!(
    /// A data file's text encoding.
    Encoding => cloze::data::Encoding {
        #[value(name = "utf-8", alias = "utf8")]
        Utf8 => cloze::data::Encoding::Utf8,
        #[value(name = "latin-1", alias = "latin1")]
        Latin1 => cloze::data::Encoding::Latin1,
        #[value(name = "utf-16le", alias = "utf16le")]
        Utf16Le => cloze::data::Encoding::Utf16Le,
        #[value(name = "utf-16be", alias = "utf16be")]
        Utf16Be => cloze::data::Encoding::Utf16Be,
        #[value(name = "utf-32le", alias = "utf32le")]
        Utf32Le => cloze::data::Encoding::Utf32Le,
        #[value(name = "utf-32be", alias = "utf32be")]
        Utf32Be => cloze::data::Encoding::Utf32Be,
    }
);

choice!(
    /// CSV-style quoting on or off.
    Quoting => bool {
        On => true,
        Off => false,
    }
);

choice!(
    /// How `cloze tune` trains.
    TuneStrategy => cloze::tune::TuneStrategy {
        SoftPrompt => cloze::tune::TuneStrategy::SoftPrompt,
        Finetune => cloze::tune::TuneStrategy::Finetune,
        Pretrain => cloze::tune::TuneStrategy::Pretrain,
        Probe => cloze::tune::TuneStrategy::Probe,
        Contrastive => cloze::tune::TuneStrategy::Contrastive,
    }
);

/// `cloze tune --strategy`: a strategy, or `auto` to let the model, the rows and the template
/// decide ([`cloze::tune::auto`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StrategyArg {
    Auto,
    SoftPrompt,
    Finetune,
    Pretrain,
    Probe,
    Contrastive,
}

impl StrategyArg {
    /// The strategy asked for; `None` for `auto`.
    pub fn fixed(self) -> Option<cloze::tune::TuneStrategy> {
        use cloze::tune::TuneStrategy as S;
        match self {
            StrategyArg::Auto => None,
            StrategyArg::SoftPrompt => Some(S::SoftPrompt),
            StrategyArg::Finetune => Some(S::Finetune),
            StrategyArg::Pretrain => Some(S::Pretrain),
            StrategyArg::Probe => Some(S::Probe),
            StrategyArg::Contrastive => Some(S::Contrastive),
        }
    }
}

choice!(
    /// How `cloze tune --strategy contrastive` draws its pairs (SetFit's sampling strategies).
    PairSampling => cloze::tune::PairSampling {
        /// As many positive as negative pairs, the rarer kind repeated (SetFit's default).
        Oversampling => cloze::tune::PairSampling::Oversampling,
        /// As many of each kind as the rarer kind has.
        Undersampling => cloze::tune::PairSampling::Undersampling,
        /// Every unique pair once.
        Unique => cloze::tune::PairSampling::Unique,
    }
);

choice!(
    /// The classifier `cloze tune --strategy contrastive` fits on the tuned embeddings.
    ContrastiveHead => cloze::tune::ContrastiveHead {
        /// scikit-learn's LogisticRegression() as SetFit fits it (C = 1).
        Sklearn => cloze::tune::ContrastiveHead::Sklearn,
        /// The L2 penalty chosen by cross-validation on the training rows.
        CrossValidated => cloze::tune::ContrastiveHead::CrossValidated,
    }
);

choice!(
    /// Where class scores come from when tuning.
    VerbalizerKind => cloze::tune::VerbalizerKind {
        Manual => cloze::tune::VerbalizerKind::Manual,
        Soft => cloze::tune::VerbalizerKind::Soft,
    }
);

choice!(
    /// How a soft verbalizer's projection starts.
    HeadInit => cloze::tune::HeadInit {
        /// label-words on a model with an LM head, probe on one without.
        Auto => cloze::tune::HeadInit::Auto,
        /// The mean of the label words' rows.
        LabelWords => cloze::tune::HeadInit::LabelWords,
        /// A logistic regression on the frozen states at the mask (LP-FT).
        Probe => cloze::tune::HeadInit::Probe,
    }
);

choice!(
    /// How `{soft:N}` vectors start.
    SoftInit => cloze::tune::SoftInit {
        Vocab => cloze::tune::SoftInit::Vocab,
        Random => cloze::tune::SoftInit::Random,
    }
);

choice!(
    /// Where the template's leading `{soft:N}` vectors stand.
    SoftPlacement => cloze::tune::SoftPlacement {
        /// Where the template puts them (after the model's `<s>`, `[CLS]` or BOS).
        InTemplate => cloze::tune::SoftPlacement::InTemplate,
        /// Before every token, as PEFT's prompt tuning puts them (the run exports as a PEFT adapter).
        BeforeInput => cloze::tune::SoftPlacement::BeforeInput,
    }
);

choice!(
    /// The form of an exported prompt.
    PromptFormat => crate::export_cmd::PromptFormat {
        /// A folder with a manifest, the run's files and tensors (`cloze classify --prompt DIR`).
        Bundle => crate::export_cmd::PromptFormat::Bundle,
        /// A PEFT prompt-tuning adapter (adapter_config.json, adapter_model.safetensors).
        Peft => crate::export_cmd::PromptFormat::Peft,
        /// OpenPrompt's template.txt and label_words.json.
        Openprompt => crate::export_cmd::PromptFormat::OpenPrompt,
    }
);

choice!(
    /// How the probe pools a row's token vectors.
    Pooling => cloze::tune::Pooling {
        Mean => cloze::tune::Pooling::Mean,
        Cls => cloze::tune::Pooling::Cls,
    }
);

choice!(
    /// Where a multi-label run's per-label thresholds come from.
    ThresholdRule => cloze::tune::ThresholdRule {
        FitOnDev => cloze::tune::ThresholdRule::FitOnDev,
        Half => cloze::tune::ThresholdRule::Half,
    }
);

choice!(
    /// The probe's classifier.
    ProbeHead => cloze::tune::ProbeHead {
        Logistic => cloze::tune::ProbeHead::Logistic,
        Mlp => cloze::tune::ProbeHead::Mlp,
    }
);

choice!(
    /// The file format of a label export.
    ExportFormat => cloze::export::ExportFormat {
        Csv => cloze::export::ExportFormat::Csv,
        Jsonl => cloze::export::ExportFormat::Jsonl,
        HfJsonl => cloze::export::ExportFormat::HfJsonl,
    }
);

choice!(
    /// The split imported rows belong to.
    Split => cloze::store::Split {
        Train => cloze::store::Split::Train,
        Dev => cloze::store::Split::Dev,
        Test => cloze::store::Split::Test,
        Unlabelled => cloze::store::Split::Unlabelled,
    }
);

choice!(
    /// The order of Hub search results (the Hub's own sort keys).
    HubSort => String {
        Downloads => "downloads".into(),
        Likes => "likes".into(),
        #[value(name = "lastModified", alias = "last-modified")]
        LastModified => "lastModified".into(),
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_parses_to_its_engine_value() {
        for v in MultiToken::value_variants() {
            let name = v.to_possible_value().unwrap().get_name().to_string();
            let engine: cloze::verbalizer::MultiToken = (*v).into();
            assert_eq!(name.parse::<cloze::verbalizer::MultiToken>().unwrap(), engine, "{name}");
        }
        for v in Aggregate::value_variants() {
            let name = v.to_possible_value().unwrap().get_name().to_string();
            let engine: cloze::verbalizer::Aggregate = (*v).into();
            assert_eq!(name.parse::<cloze::verbalizer::Aggregate>().unwrap(), engine, "{name}");
        }
        for v in Encoding::value_variants() {
            let name = v.to_possible_value().unwrap().get_name().to_string();
            let engine: cloze::data::Encoding = (*v).into();
            assert_eq!(name.parse::<cloze::data::Encoding>().unwrap(), engine, "{name}");
        }
        for v in TuneStrategy::value_variants() {
            let name = v.to_possible_value().unwrap().get_name().to_string();
            let engine: cloze::tune::TuneStrategy = (*v).into();
            assert_eq!(name.parse::<cloze::tune::TuneStrategy>().unwrap(), engine, "{name}");
        }
        for v in Split::value_variants() {
            let name = v.to_possible_value().unwrap().get_name().to_string();
            let engine: cloze::store::Split = (*v).into();
            assert_eq!(name.parse::<cloze::store::Split>().unwrap(), engine, "{name}");
        }
        for v in ExportFormat::value_variants() {
            let name = v.to_possible_value().unwrap().get_name().to_string();
            let engine: cloze::export::ExportFormat = (*v).into();
            assert_eq!(name.parse::<cloze::export::ExportFormat>().unwrap(), engine, "{name}");
        }
    }

    #[test]
    fn open_ended_values_use_the_engine_parser() {
        assert_eq!(engine::<cloze::plm::DeviceChoice>("cpu").unwrap(), cloze::plm::DeviceChoice::Cpu);
        let bad = engine::<cloze::plm::DeviceChoice>("tpu").unwrap_err();
        assert!(bad.contains("use cpu, cuda, cuda:N or metal"), "{bad}");
    }
}
