//! Cloze Studio's engine: prompt learning over candle.
//!
//! Data flows one way: [`data`] → [`template`] renders → [`plm`] scores → [`verbalizer`] maps →
//! [`classify`] / [`tune`] / [`label`] use that → [`store`] keeps it → [`export`] writes it; the
//! [`studio`] serves the desktop app over all of them. `ARCHITECTURE.md` at the repository's top
//! has the module map and where each concept lives.

pub mod autotemplate;
pub mod classify;
pub mod data;
pub mod demo;
pub mod ensemble;
pub mod error;
pub mod export;
pub mod files;
pub mod generate;
pub mod hub;
pub mod label;
pub mod logreg;
pub mod metrics;
pub mod multilabel;
pub mod plm;
pub mod scoring;
pub mod store;
pub mod studio;
pub mod template;
pub mod tune;
pub mod verbalizer;

pub use error::{Error, Result};
