//! A run's report, or a comparison of runs, as one self-contained HTML file: loss and dev curves,
//! the confusion matrix, per-class precision / recall / F1, a reliability diagram, the most and
//! least confident dev examples, the template, the verbalizer, the data and the model. The charts
//! are inline SVG from [`super::charts`], the code that draws the app's; the page loads nothing
//! (no script, no font, no stylesheet from elsewhere), so it opens offline and mails as one file.
//!
//! [`RunCurves`] reads a run's `metrics.jsonl` into the series the app's run screen charts too.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::charts::{self, Series};
use crate::error::{Error, Result};
use crate::files::{Replace, check_output, write_atomic};
use crate::metrics::Metrics;
use crate::tune::{DataSource, DevPrediction, EvalMetrics, RunDir, Summary, TuneConfig, TuneEvent};

/// How many bins the reliability diagram has.
pub const RELIABILITY_BINS: usize = 10;
/// How many examples the best and worst lists show.
pub const EXAMPLES_SHOWN: usize = 5;

const CURVE_SIZE: (u32, u32) = (520, 300);

/// A run's curves from its `metrics.jsonl`: training loss per update, dev loss, accuracy and macro
/// F1 per evaluation, and the last evaluation.
#[derive(Debug, Clone, Default)]
pub struct RunCurves {
    pub loss: Vec<(f64, f64)>,
    pub dev_loss: Vec<(f64, f64)>,
    pub accuracy: Vec<(f64, f64)>,
    pub macro_f1: Vec<(f64, f64)>,
    pub last_eval: Option<EvalMetrics>,
    pub last_step: u32,
    pub last_loss: Option<f64>,
}

impl RunCurves {
    pub fn from_events(events: &[TuneEvent]) -> Self {
        let mut c = RunCurves::default();
        for e in events {
            match e {
                TuneEvent::Step { step, loss, .. } => {
                    c.loss.push((f64::from(*step), *loss));
                    c.last_step = c.last_step.max(*step);
                    c.last_loss = Some(*loss);
                }
                TuneEvent::Eval { step, metrics, .. } => {
                    let x = f64::from(*step);
                    c.accuracy.extend(metrics.accuracy.map(|a| (x, a)));
                    c.macro_f1.extend(metrics.macro_f1.map(|f| (x, f)));
                    c.dev_loss.extend(metrics.loss.map(|l| (x, l)));
                    c.last_eval = Some(metrics.clone());
                }
                _ => {}
            }
        }
        c
    }

    pub fn read(dir: &RunDir) -> Result<Self> {
        Ok(Self::from_events(&dir.read_metrics()?))
    }

    /// Training and dev loss over updates.
    pub fn loss_svg(&self) -> Result<String> {
        let series = vec![
            Series { name: "training".into(), points: self.loss.clone() },
            Series { name: "dev".into(), points: self.dev_loss.clone() },
        ];
        curve_svg("Loss", series, "loss", None)
    }

    /// Dev accuracy over updates (0–1).
    pub fn accuracy_svg(&self) -> Result<String> {
        let series = vec![Series { name: "accuracy".into(), points: self.accuracy.clone() }];
        curve_svg("Dev accuracy", series, "accuracy", Some((0.0, 1.0)))
    }
}

/// A chart of values over updates.
fn curve_svg(title: &str, series: Vec<Series>, y_label: &str, y_range: Option<(f64, f64)>) -> Result<String> {
    charts::line_chart_in(title, &series, "update", y_label, CURVE_SIZE, y_range)
}

/// The confusion matrix of an evaluation as a chart, when it has classes.
pub fn confusion_svg(m: &EvalMetrics, size: (u32, u32)) -> Result<Option<String>> {
    // A multi-label evaluation has no confusion matrix (a row's labels are a set).
    if m.classes.is_empty() || m.confusion.is_empty() {
        return Ok(None);
    }
    let conf: Vec<Vec<usize>> = m.confusion.iter().map(|r| r.iter().map(|&c| c as usize).collect()).collect();
    charts::confusion_matrix("Dev confusion matrix", &m.classes, &conf, size).map(Some)
}

