// Jobs: the long commands running now, starting one with a fresh job id, and cancelling it.
// Progress is not here: it comes from `lib/progress.ts`, read only by the components that draw it.
import { useCallback, useMemo, useState, type ReactNode } from "react";
import { commands } from "../bindings";
import { isCancelled } from "../lib/errors";
import { newJobId } from "../lib/format";
import { clearProgress } from "../lib/progress";
import { useNotify } from "./NotificationsContext";
import { strictContext } from "./strictContext";

export type JobEntry = { id: string; label: string; startedAt: number; cancelling: boolean };

/** Stable for the provider's lifetime: starting or ending a job does not re-render the callers. */
export type Jobs = {
  /** Run a long command with a fresh job id. Errors go to the banner (cancel → quiet notice); resolves undefined then. */
  runJob: <T>(label: string, fn: (job: string) => Promise<T>, onStart?: (job: string) => void) => Promise<T | undefined>;
  cancelJob: (job: string) => Promise<void>;
};

const [JobsContext, useJobs] = strictContext<Jobs>("useJobs", "JobsProvider");

/** The running jobs (for the job panel); re-renders the caller whenever one starts, ends or is cancelled. */
const [JobListContext, useJobList] = strictContext<JobEntry[]>("useJobList", "JobsProvider");
export { useJobs, useJobList };

export function JobsProvider({ children }: { children: ReactNode }) {
  const { notify, showError } = useNotify();
  const [jobs, setJobs] = useState<JobEntry[]>([]);

  const runJob = useCallback(async <T,>(label: string, fn: (job: string) => Promise<T>, onStart?: (job: string) => void): Promise<T | undefined> => {
    const id = newJobId();
    setJobs((js) => [...js, { id, label, startedAt: Date.now(), cancelling: false }]);
    onStart?.(id);
    try {
      return await fn(id);
    } catch (e) {
      if (isCancelled(e)) notify(`${label}: cancelled`);
      else showError(e);
      return undefined;
    } finally {
      setJobs((js) => js.filter((j) => j.id !== id));
      clearProgress(id);
    }
  }, [notify, showError]);

  const cancelJob = useCallback(async (job: string) => {
    setJobs((js) => js.map((j) => (j.id === job ? { ...j, cancelling: true } : j)));
    try {
      await commands.cancelJob(job);
    } catch (e) {
      showError(e);
    }
  }, [showError]);

  const actions = useMemo<Jobs>(() => ({ runJob, cancelJob }), [runJob, cancelJob]);

  return (
    <JobsContext.Provider value={actions}>
      <JobListContext.Provider value={jobs}>{children}</JobListContext.Provider>
    </JobsContext.Provider>
  );
}
