//! The error every command returns: the engine's error as `{kind, message}`, the shape the UI
//! shows (the message says what went wrong and what to do, naming settings as the app labels them;
//! `kind` is what the UI can act on, e.g. `cancelled`).

use cloze::error::{ErrorKind, Front};
use serde::Serialize;

/// See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct AppError {
    pub kind: ErrorKind,
    pub message: String,
}

impl From<cloze::Error> for AppError {
    fn from(e: cloze::Error) -> Self {
        Self { kind: e.kind(), message: e.message(Front::App) }
    }
}

impl AppError {
    /// A failure of the shell itself (a panicked worker thread): a bug, reported as such.
    pub fn internal(what: impl std::fmt::Display) -> Self {
        Self {
            kind: ErrorKind::Internal,
            message: format!("{what}; this is a bug in Cloze Studio, please report it (your data is safe)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_kind_and_message() {
        let e: AppError = cloze::Error::invalid("pick a label set first").into();
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json, serde_json::json!({"kind": "invalid-input", "message": "pick a label set first"}));
        assert_eq!(AppError::from(cloze::Error::Cancelled).kind, ErrorKind::Cancelled);
        // Settings are named as the app labels them, not as flags.
        let bad = cloze::Error::invalid(
            cloze::error::Text::from("set ").setting(cloze::error::Setting::BatchSize).then(" to e.g. 8"),
        );
        assert_eq!(AppError::from(bad).message, "set “Batch size” to e.g. 8");
    }
}
