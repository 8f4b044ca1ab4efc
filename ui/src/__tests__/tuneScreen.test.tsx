import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { commands, type Estimate, type ModelView, type RunDetailsView } from "../bindings";
import { DEFAULT_PROMPT } from "../app/PromptContext";
import { TuneScreen, nextRunName } from "../tune/TuneScreen";
import { formatDuration, ratio } from "../tune/cost";
import { PROJECT, TUNE_MODEL, RECOMMEND_FINETUNE, finishedRun, tuneHyper } from "../test/fixtures";
import { renderWithApp } from "../test/render";

vi.mock("../bindings", async () => (await import("../test/mockBindings")).mockBindings());

const MODEL = TUNE_MODEL;
const mocked = commands as unknown as Record<string, ReturnType<typeof vi.fn>>;

const hyper = tuneHyper;
const run = finishedRun;
const details = (name: string): RunDetailsView => ({
  summary: run(name, 0.75), config_json: "{\n  \"strategy\": \"finetune\"\n}", loss_svg: "<svg><text>loss</text></svg>",
  accuracy_svg: "<svg><text>acc</text></svg>", confusion_svg: "<svg><text>confusion</text></svg>",
  last_eval: { rows: 4, score: 0.75, accuracy: 0.75, macro_f1: 0.7, per_class_f1: [0.8, 0.6], classes: ["negative", "positive"], confusion: [[2, 0], [1, 1]], loss: 0.5 },
  best: [{ text: "a joy", label: "positive", predicted: "positive", p_label: 0.9 }],
  worst: [{ text: "not bad", label: "positive", predicted: "negative", p_label: 0.2 }],
  total_steps: 6, last_step: 6, last_loss: 0.31, estimate: null, wall_seconds: null, peak_bytes: null, auto: null, best_step: 4,
});
const ESTIMATE: Estimate = {
  strategy: "finetune", seconds: 83, load_seconds: 0.5, features_seconds: 0, train_seconds: 60, eval_seconds: 22, save_seconds: 0.5,
  steps: 12, seconds_per_step: 5, evaluations: 4, train_rows: 32, dev_rows: 8, peak_bytes: 600 * 1024 * 1024,
  memory: "peak resident memory of the process (VmHWM)", notes: [],
  measurement: { updates_timed: 5, update_seconds: [6, 5, 5, 5, 5], update_tokens: [200, 300, 200, 300, 200], eval_batches_timed: 3, rows: 20, shortest: 8, typical: 20, longest: 40, batch_size: 8, grad_accumulation: 1, seconds: 30 },
};

