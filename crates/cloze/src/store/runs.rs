//! Runs (every scoring or tuning job, with the full config and seed that reproduce it), their
//! metrics over time, and the per-row suggestions a scoring run leaves for the labelling queue.

use rusqlite::{OptionalExtension, params};

use super::Store;
use crate::error::{Error, ErrorKind, Result};

/// How a run ended, or that it is still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Finished,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Run {
    pub id: i64,
    pub strategy: String,
    pub config: serde_json::Value,
    pub seed: i64,
    pub status: String,
    pub label_set_id: Option<i64>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub error: Option<String>,
}

/// A model's view of one row: its class probabilities, and the uncertainty figures the queue sorts by.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Suggestion {
    pub run_id: i64,
    pub row_id: i64,
    pub predicted: String,
    pub confidence: f64,
    pub margin: f64,
    pub entropy: f64,
    pub probs: Vec<f64>,
}

impl Suggestion {
    /// Computes the figures from class probabilities (in the label set's class order).
    pub fn from_probs(run_id: i64, row_id: i64, classes: &[String], probs: &[f64]) -> Result<Self> {
        if probs.len() != classes.len() || probs.is_empty() {
            return Err(Error::invalid(format!(
                "{} probabilities for {} classes",
                probs.len(),
                classes.len()
            )));
        }
        let mut order: Vec<usize> = (0..probs.len()).collect();
        order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
        let best = probs[order[0]];
        let second = order.get(1).map(|&i| probs[i]).unwrap_or(0.0);
        let entropy = -probs.iter().filter(|&&p| p > 0.0).map(|p| p * p.ln()).sum::<f64>();
        Ok(Self {
            run_id,
            row_id,
            predicted: classes[order[0]].clone(),
            confidence: best,
            margin: best - second,
            entropy,
            probs: probs.to_vec(),
        })
    }
}

const RUN_COLUMNS: &str = "id, strategy, config, seed, status, label_set_id, started_at, finished_at, error";

fn run_from_row(r: &rusqlite::Row) -> rusqlite::Result<Run> {
    let config: String = r.get(2)?;
    Ok(Run {
        id: r.get(0)?,
        strategy: r.get(1)?,
        config: serde_json::from_str(&config).unwrap_or(serde_json::Value::Null),
        seed: r.get(3)?,
        status: r.get(4)?,
        label_set_id: r.get(5)?,
        started_at: r.get(6)?,
        finished_at: r.get(7)?,
        error: r.get(8)?,
    })
}

impl Store {
    /// Records the start of a run.
    pub fn start_run(
        &self,
        strategy: &str,
        config: &serde_json::Value,
        seed: u64,
        label_set_id: Option<i64>,
    ) -> Result<i64> {
        self.conn()
            .execute(
                "INSERT INTO runs (strategy, config, seed, status, label_set_id) VALUES (?1, ?2, ?3, 'running', ?4)",
                params![strategy, config.to_string(), seed as i64, label_set_id],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn().last_insert_rowid())
    }

    /// Records how a run ended.
    pub fn finish_run(&self, run_id: i64, status: RunStatus, error: Option<&str>) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE runs SET status = ?2, error = ?3, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 WHERE id = ?1",
                params![run_id, status.as_str(), error],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A run by id.
    pub fn run(&self, run_id: i64) -> Result<Run> {
        self.conn()
            .query_row(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"), [run_id], run_from_row)
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| self.failure(ErrorKind::NotFound, format!("there is no run {run_id}")))
    }

