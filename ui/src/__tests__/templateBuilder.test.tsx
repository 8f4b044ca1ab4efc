import { act, fireEvent, render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { commands, type SegmentView } from "../bindings";
import { TemplateBuilder, moveItem, PARSE_DEBOUNCE_MS } from "../prompt/TemplateBuilder";
import { BASIC_SEGMENTS, templateView } from "../test/fixtures";

vi.mock("../bindings", async () => (await import("../test/mockBindings")).mockBindings());

const parse = vi.mocked(commands.parseTemplate);
const fromSegments = vi.mocked(commands.templateFromSegments);

function setup(props: { fields?: string[]; maskToken?: string | null } = { fields: ["text_a", "text_b"] }) {
  parse.mockResolvedValue(templateView(BASIC_SEGMENTS));
  fromSegments.mockImplementation((segs: SegmentView[]) => Promise.resolve(templateView(segs)));
  const onChange = vi.fn();
  render(<TemplateBuilder template="{text_a} It was {mask}." onChange={onChange} {...props} />);
  return { onChange };
}

describe("TemplateBuilder", () => {
  beforeEach(() => {
    parse.mockReset();
    fromSegments.mockReset();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("renders one chip per segment with its kind", async () => {
    setup();
    const chips = await screen.findAllByTestId("chip");
    expect(chips.map((c) => c.getAttribute("data-kind"))).toEqual(["field", "text", "mask", "text"]);
    expect(parse).toHaveBeenCalledWith("{text_a} It was {mask}.");
    expect(screen.getByTestId("template-openprompt")).toHaveTextContent('{"mask"}');
  });

  it("the mask chip shows the model's mask token, or \"mask\" without a model", async () => {
    setup({ maskToken: "<mask>" });
    const chips = await screen.findAllByTestId("chip");
    expect(chips[2]).toHaveTextContent("<mask>");
    expect(screen.queryByText("[MASK]")).toBeNull();
  });

  it("the mask chip says mask when no model is loaded", async () => {
    setup({ maskToken: null });
    const chips = await screen.findAllByTestId("chip");
    expect(chips[2]).toHaveTextContent(/^mask×$/);
  });

  it("+ Field adds text_a again, not text_b, when the dataset has no text_b", async () => {
    const user = userEvent.setup();
    setup({ fields: ["text_a"] });
    await screen.findAllByTestId("chip");
    expect(screen.getByTestId("add-field-name")).toHaveValue("text_a");
    await user.click(screen.getByTestId("add-field"));
    const last = fromSegments.mock.lastCall?.[0] ?? [];
    expect(last[last.length - 1]).toMatchObject({ kind: "field", name: "text_a" });
  });

  it("+ Field uses the field picked in its select", async () => {
    const user = userEvent.setup();
    setup({ fields: ["text_a"] });
    await screen.findAllByTestId("chip");
    await user.selectOptions(screen.getByTestId("add-field-name"), "text_b");
    await user.click(screen.getByTestId("add-field"));
    const last = fromSegments.mock.lastCall?.[0] ?? [];
    expect(last[last.length - 1]).toMatchObject({ kind: "field", name: "text_b" });
  });

  it("adds a mask, a field and a text chip", async () => {
    const user = userEvent.setup();
    const { onChange } = setup();
    await screen.findAllByTestId("chip");

    await user.click(screen.getByTestId("add-mask"));
    expect(fromSegments).toHaveBeenLastCalledWith([...BASIC_SEGMENTS, { kind: "mask" }]);
    await waitFor(() => expect(screen.getAllByTestId("chip")).toHaveLength(5));
    expect(onChange).toHaveBeenCalled();

    await user.click(screen.getByTestId("add-field"));
    const last = fromSegments.mock.lastCall?.[0] ?? [];
    expect(last[last.length - 1]).toMatchObject({ kind: "field", name: "text_b" });
    await waitFor(() => expect(screen.getAllByTestId("chip")).toHaveLength(6));

    await user.click(screen.getByTestId("add-text"));
    await user.keyboard("Great!{Enter}");
    const afterText = fromSegments.mock.lastCall?.[0] ?? [];
    expect(afterText[afterText.length - 1]).toEqual({ kind: "text", text: "Great!" });
    await waitFor(() => expect(screen.getAllByTestId("chip")).toHaveLength(7));
    expect(screen.getByTestId("template-source")).toHaveValue(templateView(afterText).text);
  });

  it("adds a soft chip and deletes a chip", async () => {
    const user = userEvent.setup();
    setup();
    await screen.findAllByTestId("chip");
    await user.click(screen.getByTestId("add-soft"));
    expect(fromSegments).toHaveBeenLastCalledWith([...BASIC_SEGMENTS, { kind: "soft", count: 1, init: null }]);
    await waitFor(() => expect(screen.getAllByTestId("chip")).toHaveLength(5));

    await user.click(screen.getAllByTestId("chip-delete")[1]);
    expect(fromSegments).toHaveBeenLastCalledWith([BASIC_SEGMENTS[0], BASIC_SEGMENTS[2], BASIC_SEGMENTS[3], { kind: "soft", count: 1, init: null }]);
    await waitFor(() => expect(screen.getAllByTestId("chip")).toHaveLength(4));
  });

  it("reorders with Alt+Arrow keys on a focused chip", async () => {
    setup();
    const chips = await screen.findAllByTestId("chip");
    chips[2].focus();
    await act(async () => {
      fireEvent.keyDown(chips[2], { key: "ArrowLeft", altKey: true });
    });
    expect(fromSegments).toHaveBeenLastCalledWith([BASIC_SEGMENTS[0], BASIC_SEGMENTS[2], BASIC_SEGMENTS[1], BASIC_SEGMENTS[3]]);
    await waitFor(() => expect(screen.getAllByTestId("chip")[1]).toHaveAttribute("data-kind", "mask"));
    await waitFor(() => expect(screen.getAllByTestId("chip")[1]).toHaveFocus());

    await act(async () => {
      fireEvent.keyDown(screen.getAllByTestId("chip")[0], { key: "ArrowRight", altKey: true });
    });
    expect(fromSegments).toHaveBeenLastCalledWith([BASIC_SEGMENTS[2], BASIC_SEGMENTS[0], BASIC_SEGMENTS[1], BASIC_SEGMENTS[3]]);
  });

  it("toggles shortenable when a field chip is clicked", async () => {
    const user = userEvent.setup();
    setup();
    const chips = await screen.findAllByTestId("chip");
    await user.click(chips[0].querySelector("button.chip-body")!);
    expect(fromSegments).toHaveBeenLastCalledWith([{ ...BASIC_SEGMENTS[0], shortenable: false }, ...BASIC_SEGMENTS.slice(1)]);
  });

  it("parses typed source after a debounce and shows template errors", async () => {
    vi.useFakeTimers();
    setup();
    await act(async () => {
      await Promise.resolve();
    });
    expect(parse).toHaveBeenCalledTimes(1);
    parse.mockRejectedValue({ kind: "invalid-input", message: "template error at character 0: template has no {mask}" });

    const box = screen.getByTestId("template-source");
    act(() => {
      fireEvent.change(box, { target: { value: "{text_a} It was" } });
      fireEvent.change(box, { target: { value: "{text_a} It was good" } });
    });
    await act(async () => {
      vi.advanceTimersByTime(PARSE_DEBOUNCE_MS - 50);
    });
    expect(parse).toHaveBeenCalledTimes(1);
    await act(async () => {
      vi.advanceTimersByTime(100);
    });
    expect(parse).toHaveBeenCalledTimes(2);
    expect(parse).toHaveBeenLastCalledWith("{text_a} It was good");
    expect(screen.getByTestId("template-error")).toHaveTextContent("template has no {mask}");

    // a valid edit clears the error and updates the chips
    parse.mockResolvedValue(templateView([...BASIC_SEGMENTS, { kind: "soft", count: 2, init: null }]));
    act(() => {
      fireEvent.change(box, { target: { value: '{"placeholder":"text_a"} It was {"mask"}. {"soft"}{"soft"}' } });
    });
    await act(async () => {
      vi.advanceTimersByTime(PARSE_DEBOUNCE_MS + 10);
    });
    expect(screen.queryByTestId("template-error")).toBeNull();
    expect(screen.getAllByTestId("chip")).toHaveLength(5);
  });
});

describe("moveItem", () => {
  it("moves items and ignores out-of-range moves", () => {
    expect(moveItem([1, 2, 3], 0, 2)).toEqual([2, 3, 1]);
    expect(moveItem([1, 2, 3], 2, 0)).toEqual([3, 1, 2]);
    expect(moveItem([1, 2, 3], 0, 5)).toEqual([1, 2, 3]);
  });
});
