import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { commands, type LabelSetInfo, type PromptSpec, type TemplateSuggestions } from "../bindings";
import { MAX_CHIPS, SuggestionChips, TemplateSuggestPanel, suggestBlocker } from "../prompt/TemplateSuggestions";
import { LABEL_SET, PROJECT, TUNE_MODEL } from "../test/fixtures";
import { renderWithApp } from "../test/render";

vi.mock("../bindings", async () => (await import("../test/mockBindings")).mockBindings());

const m = vi.mocked(commands);
const T5_MODEL = { ...TUNE_MODEL, spec: "t5-small", family: "t5", kind: "encoder-decoder" as const, pretraining: "span-corruption" as const };
const PROMPT: PromptSpec = {
  template: "{text_a} It was {mask}.",
  verbalizer: { classes: [{ name: "negative", words: ["terrible"] }, { name: "positive", words: ["great"] }], multi_token: "first", aggregate: "mean-prob" },
  calibrate: false,
  chat: { format: "none", system: null },
};

function result(method: "word-edits" | "t5", n: number): TemplateSuggestions {
  return {
    method, rows: 8, scorer: "bert-tiny", generator: method === "t5" ? "t5-small" : null,
    suggestions: Array.from({ length: n }, (_, k) => ({
      template: k === 1 ? PROMPT.template : `{text_a} Take ${k}: {mask}.`,
      accuracy: 1 - k / 20,
      mean_log_prob: -0.1 * (k + 1),
      origin: k === 1 ? "the starting template" : `edit ${k}`,
      current: k === 1,
    })),
  };
}

describe("SuggestionChips", () => {
  it("shows each candidate with its accuracy, marks the current one, and picks on click", async () => {
    const user = userEvent.setup();
    const onPick = vi.fn();
    render(<SuggestionChips result={result("word-edits", 3)} current={PROMPT.template} onPick={onPick} />);
    const chips = screen.getAllByTestId("template-suggestion");
    expect(chips.map((c) => c.textContent)).toEqual([
      "{text_a} Take 0: {mask}. 100.0%",
      "{text_a} It was {mask}. 95.0% current (#2)",
      "{text_a} Take 2: {mask}. 90.0%",
    ]);
    expect(chips[1]).toHaveClass("selected");
    expect(chips[0]).toHaveAttribute("title", "edit 0 · mean log-probability of the right class -0.100");
    expect(screen.getByTestId("template-suggestions")).toHaveTextContent("3 templates (word edits, scored by bert-tiny on 8 labelled rows)");
    await user.click(chips[2]);
    expect(onPick).toHaveBeenCalledWith("{text_a} Take 2: {mask}.");
  });

  it("shows at most MAX_CHIPS and counts the rest; names the generator of T5's", () => {
    render(<SuggestionChips result={result("t5", MAX_CHIPS + 3)} current="" onPick={() => {}} />);
    expect(screen.getAllByTestId("template-suggestion")).toHaveLength(MAX_CHIPS);
    expect(screen.getByTestId("template-suggestions")).toHaveTextContent("… and 3 more scored lower.");
    expect(screen.getByTestId("template-suggestions")).toHaveTextContent("written by t5-small");
  });

  it("keeps the prompt's own template in view when it ranks below the chips shown", () => {
    const r = result("word-edits", MAX_CHIPS + 5);
    r.suggestions = [...r.suggestions.filter((s) => !s.current), ...r.suggestions.filter((s) => s.current)];
    render(<SuggestionChips result={r} current={PROMPT.template} onPick={() => {}} />);
    const chips = screen.getAllByTestId("template-suggestion");
    expect(chips).toHaveLength(MAX_CHIPS + 1);
    expect(chips[MAX_CHIPS]).toHaveTextContent(`{text_a} It was {mask}. 95.0% current (#${MAX_CHIPS + 5})`);
    expect(screen.getByTestId("template-suggestions")).toHaveTextContent("… and 4 more scored lower.");
  });
});

describe("TemplateSuggestPanel", () => {
  beforeEach(() => vi.clearAllMocks());

  it("says what stops suggestions, in the order to fix them", () => {
    const set: LabelSetInfo = { ...LABEL_SET, labelled: 0 };
    const base = { model: TUNE_MODEL, labelSet: LABEL_SET, t5: false, generator: "" };
    expect(suggestBlocker({ ...base, model: null })).toMatch(/Load a model/);
    expect(suggestBlocker({ ...base, labelSet: null })).toMatch(/Pick a label set/);
    expect(suggestBlocker({ ...base, labelSet: set })).toMatch(/no labelled rows/);
    expect(suggestBlocker(base)).toBeNull();
    expect(suggestBlocker({ ...base, t5: true })).toMatch(/bert cannot write templates/);
    expect(suggestBlocker({ ...base, t5: true, generator: "/models/t5" })).toBeNull();
    expect(suggestBlocker({ ...base, t5: true, model: T5_MODEL })).toBeNull();
  });

  it("runs word edits and T5 as jobs and puts a clicked chip into the template", async () => {
    const user = userEvent.setup();
    m.suggestTemplateEdits.mockResolvedValue(result("word-edits", 2));
    m.generateTemplates.mockResolvedValue(result("t5", 4));
    const onPick = vi.fn();
    renderWithApp(<TemplateSuggestPanel prompt={PROMPT} labelSet={LABEL_SET} model={TUNE_MODEL} onPick={onPick} />, { project: PROJECT });
    expect(screen.getByTestId("suggest-templates")).toBeDisabled();
    await user.click(screen.getByTestId("suggest-edits"));
    await waitFor(() => expect(screen.getAllByTestId("template-suggestion")).toHaveLength(2));
    expect(m.suggestTemplateEdits).toHaveBeenCalledWith(expect.any(String), PROMPT, LABEL_SET.id);

    await user.type(screen.getByTestId("generator-path"), "/models/t5");
    await user.click(screen.getByTestId("suggest-templates"));
    await waitFor(() => expect(screen.getAllByTestId("template-suggestion")).toHaveLength(4));
    expect(m.generateTemplates).toHaveBeenCalledWith(expect.any(String), PROMPT, LABEL_SET.id, "/models/t5");
    await user.click(screen.getAllByTestId("template-suggestion")[0]);
    expect(onPick).toHaveBeenCalledWith("{text_a} Take 0: {mask}.");
  });
});
