import { useCallback, useEffect, useState } from "react";
import { commands, type RunExportKind, type RunExportResult, type RunSummaryView } from "../bindings";
import { useJobs } from "../app/JobsContext";
import { useScreen } from "../app/NavigationContext";
import { useNotify } from "../app/NotificationsContext";
import { usePrompt } from "../app/PromptContext";
import { JobProgressBar, PathInput } from "../components/common";
import { withChosenPath } from "../lib/pathAccess";

/** What a run exports as: the label, what it writes, and the placeholder path. */
export const RUN_EXPORTS: { value: RunExportKind; label: string; help: string; placeholder: string }[] = [
  { value: "bundle", label: "Prompt bundle", help: "Everything the run needs (template, verbalizer, trained tensors, calibration, the model's hashes) as a folder, or one .zip archive: Import below or `cloze classify --prompt` reads it.", placeholder: "/home/me/prompt-bundle" },
  { value: "peft", label: "PEFT adapter", help: "A prompt-tuning adapter (adapter_config.json, adapter_model.safetensors) that PeftModel.from_pretrained loads. Needs a soft-prompt run whose soft vectors stand before the input.", placeholder: "/home/me/peft-adapter" },
  { value: "openprompt", label: "OpenPrompt files", help: "template.txt and label_words.json, for OpenPrompt's ManualTemplate and ManualVerbalizer.", placeholder: "/home/me/openprompt" },
  { value: "model", label: "Model folder", help: "A fine-tuned or pretrained run's model as a Hugging Face folder (AutoModelFor….from_pretrained) with a README.md model card: template, verbalizer, metrics.", placeholder: "/home/me/tuned-model" },
  { value: "report", label: "Report (HTML)", help: "One self-contained HTML page: curves, confusion matrix, per-class precision / recall / F1, reliability, best and worst examples. Tick several runs to compare them.", placeholder: "/home/me/report.html" },
  { value: "job", label: "Cluster job", help: "The data with the template applied, the PEFT config or model, the hyperparameters and a train.py that `accelerate launch` runs on one CPU or many GPUs.", placeholder: "/home/me/cluster-job" },
];

/** The Export screen's runs part: export a run (or a report of several), and import a PEFT adapter
 * or a prompt bundle as a run. Exports and imports run as jobs with progress. */
