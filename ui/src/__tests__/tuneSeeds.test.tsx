import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { commands, type SeedGroupView, type Spread } from "../bindings";
import { DEFAULT_PROMPT } from "../app/PromptContext";
import { TuneScreen } from "../tune/TuneScreen";
import { SpreadStrip } from "../tune/SeedGroups";
import { parseSeeds, runEntries, seedCount, spreadText } from "../tune/seeds";
import { PROJECT, TUNE_MODEL, RECOMMEND_FINETUNE, finishedRun, tuneHyper } from "../test/fixtures";
import { renderWithApp } from "../test/render";

vi.mock("../bindings", async () => (await import("../test/mockBindings")).mockBindings());

const MODEL = TUNE_MODEL;
const mocked = commands as unknown as Record<string, ReturnType<typeof vi.fn>>;
const HYPER = tuneHyper(2e-5, 10);
const run = finishedRun;
// 0.6, 0.7, 0.8: mean 0.7, sample s.d. 0.1.
const spread = (mean: number, sd: number, min: number, max: number, n: number): Spread => ({ mean, sd, min, max, n });
const GROUP: SeedGroupView = {
  name: "lmbff", seeds: [13, 21, 42], resampled: true, finished: 3,
  runs: [[13, 0.6], [21, 0.7], [42, 0.8]].map(([seed, acc]) => ({ seed, run: run(`lmbff-seed-${seed}`, acc), per_class_f1: [acc, acc] })),
  accuracy: spread(0.7, 0.1, 0.6, 0.8, 3), macro_f1: spread(0.7, 0.1, 0.6, 0.8, 3), classes: ["negative", "positive"],
  per_class_f1: [{ class: "negative", f1: spread(0.7, 0.1, 0.6, 0.8, 3) }, { class: "positive", f1: spread(0.7, 0.1, 0.6, 0.8, 3) }],
};

