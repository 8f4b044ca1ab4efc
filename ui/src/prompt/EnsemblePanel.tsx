// Template ensembles in the prompt studio: tick two or more saved prompt versions, choose how they
// are weighted, fit on the label set's labelled rows (a job), compare every member and weighting
// side by side with the rows the members disagree on, save, and score the rows for labelling.
import { useEffect, useState } from "react";
import { commands, type EnsembleView, type LabelSetInfo, type PromptVersion, type Weighting } from "../bindings";
import { useJobs } from "../app/JobsContext";
import { useSetScreen } from "../app/NavigationContext";
import { useNotify } from "../app/NotificationsContext";
import { JobProgressBar, NameForm } from "../components/common";
import { pickPath } from "../lib/dialog";
import { errorMessage } from "../lib/errors";
import { pct } from "../lib/format";
import { useLatest } from "../lib/useLatest";

export const WEIGHTINGS: { value: Weighting; label: string; explain: string }[] = [
  { value: "uniform", label: "Uniform", explain: "every prompt counts the same." },
  { value: "dev-accuracy", label: "Dev accuracy", explain: "each prompt counts by its accuracy on the labelled rows (PET's weighted mean)." },
  { value: "learned", label: "Learned", explain: "a logistic regression over the prompts' probabilities, cross-validated; needs ≥5 labelled rows with 2 per class." },
];

export function weightingLabel(w: Weighting): string {
  return WEIGHTINGS.find((x) => x.value === w)?.label ?? w;
}

/** Why Fit cannot run yet, or null. */
export function fitBlocker(p: { hasModel: boolean; labelSet: LabelSetInfo | null; ticked: number; weighting: Weighting }): string | null {
  if (!p.hasModel) return "Load a model on the Model screen to fit an ensemble.";
  if (!p.labelSet) return "Pick a label set with labelled rows.";
  if (p.labelSet.labelled === 0) return `Label set “${p.labelSet.name}” has no labelled rows yet; label some rows first.`;
  if (p.ticked < 2) return "Tick two or more saved prompt versions (save prompts on the Save card).";
  if (p.weighting === "learned") {
    const few = p.labelSet.labelled < 5 || p.labelSet.by_class.some((c) => c.count === 1);
    if (few) return "Learned needs ≥5 labelled rows with 2 per class; label more, or use uniform or dev accuracy.";
  }
  return null;
}

/** Whether a prompt version names exactly the label set's classes. */
function fits(v: PromptVersion, set: LabelSetInfo | null): boolean {
  return set !== null && v.classes.length === set.classes.length && set.classes.every((c) => v.classes.includes(c));
}

