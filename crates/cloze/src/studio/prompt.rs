//! Prompt studio: templates as chips and back, rendering previews with tokens, verbalizer checks,
//! live zero-shot probabilities, evaluation on labelled rows, label-word suggestions, saving.
//! A template with `{demo}` is filled as `cloze classify` fills it ([`crate::demo`]: the default
//! demonstrations and seed, drawn from the labelled rows of the label set with the verbalizer's
//! classes, never the row itself), and the preview shows what they take of the token budget.

use super::data::label_set;
use super::views::*;
use super::{LoadedModel, Studio};
use crate::classify::{Classifier, ClassifyOptions, evaluate, input_budget, space_before_mask};
use crate::data::Example;
use crate::demo::{self, DemoBudget, DemoConfig, Demonstrations};
use crate::error::{Error, Result};
use crate::export::charts;
use crate::store::{LabelSet, Store};
use crate::template::{Field, PostProcess, Rendered, Renderer, Segment, SoftTokens, Template};
use crate::verbalizer::{BoundVerbalizer, Verbalizer, search};

/// Labelled rows per class used to suggest label words.
const SUGGEST_ROWS: usize = 32;
/// Rows scored per batch in evaluations.
const EVAL_BATCH: usize = 32;

fn segment_view(s: &Segment) -> SegmentView {
    match s {
        Segment::Text(text) => SegmentView::Text { text: text.clone() },
        Segment::Field(f) => SegmentView::Field {
            name: f.name.clone(),
            shortenable: f.shortenable,
            post: f.post.option().map(String::from),
        },
        Segment::Mask => SegmentView::Mask,
        Segment::Soft(s) => SegmentView::Soft { count: s.count as u32, init: s.init.clone() },
    }
}

fn segment(v: &SegmentView) -> Result<Segment> {
    Ok(match v {
        SegmentView::Text { text } => Segment::Text(text.clone()),
        SegmentView::Field { name, shortenable, post } => Segment::Field(Field {
            name: name.trim().to_string(),
            shortenable: *shortenable,
            post: match post.as_deref().filter(|p| !p.is_empty()) {
                None => PostProcess::None,
                Some(p) => PostProcess::from_option(p).ok_or_else(|| {
                    Error::invalid(format!(
                        "post-processing {p:?} is unknown; use lower, strip, period, cap or decap"
                    ))
                })?,
            },
        }),
        SegmentView::Mask => Segment::Mask,
        SegmentView::Soft { count, init } => match init.as_deref().filter(|i| !i.is_empty()) {
            Some(text) => Segment::Soft(SoftTokens::from_text(text)),
            None => Segment::Soft(SoftTokens::random((*count).max(1) as usize)),
        },
    })
}

fn template_view(t: &Template) -> TemplateView {
    let mut fields: Vec<String> = Vec::new();
    for f in t.fields() {
        if !fields.contains(&f.name) {
            fields.push(f.name.clone());
        }
    }
    TemplateView {
        text: t.segments().iter().map(ToString::to_string).collect(),
        openprompt: t.to_openprompt(),
        segments: t.segments().iter().map(segment_view).collect(),
        mask_count: t.mask_count() as u32,
        fields,
    }
}

/// The verbalizer, checked as [`Verbalizer::new`] checks one read from a file.
pub(super) fn checked_verbalizer(v: &Verbalizer) -> Result<Verbalizer> {
    let classes = v
        .classes
        .iter()
        .map(|c| crate::verbalizer::Class {
            name: c.name.trim().to_string(),
            words: c.words.iter().map(|w| w.trim().to_string()).filter(|w| !w.is_empty()).collect(),
        })
        .collect();
    Ok(Verbalizer::new(classes)?.with_multi_token(v.multi_token).with_aggregate(v.aggregate))
}

/// The prompt's template as the loaded model reads it (wrapped in its chat template when asked).
fn model_template(m: &LoadedModel, prompt: &PromptSpec) -> Result<Template> {
    prompt.chat.apply(&m.plm, &Template::parse(&prompt.template)?)
}

fn classifier<'a>(m: &'a LoadedModel, prompt: &PromptSpec) -> Result<Classifier<'a>> {
    let template = model_template(m, prompt)?;
    let verbalizer = checked_verbalizer(&prompt.verbalizer)?;
    let options =
        ClassifyOptions { calibrate: prompt.calibrate, batch_size: EVAL_BATCH, ..Default::default() };
    Classifier::new(&m.plm, template, &verbalizer, options)
}