describe("runs over seeds", () => {
  beforeEach(() => {
    mocked.recommendTuning.mockResolvedValue(RECOMMEND_FINETUNE);
    mocked.tuneDefaults.mockResolvedValue(HYPER);
    mocked.listRuns.mockResolvedValue([run("lmbff-seed-42", 0.8), run("lmbff-seed-21", 0.7), run("lmbff-seed-13", 0.6), run("run-1", 0.75)]);
    mocked.listSeedGroups.mockResolvedValue([GROUP]);
    mocked.seedGroup.mockResolvedValue(GROUP);
    mocked.runDetails.mockRejectedValue({ kind: "not-found", message: "not in this test" });
  });

  it("reads a list of seeds, and says what is wrong with one", () => {
    expect(parseSeeds("13, 21, 42, 87, 100")).toEqual({ seeds: [13, 21, 42, 87, 100] });
    expect(parseSeeds(" 1 2,3 ")).toEqual({ seeds: [1, 2, 3] });
    const error = (text: string) => ("error" in parseSeeds(text) ? (parseSeeds(text) as { error: string }).error : "");
    expect(error("")).toMatch(/^Give at least one seed/);
    expect(error("13, 13")).toBe("Seed 13 is given twice; each seed runs once.");
    expect(error("13, -1")).toMatch(/^“-1” is not a seed: seeds are whole numbers/);
    expect(error("1.5")).toMatch(/^“1.5” is not a seed/);
    expect(error(Array.from({ length: 101 }, (_, i) => i).join(","))).toBe("At most 100 seeds (there are 101).");
    expect(spreadText(GROUP.accuracy)).toBe("70.0 ± 10.0");
    expect([seedCount(GROUP), seedCount({ ...GROUP, finished: 1 })]).toEqual(["(3 seeds)", "(1 of 3 seeds)"]);
  });

  it("draws a dot per seed, equal values side by side, over the mean ± s.d. band", () => {
    const values = [{ seed: 13, value: 0 }, { seed: 21, value: 0 }, { seed: 42, value: 1 / 3 }];
    render(<SpreadStrip values={values} spread={spread(1 / 9, 0.19, 0, 1 / 3, 3)} what="Dev accuracy" />);
    const strip = screen.getByRole("img", { name: "Dev accuracy per seed: seed 13 0.0%, seed 21 0.0%, seed 42 33.3%" });
    // 0 to 100% across 4 … 116 px, the line at y 9.
    const dots = [...strip.querySelectorAll("circle")].map((c) => [Number(c.getAttribute("cx")).toFixed(2), c.getAttribute("cy")]);
    expect(dots).toEqual([["4.00", "9"], ["4.00", "6"], ["41.33", "9"]]);
    expect(strip.querySelector("rect")).not.toBeNull();
  });

  it("lists a group as one entry where its newest run stands", () => {
    const entries = runEntries([run("new", 0.5), run("lmbff-seed-42", 0.8), run("lmbff-seed-13", 0.6), run("old", 0.5)], [GROUP]);
    expect(entries.map((e) => (e.kind === "run" ? e.run.name : `group ${e.group.name}`))).toEqual(["new", "group lmbff", "old"]);
  });

  it("starts a group over the seeds typed, refusing a seed given twice, and explains the few-shot sample", async () => {
    const user = userEvent.setup();
    mocked.tuneOverSeeds.mockResolvedValue(GROUP);
    renderWithApp(<TuneScreen />, { project: PROJECT, model: MODEL, prompt: DEFAULT_PROMPT });
    await waitFor(() => expect(screen.getByTestId("tune-learning-rate")).toHaveValue("0.00002"));
    expect(screen.queryByTestId("tune-seeds")).toBeNull();
    await user.click(screen.getByTestId("tune-seeds-on"));
    expect(screen.getByTestId("tune-seeds")).toHaveValue("13, 21, 42, 87, 100");
    expect(screen.getByTestId("tune-start")).toHaveTextContent("Start 5 runs");
    await user.clear(screen.getByTestId("tune-seeds"));
    await user.type(screen.getByTestId("tune-seeds"), "13, 21, 13");
    expect(screen.getByTestId("tune-seeds-error")).toHaveTextContent("Seed 13 is given twice");
    expect(screen.getByTestId("tune-start")).toBeDisabled();
    await user.clear(screen.getByTestId("tune-seeds"));
    await user.type(screen.getByTestId("tune-seeds"), "13, 21, 42");
    expect(screen.queryByTestId("tune-seeds-error")).toBeNull();
    expect(screen.queryByTestId("tune-shots-hint")).toBeNull();
    await user.type(screen.getByTestId("tune-shots"), "16");
    expect(screen.getByTestId("tune-shots-hint")).toHaveTextContent("each seed draws its own sample of 16 rows per class");
    await user.clear(screen.getByTestId("tune-name"));
    await user.type(screen.getByTestId("tune-name"), "lmbff");
    await user.click(screen.getByTestId("tune-start"));
    await waitFor(() => expect(mocked.tuneOverSeeds).toHaveBeenCalledTimes(1));
    expect(mocked.tuneOverSeeds.mock.calls[0][1]).toMatchObject({ name: "lmbff", seeds: [13, 21, 42], shots: 16, resume: false, estimate: null });
    expect(mocked.startTuning).not.toHaveBeenCalled();
    expect(await screen.findByTestId("tune-group-details")).toHaveTextContent("Dev accuracy 70.0 ± 10.0 (3 seeds)");
  });

  it("shows a group as one row with its spread, expands to its runs, and compares it with a run side by side", async () => {
    const user = userEvent.setup();
    mocked.compareRuns.mockResolvedValue([{ key: "hyper.seed", a: "13", b: "5" }]);
    renderWithApp(<TuneScreen />, { project: PROJECT, model: MODEL });
    const group = await screen.findByTestId("tune-group-row");
    expect(group).toHaveTextContent("accuracy 70.0 ± 10.0 (3 seeds)");
    expect(within(group).getByRole("img", { name: "lmbff dev accuracy per seed: seed 13 60.0%, seed 21 70.0%, seed 42 80.0%" })).toBeInTheDocument();
    expect(within(group).getAllByTestId("spread-strip")[0].querySelectorAll("circle")).toHaveLength(3);
    expect(screen.getAllByTestId("tune-run-row").map((r) => r.textContent)).toEqual([expect.stringContaining("run-1")]);
    const toggle = screen.getByRole("button", { name: "Show the runs of lmbff" });
    toggle.focus();
    await user.keyboard("{Enter}");
    expect(toggle).toHaveAttribute("aria-expanded", "true");
    expect(screen.getAllByTestId("tune-run-row").map((r) => r.textContent?.split("finetune")[0])).toEqual(["lmbff-seed-13", "lmbff-seed-21", "lmbff-seed-42", "run-1"]);

    await user.click(group);
    const details = await screen.findByTestId("tune-group-details");
    expect(details).toHaveTextContent("each seed drew its own few-shot sample");
    expect(within(details).getByTestId("tune-group-spread")).toHaveTextContent("Accuracy70.0 ± 10.060.0%80.0%");
    expect(within(details).getByTestId("tune-group-spread")).toHaveTextContent("F1 positive70.0 ± 10.0");
    expect(within(details).getByTestId("tune-group-runs")).toHaveTextContent("21lmbff-seed-21finished70.0%70.0%70.0%70.0%");

    await user.selectOptions(screen.getByTestId("tune-compare-a"), "group:lmbff");
    await user.selectOptions(screen.getByTestId("tune-compare-b"), "run-1");
    await user.click(screen.getByTestId("tune-compare-go"));
    const side = await screen.findByTestId("tune-compare-spread");
    expect(side).toHaveTextContent("Accuracy (%)70.0 ± 10.0 (3 seeds)");
    expect(side).toHaveTextContent("75.0%");
    expect(mocked.compareRuns).toHaveBeenCalledWith("lmbff-seed-13", "run-1");
    expect(screen.getByTestId("tune-diff")).toHaveTextContent("lmbff (3 seeds)");
  });
});