    /// The runs that scored a label set, newest first.
    pub fn runs(&self, label_set_id: i64) -> Result<Vec<Run>> {
        let mut stmt = self
            .conn()
            .prepare(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE label_set_id = ?1 ORDER BY id DESC"))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([label_set_id], run_from_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    /// The run whose suggestions a label set shows by default: its newest finished run, else its
    /// newest run of any status.
    pub fn latest_run(&self, label_set_id: i64) -> Result<Option<i64>> {
        self.conn()
            .query_row(
                "SELECT id FROM runs WHERE label_set_id = ?1
                 ORDER BY CASE status WHEN 'finished' THEN 0 ELSE 1 END, id DESC LIMIT 1",
                [label_set_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// How many rows a run left a suggestion for.
    pub fn suggestion_count(&self, run_id: i64) -> Result<i64> {
        self.conn()
            .query_row("SELECT count(*) FROM suggestions WHERE run_id = ?1", [run_id], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Appends a metric value of a run at a step.
    pub fn log_metric(&self, run_id: i64, step: i64, name: &str, value: f64) -> Result<()> {
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO run_metrics (run_id, step, name, value) VALUES (?1, ?2, ?3, ?4)",
                params![run_id, step, name, value],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Writes (or replaces) a batch of suggestions in one transaction.
    pub fn put_suggestions(&mut self, suggestions: &[Suggestion]) -> Result<()> {
        let path = self.path().map(std::path::Path::to_path_buf);
        let tx = self.conn_mut().transaction().map_err(|e| super::db_err(path.as_deref(), e))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO suggestions (run_id, row_id, predicted, confidence, margin, entropy, probs)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(|e| super::db_err(path.as_deref(), e))?;
            for s in suggestions {
                stmt.execute(params![
                    s.run_id,
                    s.row_id,
                    s.predicted,
                    s.confidence,
                    s.margin,
                    s.entropy,
                    serde_json::to_string(&s.probs).expect("floats serialise")
                ])
                .map_err(|e| super::db_err(path.as_deref(), e))?;
            }
        }
        tx.commit().map_err(|e| super::db_err(path.as_deref(), e))
    }

    /// A run's suggestion for a row, if it scored it.
    pub fn suggestion(&self, run_id: i64, row_id: i64) -> Result<Option<Suggestion>> {
        self.conn()
            .query_row(
                "SELECT run_id, row_id, predicted, confidence, margin, entropy, probs FROM suggestions
                 WHERE run_id = ?1 AND row_id = ?2",
                params![run_id, row_id],
                |r| {
                    let probs: String = r.get(6)?;
                    Ok(Suggestion {
                        run_id: r.get(0)?,
                        row_id: r.get(1)?,
                        predicted: r.get(2)?,
                        confidence: r.get(3)?,
                        margin: r.get(4)?,
                        entropy: r.get(5)?,
                        probs: serde_json::from_str(&probs).unwrap_or_default(),
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestion_figures() {
        let classes: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let cases = [
            (
                vec![0.7, 0.2, 0.1],
                "a",
                0.7,
                0.5,
                -(0.7f64 * 0.7f64.ln() + 0.2 * 0.2f64.ln() + 0.1 * 0.1f64.ln()),
            ),
            (vec![0.0, 1.0, 0.0], "b", 1.0, 1.0, 0.0),
            (vec![0.4, 0.2, 0.4], "a", 0.4, 0.0, -(2.0 * 0.4 * 0.4f64.ln() + 0.2 * 0.2f64.ln())),
        ];
        for (probs, predicted, confidence, margin, entropy) in cases {
            let s = Suggestion::from_probs(1, 2, &classes, &probs).unwrap();
            assert_eq!(s.predicted, predicted);
            assert!((s.confidence - confidence).abs() < 1e-12);
            assert!((s.margin - margin).abs() < 1e-12);
            assert!((s.entropy - entropy).abs() < 1e-12, "{probs:?}: {}", s.entropy);
        }
        assert!(Suggestion::from_probs(1, 2, &classes, &[0.5, 0.5]).is_err());
    }

    #[test]
    fn runs_and_suggestions_round_trip() {
        let store = Store::open_in_memory().unwrap();
        let run = store
            .start_run("zero-shot", &serde_json::json!({"template": "{text_a} {mask}"}), 7, None)
            .unwrap();
        assert_eq!(store.run(run).unwrap().status, "running");
        store.log_metric(run, 1, "accuracy", 0.5).unwrap();
        store.finish_run(run, RunStatus::Finished, None).unwrap();
        let r = store.run(run).unwrap();
        assert_eq!((r.status.as_str(), r.seed), ("finished", 7));
        assert_eq!(r.config["template"], "{text_a} {mask}");
        assert!(store.run(99).unwrap_err().to_string().contains("no run 99"));
        // suggestions need real rows (foreign keys): checked in the queue tests
        assert_eq!(store.suggestion(run, 1).unwrap(), None);
    }
}
