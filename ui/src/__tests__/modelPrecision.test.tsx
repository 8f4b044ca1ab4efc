import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import * as bindings from "../bindings";
import type { ModelView } from "../bindings";
import { ModelScreen } from "../screens/ModelScreen";
import { renderWithApp } from "../test/render";

vi.mock("../bindings", async () => (await import("../test/mockBindings")).mockBindings());
vi.mock("../lib/dialog", () => ({ pickPath: vi.fn(() => Promise.resolve(null)), pickSavePath: vi.fn(() => Promise.resolve(null)) }));

const m = bindings.commands as unknown as Record<string, ReturnType<typeof vi.fn>>;

const MODEL: ModelView = {
  spec: "roberta-tiny", path: "/m", family: "roberta", parameters: 4_000_000, hidden_size: 128, layers: 2,
  vocab_size: 1000, max_len: 128, has_lm_head: true, mask_token: "<mask>", device: "cpu",
  kind: "encoder", pretraining: "masked-lm", reads: "at the {mask} token", quantisation: null, chat_template: null, memory_bytes: 1.6e7, kv_heads: 4,
  precision: "f32", precision_kernel: "f32", bf16_native: false,
};
const EMULATED = "bf16 emulated (this CPU has no AVX512_BF16: same results as on one that has, but slower than f32)";

describe("Model screen precision", () => {
  beforeEach(() => {
    vi.clearAllMocks();
    m.devices.mockResolvedValue([{ kind: "cpu", available: true, note: null }]);
    m.cachedModels.mockResolvedValue([]);
    m.modelTypes.mockResolvedValue([]);
  });

  it("changes the loaded model's precision, shows what runs it and warns when bf16 is emulated", async () => {
    const user = userEvent.setup();
    m.setPrecision.mockImplementation((p: string) =>
      Promise.resolve({ ...MODEL, precision: p, precision_kernel: p === "bf16" ? EMULATED : "f32" }));
    renderWithApp(<ModelScreen />, { model: MODEL });
    const select = screen.getByTestId("model-precision") as HTMLSelectElement;
    expect(select.value).toBe("f32");
    expect(screen.getByRole("option", { name: "f32 — exact, equal to PyTorch" })).toBeInTheDocument();
    expect(screen.getByRole("option", { name: "bf16 — faster on CPUs with AVX512_BF16" })).toBeInTheDocument();
    expect(screen.getByTestId("model-precision-note")).toHaveTextContent("Runs as f32.");
    expect(screen.getByTestId("model-precision-warning")).toHaveTextContent("bf16 gives the same results here but runs slower than f32");
    select.focus();
    expect(select).toHaveFocus();
    await user.selectOptions(select, "bf16");
    await waitFor(() => expect(m.setPrecision).toHaveBeenCalledWith("bf16"));
    await waitFor(() => expect(screen.getByTestId("model-precision-note")).toHaveTextContent(EMULATED));
    expect((screen.getByTestId("model-precision") as HTMLSelectElement).value).toBe("bf16");
  });

  it("says nothing about speed where bf16 is native, and offers bf16 on the CPU only", () => {
    const view = renderWithApp(<ModelScreen />, { model: { ...MODEL, bf16_native: true } });
    expect(screen.queryByTestId("model-precision-warning")).toBeNull();
    view.unmount();
    renderWithApp(<ModelScreen />, { model: { ...MODEL, device: "cuda" } });
    expect((screen.getByRole("option", { name: "bf16 — on the CPU only" }) as HTMLOptionElement).disabled).toBe(true);
  });

  it("shows a refused change in the error banner and keeps the setting", async () => {
    const user = userEvent.setup();
    m.setPrecision.mockRejectedValue({ kind: "unavailable", message: "precision bf16 runs on the CPU only" });
    renderWithApp(<ModelScreen />, { model: MODEL });
    await user.selectOptions(screen.getByTestId("model-precision"), "bf16");
    expect(await screen.findByText(/runs on the CPU only/)).toBeInTheDocument();
    expect((screen.getByTestId("model-precision") as HTMLSelectElement).value).toBe("f32");
  });
});