/// Per-class precision, recall and F1 of an evaluation, by [`Metrics`]' one definition.
pub fn class_metrics(m: &EvalMetrics) -> Result<Metrics> {
    let pairs: Vec<(usize, usize)> = m
        .confusion
        .iter()
        .enumerate()
        .flat_map(|(t, row)| {
            row.iter().enumerate().flat_map(move |(p, &n)| std::iter::repeat_n((t, p), n as usize))
        })
        .collect();
    Metrics::from_pairs(&pairs, &m.classes)
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, PartialEq)]
pub struct ReliabilityBin {
    /// Mean confidence (probability of the predicted class) of the rows in the bin.
    pub confidence: f64,
    /// Share of them predicted right.
    pub accuracy: f64,
    pub rows: usize,
}

/// Dev predictions in `bins` equal bins of confidence (the predicted class's probability); empty
/// bins are left out. Also returns the expected calibration error.
pub fn reliability(preds: &[DevPrediction], bins: usize) -> (Vec<ReliabilityBin>, f64) {
    let bins = bins.max(1);
    let mut sums = vec![(0.0f64, 0usize, 0usize); bins];
    for p in preds {
        let conf = p.probs.iter().copied().filter(|v| v.is_finite()).fold(f64::NAN, f64::max);
        if !conf.is_finite() {
            continue;
        }
        let b = ((conf * bins as f64) as usize).min(bins - 1);
        sums[b].0 += conf;
        sums[b].1 += usize::from(p.predicted == p.label);
        sums[b].2 += 1;
    }
    let total: usize = sums.iter().map(|s| s.2).sum();
    let out: Vec<ReliabilityBin> = sums
        .iter()
        .filter(|s| s.2 > 0)
        .map(|&(c, right, n)| ReliabilityBin {
            confidence: c / n as f64,
            accuracy: right as f64 / n as f64,
            rows: n,
        })
        .collect();
    let ece = if total == 0 {
        0.0
    } else {
        out.iter().map(|b| b.rows as f64 / total as f64 * (b.confidence - b.accuracy).abs()).sum()
    };
    (out, ece)
}

/// The reliability diagram: accuracy against confidence per bin, and the diagonal of perfect
/// calibration.
pub fn reliability_svg(preds: &[DevPrediction]) -> Result<String> {
    let (bins, ece) = reliability(preds, RELIABILITY_BINS);
    let model: Vec<(f64, f64)> = bins.iter().map(|b| (b.confidence, b.accuracy)).collect();
    let title =
        if model.is_empty() { "Reliability".to_string() } else { format!("Reliability (ECE {ece:.3})") };
    charts::line_chart_in(
        &title,
        &[
            Series { name: "dev rows".into(), points: model },
            Series { name: "perfectly calibrated".into(), points: vec![(0.0, 0.0), (1.0, 1.0)] },
        ],
        "confidence",
        "accuracy",
        (420, 380),
        Some((0.0, 1.0)),
    )
}

/// HTML-escapes text.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{:.1}%", v * 100.0))
}

/// One run as the report reads it.
struct RunReport {
    name: String,
    config: TuneConfig,
    summary: Option<Summary>,
    curves: RunCurves,
    preds: Vec<DevPrediction>,
}

impl RunReport {
    fn read(run_dir: &Path) -> Result<Self> {
        let dir = RunDir::new(run_dir);
        let config = dir.read_config()?;
        let name = std::fs::canonicalize(run_dir)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| run_dir.display().to_string());
        Ok(RunReport {
            name,
            summary: dir.read_summary()?,
            curves: RunCurves::read(&dir)?,
            preds: dir.read_predictions()?,
            config,
        })
    }

    fn final_metrics(&self) -> Option<&EvalMetrics> {
        self.summary.as_ref().and_then(|s| s.final_metrics.as_ref()).or(self.curves.last_eval.as_ref())
    }
}

