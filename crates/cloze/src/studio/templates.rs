//! Template suggestions in the prompt studio, each a job (progress, cancel) whose candidates are
//! scored on the label set's labelled rows with the loaded model and come back best first, the
//! prompt's own template among them: the word-edit search ([`crate::autotemplate::search`]), for any
//! family, and LM-BFF's generation with a T5 model ([`crate::autotemplate::t5gen`]) — the loaded
//! model when it is T5, or a T5 folder or downloaded model named as the generator. The prompt's
//! template is scored as written (no chat template, no calibration), as the CLI's searches do.

use super::Studio;
use super::data::label_set;
use super::model::device_choice;
use super::prompt::checked_verbalizer;
use super::views::*;
use crate::autotemplate::{self, SearchOptions, t5gen};
use crate::data::Example;
use crate::error::{Error, Result};
use crate::hub::resolve_model_in;
use crate::plm::Plm;
use crate::store::Store;
use crate::template::Template;
use crate::verbalizer::Verbalizer;

impl Studio {
    /// The label set's labelled rows and the prompt's checked template and verbalizer.
    fn suggestion_inputs(
        &self,
        prompt: &PromptSpec,
        label_set_id: i64,
    ) -> Result<(Template, Verbalizer, Vec<Example>)> {
        let template = Template::parse(&prompt.template)?;
        template.check_classification()?;
        let verbalizer = checked_verbalizer(&prompt.verbalizer)?;
        let store = Store::open(self.project_file()?)?;
        let set = label_set(&store, label_set_id)?;
        let rows = store.labelled_examples(label_set_id)?;
        if rows.is_empty() {
            return Err(Error::precondition(format!(
                "label set {:?} has no labelled rows yet; template suggestions are scored on labelled rows, so \
                 label some rows (or import a labelled file) first",
                set.name
            )));
        }
        crate::classify::check_labels(&rows, &verbalizer.class_names())?;
        Ok((template, verbalizer, rows))
    }

    /// Edits of the prompt's fixed words, scored with the loaded model (any family).
    pub fn suggest_template_edits(
        &self,
        prompt: &PromptSpec,
        label_set_id: i64,
        progress: ProgressFn,
    ) -> Result<TemplateSuggestions> {
        let model = self.model()?;
        let (template, verbalizer, rows) = self.suggestion_inputs(prompt, label_set_id)?;
        let options = SearchOptions::default();
        let mut round = 0;
        let found =
            autotemplate::search(&model.plm, &template, &verbalizer, &rows, options, &mut |done, total| {
                round += usize::from(done == 0);
                progress(
                    Progress::new("edit", done as u64, Some(total as u64))
                        .with_message(format!("round {round} of {}", options.rounds)),
                )
            })?;
        Ok(TemplateSuggestions {
            method: SuggestionMethod::WordEdits,
            rows: rows.len().min(options.max_rows) as i64,
            scorer: model.spec.clone(),
            generator: None,
            suggestions: found
                .into_iter()
                .map(|c| TemplateSuggestion {
                    current: c.round == 0,
                    template: c.template,
                    accuracy: c.accuracy,
                    mean_log_prob: c.mean_log_prob,
                    origin: c.edit,
                })
                .collect(),
        })
    }

    /// Templates a T5 model writes around the labelled rows (LM-BFF), scored with the loaded model.
    /// `generator`: a T5 folder or downloaded model; `None`: the loaded model, which must be T5.
    pub fn generate_template_suggestions(
        &self,
        prompt: &PromptSpec,
        label_set_id: i64,
        generator: Option<&str>,
        progress: ProgressFn,
    ) -> Result<TemplateSuggestions> {
        let model = self.model()?;
        let (template, verbalizer, rows) = self.suggestion_inputs(prompt, label_set_id)?;
        let spec = generator.map(str::trim).filter(|g| !g.is_empty());
        let loaded;
        let generator_plm: &Plm = match spec {
            Some(spec) => {
                if !progress(Progress::new("load", 0, None).with_message(format!("loading {spec}"))) {
                    return Err(Error::Cancelled);
                }
                let dir = resolve_model_in(self.hub.cache(), spec)?;
                loaded = Plm::load(&dir, &device_choice(model.device).open()?)?;
                &loaded
            }
            None => &model.plm,
        };
        let options = t5gen::GenerationOptions::default();
        let mut found = t5gen::generate_templates(
            generator_plm,
            &model.plm,
            &verbalizer,
            &rows,
            &options,
            &mut |stage, done, total| {
                progress(Progress::new(stage, done as u64, Some(total as u64)).with_message(match stage {
                    "generate" => "T5 writes the words around the mask".to_string(),
                    _ => "scoring the templates on the labelled rows".to_string(),
                }))
            },
        )?;
        let mut suggestions: Vec<TemplateSuggestion> = found
            .drain(..)
            .map(|g| TemplateSuggestion {
                current: g.template == template.source(),
                origin: format!("{}, T5 log-prob {:.1}", g.placement.name(), g.generation_log_prob),
                template: g.template,
                accuracy: g.accuracy,
                mean_log_prob: g.mean_log_prob,
            })
            .collect();
        // The prompt's own template, for comparison (unless T5 wrote it too).
        if !suggestions.iter().any(|s| s.current) {
            let start = autotemplate::search(
                &model.plm,
                &template,
                &verbalizer,
                &rows,
                SearchOptions {
                    rounds: 0,
                    max_rows: options.max_rows,
                    seed: options.seed,
                    ..Default::default()
                },
                &mut |_, _| true,
            )?;
            suggestions.extend(start.into_iter().map(|c| TemplateSuggestion {
                current: true,
                template: c.template,
                accuracy: c.accuracy,
                mean_log_prob: c.mean_log_prob,
                origin: "the current template".into(),
            }));
            suggestions.sort_by(|a, b| {
                b.accuracy.total_cmp(&a.accuracy).then(b.mean_log_prob.total_cmp(&a.mean_log_prob))
            });
        }
        Ok(TemplateSuggestions {
            method: SuggestionMethod::T5,
            rows: rows.len().min(options.max_rows) as i64,
            scorer: model.spec.clone(),
            generator: Some(spec.map_or_else(|| model.spec.clone(), str::to_string)),
            suggestions,
        })
    }
}
