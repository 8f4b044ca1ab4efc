import { useEffect, useState, type ReactNode } from "react";
import { commands } from "./bindings";
import { AppProviders } from "./app/AppProviders";
import { SCREENS, useScreen, useSetScreen, type ScreenId } from "./app/NavigationContext";
import { useModel, useProject } from "./app/ProjectContext";
import { ErrorBanner, Notices } from "./components/common";
import { JobPanel } from "./components/JobPanel";
import { startProgressListener } from "./lib/progress";
import { ProjectsScreen } from "./screens/ProjectsScreen";
import { DataScreen } from "./screens/DataScreen";
import { ModelScreen } from "./screens/ModelScreen";
import { PromptScreen } from "./prompt/PromptScreen";
import { LabelScreen } from "./label/LabelScreen";
import { ExportScreen } from "./screens/ExportScreen";
import { TuneScreen } from "./tune/TuneScreen";

/** Alt+1..7 → screen index (uses `code` so it works where Alt changes the typed character). */
export function screenShortcut(e: { altKey: boolean; ctrlKey: boolean; metaKey: boolean; key: string; code?: string }): number | null {
  if (!e.altKey || e.ctrlKey || e.metaKey) return null;
  const m = /^Digit([1-7])$/.exec(e.code ?? "") ?? /^([1-7])$/.exec(e.key);
  return m ? Number(m[1]) - 1 : null;
}

function Shell() {
  const screen = useScreen();
  const setScreen = useSetScreen();
  const { project, setProject } = useProject();
  const { model, setModel } = useModel();
  const [visited, setVisited] = useState<Set<ScreenId>>(() => new Set([screen]));

  if (!visited.has(screen)) setVisited(new Set(visited).add(screen));

  useEffect(() => {
    void startProgressListener();
    // Pick up state the backend already has (e.g. after a reload of the web view).
    commands.currentProject().then(setProject, () => {});
    commands.currentModel().then(setModel, () => {});
    // The first screen is rendered and listening: tell the shell (startup benchmark).
    commands.uiReady().catch(() => {});
  }, [setProject, setModel]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const idx = screenShortcut(e);
      if (idx !== null) {
        e.preventDefault();
        setScreen(SCREENS[idx].id);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [setScreen]);

  const render = (id: ScreenId): ReactNode => {
    switch (id) {
      case "projects": return <ProjectsScreen />;
      case "data": return <DataScreen />;
      case "model": return <ModelScreen />;
      case "prompt": return <PromptScreen />;
      case "label": return <LabelScreen active={screen === "label"} />;
      case "tune": return <TuneScreen />;
      case "export": return <ExportScreen />;
    }
  };

  return (
    <div className="app">
      <aside className="sidebar">
        <div className="brand">
          <span className="brand-mark" aria-hidden>◧</span> Cloze Studio
        </div>
        <nav aria-label="Screens">
          {SCREENS.map((s, i) => (
            <button
              key={s.id}
              type="button"
              className={`nav-item${screen === s.id ? " active" : ""}`}
              aria-current={screen === s.id ? "page" : undefined}
              data-testid={`nav-${s.id}`}
              onClick={() => setScreen(s.id)}
            >
              <span>{s.title}</span>
              <kbd>Alt {i + 1}</kbd>
            </button>
          ))}
        </nav>
        <JobPanel />
      </aside>
      <div className="main">
        <header className="header">
          <div className="header-item">
            <span className="muted small">Project</span>
            <span className="header-value" data-testid="project-name">{project ? project.name : "No project open"}</span>
          </div>
          <div className="header-item">
            <span className="muted small">Model</span>
            <span className="header-value" data-testid="header-model">
              {model ? `${model.spec} · ${model.device}${model.precision === "f32" ? "" : ` · ${model.precision}`}` : "No model loaded"}
            </span>
          </div>
        </header>
        <ErrorBanner />
        <Notices />
        <main className="content">
          {SCREENS.map((s) =>
            visited.has(s.id) ? (
              <section key={s.id} className="screen" hidden={screen !== s.id} aria-label={s.title} data-screen={s.id}>
                {render(s.id)}
              </section>
            ) : null,
          )}
        </main>
      </div>
    </div>
  );
}

export default function App() {
  return (
    <AppProviders>
      <Shell />
    </AppProviders>
  );
}
