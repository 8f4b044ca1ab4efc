//! Automatic templates, the search that works on any model family: a beam search over edits of a
//! template's fixed words, in the manner of GrIPS (Prasad et al., "GrIPS: Gradient-free, Edit-based
//! Instruction Search for Prompting Large Language Models", EACL 2023): from the user's template,
//! each round deletes one word, swaps one for a near synonym of prompt wording ([`SUBSTITUTES`]),
//! or puts a summarising phrase before the mask ([`PHRASES`], LM-BFF's manual templates' openers);
//! every candidate is scored on labelled rows (accuracy, ties broken by the mean log-probability
//! of the right class) and the best [`SearchOptions::beam`] go on to the next round. Every
//! candidate's score is reported. LM-BFF's generation of templates with a T5 model, whose candidates
//! are ranked the same way, is [`t5gen`].

pub mod t5gen;

use std::collections::BTreeSet;

use crate::classify::{Classifier, ClassifyOptions};
use crate::data::Example;
use crate::error::{Error, Result};
use crate::plm::Plm;
use crate::template::{Segment, Template};
use crate::verbalizer::Verbalizer;

/// Words of prompt wording and what each may become.
pub const SUBSTITUTES: &[(&str, &[&str])] = &[
    ("It", &["This", "That", "Overall, it"]),
    ("it", &["this", "that"]),
    ("This", &["It", "That"]),
    ("this", &["it", "that"]),
    ("was", &["is", "felt", "seemed"]),
    ("is", &["was", "seems", "feels"]),
    ("A", &["The", "One"]),
    ("a", &["the", "one"]),
    ("movie", &["film", "story"]),
    ("film", &["movie"]),
    ("about", &["on", "regarding"]),
    ("Topic", &["Subject", "Category"]),
    ("Review", &["Movie review", "Comment", "Text"]),
    ("Sentiment", &["Opinion", "Verdict", "Feeling"]),
    ("Answer", &["Reply", "Response"]),
    ("Question", &["Query"]),
    ("really", &["truly", "very"]),
    ("very", &["really", "quite"]),
];

/// Openers put before the text that leads up to the mask.
pub const PHRASES: &[&str] = &["All in all,", "Overall,", "In short,", "In summary,", "Honestly,"];

/// How far the search goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SearchOptions {
    /// Candidates kept after each round.
    pub beam: usize,
    /// Rounds of edits.
    pub rounds: usize,
    /// Labelled rows scored per candidate (a seeded sample when there are more).
    pub max_rows: usize,
    pub seed: u64,
    pub batch_size: usize,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self { beam: 2, rounds: 2, max_rows: 100, seed: 42, batch_size: 32 }
    }
}

/// One scored template.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Candidate {
    pub template: String,
    /// The round it was made in (0: the starting template).
    pub round: usize,
    /// The edit that made it from its parent ("delete \"was\"", "\"was\" → \"is\"", …).
    pub edit: String,
    pub accuracy: f64,
    /// The mean log-probability of each row's right class.
    pub mean_log_prob: f64,
}

/// Splits fixed text into words, keeping the whitespace before each (`" It was"` → `[(" ", "It"),
/// (" ", "was")]`) and the text's trailing whitespace.
fn words(text: &str) -> (Vec<(String, String)>, String) {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let ws_len = rest.len() - rest.trim_start().len();
        let (ws, after) = rest.split_at(ws_len);
        if after.is_empty() {
            return (out, ws.to_string());
        }
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        out.push((ws.to_string(), after[..end].to_string()));
        rest = &after[end..];
    }
}

fn join(words: &[(String, String)], tail: &str) -> String {
    words.iter().map(|(ws, w)| format!("{ws}{w}")).collect::<String>() + tail
}

