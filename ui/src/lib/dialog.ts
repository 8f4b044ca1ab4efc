// The native file dialogs, run by the Rust side (`pick_path`): the web view has no dialog or file
// permission, and the app's commands accept only paths chosen here (or a recent project). Tests
// mock this module (vi.mock("../lib/dialog")).
import { commands, type FileFilter, type PickPurpose } from "../bindings";

export type { FileFilter, PickPurpose };

/**
 * Ask the user for a path for `purpose`: a data file or project to open, a model folder, a new
 * project or an export file to write. Returns null when the user cancels.
 */
export async function pickPath(purpose: PickPurpose, opts: { filters?: FileFilter[]; title?: string; defaultPath?: string } = {}): Promise<string | null> {
  return await commands.pickPath({
    purpose,
    title: opts.title ?? null,
    default_path: opts.defaultPath?.trim() ? opts.defaultPath.trim() : null,
    filters: opts.filters ?? [],
  });
}
