import { useCallback, useEffect, useRef, useState } from "react";
import { commands, type LabelState, type RunView, type QueueOrder } from "../bindings";
import { useJobs } from "../app/JobsContext";
import { useSetScreen } from "../app/NavigationContext";
import { useNotify } from "../app/NotificationsContext";
import { useProject } from "../app/ProjectContext";
import { usePrompt } from "../app/PromptContext";
import { EmptyState, JobProgressBar, Select, SvgImage } from "../components/common";
import { pct } from "../lib/format";
import { useLatest } from "../lib/useLatest";
import { keyToAction, type LabelAction } from "./keys";
import { LabelTable } from "./LabelTable";
import { MultiLabelPanel } from "./MultiLabelPanel";

type StrategyKind = "file-order" | "random" | "least-confidence" | "margin" | "entropy";
const UNCERTAINTY: StrategyKind[] = ["least-confidence", "margin", "entropy"];

function strategyFor(kind: StrategyKind): QueueOrder {
  switch (kind) {
    case "random": return { kind: "random", seed: Math.floor(Math.random() * 2 ** 31) };
    case "file-order": return { kind: "file-order" };
    case "least-confidence": return { kind: "least-confidence" };
    case "margin": return { kind: "margin" };
    case "entropy": return { kind: "entropy" };
  }
}

export function isUsableRun(r: RunView): boolean {
  return r.error === null && r.finished_at !== null && !/fail|cancel|running/i.test(r.status);
}

