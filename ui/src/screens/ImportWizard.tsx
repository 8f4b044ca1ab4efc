// The import wizard: pick a file, preview it with the guessed reading options and column roles,
// correct them, and import it as a dataset (with a label set when it has labels or classes are named).
import { useState } from "react";
import {
  commands, type ColumnGuess, type FileFormat, type FilePreview, type ImportResult, type ImportSettings, type Split, type TextEncoding,
} from "../bindings";
import { useJobs } from "../app/JobsContext";
import { useNotify } from "../app/NotificationsContext";
import { useProject } from "../app/ProjectContext";
import { EmptyState, JobProgressBar, PathInput, Select } from "../components/common";
import { fileStem, splitWords } from "../lib/format";
import { withChosenPath } from "../lib/pathAccess";
import { useLatest } from "../lib/useLatest";

type HeaderChoice = "auto" | "yes" | "no";
const NONE = "(none)";

function headerValue(h: HeaderChoice): boolean | null {
  return h === "auto" ? null : h === "yes";
}

export const PREVIEW_DEBOUNCE_MS = 300;
const DATA_FILTERS = [{ name: "Data", extensions: ["csv", "tsv", "jsonl", "txt", "json"] }];
const NO_MAPPING: ColumnGuess = { text: null, text_b: null, label: null, id: null };

type ReadOptions = { format: FileFormat; header: HeaderChoice; encoding: TextEncoding; skipBad: boolean };

