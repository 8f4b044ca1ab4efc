//! Classification metrics — accuracy, precision, recall, F1 and support per class, macro-F1 and the
//! confusion matrix — with one definition for every report: `cloze classify`, `cloze tune`'s dev
//! evaluations, the prompt studio's evaluation and the runs the app compares.
//!
//! Every class of the label set counts, as scikit-learn's
//! `f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0)` counts them: a class
//! with no true and no predicted row has F1 = 0 and still divides the macro average, so the same
//! predictions get the same macro-F1 whichever rows happen to be in a dev set.

use crate::error::{Error, Result};

/// Precision, recall, F1 and support of one class (0 where a ratio has no denominator).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// How many rows truly are of this class.
    pub support: usize,
}

/// The metrics of a set of predictions against their labels.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Metrics {
    pub rows: usize,
    pub accuracy: f64,
    /// Mean F1 over every class of the label set.
    pub macro_f1: f64,
    pub classes: Vec<String>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    /// In class order.
    pub per_class: Vec<ClassScores>,
}

impl Metrics {
    /// From `(true, predicted)` class indices into `classes`. An index out of range is an error
    /// naming it.
    pub fn from_pairs<S: AsRef<str>>(pairs: &[(usize, usize)], classes: &[S]) -> Result<Self> {
        let c = classes.len();
        let mut confusion = vec![vec![0usize; c]; c];
        for (row, &(t, p)) in pairs.iter().enumerate() {
            if t >= c || p >= c {
                return Err(Error::invalid(format!(
                    "prediction {}: class index ({t}, {p}) is outside the {c} classes",
                    row + 1
                )));
            }
            confusion[t][p] += 1;
        }
        let correct: usize = (0..c).map(|i| confusion[i][i]).sum();
        let ratio = |num: usize, den: usize| if den == 0 { 0.0 } else { num as f64 / den as f64 };
        let per_class: Vec<ClassScores> = (0..c)
            .map(|i| {
                let tp = confusion[i][i];
                let predicted: usize = (0..c).map(|t| confusion[t][i]).sum();
                let support: usize = confusion[i].iter().sum();
                let (precision, recall) = (ratio(tp, predicted), ratio(tp, support));
                let f1 = if precision + recall == 0.0 {
                    0.0
                } else {
                    2.0 * precision * recall / (precision + recall)
                };
                ClassScores { precision, recall, f1, support }
            })
            .collect();
        let macro_f1 = if c == 0 { 0.0 } else { per_class.iter().map(|s| s.f1).sum::<f64>() / c as f64 };
        Ok(Self {
            rows: pairs.len(),
            accuracy: ratio(correct, pairs.len()),
            macro_f1,
            classes: classes.iter().map(|c| c.as_ref().to_string()).collect(),
            confusion,
            per_class,
        })
    }

    /// From label and predicted class names. A label that is not a class is an error naming the
    /// labels found and the classes, so the verbalizer can be fixed.
    pub fn from_labels<'a, S: AsRef<str>>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        classes: &[S],
    ) -> Result<Self> {
        let index = |name: &str| classes.iter().position(|c| c.as_ref() == name);
        let mut unknown = std::collections::BTreeSet::new();
        let mut indices = Vec::new();
        for (label, predicted) in pairs {
            match (index(label), index(predicted)) {
                (Some(t), Some(p)) => indices.push((t, p)),
                (None, _) => {
                    unknown.insert(label.to_string());
                }
                (_, None) => {
                    unknown.insert(predicted.to_string());
                }
            }
        }
        if !unknown.is_empty() {
            return Err(Error::invalid(unknown_labels_message(&unknown, classes)));
        }
        Self::from_pairs(&indices, classes)
    }
}

