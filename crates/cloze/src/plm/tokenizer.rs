//! The model's tokenizer and its special tokens.
//!
//! Loaded from `tokenizer.json` when the folder has one; older checkpoints get the equivalent
//! tokenizer built from `vocab.txt` (WordPiece, BERT / DistilBERT) or `vocab.json` + `merges.txt`
//! (byte-level BPE, RoBERTa). Padding and truncation stored in tokenizer.json are switched off:
//! the engine pads batches itself and truncates only the shortenable parts of a template.

use std::path::{Path, PathBuf};

use tokenizers::Tokenizer;

use super::{Family, Kind, checks};
use crate::error::{Error, Result};

/// The special tokens a prompt needs, as strings and ids.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SpecialTokens {
    pub mask: (String, u32),
    pub pad: (String, u32),
    pub cls: Option<(String, u32)>,
    pub sep: Option<(String, u32)>,
    pub unk: Option<(String, u32)>,
}

impl SpecialTokens {
    /// The ids of every special token named.
    pub fn ids(&self) -> Vec<u32> {
        let mut out = vec![self.mask.1, self.pad.1];
        out.extend([&self.cls, &self.sep, &self.unk].into_iter().flatten().map(|(_, id)| *id));
        out
    }
}

/// A model's tokenizer plus what the engine needs to know about it.
#[derive(Clone)]
pub struct PlmTokenizer {
    inner: Tokenizer,
    special: SpecialTokens,
    space_sensitive: bool,
    source: PathBuf,
    /// The id of [`PLACEHOLDER`] when the engine added it (decoders).
    placeholder: Option<u32>,
}

/// The mask placeholder the engine adds to a decoder's tokenizer: it marks where the label word is
/// read in a rendered row and is never given to the network ([`super::Plm::embed_tokens`] embeds it
/// as padding; the state before it is what is read).
pub const PLACEHOLDER: &str = "<|cloze:mask|>";

impl std::fmt::Debug for PlmTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlmTokenizer")
            .field("source", &self.source)
            .field("special", &self.special)
            .field("space_sensitive", &self.space_sensitive)
            .finish()
    }
}

fn tok_err(path: &Path, e: tokenizers::Error) -> Error {
    Error::Tokenizer { message: path.display().to_string(), source: Some(e) }
}

fn tok_msg(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Tokenizer { message: format!("{}: {message}", path.display()), source: None }
}

/// Reads a special token from tokenizer_config.json / special_tokens_map.json, where it is either
/// a string or `{"content": "..."}`.
fn configured_token(dir: &Path, key: &str) -> Option<String> {
    for file in ["tokenizer_config.json", "special_tokens_map.json"] {
        let Ok(text) = checks::read_text_limited(&dir.join(file), checks::SMALL_FILE_LIMIT, file) else {
            continue;
        };
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
        match &json[key] {
            serde_json::Value::String(s) => return Some(s.clone()),
            serde_json::Value::Object(o) => {
                if let Some(s) = o.get("content").and_then(|c| c.as_str()) {
                    return Some(s.to_string());
                }
            }
            _ => {}
        }
    }
    None
}

fn lower_case_configured(dir: &Path) -> bool {
    checks::read_text_limited(
        &dir.join("tokenizer_config.json"),
        checks::SMALL_FILE_LIMIT,
        "tokenizer_config.json",
    )
    .ok()
    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    .and_then(|j| j["do_lower_case"].as_bool())
    .unwrap_or(true)
}

