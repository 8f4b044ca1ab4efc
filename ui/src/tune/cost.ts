import type { Estimate, TuneRequest } from "../bindings";
import { formatBytes } from "../lib/format";

/** Seconds as people read durations: "0.4 s", "45 s", "3 min 20 s", "1 h 05 min" (as `cloze tune --estimate`). */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, seconds);
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    return `${m} min ${String(Math.floor(s - m * 60)).padStart(2, "0")} s`;
  }
  const h = Math.floor(s / 3600);
  return `${h} h ${String(Math.floor((s - h * 3600) / 60)).padStart(2, "0")} min`;
}

/** The settings an estimate was made for: the request without its name, resume flag and estimate. */
export function costKey(request: TuneRequest): string {
  const { name: _name, resume: _resume, estimate: _estimate, ...settings } = request;
  return JSON.stringify(settings);
}

/** One line: the predicted time and peak memory, and its parts. */
export function estimateText(e: Estimate): string {
  const parts = [
    e.features_seconds > 0 ? `features ${formatDuration(e.features_seconds)}` : null,
    `${e.steps} updates × ${e.seconds_per_step < 10 ? e.seconds_per_step.toFixed(2) : Math.round(e.seconds_per_step)} s`,
    e.evaluations > 0 ? `${e.evaluations} evaluations ${formatDuration(e.eval_seconds)}` : null,
    `loading ${formatDuration(e.load_seconds)}`,
  ].filter((p) => p !== null);
  const memory = e.peak_bytes === null ? "peak memory not measured here" : `peak memory ${formatBytes(e.peak_bytes)}`;
  return `About ${formatDuration(e.seconds)} (${parts.join(", ")}) · ${memory}`;
}

/** What the estimate measured, for its tooltip. */
export function measurementText(e: Estimate): string {
  const m = e.measurement;
  return `Measured ${m.updates_timed} updates of batch ${m.batch_size} and ${m.eval_batches_timed} evaluation batches in ${formatDuration(m.seconds)}; rows are ${m.shortest}/${m.typical}/${m.longest} tokens (shortest/median/longest). Memory: ${e.memory}.${e.notes.length > 0 ? ` ${e.notes.join(" ")}` : ""}`;
}

/** Actual over predicted, as "×1.12" (or "—"). */
export function ratio(actual: number | null | undefined, predicted: number | null | undefined): string {
  if (actual === null || actual === undefined || predicted === null || predicted === undefined || predicted <= 0) return "—";
  return `×${(actual / predicted).toFixed(2)}`;
}
