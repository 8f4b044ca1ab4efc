//! Contrastive sentence fine-tuning, SetFit's method (Tunstall et al., "Efficient Few-Shot Learning
//! Without Prompts", 2022; the `setfit` 1.x library): the feature-extractor paradigm with the
//! encoder itself trained first.
//!
//! 1. Pairs are drawn from the labelled rows ([`sample_pairs`]): every unordered pair of rows, the
//!    row with itself included (SetFit's `shuffle_combinations` with replacement), in a seeded
//!    random order; a pair of one class is positive (target 1), of two classes negative (target
//!    0). SetFit's default, "oversampling", repeats the rarer kind until there are as many of
//!    each; "undersampling" cuts the commoner kind down, "unique" keeps each pair once, and
//!    `iterations` takes `iterations × rows` of each kind. The pairs alternate positive, negative.
//! 2. The whole encoder trains on the pairs, in batches, with the cosine-similarity loss
//!    ([`cosine_similarity_loss`], sentence-transformers' `CosineSimilarityLoss`): the mean over
//!    the batch of `(cos(u, v) − target)²` for the two rows' pooled embeddings `u`, `v`, each side of
//!    the batch encoded as its own padded batch, with the model's dropout on. The loop is the
//!    engine's ([`super::trainer`]): AdamW, warmup and linear decay, clipping; the pairs are
//!    reshuffled each epoch.
//! 3. A logistic regression is fitted on the tuned encoder's pooled, L2-normalised embeddings of
//!    the training rows ([`fit_head`]) — scikit-learn's `LogisticRegression()` (C = 1) as SetFit
//!    uses it, fitted exactly, or with the penalty chosen by cross-validation.
//!
//! With `render_template` the rows are rendered through the run's template before they are
//! embedded (for training, the head and classifying), so a prompt such as "Review: {text_a}" can
//! help here too.
//!
//! A run saves the tuned encoder as `model/` and the head as `probe.safetensors` (a probe with
//! `probe.normalise` set), so it classifies as a probe run does; `head.json` records the head's
//! penalty and the pair counts.

use candle_core::{DType, Tensor, Var};
use serde::{Deserialize, Serialize};

use super::config::Pooling;
use super::probe::{self, Probe};
use super::trainer::{DevPrediction, EvalMetrics, Objective};
use crate::data::Example;
use crate::error::{Error, Result};
use crate::logreg::{self, LogisticRegression};
use crate::plm::Plm;
use crate::template::Renderer;
use crate::template::Template;

/// The most training rows the pair sampler takes: it lists every unordered pair of rows once
/// (6000 rows: 18 million pairs, 144 MB).
pub const MAX_ROWS: usize = 6000;

/// How many positive and negative pairs are drawn (SetFit's `sampling_strategy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum PairSampling {
    /// As many of each kind as the commoner kind has unique pairs, the rarer kind repeated.
    #[default]
    Oversampling,
    /// As many of each kind as the rarer kind has unique pairs.
    Undersampling,
    /// Every unique pair once.
    Unique,
}

impl PairSampling {
    pub const ALL: [PairSampling; 3] =
        [PairSampling::Oversampling, PairSampling::Undersampling, PairSampling::Unique];

    pub fn name(self) -> &'static str {
        match self {
            PairSampling::Oversampling => "oversampling",
            PairSampling::Undersampling => "undersampling",
            PairSampling::Unique => "unique",
        }
    }
}

impl std::str::FromStr for PairSampling {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        PairSampling::ALL.into_iter().find(|x| x.name() == s).ok_or_else(|| {
            Error::invalid(format!("unknown pair sampling {s:?}; use oversampling, undersampling or unique"))
        })
    }
}

