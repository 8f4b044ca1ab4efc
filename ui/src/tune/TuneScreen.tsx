import { useCallback, useEffect, useMemo, useState } from "react";
import {
  commands,
  type ConfigDiff,
  type DevExampleView,
  type Estimate,
  type Hyper,
  type Precision,
  type Pretraining,
  type RunDetailsView,
  type RunSummaryView,
  type SoftPlacement,
  type TuneRequest,
  type TuneStrategy,
  type VerbalizerKind,
} from "../bindings";
import { useJobs } from "../app/JobsContext";
import { useSetScreen } from "../app/NavigationContext";
import { useNotify } from "../app/NotificationsContext";
import { useModel, useProject } from "../app/ProjectContext";
import { usePrompt } from "../app/PromptContext";
import { EmptyState, JobProgressBar, SvgImage } from "../components/common";
import { formatBytes } from "../lib/format";
import { useLatest } from "../lib/useLatest";
import { costKey, estimateText, formatDuration, measurementText, ratio } from "./cost";

export const STRATEGIES: { value: TuneStrategy; label: string; help: string }[] = [
  { value: "soft-prompt", label: "Soft-prompt tuning", help: "Only the template's {soft} vectors train; the model stays frozen. Put {soft} or {soft:N} in the template." },
  { value: "finetune", label: "Prompt-based fine-tuning", help: "Every weight trains on rows rendered by the template, scored at the mask (PET / LM-BFF)." },
  { value: "pretrain", label: "Prompted pretraining", help: "Continued pretraining with the model family's own objective on text rendered through the template; the run saves a model folder to use zero-shot." },
  { value: "probe", label: "Probe", help: "A logistic regression on frozen, pooled sentence embeddings: fast, and a baseline beside prompts." },
];

/** Each family's own pretraining objective, as the Tune screen names and explains it. */
export const PRETRAINING: Record<Pretraining, { name: string; help: string }> = {
  "masked-lm": { name: "masked LM", help: "15% of the tokens are masked and predicted (BERT's recipe)" },
  "causal-lm": { name: "causal LM", help: "every token is predicted from the ones before it" },
  "span-corruption": { name: "span corruption", help: "15% of the tokens, in spans of about 3, become sentinels the decoder writes out (T5's recipe)" },
  denoising: { name: "denoising", help: "30% of the tokens, in spans, become <mask> and the decoder writes the original text (BART's recipe)" },
};

/** A strategy's label and help for the loaded model: pretraining names the family's objective. */
export function strategyText(strategy: TuneStrategy, pretraining: Pretraining | null): { label: string; help: string } {
  const s = STRATEGIES.find((x) => x.value === strategy) ?? STRATEGIES[0];
  if (strategy !== "pretrain" || !pretraining) return s;
  const o = PRETRAINING[pretraining];
  return {
    label: `${s.label} (${o.name})`,
    help: `Training with this model's own objective, ${o.name}: ${o.help}, on text rendered through the template (a labelled row's label word fills {mask}); the run saves a model folder to use zero-shot.`,
  };
}

type HyperField = { key: keyof Hyper; label: string; step?: string; optional?: boolean };
const HYPER_FIELDS: HyperField[] = [
  { key: "learning_rate", label: "Learning rate", step: "any" },
  { key: "epochs", label: "Epochs" },
  { key: "batch_size", label: "Batch size" },
  { key: "grad_accumulation", label: "Gradient accumulation" },
  { key: "warmup_ratio", label: "Warmup ratio", step: "any" },
  { key: "weight_decay", label: "Weight decay", step: "any" },
  { key: "max_grad_norm", label: "Max gradient norm", step: "any" },
  { key: "eval_every", label: "Evaluate every N updates (0 = each epoch)" },
  { key: "patience", label: "Patience (0 = no early stop)" },
  { key: "seed", label: "Seed" },
  { key: "dropout", label: "Dropout (empty = model's)", step: "any", optional: true },
];

