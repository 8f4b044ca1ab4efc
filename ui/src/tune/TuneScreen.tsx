import { useCallback, useEffect, useMemo, useState } from "react";
import {
  commands,
  type ConfigDiff,
  type DevExampleView,
  type EnsembleView,
  type Estimate,
  type Hyper,
  type Precision,
  type Pretraining,
  type RunDetailsView,
  type RunSummaryView,
  type SeedGroupView,
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
import { usePoll } from "../lib/usePoll";
import { costKey, estimateText, formatDuration, measurementText, ratio } from "./cost";
import { DISTILL_DEFAULTS, type DistillForm, DistillSettings, distillRequest } from "./DistillSettings";
import { MultiLabelMetrics } from "./MultiLabelMetrics";
import { AutoReasons, type Recommendation, RecommendSettings, type StrategyChoice, parseBudget, useRecommendation } from "./Recommend";
import { RunList } from "./RunList";
import { GroupDetails, SpreadComparison } from "./SeedGroups";
import { LM_BFF_SEEDS, type RunEntry, entryKey, entryLabel, parseSeeds, runEntries, spreadText } from "./seeds";

export const STRATEGIES: { value: TuneStrategy; label: string; help: string }[] = [
  { value: "soft-prompt", label: "Soft-prompt tuning", help: "Only the template's {soft} vectors train; the model stays frozen. Put {soft} or {soft:N} in the template." },
  { value: "finetune", label: "Prompt-based fine-tuning", help: "Every weight trains on rows rendered by the template, scored at the mask (PET / LM-BFF)." },
  { value: "pretrain", label: "Prompted pretraining", help: "Continued pretraining with the model family's own objective on text rendered through the template; the run saves a model folder to use zero-shot." },
  { value: "probe", label: "Probe", help: "A logistic regression on frozen, pooled sentence embeddings: fast, and a baseline beside prompts." },
  { value: "contrastive", label: "Contrastive fine-tuning (SetFit)", help: "The whole encoder trains on pairs of labelled rows (same class close, different classes apart: a cosine-similarity loss), then a logistic regression on its sentence embeddings. No template or verbalizer needed; defaults: 1 epoch of pairs, batch 16, learning rate 2e-5." },
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

/** The next free run name: run-1, run-2, … (a group of runs over seeds takes its name too). */
export function nextRunName(runs: RunSummaryView[], groups: SeedGroupView[] = []): string {
  const taken = new Set([...runs.map((r) => r.name), ...groups.map((g) => g.name)]);
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
  const [groups, setGroups] = useState<SeedGroupView[]>([]);
  const [seedsOn, setSeedsOn] = useState(false);
  const [seedsText, setSeedsText] = useState(LM_BFF_SEEDS);
  const [distillForm, setDistillForm] = useState<DistillForm>(DISTILL_DEFAULTS);
  const [ensembles, setEnsembles] = useState<EnsembleView[]>([]);
  const [name, setName] = useState("run-1");
  // "Recommended" (auto) is preselected: the strategy the studio chooses for the settings.
  const [strategyChoice, setStrategyChoice] = useState<StrategyChoice>("auto");
  const [recommendation, setRecommendation] = useState<Recommendation>({ state: "none" });
  const [recommendNonce, setRecommendNonce] = useState(0);
  const [budgetText, setBudgetText] = useState("");
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
  const [runningGroup, setRunningGroup] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [selectedGroup, setSelectedGroup] = useState<string | null>(null);
  const [details, setDetails] = useState<RunDetailsView | null>(null);
  const [groupDetails, setGroupDetails] = useState<SeedGroupView | null>(null);
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  const [compareA, setCompareA] = useState("");
  const [compareB, setCompareB] = useState("");
  const [diff, setDiff] = useState<ConfigDiff[] | null>(null);
  const [compared, setCompared] = useState<{ a: RunEntry; b: RunEntry } | null>(null);
  const labelSetId = labelSets.find((l) => l.id === labelSetChoice)?.id ?? labelSets[0]?.id ?? null;

  const strategy: TuneStrategy =
    strategyChoice !== "auto" ? strategyChoice : recommendation.state === "ready" ? recommendation.choice.strategy : "finetune";
  const validName = /^[A-Za-z0-9_-]+$/.test(name.trim());
  const shotsNum = shots.trim() === "" ? null : Number(shots);
  const devNum = Number(devFraction);
  const parsedSeeds = parseSeeds(seedsText);
  const seedsError = seedsOn && "error" in parsedSeeds ? parsedSeeds.error : null;
  const distill = distillRequest(distillForm, ensembles, strategy, prompt.verbalizer.classes.map((c) => c.name));
  const distillError = "error" in distill ? distill.error : null;
  const budget = parseBudget(budgetText);
  const budgetError = strategyChoice === "auto" && "error" in budget ? budget.error : null;
  const recommended = strategyChoice === "auto" ? { budget_seconds: "seconds" in budget ? budget.seconds : null } : null;
  const busy = running !== null || runningGroup !== null;

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
      seeds: null,
      distill: "distill" in distill ? distill.distill : null,
      recommended,
    };
  };
  // Asked for whatever strategy is selected (the select's first option names it); the budget only
  // with "Recommended" selected.
  const shotsValid = shotsNum === null || (Number.isInteger(shotsNum) && shotsNum > 0);
  const recommendRequest = model !== null && shotsValid && budgetError === null ? request("", false) : null;
  const recommendFresh = useRecommendation(
    recommendRequest && { ...recommendRequest, recommended: recommended ?? { budget_seconds: null } },
    // A model loaded since (or a refused start) asks again.
    `${recommendNonce}|${model?.spec ?? ""}`,
    recommendation,
    setRecommendation,
  );
  // Start need not wait for an answer on its way: the studio decides again when the run starts and
  // refuses it if the strategy is no longer the one the form shows (and the form asks again).
  const recommendReady = strategyChoice !== "auto" || recommendation.state === "ready";
  const formValid = validName && labelSetId !== null && shotsValid && devNum >= 0 && devNum < 1 && seedsError === null && distillError === null && budgetError === null && recommendReady;

  const refreshRuns = useCallback(async () => {
    if (!project) return;
    const [r, g] = await Promise.all([guard(commands.listRuns()), guard(commands.listSeedGroups())]);
    if (r) setRuns(r);
    if (g) setGroups(g);
  }, [project, guard]);

  useEffect(() => {
    void refreshRuns();
  }, [refreshRuns]);

  // The saved ensembles a run can distil, read again when distillation is turned on.
  useEffect(() => {
    if (!project || !distillForm.on) return;
    let live = true;
    void guard(commands.ensembles()).then((e) => {
      if (live && e) setEnsembles(e);
    });
    return () => {
      live = false;
    };
  }, [project, distillForm.on, guard]);

  useEffect(() => {
    setTemplate(prompt.template);
  }, [prompt.template]);

  useEffect(() => {
    setPrecision(modelPrecision);
  }, [modelPrecision]);

  const defaultsRequest = useLatest();
  // The hyperparameters are the strategy's defaults (with "Recommended", the recommended one's, once known).
  const defaultsFor = strategyChoice === "auto" && recommendation.state !== "ready" ? null : strategy;
  useEffect(() => {
    if (defaultsFor === null) return;
    defaultsRequest.run(commands.tuneDefaults(defaultsFor), setHyper);
    return defaultsRequest.cancel;
  }, [defaultsFor, defaultsRequest]);

  // While a run trains, redraw its charts from the metrics it writes; while a group of runs over
  // seeds trains, its seeds as they finish (a group not yet recorded is not shown).
  const shown = running ?? (runningGroup ? null : selected);
  usePoll(shown, running !== null, commands.runDetails, setDetails);
  const shownGroup = runningGroup ?? selectedGroup;
  usePoll(shownGroup, runningGroup !== null, commands.seedGroup, setGroupDetails);

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

  // A tuning job: `setBusy` while it runs; then the run list again and the view of what it left
  // (finished, or cancelled part way).
  const tuningJob = async <T, V>(label: string, call: (job: string) => Promise<T>, setBusy: (on: boolean) => void, view: () => Promise<V>, show: (v: V) => void) => {
    setBusy(true);
    const result = await runJob(label, call, setJob);
    setJob(null);
    setBusy(false);
    await refreshRuns();
    const v = await guard(view());
    if (v) show(v);
    return result;
  };

  const start = async (runName: string, resume: boolean) => {
    const req = request(runName, resume);
    if (!req) return;
    if (!resume && estimate && estimate.key === costKey(req)) req.estimate = estimate.value;
    setSelected(runName);
    const label = resume ? `Resume ${runName}` : `Tune ${runName}`;
    const r = await tuningJob(label, (j) => commands.startTuning(j, req), (on) => setRunning(on ? runName : null), () => commands.runDetails(runName), setDetails);
    if (r) {
      notify(`${runName} finished: ${r.multi_label ? `dev micro-F1 ${pct(r.dev_micro_f1)}` : `dev accuracy ${pct(r.dev_accuracy)}`}`);
      setName(nextRunName([...runs, r], groups));
    } else if (req.recommended) {
      // Refused when the recommendation changed (or cancelled): ask again for these settings.
      setRecommendNonce((n) => n + 1);
    }
  };

  // Runs over seeds: one job, a run per seed; the group's spread shows as its seeds finish.
  const startGroup = async (groupName: string, resume: boolean) => {
    const req = request(groupName, resume);
    if (!req) return;
    if (!resume) {
      if ("error" in parsedSeeds) return;
      req.seeds = parsedSeeds.seeds;
    }
    setSelectedGroup(groupName);
    setSelected(null);
    const label = resume ? `Resume ${groupName}` : `Tune ${groupName} over ${req.seeds?.length ?? 0} seeds`;
    const g = await tuningJob(label, (j) => commands.tuneOverSeeds(j, req), (on) => setRunningGroup(on ? groupName : null), () => commands.seedGroup(groupName), setGroupDetails);
    if (g) {
      notify(`${groupName} finished: dev accuracy ${spreadText(g.accuracy)} over ${g.seeds.length} seeds`);
      setName(nextRunName(runs, [...groups, g]));
    }
  };

  const selectRun = (runName: string) => {
    setSelected(runName);
    setSelectedGroup(null);
  };
  const selectGroup = (groupName: string) => {
    setSelectedGroup(groupName);
    setSelected(null);
  };
  const toggleGroup = (groupName: string) =>
    setExpanded((e) => {
      const next = new Set(e);
      if (!next.delete(groupName)) next.add(groupName);
      return next;
    });

  const entries = runEntries(runs, groups);
  const entryOf = (key: string): RunEntry | null => {
    const run = runs.find((r) => r.name === key);
    return entries.find((e) => entryKey(e) === key) ?? (run ? { kind: "run", run } : null);
  };
  // A group's configuration is its first run's (its runs differ only in the seed).
  const configRun = (e: RunEntry) => (e.kind === "run" ? e.run.name : e.group.runs[0]?.run.name ?? null);
  const compare = async () => {
    const a = entryOf(compareA);
    const b = entryOf(compareB);
    if (!a || !b) return;
    const ra = configRun(a);
    const rb = configRun(b);
    const d = ra && rb ? await guard(commands.compareRuns(ra, rb)) : [];
    if (d) {
      setDiff(d);
      setCompared({ a, b });
    }
  };

  const setHyperValue = (key: keyof Hyper, raw: string, optional?: boolean) => {
    const v = raw.trim() === "" ? (optional ? null : undefined) : Number(raw);
    setHyper((h) => ({ ...h, [key]: v }));
  };

  const chosen = runs.find((r) => r.name === selected) ?? null;
  const chosenGroup = groups.find((g) => g.name === selectedGroup) ?? null;
  const compareOptions = entries.flatMap((e) => [
    <option key={entryKey(e)} value={entryKey(e)}>{entryLabel(e)}</option>,
    ...(e.kind === "group" ? e.group.runs.map((r) => <option key={r.run.name} value={r.run.name}>{r.run.name}</option>) : []),
  ]);
  const strategyHelp = strategyText(strategy, model.pretraining).help;

  return (
    <div className="stack" data-testid="tune-screen">
      <h1>Tune</h1>
      <form
        className="card stack"
        onSubmit={(e) => {
          e.preventDefault();
          if (!formValid || busy) return;
          if (seedsOn) void startGroup(name.trim(), false);
          else void start(name.trim(), false);
        }}
      >
        <div className="row gap wrap align-end">
          <div className="field">
            <label htmlFor="tune-name">Run name</label>
            <input id="tune-name" data-testid="tune-name" value={name} onChange={(e) => setName(e.target.value)} />
          </div>
          <div className="field">
            <label htmlFor="tune-strategy">Strategy</label>
            <select id="tune-strategy" data-testid="tune-strategy" aria-describedby="tune-recommend-reasons" value={strategyChoice} onChange={(e) => setStrategyChoice(e.target.value as StrategyChoice)}>
              <option value="auto">Recommended ({recommendation.state === "ready" ? strategyText(recommendation.choice.strategy, model.pretraining).label : "…"})</option>
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
        {strategyChoice === "auto" ? (
          <RecommendSettings recommendation={recommendation} fresh={recommendFresh} budget={budgetText} onBudget={setBudgetText} budgetError={budgetError} />
        ) : null}
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
            <input id="tune-shots" data-testid="tune-shots" inputMode="numeric" aria-describedby={seedsOn && shotsNum !== null ? "tune-shots-hint" : undefined} value={shots} onChange={(e) => setShots(e.target.value)} />
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
        <DistillSettings form={distillForm} onChange={setDistillForm} ensembles={ensembles} error={distillError} />
        <div className="row gap wrap align-end" data-testid="tune-seeds-settings">
          <label className="check">
            <input type="checkbox" data-testid="tune-seeds-on" checked={seedsOn} onChange={(e) => setSeedsOn(e.target.checked)} />
            Repeat over seeds
          </label>
          {seedsOn ? (
            <div className="field">
              <label htmlFor="tune-seeds">Seeds (one run each)</label>
              <input
                id="tune-seeds"
                data-testid="tune-seeds"
                inputMode="numeric"
                aria-invalid={seedsError !== null}
                aria-describedby={seedsError ? "tune-seeds-error" : undefined}
                value={seedsText}
                onChange={(e) => setSeedsText(e.target.value)}
              />
            </div>
          ) : null}
        </div>
        {seedsOn ? (
          <p className="hint" data-testid="tune-seeds-help">
            The run is repeated once per seed, each an ordinary run named {name.trim() || "NAME"}-seed-N, and the group shows the mean ± standard deviation of their dev metrics (LM-BFF reports few-shot results over 5 seeds).
          </p>
        ) : null}
        {seedsError ? <p className="inline-error small" id="tune-seeds-error" data-testid="tune-seeds-error" role="alert">{seedsError}</p> : null}
        {seedsOn && shotsNum !== null ? (
          <p className="hint" id="tune-shots-hint" data-testid="tune-shots-hint">
            Rows per class with seeds: each seed draws its own sample of {shotsNum} rows per class (and its own dev rows), so the spread covers the choice of examples as well as the training seed.
          </p>
        ) : null}
        <div className="row gap">
          <button type="submit" className="primary" data-testid="tune-start" disabled={!formValid || busy}>{seedsOn && !seedsError && "seeds" in parsedSeeds ? `Start ${parsedSeeds.seeds.length} runs` : "Start training"}</button>
          <button
            type="button"
            data-testid="tune-estimate"
            title="Time a few updates and evaluations of these settings on this machine and predict the run's time and peak memory; nothing trains"
            disabled={!formValid || busy || estimateJob !== null}
            onClick={() => void runEstimate()}
          >
            Estimate
          </button>
          {chosen && chosen.status === "interrupted" && !busy ? (
            <button type="button" data-testid="tune-resume" onClick={() => void start(chosen.name, true)}>Resume {chosen.name}</button>
          ) : null}
          {chosenGroup && chosenGroup.finished < chosenGroup.seeds.length && !busy ? (
            <button type="button" data-testid="tune-group-resume" onClick={() => void startGroup(chosenGroup.name, true)}>Resume {chosenGroup.name}</button>
          ) : null}
        </div>
        {estimateJob ? <JobProgressBar job={estimateJob} label="Estimating" onCancel={() => void cancelJob(estimateJob)} /> : null}
        {estimate ? (
          <p className={estimateFresh ? "hint" : "hint muted"} data-testid="tune-estimate-result" title={measurementText(estimate.value)}>
            {estimateText(estimate.value)}
            {estimateFresh ? "" : " — for earlier settings; estimate again"}
          </p>
        ) : null}
        {job ? <JobProgressBar job={job} label={`Training ${running ?? runningGroup ?? ""}`} onCancel={() => void cancelJob(job)} /> : null}
      </form>

      <div className="card stack">
        <h2>Runs</h2>
        {runs.length === 0 ? (
          <p className="hint" data-testid="tune-runs-empty">No runs yet: choose a strategy and start one above.</p>
        ) : (
          <RunList
            entries={entries}
            selectedRun={selected}
            selectedGroup={selectedGroup}
            expanded={expanded}
            onToggle={toggleGroup}
            onSelectRun={selectRun}
            onSelectGroup={selectGroup}
          />
        )}
        {entries.length >= 2 || groups.length > 0 ? (
          <div className="row gap wrap align-end" data-testid="tune-compare">
            <div className="field">
              <label htmlFor="tune-compare-a">Compare run</label>
              <select id="tune-compare-a" data-testid="tune-compare-a" value={compareA} onChange={(e) => setCompareA(e.target.value)}>
                <option value="">—</option>
                {compareOptions}
              </select>
            </div>
            <div className="field">
              <label htmlFor="tune-compare-b">with</label>
              <select id="tune-compare-b" data-testid="tune-compare-b" value={compareB} onChange={(e) => setCompareB(e.target.value)}>
                <option value="">—</option>
                {compareOptions}
              </select>
            </div>
            <button
              type="button"
              data-testid="tune-compare-go"
              disabled={!compareA || !compareB || compareA === compareB}
              onClick={() => void compare()}
            >
              Compare
            </button>
          </div>
        ) : null}
        {compared && (compared.a.kind === "group" || compared.b.kind === "group") ? <SpreadComparison a={compared.a} b={compared.b} /> : null}
        {diff && compared ? (
          diff.length === 0 ? <p className="hint" data-testid="tune-diff">The two have the same configuration.</p> : (
            <table className="table" data-testid="tune-diff">
              <thead><tr><th>Setting</th><th>{entryLabel(compared.a)}</th><th>{entryLabel(compared.b)}</th></tr></thead>
              <tbody>{diff.map((d) => <tr key={d.key}><td>{d.key}</td><td>{d.a}</td><td>{d.b}</td></tr>)}</tbody>
            </table>
          )
        ) : null}
      </div>

      {groupDetails && shownGroup && groupDetails.name === shownGroup ? (
        <GroupDetails group={groupDetails} onOpenRun={selectRun} />
      ) : null}

      {details && shown ? (
        <div className="card stack" data-testid="tune-details">
          <h2>{details.summary.name} · {details.summary.strategy}{details.summary.precision !== "f32" ? ` · ${details.summary.precision}` : ""} · {details.summary.status}</h2>
          <p className="muted">
            Update {details.last_step}{details.total_steps ? ` of ${details.total_steps}` : ""}
            {details.last_loss !== null ? ` · training loss ${details.last_loss.toFixed(4)}` : ""}
            {details.last_eval?.multi_label ? ` · dev micro-F1 ${pct(details.last_eval.multi_label.micro_f1)} · subset accuracy ${pct(details.last_eval.multi_label.subset_accuracy)}` : ""}
            {details.last_eval?.accuracy !== null && details.last_eval?.accuracy !== undefined ? ` · dev accuracy ${pct(details.last_eval.accuracy)}` : ""}
            {details.last_eval?.macro_f1 !== null && details.last_eval?.macro_f1 !== undefined ? ` · macro-F1 ${pct(details.last_eval.macro_f1)}` : ""}
          </p>
          <AutoReasons auto={details.auto} />
          {details.best_step === 0 ? (
            <p className="warn" data-testid="tune-kept-start">
              No update scored higher than the starting weights on the dev rows, so the run keeps them. Try more training rows, another learning rate or another strategy.
            </p>
          ) : details.best_step !== null && details.best_step !== undefined ? (
            <p className="muted small" data-testid="tune-kept-step">Keeps the weights of update {details.best_step}, the best on the dev rows.</p>
          ) : null}
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
          {details.last_eval?.multi_label ? <MultiLabelMetrics m={details.last_eval} /> : details.last_eval && details.last_eval.per_class_f1.length > 0 ? (
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
