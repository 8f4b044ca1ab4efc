import { act, fireEvent, screen, waitFor } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { commands, events, type GeneratedText, type GenerationView, type ModelView, type RowView } from "../bindings";
import { TryItPanel, parseStops } from "../prompt/TryItPanel";
import { renderWithApp } from "../test/render";
import { deferred } from "../test/deferred";

vi.mock("../bindings", async () => (await import("../test/mockBindings")).mockBindings());

const m = vi.mocked(commands);
const listen = vi.mocked(events.generatedText.listen);
const DECODER: ModelView = {
  spec: "tiny-llama", path: "/m", family: "llama", parameters: 1e6, hidden_size: 64, layers: 2,
  vocab_size: 320, max_len: 256, has_lm_head: true, mask_token: "<mask>", device: "cpu",
  kind: "decoder", pretraining: "causal-lm", reads: "at the token before {mask}", quantisation: null, chat_template: null, memory_bytes: 4e6, kv_heads: 2,
  precision: "f32", precision_kernel: "f32", bf16_native: false,
};
const ROWS: RowView[] = [
  { id: 1, position: 0, ext_id: "1", text_a: "Great film", text_b: null, split: "train", label: "positive", label_source: "import" },
];

/** Captures the panel's generated-text listener, so a test can play the events the Rust side sends. */
function captureListener() {
  const sent: { handler: ((e: { payload: GeneratedText }) => void) | null; unlistened: boolean } = { handler: null, unlistened: false };
  listen.mockImplementation(((h: (e: { payload: GeneratedText }) => void) => {
    sent.handler = h;
    return Promise.resolve(() => {
      sent.unlistened = true;
    });
  }) as never);
  return sent;
}

