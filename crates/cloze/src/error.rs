//! One error type for the whole engine.
//!
//! Every message says what went wrong and, where there is one, how to fix it. Beside the text, an
//! error gives a front end three things:
//! - [`Error::kind`]: what the caller can do about it ([`ErrorKind`]: fix the input, do something
//!   first, retry later...). The desktop app receives errors as `{kind, message}`.
//! - [`std::error::Error::source`]: the library error underneath (I/O, SQLite, JSON, candle,
//!   tokenizers, HTTP), kept as a value rather than flattened into a string. The message already
//!   quotes the cause's text, so a front end prints the error alone and need not walk the chain.
//! - Settings named in the message ([`Setting`]): the CLI, which prints errors with `Display`, sees
//!   the flag (`--skip-bad-rows`); the app, which receives the serialised form, sees the setting as
//!   its screens label it (“Skip bad rows”). A message that names a setting is built as a [`Text`].

use std::fmt;
use std::path::{Path, PathBuf};

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A library error kept as the cause of an [`Error`].
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a caller can do about an error: the part of an error a program acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// A file, folder, project item or cached model that was named does not exist.
    NotFound,
    /// The input is wrong: a template, data file, verbalizer, model folder or option value. Fix it
    /// and try again.
    InvalidInput,
    /// The input is fine but something must happen first: load a model, label rows, open a project,
    /// log in.
    Precondition,
    /// A service or device cannot be reached or used right now (the Hub, the network, the system's
    /// credential store, a GPU, a busy project file); retrying later, or elsewhere, may work.
    Unavailable,
    /// Another session changed what this one acted on since it was loaded (the same annotator
    /// labelling the row in another window or process): nothing was written; reload and retry.
    Conflict,
    /// The user cancelled the job.
    Cancelled,
    /// The output file exists and the user did not say to replace it (`--force` in the CLI; the
    /// app asks “Replace?” and retries with replace allowed). Only `files::check_output`
    /// gives this kind, so a front end can ask before replacing.
    AlreadyExists,
    /// The app refused a path the user did not choose in this session (with a file dialog, or from
    /// the recent projects); choose it with “Browse…”.
    NotAllowed,
    /// The work itself failed (a computation, the disk, the database): not the caller's input.
    Internal,
}

impl ErrorKind {
    /// The kind's name as serialised: `not-found`, `invalid-input`, ...
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not-found",
            ErrorKind::InvalidInput => "invalid-input",
            ErrorKind::Precondition => "precondition",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::AlreadyExists => "already-exists",
            ErrorKind::NotAllowed => "not-allowed",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which front end shows a message: it decides how settings are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    /// The `cloze` command: settings are flags.
    Cli,
    /// The desktop app: settings are the fields and buttons of its screens.
    App,
}

/// A setting a message can tell the user to change: a flag of the `cloze` command and a control of
/// the desktop app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setting {
    TextColumn,
    TextBColumn,
    LabelColumn,
    IdColumn,
    Format,
    Encoding,
    SkipBadRows,
    DatasetName,
    Classes,
    Template,
    Verbalizer,
    BatchSize,
    Epochs,
    Resume,
    LabelOrder,
    Device,
    Model,
    /// Replace an existing output file (`--force`; the app asks).
    Replace,
}

