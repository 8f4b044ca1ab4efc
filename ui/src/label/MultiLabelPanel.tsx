// The Label screen's "Several labels per row" panel: the switch on the label set, the yes/no
// question asked per label (editable), Score labels (a job), the per-label thresholds (fitted on
// the labelled rows to maximise F1, editable) and the multi-label metrics.
import { useEffect, useState } from "react";
import { commands, type MultiLabelView, type RunSummaryView } from "../bindings";
import { useJobs } from "../app/JobsContext";
import { useNotify } from "../app/NotificationsContext";
import { useProject } from "../app/ProjectContext";
import { JobProgressBar } from "../components/common";
import { pct } from "../lib/format";
import { useLatest } from "../lib/useLatest";

/** Words typed as "Yes, yeah": trimmed, empty ones dropped. */
export function parseWords(text: string): string[] {
  return text.split(",").map((w) => w.trim()).filter((w) => w !== "");
}

/** Threshold fields as numbers in [0, 1], or the label of the first bad one. */
export function parseThresholds(texts: string[], labels: string[]): { values: number[] } | { bad: string } {
  const values: number[] = [];
  for (let i = 0; i < texts.length; i++) {
    const v = Number(texts[i]);
    if (texts[i].trim() === "" || !Number.isFinite(v) || v < 0 || v > 1) return { bad: labels[i] ?? String(i + 1) };
    values.push(v);
  }
  return { values };
}

