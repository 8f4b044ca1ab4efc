// A multi-label run's dev metrics on the Tune screen: micro-F1, macro-F1, subset accuracy and
// Hamming loss (accuracy means nothing when a row carries a set of labels), and per label its F1
// and the threshold the run predicts with (fitted on the dev rows, or 0.5).
import type { EvalMetrics } from "../bindings";

const pct = (x: number | null | undefined) => (x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)}%`);

export function MultiLabelMetrics({ m }: { m: EvalMetrics }) {
  const ml = m.multi_label;
  if (!ml) return null;
  const rule = ml.rule === "fit-on-dev" ? "fitted on the dev rows" : "0.5";
  return (
    <div className="stack" data-testid="tune-multi-label">
      <table className="table compact">
        <thead><tr><th>Micro-F1</th><th>Macro-F1</th><th>Subset accuracy</th><th>Hamming loss</th><th className="num">Dev rows</th></tr></thead>
        <tbody>
          <tr>
            <td data-testid="tune-micro-f1">{pct(ml.micro_f1)}</td>
            <td data-testid="tune-macro-f1">{pct(ml.macro_f1)}</td>
            <td data-testid="tune-subset-accuracy">{pct(ml.subset_accuracy)}</td>
            <td>{ml.hamming_loss.toFixed(3)}</td>
            <td className="num">{m.rows}</td>
          </tr>
        </tbody>
      </table>
      <table className="table compact" data-testid="tune-per-label">
        <thead><tr><th>Label</th><th>F1</th><th>Threshold ({rule})</th></tr></thead>
        <tbody>
          {m.classes.map((c, i) => (
            <tr key={c}><td>{c}</td><td>{pct(m.per_class_f1[i])}</td><td>{ml.thresholds[i]?.toFixed(3) ?? "—"}</td></tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
