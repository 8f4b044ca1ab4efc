import { useJobList, useJobs } from "../app/JobsContext";
import { useAllProgress } from "../lib/progress";
import { ProgressBar } from "./common";

export function JobPanel() {
  const jobs = useJobList();
  const { cancelJob } = useJobs();
  const progress = useAllProgress();
  if (jobs.length === 0) return null;
  return (
    <section className="job-panel" data-testid="job-panel" aria-label="Running jobs">
      <h2 className="job-panel-title">Running jobs</h2>
      <ul>
        {jobs.map((j) => (
          <li key={j.id} className="job" data-testid="job" data-job={j.id}>
            <div className="job-head">
              <span className="job-label">{j.label}</span>
              <button
                type="button"
                className="btn small"
                data-testid="job-cancel"
                disabled={j.cancelling}
                onClick={() => void cancelJob(j.id)}
              >
                {j.cancelling ? "Cancelling…" : "Cancel"}
              </button>
            </div>
            <ProgressBar progress={progress[j.id] ?? null} label={j.label} />
          </li>
        ))}
      </ul>
    </section>
  );
}
