// Thin wrapper around the Tauri dialog plugin so tests can mock it (vi.mock("../lib/dialog")).
import { open, save } from "@tauri-apps/plugin-dialog";

export type FileFilter = { name: string; extensions: string[] };

/** Ask for one existing file (or folder when `directory`). Returns null when the user cancels. */
export async function pickPath(opts: { directory?: boolean; filters?: FileFilter[]; title?: string; defaultPath?: string } = {}): Promise<string | null> {
  const result = await open({
    multiple: false,
    directory: opts.directory ?? false,
    filters: opts.filters,
    title: opts.title,
    defaultPath: opts.defaultPath || undefined,
  });
  if (Array.isArray(result)) return result[0] ?? null;
  return result ?? null;
}

/** Ask for a path to write to. Returns null when the user cancels. */
export async function pickSavePath(opts: { filters?: FileFilter[]; title?: string; defaultPath?: string } = {}): Promise<string | null> {
  const result = await save({ filters: opts.filters, title: opts.title, defaultPath: opts.defaultPath || undefined });
  return result ?? null;
}
