import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { commands, type AutoChoice, type RunDetailsView } from "../bindings";
import { DEFAULT_PROMPT } from "../app/PromptContext";
import { parseBudget, recommendKey } from "../tune/Recommend";
import { TuneScreen } from "../tune/TuneScreen";
import { PROJECT, TUNE_MODEL, finishedRun, tuneHyper } from "../test/fixtures";
import { renderWithApp } from "../test/render";

vi.mock("../bindings", async () => (await import("../test/mockBindings")).mockBindings());

const mocked = commands as unknown as Record<string, ReturnType<typeof vi.fn>>;

const CONTRASTIVE: AutoChoice = {
  strategy: "contrastive",
  reasons: ["the model has no LM head, so it cannot read a label word", "4 rows per class (at most 64): contrastive fine-tuning learns from pairs of rows"],
};
const PROBE: AutoChoice = { strategy: "probe", reasons: ["12 rows per class: the probe", "contrastive was estimated at 2 min 00 s, over the budget of 1.0 s: the probe instead"] };

const details = (name: string, auto: AutoChoice | null): RunDetailsView => ({
  summary: { ...finishedRun(name, 0.75), strategy: auto?.strategy ?? "finetune" }, config_json: "{}", loss_svg: "<svg></svg>", accuracy_svg: "<svg></svg>",
  confusion_svg: null, last_eval: null, best: [], worst: [], total_steps: 6, last_step: 6, last_loss: 0.3, estimate: null, wall_seconds: null, peak_bytes: null, auto, best_step: null,
});

