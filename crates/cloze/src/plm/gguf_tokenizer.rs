//! A tokenizer built from a GGUF file's `tokenizer.ggml.*` metadata, for model files that come
//! without a tokenizer.json.
//!
//! - `tokenizer.ggml.model` "gpt2": byte-level BPE from the tokens and merges, split first by the
//!   pre-tokeniser `tokenizer.ggml.pre` names (llama.cpp's llama-vocab.cpp regexes: "default"/"gpt2",
//!   "smollm" and the StarCoder family, "llama-bpe"/Llama 3, "qwen2"); other pre-tokenisers are refused.
//! - "llama" (SentencePiece): BPE with byte fallback over the ▁ metaspace, as transformers builds
//!   Llama 2 tokenizers; merges from the file, or derived from the token scores as transformers does.
//!
//! Tokens marked control (`tokenizer.ggml.token_type` 3) become special added tokens, user-defined
//! ones (4) plain added tokens, so `<|im_start|>` stays one token. BOS (and EOS) are added by a
//! post-processor when `tokenizer.ggml.add_bos_token` (`add_eos_token`) says so; a SentencePiece
//! vocabulary that does not say adds BOS, as llama.cpp does.

use std::collections::HashSet;

use candle_core::quantized::gguf_file::Value;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::normalizers::{NFC, Replace};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{
    AddedToken, DecoderWrapper, PostProcessorWrapper, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer,
};

use super::gguf::GgufModel;
use crate::error::{Error, Result};

/// llama.cpp's LLAMA3 pre-tokeniser (llama-vocab.cpp), also used by SmaugBPE, DBRX, Falcon 3.
const LLAMA3_SPLIT: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// llama.cpp's QWEN2 pre-tokeniser: as Llama 3's, but digits one by one.
const QWEN2_SPLIT: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The `tokenizer.ggml.pre` values read, by the split they use.
const GPT2_PRES: [&str; 2] = ["default", "gpt2"];
const DIGIT_PRES: [&str; 7] =
    ["smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva"];
const LLAMA3_PRES: [&str; 6] = ["llama-bpe", "llama3", "llama-v3", "smaug-bpe", "dbrx", "falcon3"];
const QWEN2_PRES: [&str; 2] = ["qwen2", "deepseek-r1-qwen"];

/// What `tokenizer.ggml.token_type` calls a control token, a user-defined one and an unknown one.
const CONTROL: i64 = 3;
const USER_DEFINED: i64 = 4;
const UNKNOWN: i64 = 2;

struct Keys<'a> {
    model: &'a GgufModel,
}

impl Keys<'_> {
    fn err(&self, message: String) -> Error {
        Error::Model {
            path: self.model.path.clone(),
            message: format!(
                "cannot build the tokenizer from the file's metadata: {message}. Put the model's tokenizer.json \
                 (from the original model's Hub page) beside the .gguf file"
            ),
            source: None,
        }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.model.metadata().get(key)
    }

    fn string(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(format!("`{key}` is not a string"))),
        }
    }

    fn strings(&self, key: &str) -> Result<Option<Vec<&str>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.as_str()),
                    _ => Err(self.err(format!("`{key}` holds something other than strings"))),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(_) => Err(self.err(format!("`{key}` is not a list of strings"))),
        }
    }

    fn numbers(&self, key: &str) -> Result<Option<Vec<f64>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::I32(x) => Ok(f64::from(*x)),
                    Value::U32(x) => Ok(f64::from(*x)),
                    Value::I8(x) => Ok(f64::from(*x)),
                    Value::U8(x) => Ok(f64::from(*x)),
                    Value::F32(x) => Ok(f64::from(*x)),
                    Value::F64(x) => Ok(*x),
                    _ => Err(self.err(format!("`{key}` holds something other than numbers"))),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(_) => Err(self.err(format!("`{key}` is not a list of numbers"))),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.err(format!("`{key}` is not true or false"))),
        }
    }

    /// A token id, which must name one of the `vocab` tokens.
    fn token_id(&self, key: &str, vocab: usize) -> Result<Option<u32>> {
        let id = match self.get(key) {
            None => return Ok(None),
            Some(Value::U32(x)) => i64::from(*x),
            Some(Value::I32(x)) => i64::from(*x),
            Some(Value::U64(x)) => i64::try_from(*x).unwrap_or(i64::MAX),
            Some(Value::I64(x)) => *x,
            Some(Value::U16(x)) => i64::from(*x),
            Some(Value::U8(x)) => i64::from(*x),
            Some(_) => return Err(self.err(format!("`{key}` is not a token id"))),
        };
        if id < 0 || id as u64 >= vocab as u64 {
            return Err(self.err(format!("`{key}` is {id}, not one of the {vocab} tokens")));
        }
        Ok(Some(id as u32))
    }
}

