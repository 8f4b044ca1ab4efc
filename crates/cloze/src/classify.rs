//! Zero-shot prompt classification: render every row, run the model in length-sorted batches with
//! dynamic padding, apply the MLM head only at the mask and only to the label words' rows, and
//! turn those logits into class probabilities with the verbalizer.

use candle_core::{Device, Tensor};

use crate::error::{Error, Result};
use crate::plm::Plm;
use crate::template::{FieldSource, Rendered, Renderer, Segment, Template};
use crate::verbalizer::{BoundVerbalizer, Verbalizer};

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
    /// The most probable class.
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
    calibration: Option<Vec<f32>>,
    options: ClassifyOptions,
}

/// Whether label words follow a space in the template (so `Ġgreat`, not `great`, for byte-level BPE).
pub(crate) fn space_before_mask(template: &Template) -> bool {
    let segs = template.segments();
    match segs.iter().position(|s| matches!(s, Segment::Mask)) {
        Some(0) | None => false,
        Some(i) => match &segs[i - 1] {
            Segment::Text(t) => t.ends_with(char::is_whitespace),
            _ => false,
        },
    }
}

impl<'a> Classifier<'a> {
    pub fn new(
        plm: &'a Plm,
        template: Template,
        verbalizer: &Verbalizer,
        options: ClassifyOptions,
    ) -> Result<Self> {
        template.check_classification()?;
        plm.mlm_head()?;
        if options.batch_size == 0 {
            return Err(Error::invalid("batch size must be at least 1"));
        }
        let leading_space = plm.tokenizer().space_sensitive() && space_before_mask(&template);
        let bound = BoundVerbalizer::bind(verbalizer, plm.tokenizer(), leading_space)?;
        let label_ids = Tensor::new(bound.token_ids.as_slice(), plm.device())?;
        let renderer = Renderer::new(plm.tokenizer(), plm.max_len());
        let mut c =
            Self { plm, template, verbalizer: bound, renderer, label_ids, calibration: None, options };
        if c.options.calibrate {
            c.calibration = Some(c.content_free_probs()?);
        }
        Ok(c)
    }

    pub fn verbalizer(&self) -> &BoundVerbalizer {
        &self.verbalizer
    }

    pub fn template(&self) -> &Template {
        &self.template
    }

    /// The label-word probabilities of the content-free inputs, averaged.
    pub fn calibration(&self) -> Option<&[f32]> {
        self.calibration.as_deref()
    }

