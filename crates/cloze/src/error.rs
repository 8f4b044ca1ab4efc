//! One error type for the whole engine.
//!
//! Every message says what went wrong and, where there is one, how to fix it; every variant has a
//! stable [`Error::kind`] so the desktop app can show errors as `{kind, message}`.

use std::path::PathBuf;

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },

    /// A template could not be parsed or rendered. `position` is a 0-based character offset into
    /// the template text.
    #[error("template error at character {position}: {message}")]
    Template { position: usize, message: String },

    /// A data file has a malformed row or an unusable layout. `line` is 1-based when known.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Data { path: PathBuf, line: Option<u64>, message: String },

    /// A verbalizer is malformed or does not fit the model's vocabulary.
    #[error("verbalizer: {message}")]
    Verbalizer { message: String },

    /// A model folder is missing files, has an unsupported family or inconsistent weights.
    #[error("model {}: {message}", path.display())]
    Model { path: PathBuf, message: String },

    /// The tokenizer failed or is missing a required special token.
    #[error("tokenizer: {message}")]
    Tokenizer { message: String },

    /// The requested device is not available in this build or on this machine.
    #[error("device: {message}")]
    Device { message: String },

    /// An option or argument has an invalid value.
    #[error("{message}")]
    Invalid { message: String },

    /// A project file could not be created, opened, migrated, read or written.
    #[error("project {}: {message}", path.display())]
    Store { path: PathBuf, message: String },

    /// The Hugging Face Hub could not be reached or refused a request. Messages never contain the
    /// access token.
    #[error("hub: {message}")]
    Hub { message: String },

    /// The user cancelled a long-running job.
    #[error("cancelled")]
    Cancelled,

    /// A tensor operation failed inside candle.
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

impl Error {
    /// A short, stable name for the kind of error, for `{kind, message}` in the UI.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::Template { .. } => "template",
            Error::Data { .. } => "data",
            Error::Verbalizer { .. } => "verbalizer",
            Error::Model { .. } => "model",
            Error::Tokenizer { .. } => "tokenizer",
            Error::Device { .. } => "device",
            Error::Invalid { .. } => "invalid",
            Error::Store { .. } => "store",
            Error::Hub { .. } => "hub",
            Error::Cancelled => "cancelled",
            Error::Candle(_) => "compute",
        }
    }

    pub fn io(path: impl Into<PathBuf>, err: impl std::fmt::Display) -> Self {
        Error::Io { path: path.into(), message: err.to_string() }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid { message: message.into() }
    }
}

impl serde::Serialize for Error {
    /// Serialises as `{"kind": "...", "message": "..."}`, the shape the UI expects.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Error", 2)?;
        s.serialize_field("kind", self.kind())?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_kinds() {
        let cases: Vec<(Error, &str, &str)> = vec![
            (
                Error::Data {
                    path: "a.csv".into(),
                    line: Some(3),
                    message: "expected 2 fields, found 1".into(),
                },
                "data",
                "a.csv, line 3: expected 2 fields, found 1",
            ),
            (
                Error::Data { path: "a.csv".into(), line: None, message: "empty file".into() },
                "data",
                "a.csv: empty file",
            ),
            (
                Error::Template { position: 4, message: "unbalanced".into() },
                "template",
                "template error at character 4: unbalanced",
            ),
            (Error::invalid("bad"), "invalid", "bad"),
        ];
        for (err, kind, msg) in cases {
            assert_eq!(err.kind(), kind);
            assert_eq!(err.to_string(), msg);
            let json = serde_json::to_value(&err).unwrap();
            assert_eq!(json["kind"], kind);
            assert_eq!(json["message"], msg);
        }
    }
}
