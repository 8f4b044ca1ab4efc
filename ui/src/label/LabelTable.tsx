import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { commands, type FlaggedRow, type LabelCheckView, type TableFilter, type TablePage, type TableRow } from "../bindings";
import { useNotify } from "../app/NotificationsContext";
import { Select } from "../components/common";
import { pct } from "../lib/format";
import { Pager } from "../components/Pager";
import { tableKeyToAction } from "./keys";

const LIMIT = 50;

const p2 = (p: number) => p.toFixed(2);

/** The label check's evidence against a row's label, as one sentence. */
export function evidence(s: FlaggedRow): string {
  return `model says ${s.suggested} at ${p2(s.p_suggested)}, your label ${s.given} at ${p2(s.p_given)}; threshold ${p2(s.threshold)}`;
}

/** What the newest label check ran with and found. */
export function checkSummary(c: LabelCheckView): string {
  const when = c.created_at.replace("T", " ").replace(/\.\d+Z$/, " UTC");
  const flagged = `${c.flagged} of ${c.rows_checked} labelled rows suspicious (${c.confident} confidently)`;
  const left = c.still_suspicious === c.flagged ? "" : `; ${c.still_suspicious} not relabelled since`;
  const thresholds = c.thresholds.map((t) => `${t.class} ${p2(t.prob)}`).join(", ");
  return `Label check ${when}, ${c.model}, ${c.options.folds} folds: ${flagged}${left}. Thresholds: ${thresholds}.`;
}

