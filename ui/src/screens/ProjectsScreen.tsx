import { useCallback, useEffect, useState } from "react";
import { commands, type ProjectSummary, type RecentProject } from "../bindings";
import { useSetScreen } from "../app/NavigationContext";
import { useNotify } from "../app/NotificationsContext";
import { useProject } from "../app/ProjectContext";
import { EmptyState, PathInput } from "../components/common";
import { friendlyTime } from "../lib/format";
import { withChosenPath } from "../lib/pathAccess";

export function ProjectsScreen() {
  const { project, setProject } = useProject();
  const { guard, notify } = useNotify();
  const setScreen = useSetScreen();
  const [path, setPath] = useState("");
  const [recent, setRecent] = useState<RecentProject[] | null>(null);
  const [busy, setBusy] = useState(false);

  const loadRecent = useCallback(async () => {
    const r = await guard(commands.recentProjects());
    if (r) setRecent(r);
  }, [guard]);

  useEffect(() => {
    void loadRecent();
  }, [loadRecent]);

  const opened = (p: ProjectSummary | undefined) => {
    if (!p) return;
    // Clear the box so Create cannot be pressed twice by accident; the project is in the header.
    setPath("");
    setProject(p);
    // What opening repaired, e.g. an import a crash left unfinished, removed.
    p.notices.forEach((n) => notify(n));
    void loadRecent();
    setScreen("data");
  };

  const filters = [{ name: "Cloze Studio project", extensions: ["cloze"] }];

  const create = async () => {
    if (!path.trim() || busy) return;
    setBusy(true);
    // A path typed by hand is confirmed in the save dialog first (the app accepts only chosen paths).
    opened(await guard(withChosenPath("new-project", path.trim(), (p) => commands.createProject(p), { filters })) ?? undefined);
    setBusy(false);
  };
  const open = async (p = path) => {
    if (!p.trim() || busy) return;
    setBusy(true);
    // Recent projects open as they are; another path is confirmed in the open dialog first.
    opened(await guard(withChosenPath("project", p.trim(), (q) => commands.openProject(q), { filters })) ?? undefined);
    setBusy(false);
  };
  const forget = async (p: string) => {
    const r = await guard(commands.forgetRecentProject(p));
    if (r) setRecent(r);
  };
  const close = async () => {
    if ((await guard(commands.closeProject())) !== undefined) setProject(null);
  };

  return (
    <div className="stack projects-screen">
      <h1>Projects</h1>
      <div className="grid-2 projects-grid">
        <div className="card">
          <h2>Create or open</h2>
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void open();
            }}
          >
            <PathInput
              label="Project file (.cloze)"
              testId="project-path"
              value={path}
              onChange={setPath}
              purpose="project"
              filters={filters}
              placeholder="/home/me/reviews.cloze"
            />
            <div className="row gap">
              <button type="button" className="btn primary" data-testid="project-create" disabled={busy || !path.trim()} onClick={() => void create()}>
                Create project
              </button>
              <button type="submit" className="btn" data-testid="project-open" disabled={busy || !path.trim()}>
                Open project
              </button>
            </div>
            <p className="hint">Browse, or type a path ending in <code>.cloze</code> (you confirm it in the file dialog). Create makes a new file there; Enter opens an existing one.</p>
          </form>
        </div>
        <div className="card">
          <h2>Recent projects</h2>
          {recent === null ? (
            <p className="muted">Loading…</p>
          ) : recent.length === 0 ? (
            <div data-testid="recent-list">
              <EmptyState title="No recent projects yet">Create a project on the left; it will be listed here next time.</EmptyState>
            </div>
          ) : (
            <ul className="recent-list" data-testid="recent-list">
              {recent.map((r) => (
                <li key={r.path} className={`recent-item${r.exists ? "" : " missing"}`}>
                  <button
                    type="button"
                    className="recent-open"
                    data-testid="recent-open"
                    disabled={!r.exists || busy}
                    onClick={() => void open(r.path)}
                    title={r.exists ? `Open ${r.path}` : "This file no longer exists"}
                  >
                    <span className="recent-name">{r.name}</span>
                    <span className="recent-path mono small">{r.path}</span>
                    <span className="muted small" title={r.opened_at}>{r.exists ? `opened ${friendlyTime(r.opened_at)}` : "file missing"}</span>
                  </button>
                  <button type="button" className="btn ghost small" onClick={() => void forget(r.path)} aria-label={`Forget ${r.name}`}>
                    Forget
                  </button>
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
      {project ? <ProjectOverview project={project} onClose={() => void close()} /> : (
        <EmptyState title="No project open — create one or open a recent project" testId="projects-empty">
          A project is a single <code>.cloze</code> file holding your datasets, labels, prompts and runs.
        </EmptyState>
      )}
    </div>
  );
}

function ProjectOverview({ project, onClose }: { project: ProjectSummary; onClose: () => void }) {
  const setScreen = useSetScreen();
  return (
    <div className="card" data-testid="project-overview">
      <div className="row spread">
        <h2 className="overview-title">{project.name} <span className="muted small mono">{project.path}</span></h2>
        <button type="button" className="btn small" data-testid="project-close" onClick={onClose}>Close project</button>
      </div>
      <div className="grid-2">
        <div>
          <h3>Datasets</h3>
          {project.datasets.length === 0 ? (
            <p className="muted">No datasets yet. <button type="button" className="link" onClick={() => setScreen("data")}>Import one on the Data screen.</button></p>
          ) : (
            <table className="table">
              <thead><tr><th>Name</th><th className="num">Rows</th><th>Splits</th></tr></thead>
              <tbody>
                {project.datasets.map((d) => (
                  <tr key={d.id}>
                    <td>{d.name}</td>
                    <td className="num">{d.row_count.toLocaleString("en-US")}</td>
                    <td>{d.splits.map((s) => `${s.split} ${s.rows}`).join(" · ")}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        <div>
          <h3>Label sets</h3>
          {project.label_sets.length === 0 ? <p className="muted">No label sets yet — importing a file with a label column creates one.</p> : (
            <table className="table">
              <thead><tr><th>Name</th><th>Classes</th><th className="num">Labelled</th></tr></thead>
              <tbody>
                {project.label_sets.map((l) => (
                  <tr key={l.id}>
                    <td>{l.name}</td>
                    <td>{l.classes.join(", ")}</td>
                    <td className="num">{l.labelled.toLocaleString("en-US")}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        <div>
          <h3>Saved prompts</h3>
          {project.templates.length === 0 ? <p className="muted">None yet — save one in the Prompt studio.</p> : (
            <ul className="plain-list">
              {project.templates.map((t) => (
                <li key={t.id}><strong>{t.name}</strong> <span className="muted">v{t.version}</span> <code className="small">{t.content}</code></li>
              ))}
            </ul>
          )}
        </div>
        <div>
          <h3>Models</h3>
          {project.models.length === 0 ? <p className="muted">No models used yet — load one on the Model screen.</p> : (
            <ul className="plain-list">
              {project.models.map((m) => (
                <li key={m.id}><strong>{m.spec}</strong> <span className="muted">{m.family}</span></li>
              ))}
            </ul>
          )}
        </div>
      </div>
    </div>
  );
}