export function RunExports() {
  const { guard, notify } = useNotify();
  const { runJob, cancelJob } = useJobs();
  const { prompt } = usePrompt();
  const [runs, setRuns] = useState<RunSummaryView[]>([]);
  const [chosen, setChosen] = useState<string[]>([]);
  const [kind, setKind] = useState<RunExportKind>("bundle");
  const [path, setPath] = useState("");
  const [replace, setReplace] = useState(false);
  const [job, setJob] = useState<string | null>(null);
  const [result, setResult] = useState<RunExportResult | null>(null);
  const [importPath, setImportPath] = useState("");
  const [importName, setImportName] = useState("imported");
  const [importTemplate, setImportTemplate] = useState(prompt.template);
  const [imported, setImported] = useState<string | null>(null);

  const refresh = useCallback(async () => {
    const r = await guard(commands.listRuns());
    if (r) setRuns(r);
  }, [guard]);
  // Screens stay mounted: the runs are listed again each time the Export screen is shown.
  const shown = useScreen() === "export";
  useEffect(() => {
    if (shown) void refresh();
  }, [refresh, shown]);

  const info = RUN_EXPORTS.find((k) => k.value === kind) ?? RUN_EXPORTS[0];
  const several = kind === "report";
  const selected = several ? chosen : chosen.slice(0, 1);
  const canExport = selected.length > 0 && path.trim() !== "" && job === null;

  const choose = (name: string, on: boolean) =>
    setChosen((cur) => (several ? (on ? [...cur, name] : cur.filter((c) => c !== name)) : on ? [name] : []));

  const exportRuns = async () => {
    if (!canExport) return;
    setResult(null);
    const r = await runJob(`Export ${info.label}`, (j) =>
      withChosenPath("export-file", path.trim(), (p) => commands.exportRun(j, { runs: selected, kind, path: p, replace }), { onConfirmed: setPath }), setJob);
    setJob(null);
    if (r) setResult(r);
  };

  // The Rust side opens only a report this session wrote (the web view has no opener permission).
  const openReport = async (file: string) => {
    if ((await guard(commands.openReport(file))) !== undefined) notify("The report was handed to your browser.");
  };

  const importRun = async () => {
    setImported(null);
    const r = await runJob("Import a prompt", (j) =>
      withChosenPath("model-folder", importPath.trim(), (p) => commands.importPrompt(j, { path: p, name: importName.trim(), template: importTemplate, verbalizer: prompt.verbalizer }), { onConfirmed: setImportPath }), setJob);
    setJob(null);
    if (r) {
      setImported(r.name);
      void refresh();
    }
  };

  return (
    <>
      <h2>Runs</h2>
      <form className="card stack" data-testid="run-export" onSubmit={(e) => { e.preventDefault(); void exportRuns(); }}>
        {runs.length === 0 ? <p className="hint" data-testid="run-export-empty">No runs yet: tune one on the Tune screen.</p> : (
          <fieldset className="fieldset">
            <legend>{several ? "Runs to report (one, or several to compare)" : "Run"}</legend>
            {runs.map((r) => (
              <label key={r.name} className="check">
                <input type={several ? "checkbox" : "radio"} name="run-export-run" data-testid={`run-export-run-${r.name}`}
                  checked={selected.includes(r.name)} onChange={(e) => choose(r.name, e.target.checked)} />
                {r.name} · {r.strategy} · {r.status}
              </label>
            ))}
          </fieldset>
        )}
        <div className="field">
          <label htmlFor="run-export-kind">Export as</label>
          <select id="run-export-kind" data-testid="run-export-kind" value={kind} onChange={(e) => { setKind(e.target.value as RunExportKind); setResult(null); }}>
            {RUN_EXPORTS.map((k) => <option key={k.value} value={k.value}>{k.label}</option>)}
          </select>
        </div>
        <p className="hint" data-testid="run-export-help">{info.help}</p>
        <PathInput label="Write to" testId="run-export-path" value={path} onChange={setPath} onSubmit={() => void exportRuns()} purpose="export-file"
          filters={kind === "report" ? [{ name: "HTML", extensions: ["html"] }] : []} placeholder={info.placeholder} />
        <label className="check">
          <input type="checkbox" data-testid="run-export-replace" checked={replace} onChange={(e) => setReplace(e.target.checked)} />
          Replace what is there
        </label>
        <div>
          <button type="submit" className="btn primary" data-testid="run-export-start" disabled={!canExport}>Export</button>
        </div>
        {job ? <JobProgressBar job={job} label="Exporting" onCancel={() => void cancelJob(job)} /> : null}
        {result ? (
          <div className="result card stack" data-testid="run-export-result">
            <div><span className="mono">{result.path}</span>: {result.message}</div>
            {result.kind === "report" ? (
              <div>
                <button type="button" className="btn" data-testid="run-export-open" onClick={() => void openReport(result.path)}>Open in browser</button>
              </div>
            ) : null}
          </div>
        ) : null}
      </form>
      <form className="card stack" data-testid="prompt-import" onSubmit={(e) => { e.preventDefault(); void importRun(); }}>
        <p className="hint">Import a PEFT prompt-tuning adapter folder (over the loaded model, with the template and label words below) or a prompt bundle as a run.</p>
        <PathInput label="Adapter or bundle" testId="prompt-import-path" value={importPath} onChange={setImportPath} purpose="model-folder" placeholder="/home/me/peft-adapter" />
        <div className="row gap wrap align-end">
          <div className="field">
            <label htmlFor="prompt-import-name">Run name</label>
            <input id="prompt-import-name" data-testid="prompt-import-name" value={importName} onChange={(e) => setImportName(e.target.value)} />
          </div>
          <div className="field grow">
            <label htmlFor="prompt-import-template">Template (PEFT; the adapter's vectors go before it)</label>
            <input id="prompt-import-template" data-testid="prompt-import-template" value={importTemplate} onChange={(e) => setImportTemplate(e.target.value)} />
          </div>
        </div>
        <div>
          <button type="submit" className="btn" data-testid="prompt-import-start" disabled={importPath.trim() === "" || importName.trim() === "" || job !== null}>Import</button>
        </div>
        {imported ? <div className="result card" data-testid="prompt-import-result">Imported as the run <strong>{imported}</strong>; it is on the Tune screen.</div> : null}
      </form>
    </>
  );
}