/// The single edits of `template` (see the module documentation), each with what it did; only
/// edits that still parse back to a classification template.
pub fn edits(template: &Template) -> Vec<(String, Template)> {
    let segments = template.segments();
    let mask = segments.iter().position(|s| matches!(s, Segment::Mask));
    let mut out = Vec::new();
    let mut push = |i: usize, text: String, edit: String| {
        let mut segs = segments.to_vec();
        if text.trim().is_empty() {
            segs.remove(i);
        } else {
            segs[i] = Segment::Text(text);
        }
        if let Ok(t) = Template::new(segs)
            && t.check_classification().is_ok()
        {
            out.push((edit, t));
        }
    };
    for (i, seg) in segments.iter().enumerate() {
        let Segment::Text(text) = seg else { continue };
        let (ws, tail) = words(text);
        for j in 0..ws.len() {
            // Punctuation alone ("." after the mask) is kept: the mask's sentence needs its end.
            let word = &ws[j].1;
            if word.chars().any(char::is_alphanumeric) {
                let mut fewer = ws.clone();
                let (lead, _) = fewer.remove(j);
                if j == 0
                    && let Some(next) = fewer.get_mut(0)
                {
                    next.0 = lead;
                }
                push(i, join(&fewer, &tail), format!("delete {word:?}"));
            }
            let (core, punct) = split_punct(word);
            if let Some((_, subs)) = SUBSTITUTES.iter().find(|(w, _)| *w == core) {
                for sub in *subs {
                    let mut swapped = ws.clone();
                    swapped[j].1 = format!("{sub}{punct}");
                    push(i, join(&swapped, &tail), format!("{core:?} → {sub:?}"));
                }
            }
        }
        // An opener before the words that lead up to the mask.
        if mask == Some(i + 1) && !ws.is_empty() {
            let first = &ws[0].1;
            let lowered = lower_first(first);
            let lower = text.to_lowercase();
            if PHRASES.iter().any(|p| lower.contains(&p.to_lowercase())) {
                continue;
            }
            for phrase in PHRASES {
                let mut with = ws.clone();
                with[0].1 = format!("{phrase} {lowered}");
                push(i, join(&with, &tail), format!("add {phrase:?}"));
            }
        }
    }
    out
}

/// `"was,"` → `("was", ",")`.
fn split_punct(word: &str) -> (&str, &str) {
    let end = word.trim_end_matches(|c: char| c.is_ascii_punctuation()).len();
    word.split_at(end)
}

/// The word with its first letter lowered (not for "I" or an acronym).
fn lower_first(word: &str) -> String {
    let mut chars = word.chars();
    match (chars.next(), chars.next()) {
        (Some(a), Some(b)) if a.is_uppercase() && b.is_lowercase() => {
            a.to_lowercase().chain(word.chars().skip(1)).collect()
        }
        _ => word.to_string(),
    }
}

/// Up to `max` of `rows`' labelled rows (a seeded sample when there are more); an error naming
/// `what` needs them when there are none.
fn labelled_sample(rows: &[Example], max: usize, seed: u64, what: &str) -> Result<Vec<Example>> {
    let labelled: Vec<Example> = rows.iter().filter(|r| r.label.is_some()).cloned().collect();
    if labelled.is_empty() {
        return Err(Error::precondition(format!(
            "{what} scores candidates on labelled rows, and none of the {} rows has a label; label some rows first",
            rows.len()
        )));
    }
    if labelled.len() <= max {
        return Ok(labelled);
    }
    let mut order: Vec<usize> = (0..labelled.len()).collect();
    crate::data::shuffle(&mut order, seed);
    Ok(order.into_iter().take(max).map(|i| labelled[i].clone()).collect())
}

/// Accuracy and mean log-probability of the right class of `template` on `rows`.
fn score(
    plm: &Plm,
    template: &Template,
    verbalizer: &Verbalizer,
    rows: &[Example],
    batch_size: usize,
) -> Result<(f64, f64)> {
    let classifier = Classifier::new(
        plm,
        template.clone(),
        verbalizer,
        ClassifyOptions { batch_size, ..Default::default() },
    )?;
    let preds = classifier.classify(rows, &mut |_, _| true)?;
    let mut hits = 0;
    let mut log_prob = 0.0;
    for p in &preds {
        let label = p.label.as_deref().unwrap_or_default();
        hits += usize::from(p.predicted == label);
        let q = p.probs.iter().find(|(c, _)| c == label).map_or(0.0, |(_, v)| *v);
        log_prob += f64::from(q).max(1e-12).ln();
    }
    let n = preds.len().max(1) as f64;
    Ok((hits as f64 / n, log_prob / n))
}

