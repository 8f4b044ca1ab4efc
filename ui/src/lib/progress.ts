// A tiny external store for job progress, fed by ONE listener on events.jobProgress.
import { useSyncExternalStore } from "react";
import { events, type JobProgress } from "../bindings";

type Listener = () => void;
let snapshot: Record<string, JobProgress> = {};
const listeners = new Set<Listener>();
let unlisten: (() => void) | null = null;
let starting = false;

function emit() {
  for (const l of listeners) l();
}

export function recordProgress(p: JobProgress) {
  snapshot = { ...snapshot, [p.job]: p };
  emit();
}

export function clearProgress(job: string) {
  if (!(job in snapshot)) return;
  const next = { ...snapshot };
  delete next[job];
  snapshot = next;
  emit();
}

/** Start listening for job-progress events (idempotent). */
export async function startProgressListener(): Promise<void> {
  if (unlisten || starting) return;
  starting = true;
  try {
    const un = await events.jobProgress.listen((e) => recordProgress(e.payload));
    unlisten = typeof un === "function" ? un : () => {};
  } catch {
    // Outside Tauri (plain browser, tests) there is no event bus: progress simply stays unknown.
    unlisten = () => {};
  } finally {
    starting = false;
  }
}

export function stopProgressListener() {
  unlisten?.();
  unlisten = null;
}

function subscribe(l: Listener) {
  listeners.add(l);
  return () => {
    listeners.delete(l);
  };
}

export function useAllProgress(): Record<string, JobProgress> {
  return useSyncExternalStore(subscribe, () => snapshot, () => snapshot);
}

/** One job's progress: re-renders the caller only when that job's progress changes. */
export function useJobProgress(job: string | null | undefined): JobProgress | null {
  const get = () => (job ? snapshot[job] ?? null : null);
  return useSyncExternalStore(subscribe, get, get);
}