/// The verbalizer bound to the loaded model's tokenizer as the classifier binds it.
fn bound_verbalizer(m: &LoadedModel, template: &Template, prompt: &PromptSpec) -> Result<BoundVerbalizer> {
    let verbalizer = checked_verbalizer(&prompt.verbalizer)?;
    let tokenizer = m.plm.tokenizer();
    let leading = if tokenizer.space_sensitive() { space_before_mask(template) } else { "" };
    BoundVerbalizer::bind(&verbalizer.for_kind(m.plm.kind()), tokenizer, leading)
}

/// The label set of `row_ids`' dataset whose classes are all among the verbalizer's: the labels
/// shown beside predictions, and where `{demo}` draws its demonstrations from.
fn matching_label_set(store: &Store, row_ids: &[i64], prompt: &PromptSpec) -> Result<Option<LabelSet>> {
    let names: Vec<&str> = prompt.verbalizer.classes.iter().map(|c| c.name.trim()).collect();
    label_set_with_classes(store, row_ids, &names)
}

/// The first label set of the rows' dataset whose classes are all among `names`.
pub(super) fn label_set_with_classes(
    store: &Store,
    row_ids: &[i64],
    names: &[&str],
) -> Result<Option<LabelSet>> {
    let Some(&first) = row_ids.first() else { return Ok(None) };
    let dataset = store.row(first)?.dataset_id;
    Ok(store.label_sets(dataset)?.into_iter().find(|s| s.classes.iter().all(|c| names.contains(&c.as_str()))))
}

/// Fills `{demo}` in `rows` (when the template has it) as `cloze classify --demos` does: the default
/// demonstrations per class and seed, drawn from `set`'s labelled rows; returns their budget and
/// how many each row got.
fn fill_demos(
    store: &Store,
    m: &LoadedModel,
    prompt: &PromptSpec,
    set: Option<&LabelSet>,
    rows: &mut [Example],
) -> Result<Option<(DemoBudget, Vec<usize>)>> {
    let template = Template::parse(&prompt.template)?;
    if !demo::uses_demos(&template) {
        return Ok(None);
    }
    let set = set.ok_or_else(|| {
        Error::precondition(
            "the template has {demo}, but the dataset has no label set with the verbalizer's classes to draw \
             demonstrations from; label some rows of each class (or name the classes as the label set does), \
             or remove {demo}",
        )
    })?;
    let pool = store.labelled_examples(set.id)?;
    let verbalizer = checked_verbalizer(&prompt.verbalizer)?;
    let demos = Demonstrations::new(
        &m.plm,
        &template,
        &verbalizer,
        &pool,
        DemoConfig::default(),
        demo::DEFAULT_SEED,
    )?;
    let counts = demos.fill_counted(&m.plm, rows)?;
    Ok(Some((demos.budget(&m.plm)?, counts)))
}

/// What `{demo}`'s `count` demonstrations take of a rendered row with `budget` tokens.
fn demo_budget_view(
    m: &LoadedModel,
    b: &DemoBudget,
    count: usize,
    row: &Example,
    r: &Rendered,
    budget: usize,
) -> Result<DemoBudgetView> {
    let text = row.field(demo::DEMO_FIELD).unwrap_or_default();
    let tokens = if text.is_empty() { 0 } else { m.plm.tokenizer().encode_plain(text)?.len() };
    let whole = r.ids.len() + r.truncated;
    let rest = whole.saturating_sub(tokens);
    Ok(DemoBudgetView {
        count: count as i64,
        tokens_each: b.tokens_each,
        tokens: tokens as i64,
        fit: b.fitting(budget.saturating_sub(rest)).min(count) as i64,
        left: budget as i64 - whole as i64,
        rest: rest as i64,
        summary: b.summary(),
    })
}

/// Rows by id, each with its live label in `label_set_id` as [`Example::label`].
pub(super) fn examples(
    store: &Store,
    row_ids: &[i64],
    label_set_id: Option<i64>,
) -> Result<Vec<(i64, Example)>> {
    row_ids
        .iter()
        .map(|&id| {
            let mut ex = store.row(id)?.example;
            if let Some(set) = label_set_id {
                ex.label = store.live_label(set, id)?.map(|(v, _)| v);
            }
            Ok((id, ex))
        })
        .collect()
}

pub(super) fn class_probs(probs: &[(String, f32)]) -> Vec<ClassProb> {
    probs.iter().map(|(class, p)| ClassProb { class: class.clone(), prob: *p as f64 }).collect()
}

/// A vocabulary token as a person reads it: the byte-level BPE space marker (`Ġ`) and
/// SentencePiece's (`▁`) shown as `·`.
fn display_token(token: &str) -> String {
    token.replace(['Ġ', '▁'], "·")
}

impl Studio {
    /// Parses a template in either syntax.
    pub fn parse_template(&self, source: &str) -> Result<TemplateView> {
        Ok(template_view(&Template::parse(source)?))
    }

