import { describe, expect, it } from "vitest";
import type { DemoBudgetView } from "../bindings";
import { demoBudgetText } from "../prompt/DemoBudget";

const base: DemoBudgetView = { count: 4, tokens_each: 10, tokens: 41, fit: 4, left: 20, rest: 60, summary: "demos: 4 × ≈10 tokens = 40 of 128 tokens per row" };

describe("demoBudgetText", () => {
  it.each([
    [base, "4 demonstrations · 41 tokens · all fit · 20 tokens left", false],
    [{ ...base, left: 1 }, "4 demonstrations · 41 tokens · all fit · 1 token left", false],
    [{ ...base, fit: 2, left: -21 }, "4 demonstrations · 41 tokens · 2 of 4 fit · over by 21 tokens: truncation shortens the demonstrations", true],
    [{ ...base, count: 1, tokens: 10, fit: 1, left: 58 }, "1 demonstration · 10 tokens · all fit · 58 tokens left", false],
    [{ ...base, fit: 0, left: -50, rest: 125 }, "No demonstration fits: the rest of the row takes 125 of 121 tokens and one takes ≈10. Shorten the template or the row's fields, or use a model with a longer input.", true],
  ])("%# says how many fit and what is left", (d, text, warn) => {
    expect(demoBudgetText(d, 121)).toEqual({ text, warn });
  });
});
