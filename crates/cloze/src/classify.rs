//! Zero-shot prompt classification: render every row, run the model in length-sorted batches with
//! dynamic padding, apply the MLM head only at the mask and only to the label words' rows, and
//! turn those logits into class probabilities with the verbalizer.

use candle_core::Tensor;

use crate::data::Example;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::plm::{Plm, batch};
use crate::template::{FieldSource, Rendered, Renderer, Segment, Template, mask_batch};
use crate::verbalizer::{BoundVerbalizer, Calibration, Verbalizer};

/// Options for [`Classifier`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassifyOptions {
    /// Rows per forward pass.
    pub batch_size: usize,
    /// Contextual calibration against content-free inputs.
    pub calibrate: bool,
    /// The content-free field values used for calibration (every field of the template is set to
    /// each in turn, and the word probabilities are averaged).
    pub content_free: Vec<String>,
    /// Also report the `top_k` most likely vocabulary tokens at the mask (0 = no; costs a full
    /// vocabulary product per row).
    pub top_k: usize,
}

impl Default for ClassifyOptions {
    fn default() -> Self {
        Self { batch_size: 32, calibrate: false, content_free: vec!["N/A".into(), String::new()], top_k: 0 }
    }
}

/// One row's result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Prediction {
    pub id: String,
    /// The row's label, when the data has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The most probable class; on an exact tie the first of the tied classes in the
    /// verbalizer's order (as transformers' `argmax`).
    pub predicted: String,
    /// Probability per class, in the verbalizer's class order.
    pub probs: Vec<(String, f32)>,
    /// Raw logits at the mask of each label word's tokens.
    pub label_word_logits: Vec<(String, Vec<f32>)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub top_words: Vec<(String, f32)>,
    /// Tokens removed from shortenable fields to fit the model.
    #[serde(skip_serializing_if = "is_zero")]
    pub truncated: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A prompt classifier: a model, a template with one `{mask}` and a verbalizer bound to the
/// model's tokenizer.
#[derive(Debug)]
pub struct Classifier<'a> {
    plm: &'a Plm,
    template: Template,
    verbalizer: BoundVerbalizer,
    renderer: Renderer<'a>,
    label_ids: Tensor,
    calibration: Option<Calibration>,
    options: ClassifyOptions,
}

/// Whether label words follow a space in the template (so `Ġgreat`, not `great`, for byte-level BPE).
pub(crate) fn space_before_mask(template: &Template) -> &str {
    let segs = template.segments();
    match segs.iter().position(|s| matches!(s, Segment::Mask)) {
        Some(0) | None => "",
        Some(i) => match &segs[i - 1] {
            // A line break before the mask (a chat template's assistant header) is the word's own
            // first token; spaces read as one leading space, as the tokenizer writes words.
            Segment::Text(t) => {
                let ws = &t[t.trim_end().len()..];
                if ws.contains('\n') {
                    ws
                } else if ws.is_empty() {
                    ""
                } else {
                    " "
                }
            }
            _ => "",
        },
    }
}

/// The tokens a rendered row may take on `plm` with `verbalizer`: the model's longest input less
/// the room a decoder's label word needs after the text before `{mask}`
/// ([`BoundVerbalizer::continuation_room`]). The classifier renders with it, and so does the prompt
/// studio's preview, so the preview's cuts are the ones scoring reads.
pub fn input_budget(plm: &Plm, verbalizer: &BoundVerbalizer) -> usize {
    plm.max_len().saturating_sub(verbalizer.continuation_room(plm.kind()))
}

