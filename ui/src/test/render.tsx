import { render, type RenderResult } from "@testing-library/react";
import type { ReactNode } from "react";
import { AppProvider, type ScreenId } from "../app/AppContext";
import { PromptProvider } from "../app/PromptContext";
import { ErrorBanner, Notices } from "../components/common";
import { JobPanel } from "../components/JobPanel";
import type { ModelView, ProjectSummary, PromptSpec } from "../bindings";

export function renderWithApp(ui: ReactNode, opts: { prompt?: PromptSpec; screen?: ScreenId; project?: ProjectSummary | null; model?: ModelView | null } = {}): RenderResult {
  return render(
    <AppProvider initialScreen={opts.screen} initialProject={opts.project ?? null} initialModel={opts.model ?? null}>
      <PromptProvider initial={opts.prompt}>
        <ErrorBanner />
        <Notices />
        <JobPanel />
        {ui}
      </PromptProvider>
    </AppProvider>,
  );
}