impl PlmTokenizer {
    /// Loads the tokenizer of a model folder for a model of `family`.
    pub fn load(dir: &Path, family: Family) -> Result<Self> {
        let json = dir.join("tokenizer.json");
        // Each file is read whole by the tokenizers crate: its size is checked first.
        let limited = |name: &str| -> Result<PathBuf> {
            let path = dir.join(name);
            checks::checked_len(&path, checks::TOKENIZER_FILE_LIMIT, name)?;
            Ok(path)
        };
        let (inner, source) = if json.is_file() {
            let json = limited("tokenizer.json")?;
            (Tokenizer::from_file(&json).map_err(|e| tok_err(&json, e))?, json)
        } else if dir.join("vocab.txt").is_file() {
            let vocab = limited("vocab.txt")?;
            (Self::wordpiece_from_vocab(&vocab, lower_case_configured(dir))?, vocab)
        } else if dir.join("vocab.json").is_file() && dir.join("merges.txt").is_file() {
            let vocab = limited("vocab.json")?;
            (Self::bpe_from_files(&vocab, &limited("merges.txt")?)?, vocab)
        } else {
            return Err(Error::Model {
                path: dir.to_path_buf(),
                message: "no tokenizer found: expected tokenizer.json, vocab.txt, or vocab.json with \
                          merges.txt"
                    .into(),
                source: None,
            });
        };
        Self::from_tokenizer(inner, source, family, &|key| configured_token(dir, key))
    }

    /// Finishes a tokenizer for a model of `family`: padding and truncation off, the special
    /// tokens found (`configured` reads a key such as `"mask_token"` from the tokenizer config). A
    /// decoder has no mask token: the engine adds its own placeholder, [`PLACEHOLDER`], which marks
    /// where the label word goes and never reaches the network.
    pub fn from_tokenizer(
        mut inner: Tokenizer,
        source: PathBuf,
        family: Family,
        configured: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        inner.with_padding(None);
        inner.with_truncation(None).map_err(|e| tok_err(&source, e))?;
        let [mask_default, pad_default, cls_default, sep_default, unk_default] = family.spec().special_tokens;
        let mut placeholder = None;
        if family.kind() == Kind::Decoder {
            let token = tokenizers::AddedToken::from(PLACEHOLDER, true).lstrip(true);
            inner.add_special_tokens([token]).map_err(|e| tok_err(&source, e))?;
        }
        let find = |key: &str, default: Option<&str>| -> Option<(String, u32)> {
            let name = configured(key).or_else(|| default.map(String::from))?;
            inner.token_to_id(&name).map(|id| (name, id))
        };
        let mask = match family.kind() {
            Kind::Decoder => {
                let id = inner
                    .token_to_id(PLACEHOLDER)
                    .ok_or_else(|| tok_msg(&source, "the tokenizer did not accept the engine's mask placeholder"))?;
                placeholder = Some(id);
                (PLACEHOLDER.to_string(), id)
            }
            Kind::Encoder | Kind::EncoderDecoder => find("mask_token", mask_default).ok_or_else(|| Error::Tokenizer {
                message: format!(
                    "{}: the vocabulary has no mask token (looked for {:?}); a masked-LM prompt needs one — \
                     set \"mask_token\" in tokenizer_config.json",
                    source.display(),
                    configured("mask_token").or_else(|| mask_default.map(String::from)).unwrap_or_default()
                ),
                source: None,
            })?,
        };
        let bos = find("bos_token", None);
        let eos = find("eos_token", None);
        let pad = find("pad_token", pad_default)
            .or_else(|| if placeholder.is_some() { eos.clone().or_else(|| bos.clone()) } else { None })
            .or_else(|| if placeholder.is_some() { inner.id_to_token(0).map(|t| (t, 0)) } else { None })
            .unwrap_or_else(|| mask.clone());
        let (cls, sep) = match family.kind() {
            Kind::Decoder => (bos, eos),
            _ => (find("cls_token", cls_default), find("sep_token", sep_default)),
        };
        let special = SpecialTokens { mask, pad, cls, sep, unk: find("unk_token", unk_default) };
        let mut tok = Self { inner, special, space_sensitive: false, source, placeholder };
        tok.space_sensitive = tok.encode_plain("great")? != tok.encode_plain(" great")?;
        Ok(tok)
    }

