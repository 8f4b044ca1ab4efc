import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { commands, type Hyper, type ModelView, type RunDetailsView, type RunSummaryView } from "../bindings";
import { DEFAULT_PROMPT } from "../app/PromptContext";
import { TuneScreen, nextRunName } from "../tune/TuneScreen";
import { PROJECT } from "../test/fixtures";
import { renderWithApp } from "../test/render";

vi.mock("../bindings", async () => (await import("../test/mockBindings")).mockBindings());

const MODEL: ModelView = {
  spec: "bert-tiny", path: "/m", family: "bert", parameters: 4_000_000, hidden_size: 128, layers: 2,
  vocab_size: 30522, max_len: 512, has_lm_head: true, mask_token: "[MASK]", device: "cpu",
  kind: "encoder", pretraining: "masked-lm", reads: "at the {mask} token", quantisation: null, chat_template: null, memory_bytes: 4.4e8, kv_heads: 12,
  precision: "f32", precision_kernel: "f32", bf16_native: false,
};
const mocked = commands as unknown as Record<string, ReturnType<typeof vi.fn>>;

const hyper = (lr: number, epochs: number): Hyper => ({
  learning_rate: lr, weight_decay: 0.01, warmup_ratio: 0.06, epochs, max_steps: null, batch_size: 8, grad_accumulation: 1,
  max_grad_norm: 1, eval_every: 0, patience: 0, seed: 13, dropout: null, max_len: null,
});
const run = (name: string, acc: number): RunSummaryView => ({
  name, strategy: "finetune", model: "/m", precision: "f32", status: "finished", steps: 6, dev_accuracy: acc, dev_macro_f1: acc, seconds: 1.5,
});
const details = (name: string): RunDetailsView => ({
  summary: run(name, 0.75), config_json: "{\n  \"strategy\": \"finetune\"\n}", loss_svg: "<svg><text>loss</text></svg>",
  accuracy_svg: "<svg><text>acc</text></svg>", confusion_svg: "<svg><text>confusion</text></svg>",
  last_eval: { rows: 4, score: 0.75, accuracy: 0.75, macro_f1: 0.7, per_class_f1: [0.8, 0.6], classes: ["negative", "positive"], confusion: [[2, 0], [1, 1]], loss: 0.5 },
  best: [{ text: "a joy", label: "positive", predicted: "positive", p_label: 0.9 }],
  worst: [{ text: "not bad", label: "positive", predicted: "negative", p_label: 0.2 }],
  total_steps: 6, last_step: 6, last_loss: 0.31,
});