export function LabelScreen({ active = true }: { active?: boolean }) {
  const { project, projectEpoch, updateProject } = useProject();
  const { guard, notify } = useNotify();
  const { runJob, cancelJob } = useJobs();
  const setScreen = useSetScreen();
  const { prompt } = usePrompt();
  const labelSets = project?.label_sets ?? [];
  const [labelSetChoice, setLabelSetChoice] = useState<number | null>(null);
  const labelSetId = labelSets.find((l) => l.id === labelSetChoice)?.id ?? labelSets[0]?.id ?? null;
  const [strategyKind, setStrategyKind] = useState<StrategyKind>("file-order");
  const [runs, setRuns] = useState<RunView[]>([]);
  const [runChoice, setRunChoice] = useState<number | null>(null);
  const usableRuns = runs.filter(isUsableRun);
  const latestRun = usableRuns.reduce<number | null>((best, r) => (best === null || r.id > best ? r.id : best), null);
  const runId = usableRuns.find((r) => r.id === runChoice)?.id ?? latestRun;
  const [state, setState] = useState<LabelState | null>(null);
  const [busy, setBusy] = useState(false);
  const busyRef = useRef(false);
  const [hint, setHint] = useState<string | null>(null);
  const [helpOpen, setHelpOpen] = useState(false);
  const [tableView, setTableView] = useState(false);
  const [scoreJob, setScoreJob] = useState<string | null>(null);
  const [checkJob, setCheckJob] = useState<string | null>(null);
  const [folds, setFolds] = useState(5);
  const [checkEpoch, setCheckEpoch] = useState(0);
  const cardRef = useRef<HTMLDivElement | null>(null);
  const [focusToken, setFocusToken] = useState(0);
  // After Start, put focus on the card so Enter/1–9 go to labelling, not to the Start button.
  useEffect(() => {
    if (focusToken > 0) cardRef.current?.focus();
  }, [focusToken]);

  // Another project (or the same one closed and reopened): the backend's session is gone, and so
  // is everything shown here about it.
  const [epoch, setEpoch] = useState(projectEpoch);
  if (epoch !== projectEpoch) {
    setEpoch(projectEpoch);
    setState(null);
    setHint(null);
    setHelpOpen(false);
    setTableView(false);
    setLabelSetChoice(null);
    setRunChoice(null);
  }
  // Answers about the old project's session are dropped too (start and every labelling key use this).
  const sessionRequest = useLatest();
  useEffect(() => sessionRequest.cancel, [projectEpoch, sessionRequest]);

  /** Show a state from the backend and keep the project summary's label set counts in step. */
  const applyState = useCallback((s: LabelState) => {
    setState(s);
    updateProject((p) => ({ ...p, label_sets: p.label_sets.map((l) => (l.id === s.label_set.id ? s.label_set : l)) }));
  }, [updateProject]);

  // Resume a session the backend already has.
  const resumeRequest = useLatest();
  useEffect(() => {
    resumeRequest.run(commands.labelState(), (s) => {
      if (s) {
        setState(s);
        setLabelSetChoice(s.label_set.id);
      }
    });
    return resumeRequest.cancel;
  }, [resumeRequest]);

  const loadRuns = useCallback(async (id: number) => {
    const r = await guard(commands.runs(id));
    if (r) setRuns(r);
    return r;
  }, [guard]);

  useEffect(() => {
    if (labelSetId !== null) void loadRuns(labelSetId);
    else setRuns([]);
  }, [labelSetId, loadRuns]);

  const effectiveStrategy: StrategyKind = UNCERTAINTY.includes(strategyKind) && runId === null ? "file-order" : strategyKind;

  const start = () => {
    if (labelSetId === null || busyRef.current) return;
    busyRef.current = true;
    setBusy(true);
    sessionRequest.run(guard(commands.startLabelling(labelSetId, strategyFor(effectiveStrategy), runId)).finally(() => {
      busyRef.current = false;
      setBusy(false);
    }), (s) => {
      if (!s) return;
      applyState(s);
      setHint(null);
      setTableView(false);
      setFocusToken((t) => t + 1);
    });
  };

  const score = async () => {
    if (labelSetId === null || scoreJob) return;
    const run = await runJob("Score rows", (job) => commands.scoreRows(job, labelSetId, prompt), setScoreJob);
    setScoreJob(null);
    const r = await loadRuns(labelSetId);
    if (run && r) {
      setRunChoice(run.id);
      notify(`Rows scored (run #${run.id}). Pick an uncertainty order and press Start labelling to use it.`);
    }
  };

  const checkLabels = async () => {
    if (labelSetId === null || checkJob) return;
    const check = await runJob("Check labels", (job) => commands.checkLabels(job, labelSetId, { folds, seed: 42 }), setCheckJob);
    setCheckJob(null);
    if (check) {
      notify(`Labels checked: ${check.flagged} of ${check.rows_checked} labelled rows suspicious (${check.confident} confidently), most suspicious first in the table.`);
      setTableView(true);
      setCheckEpoch((n) => n + 1);
      // Enter now belongs to the table (accept the highlighted row's suggestion), not to this button.
      if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
    }
  };

  const dispatch = useCallback((action: LabelAction) => {
    if (action.type === "toggle-help") {
      setHelpOpen((h) => !h);
      return;
    }
    if (action.type === "close-help") {
      setHelpOpen(false);
      return;
    }
    if (!state || busyRef.current) return;
    if (action.type !== "undo" && !state.item) return;
    if (action.type === "undo" && !state.can_undo) {
      setHint("Nothing to undo in this session.");
      return;
    }
    if (action.type === "accept" && !state.item?.suggestion && !state.item?.multi) {
      setHint("No suggestion for this row — press 1–9 to pick a class, or score rows with the current prompt first.");
      return;
    }
    busyRef.current = true;
    setBusy(true);
    setHint(null);
    const request = action.type === "label" ? commands.labelCurrent(action.index)
      : action.type === "accept" ? commands.acceptSuggestion()
      : action.type === "skip" ? commands.skipCurrent()
      : commands.undoLast();
    // A refused label (another session of the same annotator labelled the row: `conflict`) is
    // shown as an error; the row is then reloaded as it is now.
    const answered = guard(request).then(async (next) => next ?? (await guard(commands.labelState())) ?? undefined);
    sessionRequest.run(answered.finally(() => {
      busyRef.current = false;
      setBusy(false);
    }), (next) => {
      if (next) applyState(next);
    });
  }, [state, guard, applyState, sessionRequest]);

  useEffect(() => {
    if (!active || tableView) return;
    const onKey = (e: KeyboardEvent) => {
      const action = keyToAction(e, { classCount: state?.label_set.classes.length ?? 0, helpOpen });
      if (!action) return;
      if (!state && action.type !== "toggle-help" && action.type !== "close-help") return;
      e.preventDefault();
      dispatch(action);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [active, tableView, state, helpOpen, dispatch]);

  if (!project) {
    return (
      <div className="stack">
        <h1>Label</h1>
        <EmptyState title="No project open — create one or open a recent project on the Projects screen" testId="label-empty" />
      </div>
    );
  }

  const item = state?.item ?? null;
  const classes = state?.label_set.classes ?? [];
  const multi = item?.multi ?? null;
  const selectedSet = labelSets.find((l) => l.id === labelSetId) ?? null;

  return (
    <div className="stack label-screen">
      <div className="row spread wrap">
        <h1>Label</h1>
        <button type="button" className="btn small" data-testid="label-table-toggle" aria-pressed={tableView} disabled={labelSetId === null} onClick={() => setTableView((t) => !t)}>
          {tableView ? "Card view" : "Table view"}
        </button>
      </div>
      {labelSets.length === 0 ? (
        <EmptyState title="No label sets yet">
          Import a dataset on the <button type="button" className="link" onClick={() => setScreen("data")}>Data screen</button> — a file with a label column, or name the classes when it has none.
        </EmptyState>
      ) : (
        <form
          className="card row gap wrap align-end"
          onSubmit={(e) => {
            e.preventDefault();
            start();
          }}
        >
          <Select label="Label set" value={String(labelSetId ?? "")} onChange={(v) => setLabelSetChoice(Number(v))} testId="label-set-select"
            options={labelSets.map((l) => ({ value: String(l.id), label: `${l.name} · ${l.labelled} labelled` }))} />
          <Select<StrategyKind> label="Order" value={effectiveStrategy} onChange={setStrategyKind} testId="label-strategy" options={[
            { value: "file-order", label: "File order" },
            { value: "random", label: "Random" },
            { value: "least-confidence", label: "Least confidence", disabled: runId === null },
            { value: "margin", label: "Smallest margin", disabled: runId === null },
            { value: "entropy", label: "Highest entropy", disabled: runId === null },
          ]} />
          <Select label="Model run" value={runId === null ? "" : String(runId)} onChange={(v) => setRunChoice(v === "" ? null : Number(v))} testId="label-run"
            options={usableRuns.length === 0
              ? [{ value: "", label: runs.length === 0 ? "No runs yet" : "No finished runs" }, ...runs.map((r) => ({ value: String(r.id), label: `#${r.id} ${r.kind} · ${r.error ?? r.status}`, disabled: true }))]
              : runs.map((r) => ({ value: String(r.id), label: `#${r.id} ${r.kind} · ${isUsableRun(r) ? r.finished_at ?? r.status : r.error ?? r.status}`, disabled: !isUsableRun(r) }))} />
          <button type="submit" className="btn primary" data-testid="label-start" disabled={labelSetId === null || busy}>Start labelling</button>
          <button type="button" className="btn" data-testid="score-rows" disabled={labelSetId === null || scoreJob !== null} onClick={() => void score()}>
            Score rows with the current prompt
          </button>
          <div className="field">
            <label htmlFor="check-folds">Folds</label>
            <input id="check-folds" type="number" min={2} max={10} step={1} value={folds} data-testid="check-folds"
              title="Each labelled row is judged by a probe trained on the other folds"
              onChange={(e) => setFolds(Math.max(2, Math.min(10, Math.round(Number(e.target.value)) || 2)))} />
          </div>
          <button type="button" className="btn" data-testid="check-labels" disabled={labelSetId === null || checkJob !== null}
            title="Find labelled rows whose label the loaded model contradicts (a probe on its sentence embeddings, judged out of fold)"
            onClick={() => void checkLabels()}>
            Check labels
          </button>
          {runId === null ? <p className="hint full">Uncertainty orders need a model run: score the rows with the current prompt first (labelling can go on meanwhile).</p> : null}
          {scoreJob ? <div className="full"><JobProgressBar job={scoreJob} label="Scoring rows" onCancel={() => void cancelJob(scoreJob)} /></div> : null}
          {checkJob ? <div className="full" data-testid="check-progress"><JobProgressBar job={checkJob} label="Checking labels" onCancel={() => void cancelJob(checkJob)} /></div> : null}
        </form>
      )}
      {selectedSet ? (
        <MultiLabelPanel labelSetId={selectedSet.id} labelled={selectedSet.labelled + (state?.labelled_in_session ?? 0)}
          onModeChanged={() => {
            // The backend ended the session on this label set: start again in the new mode.
            setState(null);
            setHint(null);
            void loadRuns(selectedSet.id);
          }} />
      ) : null}

      {tableView && labelSetId !== null ? (
        <LabelTable labelSetId={labelSetId} runId={runId} classes={labelSets.find((l) => l.id === labelSetId)?.classes ?? []}
          active={active && !helpOpen} checkEpoch={checkEpoch} />
      ) : !state ? (
        labelSets.length > 0 ? <EmptyState title="Pick a label set and press Start labelling" testId="label-not-started">Then label with the keys 1–9, Enter to accept the model’s suggestion, Backspace to undo, S to skip. Press ? for help.</EmptyState> : null
      ) : (
        <div className="label-card" ref={cardRef} tabIndex={-1} data-testid="label-card" aria-busy={busy}>
          <div className="row spread">
            <span className="muted" data-testid="label-counter">
              {state.labelled_in_session.toLocaleString("en-US")} labelled this session · {state.remaining.toLocaleString("en-US")} remaining
            </span>
            <button type="button" className="btn ghost small" onClick={() => setHelpOpen((h) => !h)} aria-label="Keyboard help">? Keys</button>
          </div>
          {item ? (
            <>
              <div className="label-row-meta muted small">{state.label_set.name} · row {item.row.ext_id || item.row.position + 1}{item.row.label ? ` · current label: ${item.row.label}` : ""}</div>
              <div className="label-text" data-testid="label-text">{item.row.text_a}</div>
              {item.row.text_b ? <div className="label-text-b" data-testid="label-text-b">{item.row.text_b}</div> : null}
              {multi ? (
                <div className="label-suggestion" data-testid="label-suggestion">
                  {item.suggestion
                    ? <>Suggested: <strong>{item.suggestion.predicted === "" ? "none" : item.suggestion.predicted.split(";").join(", ")}</strong></>
                    : <span className="muted">No model scores for this row (Score labels in the panel above).</span>}
                  {" "}— press <kbd>Enter</kbd> to save the checked labels{multi.saved ? " (saved)" : ""} and move on
                </div>
              ) : item.suggestion ? (
                <div className="label-suggestion" data-testid="label-suggestion">
                  <div>
                    Model suggests <strong>{item.suggestion.predicted}</strong> <span className="muted">({pct(item.suggestion.confidence)})</span> — press <kbd>Enter</kbd> to accept
                  </div>
                  <div className="mini-bars">
                    {item.suggestion.probs.map((p) => (
                      <div key={p.class} className={`prob-line${p.class === item.suggestion?.predicted ? " predicted" : ""}`}>
                        <span className="prob-class">{p.class}</span>
                        <span className="prob-bar"><span style={{ width: `${p.prob * 100}%` }} /></span>
                        <span className="prob-num">{pct(p.prob)}</span>
                      </div>
                    ))}
                  </div>
                </div>
              ) : <div className="label-suggestion muted" data-testid="label-suggestion">No model suggestion for this row.</div>}
              {multi ? (
                <div className="class-buttons" data-testid="label-checks">
                  {classes.map((c, i) => {
                    const p = item.suggestion?.probs[i]?.prob;
                    return (
                      <label key={c} className={`class-button check${multi.suggested[i] ? " suggested" : ""}`}>
                        <input type="checkbox" data-testid={`label-check-${i}`} checked={multi.checked[i] ?? false} disabled={busy}
                          onChange={() => {
                            dispatch({ type: "label", index: i });
                            cardRef.current?.focus();
                          }} />
                        {i < 9 ? <kbd>{i + 1}</kbd> : null} {c}{p !== undefined ? <span className="muted small"> p(yes) {pct(p)}</span> : null}
                      </label>
                    );
                  })}
                </div>
              ) : <div className="class-buttons">
                {classes.map((c, i) => (
                  <button
                    key={c}
                    type="button"
                    className={`class-button${item.suggestion?.predicted === c ? " suggested" : ""}`}
                    data-testid={`label-class-${i}`}
                    disabled={busy}
                    onClick={() => {
                      dispatch({ type: "label", index: i });
                      cardRef.current?.focus();
                    }}
                  >
                    {i < 9 ? <kbd>{i + 1}</kbd> : null} {c}
                  </button>
                ))}
              </div>}
              <div className="row gap">
                <button type="button" className="btn small" disabled={busy} onClick={() => { dispatch({ type: "skip" }); cardRef.current?.focus(); }}>Skip (S)</button>
                <button type="button" className="btn small" disabled={busy || !state.can_undo} onClick={() => { dispatch({ type: "undo" }); cardRef.current?.focus(); }}>Undo (Backspace)</button>
              </div>
            </>
          ) : (
            <div className="done" data-testid="label-done">
              <p className="done-title">All rows are labelled 🎉</p>
              <p className="muted">Nothing left in this queue. Export the labels, or undo the last one with Backspace.</p>
              <div className="row gap">
                <button type="button" className="btn primary" onClick={() => setScreen("export")}>Go to Export</button>
                {state.can_undo ? <button type="button" className="btn" onClick={() => dispatch({ type: "undo" })}>Undo last</button> : null}
              </div>
            </div>
          )}
          {hint ? <p className="hint" role="status" data-testid="label-hint">{hint}</p> : null}
          <div className="label-chart" data-testid="label-chart">
            <SvgImage svg={state.distribution_svg} alt={`Labels so far: ${state.label_set.by_class.map((c) => `${c.class} ${c.count}`).join(", ")}`} className="chart small" />
          </div>
        </div>
      )}

      {helpOpen ? (
        <div className="overlay" role="dialog" aria-modal="true" aria-label="Keyboard help" data-testid="label-help" onClick={() => setHelpOpen(false)}>
          <div className="overlay-card" onClick={(e) => e.stopPropagation()}>
            <h2>Labelling keys</h2>
            <dl className="kv keys">
              <dt><kbd>1</kbd>–<kbd>9</kbd></dt><dd>{multi ? "toggle label 1–9 on the row (saved at once)" : "label the row with class 1–9"}</dd>
              <dt><kbd>Enter</kbd></dt><dd>{multi ? "save the checked labels and move on" : "accept the model’s suggestion"}</dd>
              <dt><kbd>Backspace</kbd></dt><dd>undo the last label</dd>
              <dt><kbd>S</kbd></dt><dd>skip this row</dd>
              <dt><kbd>?</kbd></dt><dd>show / hide this help</dd>
              <dt><kbd>Esc</kbd></dt><dd>close this help</dd>
              <dt><kbd>Alt</kbd>+<kbd>1</kbd>–<kbd>6</kbd></dt><dd>switch screens</dd>
            </dl>
            <button type="button" className="btn" onClick={() => setHelpOpen(false)}>Close</button>
          </div>
        </div>
      ) : null}
    </div>
  );
}