    /// The template the builder's chips make.
    pub fn template_from_segments(&self, segments: &[SegmentView]) -> Result<TemplateView> {
        let segments = segments.iter().map(segment).collect::<Result<Vec<_>>>()?;
        Ok(template_view(&Template::new(segments)?))
    }

    /// Renders rows with the loaded model's tokenizer: the text, each token with the kind of the
    /// segment it came from, the length against the model's budget and what truncation removed.
    /// With the chat template on, the text is the whole conversation the model reads. The budget is
    /// the one scoring renders with ([`input_budget`]), so the cuts shown are the ones scoring reads
    /// (the model's whole input while the verbalizer cannot be bound yet). With `{demo}`, the rows
    /// are filled as scoring fills them and each preview says what the demonstrations take.
    pub fn preview_prompt(&self, prompt: &PromptSpec, row_ids: &[i64]) -> Result<Vec<RenderPreview>> {
        let model = self.model()?;
        let template = model_template(&model, prompt)?;
        let (rows, demos) = self.with_store(|store| {
            let mut rows = examples(store, row_ids, None)?;
            let set = matching_label_set(store, row_ids, prompt)?;
            let mut plain: Vec<Example> = rows.iter().map(|(_, e)| e.clone()).collect();
            let demos = fill_demos(store, &model, prompt, set.as_ref(), &mut plain)?;
            for ((_, row), filled) in rows.iter_mut().zip(plain) {
                *row = filled;
            }
            Ok((rows, demos))
        })?;
        let tokenizer = model.plm.tokenizer();
        let budget = match bound_verbalizer(&model, &template, prompt) {
            Ok(bound) => input_budget(&model.plm, &bound),
            Err(_) => model.plm.max_len(),
        };
        let renderer = Renderer::new(tokenizer, budget);
        rows.iter()
            .enumerate()
            .map(|(i, (id, ex))| {
                let r = renderer.render(&template, ex)?;
                let tokens = r
                    .ids
                    .iter()
                    .zip(&r.segments)
                    .enumerate()
                    .map(|(k, (&tid, seg))| {
                        let text = tokenizer
                            .id_to_token(tid)
                            .map_or_else(|| format!("[{tid}]"), |t| display_token(&t));
                        let (kind, field) = match seg.map(|k| &template.segments()[k]) {
                            None => (TokenKind::Special, None),
                            Some(Segment::Text(_)) => (TokenKind::Text, None),
                            Some(Segment::Field(f)) => (TokenKind::Field, Some(f.name.clone())),
                            Some(Segment::Mask) => (TokenKind::Mask, None),
                            Some(Segment::Soft(_)) => (TokenKind::Soft, None),
                        };
                        TokenView { text, kind, field, cut_before: r.cuts.contains(&k) }
                    })
                    .collect();
                let demos = match &demos {
                    Some((b, counts)) => Some(demo_budget_view(&model, b, counts[i], ex, &r, budget)?),
                    None => None,
                };
                Ok(RenderPreview {
                    row_id: *id,
                    text: r.text.clone(),
                    tokens,
                    length: r.ids.len() as i64,
                    budget: budget as i64,
                    truncated: r.truncated as i64,
                    demos,
                })
            })
            .collect()
    }

    /// How the loaded model's tokenizer splits each label word (with the template's leading space).
    pub fn check_verbalizer(&self, prompt: &PromptSpec) -> Result<VerbalizerCheck> {
        let model = self.model()?;
        let template = model_template(&model, prompt)?;
        let verbalizer = checked_verbalizer(&prompt.verbalizer)?;
        let tokenizer = model.plm.tokenizer();
        let bound = bound_verbalizer(&model, &template, prompt)?;
        let classes = verbalizer
            .classes
            .iter()
            .enumerate()
            .map(|(ci, c)| ClassWords {
                class: c.name.clone(),
                words: bound
                    .words
                    .iter()
                    .filter(|w| w.class == ci)
                    .map(|w| WordView {
                        word: w.word.clone(),
                        tokens: w
                            .ids
                            .iter()
                            .map(|&i| display_token(&tokenizer.id_to_token(i).unwrap_or_default()))
                            .collect(),
                        multi_token: w.ids.len() > 1,
                    })
                    .collect(),
            })
            .collect();
        Ok(VerbalizerCheck { classes, warnings: bound.warnings })
    }