/// Builds the tokenizer a GGUF file's metadata describes.
pub fn tokenizer_from_gguf(model: &GgufModel) -> Result<Tokenizer> {
    let k = Keys { model };
    let kind =
        k.string("tokenizer.ggml.model")?.ok_or_else(|| k.err("`tokenizer.ggml.model` is missing".into()))?;
    let tokens = k
        .strings("tokenizer.ggml.tokens")?
        .ok_or_else(|| k.err("`tokenizer.ggml.tokens` is missing".into()))?;
    if tokens.is_empty() || tokens.len() > u32::MAX as usize {
        return Err(k.err(format!("`tokenizer.ggml.tokens` holds {} tokens", tokens.len())));
    }
    let types = match k.numbers("tokenizer.ggml.token_type")? {
        Some(t) if t.len() != tokens.len() => {
            return Err(k.err(format!(
                "`tokenizer.ggml.token_type` has {} entries for {} tokens",
                t.len(),
                tokens.len()
            )));
        }
        Some(t) => t.into_iter().map(|x| x as i64).collect(),
        None => vec![1; tokens.len()],
    };
    // The first id of each token (a few files repeat a token; later copies are unreachable).
    let mut vocab: Vocab = Vocab::default();
    for (id, t) in tokens.iter().enumerate() {
        vocab.entry((*t).to_string()).or_insert(id as u32);
    }
    let merges = match k.strings("tokenizer.ggml.merges")? {
        Some(list) => Some(
            list.iter()
                .enumerate()
                .map(|(i, m)| {
                    m.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())).ok_or_else(|| {
                        k.err(format!("merge {i} of `tokenizer.ggml.merges` ({m:?}) is not two tokens"))
                    })
                })
                .collect::<Result<Vec<_>>>()?,
        ),
        None => None,
    };
    let n = tokens.len();
    let bos = k.token_id("tokenizer.ggml.bos_token_id", n)?;
    let eos = k.token_id("tokenizer.ggml.eos_token_id", n)?;
    let unk = k.token_id("tokenizer.ggml.unknown_token_id", n)?;

    let (mut tokenizer, default_bos) = match kind {
        "gpt2" => {
            let merges = merges.ok_or_else(|| {
                k.err("`tokenizer.ggml.merges` is missing (a byte-level BPE needs it)".into())
            })?;
            let pre = k.string("tokenizer.ggml.pre")?.unwrap_or("default");
            let bpe = BPE::builder().vocab_and_merges(vocab, merges).build().map_err(|e| {
                k.err(format!("the tokens and `tokenizer.ggml.merges` do not fit together ({e})"))
            })?;
            let mut t = Tokenizer::new(bpe);
            let split = |re: &str| -> Result<PreTokenizerWrapper> {
                Ok(Split::new(SplitPattern::Regex(re.into()), SplitDelimiterBehavior::Isolated, false)
                    .map_err(|e| Error::internal(format!("pre-tokeniser regex: {e}")))?
                    .into())
            };
            let byte_level =
                |regex: bool| -> PreTokenizerWrapper { ByteLevel::new(false, true, regex).into() };
            let pre_tokenizer: PreTokenizerWrapper = if GPT2_PRES.contains(&pre) {
                byte_level(true)
            } else if DIGIT_PRES.contains(&pre) {
                tokenizers::pre_tokenizers::sequence::Sequence::new(vec![
                    Digits::new(true).into(),
                    byte_level(true),
                ])
                .into()
            } else if LLAMA3_PRES.contains(&pre) {
                tokenizers::pre_tokenizers::sequence::Sequence::new(vec![
                    split(LLAMA3_SPLIT)?,
                    byte_level(false),
                ])
                .into()
            } else if QWEN2_PRES.contains(&pre) {
                t.with_normalizer(Some(NFC)).map_err(|e| Error::internal(format!("normalizer: {e}")))?;
                tokenizers::pre_tokenizers::sequence::Sequence::new(vec![
                    split(QWEN2_SPLIT)?,
                    byte_level(false),
                ])
                .into()
            } else {
                let known: Vec<&str> = GPT2_PRES
                    .iter()
                    .chain(&DIGIT_PRES)
                    .chain(&LLAMA3_PRES)
                    .chain(&QWEN2_PRES)
                    .copied()
                    .collect();
                return Err(k.err(format!(
                    "its pre-tokeniser `tokenizer.ggml.pre` = {pre:?} is not supported (supported: {})",
                    known.join(", ")
                )));
            };
            t.with_pre_tokenizer(Some(pre_tokenizer));
            t.with_decoder(Some(ByteLevel::new(false, true, true)));
            (t, false)
        }
        "llama" => {
            let scores = k.numbers("tokenizer.ggml.scores")?;
            if scores.as_ref().is_some_and(|s| s.len() != n) {
                return Err(k.err(format!("`tokenizer.ggml.scores` does not have one score per token ({n})")));
            }
            let merges = match merges {
                Some(m) => m,
                None => {
                    let scores = scores.ok_or_else(|| {
                        k.err("`tokenizer.ggml.scores` and `tokenizer.ggml.merges` are both missing (a SentencePiece vocabulary needs one)".into())
                    })?;
                    merges_from_scores(&tokens, &scores, &vocab)
                }
            };
            let mut builder =
                BPE::builder().vocab_and_merges(vocab, merges).byte_fallback(true).fuse_unk(true);
            if let Some(u) = unk {
                builder = builder.unk_token(tokens[u as usize].to_string());
            }
            let bpe = builder
                .build()
                .map_err(|e| k.err(format!("the tokens and their merges do not fit together ({e})")))?;
            let prefix = k.bool("tokenizer.ggml.add_space_prefix")?.unwrap_or(true);
            let mut t = Tokenizer::new(bpe);
            let scheme = if prefix { PrependScheme::First } else { PrependScheme::Never };
            t.with_pre_tokenizer(Some(Metaspace::new('▁', scheme, false)));
            let mut decoders: Vec<DecoderWrapper> = vec![
                Replace::new("▁", " ").map_err(|e| Error::internal(format!("decoder: {e}")))?.into(),
                ByteFallback::new().into(),
                Fuse::new().into(),
            ];
            if prefix {
                decoders.push(Strip::new(' ', 1, 0).into());
            }
            t.with_decoder(Some(tokenizers::decoders::sequence::Sequence::new(decoders)));
            (t, true)
        }
        other => {
            return Err(k.err(format!(
                "its tokenizer type `tokenizer.ggml.model` = {other:?} is not supported (supported: \"gpt2\", \"llama\")"
            )));
        }
    };

    // Control tokens are special, user-defined ones added; both matched whole in the text.
    let mut special = Vec::new();
    let mut added = Vec::new();
    let mut seen = HashSet::new();
    for (id, (token, ty)) in tokens.iter().zip(&types).enumerate() {
        if !seen.insert(*token) {
            continue;
        }
        let is_unk = unk == Some(id as u32);
        if *ty == CONTROL || (*ty == UNKNOWN && is_unk) {
            special.push(AddedToken::from(token.to_string(), true).normalized(false));
        } else if *ty == USER_DEFINED {
            added.push(AddedToken::from(token.to_string(), false).normalized(false));
        }
    }
    tokenizer
        .add_special_tokens(special)
        .map_err(|e| k.err(format!("its control tokens cannot be added ({e})")))?;
    tokenizer
        .add_tokens(added)
        .map_err(|e| k.err(format!("its user-defined tokens cannot be added ({e})")))?;

    let add_bos = k.bool("tokenizer.ggml.add_bos_token")?.unwrap_or(default_bos);
    let add_eos = k.bool("tokenizer.ggml.add_eos_token")?.unwrap_or(false);
    let mut single = Vec::new();
    let mut pair = Vec::new();
    let mut specials: Vec<(String, u32)> = Vec::new();
    let with = |key: &str, id: Option<u32>, specials: &mut Vec<(String, u32)>| -> Result<String> {
        let id = id.ok_or_else(|| k.err(format!("`{key}` is missing (the file asks for it to be added)")))?;
        let token = tokens[id as usize].to_string();
        specials.push((token.clone(), id));
        Ok(token)
    };
    let bos_token =
        if add_bos { Some(with("tokenizer.ggml.bos_token_id", bos, &mut specials)?) } else { None };
    let eos_token =
        if add_eos { Some(with("tokenizer.ggml.eos_token_id", eos, &mut specials)?) } else { None };
    if let Some(b) = &bos_token {
        single.push(b.clone());
        pair.push(b.clone());
    }
    single.push("$A".to_string());
    pair.push("$A".to_string());
    if let Some(e) = &eos_token {
        single.push(e.clone());
        pair.push(e.clone());
    }
    if let Some(b) = &bos_token {
        pair.push(format!("{b}:1"));
    }
    pair.push("$B:1".to_string());
    if let Some(e) = &eos_token {
        pair.push(format!("{e}:1"));
    }
    specials.dedup();
    let template: Option<PostProcessorWrapper> = if specials.is_empty() {
        None
    } else {
        let built = TemplateProcessing::builder()
            .try_single(single.join(" "))
            .and_then(|b| b.try_pair(pair.join(" ")))
            .map_err(|e| k.err(format!("its BOS/EOS tokens cannot be added ({e})")))?
            .special_tokens(specials)
            .build()
            .map_err(|e| k.err(format!("its BOS/EOS tokens cannot be added ({e})")))?;
        Some(built.into())
    };
    let post: Option<PostProcessorWrapper> = match (kind, template) {
        ("gpt2", Some(t)) => Some(
            tokenizers::processors::sequence::Sequence::new(vec![
                ByteLevel::new(false, true, true).into(),
                t,
            ])
            .into(),
        ),
        ("gpt2", None) => Some(ByteLevel::new(false, true, true).into()),
        (_, t) => t,
    };
    tokenizer.with_post_processor(post);
    Ok(tokenizer)
}

