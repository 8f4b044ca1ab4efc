//! Deterministic shuffles, splits and few-shot sampling.

use std::collections::BTreeMap;

use super::Example;
use crate::error::{Error, Result, Setting, Text};

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, fast generator whose output depends only on the
/// seed, so shuffles are the same on every machine. Not for cryptography.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The internal state: `SplitMix64::new(g.state())` continues where `g` is.
    pub fn state(&self) -> u64 {
        self.state
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0), by multiply-shift.
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A float in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Fisher–Yates shuffle of `items` driven by `rng`.
fn shuffle_with<T>(items: &mut [T], rng: &mut SplitMix64) {
    for i in (1..items.len()).rev() {
        let j = rng.below(i + 1);
        items.swap(i, j);
    }
}

/// Shuffle `items` in place; the same seed gives the same order.
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    shuffle_with(items, &mut SplitMix64::new(seed));
}

/// Shuffle `examples` with `seed` and cut them into parts of the given fractions, e.g.
/// `&[0.8, 0.1, 0.1]`. Part sizes are rounded so they add up exactly (largest remainder).
///
/// Fractions that add up to less than 1 leave the rest out (`&[0.1]` is a random 10% sample); more
/// than 1 are scaled down to add up to 1. Negative and non-finite fractions count as 0. The result
/// has one part per fraction.
pub fn split(examples: Vec<Example>, fractions: &[f64], seed: u64) -> Vec<Vec<Example>> {
    let n = examples.len();
    let fractions: Vec<f64> =
        fractions.iter().map(|&f| if f.is_finite() && f > 0.0 { f } else { 0.0 }).collect();
    let total: f64 = fractions.iter().sum();
    let scale = if total > 1.0 { 1.0 / total } else { 1.0 };
    let wanted = ((total.min(1.0) * n as f64).round() as usize).min(n);
    let exact: Vec<f64> = fractions.iter().map(|f| f * scale * n as f64).collect();
    let mut sizes: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let assigned: usize = sizes.iter().sum();
    if assigned < wanted {
        let mut order: Vec<usize> = (0..sizes.len()).filter(|&i| fractions[i] > 0.0).collect();
        order.sort_by(|&a, &b| {
            (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())).then(a.cmp(&b))
        });
        for &i in order.iter().cycle().take(wanted - assigned) {
            sizes[i] += 1;
        }
    }

    let mut examples = examples;
    shuffle(&mut examples, seed);
    let mut rest = examples.into_iter();
    sizes.iter().map(|&size| rest.by_ref().take(size).collect()).collect()
}

/// FNV-1a, to give each class (and each row's demonstrations) its own stream of the seed.
pub(crate) fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// LM-BFF style few-shot set: `k_per_class` examples of every label, drawn with `seed`, returned in a
/// shuffled order. Each class is drawn from its own seeded stream, so adding a class does not change
/// the examples drawn for the others. Unlabelled examples are ignored.
///
/// Fails when there are no labelled examples, or when a class has fewer than `k_per_class` (every such
/// class is named).
pub fn few_shot(examples: &[Example], k_per_class: usize, seed: u64) -> Result<Vec<Example>> {
    let drawn = draw_per_class(examples, k_per_class, 1, seed)?;
    let mut picked: Vec<usize> = drawn.iter().flat_map(|idx| idx.iter().take(k_per_class).copied()).collect();
    shuffle(&mut picked, seed);
    Ok(picked.into_iter().map(|i| examples[i].clone()).collect())
}

/// LM-BFF's few-shot training and dev sets: `k_per_class` training rows of every label and
/// `k_per_class` more for model selection, disjoint, drawn with `seed`. The training rows are
/// exactly [`few_shot`]'s (so `cloze tune --shots K --seed S` trains on the same sample); the dev
/// rows are the next `k_per_class` of each class's stream. Fails as [`few_shot`] does when a class
/// has fewer than `2 × k_per_class` rows.
pub fn few_shot_split(
    examples: &[Example],
    k_per_class: usize,
    seed: u64,
) -> Result<(Vec<Example>, Vec<Example>)> {
    let drawn = draw_per_class(examples, k_per_class, 2, seed)?;
    let mut train: Vec<usize> = drawn.iter().flat_map(|idx| idx.iter().take(k_per_class).copied()).collect();
    let mut dev: Vec<usize> =
        drawn.iter().flat_map(|idx| idx.iter().skip(k_per_class).take(k_per_class).copied()).collect();
    shuffle(&mut train, seed);
    shuffle(&mut dev, seed ^ fnv1a("dev"));
    let rows = |idx: Vec<usize>| idx.into_iter().map(|i| examples[i].clone()).collect();
    Ok((rows(train), rows(dev)))
}

