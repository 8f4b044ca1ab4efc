//! Chat templates: a decoder's prompt wrapped in the model's own chat template (read from
//! tokenizer_config.json), rendered with minijinja, the label word read after the assistant's header.

use std::path::PathBuf;

use candle_core::Device;
use cloze::classify::{Classifier, ClassifyOptions};
use cloze::data::Example;
use cloze::plm::Plm;
use cloze::template::chat::Chat;
use cloze::template::{Renderer, Template};
use cloze::verbalizer::Verbalizer;

/// SmolLM2-Instruct's chat template, as its tokenizer_config.json ships it (ChatML).
const SMOLLM2_CHAT: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity")).join(name)
}

/// The tiny Qwen2 checkpoint (its vocabulary has ChatML's `<|im_start|>`) with SmolLM2's chat
/// template in its tokenizer_config.json.
fn chat_model() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/chat/qwen2-chatml"))
}

#[test]
fn chat_template_wraps_the_prompt_and_the_label_word_follows_the_assistant_header() {
    let plm = Plm::load(chat_model(), &Device::Cpu).unwrap();
    let source = plm.chat_template().expect("the chat template is read");
    assert_eq!(source.text, SMOLLM2_CHAT);
    assert!(source.file.ends_with("tokenizer_config.json"));

    let template = Template::parse("{text_a} Was it positive or negative? {mask}").unwrap();
    let wrapped = Chat::model_template(None).apply(&plm, &template).unwrap();
    let mut row = Example::new("1", "A joy from start to end.");
    row.label = Some("positive".into());
    let rendered = Renderer::new(plm.tokenizer(), plm.max_len()).render(&wrapped, &row).unwrap();
    assert_eq!(
        rendered.text,
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
         <|im_start|>user\nA joy from start to end. Was it positive or negative?<|im_end|>\n<|im_start|>assistant\n\
         <|cloze:mask|>"
    );
    let im_start = plm.tokenizer().inner().token_to_id("<|im_start|>").unwrap();
    assert_eq!(
        rendered.ids.iter().filter(|&&id| id == im_start).count(),
        3,
        "ChatML's markers are special tokens"
    );

    // The label word is scored after the header's line break: its first token is the break.
    let verbalizer = Verbalizer::from_json(r#"{"negative": "negative", "positive": "positive"}"#).unwrap();
    let classifier = Classifier::new(&plm, wrapped, &verbalizer, ClassifyOptions::default()).unwrap();
    let newline = plm.tokenizer().encode_plain("\n").unwrap();
    for w in &classifier.verbalizer().words {
        assert_eq!(w.ids[..newline.len()], newline[..], "{:?} starts with the line break", w.word);
    }
    let preds = classifier.classify(&[row], &mut |_, _| true).unwrap();
    let sum: f32 = preds[0].probs.iter().map(|(_, p)| p).sum();
    assert!((sum - 1.0).abs() < 1e-5);

    // A system message replaces the template's default one.
    let chat = Chat::model_template(Some("Answer with one word.".into()));
    let with_system = chat.apply(&plm, &template).unwrap();
    assert!(
        with_system
            .source()
            .starts_with("<|im_start|>system\nAnswer with one word.<|im_end|>\n<|im_start|>user\n")
    );
    assert_eq!(
        chat.conversation(&plm, "Hi").unwrap(),
        "<|im_start|>system\nAnswer with one word.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
}

#[test]
fn a_model_without_a_chat_template_says_to_turn_it_off() {
    let plm = Plm::load(fixture("llama"), &Device::Cpu).unwrap();
    assert!(plm.chat_template().is_none());
    let template = Template::parse("{text_a} {mask}").unwrap();
    let err = Chat::model_template(None).apply(&plm, &template).unwrap_err();
    let cli = err.to_string();
    assert!(
        cli.contains("has no chat template in tokenizer_config.json") && cli.contains("leave out --chat"),
        "{cli}"
    );
    let app = err.message(cloze::error::Front::App);
    assert!(app.contains("turn off “Use chat template”"), "{app}");
    // Off, the template is unchanged.
    assert_eq!(Chat::default().apply(&plm, &template).unwrap(), template);
}
