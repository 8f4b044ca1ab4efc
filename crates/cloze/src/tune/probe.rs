//! The feature-extractor paradigm: a frozen encoder turns each text into one pooled vector (mean
//! over tokens or the first token), computed once; a logistic regression or a one-hidden-layer MLP
//! is trained on the standardised vectors. Fast, needs no MLM head, and a baseline beside prompts.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};

use super::config::{Pooling, ProbeHead};
use super::trainer::{DevPrediction, EvalMetrics, Objective};
use crate::data::{Example, SplitMix64};
use crate::error::{Error, Result};
use crate::plm::{Plm, batch, layers};

const MLP_HIDDEN: usize = 256;

/// The token ids [`features`] reads of each example: text_a, and text_b as a second segment when
/// present, with the model's special tokens, cut to `max_len` (the closing special token kept).
pub fn encode(plm: &Plm, examples: &[Example], max_len: usize) -> Result<Vec<Vec<u32>>> {
    let tok = plm.tokenizer();
    let max_len = max_len.min(plm.max_len());
    examples
        .iter()
        .map(|ex| {
            let text = match &ex.text_b {
                Some(b) if !b.is_empty() => format!("{} {}", ex.text_a, b),
                _ => ex.text_a.clone(),
            };
            let mut ids = tok.encode_with_specials(&text)?.get_ids().to_vec();
            if ids.len() > max_len {
                let last = *ids.last().expect("non-empty");
                ids.truncate(max_len);
                ids[max_len - 1] = last; // keep the closing special token
            }
            Ok(ids)
        })
        .collect::<Result<_>>()
}