describe("TuneScreen", () => {
  beforeEach(() => {
    mocked.recommendTuning.mockResolvedValue(RECOMMEND_FINETUNE);
    mocked.tuneDefaults.mockImplementation((s: string) => Promise.resolve(s === "probe" ? hyper(0.01, 100) : hyper(2e-5, 10)));
    mocked.listRuns.mockResolvedValue([run("run-1", 0.75), run("run-2", 0.5)]);
    mocked.listSeedGroups.mockResolvedValue([]);
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

  it("offers contrastive fine-tuning (SetFit) with its own defaults and sends it as the strategy", async () => {
    const user = userEvent.setup();
    mocked.startTuning.mockClear().mockResolvedValue(run("run-4", 0.8));
    mocked.tuneDefaults.mockClear();
    renderWithApp(<TuneScreen />, { project: PROJECT, model: MODEL, prompt: DEFAULT_PROMPT });
    await waitFor(() => expect(screen.getByTestId("tune-learning-rate")).toHaveValue("0.00002"));
    expect(screen.getByRole("option", { name: "Contrastive fine-tuning (SetFit)" })).toBeInTheDocument();
    await user.selectOptions(screen.getByTestId("tune-strategy"), "contrastive");
    expect(screen.getByTestId("tune-strategy-help")).toHaveTextContent("cosine-similarity loss");
    await waitFor(() => expect(mocked.tuneDefaults).toHaveBeenCalledWith("contrastive"));
    await user.clear(screen.getByTestId("tune-name"));
    await user.type(screen.getByTestId("tune-name"), "run-4");
    await user.click(screen.getByTestId("tune-start"));
    await waitFor(() => expect(mocked.startTuning).toHaveBeenCalledTimes(1));
    expect(mocked.startTuning.mock.calls[0][1]).toMatchObject({ name: "run-4", strategy: "contrastive" });
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

  it("says which update's weights a run keeps, and when no update scored higher than the starting weights", async () => {
    const user = userEvent.setup();
    mocked.runDetails.mockImplementation((n: string) => Promise.resolve({ ...details(n), best_step: n === "run-2" ? 0 : 4 }));
    renderWithApp(<TuneScreen />, { project: PROJECT, model: MODEL });
    const rows = await screen.findAllByTestId("tune-run-row");
    await user.click(rows[0]);
    expect(await screen.findByTestId("tune-kept-step")).toHaveTextContent("Keeps the weights of update 4");
    expect(screen.queryByTestId("tune-kept-start")).toBeNull();
    await user.click(rows[1]);
    expect(await screen.findByTestId("tune-kept-start")).toHaveTextContent("No update scored higher than the starting weights on the dev rows");
    expect(screen.queryByTestId("tune-kept-step")).toBeNull();
  });

  it("shows a multi-label run's micro-F1, macro-F1, subset accuracy and thresholds instead of accuracy", async () => {
    const user = userEvent.setup();
    const ml = { ...run("ml-1", 0), strategy: "probe" as const, dev_accuracy: null, dev_macro_f1: 0.7, multi_label: true, dev_micro_f1: 0.8 };
    mocked.listRuns.mockResolvedValue([ml]);
    mocked.runDetails.mockResolvedValue({
      ...details("ml-1"), summary: ml, confusion_svg: null,
      last_eval: {
        rows: 6, score: 0.8, accuracy: null, macro_f1: 0.7, per_class_f1: [0.9, 0.5], classes: ["World", "Sports"], confusion: [], loss: 0.4,
        multi_label: { micro_f1: 0.8, macro_f1: 0.7, subset_accuracy: 0.5, hamming_loss: 0.25, thresholds: [0.42, 0.61], rule: "fit-on-dev" },
      },
    });
    renderWithApp(<TuneScreen />, { project: PROJECT, model: MODEL });
    const [row] = await screen.findAllByTestId("tune-run-row");
    expect(row).toHaveTextContent("80.0% micro-F1");
    await user.click(row);
    const d = await screen.findByTestId("tune-details");
    expect(d).toHaveTextContent("dev micro-F1 80.0% · subset accuracy 50.0%");
    expect(d).not.toHaveTextContent("dev accuracy");
    expect(screen.getByTestId("tune-micro-f1")).toHaveTextContent("80.0%");
    expect(screen.getByTestId("tune-macro-f1")).toHaveTextContent("70.0%");
    expect(screen.getByTestId("tune-subset-accuracy")).toHaveTextContent("50.0%");
    const perLabel = screen.getByTestId("tune-per-label");
    expect(perLabel).toHaveTextContent("fitted on the dev rows");
    expect(perLabel).toHaveTextContent("World90.0%0.420");
    expect(perLabel).toHaveTextContent("Sports50.0%0.610");
    expect(screen.queryByTestId("tune-per-class")).toBeNull();
    expect(screen.queryByTestId("tune-confusion")).toBeNull();
  });

  it("estimates the run's cost as a job, keeps it with a run of the same settings, and shows predicted beside actual", async () => {
    const user = userEvent.setup();
    mocked.estimateTuning.mockClear().mockResolvedValue(ESTIMATE);
    mocked.startTuning.mockClear().mockResolvedValue(run("run-3", 0.8));
    mocked.runDetails.mockImplementation((n: string) =>
      Promise.resolve({ ...details(n), estimate: ESTIMATE, wall_seconds: 91.3, peak_bytes: 540 * 1024 * 1024 }));
    renderWithApp(<TuneScreen />, { project: PROJECT, model: MODEL, prompt: DEFAULT_PROMPT });
    await waitFor(() => expect(screen.getByTestId("tune-learning-rate")).toHaveValue("0.00002"));
    await user.click(screen.getByTestId("tune-estimate"));
    const shown = await screen.findByTestId("tune-estimate-result");
    expect(shown).toHaveTextContent("About 1 min 23 s (12 updates × 5.00 s, 4 evaluations 22 s, loading 0.5 s) · peak memory 600 MB");
    expect(shown.getAttribute("title")).toContain("Measured 5 updates of batch 8");
    expect(mocked.estimateTuning.mock.calls[0][1]).toMatchObject({ strategy: "finetune", estimate: null });
    await user.click(screen.getByTestId("tune-start"));
    await waitFor(() => expect(mocked.startTuning).toHaveBeenCalledTimes(1));
    expect(mocked.startTuning.mock.calls[0][1].estimate).toEqual(ESTIMATE);
    const cost = await screen.findByTestId("tune-cost");
    expect(cost).toHaveTextContent("Time1 min 23 s1 min 31 s×1.10");
    expect(cost).toHaveTextContent("Peak memory600 MB540 MB×0.90");
    // Other settings: the estimate is marked as old and not kept with the run.
    await user.clear(screen.getByTestId("tune-epochs"));
    await user.type(screen.getByTestId("tune-epochs"), "2");
    expect(screen.getByTestId("tune-estimate-result")).toHaveTextContent("for earlier settings");
    await user.click(screen.getByTestId("tune-start"));
    await waitFor(() => expect(mocked.startTuning).toHaveBeenCalledTimes(2));
    expect(mocked.startTuning.mock.calls[1][1].estimate).toBeNull();
  });

  it("formats durations and ratios", () => {
    expect([formatDuration(0.42), formatDuration(45.2), formatDuration(200), formatDuration(3900), formatDuration(null)])
      .toEqual(["0.4 s", "45 s", "3 min 20 s", "1 h 05 min", "—"]);
    expect([ratio(11, 10), ratio(1, 0), ratio(null, 3)]).toEqual(["×1.10", "—", "—"]);
  });

  it("names the next run after the existing ones", () => {
    expect(nextRunName([run("run-1", 0), run("run-2", 0)])).toBe("run-3");
    expect(nextRunName([])).toBe("run-1");
  });
});