describe("Recommended on the Tune screen", () => {
  beforeEach(() => {
    mocked.recommendTuning.mockReset().mockResolvedValue(CONTRASTIVE);
    mocked.tuneDefaults.mockReset().mockImplementation((s: string) => Promise.resolve(s === "contrastive" ? tuneHyper(2e-5, 1) : tuneHyper(0.01, 100)));
    mocked.listRuns.mockResolvedValue([]);
    mocked.listSeedGroups.mockResolvedValue([]);
    mocked.runDetails.mockImplementation((n: string) => Promise.resolve(details(n, n === "run-1" ? CONTRASTIVE : null)));
    mocked.startTuning.mockReset().mockResolvedValue({ ...finishedRun("run-1", 0.8), strategy: "contrastive" });
  });

  it("reads the time budget and keys a recommendation by the settings it depends on", () => {
    expect(parseBudget(" ")).toEqual({ seconds: null });
    expect(parseBudget("90")).toEqual({ seconds: 90 });
    for (const bad of ["0", "-3", "abc", "Infinity"]) expect(parseBudget(bad)).toHaveProperty("error");
    const base = {
      name: "a", strategy: "finetune" as const, template: "{text_a} It was {mask}.", chat: DEFAULT_PROMPT.chat, verbalizer: DEFAULT_PROMPT.verbalizer,
      verbalizer_kind: "manual" as const, soft_placement: "in-template" as const, label_set_id: 1, shots: 4, dev_fraction: 0.2, hyper: tuneHyper(2e-5, 10),
      precision: "f32" as const, resume: false, estimate: null, seeds: null, distill: null, recommended: { budget_seconds: null },
    };
    // Without a budget: the rows, the shots and the template; the name, strategy and hyperparameters do not count.
    expect(recommendKey({ ...base, name: "b", strategy: "probe", hyper: tuneHyper(1, 1) })).toBe(recommendKey(base));
    expect(recommendKey({ ...base, shots: 8 })).not.toBe(recommendKey(base));
    expect(recommendKey({ ...base, template: "{text_a}" })).not.toBe(recommendKey(base));
    // With one, everything the estimate reads.
    const budgeted = { ...base, recommended: { budget_seconds: 60 } };
    expect(recommendKey({ ...budgeted, hyper: tuneHyper(1, 1) })).not.toBe(recommendKey(budgeted));
  });

  it("is preselected, names the strategy, lists why, loads its defaults and starts it as recommended", async () => {
    const user = userEvent.setup();
    renderWithApp(<TuneScreen />, { project: PROJECT, model: { ...TUNE_MODEL, has_lm_head: false }, prompt: DEFAULT_PROMPT });
    const select = screen.getByTestId("tune-strategy") as HTMLSelectElement;
    expect(select.value).toBe("auto");
    expect(select.options[0].value).toBe("auto");
    expect(screen.getByTestId("tune-start")).toBeDisabled();
    await waitFor(() => expect(select.options[0]).toHaveTextContent("Recommended (Contrastive fine-tuning (SetFit))"));
    const reasons = within(screen.getByTestId("tune-recommend-reasons")).getAllByRole("listitem");
    expect(reasons.map((r) => r.textContent)).toEqual(CONTRASTIVE.reasons);
    expect(select).toHaveAccessibleDescription(/Why contrastive/);
    await waitFor(() => expect(screen.getByTestId("tune-epochs")).toHaveValue("1"));
    expect(mocked.tuneDefaults.mock.calls.map((c) => c[0])).toEqual(["contrastive"]);
    const [asked] = mocked.recommendTuning.mock.calls[0];
    expect(asked).toMatchObject({ label_set_id: PROJECT.label_sets[0].id, template: DEFAULT_PROMPT.template, shots: null, recommended: { budget_seconds: null } });
    await user.click(screen.getByTestId("tune-start"));
    await waitFor(() => expect(mocked.startTuning).toHaveBeenCalledTimes(1));
    expect(mocked.startTuning.mock.calls[0][1]).toMatchObject({ name: "run-1", strategy: "contrastive", recommended: { budget_seconds: null }, hyper: { epochs: 1 } });
    // The run's details say why.
    await waitFor(() => expect(screen.getByTestId("tune-auto")).toHaveTextContent("Why contrastive"));
    expect(within(screen.getByTestId("tune-auto-reasons")).getAllByRole("listitem").map((r) => r.textContent)).toEqual(CONTRASTIVE.reasons);
  });

  it("asks again once typing stops, with the budget, and shows what is wrong as the form's other errors", async () => {
    const user = userEvent.setup();
    renderWithApp(<TuneScreen />, { project: PROJECT, model: TUNE_MODEL, prompt: DEFAULT_PROMPT });
    await waitFor(() => expect(screen.getByTestId("tune-recommend-reasons")).toBeInTheDocument());
    expect(mocked.recommendTuning).toHaveBeenCalledTimes(1);
    // Two keys, one question (debounced); the form's hyperparameters alone ask nothing without a budget.
    await user.type(screen.getByTestId("tune-shots"), "12");
    await waitFor(() => expect(mocked.recommendTuning).toHaveBeenCalledTimes(2));
    expect(mocked.recommendTuning.mock.calls[1][0]).toMatchObject({ shots: 12 });
    await user.clear(screen.getByTestId("tune-epochs"));
    await user.type(screen.getByTestId("tune-epochs"), "2");
    await new Promise((r) => setTimeout(r, 400));
    expect(mocked.recommendTuning).toHaveBeenCalledTimes(2);

    // A budget that is not a number of seconds: said at once, nothing asked, no start.
    await user.type(screen.getByTestId("tune-budget"), "x");
    expect(screen.getByTestId("tune-budget-error")).toHaveTextContent("positive number of seconds");
    expect(screen.getByTestId("tune-start")).toBeDisabled();
    mocked.recommendTuning.mockResolvedValue(PROBE);
    await user.clear(screen.getByTestId("tune-budget"));
    await user.type(screen.getByTestId("tune-budget"), "1");
    await waitFor(() => expect(screen.getByTestId("tune-strategy")).toHaveTextContent("Recommended (Probe)"));
    expect(mocked.recommendTuning.mock.calls.at(-1)?.[0]).toMatchObject({ recommended: { budget_seconds: 1 } });
    expect(screen.getByTestId("tune-recommend-reasons")).toHaveTextContent("over the budget");
    await waitFor(() => expect(screen.getByTestId("tune-epochs")).toHaveValue("100"));

    // The studio refuses: the message where the reasons were, and no start.
    mocked.recommendTuning.mockRejectedValue({ kind: "precondition", message: "label set \"topics\" has 3 labelled rows; label at least a few rows of each class to tune" });
    await user.type(screen.getByTestId("tune-shots"), "0");
    await waitFor(() => expect(screen.getByTestId("tune-recommend-error")).toHaveTextContent("has 3 labelled rows"));
    expect(screen.getByTestId("tune-recommend-error")).toHaveAttribute("role", "alert");
    expect(screen.getByTestId("tune-start")).toBeDisabled();

    // A strategy chosen by hand: no budget field, no reasons list, and the request is not recommended.
    await user.selectOptions(screen.getByTestId("tune-strategy"), "probe");
    expect(screen.queryByTestId("tune-budget")).toBeNull();
    expect(screen.queryByTestId("tune-recommend-error")).toBeNull();
    await user.click(screen.getByTestId("tune-start"));
    await waitFor(() => expect(mocked.startTuning).toHaveBeenCalledTimes(1));
    expect(mocked.startTuning.mock.calls[0][1]).toMatchObject({ strategy: "probe", recommended: null });
  });
});