export function EnsemblePanel({ labelSet, hasModel, refreshKey, onSavedChange }: {
  labelSet: LabelSetInfo | null;
  hasModel: boolean;
  refreshKey: unknown;
  /** Told the saved ensembles whenever the list changes (the live probabilities offer them). */
  onSavedChange?: (saved: EnsembleView[]) => void;
}) {
  const { guard, notify } = useNotify();
  const { runJob, cancelJob } = useJobs();
  const setScreen = useSetScreen();
  const [versions, setVersions] = useState<PromptVersion[]>([]);
  const [saved, setSaved] = useState<EnsembleView[]>([]);
  const [listError, setListError] = useState<string | null>(null);
  const listRequest = useLatest();
  useEffect(() => {
    // The saved prompts and ensembles, again whenever the project changes (a prompt saved, say).
    listRequest.run(Promise.all([commands.promptVersions(), commands.ensembles()]), ([v, e]) => {
      setVersions(v);
      setSaved(e);
      setListError(null);
    }, (e) => setListError(errorMessage(e)));
    return listRequest.cancel;
  }, [refreshKey, listRequest]);

  useEffect(() => {
    onSavedChange?.(saved);
  }, [saved, onSavedChange]);

  const [ticked, setTicked] = useState<string[]>([]);
  const key = (v: PromptVersion) => `${v.template_id}:${v.verbalizer_id}`;
  const members = versions.filter((v) => ticked.includes(key(v)) && fits(v, labelSet));
  const [weighting, setWeighting] = useState<Weighting>("dev-accuracy");
  const [calibrate, setCalibrate] = useState(false);
  const [fitJob, setFitJob] = useState<string | null>(null);
  const [view, setView] = useState<EnsembleView | null>(null);
  const [name, setName] = useState("");
  const [scoreJob, setScoreJob] = useState<string | null>(null);
  const [scored, setScored] = useState<string | null>(null);

  const blocker = fitBlocker({ hasModel, labelSet, ticked: members.length, weighting });
  const fit = async () => {
    if (blocker || !labelSet || fitJob) return;
    const request = { label_set_id: labelSet.id, members: members.map((v) => ({ template_id: v.template_id, verbalizer_id: v.verbalizer_id })), weighting, calibrate };
    const r = await runJob("Fit ensemble", (job) => commands.fitEnsemble(job, request), setFitJob);
    setFitJob(null);
    if (r) setView(r);
  };
  const save = async () => {
    if (!view || !name.trim()) return;
    const r = await guard(commands.saveEnsemble(name.trim(), view.json));
    if (!r) return;
    // The fitted view keeps its disagreements; it is now the saved version.
    setView({ ...view, id: r.id, name: r.name, version: r.version, created_at: r.created_at });
    notify(`Saved ensemble “${r.name}” v${r.version}`);
    const list = await guard(commands.ensembles());
    if (list) setSaved(list);
  };
  const score = async (ensemble: EnsembleView) => {
    if (ensemble.id === null || !labelSet || scoreJob) return;
    const id = ensemble.id;
    const run = await runJob("Score rows with ensemble", (job) => commands.scoreRowsWithEnsemble(job, labelSet.id, id), setScoreJob);
    setScoreJob(null);
    if (run) setScored(`Scored the rows still to label with “${ensemble.name}” v${ensemble.version} (run #${run.id}, ${run.status}); the Label screen's queue and suggestions use it.`);
  };
  const exportFile = async (ensemble: EnsembleView) => {
    if (ensemble.id === null) return;
    const id = ensemble.id;
    const path = await guard(pickPath("export-file", {
      title: "Export the ensemble",
      filters: [{ name: "Ensemble (JSON)", extensions: ["json"] }],
      defaultPath: `${ensemble.name ?? "ensemble"}-v${ensemble.version ?? 1}.json`,
    }));
    if (!path) return;
    const written = await guard(commands.exportEnsemble(id, path));
    if (written) notify(`Wrote ${written}; classify with it: cloze classify --model MODEL --ensemble ${written} --input FILE`);
  };
  const remove = async (ensemble: EnsembleView) => {
    if (ensemble.id === null) return;
    const list = await guard(commands.deleteEnsemble(ensemble.id));
    if (!list) return;
    setSaved(list);
    if (view?.id === ensemble.id) setView({ ...view, id: null, name: null, version: null, created_at: null });
  };

  const scoreBlocker = !hasModel ? "Load a model first" : !labelSet ? "Pick a label set first" : null;
  return (
    <div className="card" data-testid="ensemble-panel">
      <h2>Template ensembles</h2>
      <p className="hint">Several saved prompts on one model, their probabilities combined: usually steadier than any one prompt.</p>
      {listError ? <p className="inline-error small">Could not list the saved prompts: {listError}</p> : null}
      <div className="grid-2">
        <fieldset className="fieldset column" data-testid="ensemble-members">
          <legend>Members (tick two or more)</legend>
          {versions.length === 0 ? <p className="muted small">No saved prompts yet: save two versions on the Save card.</p> : versions.map((v) => {
            const ok = fits(v, labelSet);
            return (
              <label key={key(v)} className="check" title={ok ? v.template : `Its classes (${v.classes.join(", ")}) are not the label set's`}>
                <input
                  type="checkbox"
                  data-testid="ensemble-member"
                  disabled={!ok}
                  checked={ok && ticked.includes(key(v))}
                  onChange={(e) => setTicked((t) => (e.target.checked ? [...t, key(v)] : t.filter((k) => k !== key(v))))}
                />
                <span><strong>{v.label}</strong>{v.chat ? <span className="badge small"> chat</span> : null} <span className="mono small muted">{v.template}</span></span>
              </label>
            );
          })}
        </fieldset>
        <div className="stack">
          <fieldset className="fieldset column" data-testid="ensemble-weighting">
            <legend>Weighting</legend>
            {WEIGHTINGS.map((w) => (
              <label key={w.value} className="check">
                <input type="radio" name="ensemble-weighting" value={w.value} data-testid={`weighting-${w.value}`} checked={weighting === w.value} onChange={() => setWeighting(w.value)} />
                <span><strong>{w.label}</strong> <span className="muted small">— {w.explain}</span></span>
              </label>
            ))}
          </fieldset>
          <label className="check">
            <input type="checkbox" data-testid="ensemble-calibrate" checked={calibrate} onChange={(e) => setCalibrate(e.target.checked)} />
            Contextual calibration for every member
          </label>
          <div className="row gap align-end">
            <button type="button" className="btn primary" data-testid="fit-ensemble" disabled={blocker !== null || fitJob !== null} onClick={() => void fit()}>
              Fit on {labelSet ? labelSet.name : "label set"}
            </button>
          </div>
          {blocker ? <p className="hint" data-testid="fit-blocker">{blocker}</p> : null}
          {fitJob ? <JobProgressBar job={fitJob} label="Fitting the ensemble" onCancel={() => void cancelJob(fitJob)} /> : null}
        </div>
      </div>

      {view ? (
        <div className="stack" data-testid="ensemble-result">
          <EnsembleTable view={view} />
          <Disagreements view={view} />
          <div className="row gap wrap align-end">
            {view.id === null ? (
              <NameForm id="ensemble-name" value={name} onChange={setName} onSubmit={() => void save()} placeholder="sentiment-ensemble" button="Save ensemble" buttonTestId="save-ensemble" buttonClass="btn" />
            ) : <span className="badge ok" data-testid="ensemble-saved">saved as {view.name} v{view.version}</span>}
            <button type="button" className="btn primary" data-testid="score-with-ensemble" disabled={view.id === null || scoreBlocker !== null || scoreJob !== null}
              title={view.id === null ? "Save the ensemble first" : scoreBlocker ?? "Score every row still to label; the Label screen uses the suggestions"}
              onClick={() => void score(view)}>
              Score rows with this ensemble
            </button>
          </div>
        </div>
      ) : null}
      {scoreJob ? <JobProgressBar job={scoreJob} label="Scoring rows" onCancel={() => void cancelJob(scoreJob)} /> : null}
      {scored && !scoreJob ? (
        <p className="hint" data-testid="ensemble-scored">
          {scored} <button type="button" className="link" onClick={() => setScreen("label")}>Open the Label screen</button>
        </p>
      ) : null}

      {saved.length > 0 ? (
        <>
          <h3>Saved ensembles</h3>
          <ul className="saved-list" data-testid="saved-ensembles">
            {saved.map((e) => {
              const chosen = e.weightings.find((w) => w.chosen);
              return (
                <li key={e.id ?? e.json}>
                  <div>
                    <strong>{e.name}</strong> <span className="muted">v{e.version}</span>{" "}
                    <span className="muted small">{e.members.map((m) => m.name).join(" + ")} · {weightingLabel(e.weighting)}{chosen ? ` · ${pct(chosen.accuracy, 1)}${chosen.cross_validated ? " out-of-fold" : ""}` : ""}</span>
                  </div>
                  <div className="row gap">
                    <button type="button" className="btn small" onClick={() => setView(e)}>Show</button>
                    <button type="button" className="btn small" disabled={scoreBlocker !== null || scoreJob !== null} title={scoreBlocker ?? "Score the rows still to label with it"} onClick={() => void score(e)}>Score rows</button>
                    <button type="button" className="btn small" aria-label={`Export ${e.name} v${e.version}`} title="Write it as a file for cloze classify --ensemble" onClick={() => void exportFile(e)}>Export…</button>
                    <button type="button" className="btn small ghost" aria-label={`Delete ${e.name} v${e.version}`} onClick={() => void remove(e)}>Delete</button>
                  </div>
                </li>
              );
            })}
          </ul>
        </>
      ) : null}
    </div>
  );
}

