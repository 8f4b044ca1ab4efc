import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { commands, type LabelCheckView, type TablePage, type TableRow } from "../bindings";
import { LabelScreen } from "../label/LabelScreen";
import { checkSummary, evidence, LabelTable } from "../label/LabelTable";
import { PROJECT } from "../test/fixtures";
import { renderWithApp } from "../test/render";

vi.mock("../bindings", async () => (await import("../test/mockBindings")).mockBindings());

const m = vi.mocked(commands);

const CHECK: LabelCheckView = {
  id: 3, label_set_id: 7, model: "/models/all-MiniLM-L6-v2", options: { folds: 5, seed: 42 },
  created_at: "2026-12-05T11:40:02.123Z", rows_checked: 40, flagged: 2, confident: 1, still_suspicious: 2,
  thresholds: [{ class: "negative", prob: 0.71 }, { class: "positive", prob: 0.64 }],
};

function row(id: number, label: string, suggested: string, p_suggested: number, p_given: number, confident: boolean): TableRow {
  return {
    row: { id, position: id - 100, ext_id: String(id - 99), text_a: `text of row ${id}`, text_b: null, split: "train", label, label_source: "import" },
    suggestion: null,
    suspicion: { row_id: id, given: label, suggested, p_given, p_suggested, threshold: 0.71, confident },
  };
}

function page(rows: TableRow[], check: LabelCheckView | null = CHECK): TablePage {
  return { rows, total: rows.length, check };
}

const FLAGGED = [row(100, "positive", "negative", 0.93, 0.04, true), row(105, "negative", "positive", 0.55, 0.4, false)];

async function press(key: string, target: Window | HTMLElement = window) {
  await act(async () => {
    fireEvent.keyDown(target, { key });
  });
}