const STYLE: &str = "body{font-family:sans-serif;color:#333;max-width:1100px;margin:2em auto;padding:0 1em}\
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.3em .6em;text-align:left}\
th{background:#f4f6fa}td.n{text-align:right;font-variant-numeric:tabular-nums}\
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;white-space:pre-wrap}\
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts svg{border:1px solid #eee}\
.ok{color:#2e7d32}.bad{color:#c62828}.muted{color:#777}";

fn describe_data(data: &DataSource) -> String {
    match data {
        DataSource::Files { train, dev, columns, .. } => {
            let mut s = format!("training file {}", train.display());
            if let Some(d) = dev {
                let _ = write!(s, ", dev file {}", d.display());
            }
            if let Some(c) = columns {
                let _ = write!(s, ", columns {c}");
            }
            s
        }
        DataSource::Project { path, dataset, label_set } => {
            let mut s = format!("dataset {dataset:?} of the project {}", path.display());
            if let Some(l) = label_set {
                let _ = write!(s, ", labels {l:?}");
            }
            s
        }
        DataSource::Inline => "rows given directly".into(),
    }
}

fn examples_table(html: &mut String, title: &str, preds: &[&DevPrediction]) {
    let _ = write!(html, "<h3>{}</h3>", esc(title));
    if preds.is_empty() {
        html.push_str("<p class=\"muted\">No dev predictions.</p>");
        return;
    }
    html.push_str("<table><tr><th>text</th><th>label</th><th>predicted</th><th>p(label)</th></tr>");
    for p in preds {
        let class = if p.predicted == p.label { "ok" } else { "bad" };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{}</td><td class=\"n\">{:.3}</td></tr>",
            esc(&p.text),
            esc(&p.label),
            esc(&p.predicted),
            p.p_label
        );
    }
    html.push_str("</table>");
}

fn run_section(html: &mut String, r: &RunReport) -> Result<()> {
    let c = &r.config;
    let _ = write!(html, "<section id=\"run-{0}\"><h2>Run {0}</h2>", esc(&r.name));
    html.push_str("<table>");
    let status = match &r.summary {
        Some(s) => format!(
            "finished after {} updates in {:.0} s{}",
            s.steps,
            s.seconds,
            if s.stopped_early { " (stopped early)" } else { "" }
        ),
        None => format!("not finished (update {})", r.curves.last_step),
    };
    let model = c.model.display().to_string();
    let rows: [(&str, String); 5] = [
        ("strategy", c.strategy.name().into()),
        ("model", model),
        ("data", describe_data(&c.data)),
        ("status", status),
        ("seed", c.hyper.seed.to_string()),
    ];
    for (k, v) in rows {
        let _ = write!(html, "<tr><th>{k}</th><td>{}</td></tr>", esc(&v));
    }
    html.push_str("</table>");
    if let Some(t) = &c.template {
        let _ = write!(html, "<h3>Template</h3><pre>{}</pre>", esc(t));
    }
    if let Some(v) = &c.verbalizer {
        html.push_str("<h3>Verbalizer</h3><table><tr><th>class</th><th>label words</th></tr>");
        for class in &v.classes {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td></tr>",
                esc(&class.name),
                esc(&class.words.join(", "))
            );
        }
        html.push_str("</table>");
    }
    let hyper = serde_json::to_string_pretty(&c.hyper).unwrap_or_default();
    let _ = write!(html, "<details><summary>Hyperparameters</summary><pre>{}</pre></details>", esc(&hyper));

    html.push_str("<h3>Curves</h3><div class=\"charts\">");
    html.push_str(&r.curves.loss_svg()?);
    html.push_str(&r.curves.accuracy_svg()?);
    html.push_str("</div>");

    match r.final_metrics() {
        Some(m) if m.multi_label.is_some() => {
            let ml = m.multi_label.as_ref().expect("matched");
            let _ = write!(
                html,
                "<h3>Dev metrics (multi-label)</h3><p>micro F1 <b>{}</b>, macro F1 <b>{}</b>, subset accuracy \
                 <b>{}</b>, Hamming loss {:.3} on {} rows</p><table><tr><th>label</th><th>F1</th><th>threshold</th></tr>",
                pct(Some(ml.micro_f1)),
                pct(Some(ml.macro_f1)),
                pct(Some(ml.subset_accuracy)),
                ml.hamming_loss,
                m.rows
            );
            for ((name, f1), t) in m.classes.iter().zip(&m.per_class_f1).zip(&ml.thresholds) {
                let _ = write!(
                    html,
                    "<tr><td>{}</td><td class=\"n\">{f1:.3}</td><td class=\"n\">{t:.3}</td></tr>",
                    esc(name)
                );
            }
            html.push_str("</table>");
        }
        Some(m) => {
            let _ = write!(
                html,
                "<h3>Dev metrics</h3><p>accuracy <b>{}</b>, macro F1 <b>{}</b> on {} rows</p>",
                pct(m.accuracy),
                pct(m.macro_f1),
                m.rows
            );
            html.push_str("<div class=\"charts\">");
            if let Some(svg) = confusion_svg(m, (420, 380))? {
                html.push_str(&svg);
            }
            html.push_str(&reliability_svg(&r.preds)?);
            html.push_str("</div>");
            if !m.classes.is_empty() {
                let per = class_metrics(m)?;
                html.push_str(
                    "<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>",
                );
                for (name, s) in per.classes.iter().zip(&per.per_class) {
                    let _ = write!(
                        html,
                        "<tr><td>{}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td>\
                         <td class=\"n\">{}</td></tr>",
                        esc(name),
                        s.precision,
                        s.recall,
                        s.f1,
                        s.support
                    );
                }
                html.push_str("</table>");
            }
        }
        None => html.push_str("<p class=\"muted\">No dev evaluation: the run had no dev rows.</p>"),
    }
    let mut sorted: Vec<&DevPrediction> = r.preds.iter().collect();
    sorted.sort_by(|a, b| b.p_label.total_cmp(&a.p_label));
    let best: Vec<&DevPrediction> = sorted.iter().take(EXAMPLES_SHOWN).copied().collect();
    let worst: Vec<&DevPrediction> = sorted.iter().rev().take(EXAMPLES_SHOWN).copied().collect();
    examples_table(html, "Dev rows with the highest probability of their label", &best);
    examples_table(html, "Dev rows with the lowest probability of their label", &worst);
    html.push_str("</section>");
    Ok(())
}

