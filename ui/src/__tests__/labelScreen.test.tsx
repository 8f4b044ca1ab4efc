import { act, fireEvent, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { commands, type LabelState } from "../bindings";
import { LabelScreen } from "../label/LabelScreen";
import { LABEL_SET, labelState, PROJECT } from "../test/fixtures";
import { useProject } from "../app/ProjectContext";
import { renderWithApp } from "../test/render";

vi.mock("../bindings", async () => (await import("../test/mockBindings")).mockBindings());

const m = vi.mocked(commands);

async function press(init: { key: string }, target: Window | HTMLElement = window) {
  await act(async () => {
    fireEvent.keyDown(target, init);
  });
}

async function setup(state: LabelState = labelState()) {
  m.labelState.mockResolvedValue(state);
  m.runs.mockResolvedValue([]);
  renderWithApp(<LabelScreen active />, { project: PROJECT, screen: "label" });
  await screen.findByTestId("label-text");
}

/** Stand-in for the Projects screen: close / (re)open the project through the app context. */
function ProjectSwitch() {
  const { setProject, project } = useProject();
  return (
    <>
      <button type="button" onClick={() => setProject(null)}>close</button>
      <button type="button" onClick={() => setProject({ ...PROJECT })}>reopen</button>
      <output data-testid="summary-labelled">{project?.label_sets.map((l) => l.labelled).join(",")}</output>
    </>
  );
}

describe("LabelScreen", () => {
  beforeEach(() => {
    vi.clearAllMocks();
  });

  it("renders the card, suggestion, class buttons and counter", async () => {
    await setup();
    expect(screen.getByTestId("label-text")).toHaveTextContent("A gorgeous, witty film.");
    expect(screen.getByTestId("label-suggestion")).toHaveTextContent("positive");
    expect(screen.getByTestId("label-suggestion")).toHaveTextContent("91%");
    expect(screen.getByTestId("label-class-0")).toHaveTextContent("negative");
    expect(screen.getByTestId("label-class-1")).toHaveTextContent("positive");
    expect(screen.getByTestId("label-counter")).toHaveTextContent("0 labelled this session · 9 remaining");
  });

  it("a label refused because another session labelled the row shows why and reloads the row", async () => {
    const user = userEvent.setup();
    await setup();
    const message = "row 1 was labelled `positive` by another session of the same annotator (no name) since you loaded it";
    m.labelCurrent.mockRejectedValue({ kind: "conflict", message });
    const reloaded = labelState();
    reloaded.item = { row: { ...reloaded.item!.row, id: 101, ext_id: "2", text_a: "Dull and slow." }, suggestion: null, multi: null };
    m.labelState.mockResolvedValue(reloaded);
    await user.keyboard("1");
    expect(await screen.findByTestId("error-banner")).toHaveTextContent(message);
    await waitFor(() => expect(screen.getByTestId("label-text")).toHaveTextContent("Dull and slow."));
    expect(m.labelState).toHaveBeenCalledTimes(2);
  });

  it("1 labels with class 0, Enter accepts, Backspace undoes, S skips", async () => {
    const user = userEvent.setup();
    await setup();
    const next = labelState({ labelled_in_session: 1, remaining: 8, can_undo: true });
    m.labelCurrent.mockResolvedValue(next);
    await user.keyboard("1");
    expect(m.labelCurrent).toHaveBeenCalledWith(0);
    await waitFor(() => expect(screen.getByTestId("label-counter")).toHaveTextContent("1 labelled this session · 8 remaining"));

    m.acceptSuggestion.mockResolvedValue(labelState({ labelled_in_session: 2, remaining: 7, can_undo: true }));
    await user.keyboard("{Enter}");
    expect(m.acceptSuggestion).toHaveBeenCalledTimes(1);
    await waitFor(() => expect(screen.getByTestId("label-counter")).toHaveTextContent("2 labelled"));

    m.undoLast.mockResolvedValue(labelState({ labelled_in_session: 1, remaining: 8, can_undo: true }));
    await user.keyboard("{Backspace}");
    expect(m.undoLast).toHaveBeenCalledTimes(1);
    await waitFor(() => expect(screen.getByTestId("label-counter")).toHaveTextContent("1 labelled"));

    m.skipCurrent.mockResolvedValue(labelState({ labelled_in_session: 1, remaining: 7, can_undo: true }));
    await user.keyboard("s");
    expect(m.skipCurrent).toHaveBeenCalledTimes(1);
  });

  it("never sends a second action while one is in flight", async () => {
    await setup();
    let resolve: (s: LabelState) => void = () => {};
    m.labelCurrent.mockImplementation(() => new Promise<LabelState>((r) => {
      resolve = r;
    }));
    await press({ key: "1" }, window);
    await press({ key: "2" }, window);
    await press({ key: "1" }, window);
    expect(m.labelCurrent).toHaveBeenCalledTimes(1);
    expect(m.labelCurrent).toHaveBeenCalledWith(0);
    await act(async () => {
      resolve(labelState({ labelled_in_session: 1, remaining: 8, can_undo: true }));
    });
    await waitFor(() => expect(screen.getByTestId("label-counter")).toHaveTextContent("1 labelled"));
    m.labelCurrent.mockResolvedValue(labelState({ labelled_in_session: 2, remaining: 7, can_undo: true }));
    await press({ key: "2" }, window);
    expect(m.labelCurrent).toHaveBeenCalledTimes(2);
    expect(m.labelCurrent).toHaveBeenLastCalledWith(1);
  });

  it("ignores digits beyond the class count and keys typed in inputs", async () => {
    await setup();
    await press({ key: "3" }, window);
    expect(m.labelCurrent).not.toHaveBeenCalled();
    const input = document.createElement("input");
    document.body.appendChild(input);
    await press({ key: "1" }, input);
    expect(m.labelCurrent).not.toHaveBeenCalled();
    input.remove();
  });

  it("Enter without a suggestion shows a hint instead of calling", async () => {
    const s = labelState();
    await setup({ ...s, item: s.item ? { ...s.item, suggestion: null } : null });
    await press({ key: "Enter" }, window);
    expect(m.acceptSuggestion).not.toHaveBeenCalled();
    expect(await screen.findByTestId("label-hint")).toHaveTextContent("No suggestion");
  });

  it("? opens the key help and Escape closes it", async () => {
    await setup();
    await press({ key: "?" }, window);
    expect(await screen.findByTestId("label-help")).toBeInTheDocument();
    await press({ key: "Escape" }, window);
    await waitFor(() => expect(screen.queryByTestId("label-help")).toBeNull());
  });

  it("shows the done state when there is no item", async () => {
    m.labelState.mockResolvedValue(labelState({ item: null, remaining: 0, labelled_in_session: 10 }));
    m.runs.mockResolvedValue([]);
    renderWithApp(<LabelScreen active />, { project: PROJECT });
    expect(await screen.findByTestId("label-done")).toHaveTextContent("All rows are labelled");
  });

  it("an AppError from an action shows in the error banner", async () => {
    await setup();
    m.labelCurrent.mockRejectedValue({ kind: "unavailable", message: "database is locked" });
    await press({ key: "1" }, window);
    expect(await screen.findByTestId("error-banner")).toHaveTextContent("database is locked");
  });

  it("reopening the project clears the session card", async () => {
    const user = userEvent.setup();
    m.labelState.mockResolvedValue(labelState());
    m.runs.mockResolvedValue([]);
    renderWithApp(<><ProjectSwitch /><LabelScreen active /></>, { project: PROJECT, screen: "label" });
    await screen.findByTestId("label-text");
    await user.click(screen.getByRole("button", { name: "reopen" }));
    expect(screen.queryByTestId("label-card")).toBeNull();
    expect(screen.getByTestId("label-not-started")).toBeInTheDocument();
    await press({ key: "1" }, window);
    expect(m.labelCurrent).not.toHaveBeenCalled();
    expect(screen.queryByTestId("error-banner")).toBeNull();
  });

  it("closing the project and opening it again shows no stale card", async () => {
    const user = userEvent.setup();
    m.labelState.mockResolvedValue(labelState());
    m.runs.mockResolvedValue([]);
    renderWithApp(<><ProjectSwitch /><LabelScreen active /></>, { project: PROJECT, screen: "label" });
    await screen.findByTestId("label-text");
    await user.click(screen.getByRole("button", { name: "close" }));
    expect(screen.getByTestId("label-empty")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "reopen" }));
    expect(screen.queryByTestId("label-card")).toBeNull();
    expect(screen.getByTestId("label-not-started")).toBeInTheDocument();
  });

  it("each label updates the project's label set counts (select option and summary)", async () => {
    const user = userEvent.setup();
    renderWithApp(<><ProjectSwitch /><LabelScreen active /></>, { project: PROJECT, screen: "label" });
    m.labelState.mockResolvedValue(labelState());
    m.runs.mockResolvedValue([]);
    await screen.findByTestId("label-text");
    expect(screen.getByRole("option", { name: "sentiment · 2 labelled" })).toBeInTheDocument();
    const updated = { ...LABEL_SET, labelled: 3, by_class: [{ class: "negative", count: 2 }, { class: "positive", count: 1 }] };
    m.labelCurrent.mockResolvedValue(labelState({ label_set: updated, labelled_in_session: 1, remaining: 8, can_undo: true }));
    await user.keyboard("1");
    await waitFor(() => expect(screen.getByRole("option", { name: "sentiment · 3 labelled" })).toBeInTheDocument());
    expect(screen.getByTestId("summary-labelled")).toHaveTextContent("3");
    expect(m.currentProject).not.toHaveBeenCalled();

    m.undoLast.mockResolvedValue(labelState({ labelled_in_session: 0, remaining: 9, can_undo: false }));
    await user.keyboard("{Backspace}");
    await waitFor(() => expect(screen.getByRole("option", { name: "sentiment · 2 labelled" })).toBeInTheDocument());
  });
});