export function LabelTable({ labelSetId, runId, classes, active = true, checkEpoch = 0 }: {
  labelSetId: number; runId: number | null; classes: string[];
  /** Whether the table's keys (↑ ↓ Enter) are live: the table is on screen. */
  active?: boolean;
  /** Increases after each label check: the table then shows the Suspicious filter afresh. */
  checkEpoch?: number;
}) {
  const { guard, notify } = useNotify();
  const [filter, setFilter] = useState<TableFilter>(checkEpoch > 0 ? "suspicious" : "all");
  const [threshold, setThreshold] = useState(0.6);
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<TablePage | null>(null);
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const [busy, setBusy] = useState(false);
  const busyRef = useRef(false);
  const [focus, setFocus] = useState(0);
  const [reload, setReload] = useState(0);
  const [epoch, setEpoch] = useState(checkEpoch);
  if (epoch !== checkEpoch) {
    setEpoch(checkEpoch);
    setFilter("suspicious");
    setOffset(0);
    setFocus(0);
    setSelected(new Set());
    setReload((r) => r + 1);
  }

  const load = useCallback(async () => {
    const p = await guard(commands.labelTable(labelSetId, {
      filter, run_id: runId, max_confidence: filter === "low-confidence" ? threshold : null, offset, limit: LIMIT,
    }));
    if (p) setPage(p);
  }, [guard, labelSetId, filter, runId, threshold, offset]);

  // `reload` asks for the same page again (after a check or a relabel).
  useEffect(() => {
    void load();
  }, [load, reload]);

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

  /** Accepts a row's suggestion: the label check's when it flagged the row, else the run's. */
  const accept = useCallback(async (r: TableRow) => {
    if (busyRef.current) return;
    const viaRun = !r.suspicion && r.suggestion && runId !== null;
    if (!r.suspicion && !viaRun) {
      notify(`Row ${r.row.ext_id} has no suggestion to accept: check the labels, or score the rows with a prompt.`);
      return;
    }
    busyRef.current = true;
    setBusy(true);
    const done = r.suspicion
      ? await guard(commands.acceptCheckSuggestion(labelSetId, r.row.id)).then((row) => row && `Row ${row.ext_id} relabelled ${row.label ?? ""}`)
      : await guard(commands.bulkAccept(labelSetId, runId as number, [r.row.id])).then((n) => n !== undefined && `Row ${r.row.ext_id} labelled ${r.suggestion?.predicted ?? ""}`);
    busyRef.current = false;
    setBusy(false);
    if (done) notify(done);
    // Refused (the row changed since the check) or not, the table shows the rows as they are now.
    setReload((n) => n + 1);
  }, [guard, notify, labelSetId, runId]);

  const rows = useMemo(() => page?.rows ?? [], [page]);
  const focused = rows.length === 0 ? -1 : Math.min(focus, rows.length - 1);

  useEffect(() => {
    if (!active) return;
    const onKey = (e: KeyboardEvent) => {
      const action = tableKeyToAction(e);
      if (!action || rows.length === 0) return;
      e.preventDefault();
      if (action.type === "next") setFocus(Math.min(focused + 1, rows.length - 1));
      else if (action.type === "previous") setFocus(Math.max(focused - 1, 0));
      else void accept(rows[focused]);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [active, rows, focused, accept]);

  const needsRun = (filter === "low-confidence" || filter === "disagrees") && runId === null;
  const check = page?.check ?? null;

  return (
    <div className="card" data-testid="label-table">
      <div className="row gap wrap align-end">
        <Select<TableFilter> label="Show" value={filter} onChange={(f) => { setFilter(f); setOffset(0); setFocus(0); setSelected(new Set()); }} testId="label-table-filter" options={[
          { value: "all", label: "All rows" }, { value: "unlabelled", label: "Unlabelled" }, { value: "labelled", label: "Labelled" },
          { value: "low-confidence", label: "Low confidence" }, { value: "disagrees", label: "Model disagrees with human" },
          { value: "suspicious", label: "Suspicious labels" },
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
      {needsRun || (runId === null && filter !== "suspicious") ? <p className="hint">Score rows with the current prompt to get model suggestions{needsRun ? " — this filter needs a run" : ""}.</p> : null}
      {check ? <p className="muted small" data-testid="label-check-summary">{checkSummary(check)}</p>
        : filter === "suspicious" ? <p className="hint" data-testid="label-check-summary">No label check yet: load a model and press Check labels to find rows whose label the model contradicts.</p> : null}
      {page === null ? <p className="muted">Loading…</p> : rows.length === 0 ? <p className="muted">No rows match this filter.</p> : (
        <>
          <div className="table-scroll">
            <table className="table">
              <thead>
                <tr>
                  <th>
                    <input type="checkbox" aria-label="Select all rows with a suggestion on this page" checked={allSelected}
                      onChange={() => setSelected(allSelected ? new Set() : new Set(withSuggestion.map((r) => r.row.id)))} />
                  </th>
                  <th>Text</th><th>Label</th><th>Suggestion</th><th className="num">Confidence</th><th>Label check</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r, i) => (
                  <tr key={r.row.id} data-testid="label-table-row" aria-selected={i === focused} onClick={() => setFocus(i)}
                    className={[r.suspicion || (r.suggestion && r.row.label && r.suggestion.predicted !== r.row.label) ? "miss" : "", i === focused ? "focused" : ""].filter(Boolean).join(" ")}>
                    <td><input type="checkbox" aria-label={`Select row ${r.row.ext_id}`} disabled={!r.suggestion} checked={selected.has(r.row.id)} onChange={() => toggle(r.row.id)} /></td>
                    <td className="cell-text">{r.row.text_a}{r.row.text_b ? <div className="muted small">{r.row.text_b}</div> : null}</td>
                    <td className="cell-label">{r.row.label ?? <span className="muted">—</span>}{r.row.label_source ? <span className="muted small"> ({r.row.label_source})</span> : null}</td>
                    <td>{r.suggestion?.predicted ?? <span className="muted">—</span>}</td>
                    <td className="num">{r.suggestion ? pct(r.suggestion.confidence) : ""}</td>
                    <td>
                      {r.suspicion ? (
                        <div className="suspicion" data-testid="suspicion">
                          <span data-testid="suspicion-evidence">{evidence(r.suspicion)}</span>
                          {r.suspicion.confident ? <span className="badge warn">confident</span> : null}
                          <button type="button" className="btn small" data-testid="accept-check-suggestion" disabled={busy}
                            onClick={(e) => { e.stopPropagation(); setFocus(i); void accept(r); }}>
                            Relabel as {r.suspicion.suggested}{i === focused ? " (Enter)" : ""}
                          </button>
                        </div>
                      ) : <span className="muted">—</span>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager offset={offset} limit={LIMIT} total={page.total} onChange={(o) => { setOffset(o); setFocus(0); setSelected(new Set()); }} />
          <p className="muted small">Keys: <kbd>↑</kbd> <kbd>↓</kbd> move between rows, <kbd>Enter</kbd> accepts the highlighted row’s suggestion (the label check’s, else the model run’s).</p>
        </>
      )}
      {classes.length > 0 ? <p className="muted small">Classes: {classes.join(", ")}</p> : null}
    </div>
  );
}
