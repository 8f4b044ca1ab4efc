// Project: the open project (its datasets, label sets and saved prompts) and the loaded model.
import { useCallback, useMemo, useRef, useState, type ReactNode } from "react";
import { commands, type ModelView, type ProjectSummary } from "../bindings";
import { useNotify } from "./NotificationsContext";
import { strictContext } from "./strictContext";

export type ProjectState = {
  project: ProjectSummary | null;
  /** A project was opened, created or closed (or re-opened): bumps `projectEpoch`. */
  setProject: (p: ProjectSummary | null) => void;
  /** Counts opens/closes, not refreshes: screens drop per-project session state when it changes. */
  projectEpoch: number;
  /** Change the open project's summary in place (e.g. a label set's counts), without a backend call. */
  updateProject: (fn: (p: ProjectSummary) => ProjectSummary) => void;
  /** Read the summary again from the backend (errors go to the banner). */
  refreshProject: () => Promise<void>;
};

export type ModelState = {
  model: ModelView | null;
  setModel: (m: ModelView | null) => void;
};

const [ProjectContext, useProject] = strictContext<ProjectState>("useProject", "ProjectProvider");

/** The loaded model; apart from the project so that loading one does not re-render project-only screens. */
const [ModelContext, useModel] = strictContext<ModelState>("useModel", "ProjectProvider");
export { useProject, useModel };

export function ProjectProvider({ children, initialProject = null, initialModel = null }: {
  children: ReactNode; initialProject?: ProjectSummary | null; initialModel?: ModelView | null;
}) {
  const { showError } = useNotify();
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

  const projectValue = useMemo<ProjectState>(
    () => ({ project, setProject, projectEpoch, updateProject, refreshProject }),
    [project, setProject, projectEpoch, updateProject, refreshProject],
  );
  const modelValue = useMemo<ModelState>(() => ({ model, setModel }), [model]);

  return (
    <ProjectContext.Provider value={projectValue}>
      <ModelContext.Provider value={modelValue}>{children}</ModelContext.Provider>
    </ProjectContext.Provider>
  );
}
