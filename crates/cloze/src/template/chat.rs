//! Chat templates: a prompt for an instruct model wrapped the way the model was trained to read
//! a conversation. The model's own Jinja chat template (`chat_template.jinja`, tokenizer_config.json's
//! `chat_template`, or GGUF's `tokenizer.chat_template`) is rendered with minijinja over one user
//! turn (after an optional system message) and `add_generation_prompt=true`; the template's text
//! before `{mask}` is that user turn, so `{mask}` — where the label word is read — comes right after
//! the assistant's header, and the text after `{mask}` stays where it was.
//!
//! The wrapping is a [`Template`] transform: the chat template's text around the user's message
//! becomes fixed text segments, so rendering, truncation (only the fields shrink), batching,
//! scoring, tuning and the preview treat a chat prompt like any other.

use serde::{Deserialize, Serialize};

use super::{Segment, Template};
use crate::error::{Error, Result, Text};

/// How to turn the chat template off, as each front end says it.
fn turn_off() -> Text {
    Text::from("").cli_only("leave out --chat").app_only("turn off “Use chat template”")
}
use crate::plm::{ChatTemplateSource, Plm};

/// Whether a prompt is wrapped in the model's chat template.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "kebab-case")]
pub enum ChatFormat {
    /// The template's text as it is.
    #[default]
    None,
    /// The template's text as a user turn of the model's chat template, the label word read as
    /// the start of the assistant's answer.
    ModelTemplate,
}

impl std::str::FromStr for ChatFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(ChatFormat::None),
            "model-template" => Ok(ChatFormat::ModelTemplate),
            _ => Err(Error::invalid(format!("unknown chat format {s:?}; use none or model-template"))),
        }
    }
}

/// A prompt's chat setting: the format and, for the model's template, an optional system message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Chat {
    pub format: ChatFormat,
    /// A system message before the user's turn (`None` or empty: the template's own default, if any).
    #[serde(default)]
    pub system: Option<String>,
}

impl Chat {
    /// The model's chat template, with an optional system message.
    pub fn model_template(system: Option<String>) -> Chat {
        Chat { format: ChatFormat::ModelTemplate, system: system.filter(|s| !s.trim().is_empty()) }
    }

    pub fn is_on(&self) -> bool {
        self.format != ChatFormat::None
    }

    /// `template` as `plm` reads it with this setting: unchanged when off, else wrapped in the
    /// model's chat template ([`wrap`]); a model without a chat template is an error saying so.
    pub fn apply(&self, plm: &Plm, template: &Template) -> Result<Template> {
        match self.rendered(plm)? {
            None => Ok(template.clone()),
            Some((text, source)) => wrap_rendered(&text, template, source),
        }
    }

    /// `text` as the user's turn of the model's chat template, ready for the assistant's answer
    /// (`cloze generate --chat`); unchanged when off.
    pub fn conversation(&self, plm: &Plm, text: &str) -> Result<String> {
        Ok(match self.rendered(plm)? {
            None => text.to_string(),
            Some((rendered, _)) => rendered.replacen(USER_SLOT, text, 1),
        })
    }

    /// The chat template rendered around [`USER_SLOT`], without a BOS token the tokenizer adds
    /// itself; `None` when off.
    fn rendered<'p>(&self, plm: &'p Plm) -> Result<Option<(String, &'p ChatTemplateSource)>> {
        if !self.is_on() {
            return Ok(None);
        }
        let Some(source) = plm.chat_template() else {
            return Err(Error::precondition(
                Text::from(format!(
                    "{} has no chat template in tokenizer_config.json (nor chat_template.jinja, nor GGUF metadata); ",
                    plm.dir().display()
                ))
                .append(turn_off()),
            ));
        };
        let text = render(source, self.system.as_deref())?;
        // A template that writes the BOS token itself, for a tokenizer that adds one: keep one.
        let tokenizer = plm.tokenizer();
        let adds_bos = source.bos_token.as_ref().is_some_and(|bos| {
            tokenizer
                .encode_with_specials("")
                .is_ok_and(|e| e.get_ids().iter().any(|&id| tokenizer.id_to_token(id).as_ref() == Some(bos)))
        });
        let text = match (&source.bos_token, adds_bos) {
            (Some(bos), true) => text.strip_prefix(bos.as_str()).map(String::from).unwrap_or(text),
            _ => text,
        };
        Ok(Some((text, source)))
    }
}

/// Stands for the user's message while the chat template renders; split out afterwards.
const USER_SLOT: &str = "\u{E000}cloze-user-message\u{E000}";

/// Renders the chat template over `[system?, user]` with `add_generation_prompt=true`, the user's
/// message being [`USER_SLOT`].
pub fn render(source: &ChatTemplateSource, system: Option<&str>) -> Result<String> {
    let mut env = minijinja::Environment::new();
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", |message: String| -> std::result::Result<String, minijinja::Error> {
        Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, message))
    });
    // Templates that print today's date (Llama 3.x): a fixed date keeps the prompt, and so the
    // scores, the same from day to day.
    env.add_function("strftime_now", |_format: String| "26 Jul 2024".to_string());
    let fail = |e: minijinja::Error| {
        let mut message = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            message.push_str(&format!(": {c}"));
            cause = c.source();
        }
        Error::invalid(
            Text::from(format!(
                "{}: the chat template cannot be rendered ({message}); ",
                source.file.display()
            ))
            .append(turn_off())
            .then(" or fix the template"),
        )
    };
    env.add_template("chat", &source.text).map_err(fail)?;
    let mut messages = Vec::new();
    if let Some(system) = system.filter(|s| !s.trim().is_empty()) {
        messages.push(minijinja::context! { role => "system", content => system });
    }
    messages.push(minijinja::context! { role => "user", content => USER_SLOT });
    let ctx = minijinja::context! {
        messages => messages,
        add_generation_prompt => true,
        bos_token => source.bos_token.clone().unwrap_or_default(),
        eos_token => source.eos_token.clone().unwrap_or_default(),
    };
    env.get_template("chat").and_then(|t| t.render(ctx)).map_err(fail)
}

