//! The error every command returns: the engine's error as `{kind, message}`, the shape the UI
//! shows (the message says what went wrong and what to do).

use serde::Serialize;

/// See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct AppError {
    pub kind: String,
    pub message: String,
}

impl From<cloze::Error> for AppError {
    fn from(e: cloze::Error) -> Self {
        Self { kind: e.kind().to_string(), message: e.to_string() }
    }
}

impl AppError {
    /// A failure of the shell itself (a panicked worker thread): a bug, reported as such.
    pub fn internal(what: impl std::fmt::Display) -> Self {
        Self {
            kind: "internal".into(),
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
        assert_eq!(json, serde_json::json!({"kind": "invalid", "message": "pick a label set first"}));
        assert_eq!(AppError::from(cloze::Error::Cancelled).kind, "cancelled");
    }
}
