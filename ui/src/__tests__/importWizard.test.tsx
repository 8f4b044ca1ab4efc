import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { commands, type FilePreview, type ImportResult, type ImportSettings } from "../bindings";
import { ImportWizard } from "../screens/DataScreen";
import { LABEL_SET, PROJECT } from "../test/fixtures";
import { renderWithApp } from "../test/render";

vi.mock("../bindings", async () => (await import("../test/mockBindings")).mockBindings());
vi.mock("../lib/dialog", () => ({ pickPath: vi.fn(() => Promise.resolve("/picked/reviews.csv")), pickSavePath: vi.fn(() => Promise.resolve(null)) }));

const m = vi.mocked(commands);

function preview(settings: ImportSettings): FilePreview {
  const label = settings.label_column === null && settings.text_column !== null ? null : "label";
  return {
    path: "/data/reviews.csv", format: "csv", encoding: "utf-8", has_header: true, columns: ["id", "text", "label"],
    rows: [["1", "Great film", "positive"], ["2", "Dull", "negative"]],
    mapping: { text: settings.text_column ?? "text", text_b: null, label, id: settings.id_column ?? "id" },
    labels: label ? [{ value: "positive", count: 1 }, { value: "negative", count: 1 }] : [],
    rows_scanned: 2, notes: [],
  };
}

describe("ImportWizard", () => {
  beforeEach(() => vi.clearAllMocks());

  it("previews, remaps and imports", async () => {
    const user = userEvent.setup();
    m.previewFile.mockImplementation((_p: string, s: ImportSettings) => Promise.resolve(preview(s)));
    const result: ImportResult = {
      dataset: PROJECT.datasets[0], rows: 2, duplicates: 0, labels: 2, label_set: LABEL_SET,
      skipped: [{ line: 4, message: "unterminated quote" }], notes: ["2 label values"],
    };
    m.importDataset.mockResolvedValue(result);
    m.currentProject.mockResolvedValue(PROJECT);
    renderWithApp(<ImportWizard />, { project: PROJECT });

    expect(screen.getByText("Import a CSV, TSV or JSONL file to start")).toBeInTheDocument();
    await user.type(screen.getByTestId("import-path"), "/data/reviews.csv{Enter}");
    expect(m.previewFile).toHaveBeenCalledWith("/data/reviews.csv", expect.objectContaining({ format: "auto", has_header: null, text_column: null }));
    const table = await screen.findByTestId("preview-table");
    expect(table).toHaveTextContent("Great film");
    expect(screen.getByTestId("map-text")).toHaveValue("text");
    expect(screen.getByTestId("map-label")).toHaveValue("label");
    expect(screen.getByTestId("import-name")).toHaveValue("reviews");

    await user.selectOptions(screen.getByTestId("map-label"), "(none)");
    await waitFor(() => expect(m.previewFile).toHaveBeenCalledTimes(2));
    expect(m.previewFile).toHaveBeenLastCalledWith("/data/reviews.csv", expect.objectContaining({ text_column: "text", label_column: null }));
    const classes = await screen.findByTestId("import-classes");
    expect(screen.getByTestId("import-start")).toBeDisabled();
    await user.type(classes, "negative, positive");
    await user.selectOptions(screen.getByTestId("import-split"), "unlabelled");
    await user.click(screen.getByTestId("import-start"));

    await waitFor(() => expect(m.importDataset).toHaveBeenCalledTimes(1));
    const [job, req] = m.importDataset.mock.calls[0];
    expect(typeof job).toBe("string");
    expect(req).toMatchObject({ path: "/data/reviews.csv", name: "reviews", split: "unlabelled", classes: ["negative", "positive"] });
    expect(req.settings).toMatchObject({ text_column: "text", label_column: null, id_column: "id" });
    const summary = await screen.findByTestId("import-result");
    expect(summary).toHaveTextContent("Imported 2 rows");
    expect(summary).toHaveTextContent("unterminated quote");
  });

  it("Browse fills the path from the dialog", async () => {
    const user = userEvent.setup();
    renderWithApp(<ImportWizard />, { project: PROJECT });
    await user.click(screen.getByRole("button", { name: "Browse…" }));
    await waitFor(() => expect(screen.getByTestId("import-path")).toHaveValue("/picked/reviews.csv"));
  });

  it("shows a preview error in the banner", async () => {
    const user = userEvent.setup();
    m.previewFile.mockRejectedValue({ kind: "io", message: "No such file: /nope.csv" });
    renderWithApp(<ImportWizard />, { project: PROJECT });
    await user.type(screen.getByTestId("import-path"), "/nope.csv");
    await user.click(screen.getByTestId("import-preview"));
    expect(await screen.findByTestId("error-banner")).toHaveTextContent("No such file: /nope.csv");
    await user.click(screen.getByTestId("error-dismiss"));
    expect(screen.queryByTestId("error-banner")).toBeNull();
  });

  it("a cancelled import is a quiet notice, not an error", async () => {
    const user = userEvent.setup();
    m.previewFile.mockImplementation((_p: string, s: ImportSettings) => Promise.resolve(preview(s)));
    m.importDataset.mockRejectedValue({ kind: "cancelled", message: "cancelled" });
    renderWithApp(<ImportWizard />, { project: PROJECT });
    await user.type(screen.getByTestId("import-path"), "/data/reviews.csv{Enter}");
    await screen.findByTestId("preview-table");
    await user.click(screen.getByTestId("import-start"));
    expect(await screen.findByTestId("notice")).toHaveTextContent("cancelled");
    expect(screen.queryByTestId("error-banner")).toBeNull();
  });
});