/// The report of the runs in `run_dirs` (one, or several to compare) as one HTML document.
pub fn report_html(run_dirs: &[PathBuf]) -> Result<String> {
    if run_dirs.is_empty() {
        return Err(Error::invalid("a report needs at least one run folder"));
    }
    let runs = run_dirs.iter().map(|d| RunReport::read(d)).collect::<Result<Vec<_>>>()?;
    let title = match runs.as_slice() {
        [one] => format!("Cloze Studio report: {}", one.name),
        many => format!("Cloze Studio report: {} runs compared", many.len()),
    };
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{0}</title><style>{STYLE}</style></head><body><h1>{0}</h1>",
        esc(&title)
    );
    let _ = write!(html, "<p class=\"muted\">Written by Cloze Studio {}.</p>", env!("CARGO_PKG_VERSION"));
    if runs.len() > 1 {
        html.push_str(
            "<h2>Comparison</h2><table><tr><th>run</th><th>strategy</th><th>model</th><th>updates</th>\
             <th>accuracy</th><th>macro F1</th></tr>",
        );
        for r in &runs {
            let m = r.final_metrics();
            let _ = write!(
                html,
                "<tr><td><a href=\"#run-{0}\">{0}</a></td><td>{1}</td><td>{2}</td><td class=\"n\">{3}</td>\
                 <td class=\"n\">{4}</td><td class=\"n\">{5}</td></tr>",
                esc(&r.name),
                r.config.strategy.name(),
                esc(&r.config.model.display().to_string()),
                r.summary.as_ref().map_or(r.curves.last_step, |s| s.steps),
                pct(m.and_then(|m| m.accuracy)),
                pct(m.and_then(|m| m.macro_f1)),
            );
        }
        html.push_str("</table><div class=\"charts\">");
        let series = |f: fn(&RunCurves) -> &Vec<(f64, f64)>| -> Vec<Series> {
            runs.iter().map(|r| Series { name: r.name.clone(), points: f(&r.curves).clone() }).collect()
        };
        html.push_str(&curve_svg("Training loss", series(|c| &c.loss), "loss", None)?);
        html.push_str(&curve_svg("Dev accuracy", series(|c| &c.accuracy), "accuracy", Some((0.0, 1.0)))?);
        html.push_str("</div>");
    }
    for r in &runs {
        run_section(&mut html, r)?;
    }
    html.push_str("</body></html>\n");
    Ok(html)
}

