import { act, fireEvent, render, screen } from "@testing-library/react";
import { Profiler } from "react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { commands } from "../bindings";
import { AppProviders } from "../app/AppProviders";
import { useJobs } from "../app/JobsContext";
import { useSetScreen } from "../app/NavigationContext";
import { useNotify } from "../app/NotificationsContext";
import { JobPanel } from "../components/JobPanel";
import { Notices } from "../components/common";
import { LabelScreen } from "../label/LabelScreen";
import { recordProgress } from "../lib/progress";
import { labelState, PROJECT } from "../test/fixtures";

vi.mock("../bindings", async () => (await import("../test/mockBindings")).mockBindings());

const m = vi.mocked(commands);

/** Starts a job that runs until the test ends it, sends a notice and switches screens: only stable actions. */
function Controls({ finish }: { finish: { current: () => void } }) {
  const { runJob } = useJobs();
  const { notify } = useNotify();
  const setScreen = useSetScreen();
  return (
    <>
      <button type="button" onClick={() => void runJob("Long job", () => new Promise<void>((resolve) => { finish.current = resolve; }))}>start</button>
      <button type="button" onClick={() => notify("hello")}>notify</button>
      <button type="button" onClick={() => setScreen("data")}>go</button>
    </>
  );
}

describe("AppProviders", () => {
  beforeEach(() => {
    m.labelState.mockResolvedValue(labelState());
    m.runs.mockResolvedValue([]);
  });

  it("starting a job, its progress, notices and screen switches do not re-render a screen that only uses actions", async () => {
    const commits: string[] = [];
    const finish = { current: () => {} };
    render(
      <AppProviders initialProject={PROJECT} initialScreen="label">
        <Notices />
        <JobPanel />
        <Controls finish={finish} />
        <Profiler id="label" onRender={(id) => commits.push(id)}>
          <LabelScreen active />
        </Profiler>
      </AppProviders>,
    );
    await screen.findByTestId("label-text");
    const settled = commits.length;

    fireEvent.click(screen.getByText("start"));
    const job = (await screen.findByTestId("job")).getAttribute("data-job")!;
    act(() => recordProgress({ job, stage: "scoring", done: 3, total: 10, message: null }));
    expect(screen.getByTestId("job-panel")).toHaveTextContent("scoring");
    fireEvent.click(screen.getByText("notify"));
    expect(await screen.findByTestId("notice")).toHaveTextContent("hello");
    fireEvent.click(screen.getByText("go"));
    await act(async () => finish.current());
    expect(screen.queryByTestId("job-panel")).toBeNull();

    expect(commits.length).toBe(settled);
  });
});
