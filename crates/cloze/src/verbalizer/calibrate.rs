//! Contextual calibration (Zhao et al. 2021, "Calibrate Before Use",
//! <https://arxiv.org/abs/2102.09690>): a prompt's bias towards some label words is measured on
//! content-free inputs (every field of the template set to "N/A", then to "", …), and each row's
//! word probabilities are divided by those before they are aggregated into classes.
//!
//! [`Calibration::content_free_rows`] builds the inputs, the caller scores them with the model, and
//! [`Calibration::from_token_logits`] averages their word probabilities;
//! [`super::BoundVerbalizer::class_probs`] applies it.

use super::BoundVerbalizer;
use crate::template::Template;

/// The mean label-word probabilities of the content-free inputs, in the bound verbalizer's word
/// order.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    word_probs: Vec<f32>,
}

impl Calibration {
    /// One row per content-free value, with every field of `template` set to that value.
    pub fn content_free_rows(template: &Template, values: &[String]) -> Vec<Vec<(String, String)>> {
        let names: Vec<String> = template.fields().map(|f| f.name.clone()).collect();
        values.iter().map(|v| names.iter().map(|n| (n.clone(), v.clone())).collect()).collect()
    }

    /// Averages the word probabilities of the content-free rows' label-token logits.
    pub fn from_token_logits(verbalizer: &BoundVerbalizer, rows: &[Vec<f32>]) -> Self {
        let mut mean = vec![0f32; verbalizer.words.len()];
        for row in rows {
            for (m, p) in mean.iter_mut().zip(verbalizer.word_probs(row)) {
                *m += p / rows.len() as f32;
            }
        }
        Self { word_probs: mean }
    }

    /// Averages the word probabilities of the content-free rows' word scores (one per bound word).
    pub fn from_word_scores(rows: &[Vec<f32>]) -> Self {
        let n = rows.first().map_or(0, Vec::len);
        let mut mean = vec![0f32; n];
        for row in rows {
            for (m, p) in mean.iter_mut().zip(super::softmax(row)) {
                *m += p / rows.len() as f32;
            }
        }
        Self { word_probs: mean }
    }

    /// From word probabilities measured elsewhere (one per bound label word).
    pub fn from_word_probs(word_probs: Vec<f32>) -> Self {
        Self { word_probs }
    }

    /// The averaged content-free probability of each label word.
    pub fn word_probs(&self) -> &[f32] {
        &self.word_probs
    }

    /// Divides `probs` (one per label word) by the content-free probabilities and renormalises.
    pub fn apply(&self, probs: &mut [f32]) {
        for (pi, ci) in probs.iter_mut().zip(&self.word_probs) {
            *pi /= ci.max(1e-12);
        }
        let sum: f32 = probs.iter().sum();
        probs.iter_mut().for_each(|x| *x /= sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_free_rows_set_every_field() {
        let t = Template::parse("{text_a} / {text_b} It was {mask}.").unwrap();
        let rows = Calibration::content_free_rows(&t, &["N/A".into(), String::new()]);
        let want: Vec<Vec<(String, String)>> = vec![
            vec![("text_a".into(), "N/A".into()), ("text_b".into(), "N/A".into())],
            vec![("text_a".into(), String::new()), ("text_b".into(), String::new())],
        ];
        assert_eq!(rows, want);
    }

    #[test]
    fn apply_divides_and_renormalises() {
        let cases: &[(&[f32], &[f32], &[f32])] = &[
            (&[0.25, 0.75], &[0.25, 0.75], &[0.5, 0.5]),
            (&[0.5, 0.5], &[0.5, 0.5], &[0.5, 0.5]),
            (&[0.2, 0.8], &[0.8, 0.2], &[1.0 / 17.0, 16.0 / 17.0]),
        ];
        for (probs, cf, want) in cases {
            let mut p = probs.to_vec();
            Calibration::from_word_probs(cf.to_vec()).apply(&mut p);
            for (g, w) in p.iter().zip(*want) {
                assert!((g - w).abs() < 1e-6, "{probs:?} / {cf:?}: got {p:?}, want {want:?}");
            }
        }
    }
}