impl Setting {
    /// The `cloze` flag.
    pub fn flag(self) -> &'static str {
        match self {
            Setting::TextColumn => "--text-column",
            Setting::TextBColumn => "--text-b-column",
            Setting::LabelColumn => "--label-column",
            Setting::IdColumn => "--id-column",
            Setting::Format => "--format",
            Setting::Encoding => "--encoding",
            Setting::SkipBadRows => "--skip-bad-rows",
            Setting::DatasetName => "--name",
            Setting::Classes => "--classes",
            Setting::Template => "--template",
            Setting::Verbalizer => "--verbalizer",
            Setting::BatchSize => "--batch-size",
            Setting::Epochs => "--epochs",
            Setting::Resume => "--resume",
            Setting::LabelOrder => "--strategy",
            Setting::Device => "--device",
            Setting::Model => "--model",
            Setting::Replace => "--force",
        }
    }

    /// The app's label for it (the import wizard, the Tune, Label and Model screens).
    pub fn label(self) -> &'static str {
        match self {
            Setting::TextColumn => "Text column",
            Setting::TextBColumn => "Second text (text_b)",
            Setting::LabelColumn => "Label column",
            Setting::IdColumn => "Id column",
            Setting::Format => "Format",
            Setting::Encoding => "Encoding",
            Setting::SkipBadRows => "Skip bad rows",
            Setting::DatasetName => "Dataset name",
            Setting::Classes => "Classes",
            Setting::Template => "Template",
            Setting::Verbalizer => "Verbalizer",
            Setting::BatchSize => "Batch size",
            Setting::Epochs => "Epochs",
            Setting::Resume => "Resume",
            Setting::LabelOrder => "Order",
            Setting::Device => "Device",
            Setting::Model => "Model folder",
            Setting::Replace => "Replace",
        }
    }

    /// The setting's name as `front` shows it: `--batch-size`, or “Batch size”.
    pub fn name(self, front: Front) -> String {
        match front {
            Front::Cli => self.flag().to_string(),
            Front::App => format!("“{}”", self.label()),
        }
    }

    /// How to switch the setting on: `pass --skip-bad-rows`, or `turn on “Skip bad rows”` (`press
    /// “Resume”` for the app's button).
    pub fn turn_on(self, front: Front) -> String {
        match (front, self) {
            (Front::Cli, _) => format!("pass {}", self.flag()),
            (Front::App, Setting::Resume) => format!("press {}", self.name(front)),
            (Front::App, Setting::Replace) => format!("confirm {}", self.name(front)),
            (Front::App, _) => format!("turn on {}", self.name(front)),
        }
    }
}

/// A message that may name settings, rendered for the front end that shows it.
///
/// Built from plain text (`"...".into()`, `format!(...).into()`) and, where it names a setting,
/// with the builder: `Text::from("the text is empty; fill it in, or ").turn_on(Setting::SkipBadRows)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Plain(String),
    Name(Setting),
    TurnOn(Setting),
    /// Text only one front end shows (a command line to type, an option only the CLI has).
    Only(Front, String),
}

impl Text {
    /// Appends plain text.
    pub fn then(mut self, text: impl Into<String>) -> Self {
        self.0.push(Part::Plain(text.into()));
        self
    }

    /// Appends a setting's name: the flag, or the app's label.
    pub fn setting(mut self, setting: Setting) -> Self {
        self.0.push(Part::Name(setting));
        self
    }

    /// Appends how to turn a setting on ([`Setting::turn_on`]).
    pub fn turn_on(mut self, setting: Setting) -> Self {
        self.0.push(Part::TurnOn(setting));
        self
    }

    /// Appends text only the CLI shows: a command to type, an option the app does not have.
    pub fn cli_only(mut self, text: impl Into<String>) -> Self {
        self.0.push(Part::Only(Front::Cli, text.into()));
        self
    }

    /// Appends text only the app shows.
    pub fn app_only(mut self, text: impl Into<String>) -> Self {
        self.0.push(Part::Only(Front::App, text.into()));
        self
    }

    /// Appends another message.
    pub fn append(mut self, other: Text) -> Self {
        self.0.extend(other.0);
        self
    }

    /// The text as `front` shows it.
    pub fn render(&self, front: Front) -> String {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Plain(s) => out.push_str(s),
                Part::Name(s) => out.push_str(&s.name(front)),
                Part::TurnOn(s) => out.push_str(&s.turn_on(front)),
                Part::Only(f, s) if *f == front => out.push_str(s),
                Part::Only(..) => {}
            }
        }
        out
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(vec![Part::Plain(s)])
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(vec![Part::Plain(s.to_string())])
    }
}

