import type { AppError, ErrorKind } from "../bindings";

export function isAppError(e: unknown): e is AppError {
  return typeof e === "object" && e !== null && "kind" in e && "message" in e &&
    typeof (e as AppError).kind === "string" && typeof (e as AppError).message === "string";
}

export function errorMessage(e: unknown): string {
  if (isAppError(e)) return e.message;
  if (e instanceof Error) return e.message;
  if (typeof e === "string") return e;
  try {
    return JSON.stringify(e);
  } catch {
    return String(e);
  }
}

export function errorKind(e: unknown): ErrorKind | null {
  return isAppError(e) ? e.kind : null;
}

export function isCancelled(e: unknown): boolean {
  return errorKind(e) === "cancelled";
}
