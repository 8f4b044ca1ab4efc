import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import * as bindings from "../bindings";
import type { HubModel } from "../bindings";
import { ModelScreen } from "../screens/ModelScreen";
import { renderWithApp } from "../test/render";

vi.mock("../bindings", async () => (await import("../test/mockBindings")).mockBindings());
vi.mock("../lib/dialog", () => ({ pickPath: vi.fn(() => Promise.resolve(null)), pickSavePath: vi.fn(() => Promise.resolve(null)) }));

const m = bindings.commands as unknown as Record<string, ReturnType<typeof vi.fn>>;

function model(repo_id: string): HubModel {
  return {
    repo_id, task: "fill-mask", downloads: 10, likes: 1, license: "mit", last_modified: null, model_type: "bert",
    weight_bytes: 1000, supported: true, unsupported_reason: null,
  };
}

describe("Hub search", () => {
  beforeEach(() => {
    m.devices.mockResolvedValue([{ kind: "cpu", available: true, note: null }]);
    m.cachedModels.mockResolvedValue([]);
    m.currentModel.mockResolvedValue(null);
  });

  it("pages with More results and shows offline errors in place", async () => {
    const user = userEvent.setup();
    m.hubSearch
      .mockResolvedValueOnce({ models: [model("org/a"), model("org/b")], next: "cursor-2" })
      .mockResolvedValueOnce({ models: [model("org/c")], next: null })
      .mockRejectedValueOnce({ kind: "unavailable", message: "offline: set HF_HUB_OFFLINE=0" });
    renderWithApp(<ModelScreen />);
    await user.type(screen.getByTestId("hub-query"), "bert");
    await user.click(screen.getByTestId("hub-search"));
    await waitFor(() => expect(screen.getByTestId("hub-results")).toHaveTextContent("org/b"));
    expect(m.hubSearch).toHaveBeenLastCalledWith(expect.objectContaining({ text: "bert", supported_only: true }), null);
    await user.click(screen.getByTestId("hub-more"));
    await waitFor(() => expect(screen.getByTestId("hub-results")).toHaveTextContent("org/c"));
    expect(m.hubSearch).toHaveBeenLastCalledWith(expect.anything(), "cursor-2");
    expect(screen.getByTestId("hub-results")).toHaveTextContent("org/a");
    expect(screen.queryByTestId("hub-more")).toBeNull();
    await user.click(screen.getByTestId("hub-search"));
    await waitFor(() => expect(screen.getByTestId("hub-error")).toHaveTextContent("offline"));
  });
});
