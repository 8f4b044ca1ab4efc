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
    weight_bytes: 1000, gguf: false, supported: true, unsupported_reason: null,
  };
}

describe("Hub search", () => {
  beforeEach(() => {
    m.devices.mockResolvedValue([{ kind: "cpu", available: true, note: null }]);
    m.cachedModels.mockResolvedValue([]);
    m.currentModel.mockResolvedValue(null);
    m.modelTypes.mockResolvedValue([
      { model_type: "llama", family: "llama", kind: "decoder" },
      { model_type: "qwen2", family: "llama", kind: "decoder" },
      { model_type: "bert", family: "bert", kind: "encoder" },
    ]);
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

  it("filters by family and GGUF, marks GGUF repositories, and downloads the chosen quantisation", async () => {
    const user = userEvent.setup();
    m.hubSearch.mockResolvedValue({ models: [{ ...model("org/tiny-gguf"), task: "text-generation", model_type: null, weight_bytes: null, gguf: true }, model("org/plain")], next: null });
    m.hubDetails.mockResolvedValue({
      repo_id: "org/tiny-gguf", commit: "fedcba9876543210", files: [
        { name: "README.md", size: 50 }, { name: "model-q4_0.gguf", size: 30_000 }, { name: "model-q8_0.gguf", size: 50_000 },
      ], selected: [], download_size: 0, model_type: null, supported: true, unsupported_reason: null, summary: null,
      gguf: [{ name: "model-q4_0.gguf", size: 30_000, quantisation: "Q4_0" }, { name: "model-q8_0.gguf", size: 50_000, quantisation: "Q8_0" }],
    });
    m.hubDownloadGguf.mockResolvedValue({ spec: "org/tiny-gguf/model-q8_0.gguf", path: "/c/model-q8_0.gguf", size: 50_000 });
    m.loadModel.mockResolvedValue(null);
    renderWithApp(<ModelScreen />);
    await waitFor(() => expect(screen.getByTestId("hub-family")).toHaveTextContent("qwen2 (llama family, decoder)"));
    await user.selectOptions(screen.getByTestId("hub-family"), "llama");
    await user.click(screen.getByTestId("hub-gguf-only"));
    await user.click(screen.getByTestId("hub-search"));
    await waitFor(() => expect(screen.getByTestId("hub-results")).toHaveTextContent("org/tiny-gguf"));
    expect(m.hubSearch).toHaveBeenLastCalledWith(expect.objectContaining({ model_type: "llama", gguf_only: true, task: null }), null);
    expect(screen.getAllByTestId("gguf-badge")).toHaveLength(1);

    await user.click(screen.getByText("org/tiny-gguf"));
    const files = await screen.findByTestId("gguf-files");
    expect(files).toHaveTextContent("Pick a quantisation to download");
    expect(files).toHaveTextContent("Q4_0");
    expect(screen.queryByTestId("hub-download")).toBeNull();
    expect(screen.getByTestId("gguf-download")).toHaveTextContent("Download Q4_0");
    await user.click(screen.getByRole("radio", { name: /Q8_0/ }));
    expect(screen.getByTestId("gguf-download")).toHaveTextContent("Download Q8_0");
    await user.click(screen.getByTestId("gguf-download"));
    await waitFor(() => expect(m.hubDownloadGguf).toHaveBeenCalledWith(expect.any(String), "org/tiny-gguf", "model-q8_0.gguf"));
    expect(await screen.findByTestId("hub-downloaded")).toHaveTextContent("org/tiny-gguf/model-q8_0.gguf");
    await user.click(screen.getByTestId("gguf-load"));
    await waitFor(() => expect(m.loadModel).toHaveBeenCalledWith(expect.any(String), "org/tiny-gguf/model-q8_0.gguf", "cpu"));
  });
});
