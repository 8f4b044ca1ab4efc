//! Suspicious labels: rows whose label the model contradicts with confidence, found the
//! confident-learning way (Northcutt, Jiang & Chuang, 2021, "Confident Learning: Estimating
//! Uncertainty in Dataset Labels", <https://arxiv.org/abs/1911.00068>; cleanlab's
//! `find_label_issues`).
//!
//! 1. **Out-of-fold probabilities**: the labelled rows' sentence embeddings are split into
//!    [`SuspicionOptions::folds`] stratified folds; a probe (multinomial logistic regression) trained
//!    on the other folds gives each row's class probabilities, so no row is judged by a probe that
//!    saw its own label.
//! 2. **Per-class thresholds**: `t_j` is the mean probability of class `j` over the rows labelled `j`
//!    (how confident the probe is, on average, in a class when it is right about it).
//! 3. **Contradictions**: a row labelled `i` is suspicious when another class `j` is the most
//!    probable; it is *confident* when `p_j` also reaches `j`'s threshold (`p_j ≥ t_j`, the
//!    confident-learning rule). Suspects are ranked by `p_j − p_i`, the evidence against the given
//!    label, largest first; the confident ones are the likeliest errors, the others are worth a look
//!    (on 500 AG News rows with 20 labels changed, `scripts/suspicious-check.sh`, every changed label
//!    was a suspect; the confident ones held about two thirds of them).
//!
//! [`find`] is the arithmetic on features and labels; [`suspicious_labels`] runs it on a
//! project's label set with a loaded model.

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::plm::Plm;

/// How the out-of-fold probe is trained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SuspicionOptions {
    /// Folds of the cross-validation (each row is judged by a probe trained on the others).
    pub folds: u32,
    /// Seed of the fold assignment.
    pub seed: u64,
}

impl Default for SuspicionOptions {
    fn default() -> Self {
        Self { folds: 5, seed: 42 }
    }
}

/// One row whose label the probe contradicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Suspect {
    /// Index into the rows given to [`find`].
    pub index: u32,
    /// The class it is labelled with.
    pub given: u32,
    /// The class the probe gives it.
    pub suggested: u32,
    /// Out-of-fold probability of the given class.
    pub p_given: f32,
    /// Out-of-fold probability of the suggested class.
    pub p_suggested: f32,
    /// The suggested class's threshold (`t_j`).
    pub threshold: f32,
    /// Whether `p_suggested` reaches the threshold (confident learning's label issue).
    pub confident: bool,
}

/// What [`find`] found: every row's out-of-fold probabilities, the per-class thresholds and the
/// suspects, most suspicious first.
#[derive(Debug, Clone)]
pub struct Suspicion {
    pub probs: Vec<Vec<f32>>,
    pub thresholds: Vec<f32>,
    pub suspects: Vec<Suspect>,
}

/// Training steps of each fold's probe (full-batch Adam on L2-normalised embeddings).
const STEPS: usize = 300;
const LEARNING_RATE: f64 = 0.05;
/// L2 penalty on the probe's weights.
const L2: f64 = 1e-3;

