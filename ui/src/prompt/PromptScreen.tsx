import { useEffect, useMemo, useRef, useState } from "react";
import {
  commands, type EnsembleView, type EvaluationView, type MemberPredictionView, type PredictionView, type RenderPreview, type RowView, type VerbalizerCheck, type WordSuggestions,
} from "../bindings";
import { useJobs } from "../app/JobsContext";
import { useSetScreen } from "../app/NavigationContext";
import { useNotify } from "../app/NotificationsContext";
import { useModel, useProject } from "../app/ProjectContext";
import { usePrompt } from "../app/PromptContext";
import { EmptyState, JobProgressBar, NameForm, Select, SvgImage } from "../components/common";
import { errorMessage } from "../lib/errors";
import { pct } from "../lib/format";
import { useLatest } from "../lib/useLatest";
import { TemplateBuilder } from "./TemplateBuilder";
import { TemplateSuggestPanel } from "./TemplateSuggestions";
import { TryItPanel } from "./TryItPanel";
import { DemoBudget } from "./DemoBudget";
import { EnsemblePanel } from "./EnsemblePanel";
import { VerbalizerEditor } from "./VerbalizerEditor";
import { pairSaved, parseVerbalizerContent } from "./savedPrompt";

export const LIVE_DEBOUNCE_MS = 250;
const SAMPLE_COUNT = 5;

