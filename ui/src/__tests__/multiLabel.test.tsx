import { act, fireEvent, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { commands, type LabelSetInfo, type MultiLabelView } from "../bindings";
import { LabelScreen } from "../label/LabelScreen";
import { MultiLabelPanel, parseThresholds, parseWords } from "../label/MultiLabelPanel";
import { ExportScreen, formatsFor } from "../screens/ExportScreen";
import { finishedRun, LABEL_SET, labelState, PROJECT } from "../test/fixtures";
import { renderWithApp } from "../test/render";

vi.mock("../bindings", async () => (await import("../test/mockBindings")).mockBindings());
vi.mock("../lib/dialog", () => ({ pickPath: vi.fn(() => Promise.resolve(null)), pickSavePath: vi.fn(() => Promise.resolve(null)) }));

const m = vi.mocked(commands);
const MULTI_SET: LabelSetInfo = { ...LABEL_SET, multi_label: true };
const MULTI_PROJECT = { ...PROJECT, label_sets: [MULTI_SET] };

function view(over: Partial<MultiLabelView> = {}): MultiLabelView {
  return {
    label_set_id: 7, multi_label: true,
    prompt: { template: "{text_a} Is this about {label}? {mask}", yes_words: ["Yes"], no_words: ["No"] },
    thresholds: [{ label: "negative", value: 0.5, f1: null, positives: 0 }, { label: "positive", value: 0.5, f1: null, positives: 0 }],
    run_id: null, scored_rows: 0, metrics: null,
    ...over,
  };
}

const SCORED = view({
  run_id: 4, scored_rows: 10,
  thresholds: [{ label: "negative", value: 0.31, f1: 0.8, positives: 2 }, { label: "positive", value: 0.62, f1: 1, positives: 1 }],
  metrics: {
    rows: 3, micro_f1: 0.857, macro_f1: 0.9, subset_accuracy: 0.667, hamming_loss: 0.167,
    per_label: [{ label: "negative", precision: 0.667, recall: 1, f1: 0.8, support: 2 }, { label: "positive", precision: 1, recall: 1, f1: 1, support: 1 }],
  },
});

describe("multi-label parsing", () => {
  it("words and thresholds", () => {
    const words: [string, string[]][] = [["Yes", ["Yes"]], [" yes , yeah,, ", ["yes", "yeah"]], ["", []]];
    for (const [text, want] of words) expect(parseWords(text)).toEqual(want);
    const labels = ["a", "b"];
    const cases: [string[], ReturnType<typeof parseThresholds>][] = [
      [["0.3", "1"], { values: [0.3, 1] }],
      [["0", " 0.5 "], { values: [0, 0.5] }],
      [["0.3", "1.2"], { bad: "b" }],
      [["", "0.2"], { bad: "a" }],
      [["x", "0.2"], { bad: "a" }],
    ];
    for (const [texts, want] of cases) expect(parseThresholds(texts, labels)).toEqual(want);
  });

  it("the export offers multi-hot layouts for a multi-label set only", () => {
    expect(formatsFor(false).map((f) => f.value)).toEqual(["csv", "jsonl", "hf-jsonl"]);
    expect(formatsFor(true).map((f) => f.value)).toEqual(["multi-hot-csv", "multi-hot-jsonl", "hf-datasets", "csv", "jsonl"]);
  });
});

describe("MultiLabelPanel", () => {
  beforeEach(() => {
    vi.clearAllMocks();
  });

  it("the switch turns several labels per row on, then the question, scoring, thresholds and metrics", async () => {
    const user = userEvent.setup();
    m.multiLabel.mockResolvedValue(view({ multi_label: false }));
    const modeChanged = vi.fn();
    renderWithApp(<MultiLabelPanel labelSetId={7} labelled={2} onModeChanged={modeChanged} />, { project: PROJECT });
    const toggle = await screen.findByTestId("multi-label-switch");
    expect(toggle).not.toBeChecked();
    expect(screen.queryByTestId("ml-score")).toBeNull();
    m.setMultiLabel.mockResolvedValue(view());
    await user.click(toggle);
    expect(m.setMultiLabel).toHaveBeenCalledWith(7, true);
    await waitFor(() => expect(screen.getByTestId("multi-label-switch")).toBeChecked());
    expect(modeChanged).toHaveBeenCalledTimes(1);
    expect(screen.getByTestId("ml-run")).toHaveTextContent("Not scored yet");

    m.setMultiLabelPrompt.mockResolvedValue(view({ prompt: { template: "{text_a} About {label}? {mask}", yes_words: ["yes", "yeah"], no_words: ["no"] } }));
    await user.clear(screen.getByTestId("ml-template"));
    await user.type(screen.getByTestId("ml-template"), "{{text_a} About {{label}? {{mask}");
    await user.clear(screen.getByTestId("ml-yes"));
    await user.type(screen.getByTestId("ml-yes"), "yes, yeah");
    await user.clear(screen.getByTestId("ml-no"));
    await user.type(screen.getByTestId("ml-no"), "no");
    await user.click(screen.getByTestId("ml-save-prompt"));
    expect(m.setMultiLabelPrompt).toHaveBeenCalledWith(7, { template: "{text_a} About {label}? {mask}", yes_words: ["yes", "yeah"], no_words: ["no"] });

    m.scoreMultiLabel.mockResolvedValue(SCORED);
    await user.click(screen.getByTestId("ml-score"));
    expect(m.scoreMultiLabel).toHaveBeenCalledWith(expect.any(String), 7, null);
    expect(await screen.findByTestId("ml-metrics")).toHaveTextContent("On 3 labelled rows: micro-F1 85.7% · macro-F1 90.0% · subset accuracy 66.7%");
    expect(screen.getByTestId("ml-threshold-0")).toHaveValue("0.310");
    expect(screen.getByTestId("ml-thresholds")).toHaveTextContent("0.800");

    await user.clear(screen.getByTestId("ml-threshold-1"));
    await user.type(screen.getByTestId("ml-threshold-1"), "1.5");
    expect(screen.getByTestId("ml-apply-thresholds")).toBeDisabled();
    await user.clear(screen.getByTestId("ml-threshold-1"));
    await user.type(screen.getByTestId("ml-threshold-1"), "0.7");
    m.setMultiLabelThresholds.mockResolvedValue(SCORED);
    await user.click(screen.getByTestId("ml-apply-thresholds"));
    expect(m.setMultiLabelThresholds).toHaveBeenCalledWith(7, [0.31, 0.7]);
    m.fitMultiLabelThresholds.mockResolvedValue(SCORED);
    await user.click(screen.getByTestId("ml-fit"));
    expect(m.fitMultiLabelThresholds).toHaveBeenCalledWith(7);
    expect(screen.queryByTestId("error-banner")).toBeNull();
  });

  it("scores with a finished multi-label tuning run when one is chosen", async () => {
    const user = userEvent.setup();
    m.multiLabel.mockResolvedValue(view());
    const runs = [
      { ...finishedRun("ml-probe", 0), strategy: "probe" as const, dev_accuracy: null, multi_label: true, dev_micro_f1: 0.8 },
      finishedRun("single", 0.9),
    ];
    m.listRuns.mockResolvedValue(runs);
    renderWithApp(<MultiLabelPanel labelSetId={7} labelled={2} onModeChanged={() => {}} />, { project: PROJECT });
    const select = await screen.findByTestId("ml-score-with");
    const options = Array.from(select.querySelectorAll("option")).map((o) => o.textContent);
    expect(options).toEqual(["the question (loaded model)", "tuned run ml-probe (probe)"]);
    await user.selectOptions(select, "ml-probe");
    m.scoreMultiLabel.mockResolvedValue(SCORED);
    await user.click(screen.getByTestId("ml-score"));
    expect(m.scoreMultiLabel).toHaveBeenCalledWith(expect.any(String), 7, "ml-probe");
    expect(await screen.findByTestId("ml-metrics")).toHaveTextContent("micro-F1 85.7%");
  });
});

describe("LabelScreen with several labels per row", () => {
  beforeEach(() => {
    vi.clearAllMocks();
  });

  const multiState = (checked: boolean[], saved = false) => {
    const s = labelState({ label_set: MULTI_SET });
    return { ...s, item: { ...s.item!, suggestion: null, multi: { checked, suggested: [false, false], saved } } };
  };

  it("checkboxes and number keys toggle labels; Enter saves the checked ones even without a suggestion", async () => {
    const user = userEvent.setup();
    m.labelState.mockResolvedValue(multiState([false, false]));
    m.runs.mockResolvedValue([]);
    m.multiLabel.mockResolvedValue(view());
    renderWithApp(<LabelScreen active />, { project: MULTI_PROJECT, screen: "label" });
    await screen.findByTestId("label-checks");
    expect(screen.getByTestId("label-check-0")).not.toBeChecked();
    m.labelCurrent.mockResolvedValue(multiState([false, true], true));
    await act(async () => {
      fireEvent.keyDown(window, { key: "2" });
    });
    expect(m.labelCurrent).toHaveBeenCalledWith(1);
    await waitFor(() => expect(screen.getByTestId("label-check-1")).toBeChecked());
    expect(screen.getByTestId("label-suggestion")).toHaveTextContent("(saved)");
    m.labelCurrent.mockResolvedValue(multiState([true, true], true));
    await user.click(screen.getByTestId("label-check-0"));
    expect(m.labelCurrent).toHaveBeenLastCalledWith(0);
    await waitFor(() => expect(screen.getByTestId("label-check-0")).toBeChecked());
    m.acceptSuggestion.mockResolvedValue({ ...multiState([false, false]), labelled_in_session: 1 });
    await user.keyboard("{Enter}");
    expect(m.acceptSuggestion).toHaveBeenCalledTimes(1);
    await waitFor(() => expect(screen.getByTestId("label-counter")).toHaveTextContent("1 labelled this session"));
    expect(screen.queryByTestId("label-hint")).toBeNull();
  });

  it("the export screen offers the multi-hot layouts for the multi-label set", async () => {
    m.listRuns.mockResolvedValue([]);
    renderWithApp(<ExportScreen />, { project: MULTI_PROJECT });
    const options = Array.from((screen.getByTestId("export-format") as HTMLSelectElement).options).map((o) => o.value);
    expect(options).toEqual(["multi-hot-csv", "multi-hot-jsonl", "hf-datasets", "csv", "jsonl"]);
    expect(screen.getByTestId("export-format-help")).toHaveTextContent("a 0/1 column per label");
  });
});
