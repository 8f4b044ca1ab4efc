//! The prompt studio's try-it panel: the text a decoder continues for a row (the template up to its
//! `{mask}`, wrapped in the model's chat template when the prompt asks for it, as `cloze generate
//! --chat` wraps its prompt), and generation with the loaded model as a job — each piece of text handed to the
//! caller as it is produced, cancelled through the job's progress callback.

use std::time::Instant;

use super::Studio;
use super::views::*;
use crate::error::{Error, Result};
use crate::generate::{GenerateOptions, generate};
use crate::template::chat::Chat;
use crate::template::{Segment, Template};

/// Receives each generated piece; `false` cancels the generation.
pub type PieceFn<'a> = &'a mut dyn FnMut(GeneratedPiece) -> bool;

impl Studio {
    /// The text a model continues for `row_id` under `template`: the template with the row's fields
    /// filled, up to its first `{mask}` (the whole template when it has none), trailing spaces
    /// removed (the model writes the space before its first word). Soft tokens contribute their
    /// initial text. With `chat` on, that text is the user's turn of the loaded model's chat
    /// template, ready for the assistant's answer ([`Chat::conversation`], as `cloze generate
    /// --chat`); otherwise no model is needed.
    pub fn generation_prompt(&self, template: &str, chat: &Chat, row_id: i64) -> Result<String> {
        let template = Template::parse(template)?;
        let example = self.with_store(|store| Ok(store.row(row_id)?.example))?;
        let mut text = String::new();
        for (segment, span) in template.segments().iter().zip(template.spans()) {
            match segment {
                Segment::Mask => break,
                Segment::Text(t) => text.push_str(t),
                Segment::Field(f) => {
                    let value = example.field(&f.name).ok_or_else(|| Error::Template {
                        position: span.start,
                        message: format!(
                            "row {row_id} has no value for {{{}}}; map a column to it or remove it from the template",
                            f.name
                        ),
                    })?;
                    text.push_str(&f.post.apply(value));
                }
                Segment::Soft(s) => text.push_str(s.init.as_deref().unwrap_or_default()),
            }
        }
        let text = text.trim_end();
        if !chat.is_on() {
            return Ok(text.to_string());
        }
        chat.conversation(&self.model()?.plm, text)
    }

