//! The labelling loop: a queue that puts first the rows whose answer teaches most, a session that
//! records every decision at once with its provenance (and undoes any of them), background
//! re-scoring of suggestions, agreement between annotators, and labels the model contradicts
//! ([`suspicious`]).

pub mod agreement;
mod queue;
mod rescore;
pub mod suspicious;

pub use agreement::{Agreement, cohen_kappa, fleiss_kappa};
pub use queue::{Queue, QueueItem, QueueOrder, Session};
pub use rescore::{
    EnsembleScoringRun, RescoreProgress, SCORE_BATCH, ScoringPrompt, ScoringRun, rescore, score_with_ensemble,
};
