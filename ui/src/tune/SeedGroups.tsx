// A group of runs over seeds as the Tune screen shows it: the per-seed accuracies as a strip of
// dots over the mean ± s.d. band, the group's details (each seed's run, the spreads of accuracy,
// macro-F1 and per-class F1), and two entries' spreads side by side.
import type { SeedGroupView, Spread } from "../bindings";
import { type RunEntry, seedCount, spreadText } from "./seeds";

const pct = (x: number | null | undefined) => (x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)}%`);

const WIDTH = 120;
const HEIGHT = 18;
const PAD = 4;
const x = (v: number) => PAD + Math.min(1, Math.max(0, v)) * (WIDTH - 2 * PAD);

/** Equal values (to the pixel) side by side: the k-th repeat moves up, down, further up… */
function lift(values: { value: number }[], i: number): number {
  const k = values.slice(0, i).filter((v) => Math.round(x(v.value)) === Math.round(x(values[i].value))).length;
  return k === 0 ? 0 : (k % 2 === 1 ? -1 : 1) * Math.min(6, 3 * Math.ceil(k / 2));
}

/** The per-seed values (fractions, 0 to 1) as dots on a 0–100% line, over the mean ± s.d. band. */
export function SpreadStrip({ values, spread, what }: { values: { seed: number; value: number }[]; spread: Spread | null; what: string }) {
  if (values.length === 0) return null;
  const label = `${what} per seed: ${values.map((v) => `seed ${v.seed} ${pct(v.value)}`).join(", ")}`;
  return (
    <svg className="spread-strip" width={WIDTH} height={HEIGHT} viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={label} data-testid="spread-strip">
      <title>{label}</title>
      <line x1={PAD} x2={WIDTH - PAD} y1={HEIGHT / 2} y2={HEIGHT / 2} className="strip-axis" />
      {spread ? (
        <>
          <rect x={x(spread.mean - spread.sd)} width={Math.max(1, x(spread.mean + spread.sd) - x(spread.mean - spread.sd))} y={3} height={HEIGHT - 6} className="strip-band" />
          <line x1={x(spread.mean)} x2={x(spread.mean)} y1={2} y2={HEIGHT - 2} className="strip-mean" />
        </>
      ) : null}
      {values.map((v, i) => <circle key={v.seed} cx={x(v.value)} cy={HEIGHT / 2 + lift(values, i)} r={3} className="strip-dot" />)}
    </svg>
  );
}

/** The finished runs' accuracies, for the strip. */
export function accuracies(g: SeedGroupView): { seed: number; value: number }[] {
  return g.runs.flatMap((r) => (r.run.status === "finished" && r.run.dev_accuracy !== null ? [{ seed: r.seed, value: r.run.dev_accuracy }] : []));
}

function SpreadRow({ name, s }: { name: string; s: Spread | null }) {
  return (
    <tr>
      <td>{name}</td>
      <td>{spreadText(s)}</td>
      <td>{pct(s?.min)}</td>
      <td>{pct(s?.max)}</td>
    </tr>
  );
}

/** Everything the screen shows about one group; a run's name opens that run. */
export function GroupDetails({ group, onOpenRun }: { group: SeedGroupView; onOpenRun: (name: string) => void }) {
  const strategy = group.runs[0]?.run.strategy;
  return (
    <div className="card stack" data-testid="tune-group-details">
      <h2>{group.name}{strategy ? ` · ${strategy}` : ""} · {group.finished} of {group.seeds.length} seeds finished</h2>
      <p className="muted" data-testid="tune-group-summary">
        Dev accuracy {spreadText(group.accuracy)} {seedCount(group)} · macro-F1 {spreadText(group.macro_f1)} — mean ± standard deviation over the seeds{" "}
        {group.resampled ? "; each seed drew its own few-shot sample and its own dev rows" : "; each seed held out its own dev rows"}.
      </p>
      <SpreadStrip values={accuracies(group)} spread={group.accuracy} what="Dev accuracy" />
      <table className="table" data-testid="tune-group-spread">
        <thead><tr><th>Metric</th><th>Mean ± s.d. (%)</th><th>Min</th><th>Max</th></tr></thead>
        <tbody>
          <SpreadRow name="Accuracy" s={group.accuracy} />
          <SpreadRow name="Macro-F1" s={group.macro_f1} />
          {group.per_class_f1.map((c) => <SpreadRow key={c.class} name={`F1 ${c.class}`} s={c.f1} />)}
        </tbody>
      </table>
      <table className="table" data-testid="tune-group-runs">
        <thead>
          <tr><th>Seed</th><th>Run</th><th>Status</th><th>Dev accuracy</th><th>Macro-F1</th>{group.classes.map((c) => <th key={c}>F1 {c}</th>)}</tr>
        </thead>
        <tbody>
          {group.runs.map((r) => (
            <tr key={r.seed}>
              <td>{r.seed}</td>
              <td><button type="button" className="link" onClick={() => onOpenRun(r.run.name)}>{r.run.name}</button></td>
              <td>{r.run.status}</td>
              <td>{pct(r.run.dev_accuracy)}</td>
              <td>{pct(r.run.dev_macro_f1)}</td>
              {group.classes.map((c, i) => <td key={c}>{pct(r.per_class_f1[i])}</td>)}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** An entry's figure for one metric: a group's spread, or a run's one number. */
function figure(e: RunEntry, metric: "accuracy" | "macro_f1"): string {
  if (e.kind === "run") return pct(metric === "accuracy" ? e.run.dev_accuracy : e.run.dev_macro_f1);
  return `${spreadText(e.group[metric])} ${seedCount(e.group)}`;
}

/** Two entries' accuracy and macro-F1 side by side: a group's as mean ± s.d. over its seeds. */
export function SpreadComparison({ a, b }: { a: RunEntry; b: RunEntry }) {
  const name = (e: RunEntry) => (e.kind === "run" ? e.run.name : e.group.name);
  const strip = (e: RunEntry) => (e.kind === "group" ? <SpreadStrip values={accuracies(e.group)} spread={e.group.accuracy} what={`${e.group.name} dev accuracy`} /> : null);
  return (
    <table className="table" data-testid="tune-compare-spread">
      <thead><tr><th>Dev metric</th><th>{name(a)}</th><th>{name(b)}</th></tr></thead>
      <tbody>
        <tr><td>Accuracy (%)</td><td>{figure(a, "accuracy")} {strip(a)}</td><td>{figure(b, "accuracy")} {strip(b)}</td></tr>
        <tr><td>Macro-F1 (%)</td><td>{figure(a, "macro_f1")}</td><td>{figure(b, "macro_f1")}</td></tr>
      </tbody>
    </table>
  );
}