/// The classifier fitted on the tuned embeddings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum ContrastiveHead {
    /// scikit-learn's `LogisticRegression()` as SetFit fits it: C = 1 (a penalty of ½‖w‖² beside
    /// the summed log-loss), binomial for two classes, multinomial for more; the bias is not
    /// penalised.
    #[default]
    Sklearn,
    /// The L2 penalty chosen from [`logreg::L2_GRID`] by stratified cross-validation on the
    /// training rows (at most 5 folds; fewer rows than 2 per class fall back to `Sklearn`).
    CrossValidated,
}

impl ContrastiveHead {
    pub const ALL: [ContrastiveHead; 2] = [ContrastiveHead::Sklearn, ContrastiveHead::CrossValidated];

    pub fn name(self) -> &'static str {
        match self {
            ContrastiveHead::Sklearn => "sklearn",
            ContrastiveHead::CrossValidated => "cross-validated",
        }
    }
}

impl std::str::FromStr for ContrastiveHead {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        ContrastiveHead::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| Error::invalid(format!("unknown head {s:?}; use sklearn or cross-validated")))
    }
}

/// The contrastive strategy's options (kept in the run's `config.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ContrastiveOptions {
    pub sampling: PairSampling,
    /// SetFit's `num_iterations`: `iterations × rows` positive and as many negative pairs,
    /// whatever `sampling` says.
    pub iterations: Option<u32>,
    /// At most this many unique pairs are drawn, half of each kind (SetFit's `max_pairs`).
    pub max_pairs: Option<u32>,
    /// Render the rows through the run's template before embedding them.
    pub render_template: bool,
    pub head: ContrastiveHead,
}

impl ContrastiveOptions {
    /// Checks the options, and the template when the rows are rendered through it: it must have
    /// no `{soft}` vectors (nothing trains them here) and no `{demo}`.
    pub fn validate(&self, template: Option<&str>) -> Result<()> {
        if self.iterations == Some(0) {
            return Err(Error::invalid("0 iterations draws no pairs; give at least 1, e.g. --iterations 20"));
        }
        if let Some(m) = self.max_pairs
            && m < 2
        {
            return Err(Error::invalid(format!(
                "at most {m} pairs leaves no room for a positive and a negative pair; give at least 2"
            )));
        }
        if self.render_template {
            let source = template.ok_or_else(|| {
                Error::invalid("rendering the rows through the template needs a template; add one, e.g. \"Review: {text_a}\"")
            })?;
            let t = Template::parse(source)?;
            if t.soft_token_count() > 0 {
                return Err(Error::invalid(format!(
                    "the template {source:?} has {{soft}} vectors, which contrastive fine-tuning does not train; \
                     remove them"
                )));
            }
            if crate::demo::uses_demos(&t) {
                return Err(Error::invalid(format!(
                    "the template {source:?} has {{demo}}, which contrastive fine-tuning does not fill; remove it"
                )));
            }
        }
        Ok(())
    }
}

/// One training pair: two training rows and whether they share their class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    pub a: u32,
    pub b: u32,
    pub same: bool,
}

/// How many pairs a run trained on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairCounts {
    /// Unique positive pairs drawn (before over- or undersampling).
    pub unique_positive: u32,
    pub unique_negative: u32,
    /// Pairs trained on, per epoch.
    pub positive: u32,
    pub negative: u32,
}

