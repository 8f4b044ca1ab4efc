import { act, fireEvent, screen, waitFor } from "@testing-library/react";
import { render } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { commands } from "../bindings";
import App, { screenShortcut } from "../App";
import { PROJECT } from "../test/fixtures";

vi.mock("../bindings", async () => (await import("../test/mockBindings")).mockBindings());
vi.mock("../lib/dialog", () => ({ pickPath: vi.fn(() => Promise.resolve(null)), pickSavePath: vi.fn(() => Promise.resolve(null)) }));

const m = vi.mocked(commands);

describe("App", () => {
  beforeEach(() => {
    vi.clearAllMocks();
    m.currentProject.mockResolvedValue(null);
    m.currentModel.mockResolvedValue(null);
    m.recentProjects.mockResolvedValue([
      { path: "/tmp/old.cloze", name: "old", opened_at: "2026-11-20", exists: true },
      { path: "/tmp/gone.cloze", name: "gone", opened_at: "2026-11-01", exists: false },
    ]);
    m.devices.mockResolvedValue([{ kind: "cpu", available: true, note: null }, { kind: "cuda", available: false, note: "no CUDA device" }]);
    m.cachedModels.mockResolvedValue([]);
  });

  it("shows empty states, creates a project and lands on Data", async () => {
    const user = userEvent.setup();
    m.createProject.mockResolvedValue(PROJECT);
    render(<App />);
    expect(screen.getByTestId("project-name")).toHaveTextContent("No project open");
    expect(screen.getByText("No project open — create one or open a recent project")).toBeInTheDocument();
    const recent = await screen.findByTestId("recent-list");
    expect(recent).toHaveTextContent("old");
    expect(screen.getByRole("button", { name: /^gone/ })).toBeDisabled();

    await user.type(screen.getByTestId("project-path"), "/tmp/demo.cloze");
    await user.click(screen.getByTestId("project-create"));
    expect(m.createProject).toHaveBeenCalledWith("/tmp/demo.cloze");
    await waitFor(() => expect(screen.getByTestId("project-name")).toHaveTextContent("demo"));
    expect(await screen.findByTestId("import-path")).toBeVisible();
    // The path box is cleared, so Create cannot be pressed twice by accident.
    expect(screen.getByTestId("project-path")).toHaveValue("");
    expect(screen.getByTestId("project-create")).toBeDisabled();
    expect(screen.getByText("Import a CSV, TSV or JSONL file to start")).toBeVisible();
  });

  it("closes the project with project-close and reopens it from the recent list", async () => {
    const user = userEvent.setup();
    m.currentProject.mockResolvedValue(PROJECT);
    m.closeProject.mockResolvedValue(null);
    m.openProject.mockResolvedValue(PROJECT);
    render(<App />);
    await waitFor(() => expect(screen.getByTestId("project-name")).toHaveTextContent("demo"));
    await user.click(screen.getByTestId("project-close"));
    await waitFor(() => expect(screen.getByTestId("project-name")).toHaveTextContent("No project open"));
    const opens = await screen.findAllByTestId("recent-open");
    expect(opens).toHaveLength(2);
    await user.click(opens[0]);
    expect(m.openProject).toHaveBeenCalledWith("/tmp/old.cloze");
    await waitFor(() => expect(screen.getByTestId("project-name")).toHaveTextContent("demo"));
  });

  it("forgets a missing recent project", async () => {
    const user = userEvent.setup();
    m.forgetRecentProject.mockResolvedValue([{ path: "/tmp/old.cloze", name: "old", opened_at: "2026-11-20", exists: true }]);
    render(<App />);
    await user.click(await screen.findByRole("button", { name: "Forget gone" }));
    expect(m.forgetRecentProject).toHaveBeenCalledWith("/tmp/gone.cloze");
    await waitFor(() => expect(screen.getByTestId("recent-list")).not.toHaveTextContent("gone"));
  });

  it("Alt+3 switches to the Model screen with devices listed", async () => {
    render(<App />);
    await act(async () => {
      fireEvent.keyDown(window, { key: "3", code: "Digit3", altKey: true });
    });
    const select = await screen.findByTestId("device-select");
    expect(select).toBeVisible();
    await waitFor(() => expect(screen.getByRole("option", { name: /CUDA/ })).toBeDisabled());
    expect(screen.getByTestId("header-model")).toHaveTextContent("No model loaded");
    expect(screen.getByText("No model loaded", { selector: ".empty-title" })).toBeVisible();
  });

  it("an error from a command shows in the banner and can be dismissed", async () => {
    const user = userEvent.setup();
    m.openProject.mockRejectedValue({ kind: "invalid-input", message: "not a Cloze Studio project: /tmp/x.txt" });
    render(<App />);
    await user.type(screen.getByTestId("project-path"), "/tmp/x.txt{Enter}");
    expect(await screen.findByTestId("error-banner")).toHaveTextContent("not a Cloze Studio project: /tmp/x.txt");
    await user.click(screen.getByTestId("error-dismiss"));
    expect(screen.queryByTestId("error-banner")).toBeNull();
  });
});

describe("screenShortcut", () => {
  it("maps Alt+1..7 and nothing else", () => {
    expect(screenShortcut({ altKey: true, ctrlKey: false, metaKey: false, key: "¡", code: "Digit1" })).toBe(0);
    expect(screenShortcut({ altKey: true, ctrlKey: false, metaKey: false, key: "6" })).toBe(5);
    expect(screenShortcut({ altKey: true, ctrlKey: false, metaKey: false, key: "7", code: "Digit7" })).toBe(6);
    expect(screenShortcut({ altKey: true, ctrlKey: false, metaKey: false, key: "8", code: "Digit8" })).toBeNull();
    expect(screenShortcut({ altKey: false, ctrlKey: false, metaKey: false, key: "1", code: "Digit1" })).toBeNull();
  });
});
