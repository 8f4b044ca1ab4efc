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
  "multiLabel", "setMultiLabel", "setMultiLabelPrompt", "setMultiLabelThresholds", "fitMultiLabelThresholds", "scoreMultiLabel",
  "startLabelling", "labelState", "labelCurrent", "acceptSuggestion", "skipCurrent", "undoLast", "scoreRows", "runs", "labelTable", "bulkAccept", "checkLabels", "acceptCheckSuggestion",
  "exportLabels", "exportRun", "importPrompt", "openReport",
  "tuneDefaults", "recommendTuning", "estimateTuning", "startTuning", "listRuns", "runDetails", "compareRuns", "tuneOverSeeds", "listSeedGroups", "seedGroup",
] as const;

export function mockBindings() {
  const commands: Record<string, ReturnType<typeof vi.fn>> = {};
  for (const n of names) commands[n] = vi.fn(() => Promise.reject({ kind: "test", message: `${n} not mocked` }));
  // The Label screen's multi-label panel loads with every label set: one label per row unless a test says otherwise.
  commands.multiLabel = vi.fn((labelSetId: number) => Promise.resolve({
    label_set_id: labelSetId, multi_label: false, prompt: { template: "{text_a} Is this about {label}? {mask}", yes_words: ["Yes"], no_words: ["No"] },
    thresholds: [], run_id: null, scored_rows: 0, metrics: null,
  }));
  return {
    commands,
    events: {
      jobProgress: { listen: vi.fn(() => Promise.resolve(() => {})) },
      generatedText: { listen: vi.fn(() => Promise.resolve(() => {})) },
    },
  };
}
