import { useState } from "react";
import { commands, type ExportFormat, type ExportResult } from "../bindings";
import { useSetScreen } from "../app/NavigationContext";
import { useNotify } from "../app/NotificationsContext";
import { useProject } from "../app/ProjectContext";
import { EmptyState, PathInput } from "../components/common";
import { errorKind } from "../lib/errors";
import { withChosenPath } from "../lib/pathAccess";
import { RunExports } from "./RunExports";

const FORMATS: { value: ExportFormat; label: string; help: string; ext: string }[] = [
  { value: "csv", label: "CSV", help: "One row per labelled example with the columns id, split, text_a, text_b, label, source, confidence, annotator, created_at, run_id, then the source file's other columns — opens in any spreadsheet.", ext: "csv" },
  { value: "jsonl", label: "JSONL", help: "One JSON object per line with the same fields as the CSV (id, split, text_a, text_b, label, source, confidence, annotator, created_at, run_id) plus meta: the source file's other columns.", ext: "jsonl" },
  { value: "hf-jsonl", label: "Hugging Face JSONL", help: "One object per line with text, text_b, label (the class index) and label_text — ready for datasets.load_dataset(\"json\", …) and fine-tuning.", ext: "jsonl" },
];
/** The layouts of a multi-label set: every labelled row once with its live labels (the source and
 * confidence filters do not apply). */
const MULTI_FORMATS: typeof FORMATS = [
  { value: "multi-hot-csv", label: "Multi-hot CSV", help: "One row per labelled example: id, split, text_a, text_b, labels (joined by ;), then a 0/1 column per label.", ext: "csv" },
  { value: "multi-hot-jsonl", label: "Multi-hot JSONL", help: "One object per line: id, split, text_a, text_b, labels (their names) and multi_hot (0/1 per label, in the label set's order).", ext: "jsonl" },
  { value: "hf-datasets", label: "Hugging Face datasets (multi-label)", help: "A folder with data.jsonl (id, text, labels as label indices) and dataset_info.json whose features declare labels a Sequence(ClassLabel): load_dataset(\"json\", data_files=…, features=Features.from_dict(info[\"features\"])).", ext: "" },
  ...FORMATS.filter((f) => f.value !== "hf-jsonl"),
];

/** The formats offered for a label set. */
export function formatsFor(multiLabel: boolean): typeof FORMATS {
  return multiLabel ? MULTI_FORMATS : FORMATS;
}
const SOURCES = [
  { value: "human", label: "Human labels" },
  { value: "import", label: "Imported labels" },
  { value: "model", label: "Model labels (accepted suggestions)" },
];