/// Every class's row indices in its own seeded order (classes sorted by name), after checking that
/// each class has `parts × k_per_class` rows.
fn draw_per_class(
    examples: &[Example],
    k_per_class: usize,
    parts: usize,
    seed: u64,
) -> Result<Vec<Vec<usize>>> {
    let mut by_label: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, ex) in examples.iter().enumerate() {
        if let Some(label) = ex.label.as_deref() {
            by_label.entry(label).or_default().push(i);
        }
    }
    if by_label.is_empty() {
        return Err(Error::invalid(
            Text::from(format!(
                "few-shot sampling needs labelled examples, and none of the {} examples has a label; map the \
                 label column (",
                examples.len()
            ))
            .setting(Setting::LabelColumn)
            .then(")"),
        ));
    }
    let need = k_per_class.saturating_mul(parts);
    let short: Vec<String> = by_label
        .iter()
        .filter(|(_, idx)| idx.len() < need)
        .map(|(label, idx)| format!("{label:?} has {}", idx.len()))
        .collect();
    if !short.is_empty() {
        let what = if parts == 1 {
            format!("{k_per_class} examples per class")
        } else {
            format!("{k_per_class} training and {k_per_class} dev examples per class ({need} in all)")
        };
        return Err(Error::invalid(format!(
            "cannot draw {what}: {}; lower k or add examples of {}",
            short.join(", "),
            if short.len() == 1 { "that class" } else { "those classes" }
        )));
    }
    Ok(by_label
        .into_iter()
        .map(|(label, mut idx)| {
            shuffle_with(&mut idx, &mut SplitMix64::new(seed ^ fnv1a(label)));
            idx
        })
        .collect())
}

/// How many examples carry each label (unlabelled examples are not counted).
pub fn label_counts(examples: &[Example]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for label in examples.iter().filter_map(|e| e.label.as_deref()) {
        if let Some(c) = counts.get_mut(label) {
            *c += 1;
        } else {
            counts.insert(label.to_string(), 1);
        }
    }
    counts
}