/// Pooled sentence vectors `[rows, hidden]` of the examples' text (text_a, and text_b as a second
/// segment when present), in length-sorted batches. `progress(done, total)` returning `false`
/// cancels.
pub fn features(
    plm: &Plm,
    examples: &[Example],
    pooling: Pooling,
    max_len: usize,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Tensor> {
    let encoded = encode(plm, examples, max_len)?;
    features_of_ids(plm, &encoded, pooling, progress)
}

/// Pooled sentence vectors `[rows, hidden]` of token rows (special tokens included), in
/// length-sorted batches of 32, with the model's weights detached (no gradient, no dropout).
pub fn features_of_ids(
    plm: &Plm,
    encoded: &[Vec<u32>],
    pooling: Pooling,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Tensor> {
    let plm = plm.detached();
    let lengths: Vec<usize> = encoded.iter().map(Vec::len).collect();
    let h = plm.hidden_size();
    let mut out = vec![0f32; encoded.len() * h];
    let mut done = 0;
    for chunk in batch::longest_first(&lengths, 32) {
        let rows: Vec<&[u32]> = chunk.iter().map(|&i| encoded[i].as_slice()).collect();
        let batch = plm.batch(&rows)?;
        let hidden = plm.encode_batch(&batch)?.to_dtype(DType::F32)?;
        let pooled = pool(&hidden, &batch, pooling)?;
        for (k, row) in pooled.to_vec2::<f32>()?.into_iter().enumerate() {
            let i = chunk[k];
            out[i * h..(i + 1) * h].copy_from_slice(&row);
        }
        done += chunk.len();
        if !progress(done, encoded.len()) {
            return Err(Error::Cancelled);
        }
    }
    Ok(Tensor::from_vec(out, (encoded.len(), h), plm.device())?)
}

/// One vector per row of a batch's hidden states `[rows, seq, hidden]`: the mean over its tokens
/// (padding left out) or its first token. Differentiable.
pub fn pool(hidden: &Tensor, batch: &batch::Batch, pooling: Pooling) -> Result<Tensor> {
    Ok(match pooling {
        Pooling::Cls => {
            let first: Vec<u32> = (0..batch.rows()).map(|k| batch.flat(k, 0) as u32).collect();
            batch.select(hidden, &first)?
        }
        Pooling::Mean => layers::masked_mean(hidden, batch.attention())?,
    })
}

/// The probe's trained tensors: the standardisation and the classifier.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Whether each vector is scaled to unit length first (the contrastive strategy's head, which
    /// reads normalised sentence embeddings as SetFit does; saved as `probe.normalise`).
    pub normalise: bool,
    pub mean: Tensor,
    pub std: Tensor,
    pub layers: Vec<(Tensor, Tensor)>,
}

impl Probe {
    /// A fresh probe for `features` (whose mean and spread it standardises by).
    pub fn new(features: &Tensor, classes: usize, head: ProbeHead, seed: u64) -> Result<Self> {
        let (_, h) = features.dims2()?;
        let device = features.device();
        let mean = features.mean_keepdim(0)?;
        let std = (features.broadcast_sub(&mean)?.sqr()?.mean_keepdim(0)? + 1e-6)?.sqrt()?;
        let mut rng = SplitMix64::new(seed ^ 0x9B0B_E000);
        let mut dense = |out: usize, inp: usize| -> Result<(Tensor, Tensor)> {
            // Kaiming-uniform, as torch.nn.Linear.
            let bound = 1.0 / (inp as f64).sqrt();
            let w: Vec<f32> = (0..out * inp).map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32).collect();
            Ok((Tensor::from_vec(w, (out, inp), device)?, Tensor::zeros(out, DType::F32, device)?))
        };
        let layers = match head {
            ProbeHead::Logistic => {
                vec![(
                    Tensor::zeros((classes, h), DType::F32, device)?,
                    Tensor::zeros(classes, DType::F32, device)?,
                )]
            }
            ProbeHead::Mlp => vec![dense(MLP_HIDDEN, h)?, dense(classes, MLP_HIDDEN)?],
        };
        Ok(Self { normalise: false, mean, std, layers })
    }

    pub fn logits(&self, features: &Tensor) -> Result<Tensor> {
        let features = if self.normalise { &unit_rows(features)? } else { features };
        let mut x = features.broadcast_sub(&self.mean)?.broadcast_div(&self.std)?;
        for (i, (w, b)) in self.layers.iter().enumerate() {
            if i > 0 {
                x = x.relu()?;
            }
            x = x.matmul(&w.t()?)?.broadcast_add(b)?;
        }
        Ok(x)
    }

    pub fn tensors(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        out.insert("probe.mean".into(), self.mean.detach());
        out.insert("probe.std".into(), self.std.detach());
        if self.normalise {
            let one = Tensor::ones(1, DType::F32, self.mean.device()).expect("a one-element tensor");
            out.insert("probe.normalise".into(), one);
        }
        for (i, (w, b)) in self.layers.iter().enumerate() {
            out.insert(format!("probe.{i}.weight"), w.detach());
            out.insert(format!("probe.{i}.bias"), b.detach());
        }
        out
    }

    pub fn from_tensors(t: &HashMap<String, Tensor>, device: &Device) -> Result<Self> {
        let get = |k: &str| {
            t.get(k)
                .ok_or_else(|| {
                    Error::invalid(format!("probe.safetensors has no {k:?}; the run folder is incomplete"))
                })
                .and_then(|x| Ok(x.to_device(device)?))
        };
        let mut layers = Vec::new();
        while t.contains_key(&format!("probe.{}.weight", layers.len())) {
            let i = layers.len();
            layers.push((get(&format!("probe.{i}.weight"))?, get(&format!("probe.{i}.bias"))?));
        }
        let normalise = match t.get("probe.normalise") {
            Some(x) => x.flatten_all()?.to_vec1::<f32>()?.first().is_some_and(|v| *v != 0.0),
            None => false,
        };
        Ok(Self { normalise, mean: get("probe.mean")?, std: get("probe.std")?, layers })
    }

    /// The detached copy that scores without building a graph.
    pub fn detached(&self) -> Probe {
        Probe {
            normalise: self.normalise,
            mean: self.mean.clone(),
            std: self.std.clone(),
            layers: self.layers.iter().map(|(w, b)| (w.detach(), b.detach())).collect(),
        }
    }
}

/// Each row scaled to unit length (`x / max(‖x‖, 1e-12)`, as torch's `normalize`).
pub fn unit_rows(x: &Tensor) -> Result<Tensor> {
    let norm = x.sqr()?.sum_keepdim(1)?.sqrt()?.maximum(1e-12)?;
    Ok(x.broadcast_div(&norm)?)
}

