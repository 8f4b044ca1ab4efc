import type { MultiToken, Saved, VerbalizerSpec } from "../bindings";

const MULTI_TOKENS: MultiToken[] = ["auto", "first", "sum", "mean", "max"];

/** Read a saved verbalizer's content: a VerbalizerSpec, a {class: words|word} map or a list of words. */
export function parseVerbalizerContent(content: string, fallback: VerbalizerSpec): VerbalizerSpec | null {
  let v: unknown;
  try {
    v = JSON.parse(content);
  } catch {
    return null;
  }
  const toWords = (x: unknown): string[] => (Array.isArray(x) ? x.map(String) : typeof x === "string" ? [x] : []);
  if (Array.isArray(v)) {
    return { ...fallback, classes: v.map((w, i) => ({ name: String(i), words: toWords(w) })) };
  }
  if (typeof v === "object" && v !== null) {
    const o = v as Record<string, unknown>;
    if (Array.isArray(o.classes)) {
      const classes = (o.classes as unknown[]).map((c, i) => {
        const cc = (c ?? {}) as Record<string, unknown>;
        return { name: typeof cc.name === "string" ? cc.name : String(i), words: toWords(cc.words) };
      });
      const mt = o.multi_token;
      const ag = o.aggregate;
      return {
        classes,
        multi_token: MULTI_TOKENS.includes(mt as MultiToken) ? (mt as MultiToken) : fallback.multi_token,
        aggregate: ag === "mean-prob" || ag === "mean-log-prob" || ag === "max" ? ag : fallback.aggregate,
      };
    }
    return { ...fallback, classes: Object.entries(o).map(([name, words]) => ({ name, words: toWords(words) })) };
  }
  return null;
}

export type SavedPair = { key: string; name: string; version: number; created_at: string; template: Saved | null; verbalizer: Saved | null };

export function pairSaved(templates: Saved[], verbalizers: Saved[]): SavedPair[] {
  const map = new Map<string, SavedPair>();
  const get = (s: Saved) => {
    const key = `${s.name}\u0000${s.version}`;
    let p = map.get(key);
    if (!p) {
      p = { key, name: s.name, version: s.version, created_at: s.created_at, template: null, verbalizer: null };
      map.set(key, p);
    }
    return p;
  };
  for (const t of templates) get(t).template = t;
  for (const v of verbalizers) get(v).verbalizer = v;
  return [...map.values()].sort((a, b) => (a.name === b.name ? b.version - a.version : a.name.localeCompare(b.name)));
}