/// Everything that can go wrong in the engine.
#[derive(Debug)]
pub enum Error {
    /// A file could not be read or written; `message` (may be empty) says what was being done.
    Io { path: PathBuf, message: String, source: Source },

    /// A file or folder the caller named does not exist.
    NotFound { path: PathBuf, message: Text },

    /// A template could not be parsed or rendered. `position` is a 0-based character offset into
    /// the template text.
    Template { position: usize, message: String },

    /// A data file has a malformed row or an unusable layout. `line` is 1-based when known.
    Data { path: PathBuf, line: Option<u64>, message: Text },

    /// A verbalizer is malformed or does not fit the model's vocabulary.
    Verbalizer { message: String },

    /// A model folder is missing files, has an unsupported family or inconsistent weights.
    Model { path: PathBuf, message: String, source: Option<Source> },

    /// The tokenizer failed or is missing a required special token.
    Tokenizer { message: String, source: Option<Source> },

    /// The requested device is not available in this build or on this machine.
    Device { message: Text, source: Option<Source> },

    /// A failure its message describes, of the kind the site chose ([`Error::invalid`],
    /// [`Error::precondition`], [`Error::not_found`], [`Error::internal`]).
    Message { kind: ErrorKind, message: Text },

    /// A project file could not be created, opened, migrated, read or written. The kind comes from
    /// the SQLite error, or from the site when there is none.
    Store { path: PathBuf, kind: ErrorKind, message: Text, source: Option<Box<rusqlite::Error>> },

    /// The Hugging Face Hub or the credential store could not be used. Messages never contain the
    /// access token.
    Hub { kind: ErrorKind, message: Text, source: Option<Source> },

    /// The user cancelled a long-running job.
    Cancelled,

    /// A tensor operation failed inside candle.
    Candle(candle_core::Error),
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Candle(e)
    }
}

impl Error {
    /// What a caller can do about the error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { source, .. } => source_kind(source.as_ref()),
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Template { .. } | Error::Data { .. } | Error::Verbalizer { .. } => ErrorKind::InvalidInput,
            Error::Model { .. } | Error::Tokenizer { .. } => ErrorKind::InvalidInput,
            Error::Device { .. } => ErrorKind::Unavailable,
            Error::Message { kind, .. } | Error::Store { kind, .. } | Error::Hub { kind, .. } => *kind,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::Candle(_) => ErrorKind::Internal,
        }
    }

    /// The message as `front` shows it: settings as flags for [`Front::Cli`] (this is `Display`),
    /// as the app's labels for [`Front::App`] (this is the serialised `message`).
    pub fn message(&self, front: Front) -> String {
        let cause = |message: String, source: Option<&(dyn std::error::Error + 'static)>| match source {
            None => message,
            Some(s) if message.is_empty() => s.to_string(),
            Some(s) => format!("{message}: {s}"),
        };
        match self {
            Error::Io { path, message, source } => {
                format!("{}: {}", path.display(), cause(message.clone(), Some(source.as_ref())))
            }
            Error::NotFound { path, message } => format!("{}: {}", path.display(), message.render(front)),
            Error::Template { position, message } => {
                format!("template error at character {position}: {message}")
            }
            Error::Data { path, line, message } => format!(
                "{}{}: {}",
                path.display(),
                line.map(|l| format!(", line {l}")).unwrap_or_default(),
                message.render(front)
            ),
            Error::Verbalizer { message } => format!("verbalizer: {message}"),
            Error::Model { path, message, source } => {
                format!("model {}: {}", path.display(), cause(message.clone(), source_ref(source)))
            }
            Error::Tokenizer { message, source } => {
                format!("tokenizer: {}", cause(message.clone(), source_ref(source)))
            }
            Error::Device { message, source } => {
                format!("device: {}", cause(message.render(front), source_ref(source)))
            }
            Error::Message { message, .. } => message.render(front),
            Error::Store { path, message, source, .. } => format!(
                "project {}: {}",
                path.display(),
                cause(
                    message.render(front),
                    source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
                )
            ),
            Error::Hub { message, source, .. } => {
                format!("hub: {}", cause(message.render(front), source_ref(source)))
            }
            Error::Cancelled => "cancelled".to_string(),
            Error::Candle(e) => format!("tensor computation failed: {e}"),
        }
    }

    /// A file operation on `path` failed.
    pub fn io(path: impl Into<PathBuf>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Io { path: path.into(), message: String::new(), source: Box::new(source) }
    }

    /// A file operation on `path` failed while doing `what` ("cannot read the file").
    pub fn io_while(
        path: impl Into<PathBuf>,
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Io { path: path.into(), message: what.into(), source: Box::new(source) }
    }

    /// `path` does not exist; `message` says what to do.
    pub fn missing(path: impl Into<PathBuf>, message: impl Into<Text>) -> Self {
        Error::NotFound { path: path.into(), message: message.into() }
    }

    /// The input (an option, an argument, a request) is wrong.
    pub fn invalid(message: impl Into<Text>) -> Self {
        Error::Message { kind: ErrorKind::InvalidInput, message: message.into() }
    }

    /// Something must happen first (load a model, label rows, open a project).
    pub fn precondition(message: impl Into<Text>) -> Self {
        Error::Message { kind: ErrorKind::Precondition, message: message.into() }
    }

    /// An item the caller named (a label set, a run, a label) does not exist.
    pub fn not_found(message: impl Into<Text>) -> Self {
        Error::Message { kind: ErrorKind::NotFound, message: message.into() }
    }

    /// The output file exists and replacing it was not allowed ([`ErrorKind::AlreadyExists`]).
    pub fn already_exists(message: impl Into<Text>) -> Self {
        Error::Message { kind: ErrorKind::AlreadyExists, message: message.into() }
    }

    /// A state the engine should never reach: a bug.
    pub fn internal(message: impl Into<Text>) -> Self {
        Error::Message { kind: ErrorKind::Internal, message: message.into() }
    }
}