/// Writes the report of `run_dirs` to the file `out` (atomically; an existing file is replaced
/// only with [`Replace::Allow`]).
pub fn export_report(run_dirs: &[PathBuf], out: &Path, replace: Replace) -> Result<PathBuf> {
    let inputs: Vec<&Path> = run_dirs.iter().map(PathBuf::as_path).collect();
    check_output(out, &inputs, replace)?;
    let html = report_html(run_dirs)?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    write_atomic(out, html.as_bytes())?;
    Ok(out.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pred(label: &str, predicted: &str, probs: &[f64]) -> DevPrediction {
        DevPrediction {
            id: "1".into(),
            text: "<b>x</b>".into(),
            label: label.into(),
            predicted: predicted.into(),
            p_label: probs[0],
            probs: probs.to_vec(),
        }
    }

    #[test]
    fn reliability_bins() {
        type Case = (&'static str, Vec<DevPrediction>, Vec<(f64, f64, usize)>, f64);
        let cases: Vec<Case> = vec![
            ("empty", vec![], vec![], 0.0),
            ("one right, sure", vec![pred("a", "a", &[1.0, 0.0])], vec![(1.0, 1.0, 1)], 0.0),
            (
                "two bins",
                vec![
                    pred("a", "a", &[0.95, 0.05]),
                    pred("a", "b", &[0.45, 0.55]),
                    pred("b", "b", &[0.42, 0.58]),
                ],
                vec![(0.565, 0.5, 2), (0.95, 1.0, 1)],
                (2.0 / 3.0) * 0.065 + (1.0 / 3.0) * 0.05,
            ),
            ("NaN skipped", vec![pred("a", "a", &[f64::NAN, f64::NAN])], vec![], 0.0),
        ];
        for (name, preds, want, want_ece) in cases {
            let (bins, ece) = reliability(&preds, 10);
            let got: Vec<(f64, f64, usize)> =
                bins.iter().map(|b| (b.confidence, b.accuracy, b.rows)).collect();
            assert_eq!(got.len(), want.len(), "{name}: {got:?}");
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g.0 - w.0).abs() < 1e-9 && (g.1 - w.1).abs() < 1e-9 && g.2 == w.2,
                    "{name}: {got:?}"
                );
            }
            assert!((ece - want_ece).abs() < 1e-9, "{name}: ece {ece}");
        }
    }

    #[test]
    fn class_metrics_from_confusion() {
        let m = EvalMetrics {
            rows: 5,
            score: 0.6,
            accuracy: Some(0.6),
            macro_f1: None,
            per_class_f1: vec![],
            classes: vec!["a".into(), "b".into()],
            confusion: vec![vec![2, 1], vec![1, 1]],
            loss: None,
            multi_label: None,
        };
        let per = class_metrics(&m).unwrap();
        assert_eq!(per.rows, 5);
        let cases = [(0, 2.0 / 3.0, 2.0 / 3.0, 3), (1, 0.5, 0.5, 2)];
        for (i, p, r, support) in cases {
            let s = &per.per_class[i];
            assert!((s.precision - p).abs() < 1e-9 && (s.recall - r).abs() < 1e-9, "class {i}: {s:?}");
            assert_eq!(s.support, support);
        }
    }

    #[test]
    fn escaping() {
        let cases = [("a<b>&\"c\"'", "a&lt;b&gt;&amp;&quot;c&quot;&#39;"), ("plain", "plain"), ("", "")];
        for (input, want) in cases {
            assert_eq!(esc(input), want);
        }
    }
}
