import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { commands, type FilePreview, type ImportResult, type ImportSettings } from "../bindings";
import { DataScreen } from "../screens/DataScreen";
import { ImportWizard } from "../screens/ImportWizard";
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
    expect(m.previewFile).toHaveBeenCalledWith("/data/reviews.csv", expect.objectContaining({ format: "auto", has_header: null, text_column: null, explicit_columns: false }));
    const table = await screen.findByTestId("preview-table");
    expect(table).toHaveTextContent("Great film");
    expect(screen.getByTestId("map-text")).toHaveValue("text");
    expect(screen.getByTestId("map-label")).toHaveValue("label");
    expect(screen.getByTestId("import-name")).toHaveValue("reviews");

    await user.selectOptions(screen.getByTestId("map-label"), "(none)");
    await waitFor(() => expect(m.previewFile).toHaveBeenCalledTimes(2));
    expect(m.previewFile).toHaveBeenLastCalledWith("/data/reviews.csv", expect.objectContaining({ text_column: "text", label_column: null, explicit_columns: true }));
    const classes = await screen.findByTestId("import-classes");
    expect(screen.getByTestId("import-start")).toBeDisabled();
    await user.type(classes, "negative, positive");
    await user.selectOptions(screen.getByTestId("import-split"), "unlabelled");
    await user.click(screen.getByTestId("import-start"));

    await waitFor(() => expect(m.importDataset).toHaveBeenCalledTimes(1));
    const [job, req] = m.importDataset.mock.calls[0];
    expect(typeof job).toBe("string");
    expect(req).toMatchObject({ path: "/data/reviews.csv", name: "reviews", split: "unlabelled", classes: ["negative", "positive"] });
    expect(req.settings).toMatchObject({ text_column: "text", label_column: null, id_column: "id", explicit_columns: true });
    const summary = await screen.findByTestId("import-result");
    expect(summary).toHaveTextContent("Imported 2 rows");
    expect(summary).toHaveTextContent("unterminated quote");

    // The wizard folds away after the import; "Import another file" reopens it, cleared.
    expect(screen.queryByTestId("preview-table")).toBeNull();
    expect(screen.queryByTestId("import-path")).toBeNull();
    await user.click(screen.getByTestId("import-another"));
    expect(screen.getByTestId("import-path")).toHaveValue("");
    expect(screen.queryByTestId("import-result")).toBeNull();
    expect(screen.getByText("Import a CSV, TSV or JSONL file to start")).toBeInTheDocument();
  });

  it("keeps the user's mapping: (none) for the label column is not re-guessed", async () => {
    const user = userEvent.setup();
    // A backend that always guesses a label column unless told the columns are explicit.
    m.previewFile.mockImplementation((_p: string, s: ImportSettings) => Promise.resolve({
      ...preview(s),
      mapping: s.explicit_columns
        ? { text: s.text_column, text_b: s.text_b_column, label: s.label_column, id: s.id_column }
        : { text: "text", text_b: null, label: "label", id: "id" },
    }));
    renderWithApp(<ImportWizard />, { project: PROJECT });
    await user.type(screen.getByTestId("import-path"), "/data/reviews.csv{Enter}");
    await screen.findByTestId("preview-table");
    await user.selectOptions(screen.getByTestId("map-label"), "(none)");
    await waitFor(() => expect(m.previewFile).toHaveBeenCalledTimes(2));
    await waitFor(() => expect(screen.getByTestId("import-preview")).toHaveTextContent("Preview"));
    expect(screen.getByTestId("map-label")).toHaveValue("(none)");
    // Pressing Preview again sends the mapping as shown, too.
    await user.click(screen.getByTestId("import-preview"));
    await waitFor(() => expect(m.previewFile).toHaveBeenCalledTimes(3));
    expect(m.previewFile).toHaveBeenLastCalledWith("/data/reviews.csv", expect.objectContaining({ label_column: null, text_column: "text", explicit_columns: true }));
    expect(screen.getByTestId("map-label")).toHaveValue("(none)");
  });

  it("does not take the backend's mapping after the first preview", async () => {
    const user = userEvent.setup();
    m.previewFile.mockImplementation((_p: string, s: ImportSettings) => Promise.resolve({ ...preview(s), mapping: { text: "text", text_b: null, label: "label", id: "id" } }));
    renderWithApp(<ImportWizard />, { project: PROJECT });
    await user.type(screen.getByTestId("import-path"), "/data/reviews.csv{Enter}");
    await screen.findByTestId("preview-table");
    await user.selectOptions(screen.getByTestId("map-id"), "(none)");
    await waitFor(() => expect(m.previewFile).toHaveBeenCalledTimes(2));
    await waitFor(() => expect(screen.getByTestId("import-preview")).toHaveTextContent("Preview"));
    expect(screen.getByTestId("map-id")).toHaveValue("(none)");
  });

  it("a headerless file with no guessed text column: Import is disabled with a hint until a text column is chosen", async () => {
    const user = userEvent.setup();
    m.previewFile.mockImplementation((_p: string, s: ImportSettings) => Promise.resolve({
      path: "/data/news.csv", format: "csv", encoding: "utf-8", has_header: false, columns: ["column_1", "column_2", "column_3"],
      rows: [["3", "Wall St.", "Reuters - Short-sellers"]],
      mapping: s.explicit_columns ? { text: s.text_column, text_b: s.text_b_column, label: s.label_column, id: s.id_column } : { text: null, text_b: null, label: null, id: null },
      labels: [], rows_scanned: 1, notes: s.text_column ? [] : ["Choose the column that holds the text…"],
    }));
    renderWithApp(<ImportWizard />, { project: PROJECT });
    await user.type(screen.getByTestId("import-path"), "/data/news.csv{Enter}");
    await screen.findByTestId("preview-table");
    await user.type(screen.getByTestId("import-classes"), "1, 2, 3, 4");
    expect(screen.getByTestId("import-start")).toBeDisabled();
    expect(screen.getByTestId("import-text-hint")).toHaveTextContent("Choose the column that holds the text");
    await user.selectOptions(screen.getByTestId("map-text"), "column_3");
    await waitFor(() => expect(m.previewFile).toHaveBeenLastCalledWith("/data/news.csv", expect.objectContaining({ text_column: "column_3", label_column: null, explicit_columns: true })));
    await waitFor(() => expect(screen.getByTestId("import-start")).toBeEnabled());
    expect(screen.queryByTestId("import-text-hint")).toBeNull();
    expect(screen.getByTestId("map-text")).toHaveValue("column_3");
  });

  it("changing the format after a preview re-runs it (debounced) with a fresh guess", async () => {
    const user = userEvent.setup();
    m.previewFile.mockImplementation((_p: string, s: ImportSettings) => Promise.resolve(preview(s)));
    renderWithApp(<ImportWizard />, { project: PROJECT });
    await user.type(screen.getByTestId("import-path"), "/data/reviews.csv{Enter}");
    await screen.findByTestId("preview-table");
    await user.selectOptions(screen.getByTestId("map-id"), "(none)");
    await user.selectOptions(screen.getByTestId("import-format"), "tsv");
    await user.selectOptions(screen.getByTestId("import-header"), "yes");
    // Quick changes make one preview, and it guesses again.
    await waitFor(() => expect(m.previewFile).toHaveBeenCalledTimes(2));
    expect(m.previewFile).toHaveBeenLastCalledWith("/data/reviews.csv", expect.objectContaining({ format: "tsv", has_header: true, text_column: null, explicit_columns: false }));
    await waitFor(() => expect(screen.getByTestId("map-id")).toHaveValue("id"));
  });

  it("before any preview, changing the format does not read the file", async () => {
    const user = userEvent.setup();
    renderWithApp(<ImportWizard />, { project: PROJECT });
    await user.type(screen.getByTestId("import-path"), "/data/reviews.csv");
    await user.selectOptions(screen.getByTestId("import-format"), "csv");
    await new Promise((r) => setTimeout(r, 400));
    expect(m.previewFile).not.toHaveBeenCalled();
  });

  it("Browse fills the path from the dialog", async () => {
    const user = userEvent.setup();
    renderWithApp(<ImportWizard />, { project: PROJECT });
    await user.click(screen.getByRole("button", { name: "Browse…" }));
    await waitFor(() => expect(screen.getByTestId("import-path")).toHaveValue("/picked/reviews.csv"));
  });

  it("shows a preview error in the banner", async () => {
    const user = userEvent.setup();
    m.previewFile.mockRejectedValue({ kind: "not-found", message: "No such file: /nope.csv" });
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

describe("DataScreen", () => {
  beforeEach(() => vi.clearAllMocks());

  it("after an import selects the new dataset and shows its stats; no labels → \"No labels yet\", no label chart", async () => {
    const user = userEvent.setup();
    m.previewFile.mockImplementation((_p: string, s: ImportSettings) => Promise.resolve(preview(s)));
    const dataset = { ...PROJECT.datasets[0], id: 9, name: "news" };
    m.importDataset.mockResolvedValue({ dataset, rows: 10, duplicates: 0, labels: 0, label_set: null, skipped: [], notes: [] });
    m.currentProject.mockResolvedValue({ ...PROJECT, datasets: [...PROJECT.datasets, dataset] });
    m.datasetStats.mockImplementation((id: number) => Promise.resolve({
      dataset_id: id, rows: 10, splits: [{ split: "train", rows: 10 }], labels: [{ class: "neg", count: 0 }, { class: "pos", count: 0 }], unlabelled: 10, length_unit: "words",
      lengths: null, length_sample: 10, label_chart_svg: null, length_chart_svg: "<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>",
    }));
    m.rowsPage.mockResolvedValue({ rows: [], total: 0 });
    renderWithApp(<DataScreen />, { project: PROJECT, screen: "data" });
    await user.type(screen.getByTestId("import-path"), "/data/reviews.csv{Enter}");
    await screen.findByTestId("preview-table");
    await user.click(screen.getByTestId("import-start"));
    await screen.findByTestId("import-result");
    await waitFor(() => expect(m.datasetStats).toHaveBeenCalledWith(9, null));
    const stats = await screen.findByTestId("dataset-stats");
    expect(screen.getByTestId("no-labels")).toHaveTextContent("No labels yet");
    expect(screen.getByTestId("no-labels")).toHaveTextContent("Classes neg, pos");
    expect(stats.querySelectorAll("img")).toHaveLength(1);
    expect(screen.getByRole("img", { name: "Text length chart" })).toBeInTheDocument();
    expect(screen.queryByTestId("preview-table")).toBeNull();
  });
});
