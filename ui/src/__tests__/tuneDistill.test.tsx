import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { commands, type EnsembleView } from "../bindings";
import { DEFAULT_PROMPT } from "../app/PromptContext";
import { DISTILL_DEFAULTS, distillRequest } from "../tune/DistillSettings";
import { TuneScreen } from "../tune/TuneScreen";
import { PROJECT, TUNE_MODEL, RECOMMEND_FINETUNE, finishedRun, tuneHyper } from "../test/fixtures";
import { renderWithApp } from "../test/render";

vi.mock("../bindings", async () => (await import("../test/mockBindings")).mockBindings());

const mocked = commands as unknown as Record<string, ReturnType<typeof vi.fn>>;
const CLASSES = ["negative", "positive"];

function ensemble(id: number, name: string, classes = CLASSES): EnsembleView {
  return {
    id, name, version: 1, created_at: "2026-12-05", classes, weighting: "dev-accuracy", rows: 8,
    members: [
      { name: "a v1", template: "{text_a} a {mask}.", accuracy: 0.6, weight: 0.5 },
      { name: "b v1", template: "{text_a} b {mask}.", accuracy: 0.6, weight: 0.5 },
    ],
    weightings: [], note: null, disagreements: [], disagreement_count: null, json: "{}",
  };
}

describe("distillation on the Tune screen", () => {
  beforeEach(() => {
    mocked.recommendTuning.mockResolvedValue(RECOMMEND_FINETUNE);
    mocked.tuneDefaults.mockResolvedValue(tuneHyper(2e-5, 10));
    mocked.listRuns.mockResolvedValue([]);
    mocked.listSeedGroups.mockResolvedValue([]);
    mocked.runDetails.mockRejectedValue({ kind: "not-found", message: "not in this test" });
    mocked.ensembles.mockResolvedValue([ensemble(4, "mix"), ensemble(7, "topics", ["a", "b", "c"])]);
  });

  it("turns the form into a request, or says what is wrong", () => {
    const list = [ensemble(4, "mix"), ensemble(7, "topics", ["a", "b", "c"])];
    const on = { ...DISTILL_DEFAULTS, on: true };
    const error = (r: ReturnType<typeof distillRequest>) => ("error" in r ? r.error : "");
    expect(distillRequest(DISTILL_DEFAULTS, list, "finetune", CLASSES)).toEqual({ distill: null });
    expect(distillRequest(on, list, "probe", CLASSES)).toEqual({ distill: { ensemble_id: 4, temperature: 2, max_rows: 1000 } });
    expect(distillRequest({ ...on, maxRows: " " }, list, "probe", CLASSES)).toEqual({ distill: { ensemble_id: 4, temperature: 2, max_rows: null } });
    expect(error(distillRequest(on, list, "pretrain", CLASSES))).toMatch(/^Prompted pretraining trains on text/);
    expect(error(distillRequest(on, [], "probe", CLASSES))).toMatch(/^No saved template ensemble/);
    expect(error(distillRequest({ ...on, ensembleId: 7 }, list, "probe", CLASSES))).toBe(
      "The ensemble topics has the classes a, b, c, the verbalizer negative, positive; pick an ensemble fitted on this label set.",
    );
    expect(error(distillRequest({ ...on, temperature: "0" }, list, "probe", CLASSES))).toMatch(/^Temperature “0” must be a positive number/);
    expect(error(distillRequest({ ...on, maxRows: "0" }, list, "probe", CLASSES))).toMatch(/^Rows to pseudo-label “0” must be a whole number of at least 1/);
    expect(error(distillRequest({ ...on, maxRows: "2.5" }, list, "probe", CLASSES))).toMatch(/whole number/);
  });

  it("starts a run that distils the saved ensemble chosen, and refuses one with other classes", async () => {
    const user = userEvent.setup();
    mocked.startTuning.mockResolvedValue(finishedRun("run-1", 0.8));
    renderWithApp(<TuneScreen />, { project: PROJECT, model: TUNE_MODEL, prompt: DEFAULT_PROMPT });
    await waitFor(() => expect(screen.getByTestId("tune-learning-rate")).toHaveValue("0.00002"));
    expect(screen.queryByTestId("tune-distill-ensemble")).toBeNull();
    await user.click(screen.getByTestId("tune-distill-on"));
    await waitFor(() => expect(mocked.ensembles).toHaveBeenCalled());
    const select = await screen.findByTestId("tune-distill-ensemble");
    await waitFor(() => expect(select).toHaveTextContent("mix v1 · 2 prompts · dev-accuracy"));
    expect(screen.getByTestId("tune-distill-help")).toHaveTextContent("pseudo_labels.jsonl");
    await user.selectOptions(select, "7");
    expect(screen.getByTestId("tune-distill-error")).toHaveTextContent("has the classes a, b, c");
    expect(screen.getByTestId("tune-start")).toBeDisabled();
    await user.selectOptions(select, "4");
    expect(screen.queryByTestId("tune-distill-error")).toBeNull();
    await user.clear(screen.getByTestId("tune-distill-max-rows"));
    await user.type(screen.getByTestId("tune-distill-max-rows"), "200");
    await user.click(screen.getByTestId("tune-start"));
    await waitFor(() => expect(mocked.startTuning).toHaveBeenCalledTimes(1));
    expect(mocked.startTuning.mock.calls[0][1]).toMatchObject({ distill: { ensemble_id: 4, temperature: 2, max_rows: 200 } });
  });
});
