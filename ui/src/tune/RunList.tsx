// The Tune screen's run list: one row per run, and one per group of runs over seeds — its
// accuracy as mean ± s.d. with a strip of the per-seed values — that expands to its runs.
import { Fragment } from "react";
import type { RunSummaryView, SeedGroupView } from "../bindings";
import { accuracies, SpreadStrip } from "./SeedGroups";
import { type RunEntry, seedCount, spreadText } from "./seeds";

const pct = (x: number | null | undefined) => (x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)}%`);
const seconds = (s: number | null) => (s === null ? "—" : `${s.toFixed(1)} s`);

function RunRow({ run, selected, onSelect, nested }: { run: RunSummaryView; selected: boolean; onSelect: () => void; nested?: boolean }) {
  return (
    <tr data-testid="tune-run-row" className={`${selected ? "selected clickable" : "clickable"}${nested ? " nested" : ""}`} onClick={onSelect}>
      <td><button type="button" className="link">{run.name}</button></td>
      <td>{run.strategy}{run.precision !== "f32" ? <> <span className="badge small" data-testid="tune-run-precision">{run.precision}</span></> : null}</td>
      <td>{run.status}</td>
      <td>{run.steps}</td>
      <td>{run.multi_label ? <span title="Multi-label: dev micro-F1">{pct(run.dev_micro_f1)} micro-F1</span> : pct(run.dev_accuracy)}</td>
      <td>{pct(run.dev_macro_f1)}</td>
      <td>{seconds(run.seconds)}</td>
    </tr>
  );
}

function GroupRows(props: {
  group: SeedGroupView;
  expanded: boolean;
  onToggle: () => void;
  selected: boolean;
  onSelect: () => void;
  selectedRun: string | null;
  onSelectRun: (name: string) => void;
}) {
  const { group, expanded } = props;
  const first = group.runs[0]?.run;
  const steps = group.runs.reduce((n, r) => n + r.run.steps, 0);
  const time = group.runs.every((r) => r.run.seconds !== null) && group.runs.length > 0 ? group.runs.reduce((t, r) => t + (r.run.seconds ?? 0), 0) : null;
  return (
    <>
      <tr data-testid="tune-group-row" className={props.selected ? "selected clickable group" : "clickable group"} onClick={props.onSelect}>
        <td>
          <button
            type="button"
            className="btn ghost small"
            aria-expanded={expanded}
            aria-label={`${expanded ? "Hide" : "Show"} the runs of ${group.name}`}
            data-testid="tune-group-toggle"
            onClick={(e) => {
              e.stopPropagation();
              props.onToggle();
            }}
          >
            {expanded ? "▾" : "▸"}
          </button>{" "}
          <button type="button" className="link">{group.name}</button>
        </td>
        <td>{first ? first.strategy : "—"} · {group.seeds.length} seeds</td>
        <td>{group.finished === group.seeds.length ? "finished" : `${group.finished} of ${group.seeds.length} finished`}</td>
        <td>{steps}</td>
        <td data-testid="tune-group-accuracy">
          <span>accuracy {spreadText(group.accuracy)} {seedCount(group)}</span>{" "}
          <SpreadStrip values={accuracies(group)} spread={group.accuracy} what={`${group.name} dev accuracy`} />
        </td>
        <td>{spreadText(group.macro_f1)}</td>
        <td>{seconds(time)}</td>
      </tr>
      {expanded
        ? group.runs.map((r) => (
            <RunRow key={r.run.name} run={r.run} nested selected={r.run.name === props.selectedRun} onSelect={() => props.onSelectRun(r.run.name)} />
          ))
        : null}
    </>
  );
}

/** The run list; `selected` is the run or group shown below it. */
export function RunList(props: {
  entries: RunEntry[];
  selectedRun: string | null;
  selectedGroup: string | null;
  expanded: Set<string>;
  onToggle: (group: string) => void;
  onSelectRun: (name: string) => void;
  onSelectGroup: (name: string) => void;
}) {
  return (
    <table className="table" data-testid="tune-runs">
      <thead>
        <tr><th>Run</th><th>Strategy</th><th>Status</th><th>Updates</th><th>Dev accuracy</th><th>Macro-F1</th><th>Time</th></tr>
      </thead>
      <tbody>
        {props.entries.map((e) =>
          e.kind === "run" ? (
            <RunRow key={e.run.name} run={e.run} selected={e.run.name === props.selectedRun} onSelect={() => props.onSelectRun(e.run.name)} />
          ) : (
            <Fragment key={`group:${e.group.name}`}>
              <GroupRows
                group={e.group}
                expanded={props.expanded.has(e.group.name)}
                onToggle={() => props.onToggle(e.group.name)}
                selected={e.group.name === props.selectedGroup}
                onSelect={() => props.onSelectGroup(e.group.name)}
                selectedRun={props.selectedRun}
                onSelectRun={props.onSelectRun}
              />
            </Fragment>
          ),
        )}
      </tbody>
    </table>
  );
}