export function ExportScreen() {
  const { project } = useProject();
  const { guard } = useNotify();
  const setScreen = useSetScreen();
  const labelSets = project?.label_sets ?? [];
  const [labelSetChoice, setLabelSetChoice] = useState<number | null>(null);
  const labelSetId = labelSets.find((l) => l.id === labelSetChoice)?.id ?? labelSets[0]?.id ?? null;
  const multiLabel = labelSets.find((l) => l.id === labelSetId)?.multi_label ?? false;
  const formats = formatsFor(multiLabel);
  // Until the user picks one: the first layout of the label set's kind (multi-hot for a multi-label set).
  const [formatChoice, setFormat] = useState<ExportFormat | null>(null);
  const format: ExportFormat = formats.find((f) => f.value === formatChoice)?.value ?? formats[0].value;
  const [sources, setSources] = useState<string[]>(["human", "import"]);
  const [minConf, setMinConf] = useState("");
  const [path, setPath] = useState("");
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<ExportResult | null>(null);
  // The path the user is asked about: it exists; export again only if they choose Replace.
  const [confirmReplace, setConfirmReplace] = useState<string | null>(null);

  const fmt = formats.find((f) => f.value === format) ?? formats[0];
  const filters = fmt.ext === "" ? [] : [{ name: fmt.label, extensions: [fmt.ext] }];
  const minConfidence = minConf.trim() === "" ? null : Number(minConf);
  const minValid = minConfidence === null || (Number.isFinite(minConfidence) && minConfidence >= 0 && minConfidence <= 1);
  const canExport = labelSetId !== null && path.trim() !== "" && sources.length > 0 && minValid && !busy;

  /** Exports; a file already at the path is replaced only after the user says so: the engine
   * answers `already-exists`, the screen asks "Replace?", and Replace sends it again with `replace`. */
  const run = async (replace = false) => {
    if (!canExport || labelSetId === null) return;
    setBusy(true);
    setConfirmReplace(null);
    const target = path.trim();
    let chosen = target;
    const send = (p: string) => {
      chosen = p;
      return commands.exportLabels({ label_set_id: labelSetId, path: p, format, sources, min_confidence: minConfidence, replace });
    };
    const r = await guard(
      withChosenPath("export-file", target, send, { filters, onConfirmed: setPath }).catch((e: unknown) => {
        if (errorKind(e) === "already-exists") {
          setConfirmReplace(chosen);
          return undefined;
        }
        throw e;
      }),
    );
    setBusy(false);
    if (r) setResult(r);
  };

  if (!project) {
    return (
      <div className="stack">
        <h1>Export</h1>
        <EmptyState title="No project open — create one or open a recent project on the Projects screen" testId="export-empty" />
      </div>
    );
  }
  if (labelSets.length === 0) {
    return (
      <div className="stack">
        <h1>Export</h1>
        <EmptyState title="Nothing to export yet">
          Import a dataset on the <button type="button" className="link" onClick={() => setScreen("data")}>Data screen</button> and label some rows first.
        </EmptyState>
      </div>
    );
  }

  return (
    <div className="stack">
      <h1>Export</h1>
      <form
        className="card stack"
        onSubmit={(e) => {
          e.preventDefault();
          void run();
        }}
      >
        <div className="row gap wrap align-end">
          <div className="field">
            <label htmlFor="export-label-set">Label set</label>
            <select id="export-label-set" data-testid="export-label-set" value={String(labelSetId ?? "")} onChange={(e) => setLabelSetChoice(Number(e.target.value))}>
              {labelSets.map((l) => <option key={l.id} value={l.id}>{l.name} · {l.labelled} labelled</option>)}
            </select>
          </div>
          <div className="field">
            <label htmlFor="export-format">Format</label>
            <select id="export-format" data-testid="export-format" value={format} onChange={(e) => setFormat(e.target.value as ExportFormat)}>
              {formats.map((f) => <option key={f.value} value={f.value}>{f.label}</option>)}
            </select>
          </div>
          <div className="field">
            <label htmlFor="export-min-confidence">Min. confidence for model labels (0–1, optional)</label>
            <input id="export-min-confidence" data-testid="export-min-confidence" inputMode="decimal" value={minConf} onChange={(e) => setMinConf(e.target.value)} placeholder="e.g. 0.9" />
          </div>
        </div>
        <p className="hint" data-testid="export-format-help">{fmt.help}</p>
        {!minValid ? <p className="inline-error small">Min. confidence must be a number between 0 and 1.</p> : null}
        <fieldset className="fieldset">
          <legend>Include labels from</legend>
          {SOURCES.map((s) => (
            <label key={s.value} className="check">
              <input
                type="checkbox"
                data-testid={`export-source-${s.value}`}
                checked={sources.includes(s.value)}
                onChange={(e) => setSources((cur) => (e.target.checked ? [...cur, s.value] : cur.filter((x) => x !== s.value)))}
              />
              {s.label}
            </label>
          ))}
          {sources.length === 0 ? <p className="inline-error small">Pick at least one source.</p> : null}
        </fieldset>
        <PathInput label="Write to" testId="export-path" value={path} onChange={(v) => { setPath(v); setConfirmReplace(null); }} onSubmit={() => void run()} purpose="export-file"
          filters={filters} placeholder={fmt.ext === "" ? "/home/me/labels-dataset" : `/home/me/labels.${fmt.ext}`} />
        {confirmReplace !== null ? (
          <div className="confirm card" role="alertdialog" aria-label="Replace the file?" data-testid="export-confirm-replace">
            <p><span className="mono">{confirmReplace}</span> exists — Replace?</p>
            <div className="row gap">
              <button type="button" className="btn primary" data-testid="export-replace" disabled={busy} onClick={() => void run(true)}>Replace</button>
              <button type="button" className="btn" data-testid="export-keep" onClick={() => setConfirmReplace(null)}>Cancel</button>
            </div>
          </div>
        ) : null}
        <div>
          <button type="submit" className="btn primary" data-testid="export-start" disabled={!canExport}>{busy ? "Exporting…" : "Export"}</button>
        </div>
      </form>
      {result ? (
        <div className="result card" data-testid="export-result">
          Wrote <strong>{result.written.toLocaleString("en-US")}</strong> rows to <span className="mono">{result.path}</span>, {result.filtered_out.toLocaleString("en-US")} filtered out.
        </div>
      ) : null}
      <RunExports />
    </div>
  );
}
