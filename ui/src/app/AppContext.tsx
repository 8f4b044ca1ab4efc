import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from "react";
import { commands, type ModelView, type ProjectSummary } from "../bindings";
import { errorMessage, isCancelled } from "../lib/errors";
import { newJobId } from "../lib/format";
import { clearProgress } from "../lib/progress";

export type ScreenId = "projects" | "data" | "model" | "prompt" | "label" | "tune" | "export";
export const SCREENS: { id: ScreenId; title: string }[] = [
  { id: "projects", title: "Projects" },
  { id: "data", title: "Data" },
  { id: "model", title: "Model" },
  { id: "prompt", title: "Prompt studio" },
  { id: "label", title: "Label" },
  { id: "tune", title: "Tune" },
  { id: "export", title: "Export" },
];

export type JobEntry = { id: string; label: string; startedAt: number; cancelling: boolean };
export type Notice = { id: number; text: string };

export type AppContextValue = {
  project: ProjectSummary | null;
  /** A project was opened, created or closed (or re-opened): bumps `projectEpoch`. */
  setProject: (p: ProjectSummary | null) => void;
  /** Counts opens/closes, not refreshes: screens drop per-project session state when it changes. */
  projectEpoch: number;
  /** Change the open project's summary in place (e.g. a label set's counts), without a backend call. */
  updateProject: (fn: (p: ProjectSummary) => ProjectSummary) => void;
  refreshProject: () => Promise<void>;
  model: ModelView | null;
  setModel: (m: ModelView | null) => void;
  screen: ScreenId;
  setScreen: (s: ScreenId) => void;
  error: string | null;
  showError: (e: unknown) => void;
  dismissError: () => void;
  notices: Notice[];
  notify: (text: string) => void;
  dismissNotice: (id: number) => void;
  jobs: JobEntry[];
  /** Run a long command with a fresh job id. Errors go to the banner (cancel → quiet notice); resolves undefined then. */
  runJob: <T>(label: string, fn: (job: string) => Promise<T>, onStart?: (job: string) => void) => Promise<T | undefined>;
  cancelJob: (job: string) => Promise<void>;
  /** Await a command; on failure show the error and resolve undefined. */
  guard: <T>(p: Promise<T>) => Promise<T | undefined>;
};

const AppContext = createContext<AppContextValue | null>(null);

export function useApp(): AppContextValue {
  const ctx = useContext(AppContext);
  if (!ctx) throw new Error("useApp must be used inside <AppProvider>");
  return ctx;
}

export function AppProvider({ children, initialScreen = "projects", initialProject = null, initialModel = null }: {
  children: ReactNode; initialScreen?: ScreenId; initialProject?: ProjectSummary | null; initialModel?: ModelView | null;
}) {
  const [project, setProjectState] = useState<ProjectSummary | null>(initialProject);
  const [projectEpoch, setProjectEpoch] = useState(0);
  const projectPath = useRef<string | null>(initialProject?.path ?? null);
  const setProject = useCallback((p: ProjectSummary | null) => {
    projectPath.current = p?.path ?? null;
    setProjectState(p);
    setProjectEpoch((e) => e + 1);
  }, []);
  const updateProject = useCallback((fn: (p: ProjectSummary) => ProjectSummary) => {
    setProjectState((p) => (p ? fn(p) : p));
  }, []);
  const [model, setModel] = useState<ModelView | null>(initialModel);
  const [screen, setScreen] = useState<ScreenId>(initialScreen);
  const [error, setError] = useState<string | null>(null);
  const [notices, setNotices] = useState<Notice[]>([]);
  const [jobs, setJobs] = useState<JobEntry[]>([]);
  const noticeId = useRef(0);

  const dismissNotice = useCallback((id: number) => setNotices((ns) => ns.filter((n) => n.id !== id)), []);

  const notify = useCallback((text: string) => {
    const id = ++noticeId.current;
    setNotices((ns) => [...ns.slice(-3), { id, text }]);
    setTimeout(() => dismissNotice(id), 6000);
  }, [dismissNotice]);

  const showError = useCallback((e: unknown) => {
    if (isCancelled(e)) {
      notify(errorMessage(e) || "Cancelled");
      return;
    }
    setError(errorMessage(e));
  }, [notify]);

  const dismissError = useCallback(() => setError(null), []);

  const guard = useCallback(async <T,>(p: Promise<T>): Promise<T | undefined> => {
    try {
      return await p;
    } catch (e) {
      showError(e);
      return undefined;
    }
  }, [showError]);

  const refreshProject = useCallback(async () => {
    try {
      const p = await commands.currentProject();
      // Same project (or none): a refresh. Another one: treat it as an open.
      if ((p?.path ?? null) !== projectPath.current) setProject(p);
      else setProjectState(p);
    } catch (e) {
      showError(e);
    }
  }, [showError, setProject]);

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

  const value = useMemo<AppContextValue>(() => ({
    project, setProject, projectEpoch, updateProject, refreshProject, model, setModel, screen, setScreen,
    error, showError, dismissError, notices, notify, dismissNotice, jobs, runJob, cancelJob, guard,
  }), [project, setProject, projectEpoch, updateProject, refreshProject, model, screen, error, showError, dismissError, notices, notify, dismissNotice, jobs, runJob, cancelJob, guard]);

  return <AppContext.Provider value={value}>{children}</AppContext.Provider>;
}
