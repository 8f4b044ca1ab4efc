// Paths typed by hand: the app's commands refuse a path the user did not choose in a dialog
// (kind "not-allowed"), so a script in the window cannot name files. A typed path is confirmed in
// the native dialog, opened at that path, and the command is sent again with the path chosen there.
import { pickPath, type FileFilter, type PickPurpose } from "./dialog";
import { errorKind } from "./errors";

/**
 * Runs `call(path)`; when it is refused as "not-allowed", asks the user to confirm the path in the
 * dialog for `purpose` and runs `call` with the confirmed path (reported through `onConfirmed`).
 * Resolves to null when the user cancels the dialog; other errors are thrown as they come.
 */
export async function withChosenPath<T>(
  purpose: PickPurpose,
  path: string,
  call: (path: string) => Promise<T>,
  opts: { filters?: FileFilter[]; onConfirmed?: (path: string) => void } = {},
): Promise<T | null> {
  try {
    return await call(path);
  } catch (e) {
    if (errorKind(e) !== "not-allowed") throw e;
    const chosen = await pickPath(purpose, { defaultPath: path, filters: opts.filters });
    if (!chosen) return null;
    opts.onConfirmed?.(chosen);
    return await call(chosen);
  }
}