export function MultiLabelPanel({ labelSetId, labelled, onModeChanged }: { labelSetId: number; labelled: number; onModeChanged: () => void }) {
  const { guard, notify } = useNotify();
  const { runJob, cancelJob } = useJobs();
  const { updateProject } = useProject();
  const [view, setView] = useState<MultiLabelView | null>(null);
  const [template, setTemplate] = useState("");
  const [yes, setYes] = useState("");
  const [no, setNo] = useState("");
  const [thresholds, setThresholds] = useState<string[]>([]);
  const [job, setJob] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // Finished multi-label tuning runs (Tune screen) that can score the rows instead of the question.
  const [runs, setRuns] = useState<RunSummaryView[]>([]);
  const [scoreWith, setScoreWith] = useState("");

  const show = (v: MultiLabelView) => {
    setView(v);
    setTemplate(v.prompt.template);
    setYes(v.prompt.yes_words.join(", "));
    setNo(v.prompt.no_words.join(", "));
    setThresholds(v.thresholds.map((t) => t.value.toFixed(3)));
  };

  // Reloaded for another label set and as labels are added (the metrics count the labelled rows).
  const request = useLatest();
  useEffect(() => {
    request.run(guard(commands.multiLabel(labelSetId)), (v) => {
      if (v) show(v);
    });
    return request.cancel;
  }, [labelSetId, labelled, guard, request]);
  useEffect(() => {
    let live = true;
    void commands.listRuns().then(
      (all) => {
        if (live) setRuns(all.filter((r) => r.multi_label && r.status === "finished"));
      },
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [labelSetId]);

  const act = async (p: Promise<MultiLabelView>, done?: (v: MultiLabelView) => void) => {
    setBusy(true);
    const v = await guard(p);
    setBusy(false);
    if (v) {
      show(v);
      done?.(v);
    }
  };

  const toggleMode = (on: boolean) => void act(commands.setMultiLabel(labelSetId, on), (v) => {
    updateProject((p) => ({ ...p, label_sets: p.label_sets.map((l) => (l.id === labelSetId ? { ...l, multi_label: v.multi_label } : l)) }));
    onModeChanged();
  });

  const score = async () => {
    if (job) return;
    const v = await runJob("Score labels", (j) => commands.scoreMultiLabel(j, labelSetId, scoreWith === "" ? null : scoreWith), setJob);
    setJob(null);
    if (v) {
      show(v);
      notify(`Labels scored (run #${v.run_id}, ${v.scored_rows} rows)${v.metrics ? `; thresholds fitted on ${v.metrics.rows} labelled rows` : ""}. Start labelling to see the suggestions.`);
    }
  };

  const parsed = parseThresholds(thresholds, view?.thresholds.map((t) => t.label) ?? []);

  if (!view) return null;
  const m = view.metrics;
  return (
    <div className="card stack" data-testid="multi-label-panel">
      <label className="check">
        <input type="checkbox" data-testid="multi-label-switch" checked={view.multi_label} disabled={busy}
          onChange={(e) => toggleMode(e.target.checked)} />
        Several labels per row
      </label>
      {!view.multi_label ? null : (
        <>
          <p className="hint">Number keys and the checkboxes toggle a row’s labels (saved at once); Enter saves the checked labels and moves on. Each label is scored by asking the model the question below with a yes/no answer.</p>
          <form className="row gap wrap align-end" onSubmit={(e) => {
            e.preventDefault();
            void act(commands.setMultiLabelPrompt(labelSetId, { template, yes_words: parseWords(yes), no_words: parseWords(no) }), () => notify("Multi-label question saved."));
          }}>
            <div className="field grow">
              <label htmlFor="ml-template">Question per label ({"{label}"}, {"{mask}"})</label>
              <input id="ml-template" data-testid="ml-template" value={template} onChange={(e) => setTemplate(e.target.value)} />
            </div>
            <div className="field">
              <label htmlFor="ml-yes">Yes words</label>
              <input id="ml-yes" data-testid="ml-yes" value={yes} onChange={(e) => setYes(e.target.value)} />
            </div>
            <div className="field">
              <label htmlFor="ml-no">No words</label>
              <input id="ml-no" data-testid="ml-no" value={no} onChange={(e) => setNo(e.target.value)} />
            </div>
            <button type="submit" className="btn" data-testid="ml-save-prompt" disabled={busy}>Save question</button>
            {runs.length > 0 ? (
              <div className="field">
                <label htmlFor="ml-score-with">Score with</label>
                <select id="ml-score-with" data-testid="ml-score-with" value={scoreWith} onChange={(e) => setScoreWith(e.target.value)}>
                  <option value="">the question (loaded model)</option>
                  {runs.map((r) => <option key={r.name} value={r.name}>tuned run {r.name} ({r.strategy})</option>)}
                </select>
              </div>
            ) : null}
            <button type="button" className="btn primary" data-testid="ml-score" disabled={job !== null} onClick={() => void score()}>Score labels</button>
            <button type="button" className="btn" data-testid="ml-fit" disabled={busy || view.run_id === null}
              title="Fit each label's threshold again on the labelled rows (maximising its F1)"
              onClick={() => void act(commands.fitMultiLabelThresholds(labelSetId))}>Fit thresholds</button>
          </form>
          {job ? <JobProgressBar job={job} label="Scoring labels" onCancel={() => void cancelJob(job)} /> : null}
          <p className="muted small" data-testid="ml-run">
            {view.run_id === null ? "Not scored yet: press Score labels (the loaded model answers the question for every label of every row)." : `Scores of run #${view.run_id} on ${view.scored_rows} rows.`}
          </p>
          <form onSubmit={(e) => {
            e.preventDefault();
            if ("values" in parsed) void act(commands.setMultiLabelThresholds(labelSetId, parsed.values));
          }}>
            <table className="table compact" data-testid="ml-thresholds">
              <thead><tr><th>Label</th><th>Threshold on p(yes)</th><th className="num">F1 when fitted</th><th className="num">Labelled rows</th></tr></thead>
              <tbody>
                {view.thresholds.map((t, i) => (
                  <tr key={t.label}>
                    <td>{t.label}</td>
                    <td>
                      <input type="text" inputMode="decimal" aria-label={`Threshold of ${t.label}`} data-testid={`ml-threshold-${i}`} value={thresholds[i] ?? ""}
                        onChange={(e) => setThresholds((cur) => cur.map((x, k) => (k === i ? e.target.value : x)))} />
                    </td>
                    <td className="num">{t.f1 === null ? "—" : t.f1.toFixed(3)}</td>
                    <td className="num">{t.positives}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {"bad" in parsed ? <p className="inline-error small">The threshold of {parsed.bad} must be a number between 0 and 1.</p> : null}
            <button type="submit" className="btn small" data-testid="ml-apply-thresholds" disabled={busy || "bad" in parsed}>Apply thresholds</button>
          </form>
          {m ? (
            <div data-testid="ml-metrics">
              <p>
                On {m.rows} labelled rows: micro-F1 <strong>{pct(m.micro_f1, 1)}</strong> · macro-F1 <strong>{pct(m.macro_f1, 1)}</strong> · subset accuracy <strong>{pct(m.subset_accuracy, 1)}</strong> · Hamming loss {m.hamming_loss.toFixed(3)}
              </p>
              <table className="table compact">
                <thead><tr><th>Label</th><th className="num">Precision</th><th className="num">Recall</th><th className="num">F1</th><th className="num">Rows</th></tr></thead>
                <tbody>
                  {m.per_label.map((l) => (
                    <tr key={l.label}><td>{l.label}</td><td className="num">{pct(l.precision, 1)}</td><td className="num">{pct(l.recall, 1)}</td><td className="num">{pct(l.f1, 1)}</td><td className="num">{l.support}</td></tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : view.run_id !== null ? <p className="muted small" data-testid="ml-metrics">No labelled row has scores yet: label a few rows, then Fit thresholds.</p> : null}
        </>
      )}
    </div>
  );
}