const pct = (x: number | null | undefined) => (x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)}%`);

/** The next free run name: run-1, run-2, … */
export function nextRunName(runs: RunSummaryView[]): string {
  const taken = new Set(runs.map((r) => r.name));
  let i = 1;
  while (taken.has(`run-${i}`)) i += 1;
  return `run-${i}`;
}

function Examples({ title, rows, testId }: { title: string; rows: DevExampleView[]; testId: string }) {
  if (rows.length === 0) return null;
  return (
    <div className="stack" data-testid={testId}>
      <h3>{title}</h3>
      <table className="table">
        <thead><tr><th>Text</th><th>Label</th><th>Predicted</th><th>p(label)</th></tr></thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i}><td>{r.text}</td><td>{r.label}</td><td>{r.predicted}</td><td>{pct(r.p_label)}</td></tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function TuneScreen() {
  const { project } = useProject();
  const { model } = useModel();
  const { guard, notify } = useNotify();
  const { runJob, cancelJob } = useJobs();
  const setScreen = useSetScreen();
  const { prompt } = usePrompt();
  const labelSets = useMemo(() => (project?.label_sets ?? []).filter((l) => l.labelled > 0), [project]);
  const [runs, setRuns] = useState<RunSummaryView[]>([]);
  const [name, setName] = useState("run-1");
  const [strategy, setStrategy] = useState<TuneStrategy>("finetune");
  const [template, setTemplate] = useState(prompt.template);
  const [kind, setKind] = useState<VerbalizerKind>("manual");
  const [placement, setPlacement] = useState<SoftPlacement>("in-template");
  const [labelSetChoice, setLabelSetChoice] = useState<number | null>(null);
  const [shots, setShots] = useState("");
  const [devFraction, setDevFraction] = useState("0.2");
  const [hyper, setHyper] = useState<Hyper>({});
  // The form's precision follows the Model screen's setting (and can differ for one run).
  const modelPrecision = model?.precision ?? "f32";
  const [precision, setPrecision] = useState<Precision>(modelPrecision);
  const [job, setJob] = useState<string | null>(null);
  const [estimateJob, setEstimateJob] = useState<string | null>(null);
  const [estimate, setEstimate] = useState<{ key: string; value: Estimate } | null>(null);
  const [running, setRunning] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [details, setDetails] = useState<RunDetailsView | null>(null);
  const [compareA, setCompareA] = useState("");
  const [compareB, setCompareB] = useState("");
  const [diff, setDiff] = useState<ConfigDiff[] | null>(null);
  const labelSetId = labelSets.find((l) => l.id === labelSetChoice)?.id ?? labelSets[0]?.id ?? null;

  const refreshRuns = useCallback(async () => {
    if (!project) return;
    const r = await guard(commands.listRuns());
    if (r) setRuns(r);
  }, [project, guard]);

  useEffect(() => {
    void refreshRuns();
  }, [refreshRuns]);

  useEffect(() => {
    setTemplate(prompt.template);
  }, [prompt.template]);

  useEffect(() => {
    setPrecision(modelPrecision);
  }, [modelPrecision]);

  const defaultsRequest = useLatest();
  useEffect(() => {
    defaultsRequest.run(commands.tuneDefaults(strategy), setHyper);
    return defaultsRequest.cancel;
  }, [strategy, defaultsRequest]);

  // While a run trains, redraw its charts from the metrics it writes. A poll waits for the previous
  // answer, so a slow one is never overtaken (and dropped) by the next, second after second.
  const shown = running ?? selected;
  const detailsRequest = useLatest();
  useEffect(() => {
    if (!shown) return;
    let waiting = false;
    const load = () => {
      if (waiting) return;
      waiting = true;
      detailsRequest.run(commands.runDetails(shown).finally(() => {
        waiting = false;
      }), setDetails);
    };
    load();
    if (!running) return detailsRequest.cancel;
    const timer = window.setInterval(load, 1000);
    return () => {
      detailsRequest.cancel();
      window.clearInterval(timer);
    };
  }, [shown, running, detailsRequest]);

  if (!project) {
    return (
      <div className="stack">
        <h1>Tune</h1>
        <EmptyState title="No project open — create one or open a recent project on the Projects screen" testId="tune-empty" />
      </div>
    );
  }
  if (!model) {
    return (
      <div className="stack">
        <h1>Tune</h1>
        <EmptyState title="No model loaded" testId="tune-empty">
          Load a model on the <button type="button" className="link" onClick={() => setScreen("model")}>Model screen</button> to tune a prompt with it.
        </EmptyState>
      </div>
    );
  }
  if (labelSets.length === 0) {
    return (
      <div className="stack">
        <h1>Tune</h1>
        <EmptyState title="No labelled rows yet" testId="tune-empty">
          Label some rows of each class on the <button type="button" className="link" onClick={() => setScreen("label")}>Label screen</button> (or import a labelled file) to train on them.
        </EmptyState>
      </div>
    );
  }

  const validName = /^[A-Za-z0-9_-]+$/.test(name.trim());
  const shotsNum = shots.trim() === "" ? null : Number(shots);
  const devNum = Number(devFraction);
  const formValid = validName && labelSetId !== null && (shotsNum === null || (Number.isInteger(shotsNum) && shotsNum > 0)) && devNum >= 0 && devNum < 1;

  const request = (runName: string, resume: boolean): TuneRequest | null => {
    if (labelSetId === null) return null;
    return {
      name: runName,
      strategy,
      template,
      chat: prompt.chat,
      verbalizer: prompt.verbalizer,
      verbalizer_kind: kind,
      soft_placement: strategy === "soft-prompt" ? placement : "in-template",
      label_set_id: labelSetId,
      shots: shotsNum,
      dev_fraction: devNum,
      hyper,
      precision,
      resume,
      estimate: null,
    };
  };

  // The estimate shown is kept with the run started for the same settings.
  const current = request("", false);
  const estimateFresh = estimate !== null && current !== null && estimate.key === costKey(current);

  const runEstimate = async () => {
    const req = request("", false);
    if (!req) return;
    const r = await runJob("Estimate the run's cost", (j) => commands.estimateTuning(j, req), setEstimateJob);
    setEstimateJob(null);
    if (r) setEstimate({ key: costKey(req), value: r });
  };

  const start = async (runName: string, resume: boolean) => {
    const req = request(runName, resume);
    if (!req) return;
    if (!resume && estimate && estimate.key === costKey(req)) req.estimate = estimate.value;
    setRunning(runName);
    setSelected(runName);
    const r = await runJob(resume ? `Resume ${runName}` : `Tune ${runName}`, (j) => commands.startTuning(j, req), setJob);
    setJob(null);
    setRunning(null);
    await refreshRuns();
    const d = await guard(commands.runDetails(runName));
    if (d) setDetails(d);
    if (r) {
      notify(`${runName} finished: dev accuracy ${pct(r.dev_accuracy)}`);
      setName(nextRunName([...runs, r]));
    }
  };

  const setHyperValue = (key: keyof Hyper, raw: string, optional?: boolean) => {
    const v = raw.trim() === "" ? (optional ? null : undefined) : Number(raw);
    setHyper((h) => ({ ...h, [key]: v }));
  };

  const chosen = runs.find((r) => r.name === selected) ?? null;
  const strategyHelp = strategyText(strategy, model.pretraining).help;

  return (
    <div className="stack" data-testid="tune-screen">
      <h1>Tune</h1>
      <form
        className="card stack"
        onSubmit={(e) => {
          e.preventDefault();
          if (formValid && !running) void start(name.trim(), false);
        }}
      >
        <div className="row gap wrap align-end">
          <div className="field">
            <label htmlFor="tune-name">Run name</label>
            <input id="tune-name" data-testid="tune-name" value={name} onChange={(e) => setName(e.target.value)} />
          </div>
          <div className="field">
            <label htmlFor="tune-strategy">Strategy</label>
            <select id="tune-strategy" data-testid="tune-strategy" value={strategy} onChange={(e) => setStrategy(e.target.value as TuneStrategy)}>
              {STRATEGIES.map((s) => <option key={s.value} value={s.value}>{strategyText(s.value, model.pretraining).label}</option>)}
            </select>
          </div>
          <div className="field">
            <label htmlFor="tune-label-set">Label set</label>
            <select id="tune-label-set" data-testid="tune-label-set" value={String(labelSetId ?? "")} onChange={(e) => setLabelSetChoice(Number(e.target.value))}>
              {labelSets.map((l) => <option key={l.id} value={l.id}>{l.name} · {l.labelled} labelled</option>)}
            </select>
          </div>
          <div className="field">
            <label htmlFor="tune-verbalizer-kind">Verbalizer</label>
            <select id="tune-verbalizer-kind" data-testid="tune-verbalizer-kind" value={kind} onChange={(e) => setKind(e.target.value as VerbalizerKind)}>
              <option value="manual">Label words (manual)</option>
              <option value="soft">Trained projection (soft)</option>
            </select>
          </div>
          <div className="field">
            <label htmlFor="tune-precision">Precision</label>
            <select id="tune-precision" data-testid="tune-precision" value={precision} onChange={(e) => setPrecision(e.target.value as Precision)}>
              <option value="f32">f32 (exact)</option>
              <option value="bf16" disabled={model.device !== "cpu"}>{model.device !== "cpu" ? "bf16 (CPU only)" : model.bf16_native ? "bf16 (faster here)" : "bf16 (slower on this CPU)"}</option>
            </select>
          </div>
          {strategy === "soft-prompt" ? (
            <div className="field">
              <label htmlFor="tune-soft-placement">Soft vectors</label>
              <select id="tune-soft-placement" data-testid="tune-soft-placement" value={placement} onChange={(e) => setPlacement(e.target.value as SoftPlacement)}>
                <option value="in-template">Where the template puts them</option>
                <option value="before-input">Before the input (exports as a PEFT adapter)</option>
              </select>
            </div>
          ) : null}
        </div>
        <p className="hint" data-testid="tune-strategy-help">{strategyHelp}</p>
        {!validName ? <p className="inline-error small">Run names are letters, digits, - and _ (e.g. run-2).</p> : null}
        <div className="field">
          <label htmlFor="tune-template">Template (from the Prompt studio; edit here for this run)</label>
          <input id="tune-template" data-testid="tune-template" value={template} onChange={(e) => setTemplate(e.target.value)} />
        </div>
        <p className="hint">
          Verbalizer: {prompt.verbalizer.classes.map((c) => `${c.name} → ${c.words.join(", ")}`).join(" · ")} — change it in the{" "}
          <button type="button" className="link" onClick={() => setScreen("prompt")}>Prompt studio</button>.
        </p>
        <div className="row gap wrap align-end">
          <div className="field">
            <label htmlFor="tune-shots">Rows per class (few-shot; empty = all)</label>
            <input id="tune-shots" data-testid="tune-shots" inputMode="numeric" value={shots} onChange={(e) => setShots(e.target.value)} />
          </div>
          <div className="field">
            <label htmlFor="tune-dev-fraction">Dev fraction</label>
            <input id="tune-dev-fraction" data-testid="tune-dev-fraction" inputMode="decimal" value={devFraction} onChange={(e) => setDevFraction(e.target.value)} />
          </div>
          {HYPER_FIELDS.map((f) => (
            <div className="field" key={f.key}>
              <label htmlFor={`tune-${f.key}`}>{f.label}</label>
              <input
                id={`tune-${f.key}`}
                data-testid={`tune-${f.key.replace(/_/g, "-")}`}
                inputMode="decimal"
                value={hyper[f.key] === null || hyper[f.key] === undefined ? "" : String(hyper[f.key])}
                onChange={(e) => setHyperValue(f.key, e.target.value, f.optional)}
              />
            </div>
          ))}
        </div>
        <div className="row gap">
          <button type="submit" className="primary" data-testid="tune-start" disabled={!formValid || running !== null}>Start training</button>
          <button
            type="button"
            data-testid="tune-estimate"
            title="Time a few updates and evaluations of these settings on this machine and predict the run's time and peak memory; nothing trains"
            disabled={!formValid || running !== null || estimateJob !== null}
            onClick={() => void runEstimate()}
          >
            Estimate
          </button>
          {chosen && chosen.status === "interrupted" && !running ? (
            <button type="button" data-testid="tune-resume" onClick={() => void start(chosen.name, true)}>Resume {chosen.name}</button>
          ) : null}
        </div>
        {estimateJob ? <JobProgressBar job={estimateJob} label="Estimating" onCancel={() => void cancelJob(estimateJob)} /> : null}
        {estimate ? (
          <p className={estimateFresh ? "hint" : "hint muted"} data-testid="tune-estimate-result" title={measurementText(estimate.value)}>
            {estimateText(estimate.value)}
            {estimateFresh ? "" : " — for earlier settings; estimate again"}
          </p>
        ) : null}
        {job ? <JobProgressBar job={job} label={`Training ${running ?? ""}`} onCancel={() => void cancelJob(job)} /> : null}
      </form>

      <div className="card stack">
        <h2>Runs</h2>
        {runs.length === 0 ? (
          <p className="hint" data-testid="tune-runs-empty">No runs yet: choose a strategy and start one above.</p>
        ) : (
          <table className="table" data-testid="tune-runs">
            <thead>
              <tr><th>Run</th><th>Strategy</th><th>Status</th><th>Updates</th><th>Dev accuracy</th><th>Macro-F1</th><th>Time</th></tr>
            </thead>
            <tbody>
              {runs.map((r) => (
                <tr
                  key={r.name}
                  data-testid="tune-run-row"
                  className={r.name === selected ? "selected clickable" : "clickable"}
                  onClick={() => setSelected(r.name)}
                >
                  <td><button type="button" className="link">{r.name}</button></td>
                  <td>{r.strategy}{r.precision !== "f32" ? <> <span className="badge small" data-testid="tune-run-precision">{r.precision}</span></> : null}</td>
                  <td>{r.status}</td>
                  <td>{r.steps}</td>
                  <td>{pct(r.dev_accuracy)}</td>
                  <td>{pct(r.dev_macro_f1)}</td>
                  <td>{r.seconds === null ? "—" : `${r.seconds.toFixed(1)} s`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {runs.length >= 2 ? (
          <div className="row gap wrap align-end" data-testid="tune-compare">
            <div className="field">
              <label htmlFor="tune-compare-a">Compare run</label>
              <select id="tune-compare-a" data-testid="tune-compare-a" value={compareA} onChange={(e) => setCompareA(e.target.value)}>
                <option value="">—</option>
                {runs.map((r) => <option key={r.name} value={r.name}>{r.name}</option>)}
              </select>
            </div>
            <div className="field">
              <label htmlFor="tune-compare-b">with</label>
              <select id="tune-compare-b" data-testid="tune-compare-b" value={compareB} onChange={(e) => setCompareB(e.target.value)}>
                <option value="">—</option>
                {runs.map((r) => <option key={r.name} value={r.name}>{r.name}</option>)}
              </select>
            </div>
            <button
              type="button"
              data-testid="tune-compare-go"
              disabled={!compareA || !compareB || compareA === compareB}
              onClick={() => void guard(commands.compareRuns(compareA, compareB)).then((d) => d && setDiff(d))}
            >
              Compare
            </button>
          </div>
        ) : null}
        {diff ? (
          diff.length === 0 ? <p className="hint" data-testid="tune-diff">The two runs have the same configuration.</p> : (
            <table className="table" data-testid="tune-diff">
              <thead><tr><th>Setting</th><th>{compareA}</th><th>{compareB}</th></tr></thead>
              <tbody>{diff.map((d) => <tr key={d.key}><td>{d.key}</td><td>{d.a}</td><td>{d.b}</td></tr>)}</tbody>
            </table>
          )
        ) : null}
      </div>

      {details && shown ? (
        <div className="card stack" data-testid="tune-details">
          <h2>{details.summary.name} · {details.summary.strategy}{details.summary.precision !== "f32" ? ` · ${details.summary.precision}` : ""} · {details.summary.status}</h2>
          <p className="muted">
            Update {details.last_step}{details.total_steps ? ` of ${details.total_steps}` : ""}
            {details.last_loss !== null ? ` · training loss ${details.last_loss.toFixed(4)}` : ""}
            {details.last_eval?.accuracy !== null && details.last_eval?.accuracy !== undefined ? ` · dev accuracy ${pct(details.last_eval.accuracy)}` : ""}
            {details.last_eval?.macro_f1 !== null && details.last_eval?.macro_f1 !== undefined ? ` · macro-F1 ${pct(details.last_eval.macro_f1)}` : ""}
          </p>
          {details.estimate || details.wall_seconds !== null ? (
            <table className="table" data-testid="tune-cost">
              <thead><tr><th>Cost</th><th>Predicted</th><th>Took</th><th>Ratio</th></tr></thead>
              <tbody>
                <tr>
                  <td>Time</td>
                  <td>{formatDuration(details.estimate?.seconds)}</td>
                  <td>{formatDuration(details.wall_seconds)}</td>
                  <td>{ratio(details.wall_seconds, details.estimate?.seconds)}</td>
                </tr>
                <tr>
                  <td>Peak memory</td>
                  <td>{formatBytes(details.estimate?.peak_bytes)}</td>
                  <td>{formatBytes(details.peak_bytes)}</td>
                  <td>{ratio(details.peak_bytes, details.estimate?.peak_bytes)}</td>
                </tr>
              </tbody>
            </table>
          ) : null}
          <div className="row gap wrap">
            <div data-testid="tune-loss-chart"><SvgImage svg={details.loss_svg} alt="Training and dev loss by update" /></div>
            <div data-testid="tune-accuracy-chart"><SvgImage svg={details.accuracy_svg} alt="Dev accuracy by update" /></div>
            {details.confusion_svg ? <div data-testid="tune-confusion"><SvgImage svg={details.confusion_svg} alt="Dev confusion matrix" /></div> : null}
          </div>
          {details.last_eval && details.last_eval.per_class_f1.length > 0 ? (
            <table className="table" data-testid="tune-per-class">
              <thead><tr><th>Class</th><th>F1</th></tr></thead>
              <tbody>
                {details.last_eval.classes.map((c, i) => <tr key={c}><td>{c}</td><td>{pct(details.last_eval?.per_class_f1[i])}</td></tr>)}
              </tbody>
            </table>
          ) : null}
          <Examples title="Best dev examples (highest p(label))" rows={details.best} testId="tune-best" />
          <Examples title="Worst dev examples (lowest p(label))" rows={details.worst} testId="tune-worst" />
          <details>
            <summary>Configuration (enough to run it again)</summary>
            <pre className="small" data-testid="tune-config">{details.config_json}</pre>
          </details>
        </div>
      ) : null}
    </div>
  );
}
