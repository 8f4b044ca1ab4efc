import { useCallback, useEffect, useState } from "react";
import { commands, type TableFilter, type TablePage } from "../bindings";
import { useNotify } from "../app/NotificationsContext";
import { Select } from "../components/common";
import { pct } from "../lib/format";
import { Pager } from "../components/Pager";

const LIMIT = 50;

export function LabelTable({ labelSetId, runId, classes }: { labelSetId: number; runId: number | null; classes: string[] }) {
  const { guard, notify } = useNotify();
  const [filter, setFilter] = useState<TableFilter>("all");
  const [threshold, setThreshold] = useState(0.6);
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<TablePage | null>(null);
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    const p = await guard(commands.labelTable(labelSetId, {
      filter, run_id: runId, max_confidence: filter === "low-confidence" ? threshold : null, offset, limit: LIMIT,
    }));
    if (p) setPage(p);
  }, [guard, labelSetId, filter, runId, threshold, offset]);

  useEffect(() => {
    void load();
  }, [load]);

  const toggle = (id: number) => setSelected((s) => {
    const n = new Set(s);
    if (n.has(id)) n.delete(id);
    else n.add(id);
    return n;
  });

  const withSuggestion = page?.rows.filter((r) => r.suggestion) ?? [];
  const allSelected = withSuggestion.length > 0 && withSuggestion.every((r) => selected.has(r.row.id));

  const bulk = async () => {
    if (runId === null || selected.size === 0) return;
    setBusy(true);
    const n = await guard(commands.bulkAccept(labelSetId, runId, [...selected]));
    setBusy(false);
    if (n !== undefined) {
      notify(`Accepted ${n} suggestion${n === 1 ? "" : "s"}`);
      setSelected(new Set());
      void load();
    }
  };

  const needsRun = (filter === "low-confidence" || filter === "disagrees") && runId === null;

  return (
    <div className="card" data-testid="label-table">
      <div className="row gap wrap align-end">
        <Select<TableFilter> label="Show" value={filter} onChange={(f) => { setFilter(f); setOffset(0); setSelected(new Set()); }} testId="label-table-filter" options={[
          { value: "all", label: "All rows" }, { value: "unlabelled", label: "Unlabelled" }, { value: "labelled", label: "Labelled" },
          { value: "low-confidence", label: "Low confidence" }, { value: "disagrees", label: "Model disagrees with human" },
        ]} />
        {filter === "low-confidence" ? (
          <div className="field">
            <label htmlFor="label-threshold">Confidence below</label>
            <input id="label-threshold" type="number" min={0} max={1} step={0.05} value={threshold} data-testid="label-threshold"
              onChange={(e) => { setThreshold(Math.max(0, Math.min(1, Number(e.target.value) || 0))); setOffset(0); }} />
          </div>
        ) : null}
        <button type="button" className="btn primary" data-testid="bulk-accept" disabled={runId === null || selected.size === 0 || busy} onClick={() => void bulk()}>
          Accept suggestions for selected ({selected.size})
        </button>
      </div>
      {needsRun || runId === null ? <p className="hint">Score rows with the current prompt to get model suggestions{needsRun ? " — this filter needs a run" : ""}.</p> : null}
      {page === null ? <p className="muted">Loading…</p> : page.rows.length === 0 ? <p className="muted">No rows match this filter.</p> : (
        <>
          <div className="table-scroll">
            <table className="table">
              <thead>
                <tr>
                  <th>
                    <input type="checkbox" aria-label="Select all rows with a suggestion on this page" checked={allSelected}
                      onChange={() => setSelected(allSelected ? new Set() : new Set(withSuggestion.map((r) => r.row.id)))} />
                  </th>
                  <th>Text</th><th>Label</th><th>Suggestion</th><th className="num">Confidence</th>
                </tr>
              </thead>
              <tbody>
                {page.rows.map((r) => (
                  <tr key={r.row.id} className={r.suggestion && r.row.label && r.suggestion.predicted !== r.row.label ? "miss" : ""}>
                    <td><input type="checkbox" aria-label={`Select row ${r.row.ext_id}`} disabled={!r.suggestion} checked={selected.has(r.row.id)} onChange={() => toggle(r.row.id)} /></td>
                    <td className="cell-text">{r.row.text_a}{r.row.text_b ? <div className="muted small">{r.row.text_b}</div> : null}</td>
                    <td>{r.row.label ?? <span className="muted">—</span>}{r.row.label_source ? <span className="muted small"> ({r.row.label_source})</span> : null}</td>
                    <td>{r.suggestion?.predicted ?? <span className="muted">—</span>}</td>
                    <td className="num">{r.suggestion ? pct(r.suggestion.confidence) : ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager offset={offset} limit={LIMIT} total={page.total} onChange={(o) => { setOffset(o); setSelected(new Set()); }} />
        </>
      )}
      {classes.length > 0 ? <p className="muted small">Classes: {classes.join(", ")}</p> : null}
    </div>
  );
}