    fn wordpiece_from_vocab(vocab: &Path, lowercase: bool) -> Result<Tokenizer> {
        use tokenizers::models::wordpiece::WordPiece;
        use tokenizers::normalizers::BertNormalizer;
        use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
        use tokenizers::processors::bert::BertProcessing;
        let path = vocab.to_str().ok_or_else(|| tok_msg(vocab, "the path is not valid UTF-8"))?;
        let model =
            WordPiece::from_file(path).unk_token("[UNK]".into()).build().map_err(|e| tok_err(vocab, e))?;
        let mut tok = Tokenizer::new(model);
        let cls = tok.token_to_id("[CLS]").ok_or_else(|| tok_msg(vocab, "vocab.txt has no [CLS]"))?;
        let sep = tok.token_to_id("[SEP]").ok_or_else(|| tok_msg(vocab, "vocab.txt has no [SEP]"))?;
        tok.with_normalizer(Some(BertNormalizer::new(true, true, Some(lowercase), lowercase)))
            .map_err(|e| tok_err(vocab, e))?;
        tok.with_pre_tokenizer(Some(BertPreTokenizer));
        tok.with_post_processor(Some(BertProcessing::new(("[SEP]".into(), sep), ("[CLS]".into(), cls))));
        tok.add_special_tokens(
            ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
                .map(|t| tokenizers::AddedToken::from(t.to_string(), true)),
        )
        .map_err(|e| tok_err(vocab, e))?;
        Ok(tok)
    }

    fn bpe_from_files(vocab: &Path, merges: &Path) -> Result<Tokenizer> {
        use tokenizers::models::bpe::BPE;
        use tokenizers::pre_tokenizers::byte_level::ByteLevel;
        use tokenizers::processors::roberta::RobertaProcessing;
        let (v, m) = (
            vocab.to_str().ok_or_else(|| tok_msg(vocab, "the path is not valid UTF-8"))?,
            merges.to_str().ok_or_else(|| tok_msg(merges, "the path is not valid UTF-8"))?,
        );
        let model = BPE::from_file(v, m).build().map_err(|e| tok_err(vocab, e))?;
        let mut tok = Tokenizer::new(model);
        let id = |t: &str| tok.token_to_id(t).ok_or_else(|| tok_msg(vocab, format!("vocab.json has no {t}")));
        let (bos, eos) = (id("<s>")?, id("</s>")?);
        tok.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
        tok.with_decoder(Some(ByteLevel::default()));
        tok.with_post_processor(Some(RobertaProcessing::new(("</s>".into(), eos), ("<s>".into(), bos))));
        let mut mask = tokenizers::AddedToken::from("<mask>", true);
        mask = mask.lstrip(true);
        tok.add_special_tokens([
            tokenizers::AddedToken::from("<s>", true),
            tokenizers::AddedToken::from("<pad>", true),
            tokenizers::AddedToken::from("</s>", true),
            tokenizers::AddedToken::from("<unk>", true),
            mask,
        ])
        .map_err(|e| tok_err(vocab, e))?;
        Ok(tok)
    }

    /// Token ids of `text` without special tokens.
    pub fn encode_plain(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, false).map_err(|e| tok_err(&self.source, e))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Encodes `text` with the model's special tokens; the encoding carries byte offsets.
    pub fn encode_with_specials(&self, text: &str) -> Result<tokenizers::Encoding> {
        self.inner.encode(text, true).map_err(|e| tok_err(&self.source, e))
    }

    /// The text of `ids`, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true).map_err(|e| tok_err(&self.source, e))
    }

    pub fn special(&self) -> &SpecialTokens {
        &self.special
    }

    /// True when a leading space changes how a word tokenizes (byte-level BPE: `great` vs `Ġgreat`).
    pub fn space_sensitive(&self) -> bool {
        self.space_sensitive
    }

    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn source(&self) -> &Path {
        &self.source
    }

    /// The tokenizer as tokenizer.json, without the engine's mask placeholder (what the model's
    /// own tools expect).
    pub fn to_json_without_placeholder(&self) -> std::io::Result<String> {
        let text = self.inner.to_string(true).map_err(std::io::Error::other)?;
        let mut json: serde_json::Value = serde_json::from_str(&text).map_err(std::io::Error::other)?;
        if let Some(added) = json["added_tokens"].as_array_mut() {
            added.retain(|t| t["content"] != PLACEHOLDER);
        }
        serde_json::to_string_pretty(&json).map_err(std::io::Error::other)
    }

    /// The id of the engine's mask placeholder, when this is a decoder's tokenizer.
    pub fn placeholder(&self) -> Option<u32> {
        self.placeholder
    }

    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }
}