/** Every member and every weighting of the ensemble side by side on the fit's labelled rows. */
export function EnsembleTable({ view }: { view: EnsembleView }) {
  return (
    <div className="stack">
      <table className="table compact" data-testid="ensemble-table">
        <caption className="muted small">On {view.rows} labelled rows; the ensemble uses <strong>{weightingLabel(view.weighting)}</strong>{view.weighting === "learned" ? " (its weights below are the dev-accuracy ones, for comparison: the regression weighs each class of each prompt)" : ""}.</caption>
        <thead><tr><th>Prompt</th><th className="num">Accuracy</th><th className="num">Macro-F1</th><th className="num">Weight</th></tr></thead>
        <tbody>
          {view.members.map((m) => (
            <tr key={m.name} data-testid="ensemble-member-row">
              <td title={m.template}>{m.name}</td>
              <td className="num">{m.accuracy === null ? "—" : pct(m.accuracy, 1)}</td>
              <td className="num muted">—</td>
              <td className="num">{m.weight.toFixed(3)}</td>
            </tr>
          ))}
          {view.weightings.map((w) => (
            <tr key={w.weighting} data-testid="ensemble-weighting-row" className={w.chosen ? "hit" : ""}>
              <td>
                Ensemble, {weightingLabel(w.weighting).toLowerCase()}
                {w.cross_validated ? <span className="badge small" title="Cross-validated: each row scored by a regression fitted without it"> out-of-fold</span> : null}
                {w.chosen ? <span className="badge ok small"> in use</span> : null}
              </td>
              <td className="num">{pct(w.accuracy, 1)}</td>
              <td className="num">{w.macro_f1.toFixed(3)}</td>
              <td className="num muted">—</td>
            </tr>
          ))}
        </tbody>
      </table>
      {view.note ? <p className="hint" data-testid="ensemble-note">{view.note}</p> : null}
    </div>
  );
}

