// What a template's {demo} demonstrations take of one previewed row's token budget: how many are
// written in, how many fit beside the rest of the row, the tokens they take and the tokens left —
// or, when none fits, what to do. The engine fills {demo} as `cloze classify --demos` does.
import type { DemoBudgetView } from "../bindings";

/** The line shown under a previewed row, and whether it is a warning. */
export function demoBudgetText(d: DemoBudgetView, budget: number): { text: string; warn: boolean } {
  const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
  if (d.count === 0) {
    return { text: "No demonstrations: label rows of every class to draw them from.", warn: true };
  }
  if (d.fit === 0) {
    return {
      text: `No demonstration fits: the rest of the row takes ${d.rest} of ${budget} tokens and one takes ≈${Math.round(d.tokens_each)}. ` +
        "Shorten the template or the row's fields, or use a model with a longer input.",
      warn: true,
    };
  }
  const fits = d.fit >= d.count ? "all fit" : `${d.fit} of ${d.count} fit`;
  const left = d.left >= 0
    ? `${plural(d.left, "token", "tokens")} left`
    : `over by ${plural(-d.left, "token", "tokens")}: truncation shortens the demonstrations`;
  return {
    text: `${plural(d.count, "demonstration", "demonstrations")} · ${d.tokens} tokens · ${fits} · ${left}`,
    warn: d.fit < d.count || d.left < 0,
  };
}

export function DemoBudget({ demos, budget }: { demos: DemoBudgetView; budget: number }) {
  const { text, warn } = demoBudgetText(demos, budget);
  return (
    <p className={`small ${warn ? "warn" : "muted"}`} data-testid="demo-budget" title={demos.summary}>
      {text}
    </p>
  );
}
