//! OpenPrompt's files, out and in: the template as one line of OpenPrompt syntax in
//! `template.txt` (what `ManualTemplate(...).from_file(path)` reads: one template a line) and the
//! verbalizer as `label_words.json`, an object of class → label words (what
//! `ManualVerbalizer(...).from_file(path)` reads). Soft vectors' trained values are not part of
//! these files (OpenPrompt keeps them in a PyTorch checkpoint); export a bundle or a PEFT adapter
//! for those.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::files::{AtomicDir, Replace, write_atomic};
use crate::template::Template;
use crate::tune::RunDir;
use crate::verbalizer::Verbalizer;

use super::bundle::prepare_out;

/// The template file.
pub const TEMPLATE_FILE: &str = "template.txt";
/// The label words file.
pub const LABEL_WORDS_FILE: &str = "label_words.json";

/// The template as OpenPrompt's one-line syntax.
pub fn template_line(template: &Template) -> Result<String> {
    let line = template.to_openprompt();
    if line.contains('\n') || line.contains('\r') {
        return Err(Error::invalid(format!(
            "the template {:?} has a line break in its fixed text, which an OpenPrompt template file (one template \
             a line) cannot hold; remove it",
            template.source()
        )));
    }
    Ok(line)
}

/// The verbalizer as OpenPrompt's label words: `{"class": ["word", …], …}` in class order.
pub fn label_words_json(verbalizer: &Verbalizer) -> String {
    let words: serde_json::Map<String, serde_json::Value> =
        verbalizer.classes.iter().map(|c| (c.name.clone(), serde_json::json!(c.words))).collect();
    serde_json::to_string_pretty(&words).unwrap_or_default() + "\n"
}

/// Writes `template` and `verbalizer` as OpenPrompt files into the folder `out` (whole or not at
/// all); an existing `out` is replaced only with [`Replace::Allow`].
pub fn write_openprompt(template: &Template, verbalizer: &Verbalizer, out: &Path) -> Result<PathBuf> {
    let line = template_line(template)?;
    let dir = AtomicDir::create(out)?;
    write_atomic(dir.path().join(TEMPLATE_FILE), format!("{line}\n").as_bytes())?;
    write_atomic(dir.path().join(LABEL_WORDS_FILE), label_words_json(verbalizer).as_bytes())?;
    dir.commit()?;
    Ok(out.to_path_buf())
}

/// Writes the template and verbalizer of the run in `run_dir` as OpenPrompt files at `out`.
pub fn export_openprompt(run_dir: &Path, out: &Path, replace: Replace) -> Result<PathBuf> {
    let run = RunDir::new(run_dir);
    let config = run.read_config()?;
    prepare_out(run_dir, out, replace)?;
    let template = config.template.as_deref().ok_or_else(|| {
        Error::invalid(format!(
            "the run in {} has no template (a probe run); there is nothing to export",
            run_dir.display()
        ))
    })?;
    let verbalizer = config.verbalizer.as_ref().ok_or_else(|| {
        Error::invalid(format!(
            "the run in {} has no verbalizer; there is nothing to export",
            run_dir.display()
        ))
    })?;
    write_openprompt(&Template::parse(template)?, verbalizer, out)
}

/// Reads OpenPrompt's `template.txt` (its first non-empty line) and `label_words.json` from `dir`.
pub fn read_openprompt(dir: &Path) -> Result<(Template, Verbalizer)> {
    let tp = dir.join(TEMPLATE_FILE);
    let text = std::fs::read_to_string(&tp).map_err(|e| {
        Error::io_while(&tp, format!("{} has no OpenPrompt template (template.txt)", dir.display()), e)
    })?;
    let (n, line) = text.lines().enumerate().find(|(_, l)| !l.trim().is_empty()).ok_or_else(|| {
        Error::invalid(format!("{}: the file is empty; write the template on its first line", tp.display()))
    })?;
    let template =
        Template::parse(line).map_err(|e| Error::invalid(format!("{} line {}: {e}", tp.display(), n + 1)))?;
    let wp = dir.join(LABEL_WORDS_FILE);
    let words = std::fs::read_to_string(&wp).map_err(|e| {
        Error::io_while(&wp, format!("{} has no OpenPrompt label words (label_words.json)", dir.display()), e)
    })?;
    let verbalizer =
        Verbalizer::from_json(&words).map_err(|e| Error::invalid(format!("{}: {e}", wp.display())))?;
    Ok((template, verbalizer))
}

/// Whether `dir` holds OpenPrompt files.
pub fn is_openprompt(dir: &Path) -> bool {
    dir.join(TEMPLATE_FILE).is_file() && dir.join(LABEL_WORDS_FILE).is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openprompt_files_round_trip() {
        let base = std::env::temp_dir().join(format!("cloze-openprompt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let cases = [
            ("{text_a} It was {mask}.", r#"{"negative": ["terrible", "bad"], "positive": ["great"]}"#),
            ("{soft:3} {text_a} {text_b} All in all: {mask}", r#"{"b": ["x"], "a": ["y", "z"]}"#),
            (
                r#"{"placeholder": "text_a", "shortenable": False} Topic: {"mask"}"#,
                r#"{"0": ["sport"], "1": ["art"]}"#,
            ),
            ("{soft:\"It was\"}  {text_a}   {mask}", r#"{"no": ["no"], "yes": ["yes"]}"#),
        ];
        for (i, (t, v)) in cases.iter().enumerate() {
            let template = Template::parse(t).unwrap();
            let verbalizer = Verbalizer::from_json(v).unwrap();
            let out = base.join(format!("case{i}"));
            write_openprompt(&template, &verbalizer, &out).unwrap();
            let (t2, v2) = read_openprompt(&out).unwrap();
            assert_eq!(t2.segments(), template.segments(), "{t}");
            assert_eq!(v2.classes, verbalizer.classes, "{v}");
            // OpenPrompt's own loader takes the first line, and a dict of class → words.
            let line = std::fs::read_to_string(out.join(TEMPLATE_FILE)).unwrap();
            assert_eq!(line.lines().count(), 1, "{line}");
            let words: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(out.join(LABEL_WORDS_FILE)).unwrap()).unwrap();
            assert!(words.is_object());
        }
        let multi_line = Template::parse("{text_a}\nIt was {mask}.").unwrap();
        let msg = template_line(&multi_line).unwrap_err().to_string();
        assert!(msg.contains("line break"), "{msg}");
        let bad = base.join("bad");
        std::fs::create_dir_all(&bad).unwrap();
        std::fs::write(bad.join(TEMPLATE_FILE), "{text_a} It was {mask}.\n").unwrap();
        std::fs::write(bad.join(LABEL_WORDS_FILE), "[1, 2]").unwrap();
        let msg = read_openprompt(&bad).unwrap_err().to_string();
        assert!(msg.contains("label_words.json"), "{msg}");
        let _ = std::fs::remove_dir_all(&base);
    }
}
