// Navigation: which screen is shown, and switching to another one.
import { useState, type ReactNode } from "react";
import { strictContext } from "./strictContext";

export type ScreenId = "projects" | "data" | "model" | "prompt" | "label" | "tune" | "export";
export const SCREENS: { id: ScreenId; title: string }[] = [
  { id: "projects", title: "Projects" },
  { id: "data", title: "Data" },
  { id: "model", title: "Model" },
  { id: "prompt", title: "Prompt studio" },
  { id: "label", title: "Label" },
  { id: "tune", title: "Tune" },
  { id: "export", title: "Export" },
];

type SetScreen = (s: ScreenId) => void;

/** The screen shown now; re-renders the caller on every switch. */
const [ScreenContext, useScreen] = strictContext<ScreenId>("useScreen", "NavigationProvider");

/** Switch to a screen; stable, so a component that only links to other screens never re-renders on a switch. */
const [SetScreenContext, useSetScreen] = strictContext<SetScreen>("useSetScreen", "NavigationProvider");
export { useScreen, useSetScreen };

export function NavigationProvider({ children, initialScreen = "projects" }: { children: ReactNode; initialScreen?: ScreenId }) {
  const [screen, setScreen] = useState<ScreenId>(initialScreen);
  return (
    <SetScreenContext.Provider value={setScreen}>
      <ScreenContext.Provider value={screen}>{children}</ScreenContext.Provider>
    </SetScreenContext.Provider>
  );
}
