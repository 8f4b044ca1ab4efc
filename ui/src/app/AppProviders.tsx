// The app's state providers in one place, outermost first: notifications (which the others report
// to), navigation, project and model, jobs, and the prompt being edited.
import type { ReactNode } from "react";
import type { ModelView, ProjectSummary, PromptSpec } from "../bindings";
import { JobsProvider } from "./JobsContext";
import { NavigationProvider, type ScreenId } from "./NavigationContext";
import { NotificationsProvider } from "./NotificationsContext";
import { ProjectProvider } from "./ProjectContext";
import { PromptProvider } from "./PromptContext";

export function AppProviders({ children, initialScreen, initialProject, initialModel, initialPrompt }: {
  children: ReactNode;
  initialScreen?: ScreenId;
  initialProject?: ProjectSummary | null;
  initialModel?: ModelView | null;
  /** The prompt to start with; without one, the last prompt kept in localStorage. */
  initialPrompt?: PromptSpec;
}) {
  return (
    <NotificationsProvider>
      <NavigationProvider initialScreen={initialScreen}>
        <ProjectProvider initialProject={initialProject} initialModel={initialModel}>
          <JobsProvider>
            <PromptProvider initial={initialPrompt}>{children}</PromptProvider>
          </JobsProvider>
        </ProjectProvider>
      </NavigationProvider>
    </NotificationsProvider>
  );
}