/// The longest token (in bytes) [`merges_from_scores`] derives merges for.
const MAX_PIECE_BYTES: usize = 256;

/// Merges recovered from a SentencePiece vocabulary's scores, ordered as transformers'
/// `generate_merges` orders them: by the merged token's score, best first, then by the lengths of
/// the two halves, longest first; ties keep the vocabulary's order.
fn merges_from_scores(tokens: &[&str], scores: &[f64], vocab: &Vocab) -> Vec<(String, String)> {
    let mut all: Vec<(usize, usize, f64, String, String)> = Vec::new();
    for (token, &score) in tokens.iter().zip(scores) {
        // SentencePiece pieces are at most 16 characters by default; a longer one is not split
        // (a crafted vocabulary of long tokens would take quadratic time).
        if token.len() > MAX_PIECE_BYTES {
            continue;
        }
        let mut local = Vec::new();
        for (at, _) in token.char_indices().skip(1) {
            let (l, r) = token.split_at(at);
            if let (Some(&li), Some(&ri)) = (vocab.get(l), vocab.get(r)) {
                local.push((li, ri, l, r));
            }
        }
        local.sort_by_key(|x| (x.0, x.1));
        for (_, _, l, r) in local {
            all.push((l.chars().count(), r.chars().count(), score, l.to_string(), r.to_string()));
        }
    }
    all.sort_by(|a, b| b.2.total_cmp(&a.2).then(b.0.cmp(&a.0)).then(b.1.cmp(&a.1)));
    all.into_iter().map(|(_, _, _, l, r)| (l, r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_follow_scores_then_lengths() {
        let tokens = ["a", "b", "c", "ab", "abc", "bc"];
        let scores = [0., 0., 0., -1., -3., -2.];
        let vocab: Vocab = tokens.iter().enumerate().map(|(i, t)| (t.to_string(), i as u32)).collect();
        let merges = merges_from_scores(&tokens, &scores, &vocab);
        let got: Vec<(&str, &str)> = merges.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(got, vec![("a", "b"), ("b", "c"), ("ab", "c"), ("a", "bc")]);
    }
}
