// The prompt studio's try-it panel: the loaded model continues a prompt (typed, or a sample row's
// template up to its {mask}, in the model's chat template when the prompt uses it, as `cloze generate
// --chat`); its text streams in piece by piece; Cancel (or Escape) stops it; the
// end shows why it stopped and the token counts. The engine decides what can generate: its error
// (e.g. a masked LM) is shown as it is.
import { useCallback, useEffect, useRef, useState } from "react";
import { commands, events, type Chat, type Decoding, type GenerationView, type ModelView, type RowView, type StopReason } from "../bindings";
import { Select } from "../components/common";
import { errorMessage, isCancelled } from "../lib/errors";
import { newJobId } from "../lib/format";

const STOP_REASONS: Record<StopReason, string> = {
  "end-of-sequence": "the model ended the text",
  "stop-string": "a stop string",
  length: "the token limit",
  context: "the model's context is full",
};

/** Stop strings, one per line; `\n` and `\t` typed in a line stand for a newline and a tab. */
export function parseStops(raw: string): string[] {
  return raw.split("\n").map((s) => s.replace(/\\n/g, "\n").replace(/\\t/g, "\t")).filter((s) => s.length > 0);
}

type Ended = { kind: "done"; result: GenerationView } | { kind: "cancelled" } | { kind: "error"; message: string };

const NO_CHAT: Chat = { format: "none", system: null };

