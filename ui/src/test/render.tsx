import { render, type RenderResult } from "@testing-library/react";
import type { ReactNode } from "react";
import { AppProviders } from "../app/AppProviders";
import type { ScreenId } from "../app/NavigationContext";
import { ErrorBanner, Notices } from "../components/common";
import { JobPanel } from "../components/JobPanel";
import type { ModelView, ProjectSummary, PromptSpec } from "../bindings";

export function renderWithApp(ui: ReactNode, opts: { prompt?: PromptSpec; screen?: ScreenId; project?: ProjectSummary | null; model?: ModelView | null } = {}): RenderResult {
  return render(
    <AppProviders initialScreen={opts.screen} initialProject={opts.project ?? null} initialModel={opts.model ?? null} initialPrompt={opts.prompt}>
      <ErrorBanner />
      <Notices />
      <JobPanel />
      {ui}
    </AppProviders>,
  );
}
