import { useEffect, useRef, useState } from "react";
import {
  commands, type ColumnGuess, type DatasetInfo, type DatasetStats, type FileFormat, type FilePreview,
  type ImportResult, type ImportSettings, type RowPage, type Split, type TextEncoding,
} from "../bindings";
import { useJobs } from "../app/JobsContext";
import { useScreen } from "../app/NavigationContext";
import { useNotify } from "../app/NotificationsContext";
import { useProject } from "../app/ProjectContext";
import { EmptyState, JobProgressBar, PathInput, Select, SvgImage } from "../components/common";
import { fileStem, splitWords } from "../lib/format";

type HeaderChoice = "auto" | "yes" | "no";
const NONE = "(none)";
const PAGE = 50;

function headerValue(h: HeaderChoice): boolean | null {
  return h === "auto" ? null : h === "yes";
}

export function DataScreen() {
  const { project } = useProject();
  const [selectedId, setSelectedId] = useState<number | null>(null);
  return (
    <div className="stack">
      <h1>Data</h1>
      {project ? (
        <>
          <ImportWizard onImported={(r) => setSelectedId(r.dataset.id)} />
          <DatasetBrowser selectedId={selectedId} onSelect={setSelectedId} />
        </>
      ) : (
        <EmptyState title="No project open — create one or open a recent project on the Projects screen" testId="data-empty" />
      )}
    </div>
  );
}

export const PREVIEW_DEBOUNCE_MS = 300;
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
  const seq = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);

  useEffect(() => () => {
    if (timer.current) clearTimeout(timer.current);
  }, []);

  const settingsFor = (o: ReadOptions, m: ColumnGuess | null): ImportSettings => ({
    format: o.format, has_header: headerValue(o.header), encoding: o.encoding, skip_bad_rows: o.skipBad,
    text_column: m?.text ?? null, text_b_column: m?.text_b ?? null, label_column: m?.label ?? null, id_column: m?.id ?? null,
    explicit_columns: m !== null,
  });
  const current: ReadOptions = { format, header, encoding, skipBad };

  /** Preview the file: `m === null` lets the backend guess the columns (and takes its guess). */
  const runPreview = async (o: ReadOptions, m: ColumnGuess | null, file = path) => {
    if (timer.current) clearTimeout(timer.current);
    timer.current = null;
    if (!file.trim()) return;
    const my = ++seq.current;
    setPreviewing(true);
    const p = await guard(commands.previewFile(file.trim(), settingsFor(o, m)));
    if (my !== seq.current) return;
    setPreviewing(false);
    if (p) {
      setPreview(p);
      if (m === null) {
        setMapping(p.mapping);
        setName((n) => (n.trim() ? n : fileStem(p.path || file)));
      }
    }
  };

  /** Re-run the preview after a short pause (several quick changes → one preview). */
  const schedulePreview = (o: ReadOptions, m: ColumnGuess | null) => {
    if (timer.current) clearTimeout(timer.current);
    seq.current++; // an answer still on its way is out of date now
    setPreviewing(true);
    timer.current = setTimeout(() => void runPreview(o, m), PREVIEW_DEBOUNCE_MS);
  };

  const changeMapping = (key: keyof ColumnGuess, value: string) => {
    const next = { ...mapping, [key]: value === NONE ? null : value };
    setMapping(next);
    if (preview) schedulePreview(current, next);
  };

  /** Format, header or encoding changed: the columns may be different, so start over with a guess. */
  const changeReading = (o: ReadOptions) => {
    setFormat(o.format);
    setHeader(o.header);
    setEncoding(o.encoding);
    setSkipBad(o.skipBad);
    if (preview) {
      setMapping(NO_MAPPING);
      schedulePreview(o, null);
    }
  };

  const resetWizard = () => {
    if (timer.current) clearTimeout(timer.current);
    timer.current = null;
    seq.current++;
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
          void runPreview(current, preview ? mapping : null);
        }}
      >
        <PathInput
          label="File"
          testId="import-path"
          value={path}
          onChange={(v) => {
            if (timer.current) clearTimeout(timer.current);
            timer.current = null;
            seq.current++;
            setPath(v);
            setPreview(null);
            setMapping(NO_MAPPING);
            setPreviewing(false);
            setName("");
          }}
          mode="open-file"
          filters={[{ name: "Data", extensions: ["csv", "tsv", "jsonl", "txt", "json"] }]}
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