/// The training pairs of rows with class indices `labels`, in the order SetFit yields them
/// (positive and negative alternating), with their counts. Deterministic for a seed.
pub fn sample_pairs(
    labels: &[usize],
    options: &ContrastiveOptions,
    seed: u64,
) -> Result<(Vec<Pair>, PairCounts)> {
    let n = labels.len();
    if n > MAX_ROWS {
        return Err(Error::invalid(format!(
            "contrastive fine-tuning pairs every training row with every other; {n} rows is more than the \
             {MAX_ROWS} it takes; sample a few rows per class (--shots) or label fewer rows"
        )));
    }
    // Every unordered pair with replacement (i ≤ j), in a seeded random order.
    let mut all: Vec<(u32, u32)> = (0..n as u32).flat_map(|i| (i..n as u32).map(move |j| (i, j))).collect();
    crate::data::shuffle(&mut all, seed ^ 0x5E7F_17C0_A1A5_0001);
    let cap = options.max_pairs.map(|m| (m / 2) as usize);
    let (mut positive, mut negative) = (Vec::new(), Vec::new());
    for (a, b) in all {
        let same = labels[a as usize] == labels[b as usize];
        let full = |v: &Vec<Pair>| cap.is_some_and(|c| v.len() >= c);
        let list = if same { &mut positive } else { &mut negative };
        if !full(list) {
            list.push(Pair { a, b, same });
        }
        if full(&positive) && full(&negative) {
            break;
        }
    }
    if negative.is_empty() {
        return Err(Error::precondition(
            "contrastive fine-tuning needs labelled training rows of at least two classes (it learns from pairs of \
             different classes); label rows of another class",
        ));
    }
    let (p, q) = (positive.len(), negative.len());
    let (np, nq) = match (options.iterations, options.sampling) {
        (Some(it), _) => (it as usize * n, it as usize * n),
        (None, PairSampling::Unique) => (p, q),
        (None, PairSampling::Undersampling) => (p.min(q), p.min(q)),
        (None, PairSampling::Oversampling) => (p.max(q), p.max(q)),
    };
    let mut pairs = Vec::with_capacity(np + nq);
    for k in 0..np.max(nq) {
        if k < np {
            pairs.push(positive[k % p]);
        }
        if k < nq {
            pairs.push(negative[k % q]);
        }
    }
    let counts = PairCounts {
        unique_positive: p as u32,
        unique_negative: q as u32,
        positive: np as u32,
        negative: nq as u32,
    };
    Ok((pairs, counts))
}

/// sentence-transformers' `CosineSimilarityLoss`: the mean over rows of `(cos(uᵢ, vᵢ) − tᵢ)²` for
/// embeddings `u`, `v` `[rows, hidden]` and targets `t` `[rows]`. Differentiable in `u` and `v`.
pub fn cosine_similarity_loss(u: &Tensor, v: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let dot = (u * v)?.sum(1)?;
    // As torch's cosine_similarity: each norm at least 1e-8.
    let nu = u.sqr()?.sum(1)?.sqrt()?.maximum(1e-8)?;
    let nv = v.sqr()?.sum(1)?.sqrt()?.maximum(1e-8)?;
    let cos = (dot / (nu * nv)?)?;
    Ok(cos.sub(&targets.to_dtype(cos.dtype())?)?.sqr()?.mean_all()?)
}

/// The token rows the encoder reads: the rows rendered through `template` (the model's mask token
/// at `{mask}`), or else their text as the probe reads it.
pub fn encode_rows(
    plm: &Plm,
    rows: &[Example],
    template: Option<&Template>,
    max_len: usize,
) -> Result<Vec<Vec<u32>>> {
    let Some(t) = template else { return probe::encode(plm, rows, max_len) };
    let renderer = Renderer::new(plm.tokenizer(), max_len.min(plm.max_len()));
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            renderer.render(t, r).map(|x| x.ids).map_err(|e| match e {
                Error::Template { position, message } => {
                    Error::Template { position, message: format!("row {} (id {:?}): {message}", i + 1, r.id) }
                }
                other => other,
            })
        })
        .collect()
}

/// The L2 penalty (in [`LogisticRegression::fit`]'s `λ/2 ‖W‖²` beside the mean log-loss) that
/// makes its fit scikit-learn's `LogisticRegression(C)` on `n` rows of `classes` classes: the
/// multinomial fit with `λ = 1/(C n)`; for two classes scikit-learn fits one binomial weight vector
/// `w = W₁ − W₀`, whose `½‖w‖²` the multinomial optimum (`W₀ = −W₁`) pays as `¼‖w‖²`, so `λ = 2/(C n)`.
pub fn sklearn_l2(c: f64, n: usize, classes: usize) -> f64 {
    let scale = if classes == 2 { 2.0 } else { 1.0 };
    scale / (c * n.max(1) as f64)
}

