//! Cloze Studio's engine: prompt learning over candle.
//!
//! Data flows one way: [`data`] → [`template`] renders → [`plm`] scores → [`verbalizer`] maps →
//! [`classify`] uses that. See `ARCHITECTURE.md` in the shared folder for the whole picture.

pub mod classify;
pub mod data;
pub mod demo;
pub mod error;
pub mod export;
pub mod hub;
pub mod label;
pub mod metrics;
pub mod plm;
pub mod store;
pub mod studio;
pub mod template;
pub mod tune;
pub mod verbalizer;

pub use error::{Error, Result};
