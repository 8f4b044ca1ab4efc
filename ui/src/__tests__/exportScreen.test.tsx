import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
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
});