    /// Continues `prompt` with the loaded model. Each new piece of text goes to `on_piece` in order
    /// as the model produces it; `progress` counts the new tokens against the limit. Either
    /// returning `false` stops the generation with [`Error::Cancelled`]. A model that cannot
    /// generate (a masked LM) is an `invalid-input` error saying what can.
    pub fn generate(
        &self,
        prompt: &str,
        options: &GenerateOptions,
        on_piece: PieceFn,
        progress: ProgressFn,
    ) -> Result<GenerationView> {
        let model = self.model()?;
        let started = Instant::now();
        let limit = options.max_new_tokens as u64;
        let mut index: u32 = 0;
        let out = generate(&model.plm, prompt, options, &mut |text| {
            let keep = on_piece(GeneratedPiece { index, text: text.to_string() });
            index += 1;
            let report = Progress::new("generate", u64::from(index).min(limit), Some(limit))
                .with_message(format!("{index} pieces"));
            // Both are asked every time: the progress callback is also the job's cancel flag.
            progress(report) && keep
        })?;
        Ok(GenerationView {
            text: out.text,
            stop: out.stop,
            prompt_tokens: out.prompt_tokens as i64,
            new_tokens: out.ids.len() as i64,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, with_reviews};
    use super::*;
    use crate::generate::{Decoding, StopReason};

    const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

    fn reference() -> serde_json::Value {
        let text =
            std::fs::read_to_string(format!("{ROOT}/tests/fixtures/parity/llama/reference.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn load(f: &super::super::tests::Fixture, name: &str) {
        let dir = format!("{ROOT}/tests/fixtures/parity/{name}");
        f.studio.load_model(&dir, DeviceKind::Cpu, &mut |_| true).unwrap();
    }

    #[test]
    fn generation_streams_each_piece_in_order_and_matches_transformers() {
        let f = fixture("generate-stream");
        load(&f, "llama");
        let r = reference();
        let g = &r["generation"];
        let options = GenerateOptions { max_new_tokens: 8, ..Default::default() };
        let mut pieces: Vec<GeneratedPiece> = Vec::new();
        let mut reports = 0;
        let view = f
            .studio
            .generate(
                g["prompt"].as_str().unwrap(),
                &options,
                &mut |p| {
                    pieces.push(p);
                    true
                },
                &mut |p| {
                    assert_eq!(p.stage, "generate");
                    assert!(p.done <= 8 && p.total == Some(8));
                    reports += 1;
                    true
                },
            )
            .unwrap();
        assert_eq!(view.new_tokens, 8);
        assert_eq!(view.stop, StopReason::Length);
        assert_eq!(view.prompt_tokens as usize, g["input_ids"].as_array().unwrap().len());
        assert!(!pieces.is_empty() && reports == pieces.len());
        let indices: Vec<u32> = pieces.iter().map(|p| p.index).collect();
        assert_eq!(indices, (0..pieces.len() as u32).collect::<Vec<_>>(), "pieces arrive in order");
        let joined: String = pieces.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(joined, view.text, "the streamed pieces are the result");
        assert_eq!(view.text, g["new_text"].as_str().unwrap());
    }

    #[test]
    fn generation_cancel_stops_it_at_the_piece_where_it_was_asked() {
        let f = fixture("generate-cancel");
        load(&f, "llama");
        let options = GenerateOptions {
            decoding: Decoding::Sample { temperature: 1.0, top_p: 1.0, seed: 3 },
            max_new_tokens: 50,
            stop: vec![],
        };
        for cancel_from in ["piece", "progress"] {
            let mut seen = 0;
            let err = f
                .studio
                .generate(
                    "The movie was great.",
                    &options,
                    &mut |_| {
                        seen += 1;
                        !(cancel_from == "piece" && seen == 2)
                    },
                    &mut |p| !(cancel_from == "progress" && p.done == 2),
                )
                .unwrap_err();
            assert!(matches!(err, Error::Cancelled), "{cancel_from}: {err}");
            assert_eq!(seen, 2, "{cancel_from}: nothing is produced after the cancel");
        }
    }

    #[test]
    fn generation_refuses_a_masked_lm_and_no_model_with_what_to_do() {
        let f = fixture("generate-refuse");
        let mut none = |_: GeneratedPiece| true;
        let err = f.studio.generate("hi", &GenerateOptions::default(), &mut none, &mut |_| true).unwrap_err();
        assert!(err.to_string().contains("no model is loaded"), "{err}");
        load(&f, "roberta");
        let err = f.studio.generate("hi", &GenerateOptions::default(), &mut none, &mut |_| true).unwrap_err();
        assert!(err.to_string().contains("needs a decoder"), "{err}");
    }

    #[test]
    fn generation_prompt_is_the_row_rendered_up_to_the_mask() {
        let (f, imported) = with_reviews("generate-prompt");
        let dataset = imported.dataset.id;
        let row = &f.studio.rows_page(dataset, None, 0, 1).unwrap().rows[0];
        let cases = [
            ("{text_a} It was {mask}.", format!("{} It was", row.text_a)),
            ("Review: {text_a}", format!("Review: {}", row.text_a)),
            ("{mask} {text_a}", String::new()),
        ];
        for (template, want) in cases {
            assert_eq!(
                f.studio.generation_prompt(template, &Chat::default(), row.id).unwrap(),
                want,
                "{template}"
            );
        }
        let err = f.studio.generation_prompt("{nope} {mask}", &Chat::default(), row.id).unwrap_err();
        assert!(err.to_string().contains("no value for {nope}"), "{err}");
    }

    #[test]
    fn generation_prompt_wraps_the_row_in_the_chat_template_as_cloze_generate_does() {
        let (f, imported) = with_reviews("generate-prompt-chat");
        let row = &f.studio.rows_page(imported.dataset.id, None, 0, 1).unwrap().rows[0];
        let chat = Chat::model_template(Some("Answer in one word.".into()));
        let template = "{text_a} Positive or negative? {mask}";
        let err = f.studio.generation_prompt(template, &chat, row.id).unwrap_err();
        assert!(err.to_string().contains("no model is loaded"), "{err}");
        let dir = format!("{ROOT}/tests/fixtures/chat/qwen2-chatml");
        f.studio.load_model(&dir, DeviceKind::Cpu, &mut |_| true).unwrap();
        let plain = f.studio.generation_prompt(template, &Chat::default(), row.id).unwrap();
        let wrapped = f.studio.generation_prompt(template, &chat, row.id).unwrap();
        let plm = crate::plm::Plm::load(&dir, &candle_core::Device::Cpu).unwrap();
        assert_eq!(
            wrapped,
            chat.conversation(&plm, &plain).unwrap(),
            "the same text as cloze generate --chat"
        );
        assert!(wrapped.contains("<|im_start|>system\nAnswer in one word.<|im_end|>"), "{wrapped}");
        assert!(wrapped.contains(&format!("<|im_start|>user\n{plain}<|im_end|>")), "{wrapped}");
        assert!(wrapped.ends_with("<|im_start|>assistant\n"), "{wrapped}");
    }
}
