import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { commands, type EnsembleView, type LabelSetInfo, type PromptVersion } from "../bindings";
import { EnsemblePanel, fitBlocker } from "../prompt/EnsemblePanel";
import { LABEL_SET, PROJECT } from "../test/fixtures";
import { renderWithApp } from "../test/render";

vi.mock("../bindings", async () => (await import("../test/mockBindings")).mockBindings());

const m = vi.mocked(commands);
const SET: LabelSetInfo = { ...LABEL_SET, labelled: 8, by_class: [{ class: "negative", count: 4 }, { class: "positive", count: 4 }] };

function version(id: number, name: string, classes = ["negative", "positive"]): PromptVersion {
  return { template_id: id, verbalizer_id: id + 100, name, version: 1, verbalizer_version: 1, label: `${name} v1`, template: `{text_a} ${name} {mask}.`, classes, chat: false };
}

const FITTED: EnsembleView = {
  id: null, name: null, version: null, created_at: null, classes: ["negative", "positive"], weighting: "learned", rows: 8,
  members: [
    { name: "a v1", template: "{text_a} a {mask}.", accuracy: 0.625, weight: 0.4545 },
    { name: "b v1", template: "{text_a} b {mask}.", accuracy: 0.75, weight: 0.5455 },
  ],
  weightings: [
    { weighting: "uniform", accuracy: 0.75, macro_f1: 0.74, cross_validated: false, chosen: false },
    { weighting: "dev-accuracy", accuracy: 0.75, macro_f1: 0.74, cross_validated: false, chosen: false },
    { weighting: "learned", accuracy: 0.875, macro_f1: 0.87, cross_validated: true, chosen: true },
  ],
  note: null,
  disagreements: [{ row_id: 11, text: "Not bad at all", label: "positive", members: ["negative", "positive"], ensemble: "positive" }],
  disagreement_count: 1,
  json: "{\"format\":1}",
};