    /// Class probabilities for a few rows (the live preview).
    pub fn zero_shot(&self, prompt: &PromptSpec, row_ids: &[i64]) -> Result<Vec<PredictionView>> {
        let model = self.model()?;
        let classifier = classifier(&model, prompt)?;
        let (ids, rows) = self.with_store(|store| {
            // The label shown beside a prediction: the row's label in a set with the verbalizer's classes.
            let set = matching_label_set(store, row_ids, prompt)?;
            let (ids, mut rows): (Vec<i64>, Vec<Example>) =
                examples(store, row_ids, set.as_ref().map(|s| s.id))?.into_iter().unzip();
            fill_demos(store, &model, prompt, set.as_ref(), &mut rows)?;
            Ok((ids, rows))
        })?;
        let predictions = classifier.classify(&rows, &mut |_, _| true)?;
        Ok(ids
            .into_iter()
            .zip(predictions)
            .map(|(row_id, p)| PredictionView {
                row_id,
                predicted: p.predicted,
                probs: class_probs(&p.probs),
                label: p.label,
            })
            .collect())
    }

    /// Accuracy, macro-F1 and the confusion matrix of the prompt on the label set's labelled rows.
    pub fn evaluate_prompt(
        &self,
        prompt: &PromptSpec,
        label_set_id: i64,
        progress: ProgressFn,
    ) -> Result<EvaluationView> {
        let model = self.model()?;
        let classifier = classifier(&model, prompt)?;
        let store = Store::open(self.project_file()?)?;
        let set = label_set(&store, label_set_id)?;
        let mut rows = store.labelled_examples(label_set_id)?;
        if rows.is_empty() {
            return Err(Error::precondition(format!(
                "label set {:?} has no labelled rows yet; label some rows (or import a labelled file) to evaluate",
                set.name
            )));
        }
        let names = classifier.verbalizer().verbalizer.class_names();
        crate::classify::check_labels(&rows, &names)?;
        fill_demos(&store, &model, prompt, Some(&set), &mut rows)?;
        let total = rows.len() as u64;
        let predictions = classifier
            .classify(&rows, &mut |done, _| progress(Progress::new("evaluate", done as u64, Some(total))))?;
        let eval = evaluate(&predictions, &names)?
            .ok_or_else(|| Error::precondition("no labelled rows to evaluate"))?;
        let confusion: Vec<Vec<i64>> =
            eval.confusion.iter().map(|r| r.iter().map(|&c| c as i64).collect()).collect();
        Ok(EvaluationView {
            rows: eval.rows as i64,
            accuracy: eval.accuracy,
            macro_f1: eval.macro_f1,
            confusion_svg: charts::confusion_matrix(
                "Confusion matrix",
                &eval.classes,
                &eval.confusion,
                (480, 420),
            )?,
            classes: eval.classes.clone(),
            confusion,
            per_class: eval
                .classes
                .iter()
                .zip(&eval.per_class)
                .map(|(class, s)| ClassMetrics {
                    class: class.clone(),
                    precision: s.precision,
                    recall: s.recall,
                    f1: s.f1,
                    support: s.support as i64,
                })
                .collect(),
        })
    }

    /// The vocabulary words most typical of each class at the mask ([`search::search`] over up to
    /// 32 of each class's labelled rows).
    pub fn suggest_label_words(
        &self,
        prompt: &PromptSpec,
        label_set_id: i64,
        per_class: usize,
    ) -> Result<Vec<WordSuggestions>> {
        let model = self.model()?;
        let template = Template::parse(&prompt.template)?;
        let (classes, rows) = self.with_store(|store| {
            let set = label_set(store, label_set_id)?;
            let mut rows = Vec::new();
            for class in &set.classes {
                let ids = store.rows_labelled_as(label_set_id, class, SUGGEST_ROWS)?;
                rows.extend(
                    examples(store, &ids, None)?
                        .into_iter()
                        .map(|(_, e)| Example { label: Some(class.clone()), ..e }),
                );
            }
            Ok((set.classes, rows))
        })?;
        let found = search::search(&model.plm, &template, &classes, &rows, per_class)?;
        Ok(found
            .into_iter()
            .map(|(class, words)| WordSuggestions {
                class,
                words: words.into_iter().map(|w| WordScore { word: w.word, score: w.score }).collect(),
            })
            .collect())
    }

    /// Saves the template and the verbalizer under `name` as new versions.
    pub fn save_prompt(&self, name: &str, prompt: &PromptSpec) -> Result<SavedPrompt> {
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::invalid("give the prompt a name, e.g. sentiment"));
        }
        let template = Template::parse(&prompt.template)?;
        let verbalizer = checked_verbalizer(&prompt.verbalizer)?;
        self.with_store(|store| {
            Ok(SavedPrompt {
                template: store.save_template_with_chat(name, &template, &prompt.chat)?,
                verbalizer: store.save_verbalizer(name, &verbalizer)?,
            })
        })
    }
}