/// What the head's fit chose, for the record (`head.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadRecord {
    pub head: ContrastiveHead,
    /// The penalty fitted with (λ of the mean log-loss plus `λ/2 ‖W‖²`).
    pub l2: f64,
    /// scikit-learn's C for that penalty (`C = 1/(λ n)`, binary `2/(λ n)`).
    pub c: f64,
    pub rows: u32,
    pub pairs: PairCounts,
}

/// Fits the head on the training rows' features `x` `[rows, hidden]` (normalised here) and class
/// indices `y`: a logistic probe over unit-length vectors (no standardisation, as SetFit's).
pub fn fit_head(
    x: &Tensor,
    y: &[u32],
    classes: usize,
    head: ContrastiveHead,
    seed: u64,
) -> Result<(Probe, f64)> {
    let unit = probe::unit_rows(&x.to_dtype(DType::F32)?)?;
    let rows: Vec<Vec<f64>> =
        unit.to_vec2::<f32>()?.into_iter().map(|r| r.into_iter().map(f64::from).collect()).collect();
    let labels: Vec<usize> = y.iter().map(|&c| c as usize).collect();
    let n = rows.len();
    let smallest = (0..classes).map(|c| labels.iter().filter(|&&l| l == c).count()).min().unwrap_or(0);
    let model = match head {
        ContrastiveHead::CrossValidated if smallest >= 2 => {
            let folds = crate::data::stratified_folds(&labels, classes, smallest.min(5), seed);
            logreg::cross_validated(&rows, &labels, classes, &folds, &logreg::L2_GRID)?.0
        }
        _ => LogisticRegression::fit(&rows, &logreg::one_hot(&labels, classes), sklearn_l2(1.0, n, classes))?,
    };
    let device = x.device();
    let h = unit.dim(1)?;
    let w: Vec<f32> = model.weights.iter().flatten().map(|&v| v as f32).collect();
    let b: Vec<f32> = model.bias.iter().map(|&v| v as f32).collect();
    let probe = Probe {
        normalise: true,
        mean: Tensor::zeros((1, h), DType::F32, device)?,
        std: Tensor::ones((1, h), DType::F32, device)?,
        layers: vec![(Tensor::from_vec(w, (classes, h), device)?, Tensor::from_vec(b, classes, device)?)],
    };
    Ok((probe, model.l2))
}

/// Contrastive training of the encoder, the head fitted for every evaluation and at the end.
pub struct ContrastiveObjective {
    pub plm: Plm,
    vars: Vec<(String, Var)>,
    /// The training rows' tokens and class indices.
    rows: Vec<Vec<u32>>,
    train_y: Vec<u32>,
    pub pairs: Vec<Pair>,
    pub counts: PairCounts,
    dev_rows: Vec<Vec<u32>>,
    dev: Vec<super::ProbeDevRow>,
    pub classes: Vec<String>,
    pooling: Pooling,
    head_kind: ContrastiveHead,
    seed: u64,
    /// The head fitted on the current weights and its penalty; cleared by every update and
    /// refitted by every evaluation (the loop may have restored other weights before it).
    head: Option<(Probe, f64)>,
    /// Multi-label: pairs are positive when the label sets are equal (`train_y` holds a set's
    /// index), the head is one-vs-rest ([`super::multi::fit_one_vs_rest`]).
    pub multi: Option<super::multi::Targets>,
}

