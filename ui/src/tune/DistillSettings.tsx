// Distillation on the Tune screen (PET): a saved template ensemble labels rows still to label with
// soft labels, and the run trains on them beside the human labels.
import type { DistillRequest, EnsembleView, TuneStrategy } from "../bindings";

/** What the form holds: the fields as typed. */
export type DistillForm = { on: boolean; ensembleId: number | null; temperature: string; maxRows: string };

export const DISTILL_DEFAULTS: DistillForm = { on: false, ensembleId: null, temperature: "2", maxRows: "1000" };

/** The ensemble picked: the chosen one while it is still saved, else the newest. */
export function pickedEnsemble(form: DistillForm, ensembles: EnsembleView[]): EnsembleView | null {
  return ensembles.find((e) => e.id === form.ensembleId) ?? ensembles[0] ?? null;
}

/**
 * The request's `distill` for the form (`null` when it is off), or what is wrong with it. The
 * ensemble's classes must be the verbalizer's, as the engine checks.
 */
export function distillRequest(
  form: DistillForm,
  ensembles: EnsembleView[],
  strategy: TuneStrategy,
  classes: string[],
): { distill: DistillRequest | null } | { error: string } {
  if (!form.on) return { distill: null };
  if (strategy === "pretrain") return { error: "Prompted pretraining trains on text, not labels, so it cannot distil an ensemble; choose another strategy or turn distillation off." };
  const e = pickedEnsemble(form, ensembles);
  if (!e || e.id === null) return { error: "No saved template ensemble: fit one and save it in the Prompt studio's Template ensembles card first." };
  const same = e.classes.length === classes.length && e.classes.every((c) => classes.includes(c));
  if (!same) return { error: `The ensemble ${e.name ?? ""} has the classes ${e.classes.join(", ")}, the verbalizer ${classes.join(", ")}; pick an ensemble fitted on this label set.` };
  const t = Number(form.temperature);
  if (form.temperature.trim() === "" || !Number.isFinite(t) || t <= 0) return { error: `Temperature “${form.temperature}” must be a positive number (PET uses 2).` };
  const raw = form.maxRows.trim();
  const max = raw === "" ? null : Number(raw);
  if (max !== null && (!Number.isInteger(max) || max < 1)) return { error: `Rows to pseudo-label “${form.maxRows}” must be a whole number of at least 1 (empty = every row still to label).` };
  return { distill: { ensemble_id: e.id, temperature: t, max_rows: max } };
}

export function DistillSettings({
  form,
  onChange,
  ensembles,
  error,
}: {
  form: DistillForm;
  onChange: (f: DistillForm) => void;
  ensembles: EnsembleView[];
  error: string | null;
}) {
  const set = (patch: Partial<DistillForm>) => onChange({ ...form, ...patch });
  const picked = pickedEnsemble(form, ensembles);
  return (
    <div className="stack" data-testid="tune-distill-settings">
      <div className="row gap wrap align-end">
        <label className="check">
          <input type="checkbox" data-testid="tune-distill-on" checked={form.on} onChange={(e) => set({ on: e.target.checked })} />
          Distil a template ensemble
        </label>
        {form.on ? (
          <>
            <div className="field">
              <label htmlFor="tune-distill-ensemble">Ensemble (teacher)</label>
              <select
                id="tune-distill-ensemble"
                data-testid="tune-distill-ensemble"
                value={String(picked?.id ?? "")}
                onChange={(e) => set({ ensembleId: Number(e.target.value) })}
              >
                {ensembles.length === 0 ? <option value="">No saved ensemble</option> : null}
                {ensembles.map((e) => (
                  <option key={e.id ?? 0} value={String(e.id)}>
                    {e.name} v{e.version} · {e.members.length} prompts · {e.weighting}
                  </option>
                ))}
              </select>
            </div>
            <div className="field">
              <label htmlFor="tune-distill-temperature">Temperature</label>
              <input id="tune-distill-temperature" data-testid="tune-distill-temperature" inputMode="decimal" value={form.temperature} onChange={(e) => set({ temperature: e.target.value })} />
            </div>
            <div className="field">
              <label htmlFor="tune-distill-max-rows">Rows to pseudo-label (empty = all)</label>
              <input id="tune-distill-max-rows" data-testid="tune-distill-max-rows" inputMode="numeric" value={form.maxRows} onChange={(e) => set({ maxRows: e.target.value })} />
            </div>
          </>
        ) : null}
      </div>
      {form.on ? (
        <p className="hint" data-testid="tune-distill-help">
          Before training, the ensemble labels rows still to label (drawn with the run's seed) with soft labels — its probabilities flattened by the temperature — and the run trains on them beside your labels (PET's distillation). The run lists the rows it pseudo-labelled in pseudo_labels.jsonl; your labels are never changed.
        </p>
      ) : null}
      {error ? <p className="inline-error small" data-testid="tune-distill-error" role="alert">{error}</p> : null}
    </div>
  );
}
