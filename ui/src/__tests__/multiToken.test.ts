import { describe, expect, it } from "vitest";
import { DEFAULT_PROMPT } from "../app/PromptContext";
import { MULTI_TOKEN_OPTIONS } from "../prompt/VerbalizerEditor";
import { parseVerbalizerContent } from "../prompt/savedPrompt";

// On T5 (SentencePiece) every label word starts with the token "▁": scored by the first token only,
// all classes score alike and the engine refuses the verbalizer. The app's prompt must leave the
// rule to the model's family (first token on a masked LM, the whole word on decoders and T5).
describe("multi-token label words", () => {
  it("default_prompt_scores_multi_token_words_by_the_models_rule", () => {
    expect(DEFAULT_PROMPT.verbalizer.multi_token).toBe("auto");
  });

  it("the_multi_token_menu_offers_the_models_rule_and_the_whole_word", () => {
    const values = MULTI_TOKEN_OPTIONS.map((o) => o.value);
    expect(values).toEqual(["auto", "first", "sum", "mean", "max"]);
  });

  it("saved_verbalizers_keep_auto_and_sum", () => {
    for (const mt of ["auto", "sum", "first"] as const) {
      const content = JSON.stringify({ classes: [{ name: "a", words: ["x"] }], multi_token: mt, aggregate: "max" });
      expect(parseVerbalizerContent(content, { ...DEFAULT_PROMPT.verbalizer, multi_token: "mean" })?.multi_token).toBe(mt);
    }
    const unknown = JSON.stringify({ classes: [], multi_token: "bogus" });
    expect(parseVerbalizerContent(unknown, DEFAULT_PROMPT.verbalizer)?.multi_token).toBe("auto");
  });
});
