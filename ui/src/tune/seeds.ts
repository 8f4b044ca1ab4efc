// Runs over seeds on the Tune screen: the seeds field, how a spread reads, and the run list's
// entries (a group of runs over seeds is one entry, its runs under it).
import type { RunSummaryView, SeedGroupView, Spread } from "../bindings";

/** LM-BFF's five seeds, the field's starting value. */
export const LM_BFF_SEEDS = "13, 21, 42, 87, 100";
/** The most seeds one group repeats over (the engine's `MAX_SEEDS`). */
export const MAX_SEEDS = 100;

/** The seeds typed in the form (commas or spaces between them), or what is wrong with them. */
export function parseSeeds(text: string): { seeds: number[] } | { error: string } {
  const tokens = text.split(/[\s,]+/).filter((t) => t !== "");
  if (tokens.length === 0) return { error: `Give at least one seed to repeat the run over, e.g. ${LM_BFF_SEEDS}.` };
  if (tokens.length > MAX_SEEDS) return { error: `At most ${MAX_SEEDS} seeds (there are ${tokens.length}).` };
  const seeds: number[] = [];
  for (const t of tokens) {
    const n = Number(t);
    if (!/^\d+$/.test(t) || !Number.isSafeInteger(n)) return { error: `“${t}” is not a seed: seeds are whole numbers (0 or more), e.g. ${LM_BFF_SEEDS}.` };
    if (seeds.includes(n)) return { error: `Seed ${n} is given twice; each seed runs once.` };
    seeds.push(n);
  }
  return { seeds };
}

/** "71.2 ± 2.4": a spread of fractions as percentages (as the CLI prints it). */
export function spreadText(s: Spread | null | undefined): string {
  return s ? `${(100 * s.mean).toFixed(1)} ± ${(100 * s.sd).toFixed(1)}` : "—";
}

/** "(5 seeds)", or "(3 of 5 seeds)" while some have not finished. */
export function seedCount(g: SeedGroupView): string {
  const n = g.seeds.length;
  const noun = n === 1 ? "seed" : "seeds";
  return g.finished === n ? `(${n} ${noun})` : `(${g.finished} of ${n} ${noun})`;
}

/** One entry of the run list: a run, or a group of runs over seeds. */
export type RunEntry = { kind: "run"; run: RunSummaryView } | { kind: "group"; group: SeedGroupView };

/** The value a group has in the compare menus (run names never hold a colon). */
export const groupKey = (name: string) => `group:${name}`;

/**
 * The run list's entries: each group where its newest run stands (a group with no run yet first),
 * and the runs that belong to no group, newest first as listed.
 */
export function runEntries(runs: RunSummaryView[], groups: SeedGroupView[]): RunEntry[] {
  const inGroup = new Set(groups.flatMap((g) => g.runs.map((r) => r.run.name)));
  const at = (name: string) => runs.findIndex((r) => r.name === name);
  const placed: { pos: number; entry: RunEntry }[] = [
    ...groups.map((g) => {
      const positions = g.runs.map((r) => at(r.run.name)).filter((i) => i >= 0);
      return { pos: positions.length > 0 ? Math.min(...positions) : -1, entry: { kind: "group", group: g } as RunEntry };
    }),
    ...runs.flatMap((r, i) => (inGroup.has(r.name) ? [] : [{ pos: i, entry: { kind: "run", run: r } as RunEntry }])),
  ];
  return placed.sort((a, b) => a.pos - b.pos).map((p) => p.entry);
}

/** An entry's name as the compare menus show it. */
export function entryLabel(e: RunEntry): string {
  return e.kind === "run" ? e.run.name : `${e.group.name} (${e.group.seeds.length} seeds)`;
}

/** An entry's value in the compare menus. */
export function entryKey(e: RunEntry): string {
  return e.kind === "run" ? e.run.name : groupKey(e.group.name);
}