describe("TryItPanel", () => {
  beforeEach(() => {
    vi.clearAllMocks();
    m.cancelJob.mockResolvedValue(true);
  });

  it("streams pieces into the window in order, disables the controls while running, then shows why it stopped", async () => {
    const sent = captureListener();
    const run = deferred<GenerationView>();
    m.generateText.mockReturnValue(run.promise);
    renderWithApp(<TryItPanel model={DECODER} template="{text_a} It was {mask}." rows={ROWS} />);
    fireEvent.change(screen.getByTestId("try-prompt"), { target: { value: "The movie was" } });
    fireEvent.change(screen.getByTestId("try-mode"), { target: { value: "sample" } });
    fireEvent.change(screen.getByTestId("try-seed"), { target: { value: "7" } });
    fireEvent.change(screen.getByTestId("try-stops"), { target: { value: "\\n\nEND" } });
    fireEvent.click(screen.getByTestId("try-generate"));
    await waitFor(() => expect(m.generateText).toHaveBeenCalledTimes(1));
    const [job, prompt, options] = m.generateText.mock.calls[0];
    expect(prompt).toBe("The movie was");
    expect(options).toEqual({ decoding: { kind: "sample", temperature: 0.8, top_p: 0.95, seed: 7 }, max_new_tokens: 32, stop: ["\n", "END"] });
    expect(screen.getByTestId("try-generate")).toBeDisabled();
    expect(screen.getByTestId("try-prompt")).toBeDisabled();
    expect(screen.getByTestId("try-generate")).toHaveTextContent("Generating…");

    // Pieces of another job are not ours; ours are placed by index even when they arrive out of order.
    act(() => {
      sent.handler!({ payload: { job: "other", index: 0, text: "XX" } });
      sent.handler!({ payload: { job, index: 0, text: " great" } });
    });
    expect(screen.getByTestId("try-output")).toHaveTextContent("The movie was great");
    act(() => {
      sent.handler!({ payload: { job, index: 2, text: " story" } });
      sent.handler!({ payload: { job, index: 1, text: "," } });
    });
    expect(screen.getByTestId("try-output").textContent).toBe("The movie was great, story");

    await act(async () => run.resolve({ text: " great, story", stop: "length", prompt_tokens: 5, new_tokens: 3, seconds: 0.5 }));
    expect(screen.getByTestId("try-result")).toHaveTextContent("Stopped at the token limit · 5 prompt tokens · 3 new tokens · 6.0 tokens/s");
    expect(screen.getByTestId("try-generate")).toBeEnabled();
    expect(screen.queryByTestId("try-cancel")).toBeNull();
    expect(sent.unlistened).toBe(true);
  });

  it("Cancel and Escape stop the job and keep the text so far", async () => {
    const sent = captureListener();
    const run = deferred<GenerationView>();
    m.generateText.mockReturnValue(run.promise);
    renderWithApp(<TryItPanel model={DECODER} template="{text_a}" rows={ROWS} />);
    fireEvent.change(screen.getByTestId("try-prompt"), { target: { value: "Once" } });
    fireEvent.click(screen.getByTestId("try-generate"));
    await waitFor(() => expect(m.generateText).toHaveBeenCalled());
    const job = m.generateText.mock.calls[0][0];
    act(() => sent.handler!({ payload: { job, index: 0, text: " upon" } }));

    fireEvent.keyDown(window, { key: "Escape" });
    await waitFor(() => expect(m.cancelJob).toHaveBeenCalledWith(job));
    expect(screen.getByTestId("try-cancel")).toBeDisabled();
    expect(screen.getByTestId("try-cancel")).toHaveTextContent("Cancelling…");
    await act(async () => run.reject({ kind: "cancelled", message: "cancelled" }));
    expect(screen.getByTestId("try-result")).toHaveTextContent("Cancelled after 1 pieces.");
    expect(screen.getByTestId("try-output")).toHaveTextContent("Once upon");

    // The button does the same on the next run.
    const second = deferred<GenerationView>();
    m.generateText.mockReturnValue(second.promise);
    fireEvent.click(screen.getByTestId("try-generate"));
    await waitFor(() => expect(m.generateText).toHaveBeenCalledTimes(2));
    fireEvent.click(screen.getByTestId("try-cancel"));
    await waitFor(() => expect(m.cancelJob).toHaveBeenLastCalledWith(m.generateText.mock.calls[1][0]));
    await act(async () => second.reject({ kind: "cancelled", message: "cancelled" }));
    expect(screen.getByTestId("try-generate")).toBeEnabled();
  });

  it("shows the engine's error, e.g. for a masked LM", async () => {
    captureListener();
    m.generateText.mockRejectedValue({ kind: "invalid-input", message: "roberta is a masked-LM model; generation needs a decoder (e.g. gpt2, SmolLM2, Llama, Qwen2)" });
    renderWithApp(<TryItPanel model={{ ...DECODER, family: "roberta", kind: "encoder" }} template="{text_a}" rows={ROWS} />);
    fireEvent.change(screen.getByTestId("try-prompt"), { target: { value: "Hello" } });
    fireEvent.click(screen.getByTestId("try-generate"));
    expect(await screen.findByTestId("try-error")).toHaveTextContent("generation needs a decoder");
    expect(screen.getByTestId("try-generate")).toBeEnabled();
  });

  it("takes the row's prompt from the template, and needs a model to generate", async () => {
    m.generationPrompt.mockResolvedValue("Great film It was");
    renderWithApp(<TryItPanel model={null} template="{text_a} It was {mask}." rows={ROWS} />);
    fireEvent.click(screen.getByTestId("try-use-row"));
    await waitFor(() => expect(screen.getByTestId("try-prompt")).toHaveValue("Great film It was"));
    expect(m.generationPrompt).toHaveBeenCalledWith("{text_a} It was {mask}.", { format: "none", system: null }, 1);
    expect(screen.getByTestId("try-generate")).toBeDisabled();
    m.generationPrompt.mockRejectedValue({ kind: "invalid-input", message: "row 1 has no value for {x}" });
    fireEvent.click(screen.getByTestId("try-use-row"));
    expect(await screen.findByTestId("try-row-error")).toHaveTextContent("no value for {x}");
  });

  it("asks for the row's prompt in the chat template when the prompt uses it", async () => {
    const chat = { format: "model-template" as const, system: "Be brief." };
    m.generationPrompt.mockResolvedValue("<|im_start|>user\nGreat film It was<|im_end|>\n<|im_start|>assistant\n");
    renderWithApp(<TryItPanel model={DECODER} template="{text_a} It was {mask}." chat={chat} rows={ROWS} />);
    fireEvent.click(screen.getByTestId("try-use-row"));
    await waitFor(() => expect(screen.getByTestId("try-prompt")).toHaveValue("<|im_start|>user\nGreat film It was<|im_end|>\n<|im_start|>assistant\n"));
    expect(m.generationPrompt).toHaveBeenCalledWith("{text_a} It was {mask}.", chat, 1);
  });

  it("parses stop strings one per line with escapes", () => {
    expect(parseStops("")).toEqual([]);
    expect(parseStops("END\n\\n\n\n\\t;")).toEqual(["END", "\n", "\t;"]);
  });
});