fn source_ref(source: &Option<Source>) -> Option<&(dyn std::error::Error + 'static)> {
    source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
}

/// The kind of a file operation's failure, from the library error underneath.
fn source_kind(source: &(dyn std::error::Error + 'static)) -> ErrorKind {
    use std::io::ErrorKind as Io;
    if let Some(e) = source.downcast_ref::<std::io::Error>() {
        return match e.kind() {
            Io::NotFound => ErrorKind::NotFound,
            Io::PermissionDenied | Io::AlreadyExists | Io::IsADirectory | Io::NotADirectory => {
                ErrorKind::Precondition
            }
            Io::InvalidData | Io::UnexpectedEof => ErrorKind::InvalidInput,
            Io::Interrupted => ErrorKind::Cancelled,
            _ => ErrorKind::Internal,
        };
    }
    if let Some(e) = source.downcast_ref::<serde_json::Error>() {
        return if e.is_io() { ErrorKind::Internal } else { ErrorKind::InvalidInput };
    }
    ErrorKind::Internal
}

/// The kind of a SQLite failure: a busy or locked file can be retried, a file that is not a
/// database is the wrong input, a missing row was named by the caller.
pub(crate) fn sqlite_kind(e: &rusqlite::Error) -> ErrorKind {
    use rusqlite::ErrorCode;
    match e {
        rusqlite::Error::QueryReturnedNoRows => ErrorKind::NotFound,
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => ErrorKind::Unavailable,
            ErrorCode::NotADatabase => ErrorKind::InvalidInput,
            ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly => {
                ErrorKind::Precondition
            }
            ErrorCode::ConstraintViolation => ErrorKind::InvalidInput,
            _ => ErrorKind::Internal,
        },
        _ => ErrorKind::Internal,
    }
}

impl fmt::Display for Error {
    /// The message for the CLI: settings as flags.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message(Front::Cli))
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source.as_ref()),
            Error::Model { source, .. }
            | Error::Tokenizer { source, .. }
            | Error::Device { source, .. }
            | Error::Hub { source, .. } => source_ref(source),
            Error::Store { source, .. } => source.as_deref().map(|e| e as &(dyn std::error::Error + 'static)),
            Error::Candle(e) => Some(e),
            Error::NotFound { .. }
            | Error::Template { .. }
            | Error::Data { .. }
            | Error::Verbalizer { .. }
            | Error::Message { .. }
            | Error::Cancelled => None,
        }
    }
}