export function PromptScreen() {
  const { project, refreshProject } = useProject();
  const { model } = useModel();
  const { guard, notify } = useNotify();
  const { runJob, cancelJob } = useJobs();
  const setScreen = useSetScreen();
  const { prompt, setPrompt, loadPrompt } = usePrompt();
  const datasets = useMemo(() => project?.datasets ?? [], [project]);
  const allLabelSets = useMemo(() => project?.label_sets ?? [], [project]);

  const [datasetChoice, setDatasetChoice] = useState<number | null>(null);
  const datasetId = datasets.find((d) => d.id === datasetChoice)?.id ?? datasets[0]?.id ?? null;
  const labelSets = allLabelSets.filter((l) => l.dataset_id === datasetId);
  const [labelSetChoice, setLabelSetChoice] = useState<number | null>(null);
  const labelSet = labelSets.find((l) => l.id === labelSetChoice) ?? labelSets[0] ?? null;
  const labelSetId = labelSet?.id ?? null;

  // Classes default from the label set: when the selected label set changes and its classes differ.
  const appliedLabelSet = useRef<number | null>(null);
  useEffect(() => {
    if (!labelSet || appliedLabelSet.current === labelSet.id) return;
    appliedLabelSet.current = labelSet.id;
    setPrompt((p) => {
      const names = p.verbalizer.classes.map((c) => c.name);
      if (names.length === labelSet.classes.length && labelSet.classes.every((c) => names.includes(c))) return p;
      const classes = labelSet.classes.map((name) => ({ name, words: p.verbalizer.classes.find((c) => c.name === name)?.words ?? [] }));
      return { ...p, verbalizer: { ...p.verbalizer, classes } };
    });
  }, [labelSet, setPrompt]);

  // ---- sample rows
  const [samples, setSamples] = useState<RowView[]>([]);
  const [sampleOffset, setSampleOffset] = useState(0);
  const [sampleTotal, setSampleTotal] = useState(0);
  const sampleRequest = useLatest();
  useEffect(() => {
    if (datasetId === null) {
      setSamples([]);
      return;
    }
    sampleRequest.run(guard(commands.rowsPage(datasetId, labelSetId, sampleOffset, SAMPLE_COUNT)), (p) => {
      if (!p) return;
      setSamples(p.rows);
      setSampleTotal(p.total);
    });
    return sampleRequest.cancel;
  }, [datasetId, labelSetId, sampleOffset, guard, sampleRequest]);
  const rowIds = useMemo(() => samples.map((r) => r.id), [samples]);
  const shuffle = () => {
    const max = Math.max(0, sampleTotal - SAMPLE_COUNT);
    if (max === 0) return;
    let next = sampleOffset;
    while (next === sampleOffset) next = Math.floor(Math.random() * (max + 1));
    setSampleOffset(next);
  };

  // The latest prompt, for requests that depend on only some of its parts.
  const promptRef = useRef(prompt);
  promptRef.current = prompt;
  const chatOn = prompt.chat?.format === "model-template";
  const setChat = (on: boolean, system: string | null) =>
    setPrompt((p) => ({ ...p, chat: { format: on ? "model-template" : "none", system: system && system.trim() ? system : null } }));

  // ---- live render preview (tokens)
  const [previews, setPreviews] = useState<RenderPreview[] | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const previewRequest = useLatest();
  useEffect(() => {
    if (rowIds.length === 0) return;
    return previewRequest.later(LIVE_DEBOUNCE_MS, () => commands.previewPrompt(promptRef.current, rowIds), (p) => {
      setPreviews(p);
      setPreviewError(null);
    }, (e) => setPreviewError(errorMessage(e)));
    // The verbalizer too: a decoder's label word sets the budget's room, its classes the {demo} pool.
  }, [prompt.template, prompt.verbalizer, prompt.chat, rowIds, model, previewRequest]);

  // ---- verbalizer check
  const [check, setCheck] = useState<VerbalizerCheck | null>(null);
  const [checkError, setCheckError] = useState<string | null>(null);
  const checkRequest = useLatest();
  useEffect(() => {
    if (!model) return;
    return checkRequest.later(LIVE_DEBOUNCE_MS, () => commands.checkVerbalizer(promptRef.current), (c) => {
      setCheck(c);
      setCheckError(null);
    }, (e) => setCheckError(errorMessage(e)));
  }, [prompt.template, prompt.verbalizer, prompt.chat, model, checkRequest]);

  // ---- live zero-shot probabilities: of the prompt being built, or of a saved ensemble
  const [savedEnsembles, setSavedEnsembles] = useState<EnsembleView[]>([]);
  const [liveEnsemble, setLiveEnsemble] = useState<number | null>(null);
  const shownEnsemble = savedEnsembles.find((e) => e.id === liveEnsemble) ?? null;
  const liveEnsembleId = shownEnsemble?.id ?? null;
  const [members, setMembers] = useState<Record<number, MemberPredictionView[]> | null>(null);
  const [preds, setPreds] = useState<PredictionView[] | null>(null);
  const [probError, setProbError] = useState<string | null>(null);
  const [latency, setLatency] = useState<number | null>(null);
  const [probPending, setProbPending] = useState(false);
  const probRequest = useLatest();
  useEffect(() => {
    if (!model || rowIds.length === 0) return;
    if (liveEnsembleId === null && prompt.verbalizer.classes.length === 0) return;
    let started = 0;
    return probRequest.later(LIVE_DEBOUNCE_MS, async () => {
      started = performance.now();
      setProbPending(true);
      if (liveEnsembleId === null) return { preds: await commands.zeroShot(prompt, rowIds), members: null };
      const e = await commands.ensembleZeroShot(liveEnsembleId, rowIds);
      return { preds: e.map((x) => x.combined), members: Object.fromEntries(e.map((x) => [x.combined.row_id, x.members])) };
    }, (p) => {
      setPreds(p.preds);
      setMembers(p.members);
      setProbError(null);
      setLatency(Math.round(performance.now() - started));
      setProbPending(false);
    }, (e) => {
      setProbError(errorMessage(e));
      setProbPending(false);
    });
  }, [prompt, rowIds, model, probRequest, liveEnsembleId]);

  // ---- evaluation, suggestions, saving
  const [evalJob, setEvalJob] = useState<string | null>(null);
  const [evaluation, setEvaluation] = useState<EvaluationView | null>(null);
  const evaluate = async () => {
    if (labelSetId === null || evalJob) return;
    const r = await runJob("Evaluate prompt", (job) => commands.evaluatePrompt(job, prompt, labelSetId), setEvalJob);
    setEvalJob(null);
    if (r) setEvaluation(r);
  };
  const [suggestions, setSuggestions] = useState<WordSuggestions[] | null>(null);
  const [suggesting, setSuggesting] = useState(false);
  const suggest = async () => {
    if (labelSetId === null) return;
    setSuggesting(true);
    const s = await guard(commands.suggestLabelWords(prompt, labelSetId, 8));
    setSuggesting(false);
    if (s) setSuggestions(s);
  };
  const [saveName, setSaveName] = useState("");
  const save = async () => {
    if (!saveName.trim()) return;
    const r = await guard(commands.savePrompt(saveName.trim(), prompt));
    if (r) {
      notify(`Saved “${r.template.name}” v${r.template.version}`);
      void refreshProject();
    }
  };
  const saved = pairSaved(project?.templates ?? [], project?.verbalizers ?? []);

  if (!project) {
    return (
      <div className="stack">
        <h1>Prompt studio</h1>
        <EmptyState title="No project open — create one or open a recent project on the Projects screen" testId="prompt-empty" />
      </div>
    );
  }

  const needsLabelSet = labelSetId === null;

  return (
    <div className="stack prompt-studio">
      <div className="row spread wrap">
        <h1>Prompt studio</h1>
        <div className="row gap wrap align-end">
          <Select
            label="Dataset"
            value={datasetId === null ? "" : String(datasetId)}
            onChange={(v) => {
              setDatasetChoice(Number(v));
              setLabelSetChoice(null);
              setSampleOffset(0);
            }}
            testId="prompt-dataset"
            options={datasets.length === 0 ? [{ value: "", label: "No datasets" }] : datasets.map((d) => ({ value: String(d.id), label: d.name }))}
          />
          <Select
            label="Label set"
            value={labelSetId === null ? "" : String(labelSetId)}
            onChange={(v) => setLabelSetChoice(Number(v))}
            testId="prompt-label-set"
            options={labelSets.length === 0 ? [{ value: "", label: "No label sets" }] : labelSets.map((l) => ({ value: String(l.id), label: `${l.name} (${l.classes.length} classes)` }))}
          />
        </div>
      </div>

      <div className="card">
        <h2>Template</h2>
        <TemplateBuilder
          template={prompt.template}
          onChange={(text) => setPrompt((p) => (p.template === text ? p : { ...p, template: text }))}
          maskToken={model?.mask_token ?? null}
          fields={samples.some((r) => r.text_b !== null && r.text_b !== "") ? ["text_a", "text_b"] : ["text_a"]}
        />
        <TemplateSuggestPanel prompt={prompt} labelSet={labelSet} model={model}
          onPick={(text) => setPrompt((p) => (p.template === text ? p : { ...p, template: text }))} />
        {model ? <p className="hint" data-testid="model-reads">{model.family} reads the label word {model.reads}.</p> : null}
        <div className="row gap wrap align-end" data-testid="chat-options">
          <label className="check" title={model && !model.chat_template ? "This model has no chat template" : "Wrap the prompt in the model's chat template: the text before {mask} is the user's turn, the label word starts the assistant's answer"}>
            <input type="checkbox" data-testid="use-chat" checked={chatOn} onChange={(e) => setChat(e.target.checked, prompt.chat?.system ?? null)} />
            Use chat template
          </label>
          {chatOn ? (
            <div className="field grow">
              <label htmlFor="chat-system">System message (optional)</label>
              <input id="chat-system" data-testid="chat-system" value={prompt.chat?.system ?? ""} placeholder="the template's own default" onChange={(e) => setChat(true, e.target.value)} />
            </div>
          ) : null}
        </div>
        {chatOn && model ? (
          <p className="hint" data-testid="chat-source">
            {model.chat_template ? <>Chat template from {model.chat_template}; the preview below shows the whole conversation the model reads.</> : <span className="warn">{model.spec} has no chat template — turn off “Use chat template”.</span>}
          </p>
        ) : null}
      </div>

      <div className="card">
        <div className="row spread">
          <h2>Verbalizer</h2>
          <button type="button" className="btn small" data-testid="suggest-words" disabled={!model || needsLabelSet || suggesting} onClick={() => void suggest()}
            title={!model ? "Load a model first" : needsLabelSet ? "Pick a label set first" : "Ask the model for label words"}>
            {suggesting ? "Suggesting…" : "Suggest label words"}
          </button>
        </div>
        <VerbalizerEditor
          verbalizer={prompt.verbalizer}
          onChange={(v) => setPrompt((p) => ({ ...p, verbalizer: v }))}
          calibrate={prompt.calibrate}
          onCalibrateChange={(c) => setPrompt((p) => ({ ...p, calibrate: c }))}
          check={model ? check : null}
          checkError={model ? checkError : null}
          suggestions={suggestions}
        />
        {!model ? <p className="hint">Load a model to see how each label word is tokenized.</p> : null}
      </div>

      <div className="grid-2 wide-left">
        <div className="card">
          <div className="row spread">
            <h2>Sample rows</h2>
            <button type="button" className="btn small" data-testid="shuffle-samples" onClick={shuffle} disabled={sampleTotal <= SAMPLE_COUNT}>Shuffle samples</button>
          </div>
          {datasets.length === 0 ? (
            <EmptyState title="No data yet">Import a dataset on the <button type="button" className="link" onClick={() => setScreen("data")}>Data screen</button> to preview the prompt on real rows.</EmptyState>
          ) : (
            <div data-testid="preview-rows" className="preview-rows">
              {previewError ? <p className="inline-error small">{previewError}</p> : null}
              {samples.map((r) => {
                const pv = previews?.find((p) => p.row_id === r.id);
                return (
                  <div key={r.id} className="preview-row" data-testid="preview-row">
                    {pv ? (
                      <>
                        <div className="tokens" aria-label="Rendered prompt tokens">
                          {pv.tokens.map((t, i) => (
                            <span key={i} className={`tok tok-${t.kind}${t.cut_before ? " tok-cut" : ""}`} title={(t.cut_before ? "truncation cut tokens before this one · " : "") + (t.field ? `${t.kind} (${t.field})` : t.kind)}>{t.text}</span>
                          ))}
                        </div>
                        <div className="budget">
                          <div className="budget-bar" aria-label={`${pv.length} of ${pv.budget} tokens`}>
                            <div className={`budget-fill${pv.truncated > 0 ? " over" : ""}`} style={{ width: `${Math.min(100, (pv.length / Math.max(1, pv.budget)) * 100)}%` }} />
                          </div>
                          <span className="muted small">{pv.length} / {pv.budget} tokens</span>
                          {pv.truncated > 0 ? <span className="warn small">truncated {pv.truncated} tokens</span> : null}
                        </div>
                        {pv.demos ? <DemoBudget demos={pv.demos} budget={pv.budget} /> : null}
                      </>
                    ) : <p className="preview-text">{r.text_a}{r.text_b ? <><br /><span className="muted">{r.text_b}</span></> : null}</p>}
                  </div>
                );
              })}
              {samples.length === 0 ? <p className="muted">This dataset has no rows.</p> : null}
              <div className="legend small">
                <span className="tok tok-special">special</span><span className="tok tok-text">text</span><span className="tok tok-field">field</span>
                <span className="tok tok-mask">mask</span><span className="tok tok-soft">soft</span>
              </div>
            </div>
          )}
        </div>

        <div className="card" data-testid="live-probs">
          <div className="row spread">
            <h2>Live probabilities</h2>
            {latency !== null && model ? <span className="muted small" data-testid="latency">{probPending ? "updating… " : ""}{latency} ms</span> : null}
          </div>
          {savedEnsembles.length > 0 ? (
            <div className="field">
              <label htmlFor="live-source">Probabilities of</label>
              <select id="live-source" data-testid="live-source" value={String(liveEnsembleId ?? "")} onChange={(e) => setLiveEnsemble(e.target.value === "" ? null : Number(e.target.value))}>
                <option value="">this prompt</option>
                {savedEnsembles.map((e) => <option key={e.id ?? 0} value={String(e.id)}>ensemble {e.name} v{e.version} ({e.members.length} prompts)</option>)}
              </select>
            </div>
          ) : null}
          {!model ? (
            <EmptyState title="Load a model to see probabilities">Pick a local folder or a cached model on the <button type="button" className="link" onClick={() => setScreen("model")}>Model screen</button>.</EmptyState>
          ) : samples.length === 0 ? <p className="muted">Probabilities appear here for the sample rows once a dataset is imported.</p> : (
            <>
              {probError ? <p className="inline-error small">{probError}</p> : null}
              {preds ? (
                <div className="probs-wrap"><table className="table probs">
                  <thead><tr><th>Row</th><th>Class probabilities</th>{members ? <th>Members</th> : null}<th>Label</th></tr></thead>
                  <tbody>
                    {preds.map((p) => {
                      const row = samples.find((r) => r.id === p.row_id);
                      const label = p.label ?? row?.label ?? null;
                      return (
                        <tr key={p.row_id} data-testid="prob-row" className={label !== null ? (label === p.predicted ? "hit" : "miss") : ""}>
                          <td className="cell-clip" title={row?.text_a}>{row?.text_a ?? `#${p.row_id}`}</td>
                          <td>
                            {p.probs.map((c) => (
                              <div key={c.class} className={`prob-line${c.class === p.predicted ? " predicted" : ""}`}>
                                <span className="prob-class">{c.class}</span>
                                <span className="prob-bar"><span style={{ width: `${c.prob * 100}%` }} /></span>
                                <span className="prob-num">{pct(c.prob, 1)}</span>
                              </div>
                            ))}
                          </td>
                          {members ? (
                            <td data-testid="prob-members">
                              {(members[p.row_id] ?? []).map((m) => (
                                <div key={m.name} className={`small${m.predicted === p.predicted ? "" : " muted"}`}>{m.name}: {m.predicted} {pct(m.prob, 0)}</div>
                              ))}
                            </td>
                          ) : null}
                          <td>{label ?? <span className="muted">—</span>}</td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table></div>
              ) : <p className="muted">Computing…</p>}
            </>
          )}
        </div>
      </div>

      <TryItPanel model={model} template={prompt.template} chat={prompt.chat} rows={samples} />

      <div className="grid-2">
        <div className="card">
          <div className="row spread">
            <h2>Evaluate</h2>
            <button type="button" className="btn primary" data-testid="evaluate" disabled={!model || needsLabelSet || evalJob !== null} onClick={() => void evaluate()}>
              Evaluate on {labelSet ? labelSet.name : "label set"}
            </button>
          </div>
          {!model ? <p className="hint">Load a model to evaluate the prompt on the labelled rows.</p> : needsLabelSet ? <p className="hint">Pick a label set with labelled rows.</p> : null}
          {evalJob ? <JobProgressBar job={evalJob} label="Evaluating" onCancel={() => void cancelJob(evalJob)} /> : null}
          {evaluation ? <EvaluationPanel ev={evaluation} /> : !evalJob ? <p className="muted">Accuracy, macro-F1 and a confusion matrix on every labelled row of the label set.</p> : null}
        </div>
        <div className="card">
          <h2>Save</h2>
          <NameForm id="prompt-name" value={saveName} onChange={setSaveName} onSubmit={() => void save()} placeholder="sentiment-v1" button="Save version" buttonTestId="save-prompt" />
          {saved.length === 0 ? <p className="muted">No saved prompts yet. Saving the same name again creates a new version.</p> : (
            <ul className="saved-list" data-testid="saved-prompts">
              {saved.map((s) => (
                <li key={s.key}>
                  <div>
                    <strong>{s.name}</strong> <span className="muted">v{s.version}</span>
                    {s.template ? <div className="mono small muted">{s.template.content}{s.template.chat?.format === "model-template" ? <span className="badge small"> chat</span> : null}</div> : null}
                  </div>
                  <button
                    type="button"
                    className="btn small"
                    onClick={() => {
                      const verbalizer = s.verbalizer ? parseVerbalizerContent(s.verbalizer.content, prompt.verbalizer) : null;
                      loadPrompt({
                        ...prompt,
                        template: s.template?.content ?? prompt.template,
                        chat: s.template ? (s.template.chat ?? { format: "none", system: null }) : prompt.chat,
                        verbalizer: verbalizer ?? prompt.verbalizer,
                      });
                      setSaveName(s.name);
                    }}
                  >
                    Load
                  </button>
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>

      <EnsemblePanel labelSet={labelSet} hasModel={model !== null} refreshKey={project} onSavedChange={setSavedEnsembles} />
    </div>
  );
}

function EvaluationPanel({ ev }: { ev: EvaluationView }) {
  return (
    <div data-testid="evaluation" className="stack">
      <div className="stat-grid">
        <div className="stat"><span className="stat-value">{pct(ev.accuracy, 1)}</span><span className="stat-label">accuracy</span></div>
        <div className="stat"><span className="stat-value">{ev.macro_f1.toFixed(3)}</span><span className="stat-label">macro-F1</span></div>
        <div className="stat"><span className="stat-value">{ev.rows.toLocaleString("en-US")}</span><span className="stat-label">rows</span></div>
      </div>
      <table className="table compact">
        <thead><tr><th>Class</th><th className="num">Precision</th><th className="num">Recall</th><th className="num">F1</th><th className="num">Support</th></tr></thead>
        <tbody>
          {ev.per_class.map((c) => (
            <tr key={c.class}><td>{c.class}</td><td className="num">{c.precision.toFixed(3)}</td><td className="num">{c.recall.toFixed(3)}</td><td className="num">{c.f1.toFixed(3)}</td><td className="num">{c.support}</td></tr>
          ))}
        </tbody>
      </table>
      {ev.confusion_svg ? <SvgImage svg={ev.confusion_svg} alt="Confusion matrix" /> : null}
    </div>
  );
}
