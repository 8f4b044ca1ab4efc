import { useCallback, useEffect, useState } from "react";
import {
  commands, type CachedModelView, type DeviceKind, type DeviceOption, type HubDetails, type HubModel, type HubQuery, type ModelTypeOption, type ModelView,
  type Precision,
} from "../bindings";
import { useJobs } from "../app/JobsContext";
import { useNotify } from "../app/NotificationsContext";
import { useModel, useProject } from "../app/ProjectContext";
import { EmptyState, JobProgressBar, PathInput, Select } from "../components/common";
import { withChosenPath } from "../lib/pathAccess";
import { errorMessage } from "../lib/errors";
import { formatBytes, formatCount } from "../lib/format";

export function ModelScreen() {
  const { project, refreshProject } = useProject();
  const { model, setModel } = useModel();
  const { guard } = useNotify();
  const { runJob, cancelJob } = useJobs();
  const [path, setPath] = useState("");
  const [devices, setDevices] = useState<DeviceOption[]>([{ kind: "cpu", available: true, note: null }]);
  const [device, setDevice] = useState<DeviceKind>("cpu");
  const [loadJob, setLoadJob] = useState<string | null>(null);
  const [cached, setCached] = useState<CachedModelView[] | null>(null);

  useEffect(() => {
    void guard(commands.devices()).then((d) => {
      if (d && d.length > 0) setDevices(d);
    });
  }, [guard]);

  const refreshCached = useCallback(async () => {
    const c = await guard(commands.cachedModels());
    if (c) setCached(c);
  }, [guard]);

  useEffect(() => {
    void refreshCached();
  }, [refreshCached]);

  const load = async (spec: string) => {
    if (!spec.trim() || loadJob) return;
    // A folder typed by hand is confirmed in the folder dialog; cached models load by name.
    const m = await runJob(`Load ${spec.trim()}`, (job) => withChosenPath("model-folder", spec.trim(), (s) => commands.loadModel(job, s, device), { onConfirmed: setPath }), setLoadJob);
    setLoadJob(null);
    if (m) {
      setModel(m);
      if (project) void refreshProject();
    }
  };

  const remove = async (repo: string) => {
    const c = await guard(commands.removeCachedModel(repo));
    if (c) setCached(c);
  };

  return (
    <div className="stack">
      <h1>Model</h1>
      <div className="grid-2">
        <div className="card">
          <h2>Load a local model</h2>
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void load(path);
            }}
          >
            <PathInput label="Model folder (config.json, tokenizer, weights)" testId="model-path" value={path} onChange={setPath} purpose="model-folder" placeholder="/models/bert-base-uncased" />
            <div className="row gap align-end">
              <Select<DeviceKind>
                label="Device"
                value={device}
                onChange={setDevice}
                testId="device-select"
                options={devices.map((d) => ({ value: d.kind, label: d.available ? d.kind.toUpperCase() : `${d.kind.toUpperCase()} — ${d.note ?? "unavailable"}`, disabled: !d.available }))}
              />
              <button type="submit" className="btn primary" data-testid="model-load" disabled={!path.trim() || loadJob !== null}>Load model</button>
            </div>
          </form>
          {loadJob ? <JobProgressBar job={loadJob} label="Loading model" onCancel={() => void cancelJob(loadJob)} /> : null}
        </div>
        <div className="card">
          <h2>Current model</h2>
          {model ? <><ModelCard model={model} /><PrecisionSetting model={model} onChanged={setModel} /></> : (
            <EmptyState title="No model loaded">Load a local folder on the left, or download a fill-mask model from Hugging Face below.</EmptyState>
          )}
        </div>
      </div>
      <HubPanel onDownloaded={() => void refreshCached()} onLoad={(spec) => void load(spec)} />
      <div className="card">
        <h2>Cached models</h2>
        {cached === null ? <p className="muted">Loading…</p> : cached.length === 0 ? (
          <div data-testid="cached-list">
            <EmptyState title="No cached models">Search Hugging Face above and download one; it will be listed here.</EmptyState>
          </div>
        ) : (
          <table className="table" data-testid="cached-list">
            <thead><tr><th>Repository</th><th className="num">Size</th><th>Revision</th><th /></tr></thead>
            <tbody>
              {cached.map((c) => (
                <tr key={c.repo_id}>
                  <td className="mono">{c.repo_id}</td>
                  <td className="num">{formatBytes(c.size)}</td>
                  <td className="mono small">{c.refs[0] ?? c.commits[0]?.slice(0, 10) ?? ""}</td>
                  <td className="actions">
                    <button type="button" className="btn small primary" disabled={loadJob !== null} onClick={() => void load(c.repo_id)}>Load</button>
                    <button type="button" className="btn small ghost" onClick={() => void remove(c.repo_id)}>Remove</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </div>
  );
}

const KIND_NAMES: Record<ModelView["kind"], string> = {
  encoder: "Masked language model",
  decoder: "Decoder (causal language model)",
  "encoder-decoder": "Encoder–decoder",
};

/** Whether a GGUF model's layers are held quantised (less memory than its f32 weights). */
function quantisedHeld(model: ModelView): boolean {
  return model.quantisation !== null && model.memory_bytes < model.parameters * 4 * 0.9;
}

export const PRECISIONS: { value: Precision; label: string }[] = [
  { value: "f32", label: "f32 — exact, equal to PyTorch" },
  { value: "bf16", label: "bf16 — faster on CPUs with AVX512_BF16" },
];

/** The loaded model's precision, changed without reloading it; what runs it on this machine. */
function PrecisionSetting({ model, onChanged }: { model: ModelView; onChanged: (m: ModelView) => void }) {
  const { guard } = useNotify();
  const [busy, setBusy] = useState(false);
  const cpu = model.device === "cpu";
  const change = async (p: Precision) => {
    setBusy(true);
    const m = await guard(commands.setPrecision(p));
    setBusy(false);
    if (m) onChanged(m);
  };
  return (
    <div className="precision-setting" data-testid="model-precision-setting">
      <Select<Precision>
        label="Precision"
        value={model.precision}
        onChange={(p) => void change(p)}
        testId="model-precision"
        disabled={busy}
        options={PRECISIONS.map((o) => (o.value === "bf16" && !cpu ? { ...o, label: "bf16 — on the CPU only", disabled: true } : o))}
      />
      <p className="hint" data-testid="model-precision-note">Runs as {model.precision_kernel}. The prompt studio, scoring and the Tune form use it; each run keeps the precision it was trained in.</p>
      {cpu && !model.bf16_native ? (
        <p className="warn small" data-testid="model-precision-warning">This CPU has no AVX512_BF16: bf16 gives the same results here but runs slower than f32.</p>
      ) : null}
    </div>
  );
}

function ModelCard({ model }: { model: ModelView }) {
  return (
    <div data-testid="model-info">
      <p className="mono model-spec">{model.spec}</p>
      <dl className="kv">
        <dt>Family</dt><dd>{model.family}</dd>
        <dt>Kind</dt><dd data-testid="model-kind">{KIND_NAMES[model.kind]}</dd>
        <dt>Reads the label word</dt><dd>{model.reads}</dd>
        {model.quantisation ? <><dt>Quantisation</dt><dd data-testid="model-quantisation">{model.quantisation}{quantisedHeld(model) ? " (the products read the stored blocks)" : " (held as f32)"}</dd></> : null}
        <dt>Parameters</dt><dd>{formatCount(model.parameters)}</dd>
        <dt>Memory</dt>
        <dd data-testid="model-memory">
          {quantisedHeld(model)
            ? `${formatBytes(model.memory_bytes)} of weights as stored; tuning dequantises them to f32 (${formatBytes(model.parameters * 4)}) and needs about 3× that`
            : `${formatBytes(model.memory_bytes)} of weights (f32); tuning needs about 3× that`}
        </dd>
        <dt>Layers</dt><dd>{model.layers}</dd>
        <dt>Hidden size</dt><dd>{model.hidden_size}</dd>
        <dt>Vocabulary</dt><dd>{model.vocab_size.toLocaleString("en-US")}</dd>
        <dt>Max length</dt><dd>{model.max_len} tokens</dd>
        {model.kind === "decoder" ? null : <><dt>Mask token</dt><dd><code>{model.mask_token}</code></dd></>}
        <dt>Device</dt><dd>{model.device.toUpperCase()}</dd>
      </dl>
      {!model.has_lm_head ? <p className="warn" data-testid="no-mlm-head">This model has no language-model head (a bare encoder); it cannot fill a mask.</p> : null}
    </div>
  );
}

type Task = "any" | "fill-mask" | "text-generation" | "text2text-generation";

/** A GGUF file's label: its quantisation (or name) and size. */
function ggufLabel(g: HubDetails["gguf"][number]): string {
  return `${g.quantisation ?? g.name} · ${formatBytes(g.size)}`;
}

function HubPanel({ onDownloaded, onLoad }: { onDownloaded: () => void; onLoad: (spec: string) => void }) {
  const { runJob, cancelJob } = useJobs();
  const [text, setText] = useState("");
  const [task, setTask] = useState<Task>("any");
  const [modelType, setModelType] = useState("");
  const [ggufOnly, setGgufOnly] = useState(false);
  const [types, setTypes] = useState<ModelTypeOption[]>([]);
  const [ggufChoice, setGgufChoice] = useState<string | null>(null);
  const [downloadedSpec, setDownloadedSpec] = useState<string | null>(null);
  useEffect(() => {
    // The family filter's options come from the engine's registry; without them the filter is hidden.
    commands.modelTypes().then(setTypes, () => setTypes([]));
  }, []);
  const [sort, setSort] = useState<HubQuery["sort"]>("downloads");
  const [supportedOnly, setSupportedOnly] = useState(true);
  const [results, setResults] = useState<HubModel[] | null>(null);
  const [nextPage, setNextPage] = useState<string | null>(null);
  const [hubError, setHubError] = useState<string | null>(null);
  const [searching, setSearching] = useState(false);
  const [details, setDetails] = useState<HubDetails | null>(null);
  const [detailsFor, setDetailsFor] = useState<string | null>(null);
  const [detailsError, setDetailsError] = useState<string | null>(null);
  const [downloadJob, setDownloadJob] = useState<string | null>(null);
  const [downloadedMsg, setDownloadedMsg] = useState<string | null>(null);

  const search = async (more = false) => {
    setSearching(true);
    setHubError(null);
    try {
      const query: HubQuery = {
        text: text.trim(), task: task === "any" ? null : task, sort, limit: 30, supported_only: supportedOnly,
        model_type: modelType === "" ? null : modelType, gguf_only: ggufOnly,
      };
      const page = await commands.hubSearch(query, more ? nextPage : null);
      setResults((prev) => (more && prev ? [...prev, ...page.models.filter((m) => !prev.some((p) => p.repo_id === m.repo_id))] : page.models));
      setNextPage(page.next);
    } catch (e) {
      setHubError(errorMessage(e));
    } finally {
      setSearching(false);
    }
  };

  const showDetails = async (repo: string) => {
    setDetailsFor(repo);
    setDetails(null);
    setDetailsError(null);
    setDownloadedMsg(null);
    setDownloadedSpec(null);
    setGgufChoice(null);
    try {
      setDetails(await commands.hubDetails(repo));
    } catch (e) {
      setDetailsError(errorMessage(e));
    }
  };

  const download = async (repo: string) => {
    const r = await runJob(`Download ${repo}`, (job) => commands.hubDownload(job, repo), setDownloadJob);
    setDownloadJob(null);
    if (r) {
      setDownloadedMsg(`Downloaded ${r.repo_id} (${formatBytes(r.size)}). Load it from Cached models below.`);
      onDownloaded();
    }
  };

  const downloadGguf = async (repo: string, file: string) => {
    const r = await runJob(`Download ${repo}/${file}`, (job) => commands.hubDownloadGguf(job, repo, file), setDownloadJob);
    setDownloadJob(null);
    if (r) {
      setDownloadedMsg(`Downloaded ${r.spec} (${formatBytes(r.size)}).`);
      setDownloadedSpec(r.spec);
      onDownloaded();
    }
  };

  return (
    <div className="card">
      <h2>Hugging Face Hub</h2>
      <form
        className="row gap wrap align-end"
        onSubmit={(e) => {
          e.preventDefault();
          void search();
        }}
      >
        <div className="field grow">
          <label htmlFor="hub-query">Search models</label>
          <input id="hub-query" data-testid="hub-query" value={text} onChange={(e) => setText(e.target.value)} placeholder="bert, roberta, distil…" />
        </div>
        <Select<Task> label="Task" value={task} onChange={setTask} testId="hub-task" options={[
          { value: "any", label: "any task" }, { value: "fill-mask", label: "fill-mask" },
          { value: "text-generation", label: "text-generation" }, { value: "text2text-generation", label: "text2text-generation" },
        ]} />
        {types.length > 0 ? (
          <Select label="Family" value={modelType} onChange={setModelType} testId="hub-family" options={[
            { value: "", label: "any family" },
            ...types.map((t) => ({ value: t.model_type, label: t.model_type === t.family ? `${t.model_type} (${t.kind})` : `${t.model_type} (${t.family} family, ${t.kind})` })),
          ]} />
        ) : null}
        <label className="check"><input type="checkbox" data-testid="hub-gguf-only" checked={ggufOnly} onChange={(e) => setGgufOnly(e.target.checked)} /> GGUF only</label>
        <Select<HubQuery["sort"]> label="Sort by" value={sort} onChange={setSort} options={[
          { value: "downloads", label: "Downloads" }, { value: "likes", label: "Likes" }, { value: "last_modified", label: "Recently updated" },
        ]} />
        <label className="check"><input type="checkbox" checked={supportedOnly} onChange={(e) => setSupportedOnly(e.target.checked)} /> Supported only</label>
        <button type="submit" className="btn primary" data-testid="hub-search" disabled={searching}>{searching ? "Searching…" : "Search"}</button>
      </form>
      {hubError ? <p className="inline-error" role="alert" data-testid="hub-error">Hub unavailable: {hubError}</p> : null}
      {results === null ? (
        !hubError ? <p className="muted">Search for a model (BERT, RoBERTa, GPT-2, Llama, Qwen2, T5… or a GGUF file) to download it into the local cache.</p> : null
      ) : results.length === 0 ? <EmptyState title="No models match">Try a shorter query or untick “Supported only”.</EmptyState> : (
        <div className="grid-2 hub-grid">
          <ul className="hub-results" data-testid="hub-results">
            {results.map((m) => (
              <li key={m.repo_id}>
                <button type="button" className={`hub-result${detailsFor === m.repo_id ? " active" : ""}`} onClick={() => void showDetails(m.repo_id)}>
                  <span className="mono hub-repo">{m.repo_id}</span>
                  <span className="muted small">
                    ↓ {formatCount(m.downloads)} · ♥ {formatCount(m.likes)} · {formatBytes(m.weight_bytes)}{m.license ? ` · ${m.license}` : ""}
                  </span>
                  {m.gguf ? <span className="badge" data-testid="gguf-badge">GGUF</span> : null}
                  {m.supported ? <span className="badge ok">supported</span> : <span className="badge">{m.unsupported_reason ?? "unsupported"}</span>}
                </button>
              </li>
            ))}
            {nextPage ? (
              <li>
                <button type="button" className="btn small" data-testid="hub-more" disabled={searching} onClick={() => void search(true)}>
                  {searching ? "Loading…" : "More results"}
                </button>
              </li>
            ) : null}
          </ul>
          <div className="hub-details" data-testid="hub-details">
            {detailsFor === null ? <p className="muted">Select a model to see its files and download size.</p> : detailsError ? (
              <p className="inline-error" role="alert">{detailsError}</p>
            ) : details === null ? <p className="muted">Loading {detailsFor}…</p> : (
              <div className="stack">
                <h3 className="mono">{details.repo_id}</h3>
                {details.summary ? <p>{details.summary}</p> : null}
                <p className="muted small">
                  {details.model_type ?? "unknown type"} · commit <span className="mono">{details.commit.slice(0, 10)}</span> · download {formatBytes(details.download_size)}
                </p>
                {!details.supported ? <p className="warn">{details.unsupported_reason ?? "This model is not supported."}</p> : null}
                <ul className="file-list">
                  {details.files.map((f) => {
                    const gguf = details.gguf.find((g) => g.name === f.name);
                    return (
                      <li key={f.name} className={details.selected.includes(f.name) ? "selected" : "muted"}>
                        <span className="mono small">{f.name}</span> <span className="small">{formatBytes(f.size)}</span>
                        {gguf ? <span className="badge small">GGUF{gguf.quantisation ? ` ${gguf.quantisation}` : ""}</span> : null}
                      </li>
                    );
                  })}
                </ul>
                {details.selected.length > 0 ? (
                  <button type="button" className="btn primary" data-testid="hub-download" disabled={!details.supported || downloadJob !== null} onClick={() => void download(details.repo_id)}>
                    Download {formatBytes(details.download_size)}
                  </button>
                ) : null}
                {details.gguf.length > 0 ? (
                  <fieldset className="gguf-pick" data-testid="gguf-files">
                    <legend>{details.selected.length > 0 ? "Or one GGUF file (quantised)" : "Pick a quantisation to download"}</legend>
                    {details.gguf.map((g) => (
                      <label key={g.name} className="check">
                        <input type="radio" name="gguf-file" value={g.name} checked={(ggufChoice ?? details.gguf[0].name) === g.name} onChange={() => setGgufChoice(g.name)} />
                        {" "}<span className="mono small">{ggufLabel(g)}</span> <span className="muted small">{g.name}</span>
                      </label>
                    ))}
                    {(() => {
                      const chosen = details.gguf.find((g) => g.name === ggufChoice) ?? details.gguf[0];
                      return (
                        <button type="button" className="btn primary" data-testid="gguf-download" disabled={downloadJob !== null} onClick={() => void downloadGguf(details.repo_id, chosen.name)}>
                          Download {ggufLabel(chosen)}
                        </button>
                      );
                    })()}
                  </fieldset>
                ) : null}
                {downloadJob ? <JobProgressBar job={downloadJob} label="Downloading" onCancel={() => void cancelJob(downloadJob)} /> : null}
                {downloadedMsg ? <p className="ok-text" data-testid="hub-downloaded">{downloadedMsg}</p> : null}
                {downloadedSpec ? <button type="button" className="btn" data-testid="gguf-load" onClick={() => onLoad(downloadedSpec)}>Load {downloadedSpec}</button> : null}
              </div>
            )}
          </div>
        </div>
      )}
    </div>
  );
}