/// Wraps `template` in a rendered chat (`rendered` holds [`USER_SLOT`] once): the text before the
/// slot, the template's segments before `{mask}` (outer whitespace trimmed: they are the user's
/// message), the text after the slot (the assistant's header), then `{mask}` and what follows it.
fn wrap_rendered(rendered: &str, template: &Template, source: &ChatTemplateSource) -> Result<Template> {
    let Some(at) = rendered.find(USER_SLOT) else {
        return Err(Error::invalid(
            Text::from(format!(
                "{}: the chat template does not write the user's message; ",
                source.file.display()
            ))
            .append(turn_off()),
        ));
    };
    let (before, after) = (&rendered[..at], &rendered[at + USER_SLOT.len()..]);
    if after.contains(USER_SLOT) {
        return Err(Error::invalid(
            Text::from(format!(
                "{}: the chat template writes the user's message twice; ",
                source.file.display()
            ))
            .append(turn_off()),
        ));
    }
    let segments = template.segments();
    let mask = segments.iter().position(|s| matches!(s, Segment::Mask)).ok_or_else(|| {
        Error::invalid(
            "the template has no {mask}; a chat prompt reads the label word at {mask}, after the user's turn",
        )
    })?;
    let mut user: Vec<Segment> = segments[..mask].to_vec();
    if let Some(Segment::Text(t)) = user.first_mut() {
        *t = t.trim_start().to_string();
    }
    if let Some(Segment::Text(t)) = user.last_mut() {
        *t = t.trim_end().to_string();
    }
    let mut out = vec![Segment::Text(before.to_string())];
    out.extend(user);
    out.push(Segment::Text(after.to_string()));
    out.extend(segments[mask..].iter().cloned());
    Template::new(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SmolLM2-Instruct's chat template, as its tokenizer_config.json ships it.
    pub(crate) const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    fn source(text: &str) -> ChatTemplateSource {
        ChatTemplateSource {
            text: text.into(),
            file: "m/tokenizer_config.json".into(),
            bos_token: Some("<s>".into()),
            eos_token: Some("</s>".into()),
        }
    }

    #[test]
    fn smollm2_chat_template_wraps_the_prompt_as_one_user_turn() {
        let t = Template::parse("{text_a} Was it positive or negative? {mask}.").unwrap();
        let s = source(SMOLLM2);
        let wrapped = wrap_rendered(&render(&s, None).unwrap(), &t, &s).unwrap();
        let text: String = wrapped.segments().iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
             <|im_start|>user\n{text_a} Was it positive or negative?<|im_end|>\n<|im_start|>assistant\n{mask}."
        );
        let with_system = wrap_rendered(&render(&s, Some("Answer in one word.")).unwrap(), &t, &s).unwrap();
        assert_eq!(
            with_system.source(),
            "<|im_start|>system\nAnswer in one word.<|im_end|>\n<|im_start|>user\n{text_a} Was it positive or \
             negative?<|im_end|>\n<|im_start|>assistant\n{mask}."
        );
    }

    #[test]
    fn chat_template_errors_say_what_to_do() {
        let t = Template::parse("{text_a} {mask}").unwrap();
        let cases: &[(&str, &str)] = &[
            (
                "{{ raise_exception('Conversation roles must alternate') }}",
                "Conversation roles must alternate",
            ),
            ("{% for m in messages %}", "cannot be rendered"),
            ("<|im_start|>assistant\n", "does not write the user's message"),
            ("{{ messages[0].content }}{{ messages[0].content }}", "twice"),
        ];
        for (text, expected) in cases {
            let s = source(text);
            let err = render(&s, None).and_then(|r| wrap_rendered(&r, &t, &s)).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
            assert!(err.contains("m/tokenizer_config.json") && err.contains("leave out --chat"), "{err}");
        }
    }

    #[test]
    fn python_string_methods_and_bos_render() {
        let s = source(
            "{{ bos_token }}{% for m in messages %}[{{ m.role | upper }}] {{ m.content.strip() }}{% endfor %}{% if add_generation_prompt %} [ASSISTANT]{% endif %}",
        );
        assert_eq!(
            render(&s, Some(" be brief ")).unwrap(),
            format!("<s>[SYSTEM] be brief[USER] {USER_SLOT} [ASSISTANT]")
        );
        assert_eq!("model-template".parse::<ChatFormat>().unwrap(), ChatFormat::ModelTemplate);
        assert!("chatml".parse::<ChatFormat>().unwrap_err().to_string().contains("none or model-template"));
        assert_eq!(Chat::model_template(Some("  ".into())).system, None);
    }
}
