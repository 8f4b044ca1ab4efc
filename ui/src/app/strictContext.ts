// A context that has no default: its hook throws a clear error when used outside its provider.
import { createContext, useContext, type Context } from "react";

export function strictContext<T>(hook: string, provider: string): [Context<T | null>, () => T] {
  const ctx = createContext<T | null>(null);
  const use = (): T => {
    const value = useContext(ctx);
    if (value === null) throw new Error(`${hook} must be used inside <${provider}> (see AppProviders)`);
    return value;
  };
  return [ctx, use];
}
