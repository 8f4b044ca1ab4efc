import { useState } from "react";
import type { Aggregate, MultiToken, VerbalizerCheck, VerbalizerSpec, WordSuggestions } from "../bindings";
import { Select } from "../components/common";
import { splitWords } from "../lib/format";

function sameWords(a: string[], b: string[]) {
  return a.length === b.length && a.every((w, i) => w === b[i]);
}

/** Every multi-token rule of the engine; "auto" follows the model's family. */
export const MULTI_TOKEN_OPTIONS: { value: MultiToken; label: string }[] = [
  { value: "auto", label: "the model's rule (auto)" },
  { value: "first", label: "first token" },
  { value: "sum", label: "whole word (sum of log-probabilities)" },
  { value: "mean", label: "mean of tokens" },
  { value: "max", label: "max of tokens" },
];

export function VerbalizerEditor(props: {
  verbalizer: VerbalizerSpec;
  onChange: (v: VerbalizerSpec) => void;
  calibrate: boolean;
  onCalibrateChange: (c: boolean) => void;
  check: VerbalizerCheck | null;
  checkError: string | null;
  suggestions: WordSuggestions[] | null;
}) {
  const { verbalizer, onChange } = props;
  // What the user typed, so "great, " keeps its trailing comma while typing. Shown only while it
  // still parses to the words in the spec; any outside change (suggestion click, load) wins.
  const [raw, setRaw] = useState<Record<number, string>>({});

  const shown = (i: number) => {
    const r = raw[i];
    const words = verbalizer.classes[i]?.words ?? [];
    return r !== undefined && sameWords(splitWords(r), words) ? r : words.join(", ");
  };

  const setClasses = (classes: VerbalizerSpec["classes"]) => onChange({ ...verbalizer, classes });

  const addWord = (cls: string, word: string) => {
    setClasses(verbalizer.classes.map((c) => (c.name === cls && !c.words.includes(word) ? { ...c, words: [...c.words, word] } : c)));
  };

  return (
    <div className="verbalizer">
      <table className="table verbalizer-table">
        <thead><tr><th>Class</th><th>Label words (comma separated)</th><th /></tr></thead>
        <tbody>
          {verbalizer.classes.map((c, i) => {
            const checked = props.check?.classes.find((x) => x.class === c.name);
            const sugg = props.suggestions?.find((s) => s.class === c.name);
            return (
              <tr key={i}>
                <td className="class-cell">
                  <input
                    aria-label={`Class ${i + 1} name`}
                    data-testid={`verbalizer-class-${i}`}
                    value={c.name}
                    onChange={(e) => setClasses(verbalizer.classes.map((x, j) => (j === i ? { ...x, name: e.target.value } : x)))}
                  />
                </td>
                <td>
                  <input
                    aria-label={`Label words for ${c.name || `class ${i + 1}`}`}
                    data-testid={`verbalizer-words-${i}`}
                    className="mono-input"
                    value={shown(i)}
                    onChange={(e) => {
                      const v = e.target.value;
                      setRaw((r) => ({ ...r, [i]: v }));
                      setClasses(verbalizer.classes.map((x, j) => (j === i ? { ...x, words: splitWords(v) } : x)));
                    }}
                  />
                  {checked && checked.words.length > 0 ? (
                    <div className="token-words">
                      {checked.words.map((w) => (
                        <span key={w.word} className={`word-tokens${w.multi_token ? " multi" : ""}`} title={w.multi_token ? "Splits into several tokens" : "Single token"}>
                          <span className="word">{w.word}</span>
                          {w.tokens.map((t, k) => <span key={k} className="token-pill">{t}</span>)}
                          {w.multi_token ? <span className="warn-mark" aria-label="multi-token">⚠</span> : null}
                        </span>
                      ))}
                    </div>
                  ) : null}
                  {sugg && sugg.words.length > 0 ? (
                    <div className="suggestions" data-testid={`suggestions-${i}`}>
                      <span className="muted small">Suggested:</span>
                      {sugg.words.map((w) => (
                        <button
                          key={w.word}
                          type="button"
                          className={`suggest-chip${c.words.includes(w.word) ? " used" : ""}`}
                          title={`score ${w.score.toFixed(3)} — click to add`}
                          disabled={c.words.includes(w.word)}
                          onClick={() => addWord(c.name, w.word)}
                        >
                          + {w.word}
                        </button>
                      ))}
                    </div>
                  ) : null}
                </td>
                <td>
                  <button
                    type="button"
                    className="btn ghost small"
                    aria-label={`Remove class ${c.name}`}
                    onClick={() => {
                      setRaw({});
                      setClasses(verbalizer.classes.filter((_, j) => j !== i));
                    }}
                  >
                    ×
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {verbalizer.classes.length === 0 ? <p className="muted">No classes yet — pick a label set above or add a class.</p> : null}
      <div className="row gap wrap align-end">
        <button type="button" className="btn small" data-testid="add-class" onClick={() => setClasses([...verbalizer.classes, { name: `class ${verbalizer.classes.length + 1}`, words: [] }])}>
          + Add class
        </button>
        <Select<MultiToken> label="Multi-token words" value={verbalizer.multi_token} onChange={(v) => onChange({ ...verbalizer, multi_token: v })} testId="verbalizer-multi-token" options={MULTI_TOKEN_OPTIONS} />
        <Select<Aggregate> label="Aggregate words" value={verbalizer.aggregate} onChange={(v) => onChange({ ...verbalizer, aggregate: v })} testId="verbalizer-aggregate" options={[
          { value: "mean-prob", label: "mean probability" }, { value: "mean-log-prob", label: "mean log-probability" }, { value: "max", label: "max" },
        ]} />
        <label className="check">
          <input type="checkbox" checked={props.calibrate} onChange={(e) => props.onCalibrateChange(e.target.checked)} data-testid="calibrate" />
          Calibrate (content-free inputs)
        </label>
      </div>
      {props.checkError ? <p className="inline-error small">{props.checkError}</p> : null}
      {props.check && props.check.warnings.length > 0 ? (
        <ul className="notes warn-list" data-testid="verbalizer-warnings">{props.check.warnings.map((w, i) => <li key={i}>{w}</li>)}</ul>
      ) : null}
    </div>
  );
}