function Disagreements({ view }: { view: EnsembleView }) {
  if (view.rows === 0) return null;
  if (view.disagreement_count === null) return <p className="muted" data-testid="disagreements">Fit these prompts again to list the rows they disagree on.</p>;
  if (view.disagreement_count === 0) return <p className="muted" data-testid="disagreements">The members agree on every labelled row.</p>;
  return (
    <div className="stack" data-testid="disagreements">
      <h3>The members disagree on {view.disagreement_count} of {view.rows} rows{view.disagreements.length < view.disagreement_count ? ` (first ${view.disagreements.length} shown)` : ""}</h3>
      <div className="table-scroll">
        <table className="table compact">
          <thead><tr><th>Row</th>{view.members.map((m) => <th key={m.name}>{m.name}</th>)}<th>Ensemble</th><th>Label</th></tr></thead>
          <tbody>
            {view.disagreements.map((d) => (
              <tr key={d.row_id} data-testid="disagreement-row" className={d.label === null ? "" : d.label === d.ensemble ? "hit" : "miss"}>
                <td className="cell-clip" title={d.text}>{d.text}</td>
                {d.members.map((p, k) => <td key={k}>{p}</td>)}
                <td><strong>{d.ensemble}</strong></td>
                <td>{d.label ?? <span className="muted">—</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