/// Stratified folds: each class's rows shuffled with the seed and dealt round-robin, so every fold
/// holds about the same share of every class. Returns the fold of each row.
pub fn stratified_folds(labels: &[usize], classes: usize, folds: usize, seed: u64) -> Vec<usize> {
    let mut fold = vec![0; labels.len()];
    let mut next = 0;
    for class in 0..classes {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        shuffle(&mut members, seed ^ (class as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for i in members {
            fold[i] = next % folds;
            next += 1;
        }
    }
    fold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_stratified_and_seeded() {
        let labels = [0, 0, 0, 0, 1, 1, 1, 1, 1, 1];
        let a = stratified_folds(&labels, 2, 2, 7);
        assert_eq!(a, stratified_folds(&labels, 2, 2, 7), "same seed, same folds");
        for class in 0..2 {
            let per_fold: Vec<usize> =
                (0..2).map(|f| (0..10).filter(|&i| labels[i] == class && a[i] == f).count()).collect();
            assert!(per_fold.iter().max().unwrap() - per_fold.iter().min().unwrap() <= 1, "{per_fold:?}");
        }
    }

    fn examples(n: usize, classes: usize) -> Vec<Example> {
        (0..n)
            .map(|i| {
                let mut e = Example::new((i + 1).to_string(), format!("text {i}"));
                e.label = Some(format!("c{}", i % classes));
                e
            })
            .collect()
    }

    fn ids(v: &[Example]) -> Vec<&str> {
        v.iter().map(|e| e.id.as_str()).collect()
    }

    #[test]
    fn splitmix_reference_values() {
        // Reference output of splitmix64 seeded with 1234567 (from the public-domain C code).
        let mut rng = SplitMix64::new(1234567);
        let got: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(got, vec![6457827717110365317, 3203168211198807973, 9817491932198370423]);
        let mut rng = SplitMix64::new(7);
        for n in [1usize, 2, 3, 10, 1000] {
            for _ in 0..100 {
                assert!(rng.below(n) < n);
            }
        }
        assert_eq!(rng.below(0), 0);
        let f = rng.next_f64();
        assert!((0.0..1.0).contains(&f));
    }

    #[test]
    fn split_sizes() {
        let cases: &[(usize, &[f64], &[usize])] = &[
            (10, &[0.8, 0.1, 0.1], &[8, 1, 1]),
            (10, &[0.7, 0.2, 0.1], &[7, 2, 1]),
            (7, &[0.5, 0.5], &[4, 3]),
            (3, &[1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0], &[1, 1, 1]),
            (100, &[0.1], &[10]),
            (10, &[2.0, 2.0], &[5, 5]),
            (10, &[0.5, -1.0, f64::NAN], &[5, 0, 0]),
            (0, &[0.5, 0.5], &[0, 0]),
            (5, &[], &[]),
            (1000, &[0.9, 0.05, 0.05], &[900, 50, 50]),
        ];
        for (n, fractions, want) in cases {
            let parts = split(examples(*n, 2), fractions, 42);
            let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
            assert_eq!(sizes, *want, "n={n} fractions={fractions:?}");
        }
    }

    #[test]
    fn split_is_deterministic_and_disjoint() {
        let a = split(examples(50, 3), &[0.6, 0.4], 7);
        let b = split(examples(50, 3), &[0.6, 0.4], 7);
        assert_eq!(a, b);
        let c = split(examples(50, 3), &[0.6, 0.4], 8);
        assert_ne!(a, c);
        let mut all: Vec<&str> = a.iter().flat_map(|p| ids(p)).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 50);
        // Shuffled, not the input order.
        assert_ne!(ids(&a[0])[..10], ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]);
    }

    #[test]
    fn few_shot_per_class() {
        let data = examples(30, 3);
        let picked = few_shot(&data, 4, 1).unwrap();
        assert_eq!(picked.len(), 12);
        assert_eq!(
            label_counts(&picked),
            BTreeMap::from([("c0".into(), 4), ("c1".into(), 4), ("c2".into(), 4)])
        );
        assert_eq!(few_shot(&data, 4, 1).unwrap(), picked);
        assert_ne!(few_shot(&data, 4, 2).unwrap(), picked);
        assert!(few_shot(&data, 0, 1).unwrap().is_empty());

        // Adding a class leaves the draws of the others alone.
        let mut more = data.clone();
        for i in 0..5 {
            let mut e = Example::new(format!("x{i}"), "extra");
            e.label = Some("c3".into());
            more.push(e);
        }
        let with_new = few_shot(&more, 4, 1).unwrap();
        let mut old: Vec<&str> = ids(&picked);
        let mut new: Vec<&str> =
            with_new.iter().filter(|e| e.label.as_deref() != Some("c3")).map(|e| e.id.as_str()).collect();
        old.sort_unstable();
        new.sort_unstable();
        assert_eq!(old, new);
    }

    #[test]
    fn few_shot_errors_name_the_classes() {
        let mut data = examples(7, 2); // c0: 4, c1: 3
        let err = few_shot(&data, 4, 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot draw 4 examples per class: \"c1\" has 3; lower k or add examples of that class"
        );
        for e in &mut data {
            e.label = None;
        }
        let err = few_shot(&data, 1, 0).unwrap_err();
        assert!(err.to_string().contains("none of the 7 examples has a label"), "{err}");
    }

    #[test]
    fn few_shot_split_is_disjoint_and_trains_on_few_shots_sample() {
        let data = examples(60, 3);
        let (train, dev) = few_shot_split(&data, 8, 21).unwrap();
        assert_eq!(train, few_shot(&data, 8, 21).unwrap(), "the training rows are few_shot's");
        let per_class = BTreeMap::from([("c0".into(), 8), ("c1".into(), 8), ("c2".into(), 8)]);
        assert_eq!(label_counts(&train), per_class);
        assert_eq!(label_counts(&dev), per_class);
        let mut all: Vec<&str> = ids(&train).into_iter().chain(ids(&dev)).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 48, "train and dev share no row");
        assert_eq!(few_shot_split(&data, 8, 21).unwrap(), (train.clone(), dev), "a seed repeats");
        assert_ne!(few_shot_split(&data, 8, 42).unwrap().0, train);
        // 20 rows per class hold 8 + 8, not 8 + 16.
        let err = few_shot_split(&data, 16, 1).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot draw 16 training and 16 dev examples per class (32 in all)"),
            "{err}"
        );
    }

    #[test]
    fn counts() {
        let mut data = examples(5, 2);
        data[0].label = None;
        assert_eq!(label_counts(&data), BTreeMap::from([("c0".into(), 2), ("c1".into(), 2)]));
        assert!(label_counts(&[]).is_empty());
    }
}
