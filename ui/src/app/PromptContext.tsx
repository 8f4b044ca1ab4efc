import { useCallback, useEffect, useMemo, useState, type ReactNode } from "react";
import type { PromptSpec } from "../bindings";
import { strictContext } from "./strictContext";

export const DEFAULT_PROMPT: PromptSpec = {
  template: "{text_a} It was {mask}.",
  verbalizer: {
    classes: [
      { name: "negative", words: ["terrible"] },
      { name: "positive", words: ["great"] },
    ],
    // The model's own rule: the first token on a masked LM, the whole word (its exact
    // log-probability) on a decoder or T5 — where words often share their first token.
    multi_token: "auto",
    aggregate: "mean-prob",
  },
  calibrate: false,
  chat: { format: "none", system: null },
};

const STORAGE_KEY = "cloze-studio.prompt.v1";

function isPromptSpec(v: unknown): v is PromptSpec {
  if (typeof v !== "object" || v === null) return false;
  const p = v as PromptSpec;
  return typeof p.template === "string" && typeof p.calibrate === "boolean" &&
    typeof p.verbalizer === "object" && p.verbalizer !== null && Array.isArray(p.verbalizer.classes) &&
    p.verbalizer.classes.every((c) => typeof c?.name === "string" && Array.isArray(c.words));
}

export function loadStoredPrompt(): PromptSpec {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    if (raw) {
      const parsed: unknown = JSON.parse(raw);
      if (isPromptSpec(parsed)) return parsed;
    }
  } catch {
    // ignore broken storage
  }
  return DEFAULT_PROMPT;
}

type PromptContextValue = {
  prompt: PromptSpec;
  setPrompt: (update: PromptSpec | ((p: PromptSpec) => PromptSpec)) => void;
  /** Replace the whole prompt from outside the editors (e.g. loading a saved one); bumps `revision`. */
  loadPrompt: (p: PromptSpec) => void;
  revision: number;
};

const [PromptContext, usePrompt] = strictContext<PromptContextValue>("usePrompt", "PromptProvider");
export { usePrompt };

export function PromptProvider({ children, initial }: { children: ReactNode; initial?: PromptSpec }) {
  const [prompt, setPromptState] = useState<PromptSpec>(() => initial ?? loadStoredPrompt());
  const [revision, setRevision] = useState(0);

  useEffect(() => {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(prompt));
    } catch {
      // storage full or unavailable: not fatal
    }
  }, [prompt]);

  const setPrompt = useCallback((update: PromptSpec | ((p: PromptSpec) => PromptSpec)) => {
    setPromptState((p) => (typeof update === "function" ? update(p) : update));
  }, []);

  const loadPrompt = useCallback((p: PromptSpec) => {
    setPromptState(p);
    setRevision((r) => r + 1);
  }, []);

  const value = useMemo(() => ({ prompt, setPrompt, loadPrompt, revision }), [prompt, setPrompt, loadPrompt, revision]);
  return <PromptContext.Provider value={value}>{children}</PromptContext.Provider>;
}