describe("EnsemblePanel", () => {
  beforeEach(() => {
    vi.clearAllMocks();
    m.promptVersions.mockResolvedValue([version(1, "a"), version(2, "b"), version(3, "topic", ["x", "y"])]);
    m.ensembles.mockResolvedValue([]);
  });

  it("says what stops a fit, in the order to fix it", () => {
    const base = { hasModel: true, labelSet: SET, ticked: 2, weighting: "learned" as const };
    expect(fitBlocker({ ...base, hasModel: false })).toMatch(/Load a model/);
    expect(fitBlocker({ ...base, ticked: 1 })).toMatch(/two or more/);
    expect(fitBlocker({ ...base, labelSet: LABEL_SET })).toBe("Learned needs ≥5 labelled rows with 2 per class; label more, or use uniform or dev accuracy.");
    expect(fitBlocker({ ...base, labelSet: LABEL_SET, weighting: "uniform" })).toBeNull();
    expect(fitBlocker(base)).toBeNull();
  });

  it("fits the ticked prompts, shows members and weightings side by side, saves and scores rows", async () => {
    const user = userEvent.setup();
    m.fitEnsemble.mockResolvedValue(FITTED);
    m.saveEnsemble.mockResolvedValue({ ...FITTED, id: 5, name: "mix", version: 1, created_at: "2026-01-01", disagreements: [], disagreement_count: null });
    m.scoreRowsWithEnsemble.mockResolvedValue({ id: 9, kind: "ensemble", status: "finished", started_at: "", finished_at: "", error: null, template: "ensemble mix v1", verbalizer: null });
    renderWithApp(<EnsemblePanel labelSet={SET} hasModel refreshKey={PROJECT} />, { project: PROJECT });

    const boxes = await screen.findAllByTestId("ensemble-member");
    expect(boxes).toHaveLength(3);
    expect(boxes[2]).toBeDisabled();
    const fitButton = screen.getByTestId("fit-ensemble");
    expect(fitButton).toBeDisabled();
    expect(screen.getByTestId("fit-blocker")).toHaveTextContent("two or more");
    await user.click(boxes[0]);
    await user.click(boxes[1]);
    await user.click(screen.getByTestId("weighting-learned"));
    expect(screen.getByTestId("ensemble-weighting")).toHaveTextContent("cross-validated");
    expect(fitButton).toBeEnabled();
    await user.click(fitButton);

    await waitFor(() => expect(m.fitEnsemble).toHaveBeenCalledTimes(1));
    const [, request] = m.fitEnsemble.mock.calls[0];
    expect(request).toEqual({ label_set_id: SET.id, members: [{ template_id: 1, verbalizer_id: 101 }, { template_id: 2, verbalizer_id: 102 }], weighting: "learned", calibrate: false });
    const table = await screen.findByTestId("ensemble-table");
    expect(within(table).getAllByTestId("ensemble-member-row").map((r) => r.textContent)).toEqual(["a v162.5%—0.455", "b v175.0%—0.545"]);
    const weightings = within(table).getAllByTestId("ensemble-weighting-row");
    expect(weightings).toHaveLength(3);
    expect(weightings[2]).toHaveTextContent("out-of-fold");
    expect(weightings[2]).toHaveTextContent("in use");
    expect(weightings[2]).toHaveTextContent("87.5%");
    const row = screen.getByTestId("disagreement-row");
    expect(row).toHaveTextContent("Not bad at all");
    expect(screen.getByTestId("disagreements")).toHaveTextContent("disagree on 1 of 8 rows");

    expect(screen.getByTestId("score-with-ensemble")).toBeDisabled();
    await user.type(screen.getByTestId("ensemble-name"), "mix{Enter}");
    await waitFor(() => expect(m.saveEnsemble).toHaveBeenCalledWith("mix", FITTED.json));
    expect(await screen.findByTestId("ensemble-saved")).toHaveTextContent("saved as mix v1");
    expect(screen.getByTestId("disagreement-row")).toBeInTheDocument();
    await user.click(screen.getByTestId("score-with-ensemble"));
    await waitFor(() => expect(m.scoreRowsWithEnsemble).toHaveBeenCalledWith(expect.any(String), SET.id, 5));
    expect(await screen.findByText(/run #9/)).toBeInTheDocument();
  });

  it("lists saved ensembles; export writes one to the file chosen, delete removes one", async () => {
    const user = userEvent.setup();
    const saved = { ...FITTED, id: 5, name: "mix", version: 2, created_at: "2026-01-01", disagreements: [], disagreement_count: null };
    m.ensembles.mockResolvedValue([saved]);
    m.deleteEnsemble.mockResolvedValue([]);
    renderWithApp(<EnsemblePanel labelSet={SET} hasModel refreshKey={PROJECT} />, { project: PROJECT });
    const list = await screen.findByTestId("saved-ensembles");
    expect(list).toHaveTextContent("mix v2");
    expect(list).toHaveTextContent("87.5% out-of-fold");
    await user.click(within(list).getByText("Show"));
    expect(screen.getByTestId("disagreements")).toHaveTextContent("Fit these prompts again");
    m.pickPath.mockResolvedValue("/tmp/mix-v2.json");
    m.exportEnsemble.mockResolvedValue("/tmp/mix-v2.json");
    await user.click(within(list).getByRole("button", { name: "Export mix v2" }));
    await waitFor(() => expect(m.exportEnsemble).toHaveBeenCalledWith(5, "/tmp/mix-v2.json"));
    expect(m.pickPath.mock.calls[0][0]).toMatchObject({ purpose: "export-file", default_path: "mix-v2.json" });
    expect(await screen.findByTestId("notice")).toHaveTextContent("Wrote /tmp/mix-v2.json; classify with it: cloze classify --model MODEL --ensemble /tmp/mix-v2.json");
    await user.click(within(list).getByRole("button", { name: "Delete mix v2" }));
    await waitFor(() => expect(m.deleteEnsemble).toHaveBeenCalledWith(5));
    await waitFor(() => expect(screen.queryByTestId("saved-ensembles")).not.toBeInTheDocument());
  });
});