impl ContrastiveObjective {
    /// `plm` is the model to train (made trainable here); `rows` and `dev_rows` the tokens of the
    /// training and dev rows ([`encode_rows`]); `train_y` the training rows' class indices.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        mut plm: Plm,
        options: &ContrastiveOptions,
        pooling: Pooling,
        dropout: crate::plm::layers::Dropout,
        seed: u64,
        (rows, train_y): (Vec<Vec<u32>>, Vec<u32>),
        (dev_rows, dev): (Vec<Vec<u32>>, Vec<super::ProbeDevRow>),
        classes: Vec<String>,
    ) -> Result<Self> {
        let labels: Vec<usize> = train_y.iter().map(|&c| c as usize).collect();
        let (pairs, counts) = sample_pairs(&labels, options, seed)?;
        let vars = plm.trainable()?;
        plm.set_dropout(Some(dropout));
        Ok(Self {
            plm,
            vars,
            rows,
            train_y,
            pairs,
            counts,
            dev_rows,
            dev,
            classes,
            pooling,
            head_kind: options.head,
            seed,
            head: None,
            multi: None,
        })
    }

    /// Pooled embeddings of training rows, with gradients and dropout.
    fn embed(&self, rows: &[u32]) -> Result<Tensor> {
        let ids: Vec<&[u32]> = rows.iter().map(|&i| self.rows[i as usize].as_slice()).collect();
        let batch = self.plm.batch(&ids)?;
        let hidden = self.plm.encode_batch(&batch)?;
        probe::pool(&hidden, &batch, self.pooling)
    }

    /// The head on the current weights (fitted now unless it already is), and its penalty.
    pub fn head(&mut self) -> Result<(Probe, f64)> {
        if self.head.is_none() {
            let x = probe::features_of_ids(&self.plm, &self.rows, self.pooling, &mut |_, _| true)?;
            self.head = Some(match &self.multi {
                Some(m) => {
                    let l2 = sklearn_l2(1.0, self.rows.len(), 2);
                    (super::multi::fit_one_vs_rest(&x, &m.train, m.labels.len())?, l2)
                }
                None => fit_head(&x, &self.train_y, self.classes.len(), self.head_kind, self.seed)?,
            });
        }
        Ok(self.head.clone().expect("fitted above"))
    }

    /// The training and dev rows' tokens.
    pub fn token_rows(&self) -> (&[Vec<u32>], &[Vec<u32>]) {
        (&self.rows, &self.dev_rows)
    }

    /// What `head.json` records.
    pub fn record(&mut self) -> Result<HeadRecord> {
        let (_, l2) = self.head()?;
        let n = self.rows.len().max(1) as f64;
        // A multi-label head is one binary regression per label at C = 1.
        let binary = self.classes.len() == 2 || self.multi.is_some();
        let c = if binary { 2.0 } else { 1.0 } / (l2 * n);
        Ok(HeadRecord { head: self.head_kind, l2, c, rows: self.rows.len() as u32, pairs: self.counts })
    }
}

impl Objective for ContrastiveObjective {
    fn train_len(&self) -> usize {
        self.pairs.len()
    }

    fn vars(&self) -> Vec<(String, Var)> {
        self.vars.clone()
    }

    fn loss(&mut self, batch: &[usize]) -> Result<Tensor> {
        self.head = None;
        let pairs: Vec<Pair> = batch.iter().map(|&k| self.pairs[k]).collect();
        let a: Vec<u32> = pairs.iter().map(|p| p.a).collect();
        let b: Vec<u32> = pairs.iter().map(|p| p.b).collect();
        let targets: Vec<f32> = pairs.iter().map(|p| if p.same { 1.0 } else { 0.0 }).collect();
        let u = self.embed(&a)?;
        let v = self.embed(&b)?;
        let t = Tensor::new(targets.as_slice(), u.device())?;
        cosine_similarity_loss(&u.to_dtype(DType::F32)?, &v.to_dtype(DType::F32)?, &t)
    }

    fn evaluate(&mut self, keep: bool) -> Result<Option<(EvalMetrics, Vec<DevPrediction>)>> {
        if self.dev.is_empty() {
            return Ok(None);
        }
        self.head = None;
        let (head, _) = self.head()?;
        let x = probe::features_of_ids(&self.plm, &self.dev_rows, self.pooling, &mut |_, _| true)?;
        if let Some(m) = &self.multi {
            return Ok(Some(m.score(&head, &x, keep)?));
        }
        Ok(Some(probe::score_dev(&head, &x, &self.dev, &self.classes, keep)?))
    }