describe("label check in the label table", () => {
  beforeEach(() => {
    vi.clearAllMocks();
  });

  it("says the evidence and the check in words", () => {
    expect(evidence(FLAGGED[0].suspicion!)).toBe("model says negative at 0.93, your label positive at 0.04; threshold 0.71");
    expect(checkSummary(CHECK)).toBe(
      "Label check 2026-12-05 11:40:02 UTC, /models/all-MiniLM-L6-v2, 5 folds: 2 of 40 labelled rows suspicious (1 confidently). Thresholds: negative 0.71, positive 0.64.",
    );
    expect(checkSummary({ ...CHECK, still_suspicious: 1 })).toContain("; 1 not relabelled since.");
  });

  it("the Suspicious filter lists the flagged rows with their evidence; Enter relabels the highlighted one", async () => {
    m.labelTable.mockResolvedValue(page(FLAGGED));
    renderWithApp(<LabelTable labelSetId={7} runId={null} classes={["negative", "positive"]} />, { project: PROJECT });
    await screen.findByText("text of row 100");
    fireEvent.change(screen.getByTestId("label-table-filter"), { target: { value: "suspicious" } });
    await waitFor(() => expect(m.labelTable).toHaveBeenLastCalledWith(7, expect.objectContaining({ filter: "suspicious", offset: 0 })));
    expect(screen.getByTestId("label-check-summary")).toHaveTextContent("2 of 40 labelled rows suspicious (1 confidently)");
    const shown = screen.getAllByTestId("suspicion-evidence").map((e) => e.textContent);
    expect(shown).toEqual([evidence(FLAGGED[0].suspicion!), evidence(FLAGGED[1].suspicion!)]);
    const rows = screen.getAllByTestId("label-table-row");
    expect(within(rows[0]).getByText("confident")).toBeInTheDocument();
    expect(within(rows[1]).queryByText("confident")).toBeNull();
    expect(rows[0]).toHaveAttribute("aria-selected", "true");

    // ↓ highlights the second row, Enter accepts its suggestion; the table reloads.
    await press("ArrowDown");
    expect(screen.getAllByTestId("label-table-row")[1]).toHaveAttribute("aria-selected", "true");
    m.acceptCheckSuggestion.mockResolvedValue({ ...FLAGGED[1].row, label: "positive", label_source: "human" });
    m.labelTable.mockResolvedValue(page([FLAGGED[0]], { ...CHECK, still_suspicious: 1 }));
    const calls = m.labelTable.mock.calls.length;
    await press("Enter");
    expect(m.acceptCheckSuggestion).toHaveBeenCalledWith(7, 105);
    expect(await screen.findByText("Row 6 relabelled positive")).toBeInTheDocument();
    await waitFor(() => expect(screen.getAllByTestId("label-table-row")).toHaveLength(1));
    expect(m.labelTable.mock.calls.length).toBe(calls + 1);
    // Keys typed into a field are the field's.
    await press("Enter", screen.getByTestId("bulk-accept"));
    expect(m.acceptCheckSuggestion).toHaveBeenCalledTimes(1);
  });

  it("a refused relabel shows why and reloads the rows as they are", async () => {
    const user = userEvent.setup();
    m.labelTable.mockResolvedValue(page(FLAGGED));
    renderWithApp(<LabelTable labelSetId={7} runId={null} classes={["negative", "positive"]} checkEpoch={1} />, { project: PROJECT });
    await screen.findByText("text of row 100");
    expect(m.labelTable).toHaveBeenCalledWith(7, expect.objectContaining({ filter: "suspicious" }));
    const message = "this row is not suspicious any more: its label changed since the check, or the newest check did not flag it; reload the table, or run Check labels again";
    m.acceptCheckSuggestion.mockRejectedValue({ kind: "precondition", message });
    m.labelTable.mockResolvedValue(page([FLAGGED[1]]));
    await user.click(screen.getAllByTestId("accept-check-suggestion")[0]);
    expect(await screen.findByTestId("error-banner")).toHaveTextContent("not suspicious any more");
    await waitFor(() => expect(screen.getAllByTestId("label-table-row")).toHaveLength(1));
  });

  it("Check labels runs a job with the folds asked for, then shows the Suspicious rows", async () => {
    const user = userEvent.setup();
    m.labelState.mockResolvedValue(null);
    m.runs.mockResolvedValue([]);
    m.labelTable.mockResolvedValue(page(FLAGGED));
    m.checkLabels.mockResolvedValue(CHECK);
    renderWithApp(<LabelScreen active />, { project: PROJECT, screen: "label" });
    await screen.findByTestId("label-not-started");
    fireEvent.change(screen.getByTestId("check-folds"), { target: { value: "3" } });
    await user.click(screen.getByTestId("check-labels"));
    await waitFor(() => expect(m.checkLabels).toHaveBeenCalledWith(expect.any(String), PROJECT.label_sets[0].id, { folds: 3, seed: 42 }));
    expect(await screen.findByText(/Labels checked: 2 of 40 labelled rows suspicious \(1 confidently\)/)).toBeInTheDocument();
    await screen.findByTestId("label-table");
    await waitFor(() => expect(m.labelTable).toHaveBeenCalledWith(PROJECT.label_sets[0].id, expect.objectContaining({ filter: "suspicious" })));
    expect(screen.getByTestId("label-table-filter")).toHaveValue("suspicious");
  });

  it("a check refused for too few labelled rows says what to do", async () => {
    const user = userEvent.setup();
    m.labelState.mockResolvedValue(null);
    m.runs.mockResolvedValue([]);
    const message = "checking labels needs at least two labelled classes with 2 rows each and 10 rows in all (for 5 folds); there are 4 (1 1, 1 2, 1 3, 1 4) — label more rows first";
    m.checkLabels.mockRejectedValue({ kind: "precondition", message });
    renderWithApp(<LabelScreen active />, { project: PROJECT, screen: "label" });
    await screen.findByTestId("label-not-started");
    await user.click(screen.getByTestId("check-labels"));
    expect(await screen.findByTestId("error-banner")).toHaveTextContent("label more rows first");
    expect(screen.queryByTestId("label-table")).toBeNull();
    expect(screen.getByTestId("check-labels")).toBeEnabled();
  });
});
