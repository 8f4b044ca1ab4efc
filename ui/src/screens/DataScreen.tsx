// The Data screen: the import wizard above, then the project's datasets with their statistics and rows.
import { useEffect, useState } from "react";
import { commands, type DatasetInfo, type DatasetStats, type RowPage } from "../bindings";
import { useScreen } from "../app/NavigationContext";
import { useNotify } from "../app/NotificationsContext";
import { useProject } from "../app/ProjectContext";
import { EmptyState, Select, SvgImage } from "../components/common";
import { Pager } from "../components/Pager";
import { useLatest } from "../lib/useLatest";
import { ImportWizard } from "./ImportWizard";

const PAGE = 50;

export function DataScreen() {
  const { project } = useProject();
  const [selectedId, setSelectedId] = useState<number | null>(null);
  return (
    <div className="stack">
      <h1>Data</h1>
      {project ? (
        <>
          <ImportWizard onImported={(r) => setSelectedId(r.dataset.id)} />
          <DatasetBrowser selectedId={selectedId} onSelect={setSelectedId} />
        </>
      ) : (
        <EmptyState title="No project open — create one or open a recent project on the Projects screen" testId="data-empty" />
      )}
    </div>
  );
}

function DatasetBrowser({ selectedId, onSelect }: { selectedId: number | null; onSelect: (id: number) => void }) {
  const { project } = useProject();
  const { guard } = useNotify();
  const screen = useScreen();
  const datasets = project?.datasets ?? [];
  // Reload the figures when the project changed (an import, labels added elsewhere), but only
  // while this screen is shown: labelling updates the project on every key.
  const [seenProject, setSeenProject] = useState(project);
  if (screen === "data" && seenProject !== project) setSeenProject(project);
  const selected: DatasetInfo | undefined = datasets.find((d) => d.id === selectedId);
  const labelSets = (project?.label_sets ?? []).filter((l) => l.dataset_id === selectedId);
  const [labelSetId, setLabelSetId] = useState<number | null>(null);
  const lsId = labelSets.find((l) => l.id === labelSetId)?.id ?? labelSets[0]?.id ?? null;
  const [stats, setStats] = useState<DatasetStats | null>(null);
  const [page, setPage] = useState<RowPage | null>(null);
  const [offset, setOffset] = useState(0);
  // A new selection (a click, or the dataset just imported): drop the old dataset's figures.
  const [shownId, setShownId] = useState(selectedId);
  if (shownId !== selectedId) {
    setShownId(selectedId);
    setOffset(0);
    setStats(null);
    setPage(null);
  }

  const statsRequest = useLatest();
  useEffect(() => {
    if (selectedId === null) return;
    statsRequest.run(guard(commands.datasetStats(selectedId, lsId)), (s) => {
      if (s && s.dataset_id === selectedId) setStats(s);
    });
    return statsRequest.cancel;
  }, [selectedId, lsId, guard, seenProject, statsRequest]);

  const pageRequest = useLatest();
  useEffect(() => {
    if (selectedId === null) return;
    pageRequest.run(guard(commands.rowsPage(selectedId, lsId, offset, PAGE)), (p) => {
      if (p) setPage(p);
    });
    return pageRequest.cancel;
  }, [selectedId, lsId, offset, guard, seenProject, pageRequest]);

  if (datasets.length === 0) {
    return <div className="card"><h2>Datasets</h2><EmptyState title="No datasets yet">Import a file above; it will be listed here with its statistics.</EmptyState></div>;
  }

  return (
    <div className="card">
      <h2>Datasets</h2>
      <ul className="dataset-list" data-testid="dataset-list">
        {datasets.map((d) => (
          <li key={d.id}>
            <button
              type="button"
              className={`list-button${d.id === selectedId ? " active" : ""}`}
              onClick={() => onSelect(d.id)}
            >
              <strong>{d.name}</strong> <span className="muted small">{d.row_count.toLocaleString("en-US")} rows · {d.format}</span>
            </button>
          </li>
        ))}
      </ul>
      {!selected ? <p className="muted">Select a dataset to see its statistics and rows.</p> : (
        <div className="stack">
          {labelSets.length > 1 ? (
            <Select label="Label set" value={String(lsId ?? "")} onChange={(v) => setLabelSetId(Number(v))}
              options={labelSets.map((l) => ({ value: String(l.id), label: l.name }))} />
          ) : null}
          {stats ? <StatsPanel stats={stats} /> : <p className="muted">Loading statistics…</p>}
          {page ? (
            <div>
              <div className="table-scroll">
                <table className="table" data-testid="rows-table">
                  <thead><tr><th className="num">#</th><th>Id</th><th>Text</th>{page.rows.some((r) => r.text_b) ? <th>Text B</th> : null}<th>Split</th><th>Label</th></tr></thead>
                  <tbody>
                    {page.rows.map((r) => (
                      <tr key={r.id}>
                        <td className="num muted">{r.position + 1}</td>
                        <td className="mono small">{r.ext_id}</td>
                        <td className="cell-text">{r.text_a}</td>
                        {page.rows.some((x) => x.text_b) ? <td className="cell-text">{r.text_b ?? ""}</td> : null}
                        <td>{r.split}</td>
                        <td>{r.label ?? <span className="muted">—</span>}{r.label_source ? <span className="muted small"> ({r.label_source})</span> : null}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <Pager offset={offset} limit={PAGE} total={page.total} onChange={setOffset} />
            </div>
          ) : null}
        </div>
      )}
    </div>
  );
}

function StatsPanel({ stats }: { stats: DatasetStats }) {
  const hasLabels = stats.labels.some((l) => l.count > 0);
  return (
    <div className="stats" data-testid="dataset-stats">
      <div className="stat-grid">
        <div className="stat"><span className="stat-value">{stats.rows.toLocaleString("en-US")}</span><span className="stat-label">rows</span></div>
        {stats.splits.map((s) => (
          <div className="stat" key={s.split}><span className="stat-value">{s.rows.toLocaleString("en-US")}</span><span className="stat-label">{s.split}</span></div>
        ))}
        <div className="stat"><span className="stat-value">{stats.unlabelled.toLocaleString("en-US")}</span><span className="stat-label">unlabelled</span></div>
        {stats.lengths ? (
          <div className="stat wide">
            <span className="stat-value small-value">
              {stats.lengths.min} · {stats.lengths.median} · {stats.lengths.p95} · {stats.lengths.max}
            </span>
            <span className="stat-label">length in {stats.length_unit}: min · median · p95 · max (mean {stats.lengths.mean.toFixed(1)})</span>
          </div>
        ) : null}
      </div>
      {hasLabels ? (
        <table className="table compact">
          <thead><tr><th>Label</th><th className="num">Rows</th></tr></thead>
          <tbody>{stats.labels.map((l) => <tr key={l.class}><td>{l.class}</td><td className="num">{l.count.toLocaleString("en-US")}</td></tr>)}</tbody>
        </table>
      ) : null}
      <div className="charts">
        {hasLabels && stats.label_chart_svg ? <SvgImage svg={stats.label_chart_svg} alt="Label distribution chart" />
          : (
            <div className="chart-placeholder" data-testid="no-labels">
              <span className="empty-title">No labels yet</span>
              <span className="muted small">
                {stats.labels.length > 0 ? `Classes ${stats.labels.map((l) => l.class).join(", ")}. ` : ""}Label rows on the Label screen; their distribution is charted here.
              </span>
            </div>
          )}
        {stats.length_chart_svg ? <SvgImage svg={stats.length_chart_svg} alt="Text length chart" /> : null}
      </div>
    </div>
  );
}
