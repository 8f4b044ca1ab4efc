// Pure mapping from a keyboard event to a labelling action (unit-tested, no React).

export type LabelAction =
  | { type: "label"; index: number }
  | { type: "accept" }
  | { type: "undo" }
  | { type: "skip" }
  | { type: "toggle-help" }
  | { type: "close-help" };

export type KeyTarget = { tagName?: string; isContentEditable?: boolean; type?: string } | null | undefined;

export type KeyInput = {
  key: string;
  altKey?: boolean;
  ctrlKey?: boolean;
  metaKey?: boolean;
  target?: KeyTarget | EventTarget | null;
};

export type KeyContext = { classCount: number; helpOpen: boolean };

const TEXT_INPUT_TYPES = new Set(["text", "search", "email", "number", "password", "tel", "url", "date", "datetime-local", "month", "time", "week"]);

/** True when the key belongs to a text field (typing there must never label a row). */
export function isTextEntryTarget(target: KeyInput["target"]): boolean {
  if (!target || typeof target !== "object") return false;
  const t = target as { tagName?: unknown; isContentEditable?: unknown; type?: unknown };
  if (t.isContentEditable === true) return true;
  const tag = typeof t.tagName === "string" ? t.tagName.toUpperCase() : "";
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  if (tag === "INPUT") {
    const type = typeof t.type === "string" ? t.type.toLowerCase() : "text";
    return TEXT_INPUT_TYPES.has(type) || type === "";
  }
  return false;
}

function isButtonTarget(target: KeyInput["target"]): boolean {
  if (!target || typeof target !== "object") return false;
  const t = target as { tagName?: unknown; type?: unknown };
  const tag = typeof t.tagName === "string" ? t.tagName.toUpperCase() : "";
  return tag === "BUTTON" || tag === "A" || (tag === "INPUT" && (t.type === "checkbox" || t.type === "radio" || t.type === "button" || t.type === "submit"));
}

export function keyToAction(e: KeyInput, ctx: KeyContext): LabelAction | null {
  if (e.ctrlKey || e.metaKey || e.altKey) return null;
  if (isTextEntryTarget(e.target)) return null;
  if (e.key === "?") return { type: "toggle-help" };
  if (e.key === "Escape") return ctx.helpOpen ? { type: "close-help" } : null;
  if (ctx.helpOpen) return null;
  // Enter on a focused button/checkbox belongs to that control, not to the labelling keys.
  if (e.key === "Enter") return isButtonTarget(e.target) ? null : { type: "accept" };
  if (e.key === "Backspace") return { type: "undo" };
  if (e.key === "s" || e.key === "S") return { type: "skip" };
  if (/^[1-9]$/.test(e.key)) {
    const n = Number(e.key);
    return n <= ctx.classCount ? { type: "label", index: n - 1 } : null;
  }
  return null;
}

/** What a key does in the label table: move the focused row, or accept its suggestion. */
export type TableAction = { type: "next" } | { type: "previous" } | { type: "accept" };

/**
 * The label table's keys, as the card's: Enter accepts the focused row's suggestion (the label
 * check's, else the scoring run's); ↓ / J and ↑ / K move between rows. Text fields, selects and
 * focused buttons keep their keys.
 */
export function tableKeyToAction(e: KeyInput): TableAction | null {
  if (e.ctrlKey || e.metaKey || e.altKey) return null;
  if (isTextEntryTarget(e.target)) return null;
  if (e.key === "ArrowDown" || e.key === "j" || e.key === "J") return { type: "next" };
  if (e.key === "ArrowUp" || e.key === "k" || e.key === "K") return { type: "previous" };
  if (e.key === "Enter") return isButtonTarget(e.target) ? null : { type: "accept" };
  return null;
}
