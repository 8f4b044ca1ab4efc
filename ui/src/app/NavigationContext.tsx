// Navigation: which screen is shown, and switching to another one.
import { createContext, useContext, useState, type ReactNode } from "react";

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

const ScreenContext = createContext<ScreenId | null>(null);
const SetScreenContext = createContext<SetScreen | null>(null);

/** The screen shown now; re-renders the caller on every switch. */
export function useScreen(): ScreenId {
  const ctx = useContext(ScreenContext);
  if (ctx === null) throw new Error("useScreen must be used inside <NavigationProvider> (see AppProviders)");
  return ctx;
}

/** Switch to a screen; stable, so a component that only links to other screens never re-renders on a switch. */
export function useSetScreen(): SetScreen {
  const ctx = useContext(SetScreenContext);
  if (!ctx) throw new Error("useSetScreen must be used inside <NavigationProvider> (see AppProviders)");
  return ctx;
}

export function NavigationProvider({ children, initialScreen = "projects" }: { children: ReactNode; initialScreen?: ScreenId }) {
  const [screen, setScreen] = useState<ScreenId>(initialScreen);
  return (
    <SetScreenContext.Provider value={setScreen}>
      <ScreenContext.Provider value={screen}>{children}</ScreenContext.Provider>
    </SetScreenContext.Provider>
  );
}
