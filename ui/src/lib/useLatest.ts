// The stale-response guard, written once: of the requests a component sends for one purpose, only
// the answer to the newest one is used. A slow earlier answer that arrives after a newer request was
// sent is dropped, and so is every answer that arrives after the component unmounted.
import { useEffect, useState } from "react";

export type Latest = {
  /**
   * Use `request`'s answer only if it is still the newest: `onValue` (or `onError`) is called unless
   * `run`, `later` or `cancel` was called again before it settled, or the component unmounted.
   * Without `onError` a failure is dropped (wrap the request in `guard` to show it in the banner).
   */
  run<T>(request: Promise<T>, onValue: (value: T) => void, onError?: (error: unknown) => void): void;
  /**
   * As `run`, for a request sent after `delayMs` (several quick changes → one request): every earlier
   * request is out of date from this call on, and one still waiting is never sent. Returns a function
   * that cancels this wait, for an effect's cleanup; an answer already on its way is left alone.
   */
  later<T>(delayMs: number, request: () => Promise<T>, onValue: (value: T) => void, onError?: (error: unknown) => void): () => void;
  /** Drop every answer still on its way, and a request still waiting to be sent. */
  cancel(): void;
};

type Slot = { latest: Latest; mount: () => () => void };

function makeSlot(): Slot {
  let generation = 0;
  let mounted = true;
  let waiting: ReturnType<typeof setTimeout> | null = null;

  const next = () => {
    if (waiting !== null) clearTimeout(waiting);
    waiting = null;
    return ++generation;
  };
  const deliver = <T>(mine: number, request: Promise<T>, onValue: (value: T) => void, onError?: (error: unknown) => void) => {
    const current = () => mounted && mine === generation;
    request.then(
      (value) => {
        if (current()) onValue(value);
      },
      (error: unknown) => {
        if (current()) onError?.(error);
      },
    );
  };

  const latest: Latest = {
    run: (request, onValue, onError) => deliver(next(), request, onValue, onError),
    later: (delayMs, request, onValue, onError) => {
      const mine = next();
      const timer = setTimeout(() => {
        waiting = null;
        deliver(mine, request(), onValue, onError);
      }, delayMs);
      waiting = timer;
      return () => {
        if (waiting === timer) {
          clearTimeout(timer);
          waiting = null;
        }
      };
    },
    cancel: () => {
      next();
    },
  };
  const mount = () => {
    mounted = true;
    return () => {
      mounted = false;
      next();
    };
  };
  return { latest, mount };
}

/** One stale-response guard for one kind of request; the returned object is stable. */
export function useLatest(): Latest {
  const [slot] = useState(makeSlot);
  useEffect(() => slot.mount(), [slot]);
  return slot.latest;
}
