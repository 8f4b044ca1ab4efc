// The Tune form's "Recommended" strategy (`cloze tune --strategy auto`): the studio's choice for the
// form's settings and why, asked again (debounced) as the settings change, with an optional time
// budget; and a recommended run's reasons in its details.
import { useEffect } from "react";
import { commands, type AutoChoice, type TuneRequest, type TuneStrategy } from "../bindings";
import { errorMessage } from "../lib/errors";
import { useLatest } from "../lib/useLatest";

/** The strategy select's value: a strategy, or "auto" for the recommended one. */
export type StrategyChoice = TuneStrategy | "auto";

/** How long the form waits after a change before asking again (typing stays fluid). */
export const RECOMMEND_DELAY_MS = 300;

/** The time budget field: empty is none; otherwise a positive number of seconds, or what is wrong. */
export function parseBudget(text: string): { seconds: number | null } | { error: string } {
  const t = text.trim();
  if (t === "") return { seconds: null };
  const n = Number(t);
  if (!Number.isFinite(n) || n <= 0) return { error: `Time budget “${t}” must be a positive number of seconds (e.g. 600 for ten minutes), or empty for none.` };
  return { seconds: n };
}

/** The settings a recommendation depends on: the request without its name, strategy, resume flag, estimate and seeds. */
export function recommendKey(request: TuneRequest): string {
  const { name: _n, strategy: _s, resume: _r, estimate: _e, seeds: _seeds, ...settings } = request;
  // Without a budget nothing is estimated: only the rows, the shots and the template count.
  if (settings.recommended?.budget_seconds === null || settings.recommended?.budget_seconds === undefined) {
    return JSON.stringify([settings.label_set_id, settings.shots, settings.template]);
  }
  return JSON.stringify(settings);
}

export type Recommendation =
  | { state: "none" }
  | { state: "ready"; key: string; choice: AutoChoice }
  | { state: "error"; key: string; message: string };

/**
 * Asks for the recommendation for `request` (null: nothing to ask, e.g. rows per class not a
 * number) into `setRecommendation`: at once the first time, then `RECOMMEND_DELAY_MS` after its
 * settings last changed, or when `nonce` (what else the answer depends on: the model) changes. Returns whether `recommendation` is the answer
 * for the current settings.
 */
export function useRecommendation(
  request: TuneRequest | null,
  nonce: string,
  recommendation: Recommendation,
  setRecommendation: (r: Recommendation) => void,
): boolean {
  const latest = useLatest();
  const key = request ? `${nonce}|${recommendKey(request)}` : null;
  useEffect(() => {
    if (request === null || key === null) return;
    const req = request;
    return latest.later(
      recommendation.state === "none" ? 0 : RECOMMEND_DELAY_MS,
      () => commands.recommendTuning(req),
      (choice) => setRecommendation({ state: "ready", key, choice }),
      (e) => setRecommendation({ state: "error", key, message: errorMessage(e) }),
    );
    // Asked again when `key` (the settings the answer depends on, and `nonce`) changes, not for
    // every new `request` object.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, latest]);
  return recommendation.state !== "none" && recommendation.key === key;
}

/** The reasons under the strategy select (the newest answer, dimmed while a newer one is on its way). */
export function RecommendReasons({ recommendation, fresh }: { recommendation: Recommendation; fresh: boolean }) {
  if (recommendation.state === "error") {
    return <p className="inline-error small" id="tune-recommend-reasons" data-testid="tune-recommend-error" role="alert">Recommended: {recommendation.message}</p>;
  }
  if (recommendation.state === "none") {
    return <p className="hint" id="tune-recommend-reasons" data-testid="tune-recommend-pending">Choosing a strategy for these settings…</p>;
  }
  return (
    <div className={fresh ? "hint" : "hint muted"} id="tune-recommend-reasons" aria-live="polite">
      Why {recommendation.choice.strategy}{fresh ? "" : " (updating…)"}:
      <ul data-testid="tune-recommend-reasons">
        {recommendation.choice.reasons.map((r) => <li key={r}>{r}</li>)}
      </ul>
    </div>
  );
}

/** Under the strategy select while "Recommended" is selected: why, and the optional time budget. */
export function RecommendSettings({ recommendation, fresh, budget, onBudget, budgetError }: {
  recommendation: Recommendation;
  fresh: boolean;
  budget: string;
  onBudget: (text: string) => void;
  budgetError: string | null;
}) {
  return (
    <>
      <RecommendReasons recommendation={recommendation} fresh={fresh} />
      <div className="field">
        <label htmlFor="tune-budget">Time budget (seconds; empty = none)</label>
        <input
          id="tune-budget"
          data-testid="tune-budget"
          inputMode="decimal"
          title="The recommended strategy's run is estimated on this machine; over the budget, the probe is recommended instead"
          aria-invalid={budgetError !== null}
          aria-describedby={budgetError ? "tune-budget-error" : undefined}
          value={budget}
          onChange={(e) => onBudget(e.target.value)}
        />
      </div>
      {budgetError ? <p className="inline-error small" id="tune-budget-error" data-testid="tune-budget-error" role="alert">{budgetError}</p> : null}
    </>
  );
}

/** A recommended run's choice and why, in its details. */
export function AutoReasons({ auto }: { auto: AutoChoice | null }) {
  if (!auto) return null;
  return (
    <div className="stack" data-testid="tune-auto">
      <h3>Why {auto.strategy}</h3>
      <ul data-testid="tune-auto-reasons">
        {auto.reasons.map((r) => <li key={r}>{r}</li>)}
      </ul>
    </div>
  );
}