describe("TuneScreen", () => {
  beforeEach(() => {
    mocked.tuneDefaults.mockImplementation((s: string) => Promise.resolve(s === "probe" ? hyper(0.01, 100) : hyper(2e-5, 10)));
    mocked.listRuns.mockResolvedValue([run("run-1", 0.75), run("run-2", 0.5)]);
    mocked.runDetails.mockImplementation((n: string) => Promise.resolve(details(n)));
  });

  it("names the loaded model's own pretraining objective", async () => {
    const user = userEvent.setup();
    const cases: [ModelView["pretraining"], ModelView["kind"], string][] = [
      ["causal-lm", "decoder", "causal LM"],
      ["span-corruption", "encoder-decoder", "span corruption"],
      ["denoising", "encoder-decoder", "denoising"],
      ["masked-lm", "encoder", "masked LM"],
    ];
    for (const [pretraining, kind, name] of cases) {
      const view = renderWithApp(<TuneScreen />, { project: PROJECT, model: { ...MODEL, kind, pretraining }, prompt: DEFAULT_PROMPT });
      const option = screen.getByRole("option", { name: `Prompted pretraining (${name})` }) as HTMLOptionElement;
      expect(option.disabled).toBe(false);
      await user.selectOptions(screen.getByTestId("tune-strategy"), "pretrain");
      expect(screen.getByTestId("tune-strategy-help")).toHaveTextContent(`this model's own objective, ${name}`);
      view.unmount();
    }
  });

  it("asks for a model first", () => {
    renderWithApp(<TuneScreen />, { project: PROJECT, model: null });
    expect(screen.getByTestId("tune-empty")).toHaveTextContent("No model loaded");
  });

  it("loads each strategy's defaults and sends the form as a TuneRequest", async () => {
    const user = userEvent.setup();
    mocked.startTuning.mockResolvedValue(run("run-3", 0.8));
    renderWithApp(<TuneScreen />, { project: PROJECT, model: MODEL, prompt: DEFAULT_PROMPT });
    await waitFor(() => expect(screen.getByTestId("tune-learning-rate")).toHaveValue("0.00002"));
    await user.selectOptions(screen.getByTestId("tune-strategy"), "probe");
    await waitFor(() => expect(screen.getByTestId("tune-epochs")).toHaveValue("100"));
    await user.selectOptions(screen.getByTestId("tune-strategy"), "finetune");
    await waitFor(() => expect(screen.getByTestId("tune-epochs")).toHaveValue("10"));
    await user.clear(screen.getByTestId("tune-epochs"));
    await user.type(screen.getByTestId("tune-epochs"), "3");
    await user.clear(screen.getByTestId("tune-name"));
    await user.type(screen.getByTestId("tune-name"), "run-3");
    await user.type(screen.getByTestId("tune-shots"), "4");
    await user.click(screen.getByTestId("tune-start"));
    await waitFor(() => expect(mocked.startTuning).toHaveBeenCalledTimes(1));
    const [, request] = mocked.startTuning.mock.calls[0];
    expect(request).toMatchObject({
      name: "run-3", strategy: "finetune", template: DEFAULT_PROMPT.template, verbalizer: DEFAULT_PROMPT.verbalizer,
      verbalizer_kind: "manual", soft_placement: "in-template", label_set_id: PROJECT.label_sets[0].id, shots: 4, dev_fraction: 0.2, precision: "f32", resume: false,
    });
    expect(request.hyper).toMatchObject({ epochs: 3, learning_rate: 2e-5 });
  });

  it("offers the loaded model's precision, sends the one chosen, and marks bf16 runs", async () => {
    const user = userEvent.setup();
    mocked.listRuns.mockResolvedValue([{ ...run("run-1", 0.75), precision: "bf16" }, run("run-2", 0.5)]);
    mocked.startTuning.mockClear().mockResolvedValue(run("run-3", 0.8));
    renderWithApp(<TuneScreen />, { project: PROJECT, model: { ...MODEL, precision: "bf16" }, prompt: DEFAULT_PROMPT });
    const select = screen.getByTestId("tune-precision") as HTMLSelectElement;
    expect(select.value).toBe("bf16");
    expect(screen.getByRole("option", { name: "bf16 (slower on this CPU)" })).toBeInTheDocument();
    const rows = await screen.findAllByTestId("tune-run-row");
    expect(rows[0]).toHaveTextContent("finetune bf16");
    expect(rows[1]).not.toHaveTextContent("bf16");
    expect(screen.getAllByTestId("tune-run-precision")).toHaveLength(1);
    await waitFor(() => expect(screen.getByTestId("tune-learning-rate")).toHaveValue("0.00002"));
    await user.click(screen.getByTestId("tune-start"));
    await waitFor(() => expect(mocked.startTuning).toHaveBeenCalledTimes(1));
    expect(mocked.startTuning.mock.calls[0][1]).toMatchObject({ precision: "bf16" });
    await user.selectOptions(select, "f32");
    await user.click(screen.getByTestId("tune-start"));
    await waitFor(() => expect(mocked.startTuning).toHaveBeenCalledTimes(2));
    expect(mocked.startTuning.mock.calls[1][1]).toMatchObject({ precision: "f32" });
  });

  it("rejects a run name that is not a folder name", async () => {
    const user = userEvent.setup();
    renderWithApp(<TuneScreen />, { project: PROJECT, model: MODEL });
    await user.clear(screen.getByTestId("tune-name"));
    await user.type(screen.getByTestId("tune-name"), "../x");
    expect(screen.getByTestId("tune-start")).toBeDisabled();
  });

  it("lists runs, shows a run's charts and examples, and compares two", async () => {
    const user = userEvent.setup();
    mocked.compareRuns.mockResolvedValue([{ key: "hyper.seed", a: "13", b: "5" }]);
    renderWithApp(<TuneScreen />, { project: PROJECT, model: MODEL });
    const rows = await screen.findAllByTestId("tune-run-row");
    expect(rows).toHaveLength(2);
    expect(rows[0]).toHaveTextContent("75.0%");
    await user.click(rows[0]);
    const d = await screen.findByTestId("tune-details");
    expect(d).toHaveTextContent("dev accuracy 75.0%");
    expect(screen.getByTestId("tune-loss-chart")).toBeInTheDocument();
    expect(screen.getByTestId("tune-best")).toHaveTextContent("a joy");
    expect(screen.getByTestId("tune-worst")).toHaveTextContent("not bad");
    await user.selectOptions(screen.getByTestId("tune-compare-a"), "run-1");
    await user.selectOptions(screen.getByTestId("tune-compare-b"), "run-2");
    await user.click(screen.getByTestId("tune-compare-go"));
    expect(await screen.findByTestId("tune-diff")).toHaveTextContent("hyper.seed");
    expect(mocked.compareRuns).toHaveBeenCalledWith("run-1", "run-2");
  });

  it("names the next run after the existing ones", () => {
    expect(nextRunName([run("run-1", 0), run("run-2", 0)])).toBe("run-3");
    expect(nextRunName([])).toBe("run-1");
  });
});