impl<'a> Classifier<'a> {
    pub fn new(
        plm: &'a Plm,
        template: Template,
        verbalizer: &Verbalizer,
        options: ClassifyOptions,
    ) -> Result<Self> {
        template.check_classification()?;
        plm.lm_head()?;
        if options.batch_size == 0 {
            return Err(Error::invalid("batch size must be at least 1"));
        }
        let leading_space = if plm.tokenizer().space_sensitive() { space_before_mask(&template) } else { "" };
        let bound = BoundVerbalizer::bind(&verbalizer.for_kind(plm.kind()), plm.tokenizer(), leading_space)?;
        let label_ids = Tensor::new(bound.token_ids.as_slice(), plm.device())?;
        let renderer = Renderer::new(plm.tokenizer(), input_budget(plm, &bound));
        let mut c =
            Self { plm, template, verbalizer: bound, renderer, label_ids, calibration: None, options };
        if c.options.calibrate {
            c.calibration = Some(c.calibrate()?);
        }
        Ok(c)
    }

    pub fn verbalizer(&self) -> &BoundVerbalizer {
        &self.verbalizer
    }

    pub fn template(&self) -> &Template {
        &self.template
    }

    /// The contextual calibration in use (`options.calibrate`).
    pub fn calibration(&self) -> Option<&Calibration> {
        self.calibration.as_ref()
    }

    /// Scores the content-free inputs and averages their label-word probabilities.
    fn calibrate(&self) -> Result<Calibration> {
        let rendered = Calibration::content_free_rows(&self.template, &self.options.content_free)
            .iter()
            .map(|fields| {
                let row: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                self.renderer.render(&self.template, row.as_slice())
            })
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&Rendered> = rendered.iter().collect();
        let (words, _, _) = self.word_scores(&refs, false)?;
        Ok(Calibration::from_word_scores(&words))
    }

    /// Renders one row (for previews and tests).
    pub fn render<F: FieldSource + ?Sized>(&self, row: &F) -> Result<Rendered> {
        self.renderer.render(&self.template, row)
    }

    /// Label-token logits at the mask for a batch of rendered rows (padded to the longest), and,
    /// when `full`, the whole-vocabulary logits too.
    pub fn mask_logits(&self, rows: &[&Rendered], full: bool) -> Result<(Vec<Vec<f32>>, Option<Tensor>)> {
        let (batch, at) = mask_batch(self.plm, rows)?;
        let at_mask = self.plm.encode_at(&self.plm.embed_tokens(batch.ids())?, batch.attention(), &at)?;
        let head = self.plm.lm_head()?;
        let transformed = head.transform(&at_mask)?;
        let logits = head.logits_for(&transformed, &self.label_ids)?.to_vec2::<f32>()?;
        let full_logits = if full { Some(head.logits_full(&transformed)?) } else { None };
        Ok((logits, full_logits))
    }

    /// Word scores of a batch of rendered rows (one per bound word, in its order), each word's
    /// token scores (logits at the mask; a decoder's log-probabilities of the word's tokens), and,
    /// when `full`, the whole-vocabulary logits where the word is read.
    #[allow(clippy::type_complexity)]
    pub fn word_scores(
        &self,
        rows: &[&Rendered],
        full: bool,
    ) -> Result<(Vec<Vec<f32>>, Vec<Vec<Vec<f32>>>, Option<Tensor>)> {
        if !self.verbalizer.verbalizer.multi_token.reads_sequence(self.plm.kind()) {
            let (logits, full) = self.mask_logits(rows, full)?;
            let tokens = logits
                .iter()
                .map(|row| {
                    self.verbalizer
                        .words
                        .iter()
                        .map(|w| w.columns.iter().map(|&c| row[c]).collect())
                        .collect()
                })
                .collect();
            let words = logits.iter().map(|row| self.verbalizer.word_logits(row)).collect();
            return Ok((words, tokens, full));
        }
        let embed = |_: &[&Rendered], batch: &crate::plm::Batch| self.plm.embed_tokens(batch.ids());
        let scores = crate::scoring::continuation_scores(self.plm, &self.verbalizer, rows, &embed)?;
        let words = scores.words.to_dtype(candle_core::DType::F32)?.to_vec2::<f32>()?;
        let full = if full { self.mask_logits(rows, true)?.1 } else { None };
        Ok((words, scores.tokens, full))
    }