    fn content_free_probs(&self) -> Result<Vec<f32>> {
        let names: Vec<String> = self.template.fields().map(|f| f.name.clone()).collect();
        let rendered = self
            .options
            .content_free
            .iter()
            .map(|value| {
                let row: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), value.as_str())).collect();
                self.renderer.render(&self.template, row.as_slice())
            })
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&Rendered> = rendered.iter().collect();
        let (logits, _) = self.mask_logits(&refs, false)?;
        let mut mean = vec![0f32; self.verbalizer.words.len()];
        for row in &logits {
            for (m, p) in mean.iter_mut().zip(self.verbalizer.word_probs(row)) {
                *m += p / logits.len() as f32;
            }
        }
        Ok(mean)
    }

    /// Renders one row (for previews and tests).
    pub fn render<F: FieldSource + ?Sized>(&self, row: &F) -> Result<Rendered> {
        self.renderer.render(&self.template, row)
    }

    /// Label-token logits at the mask for a batch of rendered rows (padded to the longest), and,
    /// when `full`, the whole-vocabulary logits too.
    pub fn mask_logits(&self, rows: &[&Rendered], full: bool) -> Result<(Vec<Vec<f32>>, Option<Tensor>)> {
        let device: &Device = self.plm.device();
        let b = rows.len();
        let t = rows.iter().map(|r| r.ids.len()).max().unwrap_or(0);
        let pad = self.plm.tokenizer().special().pad.1;
        let mut ids = vec![pad; b * t];
        let mut mask = vec![0u32; b * t];
        let mut gather = Vec::with_capacity(b);
        for (i, r) in rows.iter().enumerate() {
            ids[i * t..i * t + r.ids.len()].copy_from_slice(&r.ids);
            mask[i * t..i * t + r.ids.len()].iter_mut().for_each(|m| *m = 1);
            let pos =
                *r.mask_positions.first().ok_or_else(|| Error::invalid("a rendered row has no mask"))?;
            gather.push((i * t + pos) as u32);
        }
        let ids = Tensor::from_vec(ids, (b, t), device)?;
        let mask = Tensor::from_vec(mask, (b, t), device)?;
        let hidden = self.plm.encode(&self.plm.embed_tokens(&ids)?, &mask)?;
        let h = hidden.dim(2)?;
        let at_mask =
            hidden.reshape((b * t, h))?.index_select(&Tensor::new(gather.as_slice(), device)?, 0)?;
        let head = self.plm.mlm_head()?;
        let transformed = head.transform(&at_mask)?;
        let logits = head.logits_for(&transformed, &self.label_ids)?.to_vec2::<f32>()?;
        let full_logits = if full { Some(head.logits_full(&transformed)?) } else { None };
        Ok((logits, full_logits))
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
        // Longest first, so a batch too large for memory fails at once, and padding is minimal.
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(rendered[i].ids.len()));
        let mut out: Vec<Option<Prediction>> = vec![None; rows.len()];
        let classes: Vec<String> =
            self.verbalizer.verbalizer.classes.iter().map(|c| c.name.clone()).collect();
        let mut done = 0;
        for chunk in order.chunks(self.options.batch_size) {
            let batch: Vec<&Rendered> = chunk.iter().map(|&i| &rendered[i]).collect();
            let (logits, full) = self.mask_logits(&batch, self.options.top_k > 0)?;
            let top = match full {
                Some(f) => Some(self.top_words(&f)?),
                None => None,
            };
            for (k, &i) in chunk.iter().enumerate() {
                let probs = self.verbalizer.class_probs(&logits[k], self.calibration.as_deref());
                let best = probs
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(c, _)| c)
                    .unwrap_or_default();
                let row = &rows[i];
                out[i] = Some(Prediction {
                    id: row.field("id").map(String::from).unwrap_or_else(|| (i + 1).to_string()),
                    label: row.field("label").map(String::from),
                    predicted: classes[best].clone(),
                    probs: classes.iter().cloned().zip(probs).collect(),
                    label_word_logits: self
                        .verbalizer
                        .words
                        .iter()
                        .map(|w| (w.word.clone(), w.columns.iter().map(|&c| logits[k][c]).collect()))
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

/// Accuracy, macro-F1 and the confusion matrix of predictions against their labels.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Evaluation {
    pub rows: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub classes: Vec<String>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    /// (precision, recall, f1, support) per class.
    pub per_class: Vec<(f64, f64, f64, usize)>,
}

impl Evaluation {
    /// Evaluates the predictions that have a label. `None` when no row has one; an error when a
    /// label is not one of the classes (it names both sets, so the verbalizer can be fixed).
    pub fn of(predictions: &[Prediction], classes: &[&str]) -> Result<Option<Self>> {
        let labelled: Vec<&Prediction> = predictions.iter().filter(|p| p.label.is_some()).collect();
        if labelled.is_empty() {
            return Ok(None);
        }
        let c = classes.len();
        let mut confusion = vec![vec![0usize; c]; c];
        let mut unknown = std::collections::BTreeSet::new();
        for p in &labelled {
            let label = p.label.as_deref().unwrap_or_default();
            let Some(t) = classes.iter().position(|x| *x == label) else {
                unknown.insert(label.to_string());
                continue;
            };
            let pr = classes.iter().position(|x| *x == p.predicted).expect("predicted is a class");
            confusion[t][pr] += 1;
        }
        if !unknown.is_empty() {
            let shown: Vec<String> = unknown.iter().take(10).map(|s| format!("{s:?}")).collect();
            return Err(Error::invalid(format!(
                "labels in the data ({}) are not classes of the verbalizer ({}); name the verbalizer's classes \
                 by the label values, e.g. {{{}}}",
                shown.join(", "),
                classes.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", "),
                unknown.iter().take(2).map(|s| format!("{s:?}: [\"word\"]")).collect::<Vec<_>>().join(", ")
            )));
        }
        let rows = labelled.len();
        let correct: usize = (0..c).map(|i| confusion[i][i]).sum();
        let per_class: Vec<(f64, f64, f64, usize)> = (0..c)
            .map(|i| {
                let tp = confusion[i][i] as f64;
                let predicted: usize = (0..c).map(|t| confusion[t][i]).sum();
                let support: usize = confusion[i].iter().sum();
                let precision = if predicted == 0 { 0.0 } else { tp / predicted as f64 };
                let recall = if support == 0 { 0.0 } else { tp / support as f64 };
                let f1 = if precision + recall == 0.0 {
                    0.0
                } else {
                    2.0 * precision * recall / (precision + recall)
                };
                (precision, recall, f1, support)
            })
            .collect();
        let macro_f1 = per_class.iter().map(|p| p.2).sum::<f64>() / c as f64;
        Ok(Some(Self {
            rows,
            accuracy: correct as f64 / rows as f64,
            macro_f1,
            classes: classes.iter().map(|s| s.to_string()).collect(),
            confusion,
            per_class,
        }))
    }
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
    fn evaluation_by_hand() {
        // true a: a a b ; true b: b a ; true c: c
        let preds =
            [pred("a", "a"), pred("a", "a"), pred("a", "b"), pred("b", "b"), pred("b", "a"), pred("c", "c")];
        let e = Evaluation::of(&preds, &["a", "b", "c"]).unwrap().unwrap();
        assert_eq!(e.confusion, vec![vec![2, 1, 0], vec![1, 1, 0], vec![0, 0, 1]]);
        assert!((e.accuracy - 4.0 / 6.0).abs() < 1e-12);
        // a: p 2/3 r 2/3 f 2/3; b: p 1/2 r 1/2 f 1/2; c: 1
        assert!((e.macro_f1 - (2.0 / 3.0 + 0.5 + 1.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn unknown_labels_are_named() {
        let msg = Evaluation::of(&[pred("1", "pos")], &["neg", "pos"]).unwrap_err().to_string();
        assert!(msg.contains("\"1\"") && msg.contains("\"neg\", \"pos\""), "{msg}");
        assert_eq!(Evaluation::of(&[], &["a", "b"]).unwrap(), None);
    }
}
