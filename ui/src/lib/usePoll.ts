// A view that changes while a job runs, loaded again every second: the Tune screen's run details
// (charts drawn from the metrics a run writes) and a group of runs over seeds (its seeds as they
// finish). A poll waits for the previous answer, so a slow one is never overtaken (and dropped) by
// the next, second after second; answers for an earlier key are dropped (useLatest).
import { useEffect } from "react";
import { useLatest } from "./useLatest";

/** Loads `load(key)` into `onValue` whenever `key` changes, and every `everyMs` while `live`. */
export function usePoll<T>(key: string | null, live: boolean, load: (key: string) => Promise<T>, onValue: (value: T) => void, everyMs = 1000) {
  const request = useLatest();
  useEffect(() => {
    if (!key) return;
    let waiting = false;
    const fetch = () => {
      if (waiting) return;
      waiting = true;
      request.run(load(key).finally(() => {
        waiting = false;
      }), onValue);
    };
    fetch();
    if (!live) return request.cancel;
    const timer = window.setInterval(fetch, everyMs);
    return () => {
      request.cancel();
      window.clearInterval(timer);
    };
  }, [key, live, load, onValue, everyMs, request]);
}
