// Automatic templates in the prompt studio: "Try word edits" (edits of the template's fixed words,
// any model) and "Suggest templates" (LM-BFF: a T5 model writes templates around the labelled rows),
// each a job scored on the label set's labelled rows with the loaded model. The candidates come
// back as chips with their accuracy; clicking one puts its template into the builder.
import { useState } from "react";
import { commands, type LabelSetInfo, type ModelView, type PromptSpec, type TemplateSuggestions } from "../bindings";
import { useJobs } from "../app/JobsContext";
import { JobProgressBar, PathInput } from "../components/common";
import { pct } from "../lib/format";
import { withChosenPath } from "../lib/pathAccess";

/** Chips shown at most (the rest are counted). */
export const MAX_CHIPS = 12;

/** Why suggestions cannot run yet, or null. `t5` asks for the T5 generation. */
export function suggestBlocker(p: { model: ModelView | null; labelSet: LabelSetInfo | null; t5: boolean; generator: string }): string | null {
  if (!p.model) return "Load a model on the Model screen: it scores the suggestions.";
  if (!p.labelSet) return "Pick a label set with labelled rows.";
  if (p.labelSet.labelled === 0) return `Label set “${p.labelSet.name}” has no labelled rows yet; suggestions are scored on labelled rows.`;
  if (p.t5 && !p.generator.trim() && p.model.pretraining !== "span-corruption") {
    return `${p.model.family} cannot write templates: give a T5 model (folder or downloaded name) as the generator, or load a T5 model.`;
  }
  return null;
}

/** The candidates shown: the best MAX_CHIPS, and the prompt's own template after them when it ranks lower. */
export function shownSuggestions(result: TemplateSuggestions) {
  const top = result.suggestions.slice(0, MAX_CHIPS);
  const own = result.suggestions.slice(MAX_CHIPS).filter((s) => s.current);
  return [...top, ...own];
}

/** The candidates as chips, best first, each with its accuracy; clicking one picks its template. */
export function SuggestionChips({ result, current, onPick }: { result: TemplateSuggestions; current: string; onPick: (template: string) => void }) {
  const shown = shownSuggestions(result);
  const rest = result.suggestions.length - shown.length;
  const by = result.method === "t5" ? `written by ${result.generator ?? "T5"}, ` : "word edits, ";
  return (
    <div className="stack" data-testid="template-suggestions">
      <p className="muted small">
        {result.suggestions.length} templates ({by}scored by {result.scorer} on {result.rows} labelled rows), best first; click one to use it.
      </p>
      <div className="row gap wrap">
        {shown.map((s) => (
          <button
            key={s.template}
            type="button"
            className={`chip suggestion${s.template === current ? " selected" : ""}`}
            data-testid="template-suggestion"
            data-template={s.template}
            title={`${s.origin} · mean log-probability of the right class ${s.mean_log_prob.toFixed(3)}`}
            onClick={() => onPick(s.template)}
          >
            <span className="mono">{s.template}</span>{" "}
            <span className="badge small" data-testid="suggestion-score">{pct(s.accuracy, 1)}</span>
            {s.current ? <span className="badge small muted"> current (#{result.suggestions.indexOf(s) + 1})</span> : null}
          </button>
        ))}
      </div>
      {rest > 0 ? <p className="muted small">… and {rest} more scored lower.</p> : null}
    </div>
  );
}

export function TemplateSuggestPanel({ prompt, labelSet, model, onPick }: {
  prompt: PromptSpec;
  labelSet: LabelSetInfo | null;
  model: ModelView | null;
  onPick: (template: string) => void;
}) {
  const { runJob, cancelJob } = useJobs();
  const [generator, setGenerator] = useState("");
  const [job, setJob] = useState<string | null>(null);
  const [result, setResult] = useState<TemplateSuggestions | null>(null);
  const editsBlocker = suggestBlocker({ model, labelSet, t5: false, generator });
  const t5Blocker = suggestBlocker({ model, labelSet, t5: true, generator });

  const run = async (t5: boolean) => {
    if (!labelSet || job) return;
    const id = labelSet.id;
    const r = t5
      ? await runJob("Suggest templates (T5)", (j) => {
        const g = generator.trim();
        return g
          ? withChosenPath("model-folder", g, (path) => commands.generateTemplates(j, prompt, id, path), { onConfirmed: setGenerator })
          : commands.generateTemplates(j, prompt, id, null);
      }, setJob)
      : await runJob("Try word edits", (j) => commands.suggestTemplateEdits(j, prompt, id), setJob);
    setJob(null);
    if (r) setResult(r);
  };

  return (
    <div className="stack" data-testid="template-suggest">
      <div className="row gap wrap align-end">
        <button type="button" className="btn small" data-testid="suggest-edits" disabled={editsBlocker !== null || job !== null}
          title={editsBlocker ?? "Edit the template's fixed words (delete, swap for a synonym, add an opener) and score every edit"}
          onClick={() => void run(false)}>
          Try word edits
        </button>
        <PathInput value={generator} onChange={setGenerator} testId="generator-path" label="T5 generator (empty: the loaded model)" placeholder="google-t5/t5-base or a folder" purpose="model-folder" />
        <button type="button" className="btn small" data-testid="suggest-templates" disabled={t5Blocker !== null || job !== null}
          title={t5Blocker ?? "A T5 model writes templates around the labelled rows and their label words (LM-BFF); each is scored with the loaded model"}
          onClick={() => void run(true)}>
          Suggest templates
        </button>
      </div>
      {editsBlocker ? <p className="hint" data-testid="suggest-blocker">{editsBlocker}</p>
        : t5Blocker ? <p className="hint muted small" data-testid="suggest-blocker">{t5Blocker}</p> : null}
      {job ? <JobProgressBar job={job} label="Finding templates" onCancel={() => void cancelJob(job)} /> : null}
      {result && !job ? <SuggestionChips result={result} current={prompt.template} onPick={onPick} /> : null}
    </div>
  );
}
