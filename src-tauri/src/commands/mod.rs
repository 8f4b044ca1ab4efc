//! The app's commands: each one line calling the studio (see `cloze::studio`), run off the UI
//! thread by [`crate::jobs`]. Grouped by screen.

pub mod app;
pub mod data;
pub mod ensembles;
pub mod export;
pub mod jobs;
pub mod labelling;
pub mod models;
pub mod multilabel;
pub mod projects;
pub mod prompts;
pub mod tuning;