    fn rng_state(&self) -> Option<u64> {
        self.plm.dropout().map(|d| d.state())
    }

    fn set_rng_state(&mut self, state: u64) {
        if let Some(d) = self.plm.dropout() {
            d.set_state(state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn labels(counts: &[usize]) -> Vec<usize> {
        counts.iter().enumerate().flat_map(|(c, &k)| std::iter::repeat_n(c, k)).collect()
    }

    fn options(sampling: PairSampling) -> ContrastiveOptions {
        ContrastiveOptions { sampling, ..Default::default() }
    }

    /// Counts per sampling, by hand: 2 classes of 16 rows have 2 · (16 · 17 / 2) = 272 positive
    /// pairs with replacement (32 of them a row with itself) and 16 · 16 = 256 negative ones; 3
    /// classes of 8, 4 and 8 (SetFit's sampling guide) have 36 + 10 + 36 = 82 positive and
    /// 8·4 + 8·8 + 4·8 = 128 negative.
    #[test]
    fn pair_counts_follow_the_sampling() {
        // Class sizes, options, unique (positive, negative), trained (positive, negative).
        type Case<'a> = (&'a [usize], ContrastiveOptions, (usize, usize), (usize, usize));
        let cases: [Case; 8] = [
            (&[16, 16], options(PairSampling::Oversampling), (272, 256), (272, 272)),
            (&[16, 16], options(PairSampling::Undersampling), (272, 256), (256, 256)),
            (&[16, 16], options(PairSampling::Unique), (272, 256), (272, 256)),
            (&[8, 4, 8], options(PairSampling::Oversampling), (82, 128), (128, 128)),
            (&[8, 4, 8], options(PairSampling::Undersampling), (82, 128), (82, 82)),
            (&[8, 4, 8], options(PairSampling::Unique), (82, 128), (82, 128)),
            // num_iterations: iterations × rows of each kind, whatever the sampling.
            (
                &[8, 4, 8],
                ContrastiveOptions { iterations: Some(3), ..options(PairSampling::Undersampling) },
                (82, 128),
                (60, 60),
            ),
            // max_pairs: half of it of each kind is drawn.
            (&[16, 16], ContrastiveOptions { max_pairs: Some(40), ..Default::default() }, (20, 20), (20, 20)),
        ];
        for (counts, opts, (up, un), (p, n)) in cases {
            let y = labels(counts);
            let (pairs, c) = sample_pairs(&y, &opts, 13).unwrap();
            let label = format!("{counts:?} {opts:?}");
            assert_eq!((c.unique_positive as usize, c.unique_negative as usize), (up, un), "{label}");
            assert_eq!((c.positive as usize, c.negative as usize), (p, n), "{label}");
            assert_eq!(pairs.len(), p + n, "{label}");
            assert_eq!(pairs.iter().filter(|x| x.same).count(), p, "{label}");
            // Every pair is labelled by its rows' classes, with a ≤ b.
            for x in &pairs {
                assert_eq!(x.same, y[x.a as usize] == y[x.b as usize], "{label}");
                assert!(x.a <= x.b, "{label}");
            }
            // Positive and negative alternate while both last.
            for (k, x) in pairs.iter().take(2 * p.min(n)).enumerate() {
                assert_eq!(x.same, k % 2 == 0, "{label} at {k}");
            }
        }
    }

    #[test]
    fn unique_pairs_are_each_unordered_pair_once_self_pairs_included() {
        let y = labels(&[3, 2]);
        let (pairs, _) = sample_pairs(&y, &options(PairSampling::Unique), 5).unwrap();
        let mut seen: Vec<(u32, u32)> = pairs.iter().map(|p| (p.a, p.b)).collect();
        seen.sort();
        let want: Vec<(u32, u32)> = (0..5).flat_map(|i| (i..5).map(move |j| (i, j))).collect();
        assert_eq!(seen, want);
        // Oversampling repeats the rarer kind cyclically: 9 positive pairs (3 · 4 / 2 + 2 · 3 / 2)
        // against 6 negative (3 · 2), so the first 3 negative pairs come round again.
        let (over, c) = sample_pairs(&y, &options(PairSampling::Oversampling), 5).unwrap();
        assert_eq!((c.unique_positive, c.unique_negative, c.negative), (9, 6, 9));
        let negatives: Vec<(u32, u32)> = over.iter().filter(|p| !p.same).map(|p| (p.a, p.b)).collect();
        assert_eq!(negatives[6..], negatives[..3]);
    }

    #[test]
    fn pairs_are_fixed_by_the_seed() {
        let y = labels(&[16, 16]);
        let o = ContrastiveOptions::default();
        let a = sample_pairs(&y, &o, 13).unwrap().0;
        assert_eq!(a, sample_pairs(&y, &o, 13).unwrap().0);
        assert_ne!(a, sample_pairs(&y, &o, 21).unwrap().0);
    }

    #[test]
    fn pair_sampling_refuses_what_it_cannot_pair() {
        let err = sample_pairs(&[0, 0, 0], &ContrastiveOptions::default(), 1).unwrap_err().to_string();
        assert!(err.contains("at least two classes"), "{err}");
        let many = vec![0; MAX_ROWS + 1];
        let err = sample_pairs(&many, &ContrastiveOptions::default(), 1).unwrap_err().to_string();
        assert!(err.contains("--shots"), "{err}");
        let bad: [(ContrastiveOptions, Option<&str>, &str); 5] = [
            (ContrastiveOptions { iterations: Some(0), ..Default::default() }, None, "iterations"),
            (ContrastiveOptions { max_pairs: Some(1), ..Default::default() }, None, "at least 2"),
            (ContrastiveOptions { render_template: true, ..Default::default() }, None, "needs a template"),
            (
                ContrastiveOptions { render_template: true, ..Default::default() },
                Some("{soft} {text_a}"),
                "{soft}",
            ),
            (
                ContrastiveOptions { render_template: true, ..Default::default() },
                Some("{demo} {text_a}"),
                "{demo}",
            ),
        ];
        for (o, t, needle) in bad {
            let err = o.validate(t).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
        ContrastiveOptions { render_template: true, ..Default::default() }
            .validate(Some("Review: {text_a}"))
            .unwrap();
        for s in PairSampling::ALL {
            assert_eq!(s.name().parse::<PairSampling>().unwrap(), s);
        }
        for h in ContrastiveHead::ALL {
            assert_eq!(h.name().parse::<ContrastiveHead>().unwrap(), h);
        }
    }

    /// By hand: u₁ = (1, 0), v₁ = (1, 1): cos = 1/√2, target 1 → (1 − 0.70711)² = 0.085786;
    /// u₂ = (3, 4), v₂ = (−4, 3): cos = 0, target 0 → 0; u₃ = (1, 2), v₃ = (−2, −4): cos = −1, target
    /// 0 → 1. Mean 0.361929. The gradient of row 1's term in u₁: 2 (cos − t) ∂cos/∂u₁ with
    /// ∂cos/∂u = v/(‖u‖‖v‖) − cos · u/‖u‖² = (1/√2, 1/√2) − (1/√2, 0) = (0, 1/√2), over 3 rows.
    #[test]
    fn cosine_similarity_loss_matches_hand_computed_values() {
        let d = Device::Cpu;
        let u = Var::new(&[[1f32, 0.], [3., 4.], [1., 2.]], &d).unwrap();
        let v = Tensor::new(&[[1f32, 1.], [-4., 3.], [-2., -4.]], &d).unwrap();
        let t = Tensor::new(&[1f32, 0., 0.], &d).unwrap();
        let loss = cosine_similarity_loss(u.as_tensor(), &v, &t).unwrap();
        let want = ((1.0 - 0.5f64.sqrt()).powi(2) + 0.0 + 1.0) / 3.0;
        assert!((f64::from(loss.to_scalar::<f32>().unwrap()) - want).abs() < 1e-6, "{loss}");
        let g = loss.backward().unwrap();
        let gu = g.get(u.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
        let c = 0.5f64.sqrt();
        let g1 = 2.0 * (c - 1.0) * c / 3.0;
        assert!(gu[0][0].abs() < 1e-6 && (f64::from(gu[0][1]) - g1).abs() < 1e-6, "{gu:?}");
        // Row 3 sits at cos = −1, where the cosine is flat in every direction: no gradient.
        assert!(gu[2].iter().all(|x| x.abs() < 1e-5), "{gu:?}");
        // Identical vectors with target 1 cost nothing.
        let same = cosine_similarity_loss(&v, &v, &Tensor::new(&[1f32, 1., 1.], &d).unwrap()).unwrap();
        assert!(same.to_scalar::<f32>().unwrap().abs() < 1e-6);
    }

    /// The head with C = 1 on two classes is scikit-learn's binomial fit: at its optimum the
    /// binomial objective `½‖w‖² + C Σ log(1 + e^{−yᵢ(w·xᵢ + b)})` has zero gradient in w and b
    /// (`w = W₁ − W₀`, `b = b₁ − b₀`, over the rows scaled to unit length).
    #[test]
    fn the_default_head_is_sklearns_binomial_logistic_regression() {
        let d = Device::Cpu;
        let x = Tensor::new(
            &[[2f32, 0.5, 0.], [1., 1., 0.2], [0., 1., 1.], [-1., 0.2, 1.], [0.5, -1., 0.3], [1., 0., -2.]],
            &d,
        )
        .unwrap();
        let y = [0u32, 0, 1, 1, 0, 1];
        let (probe, l2) = fit_head(&x, &y, 2, ContrastiveHead::Sklearn, 1).unwrap();
        assert!((l2 - 2.0 / 6.0).abs() < 1e-12);
        assert!(probe.normalise);
        let w = probe.layers[0].0.to_vec2::<f32>().unwrap();
        let b = probe.layers[0].1.to_vec1::<f32>().unwrap();
        let wd: Vec<f64> = (0..3).map(|k| f64::from(w[1][k] - w[0][k])).collect();
        let bd = f64::from(b[1] - b[0]);
        let rows = probe::unit_rows(&x).unwrap().to_vec2::<f32>().unwrap();
        let mut gw = wd.clone(); // ½‖w‖² → w
        let mut gb = 0.0;
        for (r, &label) in rows.iter().zip(&y) {
            let z = bd + r.iter().zip(&wd).map(|(x, w)| f64::from(*x) * w).sum::<f64>();
            let p = 1.0 / (1.0 + (-z).exp());
            let e = p - f64::from(label); // C = 1
            gb += e;
            gw.iter_mut().zip(r).for_each(|(g, x)| *g += e * f64::from(*x));
        }
        assert!(gw.iter().all(|g| g.abs() < 1e-4) && gb.abs() < 1e-4, "{gw:?} {gb}");
        // Its probabilities are those of the normalised rows: scaling a row changes nothing.
        let p1 = probe.logits(&x).unwrap().to_vec2::<f32>().unwrap();
        let p2 = probe.logits(&(&x * 7.0).unwrap()).unwrap().to_vec2::<f32>().unwrap();
        for (a, b) in p1.iter().flatten().zip(p2.iter().flatten()) {
            assert!((a - b).abs() < 1e-5);
        }
        // And it survives the round trip through probe.safetensors' tensors.
        let back = Probe::from_tensors(&probe.tensors(), &d).unwrap();
        assert!(back.normalise);
        // Three classes: multinomial with λ = 1/(C n).
        assert!((sklearn_l2(1.0, 6, 3) - 1.0 / 6.0).abs() < 1e-12);
    }
}
