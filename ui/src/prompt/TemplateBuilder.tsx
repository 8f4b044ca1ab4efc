import { useEffect, useRef, useState, type KeyboardEvent as ReactKeyboardEvent } from "react";
import { commands, type SegmentView, type TemplateView } from "../bindings";
import { errorMessage } from "../lib/errors";
import { useLatest } from "../lib/useLatest";

export const PARSE_DEBOUNCE_MS = 250;

export function moveItem<T>(items: T[], from: number, to: number): T[] {
  if (from === to || from < 0 || to < 0 || from >= items.length || to >= items.length) return items;
  const next = items.slice();
  const [it] = next.splice(from, 1);
  next.splice(to, 0, it);
  return next;
}

function chipLabel(s: SegmentView, maskToken: string): string {
  switch (s.kind) {
    case "text": return s.text;
    case "field": return `{${s.name}}`;
    case "mask": return maskToken;
    case "soft": return `soft × ${s.count}`;
  }
}

type Editing = { index: number; draft: string; isNew: boolean } | null;

/**
 * The template as a row of chips plus an editable source box. Emits the canonical template text
 * (TemplateView.text) through `onChange` whenever the backend accepts an edit.
 */
export function TemplateBuilder({ template, onChange, maskToken, fields = ["text_a"] }: {
  template: string;
  onChange: (text: string, view: TemplateView) => void;
  /** The loaded model's mask token (e.g. "<mask>"); the chip says "mask" without a model. */
  maskToken?: string | null;
  /** The fields the dataset's rows have (text_a, and text_b when they have one), in order. */
  fields?: string[];
}) {
  const [view, setView] = useState<TemplateView | null>(null);
  const [segments, setSegments] = useState<SegmentView[]>([]);
  const [source, setSource] = useState(template);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<Editing>(null);
  const [focusIndex, setFocusIndex] = useState<number | null>(null);
  // The field the user picked in the "+ Field" select; null → the first one not yet in the template.
  const [newField, setNewField] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  // One guard for every parse: the template from outside, the typed source and the chip edits.
  const parse = useLatest();
  const lastEmitted = useRef<string | null>(null);
  const chipRefs = useRef<(HTMLDivElement | null)[]>([]);
  const dragFrom = useRef<number | null>(null);
  const onChangeRef = useRef(onChange);
  useEffect(() => {
    onChangeRef.current = onChange;
  });

  const accept = (v: TemplateView, updateSource: boolean) => {
    setView(v);
    setSegments(v.segments);
    setError(null);
    if (updateSource) setSource(v.text);
    lastEmitted.current = v.text;
    onChangeRef.current(v.text, v);
  };

  // Parse the template coming from outside (first mount, a loaded saved prompt).
  useEffect(() => {
    if (template === lastEmitted.current) return;
    lastEmitted.current = template;
    setSource(template);
    parse.run(commands.parseTemplate(template), (v) => {
      setView(v);
      setSegments(v.segments);
      setError(null);
    }, (e) => setError(errorMessage(e)));
  }, [template, parse]);

  useEffect(() => {
    if (focusIndex === null) return;
    chipRefs.current[focusIndex]?.focus();
    setFocusIndex(null);
  }, [focusIndex, segments]);

  const onSourceChange = (text: string) => {
    setSource(text);
    parse.later(PARSE_DEBOUNCE_MS, () => commands.parseTemplate(text), (v) => accept(v, false), (e) => setError(errorMessage(e)));
  };

  const applySegments = (next: SegmentView[]) => {
    setSegments(next);
    parse.run(commands.templateFromSegments(next), (v) => accept(v, true), (e) => setError(errorMessage(e)));
  };

  const remove = (i: number) => {
    applySegments(segments.filter((_, j) => j !== i));
    setFocusIndex(Math.max(0, Math.min(i, segments.length - 2)));
  };

  const move = (from: number, to: number) => {
    if (to < 0 || to >= segments.length) return;
    applySegments(moveItem(segments, from, to));
    setFocusIndex(to);
  };

  const activate = (i: number) => {
    const s = segments[i];
    if (s.kind === "text") setEditing({ index: i, draft: s.text, isNew: false });
    else if (s.kind === "soft") setEditing({ index: i, draft: String(s.count), isNew: false });
    else if (s.kind === "field") applySegments(segments.map((x, j) => (j === i && x.kind === "field" ? { ...x, shortenable: !x.shortenable } : x)));
  };

  const commitEdit = () => {
    if (!editing) return;
    const { index, draft, isNew } = editing;
    setEditing(null);
    if (isNew) {
      if (draft.length > 0) applySegments([...segments, { kind: "text", text: draft }]);
      return;
    }
    const s = segments[index];
    if (!s) return;
    if (s.kind === "text") {
      if (draft.length === 0) remove(index);
      else if (draft !== s.text) applySegments(segments.map((x, j) => (j === index ? { kind: "text", text: draft } : x)));
    } else if (s.kind === "soft") {
      const n = Math.max(1, Math.min(64, Math.round(Number(draft)) || 1));
      if (n !== s.count) applySegments(segments.map((x, j) => (j === index && x.kind === "soft" ? { ...x, count: n } : x)));
    }
    setFocusIndex(index);
  };

  const onChipKey = (e: ReactKeyboardEvent, i: number) => {
    if (editing) return;
    if (e.altKey && (e.key === "ArrowLeft" || e.key === "ArrowRight")) {
      e.preventDefault();
      e.stopPropagation();
      move(i, e.key === "ArrowLeft" ? i - 1 : i + 1);
    } else if ((e.key === "Delete" || e.key === "Backspace") && e.target === e.currentTarget) {
      e.preventDefault();
      remove(i);
    } else if ((e.key === "Enter" || e.key === " ") && e.target === e.currentTarget) {
      e.preventDefault();
      activate(i);
    } else if (!e.altKey && e.key === "ArrowLeft" && e.target === e.currentTarget) {
      chipRefs.current[i - 1]?.focus();
    } else if (!e.altKey && e.key === "ArrowRight" && e.target === e.currentTarget) {
      chipRefs.current[i + 1]?.focus();
    }
  };

  const fieldsPresent = new Set(segments.flatMap((s) => (s.kind === "field" ? [s.name] : [])));
  const suggestedField = newField ?? fields.find((f) => !fieldsPresent.has(f)) ?? fields[0] ?? "text_a";
  const maskLabel = maskToken || "mask";

  const editor = (
    <input
      className="chip-input"
      autoFocus
      aria-label={editing && !editing.isNew && segments[editing.index]?.kind === "soft" ? "Soft token count" : "Chip text"}
      data-testid="chip-editor"
      value={editing?.draft ?? ""}
      size={Math.max(4, (editing?.draft.length ?? 0) + 1)}
      onChange={(e) => setEditing((ed) => (ed ? { ...ed, draft: e.target.value } : ed))}
      onKeyDown={(e) => {
        if (e.key === "Enter") {
          e.preventDefault();
          commitEdit();
        } else if (e.key === "Escape") {
          e.preventDefault();
          setEditing(null);
        }
      }}
      onBlur={commitEdit}
    />
  );

  return (
    <div className="template-builder">
      <div className="chips" role="list" aria-label="Template segments" data-testid="chips">
        {segments.length === 0 && !editing ? <span className="muted">Empty template — add a field and a mask.</span> : null}
        {segments.map((s, i) => (
          <div
            key={i}
            ref={(el) => {
              chipRefs.current[i] = el;
            }}
            role="listitem"
            tabIndex={0}
            className={`chip chip-${s.kind}${s.kind === "field" && s.shortenable ? " shortenable" : ""}`}
            data-testid="chip"
            data-kind={s.kind}
            draggable={!editing}
            aria-label={`${s.kind} chip ${chipLabel(s, maskLabel)}. Alt+Left or Alt+Right to move, Delete to remove`}
            onKeyDown={(e) => onChipKey(e, i)}
            onDragStart={(e) => {
              dragFrom.current = i;
              e.dataTransfer.effectAllowed = "move";
              e.dataTransfer.setData("text/plain", String(i));
            }}
            onDragOver={(e) => {
              e.preventDefault();
              e.dataTransfer.dropEffect = "move";
            }}
            onDrop={(e) => {
              e.preventDefault();
              const from = dragFrom.current ?? Number(e.dataTransfer.getData("text/plain"));
              dragFrom.current = null;
              if (Number.isInteger(from)) move(from, i);
            }}
          >
            {editing && !editing.isNew && editing.index === i ? editor : (
              <button
                type="button"
                tabIndex={-1}
                className="chip-body"
                onClick={() => activate(i)}
                title={s.kind === "text" ? "Click to edit" : s.kind === "field" ? "Click to toggle shortenable" : s.kind === "soft" ? "Click to change the count" : "The mask the model fills"}
              >
                {s.kind === "text" ? <span className="chip-text">{s.text.replace(/ /g, "\u00a0")}</span> : chipLabel(s, maskLabel)}
                {s.kind === "field" && s.shortenable ? <span className="chip-flag" title="shortenable">✂</span> : null}
              </button>
            )}
            <button type="button" tabIndex={-1} className="chip-del" aria-label={`Delete ${s.kind} chip`} data-testid="chip-delete" onClick={() => remove(i)}>×</button>
          </div>
        ))}
        {editing?.isNew ? <div className="chip chip-text editing" role="listitem">{editor}</div> : null}
      </div>
      <div className="row gap wrap toolbar">
        <button type="button" className="btn small" data-testid="add-text" onClick={() => setEditing({ index: segments.length, draft: "", isNew: true })}>+ Text</button>
        <span className="split-button">
          <button type="button" className="btn small" data-testid="add-field" onClick={() => {
            applySegments([...segments, { kind: "field", name: suggestedField, shortenable: true, post: null }]);
            setNewField(null);
          }}>
            + Field
          </button>
          <select aria-label="Field to add" className="small-select" value={suggestedField} onChange={(e) => setNewField(e.target.value)} data-testid="add-field-name">
            <option value="text_a">text_a</option>
            <option value="text_b">{fields.includes("text_b") ? "text_b" : "text_b (empty in this dataset)"}</option>
          </select>
        </span>
        <button type="button" className="btn small" data-testid="add-mask" onClick={() => applySegments([...segments, { kind: "mask" }])}>+ Mask</button>
        <button type="button" className="btn small" data-testid="add-soft" onClick={() => applySegments([...segments, { kind: "soft", count: 1, init: null }])}>+ Soft</button>
        <span className="muted small">Click a chip to edit · Alt+←/→ or drag to reorder · Delete removes</span>
      </div>
      <div className="field">
        <label htmlFor="template-source">Template source <span className="muted small">(either <code>{"{text_a} It was {mask}."}</code> or OpenPrompt syntax)</span></label>
        <textarea
          id="template-source"
          data-testid="template-source"
          className="mono-input"
          rows={2}
          spellCheck={false}
          value={source}
          onChange={(e) => onSourceChange(e.target.value)}
        />
        {error ? <p className="inline-error" role="alert" data-testid="template-error">{error}</p> : null}
        {view && view.mask_count !== 1 && !error ? <p className="warn small">The template has {view.mask_count} masks; classification uses exactly one.</p> : null}
      </div>
      {view ? (
        <div className="field">
          <span className="label-like">OpenPrompt form</span>
          <div className="row gap">
            <code className="openprompt grow" data-testid="template-openprompt">{view.openprompt}</code>
            <button
              type="button"
              className="btn small"
              onClick={() => {
                void navigator.clipboard?.writeText(view.openprompt).then(() => {
                  setCopied(true);
                  setTimeout(() => setCopied(false), 1500);
                }, () => {});
              }}
            >
              {copied ? "Copied" : "Copy"}
            </button>
          </div>
        </div>
      ) : null}
    </div>
  );
}