    /// Classifies `rows`. `progress(done, total)` is called after each batch; returning `false`
    /// cancels with [`Error::Cancelled`].
    pub fn classify<F: FieldSource>(
        &self,
        rows: &[F],
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Vec<Prediction>> {
        let rendered = rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                self.renderer.render(&self.template, row).map_err(|e| match e {
                    Error::Template { position, message } => {
                        Error::Template { position, message: format!("row {}: {message}", i + 1) }
                    }
                    other => other,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let lengths: Vec<usize> = rendered.iter().map(|r| r.ids.len()).collect();
        let mut out: Vec<Option<Prediction>> = vec![None; rows.len()];
        let classes: Vec<String> =
            self.verbalizer.verbalizer.classes.iter().map(|c| c.name.clone()).collect();
        let mut done = 0;
        for chunk in batch::longest_first(&lengths, self.options.batch_size) {
            let group: Vec<&Rendered> = chunk.iter().map(|&i| &rendered[i]).collect();
            let (words, tokens, full) = self.word_scores(&group, self.options.top_k > 0)?;
            let top = match full {
                Some(f) => Some(self.top_words(&f)?),
                None => None,
            };
            for (k, &i) in chunk.iter().enumerate() {
                let probs = self.verbalizer.class_probs_from_words(&words[k], self.calibration.as_ref());
                let row = &rows[i];
                if let Some(what) = non_finite(&words[k]).or_else(|| non_finite(&probs)) {
                    return Err(self.non_finite_error(what, i, row.field("id")));
                }
                let best = crate::verbalizer::argmax(&probs);
                out[i] = Some(Prediction {
                    id: row.field("id").map(String::from).unwrap_or_else(|| (i + 1).to_string()),
                    label: row.field("label").map(String::from),
                    predicted: classes[best].clone(),
                    probs: classes.iter().cloned().zip(probs).collect(),
                    label_word_logits: self
                        .verbalizer
                        .words
                        .iter()
                        .zip(&tokens[k])
                        .map(|(w, t)| (w.word.clone(), t.clone()))
                        .collect(),
                    top_words: top.as_ref().map(|t| t[k].clone()).unwrap_or_default(),
                    truncated: rendered[i].truncated,
                });
            }
            done += chunk.len();
            if !progress(done, rows.len()) {
                return Err(Error::Cancelled);
            }
        }
        Ok(out.into_iter().map(|p| p.expect("every row is predicted")).collect())
    }

    /// The error for row `i` (0-based) whose scores came out NaN or infinite: names the first
    /// non-finite weight when there is one (the load refuses those, but a model can be changed
    /// in memory by tuning), or says the values overflow.
    fn non_finite_error(&self, what: &str, i: usize, id: Option<&str>) -> Error {
        let weights = self.plm.named_weights();
        let bad =
            crate::plm::checks::first_non_finite(weights.iter().map(|(n, t)| (n.as_str(), t))).ok().flatten();
        let cause = match bad {
            Some(name) => format!("its weights contain non-finite values (e.g. `{name}`)"),
            None => "its weights are finite but overflow on this input (values too large for f32)".into(),
        };
        Error::Model {
            path: self.plm.dir().to_path_buf(),
            message: format!(
                "the model produced {what} for row {}{}; {cause} — re-download or re-export it",
                i + 1,
                id.map(|id| format!(" (id {id:?})")).unwrap_or_default()
            ),
            source: None,
        }
    }

    fn top_words(&self, full: &Tensor) -> Result<Vec<Vec<(String, f32)>>> {
        let rows = full.to_vec2::<f32>()?;
        let tok = self.plm.tokenizer();
        Ok(rows
            .into_iter()
            .map(|row| {
                let probs = crate::verbalizer::softmax(&row);
                let mut idx: Vec<usize> = (0..probs.len()).collect();
                let k = self.options.top_k.min(idx.len());
                idx.select_nth_unstable_by(k.saturating_sub(1), |a, b| probs[*b].total_cmp(&probs[*a]));
                idx.truncate(k);
                idx.sort_by(|a, b| probs[*b].total_cmp(&probs[*a]));
                idx.into_iter()
                    .map(|i| (tok.id_to_token(i as u32).unwrap_or_else(|| format!("#{i}")), probs[i]))
                    .collect()
            })
            .collect())
    }
}

/// "NaN" or "an infinite value" when `xs` holds one.
fn non_finite(xs: &[f32]) -> Option<&'static str> {
    if xs.iter().any(|x| x.is_nan()) {
        Some("NaN")
    } else if xs.iter().any(|x| x.is_infinite()) {
        Some("an infinite value")
    } else {
        None
    }
}

/// Checked before any scoring: every label in `rows` is one of the verbalizer's `classes`, or an
/// error naming the first row whose label is not, and what to do (a mismatch found after scoring a
/// whole file costs the user the scoring).
pub fn check_labels<S: AsRef<str>>(rows: &[Example], classes: &[S]) -> Result<()> {
    let mut unknown = std::collections::BTreeSet::new();
    let mut first = None;
    for row in rows {
        if let Some(label) = row.label.as_deref()
            && !classes.iter().any(|c| c.as_ref() == label)
        {
            first.get_or_insert(row);
            unknown.insert(label.to_string());
        }
    }
    match first {
        None => Ok(()),
        Some(row) => Err(Error::invalid(format!(
            "row {}: {}",
            row.id,
            crate::metrics::unknown_labels_message(&unknown, classes)
        ))),
    }
}

/// The metrics of the predictions that have a label, over the verbalizer's `classes`; `None` when
/// no row has one, an error when a label is not one of the classes.
pub fn evaluate<S: AsRef<str>>(predictions: &[Prediction], classes: &[S]) -> Result<Option<Metrics>> {
    let labelled: Vec<(&str, &str)> =
        predictions.iter().filter_map(|p| Some((p.label.as_deref()?, p.predicted.as_str()))).collect();
    if labelled.is_empty() {
        return Ok(None);
    }
    Metrics::from_labels(labelled, classes).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pred(label: &str, predicted: &str) -> Prediction {
        Prediction {
            id: String::new(),
            label: Some(label.into()),
            predicted: predicted.into(),
            probs: vec![],
            label_word_logits: vec![],
            top_words: vec![],
            truncated: 0,
        }
    }

    #[test]
    fn evaluates_labelled_rows_only() {
        let mut unlabelled = pred("a", "b");
        unlabelled.label = None;
        let preds = [pred("a", "a"), pred("b", "a"), unlabelled];
        let m = evaluate(&preds, &["a", "b"]).unwrap().unwrap();
        assert_eq!((m.rows, m.confusion.clone()), (2, vec![vec![1, 0], vec![1, 0]]));
        let msg = evaluate(&[pred("1", "pos")], &["neg", "pos"]).unwrap_err().to_string();
        assert!(msg.contains("\"1\"") && msg.contains("\"neg\", \"pos\""), "{msg}");
        assert_eq!(evaluate(&preds[2..], &["a", "b"]).unwrap(), None);
    }

    #[test]
    fn labels_are_checked_against_the_classes_before_scoring() {
        let row = |id: &str, label: Option<&str>| {
            let mut e = Example::new(id, "text");
            e.label = label.map(str::to_string);
            e
        };
        let cases: [(&[Example], Option<&str>); 4] = [
            (&[row("1", Some("neg")), row("2", None), row("3", Some("pos"))], None),
            (&[row("1", None)], None),
            (
                &[row("1", Some("neg")), row("7", Some("0")), row("9", Some("1"))],
                Some("row 7: labels in the data (\"0\", \"1\")"),
            ),
            (
                &[row("4", Some("Neg"))],
                Some(
                    "row 4: labels in the data (\"Neg\") are not classes of the verbalizer (\"neg\", \"pos\")",
                ),
            ),
        ];
        for (rows, want) in cases {
            let got = check_labels(rows, &["neg", "pos"]);
            match want {
                None => assert!(got.is_ok(), "{got:?}"),
                Some(w) => assert!(got.unwrap_err().to_string().starts_with(w), "{w}"),
            }
        }
    }
}
