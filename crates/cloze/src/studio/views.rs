//! What the studio hands to a user interface: plain, serialisable views of the engine's state, in
//! the shape the desktop app's TypeScript bindings are generated from (with the `specta` feature).
//! Field names stay snake_case on both sides.

use serde::{Deserialize, Serialize};

#[cfg(feature = "specta")]
use specta::Type;

/// Progress of a long operation. `total` is `None` when it is not known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct Progress {
    pub stage: String,
    pub done: u64,
    pub total: Option<u64>,
    pub message: Option<String>,
}

impl Progress {
    pub fn new(stage: &str, done: u64, total: Option<u64>) -> Self {
        Self { stage: stage.to_string(), done, total, message: None }
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }
}

/// A progress callback: returning `false` cancels the operation.
pub type ProgressFn<'a> = &'a mut dyn FnMut(Progress) -> bool;

// ------------------------------------------------------------------------------------------ projects

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct RecentProject {
    pub path: String,
    pub name: String,
    pub opened_at: String,
    pub exists: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct SplitCount {
    pub split: String,
    pub rows: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct DatasetInfo {
    pub id: i64,
    pub name: String,
    pub source_path: Option<String>,
    pub format: String,
    pub encoding: String,
    pub columns: Vec<String>,
    pub row_count: i64,
    pub imported_at: String,
    pub splits: Vec<SplitCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct ClassCount {
    pub class: String,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct LabelSetInfo {
    pub id: i64,
    pub dataset_id: i64,
    pub name: String,
    pub classes: Vec<String>,
    /// Rows with a live label of any source.
    pub labelled: i64,
    /// Rows per class; in a multi-label set a row counts once for each of its classes.
    pub by_class: Vec<ClassCount>,
    /// A row may carry several of the classes (see [`MultiLabelView`]).
    pub multi_label: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct ModelRecord {
    pub id: i64,
    pub spec: String,
    pub path: String,
    pub family: String,
    pub added_at: String,
}

/// A saved template or verbalizer version (the store's own type).
pub use crate::store::Saved;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct ProjectSummary {
    pub path: String,
    pub name: String,
    pub datasets: Vec<DatasetInfo>,
    pub label_sets: Vec<LabelSetInfo>,
    pub models: Vec<ModelRecord>,
    pub templates: Vec<Saved>,
    pub verbalizers: Vec<Saved>,
    /// What opening the project repaired, to show the user (an import a crashed process left
    /// unfinished, removed: "import it again").
    pub notices: Vec<String>,
}

// ------------------------------------------------------------------------------------------ data

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
#[serde(rename_all = "kebab-case")]
pub enum FileFormat {
    #[default]
    Auto,
    Csv,
    Tsv,
    Jsonl,
    LabelSentence,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub enum TextEncoding {
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "latin-1")]
    Latin1,
    #[serde(rename = "utf-16le")]
    Utf16Le,
    #[serde(rename = "utf-16be")]
    Utf16Be,
    #[serde(rename = "utf-32le")]
    Utf32Le,
    #[serde(rename = "utf-32be")]
    Utf32Be,
}

/// How to read a data file; columns by name (or 1-based number).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct ImportSettings {
    pub format: FileFormat,
    pub has_header: Option<bool>,
    pub text_column: Option<String>,
    pub text_b_column: Option<String>,
    pub label_column: Option<String>,
    pub id_column: Option<String>,
    pub encoding: TextEncoding,
    pub skip_bad_rows: bool,
    /// Use the columns exactly as given, guessing none (once the user has seen and changed the
    /// guessed mapping, e.g. chosen no label column).
    pub explicit_columns: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct ColumnGuess {
    pub text: Option<String>,
    pub text_b: Option<String>,
    pub label: Option<String>,
    pub id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct LabelValue {
    pub value: String,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct FilePreview {
    pub path: String,
    pub format: String,
    pub encoding: String,
    pub has_header: bool,
    pub columns: Vec<String>,
    /// The first rows, one cell per column.
    pub rows: Vec<Vec<String>>,
    pub mapping: ColumnGuess,
    /// Label values of the scanned rows, most frequent first (when a label column is mapped).
    pub labels: Vec<LabelValue>,
    pub rows_scanned: i64,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
#[serde(rename = "Split", rename_all = "lowercase")]
pub enum SplitName {
    #[default]
    Train,
    Dev,
    Test,
    Unlabelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct ImportRequest {
    pub path: String,
    pub name: String,
    pub settings: ImportSettings,
    pub split: SplitName,
    /// Classes of the label set to create when the file has no label column (ignored otherwise).
    pub classes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct SkippedRow {
    pub line: i64,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct ImportResult {
    pub dataset: DatasetInfo,
    pub rows: i64,
    pub duplicates: i64,
    pub labels: i64,
    pub label_set: Option<LabelSetInfo>,
    pub skipped: Vec<SkippedRow>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct LengthStats {
    pub min: f64,
    pub median: f64,
    pub p95: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
#[serde(rename_all = "lowercase")]
pub enum LengthUnit {
    Tokens,
    Words,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct DatasetStats {
    pub dataset_id: i64,
    pub rows: i64,
    pub splits: Vec<SplitCount>,
    pub labels: Vec<ClassCount>,
    pub unlabelled: i64,
    pub length_unit: LengthUnit,
    pub lengths: Option<LengthStats>,
    /// How many rows the length figures were measured on (a sample of large datasets).
    pub length_sample: i64,
    /// SVG documents drawn with plotters.
    pub label_chart_svg: Option<String>,
    pub length_chart_svg: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct RowView {
    pub id: i64,
    pub position: i64,
    pub ext_id: String,
    pub text_a: String,
    pub text_b: Option<String>,
    pub split: String,
    /// The row's live label in the label set asked for.
    pub label: Option<String>,
    pub label_source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct RowPage {
    pub rows: Vec<RowView>,
    pub total: i64,
}

// ------------------------------------------------------------------------------------------ models

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
#[serde(rename_all = "snake_case")]
pub enum HubSort {
    #[default]
    Downloads,
    Likes,
    LastModified,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct HubQuery {
    pub text: String,
    pub task: Option<String>,
    pub sort: HubSort,
    pub limit: u32,
    pub supported_only: bool,
    /// Only repositories of this `model_type` (one of [`ModelTypeOption::model_type`]).
    pub model_type: Option<String>,
    /// Only repositories with GGUF files.
    pub gguf_only: bool,
}

/// A `model_type` the engine runs, for the Hub search's family filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct ModelTypeOption {
    /// The Hub's tag for it (`llama`, `qwen2`, `t5`...).
    pub model_type: String,
    /// The engine's family that runs it (`llama` runs `qwen2` too).
    pub family: String,
    pub kind: crate::plm::Kind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct HubModel {
    pub repo_id: String,
    pub task: Option<String>,
    pub downloads: f64,
    pub likes: f64,
    pub license: Option<String>,
    pub last_modified: Option<String>,
    pub model_type: Option<String>,
    pub weight_bytes: Option<f64>,
    /// The repository holds GGUF files.
    pub gguf: bool,
    pub supported: bool,
    pub unsupported_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct HubPage {
    pub models: Vec<HubModel>,
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct HubFile {
    pub name: String,
    pub size: f64,
}

/// One GGUF file of a repository, to pick a quantisation from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct HubGgufFile {
    pub name: String,
    pub size: f64,
    /// `Q4_K_M`, `Q8_0`... from the file name; `None` when it gives none.
    pub quantisation: Option<String>,
}

/// A GGUF file in the cache after its download: `spec` loads it (`org/name/FILE.gguf`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct DownloadedGguf {
    pub spec: String,
    pub path: String,
    pub size: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct HubDetails {
    pub repo_id: String,
    pub commit: String,
    pub files: Vec<HubFile>,
    pub selected: Vec<String>,
    pub download_size: f64,
    /// The GGUF files, each downloadable alone; a repository of GGUF files only has no `selected`.
    pub gguf: Vec<HubGgufFile>,
    pub model_type: Option<String>,
    pub supported: bool,
    pub unsupported_reason: Option<String>,
    pub summary: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct CachedModelView {
    pub repo_id: String,
    pub commits: Vec<String>,
    pub refs: Vec<String>,
    pub size: f64,
    pub path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    #[default]
    Cpu,
    Cuda,
    Metal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct DeviceOption {
    pub kind: DeviceKind,
    pub available: bool,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct ModelView {
    pub spec: String,
    pub path: String,
    pub family: String,
    /// Masked LM, decoder or encoder–decoder.
    pub kind: crate::plm::Kind,
    /// Where this kind of model reads the label word (for the prompt studio).
    pub reads: String,
    /// The family's own objective, which prompted pretraining trains (for the Tune screen).
    pub pretraining: crate::plm::Pretraining,
    /// How a GGUF file stored the weights ("Q4_1"), when the model came from one.
    pub quantisation: Option<String>,
    /// Bytes the weights take in memory as loaded (a GGUF model's quantised layers at their stored size); tuning needs them in f32 (`parameters` × 4) plus activations.
    pub memory_bytes: f64,
    pub kv_heads: i64,
    pub parameters: f64,
    pub hidden_size: i64,
    pub layers: i64,
    pub vocab_size: i64,
    pub max_len: i64,
    pub has_lm_head: bool,
    pub mask_token: String,
    pub device: DeviceKind,
    /// The file the model's chat template comes from (tokenizer_config.json, chat_template.jinja or
    /// the GGUF file), when it has one: the prompt studio offers “Use chat template” then.
    pub chat_template: Option<String>,
    /// The linear layers' precision (f32 unless changed on the Model screen).
    pub precision: crate::plm::Precision,
    /// What runs the products in that precision on this machine (e.g. that bf16 is emulated here).
    pub precision_kernel: String,
    /// Whether this CPU has AVX512_BF16, so that bf16 is faster than f32 here (without it, bf16
    /// gives the same results but slower).
    pub bf16_native: bool,
}

// ------------------------------------------------------------------------------------------ prompts

/// One template segment, as the builder's chips show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SegmentView {
    Text { text: String },
    Field { name: String, shortenable: bool, post: Option<String> },
    Mask,
    Soft { count: u32, init: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct TemplateView {
    pub text: String,
    pub openprompt: String,
    pub segments: Vec<SegmentView>,
    pub mask_count: u32,
    pub fields: Vec<String>,
}

/// A template (either syntax), a verbalizer and whether to calibrate: what scores rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct PromptSpec {
    pub template: String,
    pub verbalizer: crate::verbalizer::Verbalizer,
    pub calibrate: bool,
    /// Whether the template is wrapped in the model's chat template (with a system message).
    #[serde(default)]
    pub chat: crate::template::chat::Chat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Special,
    Text,
    Field,
    Mask,
    Soft,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct TokenView {
    pub text: String,
    pub kind: TokenKind,
    pub field: Option<String>,
    /// Truncation removed tokens right before this one (the field was cut here).
    pub cut_before: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct RenderPreview {
    pub row_id: i64,
    /// The exact text the model reads (with the chat template's wrapper, when on).
    pub text: String,
    pub tokens: Vec<TokenView>,
    pub length: i64,
    /// The tokens the row may take: the model's longest input less the room a decoder's label word
    /// needs after it (what scoring renders with).
    pub budget: i64,
    pub truncated: i64,
    /// What the `{demo}` demonstrations take of this row (`None` without `{demo}`).
    pub demos: Option<DemoBudgetView>,
}

/// The in-context demonstrations of one previewed row, against its token budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct DemoBudgetView {
    /// Demonstrations written into the row's `{demo}`.
    pub count: i64,
    /// Their mean length in tokens (over the labelled pool).
    pub tokens_each: f64,
    /// The tokens this row's demonstrations take, before truncation.
    pub tokens: i64,
    /// How many demonstrations fit beside the rest of the row (0: none does).
    pub fit: i64,
    /// The budget left after the whole row, demonstrations included; negative when truncation
    /// shortens it by that many tokens.
    pub left: i64,
    /// The rest of the row (template and fields without the demonstrations), in tokens.
    pub rest: i64,
    /// The same summary `cloze classify` prints.
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct WordView {
    pub word: String,
    pub tokens: Vec<String>,
    pub multi_token: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct ClassWords {
    pub class: String,
    pub words: Vec<WordView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct VerbalizerCheck {
    pub classes: Vec<ClassWords>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct ClassProb {
    pub class: String,
    pub prob: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct PredictionView {
    pub row_id: i64,
    pub predicted: String,
    pub probs: Vec<ClassProb>,
    pub label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct ClassMetrics {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct EvaluationView {
    pub rows: i64,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub classes: Vec<String>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<i64>>,
    pub per_class: Vec<ClassMetrics>,
    pub confusion_svg: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct WordScore {
    pub word: String,
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct WordSuggestions {
    pub class: String,
    pub words: Vec<WordScore>,
}

/// How template suggestions were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
#[serde(rename_all = "kebab-case")]
pub enum SuggestionMethod {
    /// Edits of the template's fixed words (any family).
    WordEdits,
    /// LM-BFF's generation with a T5 model.
    T5,
}

/// One suggested template and its score on the labelled rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct TemplateSuggestion {
    pub template: String,
    pub accuracy: f64,
    /// The mean log-probability of each row's right class (the tie-break).
    pub mean_log_prob: f64,
    /// What made it: the edit, or the placement and T5's log-probability.
    pub origin: String,
    /// The prompt's own template.
    pub current: bool,
}

/// Template suggestions, best first, scored with `scorer` on `rows` labelled rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct TemplateSuggestions {
    pub method: SuggestionMethod,
    pub rows: i64,
    pub scorer: String,
    pub generator: Option<String>,
    pub suggestions: Vec<TemplateSuggestion>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct SavedPrompt {
    pub template: Saved,
    pub verbalizer: Saved,
}

// ------------------------------------------------------------------------------------------ generation

/// One piece of generated text as the try-it panel receives it while the model writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct GeneratedPiece {
    /// 0 for the first piece, then 1, 2, ... (the order they were produced in).
    pub index: u32,
    pub text: String,
}

/// The end of a generation in the try-it panel.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct GenerationView {
    /// The new text (a stop string that ended it removed): the pieces streamed, joined.
    pub text: String,
    pub stop: crate::generate::StopReason,
    pub prompt_tokens: i64,
    /// New tokens, including the end-of-sequence token when that ended it.
    pub new_tokens: i64,
    pub seconds: f64,
}

// ------------------------------------------------------------------------------------------ labelling

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct SuggestionView {
    pub run_id: i64,
    pub predicted: String,
    pub confidence: f64,
    pub probs: Vec<ClassProb>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct QueueItemView {
    pub row: RowView,
    pub suggestion: Option<SuggestionView>,
    /// In a multi-label set: the row's checkboxes.
    pub multi: Option<MultiItemView>,
}

/// A row of a multi-label set on the labelling card, per class in the label set's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct MultiItemView {
    /// What the checkboxes show: the row's saved classes, else the suggested ones.
    pub checked: Vec<bool>,
    /// The classes whose score is at least their threshold (all off without a scoring run).
    pub suggested: Vec<bool>,
    /// Whether `checked` is saved as the row's label (a number key or a checkbox saved it).
    pub saved: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct LabelState {
    pub label_set: LabelSetInfo,
    pub strategy: crate::label::QueueOrder,
    pub run_id: Option<i64>,
    pub item: Option<QueueItemView>,
    pub remaining: i64,
    pub labelled_in_session: i64,
    pub can_undo: bool,
    /// The label set's class distribution so far, as an SVG bar chart (redrawn after every label).
    pub distribution_svg: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct RunView {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub error: Option<String>,
    pub template: Option<String>,
    pub verbalizer: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
#[serde(rename_all = "kebab-case")]
pub enum TableFilter {
    #[default]
    All,
    Unlabelled,
    Labelled,
    LowConfidence,
    Disagrees,
    /// The rows the newest label check flagged and nobody relabelled since, most suspicious first.
    Suspicious,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct TableQuery {
    pub filter: TableFilter,
    pub run_id: Option<i64>,
    pub max_confidence: Option<f64>,
    pub offset: i64,
    pub limit: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct TableRow {
    pub row: RowView,
    pub suggestion: Option<SuggestionView>,
    /// The newest label check's evidence against the row's label, while its label is still the
    /// one the check contradicted.
    pub suspicion: Option<crate::store::FlaggedRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct TablePage {
    pub rows: Vec<TableRow>,
    pub total: i64,
    /// The label set's newest label check, if it has one.
    pub check: Option<LabelCheckView>,
}

/// A label check of a label set (suspicious labels): what it ran with and what it found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct LabelCheckView {
    pub id: i64,
    pub label_set_id: i64,
    /// The folder or repository id of the model whose sentence embeddings the probe read.
    pub model: String,
    pub options: crate::label::suspicious::SuspicionOptions,
    pub created_at: String,
    /// The labelled rows it judged.
    pub rows_checked: i64,
    /// The rows it flagged, and of them the confident ones.
    pub flagged: i64,
    pub confident: i64,
    /// The flagged rows nobody relabelled since (the Suspicious filter's rows).
    pub still_suspicious: i64,
    /// Per class, the probe's threshold (its mean probability of the class on rows labelled with it).
    pub thresholds: Vec<ClassProb>,
}

// ------------------------------------------------------------------------------------------ multi-label

/// The question asked of every label of a multi-label set, and the words read as its answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct MultiLabelPromptSpec {
    /// One `{mask}` and `{label}` (the label's name), e.g. `{text_a} Is this about {label}? {mask}`.
    pub template: String,
    pub yes_words: Vec<String>,
    pub no_words: Vec<String>,
}

/// A label's threshold on p(yes): the row is suggested the label at or above it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct LabelThreshold {
    pub label: String,
    pub value: f64,
    /// The label's F1 on the labelled rows it was fitted on; `None` when set by hand or never fitted.
    pub f1: Option<f64>,
    /// Labelled rows carrying the label when it was fitted.
    pub positives: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct LabelScores {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: i64,
}

/// Multi-label metrics of the suggestions (scores over the current thresholds) on the labelled rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct MultiLabelMetricsView {
    pub rows: i64,
    pub micro_f1: f64,
    pub macro_f1: f64,
    /// Rows whose every label is right.
    pub subset_accuracy: f64,
    pub hamming_loss: f64,
    pub per_label: Vec<LabelScores>,
}

/// A label set's multi-label settings, thresholds and metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct MultiLabelView {
    pub label_set_id: i64,
    pub multi_label: bool,
    pub prompt: MultiLabelPromptSpec,
    /// One per class, in the label set's order.
    pub thresholds: Vec<LabelThreshold>,
    /// The newest finished multi-label scoring run, whose scores the suggestions and metrics use.
    pub run_id: Option<i64>,
    /// Rows that run scored.
    pub scored_rows: i64,
    /// On the labelled rows that run scored; `None` without any.
    pub metrics: Option<MultiLabelMetricsView>,
}

// ------------------------------------------------------------------------------------------ export

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
#[serde(rename = "ExportFormat", rename_all = "kebab-case")]
pub enum ExportFormatView {
    Csv,
    Jsonl,
    HfJsonl,
    /// Multi-label: a `labels` column (`a;b`) and a 0/1 column per class.
    MultiHotCsv,
    /// Multi-label: `labels` as names and `multi_hot`.
    MultiHotJsonl,
    /// Multi-label: a Hugging Face `datasets` folder (`data.jsonl`, `dataset_info.json` with a
    /// `Sequence(ClassLabel)` feature).
    HfDatasets,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct ExportRequest {
    pub label_set_id: i64,
    pub path: String,
    pub format: ExportFormatView,
    pub sources: Vec<String>,
    pub min_confidence: Option<f64>,
    /// Replace the file at `path` if there is one. Without it an existing file is an
    /// `already-exists` error: the Export screen asks “Replace?” and sends the request again with
    /// this set. The open project is never replaced.
    pub replace: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct ExportResult {
    pub path: String,
    pub written: i64,
    pub filtered_out: i64,
}

// ------------------------------------------------------------------------------------------ ensembles

/// A saved prompt version an ensemble can take as a member: a saved template version with the
/// verbalizer of the same name that was current when it was saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct PromptVersion {
    pub template_id: i64,
    pub verbalizer_id: i64,
    pub name: String,
    /// The template's version.
    pub version: i64,
    pub verbalizer_version: i64,
    /// How a member made from it is named: "sentiment v2".
    pub label: String,
    pub template: String,
    /// The verbalizer's classes.
    pub classes: Vec<String>,
    pub chat: bool,
}

/// One member of an ensemble to fit: a saved template version and a saved verbalizer version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct MemberRef {
    pub template_id: i64,
    pub verbalizer_id: i64,
}

/// What to fit an ensemble from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct EnsembleRequest {
    /// The label set whose labelled rows the weights are fitted on (its classes are the ensemble's).
    pub label_set_id: i64,
    /// Two or more saved prompt versions.
    pub members: Vec<MemberRef>,
    pub weighting: crate::ensemble::Weighting,
    /// Contextual calibration for every member.
    pub calibrate: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct EnsembleMemberView {
    pub name: String,
    pub template: String,
    /// Accuracy alone on the labelled rows of the fit.
    pub accuracy: Option<f64>,
    /// Its weight (for `learned`, the dev-accuracy weight, shown for comparison).
    pub weight: f64,
}

/// How one weighting of the ensemble did on the fit's labelled rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct WeightingView {
    pub weighting: crate::ensemble::Weighting,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// Out-of-fold (the learned weighting's cross-validation), not on the rows it was fitted on.
    pub cross_validated: bool,
    /// The weighting the ensemble uses.
    pub chosen: bool,
}

/// A labelled row on which the members do not all predict the same class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct DisagreementView {
    pub row_id: i64,
    pub text: String,
    /// The human (or imported) label.
    pub label: Option<String>,
    /// Each member's prediction, in member order.
    pub members: Vec<String>,
    /// The ensemble's prediction with its weighting.
    pub ensemble: String,
}

/// The live probabilities of a saved ensemble on one row: the combined prediction and each
/// member's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct EnsemblePredictionView {
    pub combined: PredictionView,
    /// Each member's prediction and its probability, in the ensemble's member order.
    pub members: Vec<MemberPredictionView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct MemberPredictionView {
    pub name: String,
    pub predicted: String,
    pub prob: f64,
}

/// An ensemble as the prompt studio shows it: members and every weighting side by side, weights,
/// and (right after a fit) the rows the members disagree on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct EnsembleView {
    /// The saved version's id, name and version (`None` until saved).
    pub id: Option<i64>,
    pub name: Option<String>,
    pub version: Option<i64>,
    pub created_at: Option<String>,
    pub classes: Vec<String>,
    pub weighting: crate::ensemble::Weighting,
    /// Labelled rows the fit used (0: not fitted).
    pub rows: i64,
    pub members: Vec<EnsembleMemberView>,
    pub weightings: Vec<WeightingView>,
    /// Why a weighting is missing from `weightings` (learned with too few rows), and what to do.
    pub note: Option<String>,
    /// Rows the members disagree on (up to 200).
    pub disagreements: Vec<DisagreementView>,
    /// How many rows they disagree on in all; `None` when not known (a saved ensemble listed: a
    /// fit classifies the rows).
    pub disagreement_count: Option<i64>,
    /// The ensemble itself as JSON, to hand back to `save_ensemble`.
    pub json: String,
}
