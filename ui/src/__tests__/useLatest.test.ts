import { act, renderHook } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { useLatest } from "../lib/useLatest";
import { deferred } from "../test/deferred";

/** Let the promise callbacks run. */
const settle = () => act(async () => {});

describe("useLatest", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each([
    ["the newer answer arrives first", ["second", "first"]],
    ["the older answer arrives first", ["first", "second"]],
  ])("uses only the answer to the newest request when %s", async (_case, order) => {
    const { result } = renderHook(() => useLatest());
    const seen: string[] = [];
    const requests = { first: deferred<string>(), second: deferred<string>() };
    result.current.run(requests.first.promise, (v) => seen.push(v));
    result.current.run(requests.second.promise, (v) => seen.push(v));
    for (const name of order as (keyof typeof requests)[]) {
      requests[name].resolve(name);
      await settle();
    }
    expect(seen).toEqual(["second"]);
  });

  it("passes only the newest request's error to onError, and drops errors without one", async () => {
    const { result } = renderHook(() => useLatest());
    const errors: unknown[] = [];
    const old = deferred<string>();
    const current = deferred<string>();
    result.current.run(old.promise, () => {}, (e) => errors.push(e));
    result.current.run(current.promise, () => {}, (e) => errors.push(e));
    old.reject("old");
    current.reject("current");
    await settle();
    expect(errors).toEqual(["current"]);

    // Without onError the failure is dropped, not left unhandled (Vitest fails a run on an unhandled rejection).
    const onValue = vi.fn();
    const quiet = deferred<string>();
    result.current.run(quiet.promise, onValue);
    quiet.reject("ignored");
    await settle();
    expect(onValue).not.toHaveBeenCalled();
    expect(errors).toEqual(["current"]);
  });

  it("drops every answer after unmount", async () => {
    const { result, unmount } = renderHook(() => useLatest());
    const other = renderHook(() => useLatest());
    const seen: string[] = [];
    const a = deferred<string>();
    const b = deferred<string>();
    result.current.run(a.promise, (v) => seen.push(v));
    other.result.current.run(b.promise, (v) => seen.push(v));
    unmount();
    other.unmount();
    a.resolve("a");
    b.resolve("b");
    await settle();
    expect(seen).toEqual([]);
  });

  it("cancel drops the answer on its way", async () => {
    const { result } = renderHook(() => useLatest());
    const seen: string[] = [];
    const a = deferred<string>();
    result.current.run(a.promise, (v) => seen.push(v));
    result.current.cancel();
    a.resolve("a");
    await settle();
    expect(seen).toEqual([]);
  });

  it("later sends one request after the pause, drops older answers at once, and its cleanup cancels the wait", async () => {
    vi.useFakeTimers();
    const { result } = renderHook(() => useLatest());
    const seen: string[] = [];
    const sent: string[] = [];
    const request = (v: string) => () => {
      sent.push(v);
      return Promise.resolve(v);
    };

    // An answer on its way is out of date as soon as a later request is scheduled.
    const slow = deferred<string>();
    result.current.run(slow.promise, (v) => seen.push(v));
    result.current.later(100, request("x"), (v) => seen.push(v));
    slow.resolve("slow");
    await settle();
    expect(seen).toEqual([]);

    // A second call within the pause replaces the first: one request, the newest.
    result.current.later(100, request("y"), (v) => seen.push(v));
    await act(async () => vi.advanceTimersByTime(99));
    expect(sent).toEqual([]);
    await act(async () => vi.advanceTimersByTime(1));
    expect(sent).toEqual(["y"]);
    expect(seen).toEqual(["y"]);

    // The returned function stops a request that is still waiting…
    const stop = result.current.later(100, request("z"), (v) => seen.push(v));
    stop();
    await act(async () => vi.advanceTimersByTime(200));
    expect(sent).toEqual(["y"]);

    // …but leaves an answer already on its way alone.
    const onWay = deferred<string>();
    const stopLate = result.current.later(100, () => onWay.promise, (v) => seen.push(v));
    await act(async () => vi.advanceTimersByTime(100));
    stopLate();
    onWay.resolve("w");
    await settle();
    expect(seen).toEqual(["y", "w"]);

    // cancel() also stops a waiting request.
    result.current.later(100, request("v"), (v) => seen.push(v));
    result.current.cancel();
    await act(async () => vi.advanceTimersByTime(200));
    expect(sent).toEqual(["y"]);
  });

  it("keeps the same object across renders", () => {
    const { result, rerender } = renderHook(() => useLatest());
    const first = result.current;
    rerender();
    expect(result.current).toBe(first);
  });
});