/// Class probabilities of `test` rows from a probe trained on `train` rows (features `[n, d]`).
fn probe_probabilities(train: &Tensor, labels: &[usize], classes: usize, test: &Tensor) -> Result<Tensor> {
    let (n, d) = train.dims2()?;
    let device = train.device();
    let targets: Vec<f32> =
        labels.iter().flat_map(|&l| (0..classes).map(move |c| f32::from(u8::from(c == l)))).collect();
    let y = Tensor::from_vec(targets, (n, classes), device)?;
    let mut w = Tensor::zeros((d, classes), DType::F32, device)?;
    let mut b = Tensor::zeros(classes, DType::F32, device)?;
    let (mut mw, mut vw) = (w.zeros_like()?, w.zeros_like()?);
    let (mut mb, mut vb) = (b.zeros_like()?, b.zeros_like()?);
    let (beta1, beta2, eps) = (0.9f64, 0.999f64, 1e-8f64);
    let xt = train.t()?.contiguous()?;
    for step in 1..=STEPS {
        let p = candle_nn::ops::softmax_last_dim(&train.matmul(&w)?.broadcast_add(&b)?)?;
        let err = ((p - &y)? / n as f64)?;
        let gw = (xt.matmul(&err)? + (&w * L2)?)?;
        let gb = err.sum(0)?;
        let c1 = 1.0 - beta1.powi(step as i32);
        let c2 = 1.0 - beta2.powi(step as i32);
        mw = ((mw * beta1)? + (&gw * (1.0 - beta1))?)?;
        vw = ((vw * beta2)? + (gw.sqr()? * (1.0 - beta2))?)?;
        mb = ((mb * beta1)? + (&gb * (1.0 - beta1))?)?;
        vb = ((vb * beta2)? + (gb.sqr()? * (1.0 - beta2))?)?;
        w = (w - adam_step(&mw, &vw, c1, c2, eps)?)?;
        b = (b - adam_step(&mb, &vb, c1, c2, eps)?)?;
    }
    Ok(candle_nn::ops::softmax_last_dim(&test.matmul(&w)?.broadcast_add(&b)?)?)
}

/// Adam's update `lr · m̂ / (√v̂ + ε)` from the moment estimates and their bias corrections.
fn adam_step(m: &Tensor, v: &Tensor, c1: f64, c2: f64, eps: f64) -> candle_core::Result<Tensor> {
    let denom = ((v / c2)?.sqrt()? + eps)?;
    ((m / c1)? / denom)? * LEARNING_RATE
}

/// Out-of-fold class probabilities of every row, then the confident-learning suspects (see the
/// module documentation). `features` are one vector per row, `labels` class indices below
/// `classes`; every class needs at least two rows, and there must be at least as many rows as
/// folds.
pub fn find(
    features: &[Vec<f32>],
    labels: &[usize],
    classes: usize,
    options: SuspicionOptions,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Suspicion> {
    let k = options.folds as usize;
    if k < 2 {
        return Err(Error::invalid("suspicious labels need at least 2 folds"));
    }
    if features.len() != labels.len() || features.is_empty() {
        return Err(Error::invalid("suspicious labels need one feature vector per labelled row"));
    }
    if let Some(&bad) = labels.iter().find(|&&l| l >= classes) {
        return Err(Error::invalid(format!("label index {bad} is not one of the {classes} classes")));
    }
    let d = features[0].len();
    if features.iter().any(|f| f.len() != d) {
        return Err(Error::invalid("suspicious labels: feature vectors of different lengths"));
    }
    let fold = crate::data::stratified_folds(labels, classes, k, options.seed);
    let device = Device::Cpu;
    let mut probs = vec![Vec::new(); labels.len()];
    for f in 0..k {
        if !progress(f, k) {
            return Err(Error::Cancelled);
        }
        let (train, test): (Vec<usize>, Vec<usize>) = (0..labels.len()).partition(|&i| fold[i] != f);
        if test.is_empty() {
            continue;
        }
        let stack = |rows: &[usize]| {
            let flat: Vec<f32> = rows.iter().flat_map(|&i| features[i].iter().copied()).collect();
            Tensor::from_vec(flat, (rows.len(), d), &device)
        };
        let train_labels: Vec<usize> = train.iter().map(|&i| labels[i]).collect();
        let p =
            probe_probabilities(&stack(&train)?, &train_labels, classes, &stack(&test)?)?.to_vec2::<f32>()?;
        for (row, p) in test.into_iter().zip(p) {
            probs[row] = p;
        }
    }
    progress(k, k);
    let (thresholds, suspects) = contradictions(&probs, labels, classes);
    Ok(Suspicion { probs, thresholds, suspects })
}

/// The per-class thresholds and the suspects, most suspicious first, from out-of-fold
/// probabilities (steps 2 and 3 of the module documentation). A class no row is labelled with
/// gets threshold 1 (it can still be suggested only by a certain probe).
pub fn contradictions(probs: &[Vec<f32>], labels: &[usize], classes: usize) -> (Vec<f32>, Vec<Suspect>) {
    let mut sum = vec![0f64; classes];
    let mut count = vec![0usize; classes];
    for (p, &l) in probs.iter().zip(labels) {
        sum[l] += f64::from(p[l]);
        count[l] += 1;
    }
    let thresholds: Vec<f32> =
        (0..classes).map(|c| if count[c] == 0 { 1.0 } else { (sum[c] / count[c] as f64) as f32 }).collect();
    let mut suspects: Vec<Suspect> = probs
        .iter()
        .zip(labels)
        .enumerate()
        .filter_map(|(i, (p, &given))| {
            let (best, &p_best) =
                p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))?;
            (best != given).then(|| Suspect {
                index: i as u32,
                given: given as u32,
                suggested: best as u32,
                p_given: p[given],
                p_suggested: p_best,
                threshold: thresholds[best],
                confident: p_best >= thresholds[best],
            })
        })
        .collect();
    suspects.sort_by(|a, b| {
        (b.p_suggested - b.p_given).total_cmp(&(a.p_suggested - a.p_given)).then(a.index.cmp(&b.index))
    });
    (thresholds, suspects)
}

