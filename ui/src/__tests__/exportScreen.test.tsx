import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { commands } from "../bindings";
import { ExportScreen } from "../screens/ExportScreen";
import { PROJECT } from "../test/fixtures";
import { renderWithApp } from "../test/render";

vi.mock("../bindings", async () => (await import("../test/mockBindings")).mockBindings());
vi.mock("../lib/dialog", () => ({ pickPath: vi.fn(() => Promise.resolve(null)), pickSavePath: vi.fn(() => Promise.resolve(null)) }));

describe("ExportScreen", () => {
  it("describes the real columns of each format", async () => {
    const user = userEvent.setup();
    renderWithApp(<ExportScreen />, { project: PROJECT });
    const help = screen.getByTestId("export-format-help");
    expect(help).toHaveTextContent("id, split, text_a, text_b, label, source, confidence, annotator, created_at, run_id, then the source file's other columns");
    await user.selectOptions(screen.getByTestId("export-format"), "jsonl");
    expect(help).toHaveTextContent("plus meta");
    await user.selectOptions(screen.getByTestId("export-format"), "hf-jsonl");
    expect(help).toHaveTextContent("text, text_b, label (the class index) and label_text");
  });

  it("asks before replacing an existing file, and replaces only when told to", async () => {
    const user = userEvent.setup();
    const m = vi.mocked(commands);
    m.exportLabels.mockImplementation((request: { replace: boolean; path: string }) =>
      request.replace
        ? Promise.resolve({ path: request.path, written: 3, filtered_out: 0 })
        : Promise.reject({ kind: "already-exists", message: `\`${request.path}\` already exists; choose another name, or confirm “Replace” to replace it` }));
    renderWithApp(<ExportScreen />, { project: PROJECT });
    await user.type(screen.getByTestId("export-path"), "/tmp/labels.csv");
    await user.click(screen.getByTestId("export-start"));
    expect(await screen.findByTestId("export-confirm-replace")).toHaveTextContent("/tmp/labels.csv exists — Replace?");
    expect(m.exportLabels).toHaveBeenCalledTimes(1);
    expect(m.exportLabels.mock.calls[0][0]).toMatchObject({ path: "/tmp/labels.csv", replace: false });
    expect(screen.queryByTestId("export-result")).toBeNull();
    // Cancel keeps the file: nothing more is sent.
    await user.click(screen.getByTestId("export-keep"));
    expect(screen.queryByTestId("export-confirm-replace")).toBeNull();
    expect(m.exportLabels).toHaveBeenCalledTimes(1);
    // Asked again, Replace sends the same request with replace set.
    await user.click(screen.getByTestId("export-start"));
    await user.click(await screen.findByTestId("export-replace"));
    expect(m.exportLabels).toHaveBeenCalledTimes(3);
    expect(m.exportLabels.mock.calls[2][0]).toMatchObject({ path: "/tmp/labels.csv", replace: true });
    expect(await screen.findByTestId("export-result")).toHaveTextContent("Wrote 3 rows");
    expect(screen.queryByTestId("error-banner")).toBeNull();
  });
});
