import { act, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { commands, type EnsembleView, type ModelView, type PredictionView, type PromptSpec } from "../bindings";
import { DEFAULT_PROMPT } from "../app/PromptContext";
import { PromptScreen } from "../prompt/PromptScreen";
import { BASIC_SEGMENTS, PROJECT, templateView } from "../test/fixtures";
import { renderWithApp } from "../test/render";

vi.mock("../bindings", async () => (await import("../test/mockBindings")).mockBindings());

const m = vi.mocked(commands);
const MODEL: ModelView = {
  spec: "bert-tiny", path: "/m", family: "bert", parameters: 4_000_000, hidden_size: 128, layers: 2,
  vocab_size: 30522, max_len: 512, has_lm_head: true, mask_token: "[MASK]", device: "cpu",
  kind: "encoder", pretraining: "masked-lm", reads: "at the {mask} token", quantisation: null, chat_template: null, memory_bytes: 4.4e8, kv_heads: 12,
  precision: "f32", precision_kernel: "f32", bf16_native: false,
};
const rows = [
  { id: 1, position: 0, ext_id: "1", text_a: "Great film", text_b: null, split: "train", label: "positive", label_source: "import" },
  { id: 2, position: 1, ext_id: "2", text_a: "Dull", text_b: null, split: "train", label: "negative", label_source: "import" },
];
function preds(p: number): PredictionView[] {
  return rows.map((r) => ({ row_id: r.id, predicted: p > 0.5 ? "positive" : "negative", label: r.label, probs: [{ class: "negative", prob: 1 - p }, { class: "positive", prob: p }] }));
}

describe("PromptScreen", () => {
  beforeEach(() => {
    vi.clearAllMocks();
    m.parseTemplate.mockResolvedValue(templateView(BASIC_SEGMENTS));
    m.rowsPage.mockResolvedValue({ rows, total: 2 });
    m.previewPrompt.mockResolvedValue([]);
    m.checkVerbalizer.mockResolvedValue({ classes: [{ class: "positive", words: [{ word: "great", tokens: ["great"], multi_token: false }] }], warnings: [] });
  });
  afterEach(() => vi.useRealTimers());

  it("without a model says to load one", async () => {
    renderWithApp(<PromptScreen />, { project: PROJECT, prompt: DEFAULT_PROMPT });
    expect(await screen.findByText("Load a model to see probabilities")).toBeInTheDocument();
    expect(m.zeroShot).not.toHaveBeenCalled();
  });

  it("shows live probabilities and ignores stale responses", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const resolvers: ((p: PredictionView[]) => void)[] = [];
    m.zeroShot.mockImplementation(() => new Promise((r) => {
      resolvers.push(r);
    }));
    renderWithApp(<PromptScreen />, { project: PROJECT, model: MODEL, prompt: DEFAULT_PROMPT });
    await act(async () => {
      await vi.advanceTimersByTimeAsync(300);
    });
    await waitFor(() => expect(m.zeroShot).toHaveBeenCalledTimes(1));
    const [promptArg, ids] = m.zeroShot.mock.calls[0] as [PromptSpec, number[]];
    expect(ids).toEqual([1, 2]);
    expect(promptArg.template).toBe(DEFAULT_PROMPT.template);

    // change the verbalizer → a second call; the first (stale) answer must be ignored
    const input = screen.getByTestId("verbalizer-words-1");
    await act(async () => {
      const { fireEvent } = await import("@testing-library/react");
      fireEvent.change(input, { target: { value: "great, good" } });
      await vi.advanceTimersByTimeAsync(300);
    });
    expect(m.zeroShot).toHaveBeenCalledTimes(2);
    expect((m.zeroShot.mock.calls[1][0] as PromptSpec).verbalizer.classes[1].words).toEqual(["great", "good"]);
    await act(async () => {
      resolvers[1](preds(0.8));
    });
    await act(async () => {
      resolvers[0](preds(0.1));
    });
    const probRows = await screen.findAllByTestId("prob-row");
    expect(probRows).toHaveLength(2);
    expect(probRows[0]).toHaveTextContent("80.0%");
    expect(screen.getByTestId("live-probs")).not.toHaveTextContent("90.0%");
    expect(screen.getByTestId("latency")).toHaveTextContent("ms");
  });

  it("turns on the model's chat template: the preview and the scores get it, the system message too", async () => {
    const user = userEvent.setup();
    const chatModel: ModelView = { ...MODEL, family: "llama", kind: "decoder", chat_template: "/m/tokenizer_config.json" };
    m.previewPrompt.mockResolvedValue([{
      row_id: 1, text: "<|im_start|>user\nGreat film<|im_end|>\n<|im_start|>assistant\n", length: 9, budget: 2048, truncated: 0, demos: null,
      tokens: [{ text: "<|im_start|>", kind: "text", field: null, cut_before: false }, { text: "Great film", kind: "field", field: "text_a", cut_before: false }],
    }]);
    m.zeroShot.mockResolvedValue(preds(0.7));
    renderWithApp(<PromptScreen />, { project: PROJECT, model: chatModel, prompt: DEFAULT_PROMPT });
    await waitFor(() => expect(m.previewPrompt).toHaveBeenCalled());
    expect((m.previewPrompt.mock.calls[0][0] as PromptSpec).chat?.format).toBe("none");

    await user.click(screen.getByTestId("use-chat"));
    await waitFor(() => expect((m.previewPrompt.mock.lastCall?.[0] as PromptSpec).chat?.format).toBe("model-template"));
    expect(screen.getByTestId("chat-source")).toHaveTextContent("Chat template from /m/tokenizer_config.json");
    await user.type(screen.getByTestId("chat-system"), "Be brief.");
    await waitFor(() => expect((m.zeroShot.mock.lastCall?.[0] as PromptSpec).chat).toEqual({ format: "model-template", system: "Be brief." }));
    expect((m.checkVerbalizer.mock.lastCall?.[0] as PromptSpec).chat?.format).toBe("model-template");
    expect(await screen.findByText("<|im_start|>")).toBeInTheDocument();
  });

  it("shows what the {demo} demonstrations take of each row, and says when none fits", async () => {
    const tokens = [{ text: "Great film", kind: "field" as const, field: "text_a", cut_before: false }];
    const summary = "demos: 2 × ≈12 tokens = 24 of 128 tokens per row";
    m.previewPrompt.mockResolvedValue([
      { row_id: 1, text: "a It was great. b It was bad. Great film It was", length: 40, budget: 127, truncated: 0, tokens,
        demos: { count: 2, tokens_each: 12, tokens: 25, fit: 2, left: 87, rest: 15, summary } },
      { row_id: 2, text: "Dull", length: 127, budget: 127, truncated: 30, tokens,
        demos: { count: 2, tokens_each: 12, tokens: 25, fit: 0, left: -30, rest: 132, summary } },
    ]);
    m.zeroShot.mockResolvedValue(preds(0.6));
    renderWithApp(<PromptScreen />, { project: PROJECT, model: MODEL, prompt: { ...DEFAULT_PROMPT, template: "{demo} {text_a} It was {mask}." } });
    await waitFor(() => expect(screen.getAllByTestId("demo-budget")).toHaveLength(2));
    const [fits, none] = screen.getAllByTestId("demo-budget");
    expect(fits).toHaveTextContent("2 demonstrations · 25 tokens · all fit · 87 tokens left");
    expect(fits).toHaveAttribute("title", summary);
    expect(none).toHaveTextContent("No demonstration fits: the rest of the row takes 132 of 127 tokens");
    expect(none).toHaveClass("warn");
  });

  it("shows a saved ensemble's live probabilities, each member's prediction beside them", async () => {
    const user = userEvent.setup();
    const saved: EnsembleView = {
      id: 3, name: "mix", version: 2, created_at: "2026-12-05", classes: ["negative", "positive"], weighting: "dev-accuracy", rows: 8,
      members: [{ name: "a v1", template: "{text_a} a {mask}.", accuracy: 0.6, weight: 0.5 }, { name: "b v1", template: "{text_a} b {mask}.", accuracy: 0.7, weight: 0.5 }],
      weightings: [], note: null, disagreements: [], disagreement_count: null, json: "{}",
    };
    m.zeroShot.mockResolvedValue(preds(0.2));
    m.promptVersions.mockResolvedValue([]);
    m.ensembles.mockResolvedValue([saved]);
    m.ensembleZeroShot.mockResolvedValue(preds(0.9).map((p) => ({
      combined: p,
      members: [{ name: "a v1", predicted: "positive", prob: 0.8 }, { name: "b v1", predicted: "negative", prob: 0.55 }],
    })));
    renderWithApp(<PromptScreen />, { project: PROJECT, model: MODEL, prompt: DEFAULT_PROMPT });
    const source = await screen.findByTestId("live-source");
    await waitFor(() => expect(m.zeroShot).toHaveBeenCalled());
    expect(screen.queryByTestId("prob-members")).toBeNull();
    await user.selectOptions(source, "3");
    await waitFor(() => expect(m.ensembleZeroShot).toHaveBeenCalledWith(3, [1, 2]));
    const cells = await screen.findAllByTestId("prob-members");
    expect(cells[0]).toHaveTextContent("a v1: positive 80%b v1: negative 55%");
    expect(screen.getAllByTestId("prob-row")[0]).toHaveTextContent("positive90.0%");
    await user.selectOptions(source, "");
    await waitFor(() => expect(screen.queryByTestId("prob-members")).toBeNull());
  });

  it("says when the loaded model has no chat template", async () => {
    const user = userEvent.setup();
    renderWithApp(<PromptScreen />, { project: PROJECT, model: MODEL, prompt: DEFAULT_PROMPT });
    await user.click(screen.getByTestId("use-chat"));
    expect(screen.getByTestId("chat-source")).toHaveTextContent("bert-tiny has no chat template — turn off “Use chat template”");
  });
});