impl serde::Serialize for Error {
    /// Serialises as `{"kind": "...", "message": "..."}`, the shape the app shows: the message names
    /// settings as the app labels them.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Error", 2)?;
        s.serialize_field("kind", &self.kind())?;
        s.serialize_field("message", &self.message(Front::App))?;
        s.end()
    }
}

/// `path` for messages about an in-memory project.
pub(crate) fn project_path(path: Option<&Path>) -> PathBuf {
    path.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(":memory:"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    fn io_missing() -> std::io::Error {
        std::fs::File::open("/definitely/not/here.csv").unwrap_err()
    }

    #[test]
    fn messages_and_kinds() {
        let sqlite = rusqlite::Connection::open_in_memory().unwrap().execute("NOT SQL", []).unwrap_err();
        let json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let cases: Vec<(Error, ErrorKind, &str, &str)> = vec![
            (
                Error::Data {
                    path: "a.csv".into(),
                    line: Some(3),
                    message: "expected 2 fields, found 1".into(),
                },
                ErrorKind::InvalidInput,
                "a.csv, line 3: expected 2 fields, found 1",
                "a.csv, line 3: expected 2 fields, found 1",
            ),
            (
                Error::Data { path: "a.csv".into(), line: None, message: "empty file".into() },
                ErrorKind::InvalidInput,
                "a.csv: empty file",
                "a.csv: empty file",
            ),
            (
                Error::Template { position: 4, message: "unbalanced".into() },
                ErrorKind::InvalidInput,
                "template error at character 4: unbalanced",
                "template error at character 4: unbalanced",
            ),
            (Error::invalid("bad"), ErrorKind::InvalidInput, "bad", "bad"),
            (
                Error::precondition("no model is loaded"),
                ErrorKind::Precondition,
                "no model is loaded",
                "no model is loaded",
            ),
            (
                Error::not_found("there is no run 3"),
                ErrorKind::NotFound,
                "there is no run 3",
                "there is no run 3",
            ),
            (Error::internal("a bug"), ErrorKind::Internal, "a bug", "a bug"),
            (
                Error::missing("x.cloze", "no such project file"),
                ErrorKind::NotFound,
                "x.cloze: no such project file",
                "x.cloze: no such project file",
            ),
            (
                Error::io_while("/definitely/not/here.csv", "cannot open the file", io_missing()),
                ErrorKind::NotFound,
                "/definitely/not/here.csv: cannot open the file: No such file or directory (os error 2)",
                "/definitely/not/here.csv: cannot open the file: No such file or directory (os error 2)",
            ),
            (
                Error::io("run/config.json", json),
                ErrorKind::InvalidInput,
                "run/config.json: EOF while parsing an object at line 1 column 1",
                "run/config.json: EOF while parsing an object at line 1 column 1",
            ),
            (
                Error::Store {
                    path: "p.cloze".into(),
                    kind: sqlite_kind(&sqlite),
                    message: "label set 2".into(),
                    source: Some(Box::new(sqlite)),
                },
                ErrorKind::Internal,
                "project p.cloze: label set 2: near \"NOT\": syntax error in NOT SQL at offset 0",
                "project p.cloze: label set 2: near \"NOT\": syntax error in NOT SQL at offset 0",
            ),
            (
                Error::Device { message: "this build has no CUDA support".into(), source: None },
                ErrorKind::Unavailable,
                "device: this build has no CUDA support",
                "device: this build has no CUDA support",
            ),
            (Error::Cancelled, ErrorKind::Cancelled, "cancelled", "cancelled"),
            (
                Error::invalid(
                    Text::from("batch size must be at least 1; set ")
                        .setting(Setting::BatchSize)
                        .then(" to e.g. 8"),
                ),
                ErrorKind::InvalidInput,
                "batch size must be at least 1; set --batch-size to e.g. 8",
                "batch size must be at least 1; set “Batch size” to e.g. 8",
            ),
            (
                Error::Data {
                    path: "a.csv".into(),
                    line: Some(2),
                    message: Text::from("the text is empty; fill it in, or ")
                        .turn_on(Setting::SkipBadRows)
                        .then(" to skip such rows"),
                },
                ErrorKind::InvalidInput,
                "a.csv, line 2: the text is empty; fill it in, or pass --skip-bad-rows to skip such rows",
                "a.csv, line 2: the text is empty; fill it in, or turn on “Skip bad rows” to skip such rows",
            ),
            (
                Error::missing(
                    "x.cloze",
                    Text::from("no such project file; create it")
                        .cli_only(" with `cloze project new`")
                        .app_only(" on the Projects screen"),
                ),
                ErrorKind::NotFound,
                "x.cloze: no such project file; create it with `cloze project new`",
                "x.cloze: no such project file; create it on the Projects screen",
            ),
        ];
        for (err, kind, cli, app) in cases {
            assert_eq!(err.kind(), kind, "{cli}");
            assert_eq!(err.to_string(), cli);
            assert_eq!(err.message(Front::Cli), cli);
            assert_eq!(err.message(Front::App), app);
            let json = serde_json::to_value(&err).unwrap();
            assert_eq!(json, serde_json::json!({"kind": kind.name(), "message": app}));
        }
    }

    #[test]
    fn sources_reach_the_library_error() {
        let io = Error::io_while("/definitely/not/here.csv", "cannot open the file", io_missing());
        let io_source = io.source().and_then(|s| s.downcast_ref::<std::io::Error>()).unwrap();
        assert_eq!(io_source.kind(), std::io::ErrorKind::NotFound);

        let json = Error::io("c.json", serde_json::from_str::<serde_json::Value>("[").unwrap_err());
        assert!(json.source().unwrap().downcast_ref::<serde_json::Error>().unwrap().is_eof());

        let sqlite = rusqlite::Connection::open_in_memory().unwrap().execute("NOT SQL", []).unwrap_err();
        let store = Error::Store {
            path: "p.cloze".into(),
            kind: sqlite_kind(&sqlite),
            message: Text::default(),
            source: Some(Box::new(sqlite)),
        };
        assert!(matches!(
            store.source().unwrap().downcast_ref::<rusqlite::Error>(),
            Some(rusqlite::Error::SqlInputError { .. } | rusqlite::Error::SqliteFailure(..))
        ));

        let candle: Error = candle_core::Error::Msg("shape mismatch".into()).into();
        assert!(candle.source().unwrap().downcast_ref::<candle_core::Error>().is_some());
        assert!(Error::invalid("bad").source().is_none());
    }

    #[test]
    fn every_kind_serialises_as_its_name() {
        use ErrorKind::*;
        for kind in [
            NotFound,
            InvalidInput,
            Precondition,
            Unavailable,
            Cancelled,
            AlreadyExists,
            NotAllowed,
            Internal,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!(kind.name()));
        }
    }

    #[test]
    fn settings_name_the_flag_for_the_cli_and_the_label_for_the_app() {
        let cases = [
            (Setting::SkipBadRows, "pass --skip-bad-rows", "turn on “Skip bad rows”"),
            (Setting::Resume, "pass --resume", "press “Resume”"),
        ];
        for (setting, cli, app) in cases {
            assert_eq!(setting.turn_on(Front::Cli), cli);
            assert_eq!(setting.turn_on(Front::App), app);
        }
        assert_eq!(Setting::Epochs.name(Front::Cli), "--epochs");
        assert_eq!(Setting::Epochs.name(Front::App), "“Epochs”");
        assert_eq!(Setting::LabelOrder.name(Front::Cli), "--strategy");
        assert_eq!(Setting::LabelOrder.name(Front::App), "“Order”");
    }
}