function DatasetBrowser({ selectedId, onSelect }: { selectedId: number | null; onSelect: (id: number) => void }) {
  const { project } = useProject();
  const { guard } = useNotify();
  const screen = useScreen();
  const datasets = project?.datasets ?? [];
  // Reload the figures when the project changed (an import, labels added elsewhere), but only
  // while this screen is shown: labelling updates the project on every key.
  const [seenProject, setSeenProject] = useState(project);
  if (screen === "data" && seenProject !== project) setSeenProject(project);
  const selected: DatasetInfo | undefined = datasets.find((d) => d.id === selectedId);
  const labelSets = (project?.label_sets ?? []).filter((l) => l.dataset_id === selectedId);
  const [labelSetId, setLabelSetId] = useState<number | null>(null);
  const lsId = labelSets.find((l) => l.id === labelSetId)?.id ?? labelSets[0]?.id ?? null;
  const [stats, setStats] = useState<DatasetStats | null>(null);
  const [page, setPage] = useState<RowPage | null>(null);
  const [offset, setOffset] = useState(0);
  // A new selection (a click, or the dataset just imported): drop the old dataset's figures.
  const [shownId, setShownId] = useState(selectedId);
  if (shownId !== selectedId) {
    setShownId(selectedId);
    setOffset(0);
    setStats(null);
    setPage(null);
  }

  useEffect(() => {
    if (selectedId === null) return;
    let live = true;
    void guard(commands.datasetStats(selectedId, lsId)).then((s) => {
      if (live && s && s.dataset_id === selectedId) setStats(s);
    });
    return () => {
      live = false;
    };
  }, [selectedId, lsId, guard, seenProject]);

  useEffect(() => {
    if (selectedId === null) return;
    let live = true;
    void guard(commands.rowsPage(selectedId, lsId, offset, PAGE)).then((p) => {
      if (live && p) setPage(p);
    });
    return () => {
      live = false;
    };
  }, [selectedId, lsId, offset, guard, seenProject]);

  if (datasets.length === 0) {
    return <div className="card"><h2>Datasets</h2><EmptyState title="No datasets yet">Import a file above; it will be listed here with its statistics.</EmptyState></div>;
  }

  return (
    <div className="card">
      <h2>Datasets</h2>
      <ul className="dataset-list" data-testid="dataset-list">
        {datasets.map((d) => (
          <li key={d.id}>
            <button
              type="button"
              className={`list-button${d.id === selectedId ? " active" : ""}`}
              onClick={() => onSelect(d.id)}
            >
              <strong>{d.name}</strong> <span className="muted small">{d.row_count.toLocaleString("en-US")} rows · {d.format}</span>
            </button>
          </li>
        ))}
      </ul>
      {!selected ? <p className="muted">Select a dataset to see its statistics and rows.</p> : (
        <div className="stack">
          {labelSets.length > 1 ? (
            <Select label="Label set" value={String(lsId ?? "")} onChange={(v) => setLabelSetId(Number(v))}
              options={labelSets.map((l) => ({ value: String(l.id), label: l.name }))} />
          ) : null}
          {stats ? <StatsPanel stats={stats} /> : <p className="muted">Loading statistics…</p>}
          {page ? (
            <div>
              <div className="table-scroll">
                <table className="table" data-testid="rows-table">
                  <thead><tr><th className="num">#</th><th>Id</th><th>Text</th>{page.rows.some((r) => r.text_b) ? <th>Text B</th> : null}<th>Split</th><th>Label</th></tr></thead>
                  <tbody>
                    {page.rows.map((r) => (
                      <tr key={r.id}>
                        <td className="num muted">{r.position + 1}</td>
                        <td className="mono small">{r.ext_id}</td>
                        <td className="cell-text">{r.text_a}</td>
                        {page.rows.some((x) => x.text_b) ? <td className="cell-text">{r.text_b ?? ""}</td> : null}
                        <td>{r.split}</td>
                        <td>{r.label ?? <span className="muted">—</span>}{r.label_source ? <span className="muted small"> ({r.label_source})</span> : null}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <Pager offset={offset} limit={PAGE} total={page.total} onChange={setOffset} />
            </div>
          ) : null}
        </div>
      )}
    </div>
  );
}

function StatsPanel({ stats }: { stats: DatasetStats }) {
  const hasLabels = stats.labels.some((l) => l.count > 0);
  return (
    <div className="stats" data-testid="dataset-stats">
      <div className="stat-grid">
        <div className="stat"><span className="stat-value">{stats.rows.toLocaleString("en-US")}</span><span className="stat-label">rows</span></div>
        {stats.splits.map((s) => (
          <div className="stat" key={s.split}><span className="stat-value">{s.rows.toLocaleString("en-US")}</span><span className="stat-label">{s.split}</span></div>
        ))}
        <div className="stat"><span className="stat-value">{stats.unlabelled.toLocaleString("en-US")}</span><span className="stat-label">unlabelled</span></div>
        {stats.lengths ? (
          <div className="stat wide">
            <span className="stat-value small-value">
              {stats.lengths.min} · {stats.lengths.median} · {stats.lengths.p95} · {stats.lengths.max}
            </span>
            <span className="stat-label">length in {stats.length_unit}: min · median · p95 · max (mean {stats.lengths.mean.toFixed(1)})</span>
          </div>
        ) : null}
      </div>
      {hasLabels ? (
        <table className="table compact">
          <thead><tr><th>Label</th><th className="num">Rows</th></tr></thead>
          <tbody>{stats.labels.map((l) => <tr key={l.class}><td>{l.class}</td><td className="num">{l.count.toLocaleString("en-US")}</td></tr>)}</tbody>
        </table>
      ) : null}
      <div className="charts">
        {hasLabels && stats.label_chart_svg ? <SvgImage svg={stats.label_chart_svg} alt="Label distribution chart" />
          : (
            <div className="chart-placeholder" data-testid="no-labels">
              <span className="empty-title">No labels yet</span>
              <span className="muted small">
                {stats.labels.length > 0 ? `Classes ${stats.labels.map((l) => l.class).join(", ")}. ` : ""}Label rows on the Label screen; their distribution is charted here.
              </span>
            </div>
          )}
        {stats.length_chart_svg ? <SvgImage svg={stats.length_chart_svg} alt="Text length chart" /> : null}
      </div>
    </div>
  );
}

export function Pager({ offset, limit, total, onChange }: { offset: number; limit: number; total: number; onChange: (o: number) => void }) {
  const from = total === 0 ? 0 : offset + 1;
  const to = Math.min(total, offset + limit);
  return (
    <div className="pager">
      <button type="button" className="btn small" disabled={offset === 0} onClick={() => onChange(Math.max(0, offset - limit))}>← Previous</button>
      <span className="muted small">{from.toLocaleString("en-US")}–{to.toLocaleString("en-US")} of {total.toLocaleString("en-US")}</span>
      <button type="button" className="btn small" disabled={offset + limit >= total} onClick={() => onChange(offset + limit)}>Next →</button>
    </div>
  );
}
