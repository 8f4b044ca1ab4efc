import { describe, expect, it } from "vitest";
import { isTextEntryTarget, keyToAction, tableKeyToAction, type KeyInput, type LabelAction, type TableAction } from "../label/keys";

const ctx = { classCount: 3, helpOpen: false };
const body = { tagName: "BODY" };

const cases: [string, KeyInput, LabelAction | null][] = [
  ["1 labels class 0", { key: "1", target: body }, { type: "label", index: 0 }],
  ["2 labels class 1", { key: "2", target: body }, { type: "label", index: 1 }],
  ["3 labels class 2", { key: "3", target: body }, { type: "label", index: 2 }],
  ["4 is beyond the class count", { key: "4", target: body }, null],
  ["9 is beyond the class count", { key: "9", target: body }, null],
  ["0 does nothing", { key: "0", target: body }, null],
  ["Enter accepts", { key: "Enter", target: body }, { type: "accept" }],
  ["Backspace undoes", { key: "Backspace", target: body }, { type: "undo" }],
  ["s skips", { key: "s", target: body }, { type: "skip" }],
  ["S skips", { key: "S", target: body }, { type: "skip" }],
  ["? toggles help", { key: "?", target: body }, { type: "toggle-help" }],
  ["Escape without help does nothing", { key: "Escape", target: body }, null],
  ["other keys do nothing", { key: "x", target: body }, null],
  ["digits in a text input are ignored", { key: "1", target: { tagName: "INPUT", type: "text" } }, null],
  ["Backspace in a textarea is ignored", { key: "Backspace", target: { tagName: "TEXTAREA" } }, null],
  ["s in a contenteditable is ignored", { key: "s", target: { tagName: "DIV", isContentEditable: true } }, null],
  ["Enter in a select is ignored", { key: "Enter", target: { tagName: "SELECT" } }, null],
  ["Enter on a button is the button's own", { key: "Enter", target: { tagName: "BUTTON" } }, null],
  ["digits on a focused button still label", { key: "2", target: { tagName: "BUTTON" } }, { type: "label", index: 1 }],
  ["digits on a checkbox still label", { key: "1", target: { tagName: "INPUT", type: "checkbox" } }, { type: "label", index: 0 }],
  ["Alt+1 is navigation", { key: "1", altKey: true, target: body }, null],
  ["Ctrl+S is not skip", { key: "s", ctrlKey: true, target: body }, null],
  ["Meta+Backspace is not undo", { key: "Backspace", metaKey: true, target: body }, null],
  ["no target is fine", { key: "1" }, { type: "label", index: 0 }],
];

describe("keyToAction", () => {
  it.each(cases)("%s", (_name, input, expected) => {
    expect(keyToAction(input, ctx)).toEqual(expected);
  });

  it("handles nine classes", () => {
    expect(keyToAction({ key: "9", target: body }, { classCount: 9, helpOpen: false })).toEqual({ type: "label", index: 8 });
  });

  it("with help open only ? and Escape act", () => {
    const open = { classCount: 3, helpOpen: true };
    expect(keyToAction({ key: "Escape", target: body }, open)).toEqual({ type: "close-help" });
    expect(keyToAction({ key: "?", target: body }, open)).toEqual({ type: "toggle-help" });
    expect(keyToAction({ key: "1", target: body }, open)).toBeNull();
    expect(keyToAction({ key: "Enter", target: body }, open)).toBeNull();
  });
});

describe("isTextEntryTarget", () => {
  it("recognises text fields", () => {
    expect(isTextEntryTarget({ tagName: "input", type: "search" })).toBe(true);
    expect(isTextEntryTarget({ tagName: "INPUT", type: "number" })).toBe(true);
    expect(isTextEntryTarget({ tagName: "INPUT", type: "checkbox" })).toBe(false);
    expect(isTextEntryTarget({ tagName: "BUTTON" })).toBe(false);
    expect(isTextEntryTarget(null)).toBe(false);
  });
});

describe("tableKeyToAction", () => {
  const tableCases: [string, KeyInput, TableAction | null][] = [
    ["Enter accepts the highlighted row's suggestion", { key: "Enter", target: body }, { type: "accept" }],
    ["ArrowDown moves down", { key: "ArrowDown", target: body }, { type: "next" }],
    ["j moves down", { key: "j", target: body }, { type: "next" }],
    ["ArrowUp moves up", { key: "ArrowUp", target: body }, { type: "previous" }],
    ["K moves up", { key: "K", target: body }, { type: "previous" }],
    ["Enter on a button is the button's own", { key: "Enter", target: { tagName: "BUTTON" } }, null],
    ["Enter on a checkbox is the checkbox's own", { key: "Enter", target: { tagName: "INPUT", type: "checkbox" } }, null],
    ["ArrowDown in a select is the select's", { key: "ArrowDown", target: { tagName: "SELECT" } }, null],
    ["j in a number field is typed", { key: "j", target: { tagName: "INPUT", type: "number" } }, null],
    ["digits do not label in the table", { key: "1", target: body }, null],
    ["Alt+ArrowDown is not a move", { key: "ArrowDown", altKey: true, target: body }, null],
  ];
  for (const [name, input, expected] of tableCases) {
    it(name, () => expect(tableKeyToAction(input)).toEqual(expected));
  }
});
