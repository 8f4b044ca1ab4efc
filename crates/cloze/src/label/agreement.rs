//! Inter-annotator agreement: how far annotators agree beyond what chance alone would give.
//!
//! [`cohen_kappa`] compares two annotators who labelled the same items; [`fleiss_kappa`] compares
//! any fixed number of raters per item (Fleiss 1971). Both return an [`Agreement`] with the
//! observed agreement, the agreement expected by chance, and kappa = (observed − expected) /
//! (1 − expected). Labels are compared as exact strings; the set of classes is whatever labels
//! occur.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// The result of an agreement computation.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Agreement {
    /// How many items were compared.
    pub items: usize,
    /// Observed agreement: p_o for Cohen, P̄ for Fleiss. In [0, 1].
    pub observed: f64,
    /// Agreement expected by chance from the label frequencies: p_e for Cohen, P̄_e for Fleiss.
    /// In [0, 1].
    pub expected: f64,
    /// (observed − expected) / (1 − expected): 1 is perfect agreement, 0 is chance level, below 0
    /// is worse than chance. When `expected` is exactly 1 (every label given was one and the same
    /// class, so chance alone already agrees perfectly) the ratio is 0/0; kappa is then defined as
    /// 1.0, because the annotators did in fact agree on every item.
    pub kappa: f64,
}

impl Agreement {
    /// Builds the result; `chance_is_certain` says whether `expected` is exactly 1, decided on
    /// integer counts by the caller so that rounding cannot divide by a tiny `1 − expected`.
    fn new(items: usize, observed: f64, expected: f64, chance_is_certain: bool) -> Self {
        let kappa = if chance_is_certain { 1.0 } else { (observed - expected) / (1.0 - expected) };
        Agreement { items, observed, expected, kappa }
    }
}

/// Cohen's kappa for two annotators: `pairs[i]` holds annotator A's and annotator B's label for
/// item `i`.
///
/// p_o is the share of items where the two labels are equal; p_e = Σ_k pA(k)·pB(k) over every
/// class k either annotator used, with pA and pB each annotator's own label frequencies. When
/// both annotators used one single, identical class throughout, p_e = 1 and kappa is defined as
/// 1.0 (see [`Agreement::kappa`]).
///
/// Errors when there are no items.
pub fn cohen_kappa(pairs: &[(&str, &str)]) -> Result<Agreement> {
    if pairs.is_empty() {
        return Err(Error::invalid(
            "Cohen's kappa needs at least one item labelled by both annotators; none were given",
        ));
    }
    let n = pairs.len() as u128;
    let mut agreed = 0u128;
    // Per class: (count by A, count by B).
    let mut counts: BTreeMap<&str, (u128, u128)> = BTreeMap::new();
    for &(a, b) in pairs {
        if a == b {
            agreed += 1;
        }
        counts.entry(a).or_default().0 += 1;
        counts.entry(b).or_default().1 += 1;
    }
    let chance: u128 = counts.values().map(|&(a, b)| a * b).sum();
    let observed = agreed as f64 / n as f64;
    let expected = chance as f64 / (n * n) as f64;
    Ok(Agreement::new(pairs.len(), observed, expected, chance == n * n))
}

