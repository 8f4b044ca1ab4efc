import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { commands } from "../bindings";
import { ExportScreen } from "../screens/ExportScreen";
import { PROJECT } from "../test/fixtures";
import { renderWithApp } from "../test/render";

vi.mock("../bindings", async () => (await import("../test/mockBindings")).mockBindings());
vi.mock("../lib/dialog", () => ({ pickPath: vi.fn(() => Promise.resolve(null)), pickSavePath: vi.fn(() => Promise.resolve(null)) }));

const RUNS = [
  { name: "run-1", strategy: "finetune", model: "m", status: "finished", steps: 2, dev_accuracy: 0.5, dev_macro_f1: 0.5, seconds: 1 },
  { name: "soft-1", strategy: "soft-prompt", model: "m", status: "finished", steps: 2, dev_accuracy: 0.5, dev_macro_f1: 0.5, seconds: 1 },
];

describe("ExportScreen", () => {
  beforeEach(() => {
    vi.mocked(commands).listRuns.mockResolvedValue(RUNS as never);
  });

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

  it("exports one run in each form, and a report of several runs, as jobs", async () => {
    const user = userEvent.setup();
    const m = vi.mocked(commands);
    m.exportRun.mockImplementation((_job: string, request: { path: string; kind: string }) =>
      Promise.resolve({ path: request.path, kind: request.kind, message: `wrote ${request.kind}` }) as never);
    renderWithApp(<ExportScreen />, { project: PROJECT, screen: "export" });
    await user.click(await screen.findByTestId("run-export-run-soft-1"));
    const cases: [string, RegExp][] = [
      ["peft", /PeftModel\.from_pretrained/],
      ["model", /model card/],
      ["job", /accelerate launch/],
      ["openprompt", /label_words\.json/],
    ];
    for (const [kind, help] of cases) {
      await user.selectOptions(screen.getByTestId("run-export-kind"), kind);
      expect(screen.getByTestId("run-export-help")).toHaveTextContent(help);
    }
    await user.selectOptions(screen.getByTestId("run-export-kind"), "peft");
    await user.type(screen.getByTestId("run-export-path"), "/tmp/adapter");
    await user.click(screen.getByTestId("run-export-start"));
    expect(await screen.findByTestId("run-export-result")).toHaveTextContent("/tmp/adapter: wrote peft");
    expect(m.exportRun.mock.calls[0][1]).toEqual({ runs: ["soft-1"], kind: "peft", path: "/tmp/adapter", replace: false });
    expect(screen.queryByTestId("run-export-open")).toBeNull();

    // A report takes several runs.
    await user.selectOptions(screen.getByTestId("run-export-kind"), "report");
    await user.click(screen.getByTestId("run-export-run-run-1"));
    await user.clear(screen.getByTestId("run-export-path"));
    await user.type(screen.getByTestId("run-export-path"), "/tmp/report.html");
    await user.click(screen.getByTestId("run-export-replace"));
    await user.click(screen.getByTestId("run-export-start"));
    await screen.findByText(/wrote report/);
    expect(m.exportRun.mock.calls[1][1]).toEqual({ runs: ["soft-1", "run-1"], kind: "report", path: "/tmp/report.html", replace: true });
    expect(screen.queryByTestId("error-banner")).toBeNull();
  });

  it("opens a report it just wrote in the browser, from the keyboard, and shows why when it cannot", async () => {
    const user = userEvent.setup();
    const m = vi.mocked(commands);
    m.exportRun.mockImplementation((_job: string, request: { path: string; kind: string }) =>
      Promise.resolve({ path: request.path, kind: request.kind, message: "wrote the report" }) as never);
    m.openReport.mockResolvedValueOnce(null as never);
    renderWithApp(<ExportScreen />, { project: PROJECT, screen: "export" });
    await user.selectOptions(screen.getByTestId("run-export-kind"), "report");
    await user.click(await screen.findByTestId("run-export-run-run-1"));
    await user.type(screen.getByTestId("run-export-path"), "/tmp/report.html");
    await user.click(screen.getByTestId("run-export-start"));
    await screen.findByTestId("run-export-open");
    // The next stop after Export is the button.
    await user.tab();
    expect(screen.getByTestId("run-export-open")).toHaveFocus();
    await user.keyboard("{Enter}");
    expect(m.openReport).toHaveBeenCalledWith("/tmp/report.html");
    expect(screen.queryByTestId("error-banner")).toBeNull();
    // A launcher that fails: its message in the error banner.
    m.openReport.mockRejectedValueOnce({ kind: "unavailable", message: "could not open /tmp/report.html in a browser: xdg-open did not start; open the file by hand in your browser" });
    await user.click(screen.getByTestId("run-export-open"));
    expect(await screen.findByTestId("error-banner")).toHaveTextContent("open the file by hand");
  });

  it("imports a PEFT adapter as a run with the prompt's template and label words", async () => {
    const user = userEvent.setup();
    const m = vi.mocked(commands);
    m.importPrompt.mockImplementation((_job: string, request: { name: string }) => Promise.resolve({ ...RUNS[1], name: request.name }) as never);
    renderWithApp(<ExportScreen />, { project: PROJECT });
    await user.type(screen.getByTestId("prompt-import-path"), "/tmp/adapter");
    await user.clear(screen.getByTestId("prompt-import-name"));
    await user.type(screen.getByTestId("prompt-import-name"), "from-peft");
    await user.click(screen.getByTestId("prompt-import-start"));
    expect(await screen.findByTestId("prompt-import-result")).toHaveTextContent("Imported as the run from-peft");
    expect(m.importPrompt.mock.calls[0][1]).toMatchObject({ path: "/tmp/adapter", name: "from-peft" });
    expect(m.importPrompt.mock.calls[0][1].template).toContain("{mask}");
  });
});