/// The text a row is embedded by: `text_a`, and `text_b` after it for pairs.
pub fn row_text(example: &crate::data::Example) -> String {
    match &example.text_b {
        Some(b) => format!("{} {b}", example.text_a),
        None => example.text_a.clone(),
    }
}

/// [`find`] on labelled rows with `plm`'s sentence embeddings (mean-pooled, as the probe
/// strategy's features). `classes` names the label set's classes; rows whose label is not one of
/// them are refused. `progress(done, total)` counts the embedding batches and then the folds.
pub fn suspicious_labels(
    plm: &Plm,
    rows: &[crate::data::Example],
    classes: &[String],
    options: SuspicionOptions,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Suspicion> {
    crate::classify::check_labels(rows, classes)?;
    let labels: Vec<usize> = rows
        .iter()
        .map(|r| r.label.as_deref().and_then(|l| classes.iter().position(|c| c == l)))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            Error::invalid("every row needs a label to be checked; label them, or leave them out")
        })?;
    let k = options.folds as usize;
    let mut per_class = vec![0usize; classes.len()];
    labels.iter().for_each(|&l| per_class[l] += 1);
    let used: Vec<usize> = (0..classes.len()).filter(|&c| per_class[c] > 0).collect();
    if used.len() < 2 || used.iter().any(|&c| per_class[c] < 2) || rows.len() < 2 * k {
        let counts: Vec<String> = used.iter().map(|&c| format!("{} {}", per_class[c], classes[c])).collect();
        return Err(Error::precondition(format!(
            "checking labels needs at least two labelled classes with 2 rows each and {} rows in all (for {k} \
             folds); there are {} ({}) — label more rows first",
            2 * k,
            rows.len(),
            counts.join(", ")
        )));
    }
    let texts: Vec<String> = rows.iter().map(row_text).collect();
    let mut features = Vec::with_capacity(texts.len());
    const CHUNK: usize = 64;
    let total = texts.len().div_ceil(CHUNK);
    for (n, chunk) in texts.chunks(CHUNK).enumerate() {
        if !progress(n, total + k) {
            return Err(Error::Cancelled);
        }
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        features.extend(plm.sentence_embeddings(&refs)?);
    }
    find(&features, &labels, classes.len(), options, &mut |f, _| progress(total + f, total + k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SplitMix64;

    /// Hand-computed: class 0's rows average p0 = (0.9 + 0.8 + 0.3) / 3 = 2/3, class 1's average
    /// p1 = (0.7 + 0.6 + 0.1 + 0.45) / 4 = 0.4625. Row 2 (labelled 0, p1 = 0.7 ≥ 0.4625), row 5
    /// (labelled 1, p0 = 0.9 ≥ 2/3) and row 6 (labelled 1, p0 = 0.55 < 2/3: not confident) are
    /// suspects, ranked by their evidence 0.8, 0.4, 0.1.
    #[test]
    fn contradictions_follow_the_per_class_thresholds() {
        let probs = [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.3, 0.7], [0.4, 0.6], [0.9, 0.1], [0.55, 0.45]];
        let probs: Vec<Vec<f32>> = probs.iter().map(|p| p.to_vec()).collect();
        let labels = [0, 0, 0, 1, 1, 1, 1];
        let (t, s) = contradictions(&probs, &labels, 2);
        assert!((t[0] - 2.0 / 3.0).abs() < 1e-6 && (t[1] - 0.4625).abs() < 1e-6, "{t:?}");
        let found: Vec<(u32, u32, u32, bool)> =
            s.iter().map(|s| (s.index, s.given, s.suggested, s.confident)).collect();
        assert_eq!(found, vec![(5, 1, 0, true), (2, 0, 1, true), (6, 1, 0, false)]);
    }

    /// Two separable clusters, with two labels flipped: both flips are the top suspects.
    #[test]
    fn flipped_labels_in_separable_clusters_are_found() {
        let mut rng = SplitMix64::new(3);
        let mut features = Vec::new();
        let mut labels = Vec::new();
        for i in 0..40 {
            let class = i % 2;
            let centre = if class == 0 { 1.0 } else { -1.0 };
            features.push(
                (0..8)
                    .map(|d| if d == 0 { centre } else { 0.0 } + (rng.next_f64() as f32 - 0.5) * 0.6)
                    .collect(),
            );
            labels.push(class);
        }
        labels[4] = 1;
        labels[7] = 0;
        let s = find(&features, &labels, 2, SuspicionOptions::default(), &mut |_, _| true).unwrap();
        let top: Vec<u32> = s.suspects.iter().take(2).map(|s| s.index).collect();
        assert!(top.contains(&4) && top.contains(&7), "{:?}", s.suspects);
        assert!(
            s.suspects.iter().filter(|s| s.confident).count() <= 4,
            "few confident false alarms: {:?}",
            s.suspects
        );
    }

    /// On a tiny random checkpoint, rows made of two disjoint vocabularies embed apart; two rows
    /// labelled with the other vocabulary's class are the two most suspicious, confidently.
    #[test]
    fn a_model_finds_labels_that_contradict_their_text() {
        let dir = std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/parity/bert"
        ));
        let plm = Plm::load(&dir, &Device::Cpu).unwrap();
        let words = [["the", "a", "is", "it"], ["was", "and", "of", "to"]];
        let mut rows = Vec::new();
        for i in 0..24 {
            let class = i % 2;
            let text: Vec<&str> = (0..6).map(|k| words[class][(i + k * 3) % 4]).collect();
            let label = if i == 4 || i == 9 { 1 - class } else { class };
            let mut row = crate::data::Example::new(format!("r{i}"), text.join(" "));
            row.label = Some(["pos", "neg"][label].to_string());
            rows.push(row);
        }
        let classes = vec!["pos".to_string(), "neg".to_string()];
        let s =
            suspicious_labels(&plm, &rows, &classes, SuspicionOptions::default(), &mut |_, _| true).unwrap();
        let top: Vec<&str> = s.suspects.iter().take(2).map(|s| rows[s.index as usize].id.as_str()).collect();
        assert!(top.contains(&"r4") && top.contains(&"r9"), "{:?}", s.suspects);
        assert!(s.suspects[..2].iter().all(|s| s.confident), "{:?}", s.suspects);
        let few =
            suspicious_labels(&plm, &rows[..6], &classes, SuspicionOptions::default(), &mut |_, _| true);
        assert!(few.unwrap_err().to_string().contains("label more rows"), "too few rows for 5 folds");
    }

    #[test]
    fn bad_input_is_refused() {
        let one = vec![vec![0.0f32; 2]; 4];
        type Case<'a> = (&'a [Vec<f32>], &'a [usize], u32, &'a str);
        let cases: [Case; 3] = [
            (&one, &[0, 1, 0, 1], 1, "2 folds"),
            (&one[..3], &[0, 1, 0, 1], 2, "one feature vector"),
            (&one, &[0, 1, 0, 2], 2, "not one of"),
        ];
        for (features, labels, k, want) in cases {
            let err = find(features, labels, 2, SuspicionOptions { folds: k, seed: 1 }, &mut |_, _| true)
                .unwrap_err();
            assert!(err.to_string().contains(want), "{err}");
        }
    }
}
