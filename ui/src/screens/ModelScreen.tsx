import { useCallback, useEffect, useState } from "react";
import {
  commands, type CachedModelView, type DeviceKind, type DeviceOption, type HubDetails, type HubModel, type HubQuery, type ModelView,
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
          {model ? <ModelCard model={model} /> : (
            <EmptyState title="No model loaded">Load a local folder on the left, or download a fill-mask model from Hugging Face below.</EmptyState>
          )}
        </div>
      </div>
      <HubPanel onDownloaded={() => void refreshCached()} />
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

function ModelCard({ model }: { model: ModelView }) {
  return (
    <div data-testid="model-info">
      <p className="mono model-spec">{model.spec}</p>
      <dl className="kv">
        <dt>Family</dt><dd>{model.family}</dd>
        <dt>Kind</dt><dd data-testid="model-kind">{KIND_NAMES[model.kind]}</dd>
        <dt>Reads the label word</dt><dd>{model.reads}</dd>
        {model.quantisation ? <><dt>Quantisation</dt><dd data-testid="model-quantisation">{model.quantisation} (held as f32)</dd></> : null}
        <dt>Parameters</dt><dd>{formatCount(model.parameters)}</dd>
        <dt>Memory</dt><dd>{formatBytes(model.memory_bytes)} of weights (f32); tuning needs about 3× that</dd>
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

function HubPanel({ onDownloaded }: { onDownloaded: () => void }) {
  const { runJob, cancelJob } = useJobs();
  const [text, setText] = useState("");
  const [task, setTask] = useState<"fill-mask" | "any">("fill-mask");
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
      const query = { text: text.trim(), task: task === "any" ? null : task, sort, limit: 30, supported_only: supportedOnly };
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
        <Select<"fill-mask" | "any"> label="Task" value={task} onChange={setTask} options={[{ value: "fill-mask", label: "fill-mask" }, { value: "any", label: "any task" }]} />
        <Select<HubQuery["sort"]> label="Sort by" value={sort} onChange={setSort} options={[
          { value: "downloads", label: "Downloads" }, { value: "likes", label: "Likes" }, { value: "last_modified", label: "Recently updated" },
        ]} />
        <label className="check"><input type="checkbox" checked={supportedOnly} onChange={(e) => setSupportedOnly(e.target.checked)} /> Supported only</label>
        <button type="submit" className="btn primary" data-testid="hub-search" disabled={searching}>{searching ? "Searching…" : "Search"}</button>
      </form>
      {hubError ? <p className="inline-error" role="alert" data-testid="hub-error">Hub unavailable: {hubError}</p> : null}
      {results === null ? (
        !hubError ? <p className="muted">Search for a fill-mask model (BERT, RoBERTa, DistilBERT…) to download it into the local cache.</p> : null
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
                  {details.files.map((f) => (
                    <li key={f.name} className={details.selected.includes(f.name) ? "selected" : "muted"}>
                      <span className="mono small">{f.name}</span> <span className="small">{formatBytes(f.size)}</span>
                    </li>
                  ))}
                </ul>
                <button type="button" className="btn primary" data-testid="hub-download" disabled={!details.supported || downloadJob !== null} onClick={() => void download(details.repo_id)}>
                  Download {formatBytes(details.download_size)}
                </button>
                {downloadJob ? <JobProgressBar job={downloadJob} label="Downloading" onCancel={() => void cancelJob(downloadJob)} /> : null}
                {downloadedMsg ? <p className="ok-text">{downloadedMsg}</p> : null}
              </div>
            )}
          </div>
        </div>
      )}
    </div>
  );
}