export function ImportWizard({ onImported }: { onImported?: (r: ImportResult) => void } = {}) {
  const { refreshProject } = useProject();
  const { guard } = useNotify();
  const { runJob, cancelJob } = useJobs();
  const [path, setPath] = useState("");
  const [format, setFormat] = useState<FileFormat>("auto");
  const [header, setHeader] = useState<HeaderChoice>("auto");
  const [encoding, setEncoding] = useState<TextEncoding>("auto");
  const [skipBad, setSkipBad] = useState(true);
  const [preview, setPreview] = useState<FilePreview | null>(null);
  // The mapping as the user sees it. Guessed by the backend on the first preview of a file (or of a
  // new format/header/encoding choice); from then on it is the user's and is sent as is.
  const [mapping, setMapping] = useState<ColumnGuess>(NO_MAPPING);
  const [classes, setClasses] = useState("");
  const [name, setName] = useState("");
  const [split, setSplit] = useState<Split>("train");
  const [previewing, setPreviewing] = useState(false);
  const [jobId, setJobId] = useState<string | null>(null);
  const [result, setResult] = useState<ImportResult | null>(null);
  const previewRequest = useLatest();

  const settingsFor = (o: ReadOptions, m: ColumnGuess | null): ImportSettings => ({
    format: o.format, has_header: headerValue(o.header), encoding: o.encoding, skip_bad_rows: o.skipBad,
    text_column: m?.text ?? null, text_b_column: m?.text_b ?? null, label_column: m?.label ?? null, id_column: m?.id ?? null,
    explicit_columns: m !== null,
  });
  const current: ReadOptions = { format, header, encoding, skipBad };

  /**
   * Preview the file, now or after `delayMs` (several quick changes → one preview); an answer still
   * on its way is out of date from this call on. `m === null` lets the backend guess the columns
   * (and takes its guess).
   */
  const requestPreview = (o: ReadOptions, m: ColumnGuess | null, delayMs = 0) => {
    const file = path;
    if (!file.trim()) {
      previewRequest.cancel();
      return;
    }
    setPreviewing(true);
    // A path typed by hand is confirmed in the open dialog first (the app accepts only chosen files).
    const send = () =>
      guard(withChosenPath("data-file", file.trim(), (p) => commands.previewFile(p, settingsFor(o, m)), { filters: DATA_FILTERS, onConfirmed: setPath }))
        .then((p) => p ?? undefined);
    const show = (p: FilePreview | undefined) => {
      setPreviewing(false);
      if (p) {
        setPreview(p);
        if (m === null) {
          setMapping(p.mapping);
          setName((n) => (n.trim() ? n : fileStem(p.path || file)));
        }
      }
    };
    if (delayMs > 0) previewRequest.later(delayMs, send, show);
    else previewRequest.run(send(), show);
  };

  const changeMapping = (key: keyof ColumnGuess, value: string) => {
    const next = { ...mapping, [key]: value === NONE ? null : value };
    setMapping(next);
    if (preview) requestPreview(current, next, PREVIEW_DEBOUNCE_MS);
  };

  /** Format, header or encoding changed: the columns may be different, so start over with a guess. */
  const changeReading = (o: ReadOptions) => {
    setFormat(o.format);
    setHeader(o.header);
    setEncoding(o.encoding);
    setSkipBad(o.skipBad);
    if (preview) {
      setMapping(NO_MAPPING);
      requestPreview(o, null, PREVIEW_DEBOUNCE_MS);
    }
  };

  const resetWizard = () => {
    previewRequest.cancel();
    setPath("");
    setPreview(null);
    setMapping(NO_MAPPING);
    setClasses("");
    setName("");
    setPreviewing(false);
  };

  const classList = splitWords(classes);
  const needsClasses = preview !== null && mapping.label === null;
  const canImport = preview !== null && !previewing && mapping.text !== null && name.trim() !== "" && jobId === null && (!needsClasses || classList.length >= 2);

  const startImport = async () => {
    if (!preview || !canImport) return;
    const r = await runJob(`Import ${name.trim()}`, (job) =>
      commands.importDataset(job, { path: path.trim(), name: name.trim(), settings: settingsFor(current, mapping), split, classes: needsClasses ? classList : [] }),
    (job) => setJobId(job));
    setJobId(null);
    if (r) {
      resetWizard();
      setResult(r);
      await refreshProject();
      onImported?.(r);
    }
  };

  const columnOptions = [{ value: NONE, label: NONE }, ...(preview?.columns ?? []).map((c) => ({ value: c, label: c }))];

  if (result) {
    return (
      <div className="card">
        <div className="row spread wrap">
          <h2>Import a dataset</h2>
          <button type="button" className="btn small" data-testid="import-another" onClick={() => setResult(null)}>Import another file</button>
        </div>
        <ImportSummary result={result} />
      </div>
    );
  }

  return (
    <div className="card">
      <h2>Import a dataset</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          // Again after a preview: the user's mapping stands.
          requestPreview(current, preview ? mapping : null);
        }}
      >
        <PathInput
          label="File"
          testId="import-path"
          value={path}
          onChange={(v) => {
            previewRequest.cancel();
            setPath(v);
            setPreview(null);
            setMapping(NO_MAPPING);
            setPreviewing(false);
            setName("");
          }}
          purpose="data-file"
          filters={DATA_FILTERS}
          placeholder="/data/reviews.csv"
        />
        <div className="row gap wrap align-end">
          <Select<FileFormat> label="Format" value={format} onChange={(v) => changeReading({ ...current, format: v })} testId="import-format" options={[
            { value: "auto", label: "Detect" }, { value: "csv", label: "CSV" }, { value: "tsv", label: "TSV" },
            { value: "jsonl", label: "JSONL" }, { value: "label-sentence", label: "label sentence" },
          ]} />
          <Select<HeaderChoice> label="Header row" value={header} onChange={(v) => changeReading({ ...current, header: v })} testId="import-header" options={[
            { value: "auto", label: "Detect" }, { value: "yes", label: "Yes" }, { value: "no", label: "No" },
          ]} />
          <Select<TextEncoding> label="Encoding" value={encoding} onChange={(v) => changeReading({ ...current, encoding: v })} testId="import-encoding" options={[
            { value: "auto", label: "Detect" }, { value: "utf-8", label: "UTF-8" }, { value: "latin-1", label: "Latin-1" },
            { value: "utf-16le", label: "UTF-16 LE" }, { value: "utf-16be", label: "UTF-16 BE" },
            { value: "utf-32le", label: "UTF-32 LE" }, { value: "utf-32be", label: "UTF-32 BE" },
          ]} />
          <label className="check">
            <input type="checkbox" checked={skipBad} onChange={(e) => setSkipBad(e.target.checked)} data-testid="import-skip-bad" />
            Skip bad rows
          </label>
        </div>
        <button type="submit" className="btn primary" data-testid="import-preview" disabled={!path.trim() || previewing}>
          {previewing ? "Reading…" : "Preview"}
        </button>
      </form>

      {!preview ? (
        <EmptyState title="Import a CSV, TSV or JSONL file to start">Type or paste its path above (or Browse…), then press Enter to preview it.</EmptyState>
      ) : null}

      {preview ? (
        <div className="stack import-preview">
          <p className="muted small">
            {preview.format.toUpperCase()} · {preview.encoding} · {preview.has_header ? "header row" : "no header"} · {preview.rows_scanned.toLocaleString("en-US")} rows scanned
          </p>
          {preview.notes.length > 0 ? <ul className="notes">{preview.notes.map((n, i) => <li key={i}>{n}</li>)}</ul> : null}
          <div className="table-scroll">
            <table className="table" data-testid="preview-table">
              <thead><tr>{preview.columns.map((c) => <th key={c}>{c}</th>)}</tr></thead>
              <tbody>
                {preview.rows.map((r, i) => (
                  <tr key={i}>{r.map((cell, j) => <td key={j} className="cell-clip" title={cell}>{cell}</td>)}</tr>
                ))}
              </tbody>
            </table>
          </div>
          <div className="row gap wrap">
            <Select label="Text column" value={mapping.text ?? NONE} onChange={(v) => changeMapping("text", v)} testId="map-text" options={columnOptions} />
            <Select label="Second text (text_b)" value={mapping.text_b ?? NONE} onChange={(v) => changeMapping("text_b", v)} testId="map-text-b" options={columnOptions} />
            <Select label="Label column" value={mapping.label ?? NONE} onChange={(v) => changeMapping("label", v)} testId="map-label" options={columnOptions} />
            <Select label="Id column" value={mapping.id ?? NONE} onChange={(v) => changeMapping("id", v)} testId="map-id" options={columnOptions} />
          </div>
          {mapping.label !== null ? (
            <div>
              <h3>Label values found</h3>
              {preview.labels.length === 0 ? <p className="muted">No label values in the scanned rows.</p> : (
                <ul className="pill-list" data-testid="import-labels">
                  {preview.labels.map((l) => <li key={l.value} className="pill">{l.value} <span className="muted">{l.count}</span></li>)}
                </ul>
              )}
            </div>
          ) : (
            <div className="field">
              <label htmlFor="import-classes">Classes (comma separated) — no label column is chosen, so name the classes you will label</label>
              <input id="import-classes" data-testid="import-classes" value={classes} onChange={(e) => setClasses(e.target.value)} placeholder="negative, positive" />
              {classList.length < 2 ? <p className="hint">At least two classes.</p> : null}
            </div>
          )}
          <form
            className="row gap wrap align-end"
            onSubmit={(e) => {
              e.preventDefault();
              void startImport();
            }}
          >
            <div className="field">
              <label htmlFor="import-name">Dataset name</label>
              <input id="import-name" data-testid="import-name" value={name} onChange={(e) => setName(e.target.value)} />
            </div>
            <Select<Split> label="Split" value={split} onChange={setSplit} testId="import-split" options={[
              { value: "train", label: "train" }, { value: "dev", label: "dev" }, { value: "test", label: "test" }, { value: "unlabelled", label: "unlabelled" },
            ]} />
            <button type="submit" className="btn primary btn-field" data-testid="import-start" disabled={!canImport}>Import</button>
            {mapping.text === null ? <p className="warn full" data-testid="import-text-hint">Choose the column that holds the text</p> : null}
          </form>
          {jobId ? <JobProgressBar job={jobId} label="Importing" onCancel={() => void cancelJob(jobId)} /> : null}
        </div>
      ) : null}
    </div>
  );
}

function ImportSummary({ result }: { result: ImportResult }) {
  return (
    <div className="result" data-testid="import-result">
      <p className="result-head">
        Imported <strong>{result.rows.toLocaleString("en-US")}</strong> rows into <strong>{result.dataset.name}</strong>
        {" · "}{result.duplicates.toLocaleString("en-US")} duplicates · {result.labels.toLocaleString("en-US")} labels
        {result.label_set ? <> · label set <strong>{result.label_set.name}</strong> ({result.label_set.classes.join(", ")})</> : null}
      </p>
      {result.skipped.length > 0 ? (
        <details open={result.skipped.length <= 5}>
          <summary>{result.skipped.length} skipped rows</summary>
          <ul className="notes">
            {result.skipped.map((s, i) => <li key={i}><span className="mono">line {s.line}</span>: {s.message}</li>)}
          </ul>
        </details>
      ) : <p className="muted small">No rows skipped.</p>}
      {result.notes.length > 0 ? <ul className="notes">{result.notes.map((n, i) => <li key={i}>{n}</li>)}</ul> : null}
    </div>
  );
}
