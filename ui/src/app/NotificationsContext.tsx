// Notifications: the error banner and the short-lived notices, and the helpers that feed them.
import { useCallback, useMemo, useRef, useState, type ReactNode } from "react";
import { errorMessage, isCancelled } from "../lib/errors";
import { strictContext } from "./strictContext";

export type Notice = { id: number; text: string };

/** What any component may call; stable for the provider's lifetime, so using it never re-renders. */
export type Notify = {
  /** Show a short notice that goes away by itself after a few seconds. */
  notify: (text: string) => void;
  /** Show an error in the banner (a cancellation becomes a quiet notice). */
  showError: (e: unknown) => void;
  /** Await a command; on failure show the error and resolve undefined. */
  guard: <T>(p: Promise<T>) => Promise<T | undefined>;
};

/** What the banner and the notice list show. */
export type Notifications = {
  error: string | null;
  dismissError: () => void;
  notices: Notice[];
  dismissNotice: (id: number) => void;
};

const [NotifyContext, useNotify] = strictContext<Notify>("useNotify", "NotificationsProvider");

const [NotificationsContext, useNotifications] = strictContext<Notifications>("useNotifications", "NotificationsProvider");
export { useNotify, useNotifications };

export function NotificationsProvider({ children }: { children: ReactNode }) {
  const [error, setError] = useState<string | null>(null);
  const [notices, setNotices] = useState<Notice[]>([]);
  const noticeId = useRef(0);

  const dismissNotice = useCallback((id: number) => setNotices((ns) => ns.filter((n) => n.id !== id)), []);

  const notify = useCallback((text: string) => {
    const id = ++noticeId.current;
    setNotices((ns) => [...ns.slice(-3), { id, text }]);
    setTimeout(() => dismissNotice(id), 6000);
  }, [dismissNotice]);

  const showError = useCallback((e: unknown) => {
    if (isCancelled(e)) {
      notify(errorMessage(e) || "Cancelled");
      return;
    }
    setError(errorMessage(e));
  }, [notify]);

  const dismissError = useCallback(() => setError(null), []);

  const guard = useCallback(async <T,>(p: Promise<T>): Promise<T | undefined> => {
    try {
      return await p;
    } catch (e) {
      showError(e);
      return undefined;
    }
  }, [showError]);

  const actions = useMemo<Notify>(() => ({ notify, showError, guard }), [notify, showError, guard]);
  const shown = useMemo<Notifications>(() => ({ error, dismissError, notices, dismissNotice }), [error, dismissError, notices, dismissNotice]);

  return (
    <NotifyContext.Provider value={actions}>
      <NotificationsContext.Provider value={shown}>{children}</NotificationsContext.Provider>
    </NotifyContext.Provider>
  );
}