/// Training the probe's classifier on cached features.
pub struct ProbeObjective {
    pub probe: Probe,
    pub vars: Vec<(String, Var)>,
    pub train_x: Tensor,
    pub train_y: Vec<u32>,
    pub dev_x: Option<Tensor>,
    pub dev: Vec<(String, String, usize)>,
    pub classes: Vec<String>,
    /// Soft labels of pseudo-labelled training rows (distillation), by row; empty or `None` for
    /// rows trained on their label.
    pub soft: Vec<Option<Vec<f32>>>,
    /// Multi-label: the rows' label sets, trained with one sigmoid per output (`classes` are the
    /// labels then).
    pub multi: Option<super::multi::Targets>,
}

impl ProbeObjective {
    pub fn new(
        mut probe: Probe,
        train_x: Tensor,
        train_y: Vec<u32>,
        dev_x: Option<Tensor>,
        dev: Vec<(String, String, usize)>,
        classes: Vec<String>,
    ) -> Result<Self> {
        let mut vars = Vec::new();
        for (i, (w, b)) in probe.layers.iter_mut().enumerate() {
            let wv = Var::from_tensor(w)?;
            let bv = Var::from_tensor(b)?;
            *w = wv.as_tensor().clone();
            *b = bv.as_tensor().clone();
            vars.push((format!("probe.{i}.weight"), wv));
            vars.push((format!("probe.{i}.bias"), bv));
        }
        Ok(Self { probe, vars, train_x, train_y, dev_x, dev, classes, soft: Vec::new(), multi: None })
    }
}

impl Objective for ProbeObjective {
    fn train_len(&self) -> usize {
        self.train_y.len()
    }

    fn vars(&self) -> Vec<(String, Var)> {
        self.vars.clone()
    }

    fn loss(&mut self, batch: &[usize]) -> Result<Tensor> {
        let device = self.train_x.device();
        let idx: Vec<u32> = batch.iter().map(|&i| i as u32).collect();
        let idx = Tensor::new(idx.as_slice(), device)?;
        let x = self.train_x.index_select(&idx, 0)?;
        let y: Vec<u32> = batch.iter().map(|&i| self.train_y[i]).collect();
        let logits = self.probe.logits(&x)?;
        if let Some(m) = &self.multi {
            return super::multi::bce_with_logits(
                &logits,
                &super::multi::batch_targets(&m.train, batch, device)?,
            );
        }
        if let Some(targets) =
            super::distill::batch_targets(&self.soft, batch, &y, self.classes.len(), device)?
        {
            return super::distill::soft_cross_entropy(&logits, &targets);
        }
        let y = Tensor::new(y.as_slice(), device)?;
        Ok(candle_nn::loss::cross_entropy(&logits, &y)?)
    }

    fn evaluate(&mut self, keep: bool) -> Result<Option<(EvalMetrics, Vec<DevPrediction>)>> {
        let Some(x) = &self.dev_x else { return Ok(None) };
        if let Some(m) = &self.multi {
            return Ok(Some(m.score(&self.probe.detached(), x, keep)?));
        }
        Ok(Some(score_dev(&self.probe.detached(), x, &self.dev, &self.classes, keep)?))
    }
}

/// A probe's dev evaluation on the dev rows' features `x`: the metrics (the loss is the mean
/// cross-entropy) and, with `keep`, every row's prediction.
pub fn score_dev(
    probe: &Probe,
    x: &Tensor,
    dev: &[(String, String, usize)],
    classes: &[String],
    keep: bool,
) -> Result<(EvalMetrics, Vec<DevPrediction>)> {
    let probs = candle_nn::ops::softmax_last_dim(&probe.logits(x)?)?.to_vec2::<f32>()?;
    let mut pairs = Vec::new();
    let mut loss = 0f64;
    let mut kept = Vec::new();
    for ((id, text, label), p) in dev.iter().zip(&probs) {
        let best = crate::verbalizer::argmax(p);
        pairs.push((*label, best));
        loss -= f64::from(p[*label].max(1e-12)).ln();
        if keep {
            kept.push(DevPrediction {
                id: id.clone(),
                text: text.clone(),
                label: classes[*label].clone(),
                predicted: classes[best].clone(),
                p_label: f64::from(p[*label]),
                probs: p.iter().map(|&v| f64::from(v)).collect(),
            });
        }
    }
    let loss = Some(loss / dev.len().max(1) as f64);
    Ok((EvalMetrics::classification(&pairs, classes, loss)?, kept))
}