export function TryItPanel({ model, template, chat, rows }: { model: ModelView | null; template: string; chat?: Chat | null; rows: RowView[] }) {
  const [prompt, setPrompt] = useState("");
  const [rowChoice, setRowChoice] = useState<string>("");
  const rowId = rows.find((r) => String(r.id) === rowChoice)?.id ?? rows[0]?.id ?? null;
  const [maxTokens, setMaxTokens] = useState(32);
  const [mode, setMode] = useState<"greedy" | "sample">("greedy");
  const [temperature, setTemperature] = useState(0.8);
  const [topP, setTopP] = useState(0.95);
  const [seed, setSeed] = useState(0);
  const [stops, setStops] = useState("");
  const [job, setJob] = useState<string | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const [pieces, setPieces] = useState<string[]>([]);
  const [ended, setEnded] = useState<Ended | null>(null);
  const [rowError, setRowError] = useState<string | null>(null);
  const jobRef = useRef<string | null>(null);

  const takeRow = async () => {
    if (rowId === null) return;
    try {
      setPrompt(await commands.generationPrompt(template, chat ?? NO_CHAT, rowId));
      setRowError(null);
    } catch (e) {
      setRowError(errorMessage(e));
    }
  };

  const cancel = useCallback(async () => {
    const running = jobRef.current;
    if (!running) return;
    setCancelling(true);
    try {
      await commands.cancelJob(running);
    } catch (e) {
      setEnded({ kind: "error", message: errorMessage(e) });
    }
  }, []);

  // Escape stops a running generation.
  useEffect(() => {
    if (!job) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        e.preventDefault();
        void cancel();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [job, cancel]);

  const generate = async () => {
    if (jobRef.current) return;
    const id = newJobId();
    jobRef.current = id;
    setJob(id);
    setCancelling(false);
    setPieces([]);
    setEnded(null);
    const decoding: Decoding = mode === "greedy" ? { kind: "greedy" } : { kind: "sample", temperature, top_p: topP, seed };
    // Listen before starting, so no piece is missed; pieces are placed by their index.
    let unlisten: () => void = () => {};
    try {
      const un = await events.generatedText.listen((e) => {
        const p = e.payload;
        if (p.job !== id) return;
        setPieces((ps) => {
          const next = ps.slice();
          next[p.index] = p.text;
          return next;
        });
      });
      if (typeof un === "function") unlisten = un;
    } catch {
      // Outside Tauri there is no event bus: the text appears when the generation ends.
    }
    try {
      const result = await commands.generateText(id, prompt, { decoding, max_new_tokens: maxTokens, stop: parseStops(stops) });
      setEnded({ kind: "done", result });
    } catch (e) {
      setEnded(isCancelled(e) ? { kind: "cancelled" } : { kind: "error", message: errorMessage(e) });
    } finally {
      unlisten();
      jobRef.current = null;
      setJob(null);
      setCancelling(false);
    }
  };

  const running = job !== null;
  // The result's text is the model's exact text; while running (or after a cancel) the pieces so far.
  const shown = ended?.kind === "done" ? ended.result.text : pieces.join("");
  const sampling = mode === "sample";

  return (
    <div className="card" data-testid="try-it">
      <div className="row spread">
        <h2>Try it — generate</h2>
        {model ? <span className="muted small">{model.family}</span> : null}
      </div>
      {!model ? <p className="hint">Load a model on the Model screen to generate with it.</p> : null}
      <div className="row gap wrap align-end">
        {rows.length > 0 ? (
          <>
            <Select
              label="Row"
              value={rowId === null ? "" : String(rowId)}
              onChange={setRowChoice}
              testId="try-row"
              options={rows.map((r) => ({ value: String(r.id), label: r.text_a.length > 40 ? `${r.text_a.slice(0, 40)}…` : r.text_a }))}
            />
            <button type="button" className="btn small btn-field" data-testid="try-use-row" disabled={running} onClick={() => void takeRow()}
              title={chat?.format === "model-template" ? "The template with this row's fields, up to {mask}, as the user's turn of the model's chat template" : "The template with this row's fields, up to {mask}"}>
              Use the row's prompt
            </button>
          </>
        ) : null}
      </div>
      {rowError ? <p className="inline-error small" data-testid="try-row-error">{rowError}</p> : null}
      <div className="field">
        <label htmlFor="try-prompt">Prompt</label>
        <textarea id="try-prompt" data-testid="try-prompt" rows={3} value={prompt} disabled={running} onChange={(e) => setPrompt(e.target.value)}
          placeholder="The capital of France is" />
      </div>
      <div className="row gap wrap align-end">
        <div className="field">
          <label htmlFor="try-max">Max tokens</label>
          <input id="try-max" data-testid="try-max" type="number" min={1} max={4096} value={maxTokens} disabled={running}
            onChange={(e) => setMaxTokens(Math.max(1, Math.floor(Number(e.target.value) || 1)))} />
        </div>
        <Select
          label="Decoding"
          value={mode}
          onChange={setMode}
          testId="try-mode"
          disabled={running}
          options={[{ value: "greedy", label: "Greedy" }, { value: "sample", label: "Sampling" }]}
        />
        {sampling ? (
          <>
            <div className="field">
              <label htmlFor="try-temp">Temperature</label>
              <input id="try-temp" data-testid="try-temperature" type="number" step={0.1} min={0.01} value={temperature} disabled={running}
                onChange={(e) => setTemperature(Number(e.target.value))} />
            </div>
            <div className="field">
              <label htmlFor="try-top-p">Top-p</label>
              <input id="try-top-p" data-testid="try-top-p" type="number" step={0.05} min={0.01} max={1} value={topP} disabled={running}
                onChange={(e) => setTopP(Number(e.target.value))} />
            </div>
            <div className="field">
              <label htmlFor="try-seed">Seed</label>
              <input id="try-seed" data-testid="try-seed" type="number" min={0} step={1} value={seed} disabled={running}
                onChange={(e) => setSeed(Math.max(0, Math.floor(Number(e.target.value) || 0)))} />
            </div>
          </>
        ) : null}
        <div className="field grow">
          <label htmlFor="try-stops">Stop strings (one per line, \n for a newline)</label>
          <textarea id="try-stops" data-testid="try-stops" rows={1} value={stops} disabled={running} onChange={(e) => setStops(e.target.value)} />
        </div>
      </div>
      <div className="row gap">
        <button type="button" className="btn primary" data-testid="try-generate" disabled={running || !model || prompt.trim() === ""} onClick={() => void generate()}>
          {running ? "Generating…" : "Generate"}
        </button>
        {running ? (
          <button type="button" className="btn" data-testid="try-cancel" disabled={cancelling} onClick={() => void cancel()} title="Escape">
            {cancelling ? "Cancelling…" : "Cancel"}
          </button>
        ) : null}
      </div>
      {running || ended ? (
        <pre className="generation" data-testid="try-output" aria-live="polite">
          <span className="muted">{prompt}</span>{shown}
        </pre>
      ) : null}
      {ended?.kind === "done" ? (
        <p className="muted small" data-testid="try-result">
          Stopped at {STOP_REASONS[ended.result.stop]} · {ended.result.prompt_tokens} prompt tokens · {ended.result.new_tokens} new tokens ·{" "}
          {ended.result.seconds > 0 ? `${(ended.result.new_tokens / ended.result.seconds).toFixed(1)} tokens/s` : ""}
        </p>
      ) : ended?.kind === "cancelled" ? (
        <p className="muted small" data-testid="try-result">Cancelled after {pieces.filter((p) => p !== undefined).length} pieces.</p>
      ) : ended?.kind === "error" ? (
        <p className="inline-error small" data-testid="try-error">{ended.message}</p>
      ) : null}
    </div>
  );
}
