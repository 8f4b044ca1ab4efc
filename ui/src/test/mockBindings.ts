// Factory for vi.mock("../bindings"): every command is a vi.fn() that rejects until a test sets it up.
import { vi } from "vitest";

const names = [
  "uiReady", "cancelJob", "pickPath", "recentProjects", "forgetRecentProject", "createProject", "openProject", "closeProject", "currentProject",
  "previewFile", "importDataset", "createLabelSet", "datasetStats", "rowsPage",
  "hubSearch", "hubDetails", "hubDownload", "hubDownloadGguf", "modelTypes", "cachedModels", "removeCachedModel", "devices", "loadModel", "currentModel", "setPrecision",
  "parseTemplate", "templateFromSegments", "previewPrompt", "checkVerbalizer", "zeroShot", "evaluatePrompt", "suggestLabelWords", "savePrompt",
  "suggestTemplateEdits", "generateTemplates",
  "generationPrompt", "generateText",
  "promptVersions", "fitEnsemble", "saveEnsemble", "ensembles", "deleteEnsemble", "scoreRowsWithEnsemble", "ensembleZeroShot", "exportEnsemble",
  "startLabelling", "labelState", "labelCurrent", "acceptSuggestion", "skipCurrent", "undoLast", "scoreRows", "runs", "labelTable", "bulkAccept", "checkLabels", "acceptCheckSuggestion",
  "exportLabels", "exportRun", "importPrompt", "openReport",
  "tuneDefaults", "estimateTuning", "startTuning", "listRuns", "runDetails", "compareRuns", "tuneOverSeeds", "listSeedGroups", "seedGroup",
] as const;

export function mockBindings() {
  const commands: Record<string, ReturnType<typeof vi.fn>> = {};
  for (const n of names) commands[n] = vi.fn(() => Promise.reject({ kind: "test", message: `${n} not mocked` }));
  return {
    commands,
    events: {
      jobProgress: { listen: vi.fn(() => Promise.resolve(() => {})) },
      generatedText: { listen: vi.fn(() => Promise.resolve(() => {})) },
    },
  };
}