/// "labels in the data ("x", …) are not classes of the verbalizer (…); name the verbalizer's
/// classes by the label values, e.g. …": what to say of labels no class has.
pub fn unknown_labels_message<S: AsRef<str>>(
    unknown: &std::collections::BTreeSet<String>,
    classes: &[S],
) -> String {
    let shown: Vec<String> = unknown.iter().take(10).map(|s| format!("{s:?}")).collect();
    format!(
        "labels in the data ({}{}) are not classes of the verbalizer ({}); name the verbalizer's classes \
         by the label values, e.g. {{{}}}",
        shown.join(", "),
        if unknown.len() > 10 { format!(" and {} more", unknown.len() - 10) } else { String::new() },
        classes.iter().map(|s| format!("{:?}", s.as_ref())).collect::<Vec<_>>().join(", "),
        unknown.iter().take(2).map(|s| format!("{s:?}: [\"word\"]")).collect::<Vec<_>>().join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    /// Figures from scikit-learn 1.9.1 on the same case:
    /// `y_true = [0,0,0,1,1,1,1,2,0,1]`, `y_pred = [0,1,0,1,1,0,2,2,2,1]`, `labels = [0,1,2,3]`:
    /// `accuracy_score`, `f1_score(..., labels=labels, average="macro")`,
    /// `precision_recall_fscore_support(..., labels=labels, zero_division=0)`, `confusion_matrix`.
    /// Class 3 never occurs; class 2 is predicted more often than it is true.
    #[test]
    fn agrees_with_scikit_learn() {
        let y_true = [0, 0, 0, 1, 1, 1, 1, 2, 0, 1];
        let y_pred = [0, 1, 0, 1, 1, 0, 2, 2, 2, 1];
        let pairs: Vec<(usize, usize)> = y_true.into_iter().zip(y_pred).collect();
        let m = Metrics::from_pairs(&pairs, &names(&["a", "b", "c", "d"])).unwrap();
        let close =
            |got: f64, want: f64, what: &str| assert!((got - want).abs() < 1e-12, "{what}: {got} vs {want}");
        close(m.accuracy, 0.6, "accuracy");
        close(m.macro_f1, 0.43452380952380953, "macro-F1");
        let want = [
            (0.6666666666666666, 0.5, 0.5714285714285714, 4),
            (0.75, 0.6, 0.6666666666666666, 5),
            (0.3333333333333333, 1.0, 0.5, 1),
            (0.0, 0.0, 0.0, 0),
        ];
        for (i, (s, (p, r, f, n))) in m.per_class.iter().zip(want).enumerate() {
            close(s.precision, p, &format!("precision {i}"));
            close(s.recall, r, &format!("recall {i}"));
            close(s.f1, f, &format!("f1 {i}"));
            assert_eq!(s.support, n, "support {i}");
        }
        assert_eq!(m.confusion, vec![vec![2, 1, 1, 0], vec![1, 3, 1, 0], vec![0, 0, 1, 0], vec![0, 0, 0, 0]]);
        assert_eq!(m.rows, 10);
    }

    /// (label/predicted pairs, (accuracy, macro-F1) or a part of the error)
    type LabelCase<'a> = (&'a [(&'a str, &'a str)], Result<(f64, f64), &'a str>);

    #[test]
    fn by_label_names() {
        let classes = names(&["a", "b", "c"]);
        let cases: &[LabelCase] = &[
            // true a: a a b ; true b: b a ; true c: c
            (
                &[("a", "a"), ("a", "a"), ("a", "b"), ("b", "b"), ("b", "a"), ("c", "c")],
                Ok((4.0 / 6.0, (2.0 / 3.0 + 0.5 + 1.0) / 3.0)),
            ),
            // c absent from labels and predictions: it still counts, as 0.
            (&[("a", "a"), ("b", "b")], Ok((1.0, 2.0 / 3.0))),
            (&[("1", "a")], Err("\"1\"")),
            (&[], Ok((0.0, 0.0))),
        ];
        for (pairs, want) in cases {
            let got = Metrics::from_labels(pairs.iter().copied(), &classes);
            match (got, want) {
                (Ok(m), Ok((acc, f1))) => {
                    assert!(
                        (m.accuracy - acc).abs() < 1e-12 && (m.macro_f1 - f1).abs() < 1e-12,
                        "{pairs:?}: {m:?}"
                    )
                }
                (Err(e), Err(part)) => {
                    let msg = e.to_string();
                    assert!(msg.contains(part) && msg.contains("\"a\", \"b\", \"c\""), "{msg}");
                }
                (got, want) => panic!("{pairs:?}: {got:?} vs {want:?}"),
            }
        }
        assert!(Metrics::from_pairs(&[(0, 3)], &classes).is_err());
    }
}