/// Fleiss' kappa for a fixed number of raters per item: `items[i]` holds the labels the raters
/// gave item `i` (in any order; which rater gave which label does not matter, and the raters may
/// differ from item to item).
///
/// With N items, n raters per item and n_ij the number of raters who gave item i class j:
/// P_i = (Σ_j n_ij² − n) / (n(n − 1)), P̄ = mean of P_i, p_j = Σ_i n_ij / (N n), and
/// P̄_e = Σ_j p_j². When P̄_e = 1 (all labels are one class), kappa is defined as 1.0.
///
/// Errors when there are no items, when the first item has fewer than two labels, or when an
/// item's label count differs from the first item's (the message names that item, 1-based).
pub fn fleiss_kappa(items: &[Vec<&str>]) -> Result<Agreement> {
    let Some(first) = items.first() else {
        return Err(Error::invalid("Fleiss' kappa needs at least one labelled item; none were given"));
    };
    let raters = first.len();
    if raters < 2 {
        return Err(Error::invalid(format!(
            "Fleiss' kappa needs at least 2 raters per item, but item 1 has {raters} label(s); \
             add more labels per item or leave out items labelled by only one rater"
        )));
    }
    if let Some((i, item)) = items.iter().enumerate().find(|(_, item)| item.len() != raters) {
        return Err(Error::invalid(format!(
            "Fleiss' kappa needs the same number of raters for every item, but item 1 has {raters} \
             labels and item {} has {}; drop or complete the items whose label count differs",
            i + 1,
            item.len()
        )));
    }

    let n = raters as u128;
    // Σ_i P_i, accumulated as the integer Σ_i (Σ_j n_ij² − n) and divided once at the end.
    let mut pair_agreements = 0u128;
    let mut totals: BTreeMap<&str, u128> = BTreeMap::new();
    let mut per_item: BTreeMap<&str, u128> = BTreeMap::new();
    for item in items {
        per_item.clear();
        for &label in item {
            *per_item.entry(label).or_default() += 1;
        }
        pair_agreements += per_item.values().map(|&c| c * c).sum::<u128>() - n;
        for (&label, &c) in &per_item {
            *totals.entry(label).or_default() += c;
        }
    }
    let big_n = items.len() as u128;
    let observed = pair_agreements as f64 / (big_n * n * (n - 1)) as f64;
    let all = big_n * n;
    let chance: u128 = totals.values().map(|&c| c * c).sum();
    let expected = chance as f64 / (all * all) as f64;
    Ok(Agreement::new(items.len(), observed, expected, chance == all * all))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expands a contingency table (rows: annotator A's class, columns: B's class) into pairs.
    fn pairs_from_table<'a>(classes: &[&'a str], table: &[&[usize]]) -> Vec<(&'a str, &'a str)> {
        let mut pairs = Vec::new();
        for (i, row) in table.iter().enumerate() {
            for (j, &count) in row.iter().enumerate() {
                pairs.extend(std::iter::repeat_n((classes[i], classes[j]), count));
            }
        }
        pairs
    }

    /// Expands a Fleiss table (rows: items, columns: how many raters chose each class).
    fn items_from_table<'a>(classes: &[&'a str], table: &[&[usize]]) -> Vec<Vec<&'a str>> {
        table
            .iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .flat_map(|(j, &count)| std::iter::repeat_n(classes[j], count))
                    .collect()
            })
            .collect()
    }

    /// One hand-computed case: a contingency table and the agreement worked out from it.
    struct Case {
        name: &'static str,
        classes: &'static [&'static str],
        table: &'static [&'static [usize]],
        expect: Agreement,
    }

    fn expect(items: usize, observed: f64, expected: f64, kappa: f64) -> Agreement {
        Agreement { items, observed, expected, kappa }
    }

    fn assert_agreement(name: &str, got: Agreement, want: Agreement, tol: f64) {
        assert_eq!(got.items, want.items, "{name}: items");
        for (what, got, want) in [
            ("observed", got.observed, want.observed),
            ("expected", got.expected, want.expected),
            ("kappa", got.kappa, want.kappa),
        ] {
            assert!((got - want).abs() < tol, "{name}: {what} {got} != {want}");
        }
    }

    #[test]
    fn cohen_by_hand() {
        // Tables: rows are annotator A's class, columns annotator B's, in `classes` order.
        let cases = [
            // 50 items. A yes: 20 + 5 = 25, B yes: 20 + 10 = 30.
            // p_o = (20 + 15) / 50 = 0.70
            // p_e = 0.5·0.6 + 0.5·0.4 = 0.50
            // κ = (0.70 − 0.50) / (1 − 0.50) = 0.40
            Case {
                name: "2x2 textbook",
                classes: &["yes", "no"],
                table: &[&[20, 5], &[10, 15]],
                expect: expect(50, 0.70, 0.50, 0.40),
            },
            // 10 items, 3 classes. Row (A) totals a 4, b 3, c 3; column (B) totals a 4, b 3, c 3.
            // p_o = (3 + 2 + 2) / 10 = 0.70
            // p_e = (4·4 + 3·3 + 3·3) / 100 = 0.34
            // κ = 0.36 / 0.66 = 6/11 ≈ 0.545454
            Case {
                name: "3 classes",
                classes: &["a", "b", "c"],
                table: &[&[3, 1, 0], &[0, 2, 1], &[1, 0, 2]],
                expect: expect(10, 0.70, 0.34, 6.0 / 11.0),
            },
            // Perfect agreement on two balanced classes: p_o 1, p_e 0.5, κ 1.
            Case {
                name: "perfect",
                classes: &["pos", "neg"],
                table: &[&[4, 0], &[0, 4]],
                expect: expect(8, 1.0, 0.5, 1.0),
            },
            // Systematic disagreement: A says pos exactly where B says neg and vice versa.
            // p_o = 0, p_e = 0.5·0.5 + 0.5·0.5 = 0.5, κ = −0.5 / 0.5 = −1.
            Case {
                name: "opposite",
                classes: &["pos", "neg"],
                table: &[&[0, 3], &[3, 0]],
                expect: expect(6, 0.0, 0.5, -1.0),
            },
            // Both used one single class throughout: p_e = 1, κ defined as 1.
            Case { name: "one class", classes: &["spam"], table: &[&[5]], expect: expect(5, 1.0, 1.0, 1.0) },
            // A class only one annotator used still counts towards p_e (with 0 for the other).
            // A: x x y, B: x x z. p_o = 2/3, p_e = (2·2 + 1·0 + 0·1) / 9 = 4/9, κ = (2/9)/(5/9) = 0.4.
            Case {
                name: "unshared class",
                classes: &["x", "y", "z"],
                table: &[&[2, 0, 0], &[0, 0, 1], &[0, 0, 0]],
                expect: expect(3, 2.0 / 3.0, 4.0 / 9.0, 0.4),
            },
        ];
        for case in cases {
            let pairs = pairs_from_table(case.classes, case.table);
            assert_agreement(case.name, cohen_kappa(&pairs).unwrap(), case.expect, 1e-12);
        }
    }

    #[test]
    fn fleiss_wikipedia() {
        // Fleiss (1971) as worked on Wikipedia ("Fleiss' kappa"): 10 items, 14 raters, 5 classes;
        // rows are items, columns how many raters chose each class.
        // P_i per row: 1.000 .253 .308 .440 .330 .462 .242 .176 .286 .286, so P̄ = 0.378022.
        // Column totals 20 28 39 21 32 of 140: p_j = .143 .200 .279 .150 .229, P̄_e = 0.212755.
        // κ = (0.378022 − 0.212755) / (1 − 0.212755) = 0.209931 (Wikipedia: 0.210).
        let table: &[&[usize]] = &[
            &[0, 0, 0, 0, 14],
            &[0, 2, 6, 4, 2],
            &[0, 0, 3, 5, 6],
            &[0, 3, 9, 2, 0],
            &[2, 2, 8, 1, 1],
            &[7, 7, 0, 0, 0],
            &[3, 2, 6, 3, 0],
            &[2, 5, 3, 2, 2],
            &[6, 5, 2, 1, 0],
            &[0, 2, 2, 3, 7],
        ];
        let items = items_from_table(&["1", "2", "3", "4", "5"], table);
        let got = fleiss_kappa(&items).unwrap();
        assert_agreement("wikipedia", got, expect(10, 0.378022, 0.212755, 0.209931), 1e-6);
    }

    #[test]
    fn fleiss_by_hand() {
        // Tables: rows are items, columns how many raters chose each class.
        let cases = [
            // 2 raters, items [a a] [a b] [b b]: P_i = 1, 0, 1 so P̄ = 2/3; p_a = p_b = 3/6, P̄_e = 0.5;
            // κ = (2/3 − 1/2) / (1/2) = 1/3.
            Case {
                name: "two raters",
                classes: &["a", "b"],
                table: &[&[2, 0], &[1, 1], &[0, 2]],
                expect: expect(3, 2.0 / 3.0, 0.5, 1.0 / 3.0),
            },
            // 3 raters in full agreement on each item, two classes in equal measure: κ = 1.
            Case {
                name: "perfect",
                classes: &["a", "b"],
                table: &[&[3, 0], &[0, 3]],
                expect: expect(2, 1.0, 0.5, 1.0),
            },
            // Everyone always chose the same class: P̄_e = 1, κ defined as 1.
            Case {
                name: "one class",
                classes: &["a"],
                table: &[&[4], &[4], &[4]],
                expect: expect(3, 1.0, 1.0, 1.0),
            },
        ];
        for case in cases {
            let items = items_from_table(case.classes, case.table);
            assert_agreement(case.name, fleiss_kappa(&items).unwrap(), case.expect, 1e-12);
        }
    }

    #[test]
    fn fleiss_with_two_raters_matches_scott_not_cohen() {
        // With n = 2 Fleiss' kappa pools both raters' label frequencies (Scott's π), so on the
        // 2×2 textbook table it differs from Cohen's κ = 0.40: pooled p_yes = 55/100, p_no = 45/100,
        // P̄_e = 0.3025 + 0.2025 = 0.505, κ = (0.70 − 0.505) / 0.495 = 0.393939.
        let pairs = pairs_from_table(&["yes", "no"], &[&[20, 5], &[10, 15]]);
        let items: Vec<Vec<&str>> = pairs.iter().map(|&(a, b)| vec![a, b]).collect();
        let got = fleiss_kappa(&items).unwrap();
        assert_agreement("scott", got, expect(50, 0.70, 0.505, 0.195 / 0.495), 1e-12);
    }

    #[test]
    fn errors_name_the_problem() {
        let cases: Vec<(&str, Result<Agreement>, &[&str])> = vec![
            ("cohen empty", cohen_kappa(&[]), &["at least one item"]),
            ("fleiss empty", fleiss_kappa(&[]), &["at least one labelled item"]),
            (
                "fleiss one rater",
                fleiss_kappa(&[vec!["a"], vec!["b"]]),
                &["at least 2 raters", "item 1 has 1"],
            ),
            ("fleiss no rater", fleiss_kappa(&[vec![]]), &["at least 2 raters", "item 1 has 0"]),
            (
                "fleiss uneven",
                fleiss_kappa(&[vec!["a", "b"], vec!["a", "a"], vec!["a", "b", "b"], vec!["a"]]),
                &["item 1 has 2 labels", "item 3 has 3"],
            ),
        ];
        for (name, result, needles) in cases {
            let err = result.unwrap_err();
            assert_eq!(err.kind(), crate::error::ErrorKind::InvalidInput, "{name}");
            let msg = err.to_string();
            for needle in needles {
                assert!(msg.contains(needle), "{name}: {msg:?} lacks {needle:?}");
            }
        }
    }
}