/// Runs the search from `start` on labelled `rows` (see the module documentation). Returns every
/// candidate scored, best first. `progress(done, total)` counts candidates of the round under way;
/// `false` cancels.
pub fn search(
    plm: &Plm,
    start: &Template,
    verbalizer: &Verbalizer,
    rows: &[Example],
    options: SearchOptions,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Vec<Candidate>> {
    start.check_classification()?;
    if options.beam == 0 || options.max_rows == 0 {
        return Err(Error::invalid("the template search needs a beam and rows of at least 1"));
    }
    crate::classify::check_labels(rows, &verbalizer.class_names())?;
    let sample = labelled_sample(rows, options.max_rows, options.seed, "the template search")?;
    let (accuracy, mean_log_prob) = score(plm, start, verbalizer, &sample, options.batch_size)?;
    let mut all = vec![Candidate {
        template: start.source().to_string(),
        round: 0,
        edit: "the starting template".into(),
        accuracy,
        mean_log_prob,
    }];
    let mut seen: BTreeSet<String> = BTreeSet::from([start.source().to_string()]);
    let mut beam = vec![start.clone()];
    for round in 1..=options.rounds {
        let mut todo = Vec::new();
        for t in &beam {
            for (edit, c) in edits(t) {
                if seen.insert(c.source().to_string()) {
                    todo.push((edit, c));
                }
            }
        }
        for (k, (edit, c)) in todo.iter().enumerate() {
            if !progress(k, todo.len()) {
                return Err(Error::Cancelled);
            }
            let (accuracy, mean_log_prob) = score(plm, c, verbalizer, &sample, options.batch_size)?;
            all.push(Candidate {
                template: c.source().to_string(),
                round,
                edit: edit.clone(),
                accuracy,
                mean_log_prob,
            });
        }
        sort(&mut all);
        beam = all.iter().take(options.beam).map(|c| Template::parse(&c.template)).collect::<Result<_>>()?;
    }
    sort(&mut all);
    Ok(all)
}

fn sort(all: &mut [Candidate]) {
    all.sort_by(|a, b| b.accuracy.total_cmp(&a.accuracy).then(b.mean_log_prob.total_cmp(&a.mean_log_prob)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_of_a_template() {
        let t = Template::parse("{text_a} It was {mask}.").unwrap();
        let got: Vec<(String, String)> =
            edits(&t).into_iter().map(|(e, t)| (e, t.source().to_string())).collect();
        let has = |edit: &str, source: &str| {
            assert!(got.iter().any(|(e, s)| e == edit && s == source), "{edit} → {source} not in {got:#?}");
        };
        has("delete \"It\"", "{text_a} was {mask}.");
        has("delete \"was\"", "{text_a} It {mask}.");
        has("\"was\" → \"is\"", "{text_a} It is {mask}.");
        has("\"It\" → \"This\"", "{text_a} This was {mask}.");
        has("add \"All in all,\"", "{text_a} All in all, it was {mask}.");
        // One opener at most.
        let opened = Template::parse("{text_a} Overall, it was {mask}.").unwrap();
        assert!(edits(&opened).iter().all(|(e, _)| !e.starts_with("add")));
        // The "." after the mask is never deleted; every edit still has its mask.
        assert!(got.iter().all(|(_, s)| s.ends_with("{mask}.")), "{got:#?}");
    }

    #[test]
    fn words_keep_their_whitespace() {
        assert_eq!(
            words(" It was "),
            (vec![(" ".into(), "It".into()), (" ".into(), "was".into())], " ".into())
        );
        assert_eq!(split_punct("was,"), ("was", ","));
        assert_eq!(
            (lower_first("It"), lower_first("I"), lower_first("NASA")),
            ("it".into(), "I".into(), "NASA".into())
        );
    }
}
